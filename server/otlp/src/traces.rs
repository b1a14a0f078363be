//! OTLP spans to [`SpanRecord`]s, and their `exception` events to [`ErrorRecord`]s.

use serde::Serialize;
use serde_json::Value as Json;

use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{InstrumentationScope, KeyValue};
use crate::proto::trace::v1::{span, status, Span};
use crate::stacktrace::{parse_stacktrace, StackFrame};
use crate::value::{self, attributes_json, find, resource_info, truncate, valid_id, ResourceInfo};
use crate::{nanos_to_ms, DecodeError, Labels, Limits, Rejections};

/// What a span did, from OTLP's `SpanKind` (unspecified counts as internal, as the spec says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    /// Internal operation.
    Internal,
    /// Handles a remote request.
    Server,
    /// Makes a remote request.
    Client,
    /// Sends a message.
    Producer,
    /// Receives a message.
    Consumer,
}

impl SpanKind {
    /// Lowercase name: `server`, `client`...
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    fn from_proto(kind: i32) -> SpanKind {
        match span::SpanKind::try_from(kind) {
            Ok(span::SpanKind::Server) => SpanKind::Server,
            Ok(span::SpanKind::Client) => SpanKind::Client,
            Ok(span::SpanKind::Producer) => SpanKind::Producer,
            Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
            _ => SpanKind::Internal,
        }
    }
}

/// A span's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    /// Not set by the instrumentation.
    Unset,
    /// Marked successful.
    Ok,
    /// Marked failed.
    Error,
}

impl SpanStatus {
    /// Lowercase name: `ok`, `error`, `unset`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Unset => "unset",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }
}

/// One span, in the shape of the ingest API's `spans` entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanRecord {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// 16 lowercase hex digits, `None` for a root span.
    pub parent_span_id: Option<String>,
    /// Operation name.
    pub name: String,
    /// The resource's `service.name`.
    pub service: String,
    /// Server, client...
    pub kind: SpanKind,
    /// Start, unix milliseconds (rounded down).
    pub start_ms: i64,
    /// Start, unix nanoseconds as sent.
    pub start_unix_nano: u64,
    /// End minus start, milliseconds with nanosecond precision.
    pub duration_ms: f64,
    /// Ok, error or unset.
    pub status: SpanStatus,
    /// The status description, when one was sent.
    pub status_message: Option<String>,
    /// Span attributes plus `otel.scope.name` / `otel.scope.version`, as a JSON object.
    pub attributes: Json,
    /// Resource labels (`service`, `environment`, `host`...).
    pub labels: Labels,
}

/// An exception reported by a span event or a log record, in the shape of the ingest API's
/// `errors` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorRecord {
    /// When it was raised, unix milliseconds.
    pub ts_ms: i64,
    /// `exception.type`, or empty.
    pub error_type: String,
    /// `exception.message`, or empty.
    pub message: String,
    /// Frames parsed from `exception.stacktrace` (empty when the format is not recognised).
    pub stacktrace: Vec<StackFrame>,
    /// `exception.stacktrace` as sent (truncated), when there was one.
    pub raw_stacktrace: Option<String>,
    /// The resource's `service.name`.
    pub service: String,
    /// Trace it happened in, if known.
    pub trace_id: Option<String>,
    /// Span it happened in, if known.
    pub span_id: Option<String>,
    /// Resource labels.
    pub labels: Labels,
}

/// Result of decoding an `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Traces {
    /// Valid spans.
    pub spans: Vec<SpanRecord>,
    /// Exceptions recorded as span events (at most `max_items` per request).
    pub errors: Vec<ErrorRecord>,
    /// Spans rejected as invalid (for `partial_success.rejected_spans`).
    pub rejected: u64,
    /// Why the first one was rejected.
    pub message: Option<String>,
}

/// Builds an [`ErrorRecord`] from `exception.*` attributes; `None` when neither
/// `exception.type` nor `exception.message` is present (the spec requires one of them).
pub(crate) fn exception(
    attrs: &[KeyValue],
    ts_ms: i64,
    resource: &ResourceInfo,
    trace_id: Option<String>,
    span_id: Option<String>,
    limits: &Limits,
) -> Option<ErrorRecord> {
    let text = |key: &str, max: usize| {
        find(attrs, key)
            .map(|v| value::text(v, limits, max))
            .filter(|s| !s.is_empty())
    };
    let error_type = text("exception.type", limits.max_string_len);
    let message = text("exception.message", limits.max_string_len);
    if error_type.is_none() && message.is_none() {
        return None;
    }
    let raw_stacktrace = text("exception.stacktrace", limits.max_stacktrace_len);
    Some(ErrorRecord {
        ts_ms,
        error_type: error_type.unwrap_or_default(),
        message: message.unwrap_or_default(),
        stacktrace: raw_stacktrace
            .as_deref()
            .map(parse_stacktrace)
            .unwrap_or_default(),
        raw_stacktrace,
        service: resource.service.clone(),
        trace_id,
        span_id,
        labels: resource.labels.clone(),
    })
}

/// Adds `otel.scope.name` and `otel.scope.version` unless the item already has them.
pub(crate) fn add_scope(
    attributes: &mut serde_json::Map<String, Json>,
    scope: Option<&InstrumentationScope>,
    limits: &Limits,
) {
    let Some(scope) = scope else { return };
    for (key, text) in [
        ("otel.scope.name", &scope.name),
        ("otel.scope.version", &scope.version),
    ] {
        if !text.is_empty() && !attributes.contains_key(key) {
            attributes.insert(
                key.to_owned(),
                Json::String(truncate(text, limits.max_label_len)),
            );
        }
    }
}

pub(crate) fn map_request(
    request: &ExportTraceServiceRequest,
    limits: &Limits,
) -> Result<Traces, DecodeError> {
    let count: usize = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    if count > limits.max_items {
        return Err(DecodeError::TooManyItems {
            kind: "spans",
            count,
            max: limits.max_items,
        });
    }
    let mut out = Traces::default();
    let mut rejections = Rejections::default();
    for resource_spans in &request.resource_spans {
        let resource = resource_info(resource_spans.resource.as_ref(), limits);
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                match map_span(span, scope_spans.scope.as_ref(), &resource, limits) {
                    Ok(record) => {
                        collect_exceptions(span, &record, &resource, limits, &mut out.errors);
                        out.spans.push(record);
                    }
                    Err(reason) => rejections.reject(|| reason),
                }
            }
        }
    }
    out.rejected = rejections.count;
    out.message = rejections.first;
    Ok(out)
}

fn map_span(
    span: &Span,
    scope: Option<&InstrumentationScope>,
    resource: &ResourceInfo,
    limits: &Limits,
) -> Result<SpanRecord, String> {
    let name = truncate(&span.name, limits.max_string_len);
    let trace_id = valid_id(&span.trace_id, 16)
        .ok_or_else(|| format!("span {name:?}: invalid trace id (need 16 bytes, not all zero)"))?;
    let span_id = valid_id(&span.span_id, 8)
        .ok_or_else(|| format!("span {name:?}: invalid span id (need 8 bytes, not all zero)"))?;
    let parent_span_id = match span.parent_span_id.len() {
        0 => None,
        8 => valid_id(&span.parent_span_id, 8),
        n => return Err(format!("span {name:?}: invalid parent span id ({n} bytes)")),
    };
    if span.start_time_unix_nano == 0 {
        return Err(format!("span {name:?}: missing start time"));
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(format!("span {name:?}: ends before it starts"));
    }
    let (status, status_message) = match &span.status {
        Some(s) => {
            let code = match status::StatusCode::try_from(s.code) {
                Ok(status::StatusCode::Ok) => SpanStatus::Ok,
                Ok(status::StatusCode::Error) => SpanStatus::Error,
                _ => SpanStatus::Unset,
            };
            let message =
                (!s.message.is_empty()).then(|| truncate(&s.message, limits.max_string_len));
            (code, message)
        }
        None => (SpanStatus::Unset, None),
    };
    let mut attributes = attributes_json(&span.attributes, limits);
    add_scope(&mut attributes, scope, limits);
    Ok(SpanRecord {
        trace_id,
        span_id,
        parent_span_id,
        name,
        service: resource.service.clone(),
        kind: SpanKind::from_proto(span.kind),
        start_ms: nanos_to_ms(span.start_time_unix_nano),
        start_unix_nano: span.start_time_unix_nano,
        duration_ms: (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e6,
        status,
        status_message,
        attributes: Json::Object(attributes),
        labels: resource.labels.clone(),
    })
}

fn collect_exceptions(
    span: &Span,
    record: &SpanRecord,
    resource: &ResourceInfo,
    limits: &Limits,
    errors: &mut Vec<ErrorRecord>,
) {
    for event in span.events.iter().filter(|e| e.name == "exception") {
        if errors.len() >= limits.max_items {
            return;
        }
        let ts = if event.time_unix_nano == 0 {
            span.start_time_unix_nano
        } else {
            event.time_unix_nano
        };
        let attrs = &event.attributes[..event.attributes.len().min(limits.max_attributes)];
        if let Some(error) = exception(
            attrs,
            nanos_to_ms(ts),
            resource,
            Some(record.trace_id.clone()),
            Some(record.span_id.clone()),
            limits,
        ) {
            errors.push(error);
        }
    }
}
