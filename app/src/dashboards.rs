//! What the Dashboards pages read: the list, and one dashboard with its variables resolved and
//! its panels' data for a time range.

use crate::model::{DashboardItem, DashboardLayout, PanelData, TimeRange};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A panel as the "Add panel" form describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPanel {
    pub title: String,
    pub metric: String,
    pub agg: String,
    /// Comma-separated label names.
    pub group_by: String,
    pub viz: String,
    /// Grid columns of 24.
    pub width: u32,
}

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
        /// A new dashboard from its JSON (the export format); its id.
        fn create(&self, json: String, actor: String) -> Load<'_, String>;
        /// Appends a panel below the others.
        fn add_panel(&self, id: String, panel: NewPanel, actor: String) -> Load<'_, ()>;
        fn remove_panel(&self, id: String, panel: String, actor: String) -> Load<'_, ()>;
        /// Puts a panel at `cell`; panels in its way move down ([`crate::layout::place`]).
        fn move_panel(
            &self,
            id: String,
            panel: String,
            cell: crate::layout::Cell,
            actor: String,
        ) -> Load<'_, ()>;
        /// A copy titled "Copy of …"; its id.
        fn duplicate(&self, id: String, actor: String) -> Load<'_, String>;
        fn delete(&self, id: String, actor: String) -> Load<'_, ()>;
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

/// Panels starting this many grid rows (of 44 px) from the top come with the page; those
/// further down load as they scroll into view ([`crate::lazy`]), except 3-D panels.
pub const EAGER_ROWS: u32 = 20;

/// A dashboard, the range shown (`range`, else the dashboard's default) and the data over it
/// of the panels near its top (at least the first), queried at once.
#[server(prefix = "/_osprey")]
pub async fn load_dashboard(
    id: String,
    range: Option<TimeRange>,
    vars: Vec<(String, String)>,
) -> Result<Option<(DashboardLayout, TimeRange, Vec<PanelData>)>, ServerFnError> {
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
    let range = range.unwrap_or_else(|| layout.default_range.clone());
    let (from, to) = range.bounds(panels.0.now());
    let loads = layout
        .panels
        .iter()
        .enumerate()
        // A 3-D panel always comes with the page: rendering one in the browser would pull the
        // GPU code into the main bundle (see `islands::Panel`).
        .filter(|(i, p)| *i == 0 || p.y < EAGER_ROWS || p.spec.viz == crate::model::Viz::Surface)
        .map(|(_, p)| panels.0.panel(&p.spec, from, to));
    let data = futures::future::join_all(loads)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(ServerFnError::new)?;
    Ok(Some((layout, range, data)))
}

/// The signed-in editor's name, or why they may not change dashboards.
fn editor() -> Result<(source::DashboardSourceHandle, String), ServerFnError> {
    let who = crate::auth::require_editor()?;
    Ok((dashboard_source()?, who.name))
}

/// A new dashboard: a title alone, or (`json`) an exported dashboard to import.
#[server(prefix = "/_osprey")]
pub async fn create_dashboard(
    title: String,
    #[server(default)] json: String,
) -> Result<(), ServerFnError> {
    let (source, actor) = editor()?;
    let json = if json.trim().is_empty() {
        serde_json::json!({ "title": title, "panels": [] }).to_string()
    } else {
        json
    };
    let id = source
        .0
        .create(json, actor)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect(&format!("/dashboards/{id}"));
    Ok(())
}

#[server(prefix = "/_osprey")]
pub async fn add_panel(
    id: String,
    title: String,
    metric: String,
    agg: String,
    #[server(default)] group_by: String,
    viz: String,
    width: u32,
) -> Result<(), ServerFnError> {
    let (source, actor) = editor()?;
    let panel = NewPanel {
        title,
        metric,
        agg,
        group_by,
        viz,
        width,
    };
    source
        .0
        .add_panel(id, panel, actor)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn remove_panel(id: String, panel: String) -> Result<(), ServerFnError> {
    let (source, actor) = editor()?;
    source
        .0
        .remove_panel(id, panel, actor)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn duplicate_dashboard(id: String) -> Result<(), ServerFnError> {
    let (source, actor) = editor()?;
    let copy = source
        .0
        .duplicate(id, actor)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect(&format!("/dashboards/{copy}"));
    Ok(())
}

#[server(prefix = "/_osprey")]
pub async fn delete_dashboard(id: String) -> Result<(), ServerFnError> {
    let (source, actor) = editor()?;
    source
        .0
        .delete(id, actor)
        .await
        .map_err(ServerFnError::new)?;
    leptos_axum::redirect("/dashboards");
    Ok(())
}
