//! What the Settings page (admins) reads and does: users, keys and the audit log.

use crate::model::{AuditView, KeyView, NewKey, UserView};
use leptos::prelude::*;

pub mod source {
    use super::*;
    use crate::panels::source::Load;
    use std::sync::Arc;

    pub trait AdminSource: Send + Sync {
        fn users(&self) -> Load<'_, Vec<UserView>>;
        fn create_user(
            &self,
            username: String,
            password: String,
            role: String,
            actor: String,
        ) -> Load<'_, ()>;
        fn set_role(&self, id: String, role: String, actor: String) -> Load<'_, ()>;
        fn set_disabled(&self, id: String, disabled: bool, actor: String) -> Load<'_, ()>;
        fn keys(&self) -> Load<'_, Vec<KeyView>>;
        fn revoke_key(&self, id: String, actor: String) -> Load<'_, ()>;
        /// A new key of `scope` (`ingest`, `read` or `admin`); the secret is in the answer only.
        fn create_key(&self, name: String, scope: String, actor: String) -> Load<'_, NewKey>;
        /// Revokes key `id` and creates its successor with the same name and scope.
        fn rotate_key(&self, id: String, actor: String) -> Load<'_, NewKey>;
        fn audit(&self, limit: u32) -> Load<'_, Vec<AuditView>>;
    }

    #[derive(Clone)]
    pub struct AdminSourceHandle(pub Arc<dyn AdminSource>);
}

pub(crate) fn admin_source() -> Result<(source::AdminSourceHandle, String), ServerFnError> {
    let who = crate::auth::who();
    if who.role != "admin" {
        return Err(ServerFnError::new("forbidden: admins only"));
    }
    let source = use_context::<source::AdminSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no settings in context"))?;
    Ok((source, who.name))
}

/// Everything the Settings page lists.
#[server(prefix = "/_osprey")]
pub async fn load_settings() -> Result<(Vec<UserView>, Vec<KeyView>, Vec<AuditView>), ServerFnError>
{
    let (source, _) = admin_source()?;
    let (users, keys, audit) =
        futures::join!(source.0.users(), source.0.keys(), source.0.audit(200));
    Ok((
        users.map_err(ServerFnError::new)?,
        keys.map_err(ServerFnError::new)?,
        audit.map_err(ServerFnError::new)?,
    ))
}

#[server(prefix = "/_osprey")]
pub async fn create_user(
    username: String,
    password: String,
    role: String,
) -> Result<(), ServerFnError> {
    let (source, actor) = admin_source()?;
    source
        .0
        .create_user(username, password, role, actor)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn set_role(id: String, role: String) -> Result<(), ServerFnError> {
    let (source, actor) = admin_source()?;
    source
        .0
        .set_role(id, role, actor)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn set_disabled(id: String, disabled: bool) -> Result<(), ServerFnError> {
    let (source, actor) = admin_source()?;
    source
        .0
        .set_disabled(id, disabled, actor)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn revoke_key(id: String) -> Result<(), ServerFnError> {
    let (source, actor) = admin_source()?;
    source
        .0
        .revoke_key(id, actor)
        .await
        .map_err(ServerFnError::new)
}
