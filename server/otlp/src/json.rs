//! OTLP/JSON to the prost request types, following the OTLP JSON mapping
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>):
//!
//! - field names in lowerCamelCase, the original snake_case names accepted too;
//! - `traceId`, `spanId`, `parentSpanId` as hex strings (base64 accepted as a fallback, as
//!   some old exporters sent it), `bytesValue` as base64;
//! - enums as integers (names such as `"SPAN_KIND_SERVER"` accepted too);
//! - 64-bit integers as numbers or decimal strings, doubles as numbers or `"NaN"`,
//!   `"Infinity"`, `"-Infinity"`;
//! - unknown fields ignored, `null` the same as absent.
//!
//! The body is parsed into a `serde_json::Value` first (serde_json caps nesting at 128), then
//! walked; a value of the wrong type fails the request with the field's name.

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use crate::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use crate::proto::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use crate::DecodeError;

type Obj = Map<String, Json>;
type Result<T> = std::result::Result<T, DecodeError>;

/// Parses an OTLP/JSON `ExportTraceServiceRequest`.
pub fn trace_request(body: &[u8]) -> Result<ExportTraceServiceRequest> {
    trace_request_from(&parse(body)?)
}

/// Parses an OTLP/JSON `ExportMetricsServiceRequest`.
pub fn metrics_request(body: &[u8]) -> Result<ExportMetricsServiceRequest> {
    metrics_request_from(&parse(body)?)
}

/// Parses an OTLP/JSON `ExportLogsServiceRequest`.
pub fn logs_request(body: &[u8]) -> Result<ExportLogsServiceRequest> {
    logs_request_from(&parse(body)?)
}

pub(crate) fn trace_request_from(root: &Json) -> Result<ExportTraceServiceRequest> {
    let o = object(root, "request")?;
    Ok(ExportTraceServiceRequest {
        resource_spans: messages(o, "resourceSpans", "resource_spans", resource_spans)?,
    })
}

pub(crate) fn metrics_request_from(root: &Json) -> Result<ExportMetricsServiceRequest> {
    let o = object(root, "request")?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: messages(o, "resourceMetrics", "resource_metrics", resource_metrics)?,
    })
}

pub(crate) fn logs_request_from(root: &Json) -> Result<ExportLogsServiceRequest> {
    let o = object(root, "request")?;
    Ok(ExportLogsServiceRequest {
        resource_logs: messages(o, "resourceLogs", "resource_logs", resource_logs)?,
    })
}

pub(crate) fn parse(body: &[u8]) -> Result<Json> {
    serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))
}

/// Field names leading from a request to its items (both spellings at each level).
pub(crate) const SPANS: &[&[&str]] = &[
    &["resourceSpans", "resource_spans"],
    &["scopeSpans", "scope_spans"],
    &["spans"],
];
/// resourceMetrics → scopeMetrics → metrics → the data kind → dataPoints
pub(crate) const DATA_POINTS: &[&[&str]] = &[
    &["resourceMetrics", "resource_metrics"],
    &["scopeMetrics", "scope_metrics"],
    &["metrics"],
    &[
        "gauge",
        "sum",
        "histogram",
        "exponentialHistogram",
        "exponential_histogram",
        "summary",
    ],
    &["dataPoints", "data_points"],
];
/// resourceLogs → scopeLogs → logRecords
pub(crate) const LOG_RECORDS: &[&[&str]] = &[
    &["resourceLogs", "resource_logs"],
    &["scopeLogs", "scope_logs"],
    &["logRecords", "log_records"],
];

/// Items at the end of `path` in a parsed request, counted before it is walked into prost
/// messages (which are far larger than the JSON values); may overcount odd input, never
/// undercounts.
pub(crate) fn count_items(value: &Json, path: &[&[&str]]) -> usize {
    let Some((names, rest)) = path.split_first() else {
        return 1;
    };
    let Some(o) = value.as_object() else {
        return 0;
    };
    names
        .iter()
        .filter_map(|name| o.get(*name))
        .map(|child| match child {
            Json::Array(items) => items.iter().map(|item| count_items(item, rest)).sum(),
            Json::Object(_) => count_items(child, rest),
            _ => 0,
        })
        .fold(0usize, usize::saturating_add)
}

fn bad(field: &str, expected: &str, got: &Json) -> DecodeError {
    let got = match got {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    };
    DecodeError::Json(format!("field `{field}`: expected {expected}, got {got}"))
}

fn object<'a>(v: &'a Json, field: &str) -> Result<&'a Obj> {
    v.as_object().ok_or_else(|| bad(field, "an object", v))
}

/// A field by its camelCase or snake_case name; `null` counts as absent.
fn get<'a>(o: &'a Obj, camel: &str, snake: &str) -> Option<&'a Json> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn messages<T>(o: &Obj, camel: &str, snake: &str, f: fn(&Obj) -> Result<T>) -> Result<Vec<T>> {
    match get(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => items.iter().map(|v| f(object(v, camel)?)).collect(),
        Some(v) => Err(bad(camel, "an array", v)),
    }
}

fn message<T>(o: &Obj, camel: &str, snake: &str, f: fn(&Obj) -> Result<T>) -> Result<Option<T>> {
    get(o, camel, snake)
        .map(|v| f(object(v, camel)?))
        .transpose()
}

fn string(o: &Obj, camel: &str, snake: &str) -> Result<String> {
    match get(o, camel, snake) {
        None => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(v) => Err(bad(camel, "a string", v)),
    }
}

fn boolean(o: &Obj, camel: &str, snake: &str) -> Result<bool> {
    match get(o, camel, snake) {
        None => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(v) => Err(bad(camel, "a boolean", v)),
    }
}

/// An integer given as a JSON number or a decimal string, in `i128` so every proto integer
/// type fits; a number with a fraction is refused.
fn integer(v: &Json, field: &str) -> Result<i128> {
    let parsed = match v {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                // Protobuf JSON allows exponent notation for integers (1e3).
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1.9e19)
                    .map(|f| f as i128)
            }),
        Json::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| bad(field, "an integer", v))
}

fn int_in<T: TryFrom<i128> + Default>(o: &Obj, camel: &str, snake: &str) -> Result<T> {
    let Some(v) = get(o, camel, snake) else {
        return Ok(T::default());
    };
    let i = integer(v, camel)?;
    T::try_from(i).map_err(|_| DecodeError::Json(format!("field `{camel}`: {i} is out of range")))
}

fn u64s(o: &Obj, camel: &str, snake: &str) -> Result<Vec<u64>> {
    match get(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|v| {
                let i = integer(v, camel)?;
                u64::try_from(i)
                    .map_err(|_| DecodeError::Json(format!("field `{camel}`: {i} is out of range")))
            })
            .collect(),
        Some(v) => Err(bad(camel, "an array", v)),
    }
}

fn double(v: &Json, field: &str) -> Result<f64> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| bad(field, "a number", v)),
        Json::String(s) => match s.trim() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.parse::<f64>().map_err(|_| bad(field, "a number", v)),
        },
        _ => Err(bad(field, "a number", v)),
    }
}

fn f64_field(o: &Obj, camel: &str, snake: &str) -> Result<f64> {
    get(o, camel, snake).map_or(Ok(0.0), |v| double(v, camel))
}

fn opt_f64(o: &Obj, camel: &str, snake: &str) -> Result<Option<f64>> {
    get(o, camel, snake).map(|v| double(v, camel)).transpose()
}

fn f64s(o: &Obj, camel: &str, snake: &str) -> Result<Vec<f64>> {
    match get(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => items.iter().map(|v| double(v, camel)).collect(),
        Some(v) => Err(bad(camel, "an array", v)),
    }
}

/// An enum as its integer or its proto name.
fn enumeration(o: &Obj, camel: &str, snake: &str, by_name: fn(&str) -> Option<i32>) -> Result<i32> {
    match get(o, camel, snake) {
        None => Ok(0),
        Some(v) => {
            if let Some(named) = v.as_str().and_then(by_name) {
                return Ok(named);
            }
            let i = integer(v, camel)?;
            i32::try_from(i)
                .map_err(|_| DecodeError::Json(format!("field `{camel}`: {i} is out of range")))
        }
    }
}

/// A trace or span id: hex per the OTLP spec, base64 accepted as a fallback. Undecodable text
/// becomes an empty id, which the mapping rejects (spans) or ignores (logs, exemplars), so
/// one bad id does not fail the whole request.
fn id(o: &Obj, camel: &str, snake: &str) -> Result<Vec<u8>> {
    match get(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Json::String(s)) => Ok(decode_hex(s)
            .or_else(|| decode_base64(s))
            .unwrap_or_default()),
        Some(v) => Err(bad(camel, "a hex string", v)),
    }
}

/// Hex (either case) to bytes; `None` for odd length or a non-hex character.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())
}

fn key_values(o: &Obj, camel: &str, snake: &str) -> Result<Vec<KeyValue>> {
    messages(o, camel, snake, key_value)
}

fn key_value(o: &Obj) -> Result<KeyValue> {
    Ok(KeyValue {
        key: string(o, "key", "key")?,
        value: message(o, "value", "value", any)?,
        ..Default::default()
    })
}

fn any(o: &Obj) -> Result<AnyValue> {
    use any_value::Value;
    let value = if let Some(v) = get(o, "stringValue", "string_value") {
        match v {
            Json::String(s) => Some(Value::StringValue(s.clone())),
            v => return Err(bad("stringValue", "a string", v)),
        }
    } else if get(o, "boolValue", "bool_value").is_some() {
        Some(Value::BoolValue(boolean(o, "boolValue", "bool_value")?))
    } else if get(o, "intValue", "int_value").is_some() {
        Some(Value::IntValue(int_in(o, "intValue", "int_value")?))
    } else if get(o, "doubleValue", "double_value").is_some() {
        Some(Value::DoubleValue(f64_field(
            o,
            "doubleValue",
            "double_value",
        )?))
    } else if let Some(v) = get(o, "arrayValue", "array_value") {
        let values = messages(object(v, "arrayValue")?, "values", "values", any)?;
        Some(Value::ArrayValue(ArrayValue { values }))
    } else if let Some(v) = get(o, "kvlistValue", "kvlist_value") {
        let values = key_values(object(v, "kvlistValue")?, "values", "values")?;
        Some(Value::KvlistValue(KeyValueList { values }))
    } else if let Some(v) = get(o, "bytesValue", "bytes_value") {
        match v {
            Json::String(s) => Some(Value::BytesValue(decode_base64(s).ok_or_else(|| {
                DecodeError::Json("field `bytesValue`: invalid base64".to_owned())
            })?)),
            v => return Err(bad("bytesValue", "a base64 string", v)),
        }
    } else {
        // An empty AnyValue is valid and means "no value".
        None
    };
    Ok(AnyValue { value })
}

fn resource(o: &Obj) -> Result<Resource> {
    Ok(Resource {
        attributes: key_values(o, "attributes", "attributes")?,
        dropped_attributes_count: int_in(o, "droppedAttributesCount", "dropped_attributes_count")?,
        ..Default::default()
    })
}

fn scope(o: &Obj) -> Result<InstrumentationScope> {
    Ok(InstrumentationScope {
        name: string(o, "name", "name")?,
        version: string(o, "version", "version")?,
        attributes: key_values(o, "attributes", "attributes")?,
        dropped_attributes_count: int_in(o, "droppedAttributesCount", "dropped_attributes_count")?,
    })
}

fn resource_spans(o: &Obj) -> Result<ResourceSpans> {
    Ok(ResourceSpans {
        resource: message(o, "resource", "resource", resource)?,
        scope_spans: messages(o, "scopeSpans", "scope_spans", scope_spans)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope_spans(o: &Obj) -> Result<ScopeSpans> {
    Ok(ScopeSpans {
        scope: message(o, "scope", "scope", scope)?,
        spans: messages(o, "spans", "spans", span)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn span(o: &Obj) -> Result<Span> {
    Ok(Span {
        trace_id: id(o, "traceId", "trace_id")?,
        span_id: id(o, "spanId", "span_id")?,
        trace_state: string(o, "traceState", "trace_state")?,
        parent_span_id: id(o, "parentSpanId", "parent_span_id")?,
        flags: int_in(o, "flags", "flags")?,
        name: string(o, "name", "name")?,
        kind: enumeration(o, "kind", "kind", |s| {
            span::SpanKind::from_str_name(s).map(|k| k as i32)
        })?,
        start_time_unix_nano: int_in(o, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: int_in(o, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: key_values(o, "attributes", "attributes")?,
        dropped_attributes_count: int_in(o, "droppedAttributesCount", "dropped_attributes_count")?,
        events: messages(o, "events", "events", event)?,
        dropped_events_count: int_in(o, "droppedEventsCount", "dropped_events_count")?,
        // Links are not stored; their content is skipped rather than validated.
        links: Vec::new(),
        dropped_links_count: int_in(o, "droppedLinksCount", "dropped_links_count")?,
        status: message(o, "status", "status", span_status)?,
    })
}

fn event(o: &Obj) -> Result<span::Event> {
    Ok(span::Event {
        time_unix_nano: int_in(o, "timeUnixNano", "time_unix_nano")?,
        name: string(o, "name", "name")?,
        attributes: key_values(o, "attributes", "attributes")?,
        dropped_attributes_count: int_in(o, "droppedAttributesCount", "dropped_attributes_count")?,
    })
}

fn span_status(o: &Obj) -> Result<Status> {
    Ok(Status {
        message: string(o, "message", "message")?,
        code: enumeration(o, "code", "code", |s| {
            status::StatusCode::from_str_name(s).map(|c| c as i32)
        })?,
    })
}

fn resource_metrics(o: &Obj) -> Result<ResourceMetrics> {
    Ok(ResourceMetrics {
        resource: message(o, "resource", "resource", resource)?,
        scope_metrics: messages(o, "scopeMetrics", "scope_metrics", scope_metrics)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope_metrics(o: &Obj) -> Result<ScopeMetrics> {
    Ok(ScopeMetrics {
        scope: message(o, "scope", "scope", scope)?,
        metrics: messages(o, "metrics", "metrics", metric)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn temporality(o: &Obj) -> Result<i32> {
    enumeration(
        o,
        "aggregationTemporality",
        "aggregation_temporality",
        |s| AggregationTemporality::from_str_name(s).map(|t| t as i32),
    )
}

fn metric(o: &Obj) -> Result<Metric> {
    let data = if let Some(v) = get(o, "gauge", "gauge") {
        let g = object(v, "gauge")?;
        Some(metric::Data::Gauge(Gauge {
            data_points: messages(g, "dataPoints", "data_points", number_point)?,
        }))
    } else if let Some(v) = get(o, "sum", "sum") {
        let s = object(v, "sum")?;
        Some(metric::Data::Sum(Sum {
            data_points: messages(s, "dataPoints", "data_points", number_point)?,
            aggregation_temporality: temporality(s)?,
            is_monotonic: boolean(s, "isMonotonic", "is_monotonic")?,
        }))
    } else if let Some(v) = get(o, "histogram", "histogram") {
        let h = object(v, "histogram")?;
        Some(metric::Data::Histogram(Histogram {
            data_points: messages(h, "dataPoints", "data_points", histogram_point)?,
            aggregation_temporality: temporality(h)?,
        }))
    } else if let Some(v) = get(o, "exponentialHistogram", "exponential_histogram") {
        let h = object(v, "exponentialHistogram")?;
        Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: messages(h, "dataPoints", "data_points", exponential_point)?,
            aggregation_temporality: temporality(h)?,
        }))
    } else if let Some(v) = get(o, "summary", "summary") {
        let s = object(v, "summary")?;
        Some(metric::Data::Summary(Summary {
            data_points: messages(s, "dataPoints", "data_points", summary_point)?,
        }))
    } else {
        None
    };
    Ok(Metric {
        name: string(o, "name", "name")?,
        description: string(o, "description", "description")?,
        unit: string(o, "unit", "unit")?,
        metadata: Vec::new(),
        data,
    })
}

fn number_point(o: &Obj) -> Result<NumberDataPoint> {
    let value = if let Some(v) = get(o, "asDouble", "as_double") {
        Some(number_data_point::Value::AsDouble(double(v, "asDouble")?))
    } else if get(o, "asInt", "as_int").is_some() {
        Some(number_data_point::Value::AsInt(int_in(
            o, "asInt", "as_int",
        )?))
    } else {
        None
    };
    Ok(NumberDataPoint {
        attributes: key_values(o, "attributes", "attributes")?,
        start_time_unix_nano: int_in(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: int_in(o, "timeUnixNano", "time_unix_nano")?,
        // Exemplars are not stored.
        exemplars: Vec::new(),
        flags: int_in(o, "flags", "flags")?,
        value,
    })
}

fn histogram_point(o: &Obj) -> Result<HistogramDataPoint> {
    Ok(HistogramDataPoint {
        attributes: key_values(o, "attributes", "attributes")?,
        start_time_unix_nano: int_in(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: int_in(o, "timeUnixNano", "time_unix_nano")?,
        count: int_in(o, "count", "count")?,
        sum: opt_f64(o, "sum", "sum")?,
        bucket_counts: u64s(o, "bucketCounts", "bucket_counts")?,
        explicit_bounds: f64s(o, "explicitBounds", "explicit_bounds")?,
        exemplars: Vec::new(),
        flags: int_in(o, "flags", "flags")?,
        min: opt_f64(o, "min", "min")?,
        max: opt_f64(o, "max", "max")?,
    })
}

fn buckets(o: &Obj) -> Result<Buckets> {
    Ok(Buckets {
        offset: int_in(o, "offset", "offset")?,
        bucket_counts: u64s(o, "bucketCounts", "bucket_counts")?,
    })
}

fn exponential_point(o: &Obj) -> Result<ExponentialHistogramDataPoint> {
    Ok(ExponentialHistogramDataPoint {
        attributes: key_values(o, "attributes", "attributes")?,
        start_time_unix_nano: int_in(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: int_in(o, "timeUnixNano", "time_unix_nano")?,
        count: int_in(o, "count", "count")?,
        sum: opt_f64(o, "sum", "sum")?,
        scale: int_in(o, "scale", "scale")?,
        zero_count: int_in(o, "zeroCount", "zero_count")?,
        positive: message(o, "positive", "positive", buckets)?,
        negative: message(o, "negative", "negative", buckets)?,
        flags: int_in(o, "flags", "flags")?,
        exemplars: Vec::new(),
        min: opt_f64(o, "min", "min")?,
        max: opt_f64(o, "max", "max")?,
        zero_threshold: f64_field(o, "zeroThreshold", "zero_threshold")?,
    })
}

fn quantile_value(o: &Obj) -> Result<ValueAtQuantile> {
    Ok(ValueAtQuantile {
        quantile: f64_field(o, "quantile", "quantile")?,
        value: f64_field(o, "value", "value")?,
    })
}

fn summary_point(o: &Obj) -> Result<SummaryDataPoint> {
    Ok(SummaryDataPoint {
        attributes: key_values(o, "attributes", "attributes")?,
        start_time_unix_nano: int_in(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: int_in(o, "timeUnixNano", "time_unix_nano")?,
        count: int_in(o, "count", "count")?,
        sum: f64_field(o, "sum", "sum")?,
        quantile_values: messages(o, "quantileValues", "quantile_values", quantile_value)?,
        flags: int_in(o, "flags", "flags")?,
    })
}

fn resource_logs(o: &Obj) -> Result<ResourceLogs> {
    Ok(ResourceLogs {
        resource: message(o, "resource", "resource", resource)?,
        scope_logs: messages(o, "scopeLogs", "scope_logs", scope_logs)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope_logs(o: &Obj) -> Result<ScopeLogs> {
    Ok(ScopeLogs {
        scope: message(o, "scope", "scope", scope)?,
        log_records: messages(o, "logRecords", "log_records", log_record)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn log_record(o: &Obj) -> Result<LogRecord> {
    Ok(LogRecord {
        time_unix_nano: int_in(o, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: int_in(o, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number: enumeration(o, "severityNumber", "severity_number", |s| {
            SeverityNumber::from_str_name(s).map(|n| n as i32)
        })?,
        severity_text: string(o, "severityText", "severity_text")?,
        body: message(o, "body", "body", any)?,
        attributes: key_values(o, "attributes", "attributes")?,
        dropped_attributes_count: int_in(o, "droppedAttributesCount", "dropped_attributes_count")?,
        flags: int_in(o, "flags", "flags")?,
        trace_id: id(o, "traceId", "trace_id")?,
        span_id: id(o, "spanId", "span_id")?,
        event_name: string(o, "eventName", "event_name")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ff10Ab"), Some(vec![0x00, 0xff, 0x10, 0xab]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex(""), Some(vec![]));
    }

    #[test]
    fn integers_as_numbers_or_strings() {
        let o: Obj = serde_json::from_str(
            r#"{"a": "1544712660300000000", "b": 7, "c": "x", "d": -1, "e": 1e3, "f": 1.5}"#,
        )
        .unwrap_or_default();
        assert_eq!(int_in::<u64>(&o, "a", "a"), Ok(1_544_712_660_300_000_000));
        assert_eq!(int_in::<u64>(&o, "b", "b"), Ok(7));
        assert!(int_in::<u64>(&o, "c", "c").is_err());
        assert!(int_in::<u64>(&o, "d", "d").is_err());
        assert_eq!(int_in::<i64>(&o, "d", "d"), Ok(-1));
        assert_eq!(int_in::<u32>(&o, "e", "e"), Ok(1000));
        assert!(int_in::<u64>(&o, "f", "f").is_err());
        assert_eq!(int_in::<u64>(&o, "missing", "missing"), Ok(0));
    }

    #[test]
    fn snake_case_names_and_enum_names() {
        let body = br#"{"resource_spans":[{"scope_spans":[{"spans":[
            {"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174",
             "kind":"SPAN_KIND_SERVER","start_time_unix_nano":"1","end_time_unix_nano":2,
             "status":{"code":"STATUS_CODE_ERROR"}}]}]}]}"#;
        let request = trace_request(body).unwrap_or_default();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[0], 0x5b);
        assert_eq!(span.span_id.len(), 8);
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = trace_request(br#"{"resourceSpans": {}}"#).err();
        assert_eq!(
            err,
            Some(DecodeError::Json(
                "field `resourceSpans`: expected an array, got an object".into()
            ))
        );
        assert!(trace_request(b"[1,2]").is_err());
        assert!(trace_request(b"{").is_err());
        assert!(trace_request(b"{}").is_ok());
    }
}
