//! What the Security page reads, and the server function behind it.

use crate::model::TimeRange;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One stored security event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityEventView {
    pub timestamp: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    pub labels: BTreeMap<String, String>,
}

impl SecurityEventView {
    /// A text field of the details, if present.
    pub fn detail(&self, key: &str) -> Option<String> {
        match self.details.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// What attack detection found, as stored (a `finding.<kind>` security event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingView {
    pub timestamp: i64,
    /// `brute_force_ip`, `brute_force_account`, `credential_stuffing`, `impossible_travel`.
    pub kind: String,
    /// The address or account it is about.
    pub subject: String,
    pub count: i64,
    pub explanation: String,
    /// The service the revealing events came from, when they said.
    pub service: Option<String>,
}

impl FindingView {
    /// Reads a `finding.<kind>` event; `None` for any other kind.
    pub fn from_event(e: &SecurityEventView) -> Option<FindingView> {
        let kind = e.kind.strip_prefix("finding.")?;
        Some(FindingView {
            timestamp: e.timestamp,
            kind: kind.to_string(),
            subject: e.detail("subject").unwrap_or_default(),
            count: e.details.get("count").and_then(|c| c.as_i64()).unwrap_or(0),
            explanation: e.detail("explanation").unwrap_or_default(),
            service: e.labels.get("service").cloned(),
        })
    }
}

/// Everything the Security page shows for one time range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityOverview {
    pub from: i64,
    pub to: i64,
    /// Width of one bucket of `failures`, in ms.
    pub step: i64,
    /// Failed sign-ins per bucket, oldest first.
    pub failures: Vec<i64>,
    pub findings: Vec<FindingView>,
    /// Addresses and accounts with the most failed sign-ins, with their counts.
    pub top_addresses: Vec<(String, i64)>,
    pub top_accounts: Vec<(String, i64)>,
    pub csp_violations: Vec<SecurityEventView>,
}

/// The server's security events, as the page uses them; provided as context when rendering.
pub mod source {
    use super::*;
    use crate::panels::source::Load;
    use std::sync::Arc;

    pub trait SecuritySource: Send + Sync {
        fn overview(&self, range: TimeRange) -> Load<'_, SecurityOverview>;
    }

    #[derive(Clone)]
    pub struct SecuritySourceHandle(pub Arc<dyn SecuritySource>);
}

#[server(prefix = "/_osprey")]
pub async fn load_security(range: TimeRange) -> Result<SecurityOverview, ServerFnError> {
    let source = use_context::<source::SecuritySourceHandle>()
        .ok_or_else(|| ServerFnError::new("no security events in context"))?;
    source.0.overview(range).await.map_err(ServerFnError::new)
}
