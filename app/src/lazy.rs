//! Panels loaded as they scroll into view: a dashboard renders the panels near its top with the
//! page and the rest as placeholders ([`crate::islands::LazyPanel`]), which ask for their data
//! here when they come near the viewport, all those arriving together in one request.

use crate::model::{PanelData, TimeRange};
use leptos::prelude::*;

/// Panels one request may ask for.
pub const MAX_PANELS: usize = 100;

/// The data of some panels of dashboard `dashboard` over `range`, with its variables set from
/// `vars`, in the order asked; panels no longer on the dashboard are left out.
// JSON: a range and a list of pairs do not survive URL encoding (an empty list vanishes).
#[server(prefix = "/_osprey", input = leptos::server_fn::codec::Json)]
pub async fn load_panels(
    dashboard: String,
    panels: Vec<String>,
    range: TimeRange,
    vars: Vec<(String, String)>,
) -> Result<Vec<PanelData>, ServerFnError> {
    if panels.len() > MAX_PANELS {
        return Err(ServerFnError::new(format!(
            "at most {MAX_PANELS} panels a request"
        )));
    }
    let source = use_context::<crate::dashboards::source::DashboardSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no dashboards in context"))?;
    let data = use_context::<crate::panels::source::PanelSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no panel source in context"))?;
    let Some(layout) = source
        .0
        .layout(dashboard, vars)
        .await
        .map_err(ServerFnError::new)?
    else {
        return Err(ServerFnError::new("no such dashboard"));
    };
    let (from, to) = range.bounds(data.0.now());
    let specs: Vec<_> = panels
        .iter()
        .filter_map(|id| layout.panels.iter().find(|p| &p.spec.id == id))
        .map(|p| p.spec.clone())
        .collect();
    futures::future::join_all(specs.iter().map(|spec| data.0.panel(spec, from, to)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(ServerFnError::new)
}
