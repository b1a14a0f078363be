//! Operations endpoints: health, readiness, Prometheus metrics and the OpenAPI document.

use super::ApiError;
use crate::app_state::AppState;
use crate::telemetry::Gauges;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

/// The OpenAPI description of the public API, kept beside the code it describes.
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    let gauges = Gauges {
        queue_depth: state.ingest.queued(),
        hot_series: state.hot.len(),
    };
    let mut text = state.telemetry.render(&gauges);
    state.alerting.dispatch_clock.histogram.render(
        &mut text,
        "osprey_alert_dispatch_seconds",
        "Time from an alert's state change to its notification's delivery.",
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// The process is up.
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// The process can take traffic: started, not shutting down, and the database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "osprey is starting or shutting down",
        ));
    }
    if !state.store.ping().await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        ));
    }
    Ok(axum::Json(
        serde_json::json!({ "status": "ready", "storage": state.store.backend() }),
    ))
}

pub async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}", uri.path()))
}
