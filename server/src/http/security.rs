//! Security events: `GET /api/v1/security/events` and `/security/findings` for readers, and
//! `POST /api/v1/csp-report`, where browsers of monitored sites report CSP violations.

use super::authz::{AsViewer, ClientIp};
use super::ApiError;
use crate::app_state::AppState;
use crate::ingest::model::{Batch, Labels, SecurityEvent};
use crate::query::params;
use crate::store::SecurityQuery;
use app::security::FindingView;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// CSP report bodies larger than this are refused.
pub const MAX_CSP_BODY: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/security/events", get(events))
        .route("/api/v1/security/findings", get(findings))
        .route("/api/v1/csp-report", post(csp_report))
}

#[derive(Deserialize)]
pub struct ListParams {
    /// An exact kind, or a prefix ending in `*` (`finding.*`).
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
}

impl ListParams {
    fn query(&self) -> Result<SecurityQuery, ApiError> {
        let now = chrono::Utc::now().timestamp_millis();
        let from = params::parse_time("from", self.from.as_deref().unwrap_or("now-24h"), now)?;
        let to = params::parse_time("to", self.to.as_deref().unwrap_or("now"), now)?;
        if to < from {
            return Err(ApiError::bad_request("to", "`to` is before `from`"));
        }
        let mut query = SecurityQuery {
            from,
            to: to + 1,
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
            ..Default::default()
        };
        match self.kind.as_deref().filter(|k| !k.is_empty()) {
            Some(k) if k.len() > 256 => {
                return Err(ApiError::bad_request(
                    "kind",
                    "`kind` is longer than 256 bytes",
                ))
            }
            Some(k) => match k.strip_suffix('*') {
                Some(prefix) => query.kind_prefix = Some(prefix.to_string()),
                None => query.kinds = vec![k.to_string()],
            },
            None => {}
        }
        Ok(query)
    }
}

async fn events(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let events = s.store.security_events(&p.query()?).await?;
    Ok(Json(json!({ "events": events })).into_response())
}

async fn findings(
    _: AsViewer,
    State(s): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let mut query = p.query()?;
    query.kinds.clear();
    query.kind_prefix = Some("finding.".into());
    let events = s.store.security_events(&query).await?;
    let findings: Vec<FindingView> = events.iter().filter_map(FindingView::from_event).collect();
    Ok(Json(json!({ "findings": findings })).into_response())
}

#[derive(Deserialize)]
pub struct ReportParams {
    key: Option<String>,
    /// The monitored site, stored as the `service` label.
    service: Option<String>,
}

/// `POST /api/v1/csp-report?key=<ingest key>[&service=<name>]`: browsers cannot send an
/// `Authorization` header with reports, so the key comes in the query. Answers 204.
async fn csp_report(
    State(s): State<AppState>,
    Query(p): Query<ReportParams>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    super::ingest::authenticate(&s, &headers, p.key.as_deref()).await?;
    require_report_type(&headers)?;
    let raw = axum::body::to_bytes(body, MAX_CSP_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("body larger than {MAX_CSP_BODY} bytes"),
            )
        })?;
    let reports = crate::security::csp_reports(&raw)
        .map_err(|e| ApiError::bad_request("body", format!("invalid CSP report: {e}")))?;
    let mut labels = Labels::new();
    if let Some(service) = p.service.filter(|v| !v.is_empty()) {
        if service.len() > s.config.ingest.max_label_value_bytes {
            return Err(ApiError::bad_request("service", "`service` is too long"));
        }
        labels.insert("service".into(), service);
    }
    let ts = chrono::Utc::now().timestamp_millis();
    let batch = Batch {
        security: reports
            .into_iter()
            .map(|details| SecurityEvent {
                ts,
                kind: "csp_violation".into(),
                actor: None,
                ip: ip.clone(),
                details,
                labels: labels.clone(),
            })
            .collect(),
        ..Batch::default()
    };
    s.ingest.submit(batch).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn require_report_type(headers: &HeaderMap) -> Result<(), ApiError> {
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
    match mime.as_str() {
        "application/csp-report" | "application/reports+json" | "application/json" => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("unsupported content type {ct:?}; use application/csp-report or application/reports+json"),
        )),
    }
}
