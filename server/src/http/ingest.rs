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
        authenticate(&state, &headers, param.key.as_deref()).await?;
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
        Ok::<_, ApiError>(state.ingest.submit(batch).await?)
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

/// Checks the ingest key from `Authorization: Bearer` or `?key=` (for browsers' sendBeacon).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query_key: Option<&str>,
) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
        .or(query_key)
        .ok_or_else(|| {
            ApiError::unauthorized("missing ingest key: send Authorization: Bearer <key>")
        })?;
    match state.keys.check(presented).await? {
        Some(key) if key.kind == KeyKind::Ingest => Ok(()),
        _ => Err(ApiError::unauthorized("invalid ingest key")),
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
