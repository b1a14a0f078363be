//! What embed pages and the Share → Embed dialog read: panels an embed token allows, and a
//! dashboard's embeds with their iframe addresses.

use crate::model::{EmbedLink, EmbedPage, EmbedTarget, EmbedView, TimeRange};
use leptos::prelude::*;

/// An embed as the Share dialog asks for it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewEmbed {
    pub dashboard: String,
    pub panels: Vec<String>,
    pub expires_in: String,
    /// Variables to lock at these values.
    pub vars: Vec<(String, String)>,
    /// Sites allowed to frame it; the configured ones when empty.
    pub origins: Vec<String>,
}

pub mod source {
    use super::*;
    use crate::model::DashboardLayout;
    use crate::panels::source::Load;
    use std::sync::Arc;

    /// Why an embed cannot be shown, and which sites may frame the page that says so.
    pub struct Refusal {
        pub message: String,
        pub frame_ancestors: String,
        /// The HTTP status the page answers with: 401 for a missing, forged, expired or
        /// revoked token, 403 for a panel it does not grant, 404 for one that is gone.
        pub status: u16,
    }

    pub trait EmbedSource: Send + Sync {
        /// The panels `token` allows of `target`, with the URL's variables (those the token locks
        /// keep the token's values) filled in, and the `frame-ancestors` list to serve them with.
        fn open(
            &self,
            token: String,
            target: EmbedTarget,
            vars: Vec<(String, String)>,
        ) -> Load<'_, Result<(DashboardLayout, String), Refusal>>;
        /// The embeds of a dashboard, newest first.
        fn links(&self, dashboard: String) -> Load<'_, Vec<EmbedLink>>;
        fn create(&self, embed: NewEmbed, actor: String) -> Load<'_, ()>;
        fn revoke(&self, id: String, actor: String) -> Load<'_, ()>;
    }

    #[derive(Clone)]
    pub struct EmbedSourceHandle(pub Arc<dyn EmbedSource>);
}

fn embed_source() -> Result<source::EmbedSourceHandle, ServerFnError> {
    use_context::<source::EmbedSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no embeds in context"))
}

/// An embed page's panels over `range` (the dashboard's default when none), or why not.
#[server(prefix = "/_osprey")]
pub async fn load_embed(
    target: EmbedTarget,
    token: String,
    range: Option<TimeRange>,
    vars: Vec<(String, String)>,
) -> Result<EmbedPage, ServerFnError> {
    let opened = embed_source()?
        .0
        .open(token, target, vars)
        .await
        .map_err(ServerFnError::new)?;
    let (layout, frame_ancestors) = match opened {
        Ok(found) => found,
        Err(refusal) => {
            return Ok(EmbedPage {
                frame_ancestors: refusal.frame_ancestors,
                content: Err(refusal.message),
                status: refusal.status,
            })
        }
    };
    let panels = use_context::<crate::panels::source::PanelSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no panel source in context"))?;
    let range = range.unwrap_or_else(|| layout.default_range.clone());
    let (from, to) = range.bounds(panels.0.now());
    let loads = layout
        .panels
        .iter()
        .map(|p| panels.0.panel(&p.spec, from, to));
    let content = futures::future::join_all(loads)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map(|data| EmbedView {
            title: layout.title.clone(),
            range,
            panels: layout.panels.into_iter().zip(data).collect(),
        });
    Ok(EmbedPage {
        frame_ancestors,
        content,
        status: 200,
    })
}

#[server(prefix = "/_osprey")]
pub async fn load_embed_links(dashboard: String) -> Result<Vec<EmbedLink>, ServerFnError> {
    crate::auth::require_editor()?;
    embed_source()?
        .0
        .links(dashboard)
        .await
        .map_err(ServerFnError::new)
}

/// Share → Embed: a new embed of the checked panels (`panel[]`), locking the checked variables
/// (`lock[]`, each `name=value`), for the origins listed; back to the dashboard's embeds.
#[server(prefix = "/_osprey")]
pub async fn create_embed(
    dashboard: String,
    #[server(default)] panel: Vec<String>,
    expires_in: String,
    #[server(default)] lock: Vec<String>,
    #[server(default)] origins: String,
) -> Result<(), ServerFnError> {
    let who = crate::auth::require_editor()?;
    let embed = NewEmbed {
        dashboard: dashboard.clone(),
        panels: panel,
        expires_in,
        vars: lock
            .iter()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        origins: origins
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    };
    embed_source()?
        .0
        .create(embed, who.name)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect(&format!("/dashboards/{dashboard}#embeds"));
    Ok(())
}

/// Revokes an embed: its token stops working at once.
#[server(prefix = "/_osprey")]
pub async fn revoke_embed(dashboard: String, id: String) -> Result<(), ServerFnError> {
    let who = crate::auth::require_editor()?;
    embed_source()?
        .0
        .revoke(id, who.name)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect(&format!("/dashboards/{dashboard}#embeds"));
    Ok(())
}
