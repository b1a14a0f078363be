//! The panels of the Overview page, and the server function that loads their data.

use crate::model::{Anomaly, ForecastView, PanelData, PanelSpec, TimeRange};
use leptos::prelude::*;

fn panel(
    id: &str,
    title: &str,
    unit: &str,
    metric: &str,
    agg: &str,
    group_by: &[&str],
    scale: f64,
) -> PanelSpec {
    PanelSpec {
        id: id.into(),
        title: title.into(),
        unit: unit.into(),
        metric: metric.into(),
        agg: agg.into(),
        group_by: group_by.iter().map(|s| s.to_string()).collect(),
        filter: vec![],
        scale,
        viz: Default::default(),
    }
}

/// The six panels over the demo shop (and any application reporting the same metrics).
pub fn overview_panels() -> Vec<PanelSpec> {
    vec![
        panel(
            "requests",
            "Request rate",
            "req/s",
            "http.requests",
            "rate",
            &["service"],
            1.0,
        ),
        panel(
            "latency",
            "p95 latency",
            "ms",
            "http.latency_ms",
            "p95",
            &["service"],
            1.0,
        ),
        panel(
            "errors",
            "Error rate",
            "%",
            "http.error_rate",
            "avg",
            &["service"],
            1.0,
        ),
        panel(
            "revenue",
            "Revenue per minute",
            "$/min",
            "shop.revenue",
            "rate",
            &[],
            60.0,
        ),
        panel(
            "sessions",
            "Active sessions",
            "sessions",
            "sessions.active",
            "avg",
            &[],
            1.0,
        ),
        panel(
            "cpu",
            "CPU by host",
            "%",
            "system.cpu_percent",
            "avg",
            &["host"],
            1.0,
        ),
    ]
}

/// What the server gives pages to read data with; provided as context when rendering.
pub mod source {
    use crate::model::{Anomaly, ForecastView, PanelData, PanelSpec};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    pub type Load<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;
    pub type PanelFuture<'a> = Load<'a, PanelData>;

    /// The server's data, as pages read it.
    pub trait PanelSource: Send + Sync {
        /// Answers a panel's query over `[from, to]`.
        fn panel<'a>(&'a self, spec: &'a PanelSpec, from: i64, to: i64) -> PanelFuture<'a>;
        fn now(&self) -> i64;
        /// Recorded anomalies over `[from, to)`, newest first.
        fn anomalies(&self, from: i64, to: i64, limit: u32) -> Load<'_, Vec<Anomaly>>;
        /// Marks an anomaly "not an anomaly"; false when there is none at that time.
        fn dismiss(&self, series_id: i64, ts: i64) -> Load<'_, bool>;
        /// Metric names, for pickers.
        fn metrics(&self) -> Load<'_, Vec<String>>;
        /// History and forecast of a metric, `horizon_ms` ahead.
        fn forecast(
            &self,
            metric: String,
            horizon_ms: i64,
            threshold: Option<f64>,
        ) -> Load<'_, ForecastView>;
    }

    #[derive(Clone)]
    pub struct PanelSourceHandle(pub Arc<dyn PanelSource>);
}

fn data_source() -> Result<source::PanelSourceHandle, ServerFnError> {
    use_context::<source::PanelSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no data source in context"))
}

/// Anomalies the live detector recorded over `range`, newest first.
#[server(prefix = "/_osprey")]
pub async fn load_anomalies(range: TimeRange) -> Result<Vec<Anomaly>, ServerFnError> {
    let source = data_source()?;
    let (from, to) = range.bounds(source.0.now());
    source
        .0
        .anomalies(from, to + 1, 500)
        .await
        .map_err(ServerFnError::new)
}

/// "Not an anomaly": records the feedback and lowers the series' sensitivity to deviations of
/// that size. Works as a plain HTML form too (the browser is sent back to the page).
#[server(prefix = "/_osprey")]
pub async fn dismiss_anomaly(series_id: i64, ts: i64) -> Result<bool, ServerFnError> {
    crate::auth::require_editor()?;
    data_source()?
        .0
        .dismiss(series_id, ts)
        .await
        .map_err(ServerFnError::new)
}

/// The Forecast page: metric names, and the chosen metric's forecast if any.
#[server(prefix = "/_osprey")]
pub async fn load_forecast(
    metric: Option<String>,
    horizon: String,
    threshold: Option<f64>,
) -> Result<(Vec<String>, Option<Result<ForecastView, String>>), ServerFnError> {
    let source = data_source()?;
    let metrics = source.0.metrics().await.map_err(ServerFnError::new)?;
    let horizon_ms = crate::model::FORECAST_HORIZONS
        .iter()
        .find(|(k, _, _)| *k == horizon)
        .map(|h| h.2)
        .unwrap_or(crate::model::FORECAST_HORIZONS[1].2);
    let forecast = match metric.filter(|m| !m.is_empty()) {
        Some(m) => Some(source.0.forecast(m, horizon_ms, threshold).await),
        None => None,
    };
    Ok((metrics, forecast))
}

/// Loads every Overview panel over `range`.
#[server(prefix = "/_osprey")]
pub async fn load_overview(range: TimeRange) -> Result<Vec<PanelData>, ServerFnError> {
    let source = data_source()?;
    let (from, to) = range.bounds(source.0.now());
    let specs = overview_panels();
    let loads = specs.iter().map(|spec| source.0.panel(spec, from, to));
    futures_join_all(loads)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(ServerFnError::new)
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}
