//! Embeds as pages see them: what a token allows of a dashboard (its panels, with the token's
//! locked variables filled in), and a dashboard's embeds for the Share dialog.

use super::site_dashboards::ServerDashboards;
use crate::embeds::{frame_ancestors, EmbedError, EmbedGrant, EmbedRequest};
use app::embeds::source::{EmbedSource, Refusal};
use app::embeds::NewEmbed;
use app::model::{DashboardLayout, EmbedLink, EmbedTarget};
use app::panels::source::Load;
use std::collections::BTreeMap;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl ServerDashboards {
    /// The grant behind `token` and the layout it allows of `target`: only its panels, the
    /// URL's variables with the grant's locked ones winning.
    pub(super) async fn embed_layout(
        &self,
        token: &str,
        target: &EmbedTarget,
        vars: Vec<(String, String)>,
    ) -> Result<(EmbedGrant, DashboardLayout), EmbedError> {
        let grant = self.embeds.open(token, now()).await?;
        let wanted: Vec<String> = match target {
            EmbedTarget::Panel(id) => vec![id.clone()],
            EmbedTarget::Dashboard { id, panels } => {
                if *id != grant.dashboard {
                    return Err(EmbedError::OutOfScope(format!("dashboard {id}")));
                }
                if panels.is_empty() {
                    grant.panels.clone()
                } else {
                    panels.clone()
                }
            }
        };
        if let Some(p) = wanted.iter().find(|p| !grant.panels.contains(p)) {
            return Err(EmbedError::OutOfScope(format!("panel {p}")));
        }
        let mut chosen: BTreeMap<String, String> = vars.into_iter().collect();
        chosen.extend(grant.vars.clone());
        let layout = match self.layout_of(&grant.dashboard, chosen).await {
            Ok(Some(layout)) => layout,
            Ok(None) => return Err(EmbedError::OutOfScope("a deleted dashboard".into())),
            Err(e) => {
                return Err(EmbedError::Invalid {
                    field: "dashboard".into(),
                    message: e,
                })
            }
        };
        let mut layout = layout;
        // In the order asked for; panels removed from the dashboard since are skipped.
        let mut panels = Vec::with_capacity(wanted.len());
        for id in &wanted {
            if let Some(p) = layout.panels.iter().find(|p| &p.spec.id == id) {
                panels.push(p.clone());
            }
        }
        if panels.is_empty() {
            return Err(EmbedError::OutOfScope("any panel that still exists".into()));
        }
        layout.panels = panels;
        Ok((grant, layout))
    }
}

impl EmbedSource for ServerDashboards {
    fn open(
        &self,
        token: String,
        target: EmbedTarget,
        vars: Vec<(String, String)>,
    ) -> Load<'_, Result<(DashboardLayout, String), Refusal>> {
        Box::pin(async move {
            match self.embed_layout(&token, &target, vars).await {
                Ok((grant, layout)) => Ok(Ok((layout, frame_ancestors(&grant.origins)))),
                Err(EmbedError::Store(e)) => Err(e.to_string()),
                Err(e) => {
                    // A genuine grant that ended may still be framed where it was, to say why;
                    // anything else only where the configuration allows.
                    let origins = if e.origins().is_empty() {
                        self.embeds.allowed_origins().to_vec()
                    } else {
                        e.origins().to_vec()
                    };
                    let message = e.to_string();
                    let status = super::ApiError::from(e).status.as_u16();
                    Ok(Err(Refusal {
                        message,
                        frame_ancestors: frame_ancestors(&origins),
                        status,
                    }))
                }
            }
        })
    }

    fn links(&self, dashboard: String) -> Load<'_, Vec<EmbedLink>> {
        Box::pin(async move {
            let titles: BTreeMap<String, String> = match self.dashboards.get(&dashboard).await {
                Ok(d) => d
                    .dashboard
                    .panels
                    .into_iter()
                    .map(|p| (p.id, p.title))
                    .collect(),
                Err(e) => return Err(e.to_string()),
            };
            let issued = self
                .embeds
                .issued_for(&dashboard)
                .await
                .map_err(|e| e.to_string())?;
            Ok(issued
                .into_iter()
                .map(|i| EmbedLink {
                    id: i.grant.id,
                    panels: i
                        .grant
                        .panels
                        .iter()
                        .map(|p| titles.get(p).cloned().unwrap_or_else(|| p.clone()))
                        .collect(),
                    vars: i.grant.vars.into_iter().collect(),
                    origins: i.grant.origins,
                    created_by: i.grant.created_by,
                    expires_at: i.grant.expires_at,
                    revoked_at: i.grant.revoked_at,
                    url: i.url,
                })
                .collect())
        })
    }

    fn create(&self, embed: NewEmbed, actor: String) -> Load<'_, ()> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            let req = EmbedRequest {
                panels: embed.panels,
                expires_in: Some(embed.expires_in),
                vars: embed.vars.into_iter().collect(),
                dashboard: Some(embed.dashboard),
                origins: (!embed.origins.is_empty()).then_some(embed.origins),
            };
            let issued = self
                .embeds
                .create(req, &actor, now())
                .await
                .map_err(|e| e.to_string())?;
            self.audit(&actor, "embed.create", &audit_target(&issued.grant), ip)
                .await;
            Ok(())
        })
    }

    fn revoke(&self, id: String, actor: String) -> Load<'_, ()> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            let grant = self
                .embeds
                .revoke(&id, now())
                .await
                .map_err(|e| e.to_string())?;
            self.audit(&actor, "embed.revoke", &audit_target(&grant), ip)
                .await;
            Ok(())
        })
    }
}

/// How the audit log names a grant: its id, dashboard and panels.
pub(super) fn audit_target(g: &EmbedGrant) -> String {
    format!(
        "{} (dashboard {}: {})",
        g.id,
        g.dashboard,
        g.panels.join(", ")
    )
}
