//! Read endpoints: range queries, the metric catalogue, events and live streams.

use super::authz::ClientIp;
use super::ApiError;
use crate::app_state::AppState;
use crate::forecasting;
use crate::live::{LiveClient, LiveSpec};
use crate::query::params::{self, Agg};
use crate::query::{RangeParams, RangeQuery};
use crate::store::EventQuery;
use app::model::{LiveStream, PanelUpdate, QueryResponse};
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::Stream;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn query_range(
    State(state): State<AppState>,
    Query(p): Query<RangeParams>,
) -> Result<impl IntoResponse, ApiError> {
    let started = Instant::now();
    let q = RangeQuery::parse(&p, now())?;
    let (series, source) = state.query.run(&q, now()).await?;
    state.telemetry.query_latency.observe(started.elapsed());
    tracing::debug!(metric = %q.metric, ?source, "query_range");
    Ok(Json(QueryResponse { series }))
}

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        serde_json::json!({ "metrics": state.store.metrics().await? }),
    ))
}

/// The `[from, to]` of a listing as `from <= ts < to + 1`; `to` defaults to now.
pub(super) fn listing_window(
    from: Option<&str>,
    to: Option<&str>,
    default_from: &str,
) -> Result<(i64, i64), ApiError> {
    let now = now();
    let from = params::parse_time("from", from.unwrap_or(default_from), now)?;
    let to = params::parse_time("to", to.unwrap_or("now"), now)?;
    Ok((from, to + 1))
}

#[derive(serde::Deserialize)]
pub struct EventParams {
    name: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

pub async fn events(
    State(state): State<AppState>,
    Query(p): Query<EventParams>,
) -> Result<impl IntoResponse, ApiError> {
    let (from, to) = listing_window(p.from.as_deref(), p.to.as_deref(), "now-1h")?;
    let query = EventQuery {
        name: p.name.filter(|n| !n.is_empty()),
        from,
        to,
        limit: p.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(Json(
        serde_json::json!({ "events": state.store.events(&query).await? }),
    ))
}

#[derive(serde::Deserialize)]
pub struct AnomalyParams {
    metric: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/anomalies?metric=&from=&to=&limit=`: what the live detector found, newest first.
pub async fn anomalies(
    State(state): State<AppState>,
    Query(p): Query<AnomalyParams>,
) -> Result<impl IntoResponse, ApiError> {
    let (from, to) = listing_window(p.from.as_deref(), p.to.as_deref(), "now-24h")?;
    let limit = p.limit.unwrap_or(500).clamp(1, 5000);
    let rows = state
        .store
        .anomalies(
            p.metric.as_deref().filter(|m| !m.is_empty()),
            from,
            to,
            limit,
        )
        .await?;
    Ok(Json(serde_json::json!({ "anomalies": rows })))
}

#[derive(serde::Deserialize)]
pub struct ForecastParams {
    metric: Option<String>,
    horizon: Option<String>,
    agg: Option<String>,
    group_by: Option<String>,
    filter: Option<String>,
    threshold: Option<f64>,
}

/// `GET /api/v1/forecast?metric=&horizon=1h&agg=&group_by=&filter=&threshold=`: point forecasts
/// with 80 % and 95 % intervals per series, and when each reaches `threshold`.
pub async fn forecast(
    State(state): State<AppState>,
    Query(p): Query<ForecastParams>,
) -> Result<impl IntoResponse, ApiError> {
    let q = forecasting::ForecastQuery {
        metric: params::parse_metric(p.metric.as_deref())?,
        agg: p.agg.as_deref().map(Agg::parse).transpose()?,
        group_by: params::parse_group_by(p.group_by.as_deref().unwrap_or("")),
        filter: params::parse_filter(p.filter.as_deref().unwrap_or(""))?,
        horizon_ms: forecasting::parse_horizon(p.horizon.as_deref().unwrap_or("1h"))?,
        threshold: p.threshold.filter(|t| t.is_finite()),
    };
    let series = forecasting::run(&state.query, state.store.as_ref(), &q, now()).await?;
    Ok(Json(serde_json::json!({
        "metric": q.metric,
        "horizon_ms": q.horizon_ms,
        "series": series,
    })))
}

#[derive(serde::Deserialize)]
pub struct LiveParams {
    metric: Option<String>,
    agg: Option<String>,
    group_by: Option<String>,
    filter: Option<String>,
    step: Option<String>,
}

/// `GET /api/v1/live`: one query's new points as `update` events.
pub async fn live(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    Query(p): Query<LiveParams>,
) -> Result<impl IntoResponse, ApiError> {
    let metric = p.metric.filter(|m| !m.is_empty()).ok_or_else(|| {
        ApiError::from(params::ParamError {
            field: "metric",
            message: "metric is required".into(),
        })
    })?;
    let spec = LiveSpec {
        metric,
        agg: Agg::parse(p.agg.as_deref().unwrap_or("avg"))?,
        group_by: params::parse_group_by(p.group_by.as_deref().unwrap_or("")),
        filter: params::parse_filter(p.filter.as_deref().unwrap_or(""))?,
        step: match p.step.as_deref() {
            Some(s) if !s.is_empty() => params::parse_step(s)?,
            _ => 1_000,
        },
    };
    let client = LiveClient {
        address,
        embed: None,
    };
    let updates = state.live.subscribe(vec![(String::new(), spec)], &client)?;
    let stream = ReceiverStream::new(updates).map(|batch| {
        let series = batch.into_iter().flat_map(|(_, s)| s).collect();
        Ok::<_, Infallible>(
            Event::default()
                .event("update")
                .json_data(QueryResponse { series })
                .expect("serialisable"),
        )
    });
    Ok(sse(stream))
}

#[derive(serde::Deserialize)]
pub struct PanelsParams {
    q: String,
}

/// Panels a page may follow on one stream at most.
const MAX_LIVE_PANELS: usize = 64;

/// `GET /api/v1/live/panels?q=[…]`: many panels' updates on one stream (a browser keeps only
/// six connections per host, so a page opens one stream, not one per panel).
pub async fn live_panels(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    Query(p): Query<PanelsParams>,
) -> Result<impl IntoResponse, ApiError> {
    let streams: Vec<LiveStream> = serde_json::from_str(&p.q).map_err(|e| {
        ApiError::from(params::ParamError {
            field: "q",
            message: format!("expected a JSON array of streams: {e}"),
        })
    })?;
    if streams.len() > MAX_LIVE_PANELS {
        return Err(params::ParamError {
            field: "q",
            message: format!(
                "{} streams, more than the limit of {MAX_LIVE_PANELS}",
                streams.len()
            ),
        }
        .into());
    }
    let mut specs = Vec::with_capacity(streams.len());
    for s in streams {
        if s.step < 1_000 {
            return Err(params::ParamError {
                field: "q",
                message: format!("stream {:?}: step must be at least 1000 ms", s.id),
            }
            .into());
        }
        specs.push((
            s.id,
            LiveSpec {
                metric: s.metric,
                agg: Agg::parse(&s.agg)?,
                group_by: s.group_by,
                filter: s.filter,
                step: s.step,
            },
        ));
    }
    let client = LiveClient {
        address,
        embed: None,
    };
    panel_stream(&state, specs, &client)
}

/// One stream of `update` events for many panels, as `/api/v1/live/panels` and embeds send.
pub(super) fn panel_stream(
    state: &AppState,
    specs: Vec<(String, LiveSpec)>,
    client: &LiveClient,
) -> Result<impl IntoResponse, ApiError> {
    let updates = state.live.subscribe(specs, client)?;
    let stream = ReceiverStream::new(updates).flat_map(|batch| {
        futures_util::stream::iter(batch.into_iter().map(|(panel, series)| {
            Ok::<_, Infallible>(
                Event::default()
                    .event("update")
                    .json_data(PanelUpdate { panel, series })
                    .expect("serialisable"),
            )
        }))
    });
    Ok(sse(stream))
}

fn sse<S: Stream<Item = Result<Event, Infallible>> + Send + 'static>(
    stream: S,
) -> impl IntoResponse {
    Sse::new(stream).keep_alive(KeepAlive::default())
}
