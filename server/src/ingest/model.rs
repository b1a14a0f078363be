//! The native ingest format (API.md): decoding from JSON and validation against the limits.
//!
//! Decoding reports the path of the first bad field (`metrics[3].value`); validation then checks
//! every bound. A batch is accepted whole or not at all, so nothing here stores anything.

use super::grouping;
use crate::config::IngestConfig;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Labels of a series, sorted so equal sets compare and serialise identically.
pub type Labels = BTreeMap<String, String>;

/// What identifies one time series: its metric name and its labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: Labels,
}

impl SeriesKey {
    /// The canonical JSON form stored in the series table.
    pub fn labels_json(&self) -> String {
        serde_json::to_string(&self.labels).expect("string map serialises")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    #[default]
    Gauge,
    Counter,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        }
    }
    pub fn parse(s: &str) -> MetricKind {
        if s == "counter" {
            MetricKind::Counter
        } else {
            MetricKind::Gauge
        }
    }
}

/// Why a request body was refused; `field` names the first item at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: Option<String>,
    pub message: String,
}

impl ValidationError {
    fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

// ---- wire format -------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct WireBatch {
    #[serde(default)]
    context: Option<WireContext>,
    #[serde(default)]
    events: Vec<WireEvent>,
    #[serde(default)]
    metrics: Vec<WireMetric>,
    #[serde(default)]
    errors: Vec<WireError>,
    #[serde(default)]
    spans: Vec<WireSpan>,
    #[serde(default)]
    security: Vec<WireSecurity>,
    #[serde(default)]
    logs: Vec<WireLog>,
}

#[derive(Debug, Default, Deserialize)]
struct WireContext {
    service: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    host: Option<String>,
    session_id: Option<String>,
    user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireEvent {
    timestamp: Timestamp,
    name: String,
    #[serde(default)]
    properties: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct WireMetric {
    timestamp: Timestamp,
    name: String,
    value: f64,
    #[serde(default)]
    kind: MetricKind,
    #[serde(default)]
    labels: Labels,
}

#[derive(Debug, Deserialize)]
struct WireError {
    timestamp: Timestamp,
    #[serde(rename = "type")]
    kind: String,
    message: String,
    #[serde(default)]
    stacktrace: Vec<StackFrame>,
    #[serde(default)]
    tags: Labels,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    span_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireLog {
    timestamp: Timestamp,
    #[serde(default)]
    severity: Option<String>,
    body: String,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    span_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireSpan {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: Option<String>,
    name: String,
    start: Timestamp,
    duration_ms: f64,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct WireSecurity {
    timestamp: Timestamp,
    kind: String,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    details: Option<Map<String, Value>>,
}

/// One frame of an error's stack trace.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct StackFrame {
    #[serde(default)]
    pub function: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default)]
    pub column: Option<u32>,
    /// Whether the frame is the application's own code; guessed from the file when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
}

/// Unix milliseconds, given as a number or as RFC 3339 text.
#[derive(Debug, Clone, Copy)]
struct Timestamp(i64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("unix milliseconds or an RFC 3339 timestamp")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map(Timestamp)
                    .map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if v.is_finite() && v.abs() < 9.0e15 {
                    Ok(Timestamp(v.round() as i64))
                } else {
                    Err(E::custom("timestamp out of range"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| Timestamp(t.timestamp_millis()))
                    .map_err(|_| E::custom(format!("invalid RFC 3339 timestamp {v:?}")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

// ---- validated batch ---------------------------------------------------------------------------

/// A decoded, validated ingest request: everything in it may be stored as it is.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub metrics: Vec<MetricSample>,
    pub events: Vec<Event>,
    pub errors: Vec<ErrorEvent>,
    pub spans: Vec<Span>,
    pub security: Vec<SecurityEvent>,
    pub logs: Vec<LogRecord>,
}

#[derive(Debug, Clone)]
pub struct MetricSample {
    pub series: Arc<SeriesKey>,
    pub kind: MetricKind,
    pub ts: i64,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub ts: i64,
    pub name: String,
    pub properties: Value,
    pub labels: Labels,
}

#[derive(Debug, Clone)]
pub struct ErrorEvent {
    pub ts: i64,
    pub kind: String,
    pub message: String,
    pub stacktrace: Vec<StackFrame>,
    pub tags: Labels,
    pub labels: Labels,
    /// The issue it belongs to (see [`super::grouping`]).
    pub fingerprint: String,
    /// The top in-app frame, as the Errors page names it.
    pub culprit: String,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub service: String,
    pub start: i64,
    pub duration_ms: f64,
    pub status: String,
    pub attributes: Value,
    pub labels: Labels,
}

#[derive(Debug, Clone)]
pub struct SecurityEvent {
    pub ts: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub details: Value,
    pub labels: Labels,
}

/// One log record.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub ts: i64,
    /// `trace`, `debug`, `info`, `warn`, `error` or `fatal`.
    pub severity: String,
    /// OpenTelemetry's severity number (1–24), 0 when unknown.
    pub severity_number: i32,
    pub body: String,
    pub service: String,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attributes: Value,
    pub labels: Labels,
}

/// The severity names logs are stored under, with the OpenTelemetry severity number each
/// starts at.
pub const SEVERITIES: [(&str, i32); 6] = [
    ("trace", 1),
    ("debug", 5),
    ("info", 9),
    ("warn", 13),
    ("error", 17),
    ("fatal", 21),
];

/// Reads a severity name as applications write them (`WARNING`, `Err`, `critical`…).
pub fn parse_severity(text: &str) -> Option<(&'static str, i32)> {
    let t = text.trim().to_ascii_lowercase();
    let name = match t.as_str() {
        "trace" | "finest" | "finer" => "trace",
        "debug" | "fine" | "config" => "debug",
        "info" | "information" | "informational" | "notice" | "log" => "info",
        "warn" | "warning" => "warn",
        "error" | "err" | "severe" => "error",
        "fatal" | "critical" | "crit" | "alert" | "emergency" | "emerg" | "panic" => "fatal",
        _ => return None,
    };
    SEVERITIES.iter().find(|(n, _)| *n == name).copied()
}

/// How many items of each kind a batch holds, as the 202 answer reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Accepted {
    pub events: usize,
    pub metrics: usize,
    pub errors: usize,
    pub spans: usize,
    pub security: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub logs: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Batch {
    pub fn accepted(&self) -> Accepted {
        Accepted {
            events: self.events.len(),
            metrics: self.metrics.len(),
            errors: self.errors.len(),
            spans: self.spans.len(),
            security: self.security.len(),
            logs: self.logs.len(),
        }
    }
    pub fn len(&self) -> usize {
        let a = self.accepted();
        a.events + a.metrics + a.errors + a.spans + a.security + a.logs
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Moves every item of `other` into `self` (group commit).
    pub fn append(&mut self, mut other: Batch) {
        self.metrics.append(&mut other.metrics);
        self.events.append(&mut other.events);
        self.errors.append(&mut other.errors);
        self.spans.append(&mut other.spans);
        self.security.append(&mut other.security);
        self.logs.append(&mut other.logs);
    }
}

/// Decodes and validates one request body (already decompressed).
pub fn decode(body: &[u8], limits: &IngestConfig) -> Result<Batch, ValidationError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ValidationError {
            field: None,
            message: "the body must be a JSON object".into(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let wire: WireBatch = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let out_of_range = inner.to_string().starts_with("number out of range");
        if (inner.is_syntax() || inner.is_eof()) && !out_of_range {
            return ValidationError {
                field: None,
                message: format!("malformed JSON: {inner}"),
            };
        }
        // serde's message without its "at line N column M" suffix, which the field replaces
        let text = inner.to_string();
        let message = text.split(" at line ").next().unwrap_or(&text).to_string();
        ValidationError {
            field: (path != ".").then_some(path),
            message,
        }
    })?;
    de.end().map_err(|e| ValidationError {
        field: None,
        message: format!("malformed JSON: {e}"),
    })?;
    Validator { limits }.batch(wire)
}

struct Validator<'a> {
    limits: &'a IngestConfig,
}

impl Validator<'_> {
    fn batch(&self, wire: WireBatch) -> Result<Batch, ValidationError> {
        let total = wire.events.len()
            + wire.metrics.len()
            + wire.errors.len()
            + wire.spans.len()
            + wire.security.len()
            + wire.logs.len();
        if total > self.limits.max_items {
            return Err(ValidationError {
                field: None,
                message: format!(
                    "batch has {total} items, more than the limit of {}",
                    self.limits.max_items
                ),
            });
        }
        let context = self.context(wire.context.unwrap_or_default())?;
        let mut batch = Batch::default();

        for (i, m) in wire.metrics.into_iter().enumerate() {
            let at = |f: &str| format!("metrics[{i}].{f}");
            self.name(&m.name, &at("name"))?;
            if !m.value.is_finite() {
                return Err(ValidationError::at(
                    at("value"),
                    format!("value must be a finite number, got {}", m.value),
                ));
            }
            let labels = self.merge_labels(&context, m.labels, &at("labels"))?;
            batch.metrics.push(MetricSample {
                series: Arc::new(SeriesKey {
                    name: m.name,
                    labels,
                }),
                kind: m.kind,
                ts: self.timestamp(m.timestamp, &at("timestamp"))?,
                value: m.value,
            });
        }
        for (i, e) in wire.events.into_iter().enumerate() {
            let at = |f: &str| format!("events[{i}].{f}");
            self.name(&e.name, &at("name"))?;
            batch.events.push(Event {
                ts: self.timestamp(e.timestamp, &at("timestamp"))?,
                properties: self.object(e.properties, &at("properties"))?,
                name: e.name,
                labels: context.clone(),
            });
        }
        for (i, e) in wire.errors.into_iter().enumerate() {
            let at = |f: &str| format!("errors[{i}].{f}");
            self.name(&e.kind, &at("type"))?;
            self.text(&e.message, &at("message"))?;
            if e.stacktrace.len() > 256 {
                return Err(ValidationError::at(
                    at("stacktrace"),
                    format!("{} frames, more than the limit of 256", e.stacktrace.len()),
                ));
            }
            for (j, frame) in e.stacktrace.iter().enumerate() {
                for (name, value) in [("function", &frame.function), ("file", &frame.file)] {
                    if let Some(v) = value {
                        self.text(v, &at(&format!("stacktrace[{j}].{name}")))?;
                    }
                }
            }
            let tags = self.labels(e.tags, &at("tags"))?;
            if let Some(id) = &e.trace_id {
                hex_id(id, 32, &at("trace_id"))?;
            }
            if let Some(id) = &e.span_id {
                hex_id(id, 16, &at("span_id"))?;
            }
            batch.errors.push(ErrorEvent {
                ts: self.timestamp(e.timestamp, &at("timestamp"))?,
                fingerprint: grouping::fingerprint(&e.kind, &e.message, &e.stacktrace),
                culprit: grouping::culprit(&e.stacktrace),
                kind: e.kind,
                message: e.message,
                stacktrace: e.stacktrace,
                tags,
                labels: context.clone(),
                trace_id: e.trace_id.map(|id| id.to_ascii_lowercase()),
                span_id: e.span_id.map(|id| id.to_ascii_lowercase()),
            });
        }
        for (i, s) in wire.spans.into_iter().enumerate() {
            let at = |f: &str| format!("spans[{i}].{f}");
            hex_id(&s.trace_id, 32, &at("trace_id"))?;
            hex_id(&s.span_id, 16, &at("span_id"))?;
            if let Some(p) = &s.parent_span_id {
                hex_id(p, 16, &at("parent_span_id"))?;
            }
            self.name(&s.name, &at("name"))?;
            if !s.duration_ms.is_finite() || s.duration_ms < 0.0 {
                return Err(ValidationError::at(
                    at("duration_ms"),
                    format!(
                        "duration must be a finite number ≥ 0, got {}",
                        s.duration_ms
                    ),
                ));
            }
            let status = s.status.unwrap_or_else(|| "ok".into());
            if !matches!(status.as_str(), "ok" | "error" | "unset") {
                return Err(ValidationError::at(
                    at("status"),
                    format!("status must be ok, error or unset, got {status:?}"),
                ));
            }
            batch.spans.push(Span {
                start: self.timestamp(s.start, &at("start"))?,
                attributes: self.object(s.attributes, &at("attributes"))?,
                service: context.get("service").cloned().unwrap_or_default(),
                trace_id: s.trace_id.to_ascii_lowercase(),
                span_id: s.span_id.to_ascii_lowercase(),
                parent_span_id: s.parent_span_id.map(|p| p.to_ascii_lowercase()),
                name: s.name,
                duration_ms: s.duration_ms,
                status,
                labels: context.clone(),
            });
        }
        for (i, s) in wire.security.into_iter().enumerate() {
            let at = |f: &str| format!("security[{i}].{f}");
            self.name(&s.kind, &at("kind"))?;
            if let Some(actor) = &s.actor {
                self.label_value(actor, &at("actor"))?;
            }
            if let Some(ip) = &s.ip {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(ValidationError::at(
                        at("ip"),
                        format!("invalid IP address {:?}", truncate(ip)),
                    ));
                }
            }
            batch.security.push(SecurityEvent {
                ts: self.timestamp(s.timestamp, &at("timestamp"))?,
                details: self.object(s.details, &at("details"))?,
                kind: s.kind,
                actor: s.actor,
                ip: s.ip,
                labels: context.clone(),
            });
        }
        for (i, l) in wire.logs.into_iter().enumerate() {
            let at = |f: &str| format!("logs[{i}].{f}");
            self.text(&l.body, &at("body"))?;
            let (severity, severity_number) = match &l.severity {
                None => ("info", 9),
                Some(text) => parse_severity(text).ok_or_else(|| {
                    ValidationError::at(
                        at("severity"),
                        format!(
                            "unknown severity {:?}; use trace, debug, info, warn, error or fatal",
                            truncate(text)
                        ),
                    )
                })?,
            };
            if let Some(id) = &l.trace_id {
                hex_id(id, 32, &at("trace_id"))?;
            }
            if let Some(id) = &l.span_id {
                hex_id(id, 16, &at("span_id"))?;
            }
            batch.logs.push(LogRecord {
                ts: self.timestamp(l.timestamp, &at("timestamp"))?,
                severity: severity.to_string(),
                severity_number,
                attributes: self.object(l.attributes, &at("attributes"))?,
                service: context.get("service").cloned().unwrap_or_default(),
                body: l.body,
                trace_id: l.trace_id.map(|id| id.to_ascii_lowercase()),
                span_id: l.span_id.map(|id| id.to_ascii_lowercase()),
                labels: context.clone(),
            });
        }
        Ok(batch)
    }

    fn context(&self, c: WireContext) -> Result<Labels, ValidationError> {
        let mut labels = Labels::new();
        for (key, value) in [
            ("service", c.service),
            ("environment", c.environment),
            ("release", c.release),
            ("host", c.host),
            ("session_id", c.session_id),
            ("user_id", c.user_id),
        ] {
            if let Some(v) = value {
                self.label_value(&v, &format!("context.{key}"))?;
                labels.insert(key.to_string(), v);
            }
        }
        Ok(labels)
    }

    /// Item labels win over context labels of the same key.
    fn merge_labels(
        &self,
        context: &Labels,
        own: Labels,
        at: &str,
    ) -> Result<Labels, ValidationError> {
        let own = self.labels(own, at)?;
        // Checked even when the item has none: a context alone may exceed a low limit (the
        // ingest_json fuzz target found that).
        let mut merged = context.clone();
        merged.extend(own);
        if merged.len() > self.limits.max_labels {
            return Err(ValidationError::at(
                at,
                format!(
                    "{} labels with context, more than the limit of {}",
                    merged.len(),
                    self.limits.max_labels
                ),
            ));
        }
        Ok(merged)
    }

    fn labels(&self, labels: Labels, at: &str) -> Result<Labels, ValidationError> {
        if labels.len() > self.limits.max_labels {
            return Err(ValidationError::at(
                at,
                format!(
                    "{} labels, more than the limit of {}",
                    labels.len(),
                    self.limits.max_labels
                ),
            ));
        }
        for (k, v) in &labels {
            let field = format!("{at}.{k}");
            if k.is_empty()
                || k.len() > self.limits.max_label_key_bytes
                || k.chars().any(char::is_control)
            {
                return Err(ValidationError::at(
                    field,
                    format!(
                        "label names must be 1 to {} bytes without control characters",
                        self.limits.max_label_key_bytes
                    ),
                ));
            }
            self.label_value(v, &field)?;
        }
        Ok(labels)
    }

    fn label_value(&self, v: &str, at: &str) -> Result<(), ValidationError> {
        if v.len() > self.limits.max_label_value_bytes {
            return Err(ValidationError::at(
                at,
                format!(
                    "{} bytes, more than the limit of {}",
                    v.len(),
                    self.limits.max_label_value_bytes
                ),
            ));
        }
        Ok(())
    }

    fn name(&self, v: &str, at: &str) -> Result<(), ValidationError> {
        if v.is_empty() {
            return Err(ValidationError::at(at, "must not be empty"));
        }
        if v.len() > self.limits.max_name_bytes {
            return Err(ValidationError::at(
                at,
                format!(
                    "{} bytes, more than the limit of {}",
                    v.len(),
                    self.limits.max_name_bytes
                ),
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(ValidationError::at(
                at,
                "must not contain control characters",
            ));
        }
        Ok(())
    }

    fn text(&self, v: &str, at: &str) -> Result<(), ValidationError> {
        if v.len() > self.limits.max_message_bytes {
            return Err(ValidationError::at(
                at,
                format!(
                    "{} bytes, more than the limit of {}",
                    v.len(),
                    self.limits.max_message_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Free-form objects (properties, attributes, details) are bounded in keys and total size.
    fn object(&self, v: Option<Map<String, Value>>, at: &str) -> Result<Value, ValidationError> {
        let map = v.unwrap_or_default();
        if map.len() > self.limits.max_labels {
            return Err(ValidationError::at(
                at,
                format!(
                    "{} keys, more than the limit of {}",
                    map.len(),
                    self.limits.max_labels
                ),
            ));
        }
        let value = Value::Object(map);
        let size = serde_json::to_vec(&value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        let max = self.limits.max_message_bytes * 4;
        if size > max {
            return Err(ValidationError::at(
                at,
                format!("{size} bytes as JSON, more than the limit of {max}"),
            ));
        }
        Ok(value)
    }

    fn timestamp(&self, t: Timestamp, at: &str) -> Result<i64, ValidationError> {
        // 1970 to 2200: anything else is a unit mistake (seconds, microseconds) worth refusing.
        const MAX: i64 = 7_258_118_400_000;
        if !(0..=MAX).contains(&t.0) {
            return Err(ValidationError::at(
                at,
                format!(
                    "timestamp {} is not unix milliseconds between 1970 and 2200",
                    t.0
                ),
            ));
        }
        Ok(t.0)
    }
}

fn hex_id(v: &str, len: usize, at: &str) -> Result<(), ValidationError> {
    if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ValidationError::at(
            at,
            format!("expected {len} hex digits, got {:?}", truncate(v)),
        ));
    }
    Ok(())
}

fn truncate(v: &str) -> &str {
    let mut end = v.len().min(64);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> IngestConfig {
        IngestConfig::default()
    }

    fn err(body: &str) -> ValidationError {
        decode(body.as_bytes(), &limits()).unwrap_err()
    }

    #[test]
    fn decodes_the_api_example() {
        let body = r#"{
          "context": {"service": "checkout", "environment": "prod", "release": "1.4.2", "host": "web-1", "session_id": "s-1", "user_id": "u-9"},
          "events": [{"timestamp": 1764250000000, "name": "purchase", "properties": {"amount": 42.5}}],
          "metrics": [{"timestamp": "2026-11-27T12:00:00Z", "name": "http.latency_ms", "value": 12.5, "kind": "gauge", "labels": {"route": "/cart"}}],
          "errors": [{"timestamp": 1764250000000, "type": "TypeError", "message": "x is undefined",
                      "stacktrace": [{"function": "addToCart", "file": "cart.js", "line": 10, "column": 5}], "tags": {"browser": "chromium"}}],
          "spans": [{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "parent_span_id": null, "name": "GET /cart",
                     "start": 1764250000000, "duration_ms": 12.5, "status": "ok", "attributes": {}}],
          "security": [{"timestamp": 1764250000000, "kind": "auth_failure", "actor": "u-9", "ip": "203.0.113.7", "details": {}}]
        }"#;
        let b = decode(body.as_bytes(), &limits()).unwrap();
        assert_eq!(
            b.accepted(),
            Accepted {
                events: 1,
                metrics: 1,
                errors: 1,
                spans: 1,
                security: 1,
                logs: 0
            }
        );
        let m = &b.metrics[0];
        assert_eq!(m.ts, 1_795_780_800_000);
        assert_eq!(
            m.series.labels.get("route").map(String::as_str),
            Some("/cart")
        );
        assert_eq!(
            m.series.labels.get("service").map(String::as_str),
            Some("checkout")
        );
        assert_eq!(b.spans[0].service, "checkout");
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = err(
            r#"{"metrics": [{"timestamp": 1, "name": "a", "value": 1}, {"timestamp": 1, "name": "a", "value": "x"}]}"#,
        );
        assert_eq!(e.field.as_deref(), Some("metrics[1].value"));
        let e = err(r#"{"metrics": [{"timestamp": 1, "value": 1}]}"#);
        assert_eq!(e.field.as_deref(), Some("metrics[0]"), "{e:?}");
        assert!(e.message.contains("name"), "{e:?}");
    }

    #[test]
    fn malformed_json_is_refused() {
        let e = err(r#"{"metrics": [{"#);
        assert!(e.message.starts_with("malformed JSON"), "{e:?}");
        let e = err(r#"{} trailing"#);
        assert!(e.message.starts_with("malformed JSON"), "{e:?}");
    }

    #[test]
    fn non_finite_values_are_refused() {
        let e = err(r#"{"metrics": [{"timestamp": 1, "name": "a", "value": 1e999}]}"#);
        assert_eq!(e.field.as_deref(), Some("metrics[0].value"), "{e:?}");
        let e = err(r#"{"metrics": [{"timestamp": 1, "name": "a", "value": "NaN"}]}"#);
        assert_eq!(e.field.as_deref(), Some("metrics[0].value"));
    }

    #[test]
    fn limits_are_enforced() {
        let labels: Vec<String> = (0..33).map(|i| format!("\"k{i}\": \"v\"")).collect();
        let e = err(&format!(
            r#"{{"metrics": [{{"timestamp": 1, "name": "a", "value": 1, "labels": {{{}}}}}]}}"#,
            labels.join(",")
        ));
        assert_eq!(e.field.as_deref(), Some("metrics[0].labels"));
        let long = "x".repeat(257);
        let e = err(&format!(
            r#"{{"metrics": [{{"timestamp": 1, "name": "a", "value": 1, "labels": {{"k": "{long}"}}}}]}}"#
        ));
        assert_eq!(e.field.as_deref(), Some("metrics[0].labels.k"));
        let msg = "m".repeat(4097);
        let e = err(&format!(
            r#"{{"errors": [{{"timestamp": 1, "type": "E", "message": "{msg}"}}]}}"#
        ));
        assert_eq!(e.field.as_deref(), Some("errors[0].message"));
        let mut small = limits();
        small.max_items = 2;
        let body = r#"{"events": [{"timestamp": 1, "name": "a"}, {"timestamp": 1, "name": "a"}, {"timestamp": 1, "name": "a"}]}"#;
        assert!(decode(body.as_bytes(), &small)
            .unwrap_err()
            .message
            .contains("limit of 2"));
        // The context's labels count too, whether or not the metric has labels of its own.
        small.max_labels = 2;
        let body = r#"{"context": {"service": "s", "host": "h", "release": "1"}, "metrics": [{"timestamp": 1, "name": "a", "value": 1}]}"#;
        let e = decode(body.as_bytes(), &small).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("metrics[0].labels"), "{e:?}");
    }

    #[test]
    fn timestamps_accept_ms_and_rfc3339_and_refuse_units_mistakes() {
        let b = decode(
            br#"{"events": [{"timestamp": "2026-11-27T12:00:00.5+01:00", "name": "a"}]}"#,
            &limits(),
        )
        .unwrap();
        assert_eq!(b.events[0].ts, 1_795_777_200_500);
        let e = err(r#"{"events": [{"timestamp": 1764250000000000, "name": "a"}]}"#);
        assert_eq!(e.field.as_deref(), Some("events[0].timestamp"));
        let e = err(r#"{"events": [{"timestamp": "yesterday", "name": "a"}]}"#);
        assert_eq!(e.field.as_deref(), Some("events[0].timestamp"));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let b = decode(br#"{"future": 1, "metrics": [{"timestamp": 1, "name": "a", "value": 2, "unit": "ms"}]}"#, &limits()).unwrap();
        assert_eq!(b.metrics.len(), 1);
    }

    #[test]
    fn spans_and_security_are_checked() {
        let e = err(
            r#"{"spans": [{"trace_id": "xyz", "span_id": "b7ad6b7169203331", "name": "a", "start": 1, "duration_ms": 1}]}"#,
        );
        assert_eq!(e.field.as_deref(), Some("spans[0].trace_id"));
        let e =
            err(r#"{"security": [{"timestamp": 1, "kind": "auth_failure", "ip": "999.1.1.1"}]}"#);
        assert_eq!(e.field.as_deref(), Some("security[0].ip"));
    }
}
