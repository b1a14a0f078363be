//! The Dashboards pages' view of stored dashboards: the list, and one dashboard with its
//! variables' values (from the labels of its panels' series) chosen and filled in.

use crate::dashboards::{
    Dashboard, DashboardError, Dashboards, Grid, Panel, PanelQuery, StoredDashboard, GRID_COLUMNS,
};
use crate::store::Store;
use app::dashboards::source::DashboardSource;
use app::dashboards::NewPanel;
use app::model::{DashboardItem, DashboardLayout, DashboardPanelLayout, PanelSpec, VariableChoice};
use app::panels::source::Load;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Values a variable offers at most.
const MAX_VALUES: usize = 200;

pub(crate) struct ServerDashboards {
    pub dashboards: Dashboards,
    pub embeds: crate::embeds::Embeds,
    pub store: Arc<dyn Store>,
    pub accounts: Arc<crate::accounts::Accounts>,
}

impl ServerDashboards {
    pub(crate) fn new(state: &crate::app_state::AppState) -> Self {
        ServerDashboards {
            dashboards: state.dashboards.clone(),
            embeds: state.embeds.clone(),
            store: state.store.clone(),
            accounts: state.accounts.clone(),
        }
    }
}

/// An error as a page shows it: the field at fault first.
fn text(e: DashboardError) -> String {
    e.to_string()
}

impl DashboardSource for ServerDashboards {
    fn list(&self) -> Load<'_, Vec<DashboardItem>> {
        Box::pin(async move {
            let list = self.dashboards.list().await.map_err(|e| e.to_string())?;
            Ok(list
                .into_iter()
                .map(|d| DashboardItem {
                    id: d.id,
                    title: d.title,
                    panels: d.panels,
                    updated_at: d.updated_at,
                })
                .collect())
        })
    }

    fn layout(&self, id: String, vars: Vec<(String, String)>) -> Load<'_, Option<DashboardLayout>> {
        Box::pin(async move { self.layout_of(&id, vars.into_iter().collect()).await })
    }

    fn create(&self, json: String, actor: String) -> Load<'_, String> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            let d = Dashboard::from_json(json.as_bytes()).map_err(text)?;
            let d = self.dashboards.create(d).await.map_err(text)?;
            let target = format!("{} ({})", d.id, d.dashboard.title);
            self.audit(&actor, "dashboard.create", &target, ip).await;
            Ok(d.id)
        })
    }

    fn add_panel(&self, id: String, panel: NewPanel, actor: String) -> Load<'_, ()> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            let viz = app::model::Viz::parse(&panel.viz)
                .ok_or_else(|| format!("viz: unknown visualisation {:?}", panel.viz))?;
            let d = self
                .edit(&id, |d| {
                    // Below everything, as wide as asked.
                    let y = d
                        .panels
                        .iter()
                        .filter_map(|p| p.grid)
                        .map(|g| g.y + g.h)
                        .max()
                        .unwrap_or(0);
                    d.panels.push(Panel {
                        id: String::new(),
                        title: panel.title,
                        query: PanelQuery {
                            metric: panel.metric,
                            agg: panel.agg,
                            group_by: panel
                                .group_by
                                .split(',')
                                .map(str::trim)
                                .filter(|l| !l.is_empty())
                                .map(str::to_string)
                                .collect(),
                            filter: Default::default(),
                        },
                        viz,
                        grid: Some(Grid {
                            x: 0,
                            y,
                            w: panel.width.clamp(1, GRID_COLUMNS),
                            h: 8,
                        }),
                    });
                    Ok(())
                })
                .await?;
            let target = format!("{} ({})", d.id, d.dashboard.title);
            self.audit(&actor, "dashboard.update", &target, ip).await;
            Ok(())
        })
    }

    fn remove_panel(&self, id: String, panel: String, actor: String) -> Load<'_, ()> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            let d = self
                .edit(&id, |d| {
                    let before = d.panels.len();
                    d.panels.retain(|p| p.id != panel);
                    if d.panels.len() == before {
                        return Err(format!("no panel {panel}"));
                    }
                    // The panels below rise into the gap (panels without a place keep none).
                    if d.panels.iter().all(|p| p.grid.is_some()) {
                        let mut cells = grid_cells(&d.panels);
                        app::layout::compact(&mut cells);
                        set_grid_cells(&mut d.panels, cells);
                    }
                    Ok(())
                })
                .await?;
            let target = format!("{} ({})", d.id, d.dashboard.title);
            self.audit(&actor, "dashboard.update", &target, ip).await;
            Ok(())
        })
    }

    fn move_panel(
        &self,
        id: String,
        panel: String,
        cell: app::layout::Cell,
        actor: String,
    ) -> Load<'_, ()> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            let d = self
                .edit(&id, |d| {
                    let mut cells = grid_cells(&d.panels);
                    if !app::layout::place(&mut cells, &panel, cell) {
                        return Err(format!("no panel {panel}"));
                    }
                    set_grid_cells(&mut d.panels, cells);
                    Ok(())
                })
                .await?;
            let target = format!("{} ({})", d.id, d.dashboard.title);
            self.audit(&actor, "dashboard.update", &target, ip).await;
            Ok(())
        })
    }

    fn duplicate(&self, id: String, actor: String) -> Load<'_, String> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            let copy = self.dashboards.duplicate(&id).await.map_err(text)?;
            self.audit(
                &actor,
                "dashboard.duplicate",
                &format!("{id} → {}", copy.id),
                ip,
            )
            .await;
            Ok(copy.id)
        })
    }

    fn delete(&self, id: String, actor: String) -> Load<'_, ()> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            self.dashboards.delete(&id).await.map_err(text)?;
            self.audit(&actor, "dashboard.delete", &id, ip).await;
            Ok(())
        })
    }
}

impl ServerDashboards {
    /// Dashboard `id` with its variables set from `vars` and filled into the panels; `None`
    /// when there is no such dashboard.
    pub(super) async fn layout_of(
        &self,
        id: &str,
        vars: BTreeMap<String, String>,
    ) -> Result<Option<DashboardLayout>, String> {
        let stored = match self.dashboards.get(id).await {
            Ok(d) => d,
            Err(DashboardError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let values = self.label_values(&stored).await?;
        Ok(Some(layout(stored, &vars, &values)))
    }

    pub(super) async fn audit(&self, actor: &str, action: &str, target: &str, ip: Option<String>) {
        self.accounts
            .record(actor, action, target, ip.as_deref(), "")
            .await;
    }

    /// Changes dashboard `id` with `edit` and stores it again.
    async fn edit(
        &self,
        id: &str,
        edit: impl FnOnce(&mut Dashboard) -> Result<(), String>,
    ) -> Result<StoredDashboard, String> {
        let mut d = self.dashboards.get(id).await.map_err(text)?.dashboard;
        edit(&mut d)?;
        self.dashboards.update(id, d).await.map_err(text)
    }

    /// The values each variable's label takes in the series of the dashboard's metrics.
    async fn label_values(
        &self,
        d: &StoredDashboard,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
        let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        if d.dashboard.variables.is_empty() {
            return Ok(values);
        }
        let metrics: BTreeSet<&str> = d
            .dashboard
            .panels
            .iter()
            .map(|p| p.query.metric.as_str())
            .collect();
        for metric in metrics {
            for series in self.store.series(metric).await.map_err(|e| e.to_string())? {
                for v in &d.dashboard.variables {
                    if let Some(value) = series.labels.get(&v.label) {
                        let set = values.entry(v.label.clone()).or_default();
                        if set.len() < MAX_VALUES {
                            set.insert(value.clone());
                        }
                    }
                }
            }
        }
        Ok(values)
    }
}

/// The page's layout: each variable's current value (from the URL, else its default), filled
/// into the panel filters that name it; a variable set to "any" drops those filters.
fn layout(
    d: StoredDashboard,
    chosen: &BTreeMap<String, String>,
    values: &BTreeMap<String, BTreeSet<String>>,
) -> DashboardLayout {
    let variables: Vec<VariableChoice> = d
        .dashboard
        .variables
        .iter()
        .map(|v| VariableChoice {
            name: v.name.clone(),
            label: v.label.clone(),
            values: values
                .get(&v.label)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            current: chosen
                .get(&v.name)
                .cloned()
                .or_else(|| v.default.clone())
                .unwrap_or_default(),
        })
        .collect();
    let current: BTreeMap<&str, &str> = variables
        .iter()
        .map(|v| (v.name.as_str(), v.current.as_str()))
        .collect();
    let panels = d
        .dashboard
        .panels
        .into_iter()
        .map(|p| {
            let filter = p
                .query
                .filter
                .into_iter()
                .filter_map(|(label, value)| match value.strip_prefix('$') {
                    Some(var) => match current.get(var) {
                        Some(v) if !v.is_empty() => Some((label, v.to_string())),
                        _ => None,
                    },
                    None => Some((label, value)),
                })
                .collect();
            let grid = p.grid.unwrap_or(crate::dashboards::Grid {
                x: 0,
                y: 0,
                w: 12,
                h: 8,
            });
            DashboardPanelLayout {
                spec: PanelSpec {
                    id: p.id,
                    title: p.title,
                    unit: String::new(),
                    metric: p.query.metric,
                    agg: p.query.agg,
                    group_by: p.query.group_by,
                    filter,
                    scale: 1.0,
                    viz: p.viz,
                },
                viz: p.viz.as_str().to_string(),
                x: grid.x,
                y: grid.y,
                w: grid.w,
                h: grid.h,
            }
        })
        .collect();
    DashboardLayout {
        default_range: default_range(&d.dashboard.time),
        id: d.id,
        title: d.dashboard.title,
        description: d.dashboard.description,
        variables,
        panels,
    }
}

/// The page range a dashboard's stored time range means: a preset when it is one (`now-6h` to
/// `now`), fixed bounds when both ends are absolute, else the last hour.
fn default_range(time: &crate::dashboards::TimeRange) -> app::model::TimeRange {
    use app::model::{TimeRange, RANGES};
    if time.to == "now" {
        if let Some(key) = time.from.strip_prefix("now-") {
            if RANGES.iter().any(|(k, _, _)| *k == key) {
                return TimeRange::Last(key.to_string());
            }
        }
    }
    // Unix ms or RFC 3339; relative times other than the presets fall back to the last hour.
    let absolute = |t: &str| {
        (!t.starts_with("now"))
            .then(|| crate::query::params::parse_time("time", t, 0).ok())
            .flatten()
    };
    match (absolute(&time.from), absolute(&time.to)) {
        (Some(from), Some(to)) if from < to => TimeRange::Fixed { from, to },
        _ => TimeRange::Last("1h".into()),
    }
}

/// The panels' places as the layout code sees them (a panel without one at the top left, where
/// the layout pushes it out of the way).
fn grid_cells(panels: &[Panel]) -> Vec<(String, app::layout::Cell)> {
    panels
        .iter()
        .map(|p| {
            let g = p.grid.unwrap_or(Grid {
                x: 0,
                y: 0,
                w: 12,
                h: 8,
            });
            let cell = app::layout::Cell {
                x: g.x,
                y: g.y,
                w: g.w,
                h: g.h,
            };
            (p.id.clone(), cell)
        })
        .collect()
}

/// Stores the places of [`grid_cells`] (in its order) back on the panels.
fn set_grid_cells(panels: &mut [Panel], cells: Vec<(String, app::layout::Cell)>) {
    for (p, (_, c)) in panels.iter_mut().zip(cells) {
        p.grid = Some(Grid {
            x: c.x,
            y: c.y,
            w: c.w,
            h: c.h,
        });
    }
}
