//! The Settings page's view of users, keys and the audit log.

use crate::accounts::{Accounts, Role, UserPatch};
use crate::app_state::AppState;
use app::model::{AuditView, KeyView, NewKey, UserView};
use app::panels::source::Load;
use app::settings::source::AdminSource;

/// The address a server function's request came from, for the audit log's "from where". Read
/// when the call starts, while the request is in the reactive context.
pub(super) fn requester_ip() -> Option<String> {
    leptos::prelude::use_context::<axum::http::request::Parts>()
        .and_then(|parts| super::authz::client_ip(&parts.extensions))
}

pub(super) struct ServerAdmin {
    pub state: AppState,
}

impl ServerAdmin {
    fn accounts(&self) -> &Accounts {
        &self.state.accounts
    }

    async fn patch(
        &self,
        id: String,
        patch: UserPatch,
        actor: String,
        ip: Option<String>,
    ) -> Result<(), String> {
        let (user, changed) = self.accounts().update_user(&id, patch).await?;
        for change in changed {
            let (action, detail) = change.split_once(' ').unwrap_or((change.as_str(), ""));
            self.accounts()
                .record(&actor, action, &user.username, ip.as_deref(), detail)
                .await;
        }
        Ok(())
    }

    async fn audit(&self, actor: &str, action: &str, target: &str, ip: Option<String>) {
        self.accounts()
            .record(actor, action, target, ip.as_deref(), "")
            .await;
    }
}

impl AdminSource for ServerAdmin {
    fn users(&self) -> Load<'_, Vec<UserView>> {
        Box::pin(async move { self.accounts().users().await.map_err(|e| e.to_string()) })
    }

    fn create_user(
        &self,
        username: String,
        password: String,
        role: String,
        actor: String,
    ) -> Load<'_, ()> {
        let ip = requester_ip();
        Box::pin(async move {
            let role = Role::parse(&role).ok_or("role: expected viewer, editor or admin")?;
            let user = self
                .accounts()
                .create_user(&username, &password, role)
                .await?;
            let target = format!("{} ({})", user.username, user.role);
            self.audit(&actor, "user.create", &target, ip).await;
            Ok(())
        })
    }

    fn set_role(&self, id: String, role: String, actor: String) -> Load<'_, ()> {
        let ip = requester_ip();
        Box::pin(async move {
            let patch = UserPatch {
                role: Some(role),
                ..UserPatch::default()
            };
            self.patch(id, patch, actor, ip).await
        })
    }

    fn set_disabled(&self, id: String, disabled: bool, actor: String) -> Load<'_, ()> {
        let ip = requester_ip();
        Box::pin(async move {
            let patch = UserPatch {
                disabled: Some(disabled),
                ..UserPatch::default()
            };
            self.patch(id, patch, actor, ip).await
        })
    }

    fn keys(&self) -> Load<'_, Vec<KeyView>> {
        Box::pin(async move {
            let keys = self.state.store.keys().await.map_err(|e| e.to_string())?;
            Ok(keys.into_iter().map(KeyView::from).collect())
        })
    }

    fn revoke_key(&self, id: String, actor: String) -> Load<'_, ()> {
        let ip = requester_ip();
        Box::pin(async move {
            let key = super::authz::revoke(&self.state, &id)
                .await
                .map_err(|e| e.message)?;
            let target = format!("{} {} ({})", key.kind, key.prefix, key.name);
            self.audit(&actor, "key.revoke", &target, ip).await;
            Ok(())
        })
    }

    fn create_key(&self, name: String, scope: String, actor: String) -> Load<'_, NewKey> {
        let ip = requester_ip();
        Box::pin(async move {
            let (key, secret) = super::authz::new_key(&self.state, &name, &scope)
                .await
                .map_err(|e| e.message)?;
            let target = format!("{} {} ({})", key.scope, key.prefix, key.name);
            self.audit(&actor, "key.create", &target, ip).await;
            Ok(NewKey { key, secret })
        })
    }

    fn rotate_key(&self, id: String, actor: String) -> Load<'_, NewKey> {
        let ip = requester_ip();
        Box::pin(async move {
            let (old, key, secret) = super::authz::replace_key(&self.state, &id)
                .await
                .map_err(|e| e.message)?;
            let target = format!("{} {} → {}", old.kind, old.prefix, key.prefix);
            self.audit(&actor, "key.rotate", &target, ip).await;
            Ok(NewKey { key, secret })
        })
    }

    fn audit(&self, limit: u32) -> Load<'_, Vec<AuditView>> {
        Box::pin(async move {
            let entries = self
                .state
                .store
                .audit_log(0, limit)
                .await
                .map_err(|e| e.to_string())?;
            Ok(entries
                .into_iter()
                .map(|e| AuditView {
                    time: e.ts,
                    actor: e.actor,
                    action: e.action,
                    target: e.target,
                    ip: e.ip,
                    detail: e.detail,
                })
                .collect())
        })
    }
}
