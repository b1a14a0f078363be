//! The Settings page's view of users, keys and the audit log.

use crate::accounts::{Accounts, Role, UserPatch};
use crate::app_state::AppState;
use app::model::{AuditView, KeyView, UserView};
use app::panels::source::Load;
use app::settings::source::AdminSource;

pub(super) struct ServerAdmin {
    pub state: AppState,
}

impl ServerAdmin {
    fn accounts(&self) -> &Accounts {
        &self.state.accounts
    }

    async fn patch(&self, id: String, patch: UserPatch, actor: String) -> Result<(), String> {
        let (user, changed) = self.accounts().update_user(&id, patch).await?;
        for change in changed {
            let (action, detail) = change.split_once(' ').unwrap_or((change.as_str(), ""));
            self.accounts()
                .record(&actor, action, &user.username, None, detail)
                .await;
        }
        Ok(())
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
        Box::pin(async move {
            let role = Role::parse(&role).ok_or("role: expected viewer, editor or admin")?;
            let user = self
                .accounts()
                .create_user(&username, &password, role)
                .await?;
            self.accounts()
                .record(
                    &actor,
                    "user.create",
                    &format!("{} ({})", user.username, user.role),
                    None,
                    "",
                )
                .await;
            Ok(())
        })
    }

    fn set_role(&self, id: String, role: String, actor: String) -> Load<'_, ()> {
        Box::pin(async move {
            let patch = UserPatch {
                role: Some(role),
                ..UserPatch::default()
            };
            self.patch(id, patch, actor).await
        })
    }

    fn set_disabled(&self, id: String, disabled: bool, actor: String) -> Load<'_, ()> {
        Box::pin(async move {
            let patch = UserPatch {
                disabled: Some(disabled),
                ..UserPatch::default()
            };
            self.patch(id, patch, actor).await
        })
    }

    fn keys(&self) -> Load<'_, Vec<KeyView>> {
        Box::pin(async move {
            let keys = self.state.store.keys().await.map_err(|e| e.to_string())?;
            Ok(keys.into_iter().map(KeyView::from).collect())
        })
    }

    fn revoke_key(&self, id: String, actor: String) -> Load<'_, ()> {
        Box::pin(async move {
            let now = chrono::Utc::now().timestamp_millis();
            let key = self
                .state
                .store
                .revoke_key(&id, now)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no live key {id}"))?;
            self.state.keys.forget(&key.hash);
            self.accounts()
                .record(
                    &actor,
                    "key.revoke",
                    &format!("{} {} ({})", key.kind, key.prefix, key.name),
                    None,
                    "",
                )
                .await;
            Ok(())
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
