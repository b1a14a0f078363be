//! `POST /api/v1/ingest`: authenticate, read the body within its bounds, decode and validate,
//! then wait for the batch writer's commit before answering 202.

use super::ApiError;
use crate::app_state::AppState;
use crate::ingest::model;
use crate::store::KeyKind;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use std::io::Read;

#[derive(serde::Deserialize)]
pub struct KeyParam {
    key: Option<String>,
    /// A client's id for this batch, repeated on every retry: a batch already stored is
    /// acknowledged again, not stored twice (also read from `Idempotency-Key`).
    batch: Option<String>,
}

/// Lets pages on any origin send: answers CORS preflights and marks every ingest response
/// readable cross-origin, so the browser SDK sees 202s, 429s and `Retry-After` and does not
/// resend a batch that was stored. Keys travel in the request, never in cookies, so `*` grants
/// nothing a page could not do anyway.
///
/// Every request also takes a token from its key's and its address's rate limit first.
pub async fn with_cors(
    state: &AppState,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, Method};
    let preflight = req.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else if let Err(wait) = rate_limit(state, &req) {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from this key or address; retry in {secs} s"),
        );
        e.retry_after = Some(secs);
        state.telemetry.record_reject(e.code);
        e.into_response()
    } else {
        next.run(req).await
    };
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, content-encoding"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    response
}

/// The key a request presents (bearer or `?key=`) and its client address, against the limits.
fn rate_limit(state: &AppState, req: &axum::extract::Request) -> Result<(), std::time::Duration> {
    let bearer = super::authz::bearer(req.headers());
    let query_key = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("key=")));
    let ip = super::authz::client_ip(req.extensions());
    state.ingest_limits.check(
        bearer.or(query_key),
        ip.as_deref(),
        std::time::Instant::now(),
    )
}

/// Bodies larger than this are decoded off the async runtime.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

pub async fn ingest(
    State(state): State<AppState>,
    Query(param): Query<KeyParam>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let result = async {
        let key = match authenticate(&state, &headers, param.key.as_deref()).await {
            Ok(key) => key,
            Err(e) => own_pages(&state, &headers, param.key.is_none())
                .await
                .ok_or(e)?,
        };
        let batch_id = batch_id(&headers, param.batch.as_deref())?.map(|id| format!("{key}:{id}"));
        if let Some(accepted) = batch_id
            .as_deref()
            .and_then(|id| state.recent_batches.get(id))
        {
            return Ok(accepted);
        }
        let gzip = content_encoding(&headers)?;
        require_json(&headers)?;
        let limits = state.config.ingest.clone();
        let raw = axum::body::to_bytes(body, limits.max_body_bytes)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("body larger than {} bytes", limits.max_body_bytes),
                )
            })?;
        state.telemetry.record_request(raw.len());
        let decode = move || -> Result<model::Batch, ApiError> {
            let json = if gzip {
                gunzip(&raw, limits.max_decompressed_bytes)?
            } else {
                raw.to_vec()
            };
            Ok(model::decode(&json, &limits)?)
        };
        let batch = if gzip || raw_len_hint(&headers) > INLINE_DECODE_BYTES {
            tokio::task::spawn_blocking(decode)
                .await
                .map_err(|e| ApiError::internal(&e))??
        } else {
            decode()?
        };
        if key == OWN_PAGES {
            own_reports_only(&batch)?;
        }
        state.ingest_limits.series.admit(
            &key,
            batch.metrics.iter().map(|m| &*m.series),
            std::time::Instant::now(),
        )?;
        let accepted = state.ingest.submit(batch).await?;
        if let Some(id) = batch_id {
            state.recent_batches.insert(id, accepted);
        }
        Ok::<_, ApiError>(accepted)
    }
    .await;
    match result {
        Ok(accepted) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "accepted": accepted })),
        )),
        Err(e) => {
            state.telemetry.record_reject(e.code);
            Err(e)
        }
    }
}

/// Who sends without a key: Osprey's own pages (see [`own_pages`]).
const OWN_PAGES: &str = "own pages";
/// The service Osprey's own pages report as.
const OWN_SERVICE: &str = "osprey-dashboard";

/// A request with no key from one of Osprey's own pages (same origin) whose reader may read:
/// how the dashboard reports its own errors and vitals without a key in the page.
async fn own_pages(state: &AppState, headers: &HeaderMap, no_key: bool) -> Option<String> {
    if !no_key || super::authz::bearer(headers).is_some() || !super::authz::same_origin(headers) {
        return None;
    }
    let principal = super::authz::principal(state, headers).await.ok()?;
    principal
        .require(crate::accounts::Role::Viewer)
        .ok()
        .map(|_| OWN_PAGES.to_string())
}

/// What Osprey's own pages may send: their errors, events and metrics as the service
/// `osprey-dashboard`, and nothing else (no spans, logs or security events).
fn own_reports_only(batch: &model::Batch) -> Result<(), ApiError> {
    let own =
        |labels: &model::Labels| labels.get("service").map(String::as_str) == Some(OWN_SERVICE);
    let only_own = batch.spans.is_empty()
        && batch.logs.is_empty()
        && batch.security.is_empty()
        && batch.metrics.iter().all(|m| own(&m.series.labels))
        && batch.events.iter().all(|e| own(&e.labels))
        && batch.errors.iter().all(|e| own(&e.labels));
    if only_own {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("without an ingest key, Osprey's own pages may send only their errors, events and metrics as service {OWN_SERVICE}"),
        ))
    }
}

/// Checks the ingest key from `Authorization: Bearer` or `?key=` (for browsers' sendBeacon);
/// returns the key's hash.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query_key: Option<&str>,
) -> Result<String, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
        .or(query_key)
        .ok_or_else(|| {
            ApiError::unauthorized("missing ingest key: send Authorization: Bearer <key>")
        })?;
    match state.keys.check(presented).await? {
        Some(key) if key.kind == KeyKind::Ingest => Ok(key.hash),
        _ => Err(ApiError::unauthorized("invalid ingest key")),
    }
}

/// The batch id from `?batch=` or `Idempotency-Key`: 1 to 64 letters, digits, `-` or `_`.
fn batch_id(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, ApiError> {
    let id = query.or_else(|| headers.get("idempotency-key").and_then(|v| v.to_str().ok()));
    match id {
        None => Ok(None),
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(id.to_string()))
        }
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "a batch id is 1 to 64 letters, digits, '-' or '_'",
        )
        .field("batch")),
    }
}

fn content_encoding(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
    {
        None => Ok(false),
        Some(e) if e.is_empty() || e == "identity" => Ok(false),
        Some(e) if e == "gzip" => Ok(true),
        Some(e) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("unsupported content encoding {e:?}; use gzip or none"),
        )),
    }
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime == "text/plain" {
        // text/plain is what navigator.sendBeacon sends for a string body.
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("unsupported content type {ct:?}; use application/json"),
        ))
    }
}

fn raw_len_hint(headers: &HeaderMap) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Decompresses at most `limit` bytes; a larger result is refused, not truncated.
pub fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
    let mut reader = flate2::read::GzDecoder::new(raw).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("invalid gzip body: {e}"),
        )
    })?;
    if out.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("decompressed body larger than {limit} bytes"),
        ));
    }
    Ok(out)
}
