//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics` and `/v1/logs` in protobuf or JSON, with the
//! native ingest's key, bounds and durability: the answer comes after the batch is committed.
//! Refusals carry a `google.rpc.Status` in the request's encoding, with the native status codes
//! (and `Retry-After` where retrying helps).

use super::ingest::{authenticate, gunzip};
use super::ApiError;
use crate::app_state::AppState;
use crate::ingest::otlp::{self as mapping, Mapped};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use otlp::{DecodeError, Encoding, Signal};

/// Bodies larger than this are decoded off the async runtime.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// `POST /v1/traces`
pub async fn traces(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    export(state, headers, body, Signal::Traces).await
}

/// `POST /v1/metrics`
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    export(state, headers, body, Signal::Metrics).await
}

/// `POST /v1/logs`
pub async fn logs(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    export(state, headers, body, Signal::Logs).await
}

async fn export(state: AppState, headers: HeaderMap, body: Body, signal: Signal) -> Response {
    let enc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Encoding::from_content_type);
    let result = async {
        let key = authenticate(&state, &headers, None).await?;
        let enc = enc.ok_or_else(unsupported_type)?;
        let gzip = gzipped(&headers)?;
        let cfg = state.config.ingest.clone();
        let raw = axum::body::to_bytes(body, cfg.max_body_bytes)
            .await
            .map_err(|_| too_large(format!("body larger than {} bytes", cfg.max_body_bytes)))?;
        state.telemetry.record_request(raw.len());
        let inline = !gzip && raw.len() <= INLINE_DECODE_BYTES;
        let shared = state.clone();
        let decode = move || -> Result<Mapped, ApiError> {
            let body = if gzip {
                gunzip(&raw, cfg.max_decompressed_bytes)?
            } else {
                raw.to_vec()
            };
            mapping::decode(signal, &body, enc, &cfg, &shared.otlp).map_err(refused)
        };
        let mapped = if inline {
            decode()?
        } else {
            tokio::task::spawn_blocking(decode)
                .await
                .map_err(|e| ApiError::internal(&e))??
        };
        state.ingest_limits.series.admit(
            &key,
            mapped.batch.metrics.iter().map(|m| &*m.series),
            std::time::Instant::now(),
        )?;
        state.ingest.submit(mapped.batch).await?;
        Ok::<_, ApiError>((mapped.rejected, mapped.message, enc))
    }
    .await;
    match result {
        Ok((rejected, message, enc)) => {
            let body = otlp::encode_response(signal, rejected, message.as_deref(), enc);
            (StatusCode::OK, content_type(enc), body).into_response()
        }
        Err(e) => {
            state.telemetry.record_reject(e.code);
            status_response(&e, enc.unwrap_or(Encoding::Protobuf))
        }
    }
}

/// A refusal as OTLP answers it: the native status and `Retry-After`, a `google.rpc.Status`
/// body.
fn status_response(e: &ApiError, enc: Encoding) -> Response {
    let code = match e.status {
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            otlp::StatusCode::InvalidArgument
        }
        StatusCode::UNAUTHORIZED => otlp::StatusCode::Unauthenticated,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => {
            otlp::StatusCode::ResourceExhausted
        }
        StatusCode::SERVICE_UNAVAILABLE => otlp::StatusCode::Unavailable,
        _ => otlp::StatusCode::Internal,
    };
    let body = otlp::encode_status(code, &e.message, enc);
    let mut response = (e.status, content_type(enc), body).into_response();
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn content_type(enc: Encoding) -> [(header::HeaderName, &'static str); 1] {
    [(header::CONTENT_TYPE, enc.content_type())]
}

fn refused(e: DecodeError) -> ApiError {
    match e {
        DecodeError::TooManyItems { .. } => too_large(e.to_string()),
        DecodeError::Protobuf(_) | DecodeError::Json(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", e.to_string())
        }
    }
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

fn unsupported_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "unsupported content type; use application/x-protobuf or application/json",
    )
}

/// Whether the body is gzip (`identity` or none means plain).
fn gzipped(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    match value
        .to_str()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "identity" => Ok(false),
        "gzip" => Ok(true),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("unsupported content encoding {other:?}; use gzip or none"),
        )),
    }
}
