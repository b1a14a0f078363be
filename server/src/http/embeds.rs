//! `/api/v1/embed-tokens` (editors make, list and revoke embed grants, each change audited) and
//! the live stream of an embed, `/embed/live/{panel|dashboard}/{id}?token=…` with the embed
//! page's own query, which follows exactly the panels the token allows.

use super::authz::AsEditor;
use super::site_dashboards::ServerDashboards;
use super::site_embeds::audit_target;
use super::ApiError;
use crate::app_state::AppState;
use crate::embeds::{EmbedError, EmbedRequest};
use crate::live::LiveSpec;
use crate::query::params::Agg;
use app::model::{EmbedTarget, TimeRange};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::BTreeMap;

const MAX_BODY: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/embed-tokens", post(create).get(list))
        .route("/api/v1/embed-tokens/{id}", delete(revoke))
        .route("/embed/live/{kind}/{id}", get(live))
}

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::Invalid { field, message } => ApiError::bad_request(&field, message),
            EmbedError::NotFound(_) => ApiError::not_found(e.to_string()),
            EmbedError::Full => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            EmbedError::BadToken | EmbedError::Expired { .. } | EmbedError::Revoked { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "embed_token", e.to_string())
            }
            EmbedError::OutOfScope(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            EmbedError::Store(cause) => cause.into(),
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn create(
    who: AsEditor,
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    super::json_body(&headers, &bytes, MAX_BODY)?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let req: EmbedRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        ApiError::bad_request(&field, e.into_inner().to_string())
    })?;
    let issued = s
        .embeds
        .create(req, who.principal.name.as_str(), now())
        .await?;
    who.audit(&s, "embed.create", &audit_target(&issued.grant))
        .await;
    Ok(Json(issued).into_response())
}

async fn list(_: AsEditor, State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "embed_tokens": s.embeds.grants().await? })).into_response())
}

async fn revoke(
    who: AsEditor,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let grant = s.embeds.revoke(&id, now()).await?;
    who.audit(&s, "embed.revoke", &audit_target(&grant)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The embed page's live stream: the same token, panels, range and variables as the page.
async fn live(
    State(s): State<AppState>,
    super::authz::ClientIp(address): super::authz::ClientIp,
    Path((kind, id)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let target = match kind.as_str() {
        "panel" => EmbedTarget::Panel(id),
        "dashboard" => EmbedTarget::dashboard(id, q.get("panels").map(String::as_str)),
        _ => return Err(ApiError::not_found("no such embed")),
    };
    let token = q
        .get("token")
        .ok_or_else(|| ApiError::bad_request("token", "an embed token is required"))?;
    let vars = q
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("var-").map(|k| (k.to_string(), v.clone())))
        .collect();
    let (grant, layout) = ServerDashboards::new(&s)
        .embed_layout(token, &target, vars)
        .await?;
    let range = if q.contains_key("range") || q.contains_key("from") {
        TimeRange::from_query(
            q.get("range").map(String::as_str),
            q.get("from").map(String::as_str),
            q.get("to").map(String::as_str),
        )
    } else {
        layout.default_range.clone()
    };
    if !range.is_live_capable() {
        return Err(ApiError::bad_request(
            "range",
            "live updates need a range that ends now",
        ));
    }
    let (from, to) = range.bounds(now());
    let step = super::site::panel_step(from, to);
    let mut specs = Vec::with_capacity(layout.panels.len());
    for p in layout.panels {
        specs.push((
            p.spec.id,
            LiveSpec {
                metric: p.spec.metric,
                agg: Agg::parse(&p.spec.agg)?,
                group_by: p.spec.group_by,
                filter: p.spec.filter,
                step,
            },
        ));
    }
    let client = crate::live::LiveClient {
        address,
        embed: Some(grant.id),
    };
    Ok(super::query::panel_stream(&s, specs, &client)?.into_response())
}
