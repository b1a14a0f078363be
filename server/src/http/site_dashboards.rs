//! The Dashboards pages' view of stored dashboards: the list, and one dashboard with its
//! variables' values (from the labels of its panels' series) chosen and filled in.

use crate::dashboards::{Dashboards, StoredDashboard};
use crate::store::Store;
use app::dashboards::source::DashboardSource;
use app::model::{DashboardItem, DashboardLayout, DashboardPanelLayout, PanelSpec, VariableChoice};
use app::panels::source::Load;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Values a variable offers at most.
const MAX_VALUES: usize = 200;

pub(super) struct ServerDashboards {
    pub dashboards: Dashboards,
    pub store: Arc<dyn Store>,
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
        Box::pin(async move {
            let stored = match self.dashboards.get(&id).await {
                Ok(d) => d,
                Err(crate::dashboards::DashboardError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            let values = self.label_values(&stored).await?;
            Ok(Some(layout(stored, &vars.into_iter().collect(), &values)))
        })
    }
}

impl ServerDashboards {
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
                },
                viz: serde_json::to_value(p.viz)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                x: grid.x,
                y: grid.y,
                w: grid.w,
                h: grid.h,
            }
        })
        .collect();
    DashboardLayout {
        id: d.id,
        title: d.dashboard.title,
        description: d.dashboard.description,
        variables,
        panels,
    }
}
