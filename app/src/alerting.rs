//! What the Alerts and Incidents pages read and do, and the server functions behind their forms.
//!
//! Every form is a plain HTML form posting to a server function, so the pages work before (and
//! without) the wasm bundle; the server function sends the browser back to the page.

use crate::model::{
    AlertView, Backtest, ChannelView, DeliveryView, IncidentView, PanelData, PanelSpec,
    SilenceView, TransitionView,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The server's alerting, as pages use it; provided as context when rendering.
pub mod source {
    use super::*;
    use crate::panels::source::Load;
    use std::sync::Arc;

    /// What one person does to an incident from the dashboard.
    #[derive(Debug, Clone, PartialEq)]
    pub enum IncidentAction {
        Acknowledge,
        Resolve,
        Note(String),
        Postmortem(String),
    }

    pub trait AlertSource: Send + Sync {
        fn alerts(&self) -> Load<'_, Vec<AlertView>>;
        /// One rule's spec (as JSON) and state.
        fn rule(&self, id: String) -> Load<'_, Option<(serde_json::Value, AlertView)>>;
        /// A rule's state changes over the last day, newest first.
        fn history(&self, id: String) -> Load<'_, Vec<TransitionView>>;
        fn channels(&self) -> Load<'_, Vec<ChannelView>>;
        fn deliveries(&self, status: Option<&'static str>) -> Load<'_, Vec<DeliveryView>>;
        fn incidents(&self) -> Load<'_, Vec<IncidentView>>;
        fn incident(&self, id: String) -> Load<'_, Option<IncidentView>>;
        fn preview(&self, rule: serde_json::Value, range_ms: i64) -> Load<'_, Backtest>;
        fn create_rule(&self, rule: serde_json::Value) -> Load<'_, String>;
        fn create_channel(&self, channel: serde_json::Value) -> Load<'_, String>;
        fn act(&self, incident: String, action: IncidentAction) -> Load<'_, ()>;
        fn retry_delivery(&self, id: i64) -> Load<'_, ()>;
        /// Silences that have not ended, newest first.
        fn silences(&self) -> Load<'_, Vec<SilenceView>>;
        fn create_silence(&self, silence: serde_json::Value) -> Load<'_, String>;
        fn expire_silence(&self, id: String) -> Load<'_, ()>;
        /// A chart of a rule's query over the last `range_ms`.
        fn rule_panel(&self, spec: PanelSpec, range_ms: i64) -> Load<'_, PanelData>;
    }

    #[derive(Clone)]
    pub struct AlertSourceHandle(pub Arc<dyn AlertSource>);
}

fn alert_source() -> Result<source::AlertSourceHandle, ServerFnError> {
    use_context::<source::AlertSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no alerting in context"))
}

/// The fields of the "new rule" form; the same fields preview it and create it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleForm {
    pub name: String,
    pub metric: String,
    pub agg: String,
    /// `label:value`, optional.
    pub filter: String,
    pub op: String,
    pub threshold: String,
    pub recover: String,
    pub for_: String,
    pub severity: String,
    pub channel: String,
}

impl RuleForm {
    /// The rule as `POST /api/v1/alert-rules` takes it.
    pub fn to_json(&self) -> serde_json::Value {
        let number = |s: &str| s.trim().parse::<f64>().ok();
        let mut condition =
            serde_json::json!({"op": self.op, "threshold": number(&self.threshold)});
        if let Some(recover) = number(&self.recover) {
            condition["recover"] = recover.into();
        }
        let filter: serde_json::Map<String, serde_json::Value> = self
            .filter
            .split(',')
            .filter_map(|pair| pair.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().into()))
            .collect();
        let mut rule = serde_json::json!({
            "name": self.name.trim(),
            "query": {"metric": self.metric.trim(), "agg": self.agg, "filter": filter},
            "condition": condition,
            "severity": self.severity,
        });
        if !self.for_.trim().is_empty() {
            rule["for"] = self.for_.trim().into();
        }
        if !self.channel.is_empty() {
            rule["channels"] = serde_json::json!([self.channel]);
        }
        rule
    }
}

/// Everything the Alerts page lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsPage {
    pub alerts: Vec<AlertView>,
    pub channels: Vec<ChannelView>,
    pub dead: Vec<DeliveryView>,
    pub silences: Vec<SilenceView>,
    pub metrics: Vec<String>,
}

#[server(prefix = "/_osprey")]
pub async fn load_alerts_page() -> Result<AlertsPage, ServerFnError> {
    let source = alert_source()?;
    let panels = use_context::<crate::panels::source::PanelSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no data source in context"))?;
    let (alerts, channels, dead, silences, metrics) = futures::join!(
        source.0.alerts(),
        source.0.channels(),
        source.0.deliveries(Some("dead")),
        source.0.silences(),
        panels.0.metrics()
    );
    Ok(AlertsPage {
        alerts: alerts.map_err(ServerFnError::new)?,
        channels: channels.map_err(ServerFnError::new)?,
        dead: dead.map_err(ServerFnError::new)?,
        silences: silences.map_err(ServerFnError::new)?,
        metrics: metrics.map_err(ServerFnError::new)?,
    })
}

/// How the rule in the form would have fired over the last day and week.
#[server(prefix = "/_osprey")]
pub async fn preview_rule(
    form: RuleForm,
) -> Result<Vec<(String, Result<Backtest, String>)>, ServerFnError> {
    let source = alert_source()?;
    let rule = form.to_json();
    let day = source.0.preview(rule.clone(), 86_400_000).await;
    let week = match &day {
        Ok(_) => source.0.preview(rule, 7 * 86_400_000).await,
        Err(e) => Err(e.clone()),
    };
    Ok(vec![("24 h".into(), day), ("7 d".into(), week)])
}

#[server(prefix = "/_osprey")]
pub async fn create_rule(form: RuleForm) -> Result<String, ServerFnError> {
    crate::auth::require_editor()?;
    let id = alert_source()?
        .0
        .create_rule(form.to_json())
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect(&format!("/alerts/{id}"));
    Ok(id)
}

#[server(prefix = "/_osprey")]
pub async fn create_channel(
    name: String,
    kind: String,
    url: String,
    secret: String,
) -> Result<String, ServerFnError> {
    crate::auth::require_editor()?;
    let config = match kind.as_str() {
        "slack" => serde_json::json!({"webhook_url": url}),
        _ if secret.trim().is_empty() => serde_json::json!({"url": url}),
        _ => serde_json::json!({"url": url, "secret": secret}),
    };
    let id = alert_source()?
        .0
        .create_channel(serde_json::json!({"name": name, "kind": kind, "config": config}))
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect("/alerts");
    Ok(id)
}

/// One rule's page: its spec, state and a chart of its query.
#[server(prefix = "/_osprey")]
pub async fn load_rule(id: String) -> Result<Option<RulePage>, ServerFnError> {
    let source = alert_source()?;
    let Some((spec, view)) = source
        .0
        .rule(id.clone())
        .await
        .map_err(ServerFnError::new)?
    else {
        return Ok(None);
    };
    let history = source.0.history(id).await.map_err(ServerFnError::new)?;
    let query = &spec["query"];
    let panel = PanelSpec {
        id: view.rule_id.clone(),
        title: view.condition.clone(),
        unit: String::new(),
        metric: query["metric"].as_str().unwrap_or_default().to_string(),
        agg: query["agg"].as_str().unwrap_or("avg").to_string(),
        group_by: spec["group_by"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        filter: query["filter"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        scale: 1.0,
        viz: Default::default(),
    };
    let data = source
        .0
        .rule_panel(panel, 6 * 3_600_000)
        .await
        .map_err(ServerFnError::new)?;
    Ok(Some(RulePage {
        view,
        spec,
        data,
        history,
    }))
}

/// One rule's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulePage {
    pub view: AlertView,
    pub spec: serde_json::Value,
    pub data: PanelData,
    pub history: Vec<TransitionView>,
}

#[server(prefix = "/_osprey")]
pub async fn load_incidents() -> Result<Vec<IncidentView>, ServerFnError> {
    alert_source()?
        .0
        .incidents()
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn load_incident(id: String) -> Result<Option<IncidentView>, ServerFnError> {
    alert_source()?
        .0
        .incident(id)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn acknowledge_incident(id: String) -> Result<(), ServerFnError> {
    crate::auth::require_editor()?;
    alert_source()?
        .0
        .act(id, source::IncidentAction::Acknowledge)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn resolve_incident(id: String) -> Result<(), ServerFnError> {
    crate::auth::require_editor()?;
    alert_source()?
        .0
        .act(id, source::IncidentAction::Resolve)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn note_incident(id: String, text: String) -> Result<(), ServerFnError> {
    crate::auth::require_editor()?;
    alert_source()?
        .0
        .act(id, source::IncidentAction::Note(text))
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn retry_delivery(id: i64) -> Result<(), ServerFnError> {
    crate::auth::require_editor()?;
    alert_source()?
        .0
        .retry_delivery(id)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn postmortem_incident(id: String, text: String) -> Result<(), ServerFnError> {
    crate::auth::require_editor()?;
    alert_source()?
        .0
        .act(id, source::IncidentAction::Postmortem(text))
        .await
        .map_err(ServerFnError::new)
}

/// Silences alerts whose `label` equals `value` for `hours` from now.
#[server(prefix = "/_osprey")]
pub async fn create_silence(
    label: String,
    value: String,
    hours: f64,
    comment: String,
) -> Result<String, ServerFnError> {
    crate::auth::require_editor()?;
    let source = alert_source()?;
    let now = use_context::<crate::panels::source::PanelSourceHandle>()
        .map(|p| p.0.now())
        .ok_or_else(|| ServerFnError::new("no data source in context"))?;
    let hours = if hours.is_finite() {
        hours.clamp(0.1, 24.0 * 365.0)
    } else {
        1.0
    };
    let silence = serde_json::json!({
        "matchers": [{"label": label.trim(), "op": "=", "value": value.trim()}],
        "ends_at": now + (hours * 3_600_000.0) as i64,
        "comment": comment,
        "created_by": "dashboard",
    });
    let id = source
        .0
        .create_silence(silence)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect("/alerts");
    Ok(id)
}

#[server(prefix = "/_osprey")]
pub async fn expire_silence(id: String) -> Result<(), ServerFnError> {
    crate::auth::require_editor()?;
    alert_source()?
        .0
        .expire_silence(id)
        .await
        .map_err(ServerFnError::new)
}
