//! Decodes OpenTelemetry OTLP/HTTP export requests and maps them to Osprey's plain records.
//!
//! The server receives `POST /v1/traces`, `/v1/metrics` and `/v1/logs` bodies (already
//! decompressed and size-capped) in protobuf or JSON, calls [`decode_traces`],
//! [`decode_metrics`] or [`decode_logs`], stores what comes back, and answers with
//! [`encode_response`] (or [`encode_status`] for a refused request).
//!
//! Protobuf is decoded with the prost types of the `opentelemetry-proto` crate. JSON is decoded
//! by our own walker ([`json`]) into the same prost types, because that crate's serde support
//! accepts only lowerCamelCase names and gives no hold on sizes while decoding, while the OTLP
//! JSON mapping also allows snake_case names, 64-bit integers as strings or numbers, and enums
//! as integers or names.
//!
//! Everything from outside is bounded by [`Limits`]: items per request, attributes per item,
//! string length, nesting depth and size of attribute values, histogram buckets. An invalid item
//! (a span with a zero trace id, a point with a NaN value...) is rejected on its own and counted,
//! as OTLP's partial success expects; a malformed body fails the whole request ([`DecodeError`]).

pub mod histogram;
pub mod json;
mod logs;
mod metrics;
pub mod response;
mod stacktrace;
mod traces;
mod value;
mod wire;

use std::collections::BTreeMap;

use prost::Message;

pub use histogram::{
    exponential_to_explicit, histogram_delta, quantile, CumulativeToDelta, DeltaToCumulative,
    SeriesKey,
};
pub use logs::{LogRecord, Logs, Severity};
pub use metrics::{HistogramPoint, MetricKind, MetricPoint, Metrics, Temporality};
pub use response::{encode_response, encode_status, StatusCode};
pub use stacktrace::{parse_stacktrace, StackFrame};
pub use traces::{ErrorRecord, SpanKind, SpanRecord, SpanStatus, Traces};

/// The prost types this crate decodes into, re-exported so callers and tests build requests
/// with the same version.
pub use opentelemetry_proto::tonic as proto;

/// Labels of a record: resource labels plus, for metrics, the data point's attributes.
pub type Labels = BTreeMap<String, String>;

/// Service name used when a resource has no `service.name`, as the OpenTelemetry spec says.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Wire encoding of an OTLP/HTTP body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

impl Encoding {
    /// Encoding for a `Content-Type` header value (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf")
            || mime.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Encoding::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` a response in this encoding carries.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `/v1/traces`
    Traces,
    /// `/v1/metrics`
    Metrics,
    /// `/v1/logs`
    Logs,
}

/// Bounds applied while decoding, so hostile input cannot blow up memory or storage.
///
/// Items are counted on the wire (or the parsed JSON) before the request is decoded, so a
/// body of many tiny spans is refused cheaply. The caller must still cap the (decompressed)
/// body size: decoded attributes take more memory than their wire form (an empty protobuf
/// `KeyValue` is 2 bytes on the wire and 64 in memory), so peak memory of one decode is up to
/// about 64 × the body cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Spans, metric data points or log records in one request; more fails the request.
    pub max_items: usize,
    /// Attributes kept per item (span, event, data point, log record); the rest are dropped.
    pub max_attributes: usize,
    /// Resource attributes kept as labels besides the well-known ones.
    pub max_resource_labels: usize,
    /// Bytes kept of a string (names, attribute values, messages, log bodies); longer ones are
    /// truncated on a character boundary.
    pub max_string_len: usize,
    /// Bytes kept of a label key or value (service, resource labels, data point labels, scope
    /// name). Resource labels are copied into every record, so this and
    /// `max_resource_labels` bound that copy: at most about
    /// `max_items × (max_resource_labels + 6) × 2 × max_label_len` bytes per request.
    pub max_label_len: usize,
    /// Bytes kept of an exception stacktrace.
    pub max_stacktrace_len: usize,
    /// Nesting depth of array/kvlist attribute values; deeper values become `null`.
    pub max_depth: usize,
    /// Attribute values (each nested array element counts) converted per item; past this
    /// budget values become `null`.
    pub max_values_per_item: usize,
    /// Buckets of one histogram data point (explicit or exponential, per side); a point with
    /// more is rejected.
    pub max_buckets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_items: 10_000,
            max_attributes: 128,
            max_resource_labels: 16,
            max_string_len: 4096,
            max_label_len: 256,
            max_stacktrace_len: 32 * 1024,
            max_depth: 4,
            max_values_per_item: 1024,
            max_buckets: 512,
        }
    }
}

/// Why a whole request was refused (a 400 for the client).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The body is not a valid protobuf message of the expected type.
    #[error("malformed protobuf: {0}")]
    Protobuf(String),
    /// The body is not valid JSON, or does not have the OTLP JSON shape.
    #[error("malformed json: {0}")]
    Json(String),
    /// More items than [`Limits::max_items`].
    #[error("too many {kind} in one request: {count} (at most {max})")]
    TooManyItems {
        /// "spans", "data points" or "log records"
        kind: &'static str,
        /// How many the request holds.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// Decodes an `ExportTraceServiceRequest` body into spans and exception records.
pub fn decode_traces(body: &[u8], enc: Encoding, limits: &Limits) -> Result<Traces, DecodeError> {
    use proto::collector::trace::v1::ExportTraceServiceRequest;
    let request = match enc {
        Encoding::Protobuf => {
            check_count(wire::count_items(body, wire::SPANS), "spans", limits)?;
            ExportTraceServiceRequest::decode(body).map_err(protobuf_error)?
        }
        Encoding::Json => {
            let root = json::parse(body)?;
            check_count(Ok(json::count_items(&root, json::SPANS)), "spans", limits)?;
            json::trace_request_from(&root)?
        }
    };
    traces::map_request(&request, limits)
}

/// Decodes an `ExportMetricsServiceRequest` body into metric and histogram points.
pub fn decode_metrics(body: &[u8], enc: Encoding, limits: &Limits) -> Result<Metrics, DecodeError> {
    use proto::collector::metrics::v1::ExportMetricsServiceRequest;
    let request = match enc {
        Encoding::Protobuf => {
            check_count(
                wire::count_items(body, wire::DATA_POINTS),
                "data points",
                limits,
            )?;
            ExportMetricsServiceRequest::decode(body).map_err(protobuf_error)?
        }
        Encoding::Json => {
            let root = json::parse(body)?;
            let count = json::count_items(&root, json::DATA_POINTS);
            check_count(Ok(count), "data points", limits)?;
            json::metrics_request_from(&root)?
        }
    };
    metrics::map_request(&request, limits)
}

/// Decodes an `ExportLogsServiceRequest` body into log records and exception records.
pub fn decode_logs(body: &[u8], enc: Encoding, limits: &Limits) -> Result<Logs, DecodeError> {
    use proto::collector::logs::v1::ExportLogsServiceRequest;
    let request = match enc {
        Encoding::Protobuf => {
            check_count(
                wire::count_items(body, wire::LOG_RECORDS),
                "log records",
                limits,
            )?;
            ExportLogsServiceRequest::decode(body).map_err(protobuf_error)?
        }
        Encoding::Json => {
            let root = json::parse(body)?;
            let count = json::count_items(&root, json::LOG_RECORDS);
            check_count(Ok(count), "log records", limits)?;
            json::logs_request_from(&root)?
        }
    };
    logs::map_request(&request, limits)
}

/// Refuses a request holding more items than the limit, before it is decoded.
fn check_count(
    count: Result<usize, String>,
    kind: &'static str,
    limits: &Limits,
) -> Result<(), DecodeError> {
    let count = count.map_err(DecodeError::Protobuf)?;
    if count > limits.max_items {
        return Err(DecodeError::TooManyItems {
            kind,
            count,
            max: limits.max_items,
        });
    }
    Ok(())
}

fn protobuf_error(e: prost::DecodeError) -> DecodeError {
    DecodeError::Protobuf(e.to_string())
}

/// Counts items rejected while mapping and keeps the first reason, for the partial-success
/// answer.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    pub count: u64,
    pub first: Option<String>,
}

impl Rejections {
    pub fn reject(&mut self, reason: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(reason());
        }
    }
}

/// Unix nanoseconds to unix milliseconds (whole, rounded down).
pub(crate) fn nanos_to_ms(nanos: u64) -> i64 {
    // u64::MAX / 1e6 fits in i64, so this cannot overflow.
    (nanos / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            Encoding::from_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::from_content_type("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
        assert_eq!(Encoding::from_content_type(""), None);
    }

    #[test]
    fn nanos_round_down_to_ms() {
        assert_eq!(nanos_to_ms(1_544_712_660_300_000_000), 1_544_712_660_300);
        assert_eq!(nanos_to_ms(1_999_999), 1);
        assert_eq!(nanos_to_ms(u64::MAX), 18_446_744_073_709);
    }
}
