//! OTLP log records to [`LogRecord`]s; records carrying `exception.*` attributes (the
//! semantic convention for logged exceptions) also become [`ErrorRecord`]s.

use serde::Serialize;
use serde_json::Value as Json;

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::logs::v1::LogRecord as ProtoLogRecord;
use crate::traces::{add_scope, exception, ErrorRecord};
use crate::value::{self, attributes_json, resource_info, truncate, valid_id, ResourceInfo};
use crate::{nanos_to_ms, DecodeError, Labels, Limits, Rejections};

/// Normalised severity, from OTLP's severity number ranges (1–4 trace, 5–8 debug, 9–12 info,
/// 13–16 warn, 17–20 error, 21–24 fatal) or, without a number, the severity text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fine-grained debugging.
    Trace,
    /// Debugging.
    Debug,
    /// Informational (also the default when nothing says otherwise).
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
    /// Fatal error.
    Fatal,
}

impl Severity {
    /// Lowercase name: `trace`, `debug`, `info`, `warn`, `error`, `fatal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "trace",
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Fatal => "fatal",
        }
    }

    /// From a severity number (1..=24), else from the text (case-insensitive, common
    /// spellings of each level), else `Info`.
    pub fn from_otlp(number: i32, text: &str) -> Severity {
        match number {
            1..=4 => return Severity::Trace,
            5..=8 => return Severity::Debug,
            9..=12 => return Severity::Info,
            13..=16 => return Severity::Warn,
            17..=20 => return Severity::Error,
            21..=24 => return Severity::Fatal,
            _ => {}
        }
        // Texts like "WARN2" or "error " still name a level.
        let word = text
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_ascii_lowercase();
        match word.as_str() {
            "trace" | "finest" | "finer" => Severity::Trace,
            "debug" | "fine" | "config" => Severity::Debug,
            "warn" | "warning" => Severity::Warn,
            "error" | "err" | "severe" => Severity::Error,
            "fatal" | "critical" | "crit" | "panic" | "emergency" | "emerg" | "alert" => {
                Severity::Fatal
            }
            _ => Severity::Info,
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    /// When the event happened (or, if the sender did not know, when it was observed), unix
    /// milliseconds.
    pub ts_ms: i64,
    /// Normalised severity.
    pub severity: Severity,
    /// OTLP severity number as sent (0 when unspecified).
    pub severity_number: i32,
    /// Severity text as sent, possibly empty.
    pub severity_text: String,
    /// The body as text: strings as they are, other scalars printed, arrays and maps as JSON.
    pub body: String,
    /// `event_name`, when set.
    pub event_name: Option<String>,
    /// The resource's `service.name`.
    pub service: String,
    /// Record attributes plus `otel.scope.name` / `otel.scope.version`, as a JSON object.
    pub attributes: Json,
    /// Trace the record belongs to, when valid.
    pub trace_id: Option<String>,
    /// Span the record belongs to, when valid.
    pub span_id: Option<String>,
    /// Resource labels.
    pub labels: Labels,
}

/// Result of decoding an `ExportLogsServiceRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Logs {
    /// Valid log records.
    pub records: Vec<LogRecord>,
    /// Exceptions carried by log records.
    pub errors: Vec<ErrorRecord>,
    /// Records rejected as invalid (for `partial_success.rejected_log_records`).
    pub rejected: u64,
    /// Why the first one was rejected.
    pub message: Option<String>,
}

pub(crate) fn map_request(
    request: &ExportLogsServiceRequest,
    limits: &Limits,
) -> Result<Logs, DecodeError> {
    let count: usize = request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum();
    if count > limits.max_items {
        return Err(DecodeError::TooManyItems {
            kind: "log records",
            count,
            max: limits.max_items,
        });
    }
    let mut out = Logs::default();
    let mut rejections = Rejections::default();
    for resource_logs in &request.resource_logs {
        let resource = resource_info(resource_logs.resource.as_ref(), limits);
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                match map_record(record, &resource, limits) {
                    Ok(mut mapped) => {
                        let attrs = &record.attributes
                            [..record.attributes.len().min(limits.max_attributes)];
                        if let Some(error) = exception(
                            attrs,
                            mapped.ts_ms,
                            &resource,
                            mapped.trace_id.clone(),
                            mapped.span_id.clone(),
                            limits,
                        ) {
                            out.errors.push(error);
                        }
                        if let Json::Object(map) = &mut mapped.attributes {
                            add_scope(map, scope_logs.scope.as_ref(), limits);
                        }
                        out.records.push(mapped);
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

fn map_record(
    record: &ProtoLogRecord,
    resource: &ResourceInfo,
    limits: &Limits,
) -> Result<LogRecord, String> {
    let nanos = if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    };
    if nanos == 0 {
        return Err("log record without a timestamp (time or observed time)".to_owned());
    }
    let body = record
        .body
        .as_ref()
        .map(|b| value::text(b, limits, limits.max_string_len))
        .unwrap_or_default();
    Ok(LogRecord {
        ts_ms: nanos_to_ms(nanos),
        severity: Severity::from_otlp(record.severity_number, &record.severity_text),
        severity_number: record.severity_number,
        severity_text: truncate(&record.severity_text, limits.max_string_len),
        body,
        event_name: (!record.event_name.is_empty())
            .then(|| truncate(&record.event_name, limits.max_string_len)),
        service: resource.service.clone(),
        attributes: Json::Object(attributes_json(&record.attributes, limits)),
        // Ids are optional on logs: an invalid one is dropped, not the record.
        trace_id: valid_id(&record.trace_id, 16),
        span_id: valid_id(&record.span_id, 8),
        labels: resource.labels.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_from_number_then_text() {
        assert_eq!(Severity::from_otlp(1, "ERROR"), Severity::Trace);
        assert_eq!(Severity::from_otlp(9, ""), Severity::Info);
        assert_eq!(Severity::from_otlp(13, ""), Severity::Warn);
        assert_eq!(Severity::from_otlp(17, ""), Severity::Error);
        assert_eq!(Severity::from_otlp(24, ""), Severity::Fatal);
        assert_eq!(Severity::from_otlp(0, "Warning"), Severity::Warn);
        assert_eq!(Severity::from_otlp(0, "ERROR2"), Severity::Error);
        assert_eq!(Severity::from_otlp(0, "critical"), Severity::Fatal);
        assert_eq!(Severity::from_otlp(99, "debug"), Severity::Debug);
        assert_eq!(Severity::from_otlp(0, "whatever"), Severity::Info);
    }
}
