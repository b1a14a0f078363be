//! Dashboards: titled grids of panels, each a query (metric, aggregation, grouping, filter) and a
//! visualisation, with variables (`$service`, filled from a label's values) and a default time
//! range. They are stored as documents of kind `dashboard` through the Store, so both backends
//! keep them, and the JSON a client sends is also the export and import format.
//!
//! Every panel has an id that stays the same across edits (a client sends it back with the
//! panel), so links and embed tokens that name panels survive changes to the dashboard.

use crate::query::params::{parse_metric, Agg, ParamError};
use crate::store::{Document, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The document kind dashboards are stored under.
pub const KIND: &str = "dashboard";
/// Dashboards one Osprey keeps at most.
pub const MAX_DASHBOARDS: i64 = 1_000;
const MAX_PANELS: usize = 100;
const MAX_VARIABLES: usize = 20;
const MAX_TITLE_CHARS: usize = 200;
const MAX_TEXT_CHARS: usize = 2_000;
/// Columns of the grid; panels are placed in whole columns and rows.
pub const GRID_COLUMNS: u32 = 24;
const MAX_ROWS: u32 = 1_000;
const MAX_PANEL_ROWS: u32 = 40;

/// How a panel draws its query (line, area, bar, heatmap, stat, table, surface); the pages
/// draw each.
pub use app::model::Viz;

/// What a panel shows: a `query_range` query. Filter values may name a variable (`$service`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelQuery {
    pub metric: String,
    #[serde(default = "avg")]
    pub agg: String,
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
}

fn avg() -> String {
    "avg".into()
}

/// Where a panel sits: column and row of its top-left corner, its width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// Kept across edits; given by Osprey when a new panel comes without one.
    #[serde(default)]
    pub id: String,
    pub title: String,
    pub query: PanelQuery,
    pub viz: Viz,
    /// Placed after the panels above it when absent.
    #[serde(default)]
    pub grid: Option<Grid>,
}

/// `$name`, filled with one value of `label` (the values the label has in the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub default: Option<String>,
}

/// The time range a dashboard opens on (`now-6h` … `now`, as `query_range` takes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    pub from: String,
    pub to: String,
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange {
            from: "now-1h".into(),
            to: "now".into(),
        }
    }
}

/// A dashboard as clients send it and read it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub time: TimeRange,
    #[serde(default)]
    pub variables: Vec<Variable>,
    pub panels: Vec<Panel>,
}

/// A stored dashboard with its id and times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredDashboard {
    pub id: String,
    #[serde(flatten)]
    pub dashboard: Dashboard,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("dashboard {0} not found")]
    NotFound(String),
    #[error("the limit of {MAX_DASHBOARDS} dashboards is reached")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DashboardError {
    DashboardError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Names of ids and variables: letters, digits, `_` and `-`, 1 to 32 of them.
fn is_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<(), DashboardError> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("longer than {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

impl Dashboard {
    /// Reads a dashboard's JSON (the export format), an error naming the field at fault
    /// (`panels[0].query.metric`); the API and the import form both read it here.
    pub fn from_json(json: &[u8]) -> Result<Dashboard, DashboardError> {
        let mut de = serde_json::Deserializer::from_slice(json);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            // serde names a missing field only in its message; the field is that one, not its
            // parent.
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next());
            let field = match (path.as_str(), missing) {
                (".", Some(name)) => name.to_string(),
                (parent, Some(name)) => format!("{parent}.{name}"),
                (parent, None) => parent.to_string(),
            };
            invalid(field, message)
        })
    }

    /// Checks every field against its bounds, gives new panels ids, and places panels without
    /// a grid position below the others, two to a row.
    pub fn validate(mut self) -> Result<Dashboard, DashboardError> {
        text("title", &self.title, MAX_TITLE_CHARS, true)?;
        text("description", &self.description, MAX_TEXT_CHARS, false)?;
        for (field, t) in [("time.from", &self.time.from), ("time.to", &self.time.to)] {
            crate::query::params::parse_time("time", t, 0)
                .map_err(|e| invalid(field, e.message))?;
        }
        if self.variables.len() > MAX_VARIABLES {
            return Err(invalid("variables", format!("more than {MAX_VARIABLES}")));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, v) in self.variables.iter().enumerate() {
            let at = format!("variables[{i}]");
            if !is_name(&v.name) {
                return Err(invalid(
                    format!("{at}.name"),
                    "1 to 32 letters, digits, _ or -",
                ));
            }
            if !names.insert(v.name.as_str()) {
                return Err(invalid(format!("{at}.name"), format!("${} twice", v.name)));
            }
            text(&format!("{at}.label"), &v.label, 128, true)?;
            if let Some(d) = &v.default {
                text(&format!("{at}.default"), d, 256, false)?;
            }
        }
        if self.panels.len() > MAX_PANELS {
            return Err(invalid("panels", format!("more than {MAX_PANELS}")));
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut next_y = 0u32;
        for (i, p) in self.panels.iter_mut().enumerate() {
            let at = format!("panels[{i}]");
            if p.id.is_empty() {
                p.id = new_id("pa");
            } else if !is_name(&p.id) {
                return Err(invalid(
                    format!("{at}.id"),
                    "1 to 32 letters, digits, _ or -",
                ));
            }
            if !ids.insert(p.id.clone()) {
                return Err(invalid(format!("{at}.id"), format!("{} twice", p.id)));
            }
            text(&format!("{at}.title"), &p.title, MAX_TITLE_CHARS, false)?;
            let q = &p.query;
            parse_metric(Some(&q.metric)).map_err(|e| param(&at, e))?;
            Agg::parse(&q.agg).map_err(|e| param(&at, e))?;
            if q.group_by.len() > 8 || q.filter.len() > 16 {
                return Err(invalid(
                    format!("{at}.query"),
                    "at most 8 group_by labels and 16 filters",
                ));
            }
            for label in q.group_by.iter().chain(q.filter.keys()) {
                text(&format!("{at}.query"), label, 128, true)?;
            }
            for value in q.filter.values() {
                text(&format!("{at}.query.filter"), value, 256, false)?;
                if let Some(var) = value.strip_prefix('$') {
                    if !names.contains(var) {
                        return Err(invalid(
                            format!("{at}.query.filter"),
                            format!("${var} is not a variable of this dashboard"),
                        ));
                    }
                }
            }
            if let Some(g) = p.grid {
                if g.w == 0 || g.h == 0 || g.x + g.w > GRID_COLUMNS || g.h > MAX_PANEL_ROWS {
                    return Err(invalid(
                        format!("{at}.grid"),
                        format!("within {GRID_COLUMNS} columns, 1 to {MAX_PANEL_ROWS} rows high"),
                    ));
                }
                if g.y > MAX_ROWS {
                    return Err(invalid(
                        format!("{at}.grid.y"),
                        format!("at most {MAX_ROWS}"),
                    ));
                }
                next_y = next_y.max(g.y + g.h);
            }
        }
        // Unplaced panels go below everything placed, two to a row.
        let mut column = 0;
        for p in self.panels.iter_mut().filter(|p| p.grid.is_none()) {
            p.grid = Some(Grid {
                x: column,
                y: next_y,
                w: GRID_COLUMNS / 2,
                h: 8,
            });
            column += GRID_COLUMNS / 2;
            if column >= GRID_COLUMNS {
                column = 0;
                next_y += 8;
            }
        }
        Ok(self)
    }
}

fn param(at: &str, e: ParamError) -> DashboardError {
    invalid(format!("{at}.query.{}", e.field), e.message)
}

/// A fresh id with a readable prefix (`da_…` for dashboards, `pa_…` for panels).
fn new_id(prefix: &str) -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{prefix}_{n:016x}")
}

/// One line of the dashboard list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardSummary {
    pub id: String,
    pub title: String,
    pub panels: usize,
    pub updated_at: i64,
}

/// Dashboards through the Store.
#[derive(Clone)]
pub struct Dashboards {
    store: Arc<dyn Store>,
}

impl Dashboards {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Dashboards { store }
    }

    /// Validates and stores a new dashboard. Its panels get new ids whatever they came with, so
    /// importing an export next to the original leaves every panel id unique across dashboards
    /// (embed tokens name panels by id).
    pub async fn create(
        &self,
        mut dashboard: Dashboard,
    ) -> Result<StoredDashboard, DashboardError> {
        for p in &mut dashboard.panels {
            p.id.clear();
        }
        let dashboard = dashboard.validate()?;
        if self.store.document_stats(KIND).await?.count >= MAX_DASHBOARDS {
            return Err(DashboardError::Full);
        }
        self.put(new_id("da"), dashboard, None).await
    }

    /// Replaces dashboard `id` (its panels keep the ids they are sent with).
    pub async fn update(
        &self,
        id: &str,
        dashboard: Dashboard,
    ) -> Result<StoredDashboard, DashboardError> {
        let dashboard = dashboard.validate()?;
        let old = self.get(id).await?;
        self.put(id.to_string(), dashboard, Some(old.created_at))
            .await
    }

    /// A copy under a new id, titled "Copy of …" (with new panel ids, as every new dashboard).
    pub async fn duplicate(&self, id: &str) -> Result<StoredDashboard, DashboardError> {
        let mut copy = self.get(id).await?.dashboard;
        copy.title = format!("Copy of {}", copy.title)
            .chars()
            .take(MAX_TITLE_CHARS)
            .collect();
        self.create(copy).await
    }

    pub async fn get(&self, id: &str) -> Result<StoredDashboard, DashboardError> {
        let doc = self
            .store
            .document(KIND, id)
            .await?
            .ok_or_else(|| DashboardError::NotFound(id.to_string()))?;
        stored(doc)
    }

    /// Every dashboard, by title.
    pub async fn list(&self) -> Result<Vec<DashboardSummary>, DashboardError> {
        let mut list: Vec<DashboardSummary> = self
            .store
            .documents(KIND)
            .await?
            .into_iter()
            .map(stored)
            .map(|d| {
                d.map(|d| DashboardSummary {
                    panels: d.dashboard.panels.len(),
                    id: d.id,
                    title: d.dashboard.title,
                    updated_at: d.updated_at,
                })
            })
            .collect::<Result<_, _>>()?;
        list.sort_by_key(|d| d.title.to_lowercase());
        Ok(list)
    }

    pub async fn delete(&self, id: &str) -> Result<(), DashboardError> {
        if self.store.delete_document(KIND, id).await? {
            Ok(())
        } else {
            Err(DashboardError::NotFound(id.to_string()))
        }
    }

    async fn put(
        &self,
        id: String,
        dashboard: Dashboard,
        created_at: Option<i64>,
    ) -> Result<StoredDashboard, DashboardError> {
        let now = chrono::Utc::now().timestamp_millis();
        let doc = Document {
            kind: KIND,
            id: id.clone(),
            name: dashboard.title.clone(),
            body: serde_json::to_value(&dashboard).expect("dashboards serialise"),
            created_at: created_at.unwrap_or(now),
            updated_at: now,
        };
        self.store.put_document(&doc).await?;
        Ok(StoredDashboard {
            id,
            dashboard,
            created_at: doc.created_at,
            updated_at: now,
        })
    }
}

fn stored(doc: Document) -> Result<StoredDashboard, DashboardError> {
    let dashboard = serde_json::from_value(doc.body).map_err(|e| {
        DashboardError::Store(StoreError::Corrupt(format!("dashboard {}: {e}", doc.id)))
    })?;
    Ok(StoredDashboard {
        id: doc.id,
        dashboard,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dashboard(v: serde_json::Value) -> Result<Dashboard, DashboardError> {
        serde_json::from_value::<Dashboard>(v).unwrap().validate()
    }

    #[test]
    fn new_panels_get_ids_and_places() {
        let d = dashboard(json!({"title": "Shop", "panels": [
            {"title": "a", "query": {"metric": "m"}, "viz": "line", "grid": {"x": 0, "y": 0, "w": 24, "h": 6}},
            {"id": "keep-me", "title": "b", "query": {"metric": "m", "agg": "p95"}, "viz": "stat"},
            {"title": "c", "query": {"metric": "m"}, "viz": "bar"},
            {"title": "d", "query": {"metric": "m"}, "viz": "table"},
        ]}))
        .unwrap();
        assert_eq!(d.panels[1].id, "keep-me");
        assert!(d.panels[0].id.starts_with("pa_"));
        let grids: Vec<Grid> = d.panels.iter().map(|p| p.grid.unwrap()).collect();
        assert_eq!(
            grids[1],
            Grid {
                x: 0,
                y: 6,
                w: 12,
                h: 8
            }
        );
        assert_eq!(
            grids[2],
            Grid {
                x: 12,
                y: 6,
                w: 12,
                h: 8
            }
        );
        assert_eq!(
            grids[3],
            Grid {
                x: 0,
                y: 14,
                w: 12,
                h: 8
            }
        );
        assert_eq!(d.time, TimeRange::default());
    }

    #[test]
    fn every_field_is_checked_and_named() {
        let field = |v: serde_json::Value| match dashboard(v) {
            Err(DashboardError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let panel = |q: serde_json::Value| json!({"title": "t", "panels": [{"title": "p", "query": q, "viz": "line"}]});
        assert_eq!(field(json!({"title": " ", "panels": []})), "title");
        assert_eq!(
            field(panel(json!({"metric": ""}))),
            "panels[0].query.metric"
        );
        assert_eq!(
            field(panel(json!({"metric": "m", "agg": "median"}))),
            "panels[0].query.agg"
        );
        assert_eq!(
            field(panel(json!({"metric": "m", "filter": {"service": "$svc"}}))),
            "panels[0].query.filter"
        );
        assert_eq!(
            field(
                json!({"title": "t", "panels": [{"title": "p", "query": {"metric": "m"}, "viz": "line", "grid": {"x": 20, "y": 0, "w": 6, "h": 4}}]})
            ),
            "panels[0].grid"
        );
        assert_eq!(
            field(json!({"title": "t", "time": {"from": "yesterday", "to": "now"}, "panels": []})),
            "time.from"
        );
        assert_eq!(
            field(
                json!({"title": "t", "variables": [{"name": "a b", "label": "service"}], "panels": []})
            ),
            "variables[0].name"
        );
        assert_eq!(
            field(json!({"title": "t", "panels": [
                {"id": "x", "title": "p", "query": {"metric": "m"}, "viz": "line"},
                {"id": "x", "title": "q", "query": {"metric": "m"}, "viz": "line"}]})),
            "panels[1].id"
        );
        let ok = dashboard(
            json!({"title": "t", "variables": [{"name": "svc", "label": "service", "default": "web"}],
            "panels": [{"title": "p", "query": {"metric": "m", "group_by": ["host"], "filter": {"service": "$svc"}}, "viz": "heatmap"}]}),
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}
