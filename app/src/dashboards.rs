//! What the Dashboards pages read: the list, and one dashboard with its variables resolved and
//! its panels' data for a time range.

use crate::model::{DashboardItem, DashboardLayout, PanelData, TimeRange};
use leptos::prelude::*;

pub mod source {
    use super::*;
    use crate::panels::source::Load;
    use std::sync::Arc;

    pub trait DashboardSource: Send + Sync {
        fn list(&self) -> Load<'_, Vec<DashboardItem>>;
        /// Dashboard `id` with each variable set from `vars` (else its default, else any
        /// value) and filled into the panels' filters; `None` when there is no such dashboard.
        fn layout(
            &self,
            id: String,
            vars: Vec<(String, String)>,
        ) -> Load<'_, Option<DashboardLayout>>;
    }

    #[derive(Clone)]
    pub struct DashboardSourceHandle(pub Arc<dyn DashboardSource>);
}

fn dashboard_source() -> Result<source::DashboardSourceHandle, ServerFnError> {
    use_context::<source::DashboardSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no dashboards in context"))
}

#[server(prefix = "/_osprey")]
pub async fn load_dashboards() -> Result<Vec<DashboardItem>, ServerFnError> {
    dashboard_source()?
        .0
        .list()
        .await
        .map_err(ServerFnError::new)
}

/// A dashboard and its panels' data over `range`; every panel is queried at once.
#[server(prefix = "/_osprey")]
pub async fn load_dashboard(
    id: String,
    range: TimeRange,
    vars: Vec<(String, String)>,
) -> Result<Option<(DashboardLayout, Vec<PanelData>)>, ServerFnError> {
    let Some(layout) = dashboard_source()?
        .0
        .layout(id, vars)
        .await
        .map_err(ServerFnError::new)?
    else {
        return Ok(None);
    };
    let panels = use_context::<crate::panels::source::PanelSourceHandle>()
        .ok_or_else(|| ServerFnError::new("no panel source in context"))?;
    let (from, to) = range.bounds(panels.0.now());
    let loads = layout
        .panels
        .iter()
        .map(|p| panels.0.panel(&p.spec, from, to));
    let data = futures::future::join_all(loads)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(ServerFnError::new)?;
    Ok(Some((layout, data)))
}
