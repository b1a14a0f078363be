//! `/api/v1/dashboards`: create, list, read, replace, duplicate and delete dashboards (reads for
//! viewers, changes for editors, each change in the audit log). The body of a create or
//! replace is the export format: `GET` one and `POST` it elsewhere to import it.

use super::authz::{AsEditor, AsViewer};
use super::ApiError;
use crate::app_state::AppState;
use crate::dashboards::{Dashboard, DashboardError, StoredDashboard};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

/// A dashboard of 100 panels is about 40 KB of JSON.
const MAX_BODY: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dashboards", post(create).get(list))
        .route(
            "/api/v1/dashboards/{id}",
            get(read).put(replace).delete(delete),
        )
        .route("/api/v1/dashboards/{id}/duplicate", post(duplicate))
}

impl From<DashboardError> for ApiError {
    fn from(e: DashboardError) -> Self {
        match e {
            DashboardError::Invalid { field, message } => ApiError::bad_request(&field, message),
            DashboardError::NotFound(_) => ApiError::not_found(e.to_string()),
            DashboardError::Full => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            DashboardError::Store(cause) => cause.into(),
        }
    }
}

/// The request's dashboard: JSON within the size bound, every error naming its field.
fn decode(headers: &HeaderMap, bytes: &Bytes) -> Result<Dashboard, ApiError> {
    super::json_body(headers, bytes, MAX_BODY)?;
    Ok(Dashboard::from_json(bytes)?)
}

/// What a create, replace or duplicate answers: the id and the panels' ids, in order.
fn ids(d: &StoredDashboard) -> serde_json::Value {
    let panels: Vec<_> = d
        .dashboard
        .panels
        .iter()
        .map(|p| json!({ "id": p.id }))
        .collect();
    json!({ "id": d.id, "panels": panels })
}

async fn create(
    who: AsEditor,
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let d = s.dashboards.create(decode(&headers, &bytes)?).await?;
    who.audit(
        &s,
        "dashboard.create",
        &format!("{} ({})", d.id, d.dashboard.title),
    )
    .await;
    Ok((StatusCode::CREATED, Json(ids(&d))).into_response())
}

async fn list(_: AsViewer, State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "dashboards": s.dashboards.list().await? })).into_response())
}

async fn read(
    _: AsViewer,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.dashboards.get(&id).await?).into_response())
}

async fn replace(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let d = s.dashboards.update(&id, decode(&headers, &bytes)?).await?;
    who.audit(
        &s,
        "dashboard.update",
        &format!("{} ({})", d.id, d.dashboard.title),
    )
    .await;
    Ok(Json(ids(&d)).into_response())
}

async fn duplicate(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = s.dashboards.duplicate(&id).await?;
    who.audit(&s, "dashboard.duplicate", &format!("{id} → {}", d.id))
        .await;
    Ok((StatusCode::CREATED, Json(ids(&d))).into_response())
}

async fn delete(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.dashboards.delete(&id).await?;
    who.audit(&s, "dashboard.delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}
