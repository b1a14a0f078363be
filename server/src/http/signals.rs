//! Errors grouped into issues, traces and logs: `GET /api/v1/errors`, `/errors/{id}`
//! (and `PATCH` to resolve or ignore), `/traces`, `/traces/{trace_id}`, `/logs`.

use super::authz::{AsEditor, AsViewer};
use super::ApiError;
use crate::app_state::AppState;
use crate::ingest::model::parse_severity;
use crate::store::{ErrorGroupQuery, LogQuery, TraceQuery};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// Spans a trace answer carries at most.
pub const MAX_TRACE_SPANS: u32 = 20_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/errors", get(errors))
        .route("/api/v1/errors/{id}", get(error).patch(set_error_status))
        .route("/api/v1/traces", get(traces))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/logs", get(logs))
        .route("/api/v1/logs/live", get(logs_live))
        .route("/api/v1/services", get(services))
        .route("/api/v1/spans", get(spans))
        .route("/api/v1/spans/points", get(span_points))
}

/// Spans one scatter answer carries at most (by default, and when asked for more).
pub const MAX_SPAN_POINTS: u32 = 2_000_000;
const DEFAULT_SPAN_POINTS: u32 = 1_000_000;

#[derive(Deserialize)]
pub struct PointParams {
    from: Option<String>,
    to: Option<String>,
    service: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/spans/points?from=&to=&service=&limit=`: every span of the range as packed
/// binary for the GPU scatter (JSON would be ~30 bytes a span; this is 9), newest first:
///
/// `origin` i64 (unix ms, = `from`) · `count` u32 · `truncated` u8 and 3 bytes of padding ·
/// `count` × f32 start (ms after origin) · `count` × f32 duration (ms) · `count` × u8 (1 =
/// error). All little-endian.
async fn span_points(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<PointParams>,
) -> Result<Response, ApiError> {
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), "now-1h")?;
    let service = text("service", p.service)?;
    let limit = p
        .limit
        .unwrap_or(DEFAULT_SPAN_POINTS)
        .clamp(1, MAX_SPAN_POINTS);
    let points = s
        .store
        .span_points(from, to, service.as_deref(), limit)
        .await?;
    let body = pack_points(from, &points, points.len() as u32 == limit);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response())
}

pub(crate) fn pack_points(origin: i64, points: &[(i64, f32, bool)], truncated: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + points.len() * 9);
    out.extend_from_slice(&origin.to_le_bytes());
    out.extend_from_slice(&(points.len() as u32).to_le_bytes());
    out.extend_from_slice(&[u8::from(truncated), 0, 0, 0]);
    for (start, _, _) in points {
        out.extend_from_slice(&((start - origin) as f32).to_le_bytes());
    }
    for (_, ms, _) in points {
        out.extend_from_slice(&ms.to_le_bytes());
    }
    out.extend(points.iter().map(|(_, _, failed)| u8::from(*failed)));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn packed_points_decode_as_the_browser_reads_them() {
        let points = [(1_000_500, 12.5f32, false), (1_000_000, 3000.0, true)];
        let bytes = super::pack_points(1_000_000, &points, true);
        assert_eq!(bytes.len(), 16 + 2 * 9);
        let got = app::model::SpanPoints::decode(&bytes).unwrap();
        assert_eq!(got.origin, 1_000_000);
        assert_eq!(got.starts, vec![500.0, 0.0]);
        assert_eq!(got.durations_ms, vec![12.5, 3000.0]);
        assert_eq!(got.failed, vec![false, true]);
        assert!(got.truncated);
        assert_eq!(
            app::model::SpanPoints::decode(&bytes[..bytes.len() - 1]),
            None
        );
        assert_eq!(
            app::model::SpanPoints::decode(&super::pack_points(5, &[], false))
                .unwrap()
                .len(),
            0
        );
    }
}

#[derive(Deserialize)]
pub struct SpanParams {
    from: Option<String>,
    to: Option<String>,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
    service: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/spans?from=&to=&min_ms=&max_ms=&service=&limit=`: the slowest spans in a box of
/// time and duration (a region brushed on the scatter), at most 500.
async fn spans(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<SpanParams>,
) -> Result<Response, ApiError> {
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), "now-1h")?;
    let min_ms = p.min_ms.unwrap_or(0.0);
    let max_ms = p.max_ms.unwrap_or(f64::MAX);
    if !(min_ms.is_finite() && max_ms >= min_ms) {
        return Err(ApiError::bad_request(
            "max_ms",
            "`max_ms` is below `min_ms`",
        ));
    }
    let query = crate::store::SpanBox {
        from,
        to,
        min_ms,
        max_ms,
        service: text("service", p.service)?,
        limit: p.limit.unwrap_or(100).clamp(1, 500),
    };
    let spans = s.store.spans_in(&query).await?;
    Ok(Json(json!({ "spans": spans })).into_response())
}

/// `from`/`to` of a listing as `[from, to)` in unix ms; `to` before `from` is refused.
fn window(
    from: Option<&str>,
    to: Option<&str>,
    default_from: &str,
) -> Result<(i64, i64), ApiError> {
    let (from, end) = super::query::listing_window(from, to, default_from)?;
    if end <= from {
        return Err(ApiError::bad_request("to", "`to` is before `from`"));
    }
    Ok((from, end))
}

/// An optional text parameter: empty means absent; longer than 256 bytes is refused.
fn text(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.len() > 256 => Err(ApiError::bad_request(
            name,
            format!("`{name}` is longer than 256 bytes"),
        )),
        Some(v) if !v.is_empty() => Ok(Some(v)),
        _ => Ok(None),
    }
}

#[derive(Deserialize)]
pub struct ErrorParams {
    status: Option<String>,
    service: Option<String>,
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

async fn errors(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<ErrorParams>,
) -> Result<Response, ApiError> {
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), "now-24h")?;
    let status = text("status", p.status)?;
    if let Some(status) = status
        .as_deref()
        .filter(|s| !crate::signals::valid_status(s))
    {
        return Err(ApiError::bad_request(
            "status",
            format!("unknown status {status:?}; use unresolved, resolved or ignored"),
        ));
    }
    let query = ErrorGroupQuery {
        status,
        service: text("service", p.service)?,
        text: text("q", p.q)?,
        from,
        to,
        limit: p.limit.unwrap_or(100).clamp(1, 1000),
    };
    let groups = crate::signals::error_groups(&*s.store, &query).await?;
    Ok(Json(json!({ "errors": groups })).into_response())
}

async fn error(
    _: AsViewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match crate::signals::error_detail(&*s.store, &id).await? {
        Some(detail) => Ok(Json(detail).into_response()),
        None => Err(ApiError::not_found(format!("no issue {id}"))),
    }
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

async fn set_error_status(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    if bytes.len() > 4096 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body larger than 4096 bytes",
        ));
    }
    let body: StatusBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("status", format!("invalid body: {e}")))?;
    if !crate::signals::valid_status(&body.status) {
        return Err(ApiError::bad_request(
            "status",
            format!(
                "unknown status {:?}; use unresolved, resolved or ignored",
                body.status
            ),
        ));
    }
    let now = chrono::Utc::now().timestamp_millis();
    if !s.store.set_error_status(&id, &body.status, now).await? {
        return Err(ApiError::not_found(format!("no issue {id}")));
    }
    who.audit(&s, &format!("issue.{}", body.status), &id).await;
    match crate::signals::error_detail(&*s.store, &id).await? {
        Some(detail) => Ok(Json(detail.group).into_response()),
        None => Err(ApiError::not_found(format!("no issue {id}"))),
    }
}

#[derive(Deserialize)]
pub struct TraceParams {
    service: Option<String>,
    operation: Option<String>,
    min_duration_ms: Option<f64>,
    status: Option<String>,
    /// `key:value`, a string attribute of some span of the trace.
    attr: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

async fn traces(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<TraceParams>,
) -> Result<Response, ApiError> {
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), "now-1h")?;
    let status = text("status", p.status)?;
    if let Some(status) = status
        .as_deref()
        .filter(|s| !matches!(*s, "ok" | "error" | "unset"))
    {
        return Err(ApiError::bad_request(
            "status",
            format!("unknown status {status:?}; use ok, error or unset"),
        ));
    }
    if let Some(d) = p.min_duration_ms.filter(|d| !d.is_finite() || *d < 0.0) {
        return Err(ApiError::bad_request(
            "min_duration_ms",
            format!("min_duration_ms must be a number ≥ 0, got {d}"),
        ));
    }
    let attribute = match text("attr", p.attr)? {
        None => None,
        Some(a) => match a.split_once(':') {
            Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
            _ => return Err(ApiError::bad_request("attr", "attr must be key:value")),
        },
    };
    let query = TraceQuery {
        service: text("service", p.service)?,
        operation: text("operation", p.operation)?,
        min_duration_ms: p.min_duration_ms,
        status,
        attribute,
        from,
        to,
        limit: p.limit.unwrap_or(50).clamp(1, 500),
    };
    Ok(Json(json!({ "traces": s.store.traces(&query).await? })).into_response())
}

async fn trace(
    _: AsViewer,
    State(s): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = trace_id.to_ascii_lowercase();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "trace_id",
            "a trace id is 32 hex digits",
        ));
    }
    let spans = s.store.trace(&id, MAX_TRACE_SPANS).await?;
    if spans.is_empty() {
        return Err(ApiError::not_found(format!("no trace {id}")));
    }
    let errors = s.store.trace_errors(&id).await?;
    Ok(Json(json!({
        "trace_id": id,
        "truncated": spans.len() as u32 >= MAX_TRACE_SPANS,
        "spans": spans,
        "errors": errors,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct LogParams {
    service: Option<String>,
    q: Option<String>,
    trace_id: Option<String>,
    /// The least severe level listed: `warn` lists warn, error and fatal.
    severity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

async fn logs(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<LogParams>,
) -> Result<Response, ApiError> {
    let query = log_query(p)?;
    Ok(Json(json!({ "logs": s.store.logs(&query).await? })).into_response())
}

/// `GET /api/v1/logs/live?service=&q=&trace_id=&severity=`: a live tail over server-sent events,
/// the same mechanism as live charts. Each `logs` event carries the new matching records since
/// the last (`{"logs": [...], "skipped": n}`, newest first, at most 500; `skipped` counts the
/// older ones left out when more arrived within one update interval).
async fn logs_live(
    who: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<LogParams>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures_util::StreamExt;
    let client = crate::live::LiveClient {
        address: who.ip,
        embed: None,
    };
    let updates = s.live.tail_logs(log_query(p)?, &client)?;
    let events = tokio_stream::wrappers::ReceiverStream::new(updates).map(|update| {
        Ok::<_, std::convert::Infallible>(
            Event::default()
                .event("logs")
                .json_data(update)
                .expect("log updates serialise"),
        )
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A log search from its parameters (the live tail ignores the time range).
fn log_query(p: LogParams) -> Result<LogQuery, ApiError> {
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), "now-1h")?;
    let min_severity = match text("severity", p.severity)? {
        None => None,
        Some(name) => Some(
            parse_severity(&name)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "severity",
                        format!("unknown severity {name:?}; use trace, debug, info, warn, error or fatal"),
                    )
                })?
                .1,
        ),
    };
    Ok(LogQuery {
        service: text("service", p.service)?,
        text: text("q", p.q)?,
        trace_id: text("trace_id", p.trace_id)?.map(|t| t.to_ascii_lowercase()),
        min_severity,
        from,
        to,
        limit: p.limit.unwrap_or(200).clamp(1, 5000),
    })
}

#[derive(Deserialize)]
pub struct ServiceParams {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/v1/services?from=&to=`: requests, error rate and latency percentiles per service,
/// from the entry spans of the range.
async fn services(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<ServiceParams>,
) -> Result<Response, ApiError> {
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), "now-1h")?;
    let stats = crate::signals::service_stats(&*s.store, from, to).await?;
    Ok(Json(json!({ "services": stats })).into_response())
}
