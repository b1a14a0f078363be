//! The HTTP edge: one router for the API, the ingest endpoints, operations and the dashboard.

mod alerting;
pub mod authz;
mod dashboards;
mod embeds;
pub mod error;
mod ingest;
pub mod limits;
mod ops;
mod otlp;
mod query;
mod security;
mod signals;
mod site;
mod site_admin;
mod site_alerts;
mod site_dashboards;
mod site_embeds;
mod site_security;
mod site_signals;

use crate::app_state::AppState;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;

/// The largest sign-in request body (username, password and `next`).
const LOGIN_BODY: usize = 8 * 1024;

/// Every route Osprey serves.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/ingest", post(ingest::ingest))
        .route("/v1/traces", post(otlp::traces))
        .route("/v1/metrics", post(otlp::metrics))
        .route("/v1/logs", post(otlp::logs))
        .route("/api/v1/query_range", get(query::query_range))
        .route("/api/v1/metrics", get(query::metrics))
        .route("/api/v1/events", get(query::events))
        .route("/api/v1/anomalies", get(query::anomalies))
        .route("/api/v1/forecast", get(query::forecast))
        .route("/api/v1/live", get(query::live))
        .route("/api/v1/live/panels", get(query::live_panels))
        .route("/api/openapi.json", get(ops::openapi))
        .route("/metrics", get(ops::prometheus))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        // Sign-in bodies are small; the default 2 MB would let one attempt write megabytes.
        .route(
            "/api/v1/login",
            post(authz::login_api).layer(axum::extract::DefaultBodyLimit::max(LOGIN_BODY)),
        )
        .route("/api/v1/logout", post(authz::logout))
        .route("/api/v1/audit", get(authz::audit))
        .route("/api/v1/users", post(authz::create_user).get(authz::users))
        .route(
            "/api/v1/users/{id}",
            axum::routing::patch(authz::update_user),
        )
        .route("/api/v1/keys", post(authz::create_key).get(authz::keys))
        .route(
            "/api/v1/keys/{id}",
            axum::routing::delete(authz::revoke_key),
        )
        .route("/api/v1/keys/{id}/rotate", post(authz::rotate_key))
        .route(
            "/login",
            post(authz::login_form).layer(axum::extract::DefaultBodyLimit::max(LOGIN_BODY)),
        )
        .route("/logout", post(authz::logout))
        .merge(alerting::routes())
        .merge(dashboards::routes())
        .merge(embeds::routes())
        .merge(signals::routes())
        .merge(security::routes())
        .route("/api/{*rest}", axum::routing::any(ops::api_not_found))
        .with_state(state.clone());
    api.merge(site::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state,
            authz::middleware,
        ))
        .layer(axum::middleware::from_fn(authz::security_headers))
        // Pages and JSON gzipped for clients that take it (a 10 000-span trace page is 6 MB of
        // HTML, a tenth of that gzipped). The default predicate leaves server-sent events,
        // images, tiny bodies and the site's already-gzipped files alone.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Checks a JSON request's headers and size: `Content-Type: application/json` (415 otherwise)
/// and at most `max` bytes (413).
pub(crate) fn json_body(
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
    max: usize,
) -> Result<(), ApiError> {
    use axum::http::{header, StatusCode};
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ));
    }
    if bytes.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("body of {} bytes exceeds {max}", bytes.len()),
        ));
    }
    Ok(())
}
