//! The one error type of the HTTP edge: every failure becomes a status code and the JSON body
//! `{"error": {"code", "message", "field"}}`. 5xx bodies hide internals; causes are logged.

use crate::ingest::model::ValidationError;
use crate::ingest::IngestError;
use crate::live::LiveError;
use crate::query::params::ParamError;
use crate::query::QueryError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    /// A 400 about one query parameter or body field.
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", message).field(field)
    }
    pub fn unauthorized(message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// A failure whose details stay in the log.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = serde_json::Value::String(field.clone());
        }
        let mut response =
            (self.status, Json(serde_json::json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_input",
            message: e.message,
            field: e.field,
            retry_after: None,
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", e.message).field(e.field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Param(p) => p.into(),
            QueryError::TooLarge(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_too_large", message)
            }
            QueryError::Store(s) => s.into(),
        }
    }
}

impl From<crate::forecasting::ForecastFailure> for ApiError {
    fn from(e: crate::forecasting::ForecastFailure) -> Self {
        use crate::forecasting::ForecastFailure;
        match e {
            ForecastFailure::Param(p) => p.into(),
            ForecastFailure::Query(q) => q.into(),
            e @ ForecastFailure::NoHistory { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_history",
                e.to_string(),
            ),
        }
    }
}

impl From<super::limits::OverBudget> for ApiError {
    fn from(e: super::limits::OverBudget) -> Self {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "series_limit",
            format!(
                "this key already feeds {} active series, its limit is {}: the batch would start more \
                 (a series stops counting an hour after its last sample)",
                e.active, e.limit
            ),
        );
        error.retry_after = Some(60);
        error
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let retry_after = e.retry_after().map(|d| d.as_secs().max(1));
        let (status, code, message) = match &e {
            IngestError::QueueFull { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "overloaded", e.to_string())
            }
            IngestError::SeriesLimit { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "series_limit", e.to_string())
            }
            IngestError::ShuttingDown => {
                (StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string())
            }
            IngestError::Store(cause) => {
                tracing::error!(error = %cause, "ingest commit failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the batch could not be stored; retry later".into(),
                )
            }
        };
        ApiError {
            status,
            code,
            message,
            field: None,
            retry_after,
        }
    }
}

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        ApiError {
            retry_after: Some(5),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", e.to_string())
        }
    }
}
