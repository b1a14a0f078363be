//! What the Errors, Traces and Logs pages read and do, and the server functions behind them.

use crate::model::{
    ErrorGroupDetail, ErrorGroupView, ErrorOccurrence, LatencySurface, LogView, ServiceStats,
    SpanView, TimeRange, TraceSummary,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Filters of the Errors page, from its URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorFilter {
    /// `unresolved` (the default), `resolved`, `ignored` or `all`.
    pub status: String,
    pub q: String,
    pub range: TimeRange,
}

/// Filters of the Traces page, from its URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceFilter {
    pub service: String,
    pub operation: String,
    pub min_duration_ms: String,
    pub status: String,
    /// `key:value`
    pub attr: String,
    pub range: TimeRange,
}

/// Filters of the Logs page, from its URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogFilter {
    pub service: String,
    pub q: String,
    pub trace_id: String,
    /// The least severe level shown.
    pub severity: String,
    pub range: TimeRange,
}

/// Which latency surface to draw: requests of one service (or all) over a range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SurfaceQuery {
    pub service: String,
    pub range: TimeRange,
    /// Time slices and latency buckets, each bounded to 8..=400 by the server.
    pub cols: usize,
    pub rows: usize,
}

/// A trace with the errors recorded in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceDetail {
    pub trace_id: String,
    pub spans: Vec<SpanView>,
    /// More spans exist than were read.
    pub truncated: bool,
    pub errors: Vec<ErrorOccurrence>,
    pub logs: Vec<LogView>,
}

/// The server's errors, traces and logs, as pages use them; provided as context when rendering.
pub mod source {
    use super::*;
    use crate::panels::source::Load;
    use std::sync::Arc;

    pub trait SignalSource: Send + Sync {
        fn error_groups(&self, filter: ErrorFilter) -> Load<'_, Vec<ErrorGroupView>>;
        fn error_group(&self, id: String) -> Load<'_, Option<ErrorGroupDetail>>;
        /// `actor` is who did it, for the audit log.
        fn set_error_status(&self, id: String, status: String, actor: String) -> Load<'_, ()>;
        fn traces(&self, filter: TraceFilter) -> Load<'_, Vec<TraceSummary>>;
        fn trace(&self, id: String) -> Load<'_, Option<TraceDetail>>;
        fn logs(&self, filter: LogFilter) -> Load<'_, Vec<LogView>>;
        fn services(&self, range: TimeRange) -> Load<'_, Vec<ServiceStats>>;
        fn latency_surface(&self, query: SurfaceQuery) -> Load<'_, LatencySurface>;
    }

    #[derive(Clone)]
    pub struct SignalSourceHandle(pub Arc<dyn SignalSource>);
}

fn signal_source() -> Result<source::SignalSourceHandle, ServerFnError> {
    use_context::<source::SignalSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no signals in context"))
}

#[server(prefix = "/_osprey")]
pub async fn load_error_groups(filter: ErrorFilter) -> Result<Vec<ErrorGroupView>, ServerFnError> {
    signal_source()?
        .0
        .error_groups(filter)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn load_error_group(id: String) -> Result<Option<ErrorGroupDetail>, ServerFnError> {
    signal_source()?
        .0
        .error_group(id)
        .await
        .map_err(ServerFnError::new)
}

/// The Resolve / Ignore / Reopen buttons of an issue page.
#[server(prefix = "/_osprey")]
pub async fn set_error_status(id: String, status: String) -> Result<(), ServerFnError> {
    let who = crate::auth::require_editor()?;
    signal_source()?
        .0
        .set_error_status(id.clone(), status, who.name)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect(&format!("/errors/{id}"));
    Ok(())
}

#[server(prefix = "/_osprey")]
pub async fn load_traces(filter: TraceFilter) -> Result<Vec<TraceSummary>, ServerFnError> {
    signal_source()?
        .0
        .traces(filter)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn load_trace(id: String) -> Result<Option<TraceDetail>, ServerFnError> {
    signal_source()?
        .0
        .trace(id)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn load_logs(filter: LogFilter) -> Result<Vec<LogView>, ServerFnError> {
    signal_source()?
        .0
        .logs(filter)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn load_services(range: TimeRange) -> Result<Vec<ServiceStats>, ServerFnError> {
    signal_source()?
        .0
        .services(range)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn load_latency_surface(query: SurfaceQuery) -> Result<LatencySurface, ServerFnError> {
    signal_source()?
        .0
        .latency_surface(query)
        .await
        .map_err(ServerFnError::new)
}
