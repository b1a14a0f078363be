//! The Alerts and Incidents pages' view of the alerting service.

use super::site::ServerPanels;
use crate::alerting::{Alerting, AlertingError};
use app::alerting::source::{AlertSource, IncidentAction};
use app::model::{
    AlertView, Backtest, ChannelView, DeliveryView, IncidentView, PanelData, PanelSpec,
    SilenceView, TransitionView,
};
use app::panels::source::{Load, PanelSource};
use std::sync::Arc;

pub(super) struct ServerAlerts {
    pub alerting: Arc<Alerting>,
    pub panels: Arc<ServerPanels>,
    pub accounts: Arc<crate::accounts::Accounts>,
}

/// Who is acting in this server function's request (the signed-in user's name) and from where.
/// Read when the call starts, while the request is in the reactive context.
fn requester() -> (String, Option<String>) {
    (app::auth::who().name, super::site_admin::requester_ip())
}

impl ServerAlerts {
    /// Records a change made from the dashboard in the audit log, as the API does for its own.
    async fn audit(&self, (actor, ip): &(String, Option<String>), action: &str, target: &str) {
        self.accounts
            .record(actor, action, target, ip.as_deref(), "")
            .await;
    }
}

/// An error as a page shows it: the field at fault first.
fn text(e: AlertingError) -> String {
    match e {
        AlertingError::Invalid {
            field: Some(field),
            message,
        } => format!("{field}: {message}"),
        AlertingError::Store(e) => {
            tracing::error!(error = %e, "alerting storage failed");
            "storage error; see the server log".into()
        }
        other => other.to_string(),
    }
}

fn json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("json serialises")
}

impl AlertSource for ServerAlerts {
    fn alerts(&self) -> Load<'_, Vec<AlertView>> {
        Box::pin(async move { self.alerting.alerts().await.map_err(text) })
    }

    fn rule(&self, id: String) -> Load<'_, Option<(serde_json::Value, AlertView)>> {
        Box::pin(async move {
            let rule = match self.alerting.rule(&id).await {
                Ok(rule) => rule,
                Err(AlertingError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(text(e)),
            };
            let view = self
                .alerting
                .alerts()
                .await
                .map_err(text)?
                .into_iter()
                .find(|a| a.rule_id == id);
            Ok(view.map(|v| (rule.spec, v)))
        })
    }

    fn history(&self, id: String) -> Load<'_, Vec<TransitionView>> {
        Box::pin(async move {
            let from = self.panels.now() - 86_400_000;
            self.alerting.history(&id, from, 100).await.map_err(text)
        })
    }

    fn channels(&self) -> Load<'_, Vec<ChannelView>> {
        Box::pin(async move { self.alerting.channels().await.map_err(text) })
    }

    fn deliveries(&self, status: Option<&'static str>) -> Load<'_, Vec<DeliveryView>> {
        Box::pin(async move { self.alerting.deliveries(status, 100).await.map_err(text) })
    }

    fn incidents(&self) -> Load<'_, Vec<IncidentView>> {
        Box::pin(async move { self.alerting.incidents(false, 200).await.map_err(text) })
    }

    fn incident(&self, id: String) -> Load<'_, Option<IncidentView>> {
        Box::pin(async move {
            match self.alerting.incident(&id).await {
                Ok(i) => Ok(Some(i)),
                Err(AlertingError::NotFound(_)) => Ok(None),
                Err(e) => Err(text(e)),
            }
        })
    }

    fn preview(&self, rule: serde_json::Value, range_ms: i64) -> Load<'_, Backtest> {
        Box::pin(async move {
            self.alerting
                .backtest(&json(&rule), range_ms)
                .await
                .map_err(text)
        })
    }

    fn create_rule(&self, rule: serde_json::Value) -> Load<'_, String> {
        let who = requester();
        Box::pin(async move {
            let id = self
                .alerting
                .create_rule(&json(&rule))
                .await
                .map_err(text)?;
            self.audit(&who, "rule.create", &id).await;
            Ok(id)
        })
    }

    fn create_channel(&self, channel: serde_json::Value) -> Load<'_, String> {
        let who = requester();
        Box::pin(async move {
            let id = self
                .alerting
                .create_channel(&json(&channel))
                .await
                .map_err(text)?;
            self.audit(&who, "channel.create", &id).await;
            Ok(id)
        })
    }

    fn act(&self, incident: String, action: IncidentAction) -> Load<'_, ()> {
        let (actor, _) = requester();
        Box::pin(async move {
            let result = match action {
                IncidentAction::Acknowledge => self.alerting.acknowledge(&incident, &actor).await,
                IncidentAction::Resolve => self.alerting.resolve(&incident, &actor).await,
                IncidentAction::Postmortem(text) => {
                    let patch = serde_json::json!({ "postmortem": text });
                    self.alerting
                        .update_incident(&incident, &actor, &json(&patch))
                        .await
                }
                IncidentAction::Note(note) => {
                    self.alerting.add_note(&incident, &actor, &note).await
                }
            };
            result.map(|_| ()).map_err(text)
        })
    }

    fn retry_delivery(&self, id: i64) -> Load<'_, ()> {
        let who = requester();
        Box::pin(async move {
            self.alerting.retry_delivery(id).await.map_err(text)?;
            self.audit(&who, "delivery.retry", &id.to_string()).await;
            Ok(())
        })
    }

    fn silences(&self) -> Load<'_, Vec<SilenceView>> {
        Box::pin(async move {
            let list = self.alerting.silences(true).await.map_err(text)?;
            Ok(list
                .into_iter()
                .map(|(id, s)| SilenceView {
                    id,
                    matchers: s
                        .matchers
                        .iter()
                        .map(|m| format!("{}{}{:?}", m.label, m.op.as_str(), m.value))
                        .collect(),
                    starts_at: s.starts_at_ms,
                    ends_at: s.ends_at_ms,
                    comment: s.comment,
                    created_by: s.created_by,
                })
                .collect())
        })
    }

    fn create_silence(&self, silence: serde_json::Value) -> Load<'_, String> {
        let who = requester();
        Box::pin(async move {
            let id = self
                .alerting
                .create_silence(&json(&silence))
                .await
                .map_err(text)?;
            self.audit(&who, "silence.create", &id).await;
            Ok(id)
        })
    }

    fn expire_silence(&self, id: String) -> Load<'_, ()> {
        let who = requester();
        Box::pin(async move {
            self.alerting.expire_silence(&id).await.map_err(text)?;
            self.audit(&who, "silence.expire", &id).await;
            Ok(())
        })
    }

    fn rule_panel(&self, spec: PanelSpec, range_ms: i64) -> Load<'_, PanelData> {
        Box::pin(async move {
            let to = self.panels.now();
            self.panels.panel(&spec, to - range_ms, to).await
        })
    }
}
