//! The panels of the Overview page, and the server function that loads their data.

use crate::model::{PanelData, PanelSpec, TimeRange};
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
    use crate::model::{PanelData, PanelSpec};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    pub type PanelFuture<'a> = Pin<Box<dyn Future<Output = Result<PanelData, String>> + Send + 'a>>;

    /// Answers a panel's query over `[from, to]`.
    pub trait PanelSource: Send + Sync {
        fn panel<'a>(&'a self, spec: &'a PanelSpec, from: i64, to: i64) -> PanelFuture<'a>;
        fn now(&self) -> i64;
    }

    #[derive(Clone)]
    pub struct PanelSourceHandle(pub Arc<dyn PanelSource>);
}

/// Loads every Overview panel over `range`.
#[server(prefix = "/_osprey")]
pub async fn load_overview(range: TimeRange) -> Result<Vec<PanelData>, ServerFnError> {
    let source = use_context::<source::PanelSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no data source in context"))?;
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
