//! Management endpoints of alerting: channels, rules (with backtest preview), alert states,
//! silences, incidents, escalation policies, on-call rotations and the outbox.
//!
//! Every route needs an admin API token (`Authorization: Bearer`); signed-in users with roles
//! come with the users issue and go through the same check.

use super::authz::{AsEditor, AsViewer};
use super::ApiError;
use crate::alerting::AlertingError;
use crate::app_state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// Largest JSON body of a management request.
const MAX_BODY: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels", post(create_channel).get(channels))
        .route(
            "/api/v1/channels/{id}",
            axum::routing::delete(delete_channel),
        )
        .route("/api/v1/alert-rules", post(create_rule).get(rules))
        .route("/api/v1/alert-rules/preview", post(preview_rule))
        .route(
            "/api/v1/alert-rules/{id}",
            get(rule).put(update_rule).delete(delete_rule),
        )
        .route("/api/v1/alert-rules/{id}/history", get(history))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/silences", post(create_silence).get(silences))
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(expire_silence),
        )
        .route("/api/v1/incidents", get(incidents))
        .route(
            "/api/v1/incidents/{id}",
            get(incident).patch(update_incident),
        )
        .route("/api/v1/incidents/{id}/ack", post(acknowledge))
        .route("/api/v1/incidents/{id}/resolve", post(resolve))
        .route("/api/v1/incidents/{id}/notes", post(add_note))
        .route(
            "/api/v1/escalation-policies",
            post(create_policy).get(policies),
        )
        .route(
            "/api/v1/oncall-rotations",
            post(create_rotation).get(rotations),
        )
        .route("/api/v1/deliveries", get(deliveries))
        .route("/api/v1/deliveries/{id}/retry", post(retry_delivery))
}

impl From<AlertingError> for ApiError {
    fn from(e: AlertingError) -> Self {
        match e {
            AlertingError::Invalid { field, message } => ApiError {
                field,
                ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
            },
            AlertingError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            AlertingError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            AlertingError::Store(e) => e.into(),
        }
    }
}

/// The body of a JSON request, bounded.
fn body(headers: &axum::http::HeaderMap, bytes: &Bytes) -> Result<(), ApiError> {
    super::json_body(headers, bytes, MAX_BODY)
}

fn created(id: String) -> Response {
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

async fn create_channel(
    who: AsEditor,
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    let id = s.alerting.create_channel(&bytes).await?;
    who.audit(&s, "channel.create", &id).await;
    Ok(created(id))
}

async fn channels(_: AsViewer, State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "channels": s.alerting.channels().await? })).into_response())
}

async fn delete_channel(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.alerting.delete_channel(&id).await?;
    who.audit(&s, "channel.delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_rule(
    who: AsEditor,
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    let id = s.alerting.create_rule(&bytes).await?;
    who.audit(&s, "rule.create", &id).await;
    Ok(created(id))
}

async fn rules(_: AsViewer, State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "rules": s.alerting.rules().await? })).into_response())
}

async fn rule(
    _: AsViewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.alerting.rule(&id).await?).into_response())
}

async fn update_rule(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    s.alerting.update_rule(&id, &bytes).await?;
    who.audit(&s, "rule.update", &id).await;
    Ok(Json(json!({ "id": id })).into_response())
}

async fn delete_rule(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.alerting.delete_rule(&id).await?;
    who.audit(&s, "rule.delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PreviewParams {
    range: Option<String>,
}

async fn preview_rule(
    _: AsEditor,
    State(s): State<AppState>,
    Query(p): Query<PreviewParams>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    let text = p.range.as_deref().unwrap_or("24h");
    let range = crate::config::parse_duration(text).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("range {text:?} is not a duration like 24h or 7d"),
        )
        .field("range")
    })?;
    Ok(Json(
        s.alerting
            .backtest(&bytes, range.as_millis() as i64)
            .await?,
    )
    .into_response())
}

async fn alerts(_: AsViewer, State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "alerts": s.alerting.alerts().await? })).into_response())
}

async fn create_silence(
    who: AsEditor,
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    let id = s.alerting.create_silence(&bytes).await?;
    who.audit(&s, "silence.create", &id).await;
    Ok(created(id))
}

async fn silences(_: AsViewer, State(s): State<AppState>) -> Result<Response, ApiError> {
    let list: Vec<serde_json::Value> = s
        .alerting
        .silences(false)
        .await?
        .into_iter()
        .map(|(id, silence)| {
            let mut v = serde_json::to_value(&silence).expect("silences serialise");
            v["id"] = json!(id);
            v
        })
        .collect();
    Ok(Json(json!({ "silences": list })).into_response())
}

async fn expire_silence(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.alerting.expire_silence(&id).await?;
    who.audit(&s, "silence.expire", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct IncidentParams {
    status: Option<String>,
    limit: Option<u32>,
}

async fn incidents(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<IncidentParams>,
) -> Result<Response, ApiError> {
    let open_only = match p.status.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("status {other:?}: expected open or all"),
            )
            .field("status"))
        }
    };
    let list = s
        .alerting
        .incidents(open_only, p.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({ "incidents": list })).into_response())
}

async fn incident(
    _: AsViewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.alerting.incident(&id).await?).into_response())
}

async fn acknowledge(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.alerting.acknowledge(&id, who.actor()).await?).into_response())
}

async fn resolve(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.alerting.resolve(&id, who.actor()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    text: String,
}

async fn add_note(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    let note: Note = alerts::from_json(&bytes).map_err(AlertingError::from)?;
    Ok(Json(s.alerting.add_note(&id, who.actor(), &note.text).await?).into_response())
}

async fn update_incident(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    Ok(Json(s.alerting.update_incident(&id, who.actor(), &bytes).await?).into_response())
}

async fn create_policy(
    who: AsEditor,
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    let id = s.alerting.create_escalation_policy(&bytes).await?;
    who.audit(&s, "escalation_policy.create", &id).await;
    Ok(created(id))
}

async fn policies(_: AsViewer, State(s): State<AppState>) -> Result<Response, ApiError> {
    let list: Vec<serde_json::Value> = s
        .alerting
        .escalation_policies()
        .await?
        .into_iter()
        .map(|(id, p)| {
            let mut v = serde_json::to_value(&p).expect("policies serialise");
            v["id"] = json!(id);
            v
        })
        .collect();
    Ok(Json(json!({ "escalation_policies": list })).into_response())
}

async fn create_rotation(
    who: AsEditor,
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    body(&headers, &bytes)?;
    let id = s.alerting.create_rotation(&bytes).await?;
    who.audit(&s, "oncall_rotation.create", &id).await;
    Ok(created(id))
}

async fn rotations(_: AsViewer, State(s): State<AppState>) -> Result<Response, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let list: Vec<serde_json::Value> = s
        .alerting
        .rotations()
        .await?
        .into_iter()
        .map(|(id, r)| {
            let mut v = serde_json::to_value(&r).expect("rotations serialise");
            v["id"] = json!(id);
            v["on_call_now"] = json!(r.on_call(now));
            v
        })
        .collect();
    Ok(Json(json!({ "oncall_rotations": list })).into_response())
}

#[derive(Deserialize)]
struct DeliveryParams {
    status: Option<String>,
    limit: Option<u32>,
}

async fn deliveries(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<DeliveryParams>,
) -> Result<Response, ApiError> {
    if let Some(status) = p.status.as_deref() {
        if !["pending", "delivered", "dead"].contains(&status) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("status {status:?}: expected pending, delivered or dead"),
            )
            .field("status"));
        }
    }
    let list = s
        .alerting
        .deliveries(p.status.as_deref(), p.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({ "deliveries": list })).into_response())
}

async fn retry_delivery(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    s.alerting.retry_delivery(id).await?;
    who.audit(&s, "delivery.retry", &id.to_string()).await;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct HistoryParams {
    from: Option<String>,
    limit: Option<u32>,
}

async fn history(
    _: AsViewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let from =
        crate::query::params::parse_time("from", p.from.as_deref().unwrap_or("now-24h"), now)?;
    let list = s
        .alerting
        .history(&id, from, p.limit.unwrap_or(200))
        .await?;
    Ok(Json(json!({ "transitions": list })).into_response())
}
