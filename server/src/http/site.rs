//! The dashboard: Leptos pages rendered on the server, their server functions, and the static
//! site (wasm, JS, CSS) embedded in the binary.

use crate::anomaly::AnomalyWatch;
use crate::app_state::AppState;
use crate::forecasting;
use crate::query::engine;
use crate::query::params::{self, Agg};
use crate::query::{QueryService, RangeQuery};
use crate::store::Store;
use app::alerting::source::AlertSourceHandle;
use app::model::{
    format_value, Anomaly, Band, ForecastView, Marker, PanelData, PanelSpec, SeriesPoints,
};
use app::panels::source::{Load, PanelFuture, PanelSource, PanelSourceHandle};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;

/// One file of the built site.
pub struct Asset {
    pub path: &'static str,
    pub body: &'static [u8],
    pub gzip: &'static [u8],
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Whether `path` names one of the site's static files (wasm, scripts, styles, the SDK).
pub(super) fn is_asset(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    ASSETS.iter().any(|a| a.path == path)
}

/// Answers the dashboard's panel queries with the same query service as the API.
pub(super) struct ServerPanels {
    query: QueryService,
    store: Arc<dyn Store>,
    detectors: Arc<std::sync::Mutex<AnomalyWatch>>,
}

/// The bucket width of a panel over `[from, to]`: about 300 points. Live streams of panels use
/// it too, so their updates land on the panel's own buckets.
pub(super) fn panel_step(from: i64, to: i64) -> i64 {
    params::default_step(from, to, 300)
}

/// Anomaly markers one panel draws at most.
const PANEL_MARKERS: u32 = 200;

impl ServerPanels {
    /// Stored anomalies of the panel's series over the range, placed in their groups.
    async fn markers(&self, spec: &PanelSpec, from: i64, to: i64) -> Result<Vec<Marker>, String> {
        let rows = self
            .store
            .anomalies(Some(&spec.metric), from, to, PANEL_MARKERS)
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .filter(|a| engine::matches(&a.labels, &spec.filter))
            .map(|a| Marker {
                ts: a.timestamp,
                labels: engine::group_key(&a.labels, &spec.group_by),
                score: a.score as f32,
                explanation: a.explanation,
            })
            .collect())
    }
}

impl PanelSource for ServerPanels {
    fn panel<'a>(&'a self, spec: &'a PanelSpec, from: i64, to: i64) -> PanelFuture<'a> {
        Box::pin(async move {
            let step = panel_step(from, to);
            let agg = Agg::parse(&spec.agg).map_err(|e| e.to_string())?;
            let q = RangeQuery {
                metric: spec.metric.clone(),
                from,
                to,
                step,
                agg,
                group_by: spec.group_by.clone(),
                filter: spec.filter.clone(),
            };
            let (mut series, _) = self
                .query
                .run(&q, self.now())
                .await
                .map_err(|e| e.to_string())?;
            for s in &mut series {
                s.points.iter_mut().for_each(|p| p.1 *= spec.scale);
            }
            let bands = series
                .iter()
                .map(|s| Band {
                    labels: s.labels.clone(),
                    points: crate::anomaly::band(&s.points),
                })
                .collect();
            let anomalies = self.markers(spec, from, to).await?;
            Ok(PanelData {
                spec: spec.clone(),
                from,
                to,
                step,
                series,
                bands,
                anomalies,
            })
        })
    }

    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    fn anomalies(&self, from: i64, to: i64, limit: u32) -> Load<'_, Vec<Anomaly>> {
        Box::pin(async move {
            self.store
                .anomalies(None, from, to, limit)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn dismiss(&self, series_id: i64, ts: i64) -> Load<'_, bool> {
        Box::pin(async move {
            let found = crate::anomaly::dismiss(
                self.store.as_ref(),
                &self.detectors,
                series_id,
                ts,
                self.now(),
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(found.is_some())
        })
    }

    fn metrics(&self) -> Load<'_, Vec<String>> {
        Box::pin(async move {
            let metrics = self.store.metrics().await.map_err(|e| e.to_string())?;
            Ok(metrics.into_iter().map(|m| m.name).collect())
        })
    }

    fn forecast(
        &self,
        metric: String,
        horizon_ms: i64,
        threshold: Option<f64>,
    ) -> Load<'_, ForecastView> {
        Box::pin(async move {
            let q = forecasting::ForecastQuery {
                metric: metric.clone(),
                agg: None,
                group_by: vec![],
                filter: vec![],
                horizon_ms,
                threshold,
            };
            let now = self.now();
            let series = forecasting::run(&self.query, self.store.as_ref(), &q, now)
                .await
                .map_err(|e| e.to_string())?;
            Ok(forecast_view(&q, series, now))
        })
    }
}

/// History (the last two horizons, at least six hours) and forecast as one panel.
fn forecast_view(
    q: &forecasting::ForecastQuery,
    series: Vec<forecasting::SeriesForecast>,
    now: i64,
) -> ForecastView {
    let shown = (2 * q.horizon_ms).max(6 * 3_600_000);
    let from = now - shown;
    let to = now + q.horizon_ms;
    let mut panel = PanelData {
        spec: PanelSpec {
            id: "forecast".into(),
            title: q.metric.clone(),
            unit: String::new(),
            metric: q.metric.clone(),
            agg: "avg".into(),
            group_by: vec![],
            filter: vec![],
            scale: 1.0,
            viz: Default::default(),
        },
        from,
        to,
        step: series.first().map_or(60_000, |s| s.step_ms),
        series: Vec::new(),
        bands: Vec::new(),
        anomalies: Vec::new(),
    };
    // The 95 % band first, so the narrower 80 % one is drawn over it.
    type Edges = fn(&forecasting::ForecastPoint) -> (f64, f64);
    let intervals: [Edges; 2] = [|p| (p.lower, p.upper), |p| (p.lower80, p.upper80)];
    let mut notes = Vec::new();
    for s in series {
        let history = SeriesPoints {
            metric: q.metric.clone(),
            labels: s.labels.clone(),
            points: s.history.into_iter().filter(|p| p.0 >= from).collect(),
        };
        let name = panel.series_name(&history);
        notes.push(match (&s.time_to_threshold, q.threshold) {
            (Some(eta), _) => format!(
                "{name}: reaches {} in {} ({})",
                format_value(eta.threshold),
                eta.text,
                s.model
            ),
            (None, Some(threshold)) => format!(
                "{name}: does not reach {} within the horizon ({})",
                format_value(threshold),
                s.model
            ),
            (None, None) => format!("{name}: {}", s.model),
        });
        let mut labels = s.labels;
        labels.insert("~".into(), "forecast".into());
        panel.bands.extend(intervals.iter().map(|edges| {
            Band {
                labels: labels.clone(),
                points: s
                    .points
                    .iter()
                    .map(|p| {
                        let (lower, upper) = edges(p);
                        (p.timestamp, lower as f32, upper as f32)
                    })
                    .collect(),
            }
        }));
        panel.series.push(history);
        panel.series.push(SeriesPoints {
            metric: q.metric.clone(),
            labels,
            points: s.points.iter().map(|p| (p.timestamp, p.value)).collect(),
        });
    }
    ForecastView { panel, notes }
}

pub fn router(state: AppState) -> Router {
    let panels = Arc::new(ServerPanels {
        query: state.query.clone(),
        store: state.store.clone(),
        detectors: state.detectors.clone(),
    });
    let alerts = AlertSourceHandle(Arc::new(super::site_alerts::ServerAlerts {
        alerting: state.alerting.clone(),
        panels: panels.clone(),
        accounts: state.accounts.clone(),
    }));
    let admin =
        app::settings::source::AdminSourceHandle(Arc::new(super::site_admin::ServerAdmin {
            state: state.clone(),
        }));
    let signals =
        app::signals::source::SignalSourceHandle(Arc::new(super::site_signals::ServerSignals {
            state: state.clone(),
        }));
    let security = app::security::source::SecuritySourceHandle(Arc::new(
        super::site_security::ServerSecurity {
            state: state.clone(),
        },
    ));
    let server_dashboards = Arc::new(super::site_dashboards::ServerDashboards::new(&state));
    let dashboards = app::dashboards::source::DashboardSourceHandle(server_dashboards.clone());
    let embeds = app::embeds::source::EmbedSourceHandle(server_dashboards);
    let source = PanelSourceHandle(panels);
    let context = move || {
        provide_context(source.clone());
        provide_context(alerts.clone());
        provide_context(admin.clone());
        provide_context(signals.clone());
        provide_context(security.clone());
        provide_context(dashboards.clone());
        provide_context(embeds.clone());
    };
    register_server_fns();
    let options = state.leptos.clone();
    let server_fn_context = context.clone();
    Router::new()
        .route(
            "/_osprey/{*fn_name}",
            post(move |req: Request<Body>| {
                leptos_axum::handle_server_fns_with_context(server_fn_context.clone(), req)
            }),
        )
        .leptos_routes_with_context(&state, generate_route_list(app::App), context, move || {
            app::shell(options.clone())
        })
        .fallback(asset)
        .with_state(state)
}

/// Registers every server function by name and returns their paths.
///
/// `leptos` collects server functions with `inventory`, which a release link may drop for a module
/// nothing on the server calls directly (the lazy panels' `load_panels` went missing that way: the
/// island calls it, the server never does). Registering them here keeps them all, in every build;
/// the test below fails when a new server function is not on this list.
pub fn register_server_fns() -> Vec<&'static str> {
    use app::*;
    macro_rules! register {
        ($($f:ty),* $(,)?) => {{
            $(leptos::server_fn::axum::register_explicit::<$f>();)*
            vec![$(<$f as leptos::server_fn::ServerFn>::PATH),*]
        }};
    }
    register!(
        embeds::LoadEmbed,
        embeds::LoadEmbedLinks,
        embeds::CreateEmbed,
        embeds::RevokeEmbed,
        panels::LoadAnomalies,
        panels::DismissAnomaly,
        panels::LoadForecast,
        panels::LoadOverview,
        security::LoadSecurity,
        signals::LoadErrorGroups,
        signals::LoadErrorGroup,
        signals::SetErrorStatus,
        signals::LoadTraces,
        signals::LoadTrace,
        signals::LoadLogs,
        signals::LoadServices,
        signals::LoadLatencySurface,
        alerting::LoadAlertsPage,
        alerting::PreviewRule,
        alerting::CreateRule,
        alerting::CreateChannel,
        alerting::LoadRule,
        alerting::LoadIncidents,
        alerting::LoadIncident,
        alerting::AcknowledgeIncident,
        alerting::ResolveIncident,
        alerting::NoteIncident,
        alerting::RetryDelivery,
        alerting::PostmortemIncident,
        alerting::CreateSilence,
        alerting::ExpireSilence,
        lazy::LoadPanels,
        dashboards::LoadDashboards,
        dashboards::LoadDashboard,
        dashboards::CreateDashboard,
        dashboards::AddPanel,
        dashboards::RemovePanel,
        dashboards::DuplicateDashboard,
        dashboards::DeleteDashboard,
        keys::CreateKey,
        keys::RotateKey,
        layout::MovePanel,
        settings::LoadSettings,
        settings::CreateUser,
        settings::SetRole,
        settings::SetDisabled,
        settings::RevokeKey,
    )
}

/// Serves an embedded file, gzipped when the client takes it; anything else is a 404 page.
async fn asset(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let Some(file) = ASSETS.iter().find(|a| a.path == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response();
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(file.etag)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut response = if gzip {
        Body::from(file.gzip).into_response()
    } else {
        Body::from(file.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::ETAG, HeaderValue::from_static(file.etag));
    // File names carry no hash, so browsers revalidate (cheaply, by ETag) on every load.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// In a test build `inventory` sees every server function; the explicit list must name each one.
    #[test]
    fn every_server_function_is_registered_explicitly() {
        let listed: BTreeSet<&str> = super::register_server_fns().into_iter().collect();
        let known: BTreeSet<&str> = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path)
            .collect();
        let missing: Vec<_> = known.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "add these to register_server_fns: {missing:?}"
        );
        assert!(
            listed
                .iter()
                .any(|path| path.starts_with("/_osprey/load_panels")),
            "{listed:?}"
        );
    }
}
