//! Decoding OTLP requests end to end: JSON fixtures, protobuf round trips (the same request
//! built as prost structs must decode identically from both encodings), id and integer
//! encodings, rejections and limits.

use otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp::proto::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use otlp::proto::logs::v1::{LogRecord as ProtoLog, ResourceLogs, ScopeLogs};
use otlp::proto::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, SummaryDataPoint,
};
use otlp::proto::resource::v1::Resource;
use otlp::proto::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span, Status};
use otlp::*;
use prost::Message;
use serde_json::json;

const TRACE_JSON: &[u8] = include_bytes!("fixtures/trace.json");
const METRICS_JSON: &[u8] = include_bytes!("fixtures/metrics.json");
const LOGS_JSON: &[u8] = include_bytes!("fixtures/logs.json");

const T0: u64 = 1_764_250_000_000_000_000;
const MS0: i64 = 1_764_250_000_000;

fn any(value: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: any(value),
        ..Default::default()
    }
}

fn s(text: &str) -> Value {
    Value::StringValue(text.into())
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("test hex"))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn scope(name: &str, version: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        version: version.into(),
        ..Default::default()
    })
}

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

// ---------------------------------------------------------------- traces

const PY_TRACE: &str = "Traceback (most recent call last):\n  File \"/app/cart.py\", line 42, in add_item\n    check(quantity)\n  File \"/app/checks.py\", line 7, in check\n    raise ValueError(\"quantity must be positive\")\nValueError: quantity must be positive";

/// The request `fixtures/trace.json` describes, built by hand.
fn trace_request() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(vec![
                kv("service.name", s("checkout")),
                kv("deployment.environment.name", s("prod")),
                kv("host.name", s("web-1")),
                kv("service.version", s("1.4.2")),
                kv("telemetry.sdk.language", s("python")),
            ]),
            scope_spans: vec![ScopeSpans {
                scope: scope("shop.instrumentation", "0.9.0"),
                spans: vec![
                    Span {
                        trace_id: hex("5b8efff798038103d269b633813fc60c"),
                        span_id: hex("eee19b7ec3c1b174"),
                        parent_span_id: hex("eee19b7ec3c1b173"),
                        name: "POST /cart".into(),
                        start_time_unix_nano: T0,
                        end_time_unix_nano: T0 + 12_500_000,
                        kind: 2,
                        attributes: vec![
                            kv("http.request.method", s("POST")),
                            kv("http.response.status_code", Value::IntValue(500)),
                            kv("retry", Value::BoolValue(false)),
                            kv("ratio", Value::DoubleValue(0.25)),
                        ],
                        events: vec![
                            Event {
                                time_unix_nano: T0 + 10_000_000,
                                name: "exception".into(),
                                attributes: vec![
                                    kv("exception.type", s("ValueError")),
                                    kv("exception.message", s("quantity must be positive")),
                                    kv("exception.stacktrace", s(PY_TRACE)),
                                ],
                                ..Default::default()
                            },
                            Event {
                                time_unix_nano: T0 + 11_000_000,
                                name: "cache.miss".into(),
                                ..Default::default()
                            },
                        ],
                        status: Some(Status {
                            code: 2,
                            message: "quantity must be positive".into(),
                        }),
                        ..Default::default()
                    },
                    Span {
                        trace_id: hex("5b8efff798038103d269b633813fc60c"),
                        span_id: hex("eee19b7ec3c1b175"),
                        parent_span_id: hex("eee19b7ec3c1b174"),
                        name: "SELECT cart".into(),
                        start_time_unix_nano: T0 + 1_000_000,
                        end_time_unix_nano: T0 + 3_000_000,
                        kind: 3,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn trace_fixture_json_walks_to_the_hand_built_request() {
    assert_eq!(json::trace_request(TRACE_JSON), Ok(trace_request()));
}

#[test]
fn trace_fixture_maps_spans_and_exceptions() {
    let traces = decode_traces(TRACE_JSON, Encoding::Json, &Limits::default()).expect("decodes");
    let resource_labels = labels(&[
        ("service", "checkout"),
        ("environment", "prod"),
        ("host", "web-1"),
        ("release", "1.4.2"),
        ("telemetry.sdk.language", "python"),
    ]);
    assert_eq!(traces.rejected, 0);
    assert_eq!(traces.message, None);
    assert_eq!(
        traces.spans,
        vec![
            SpanRecord {
                trace_id: "5b8efff798038103d269b633813fc60c".into(),
                span_id: "eee19b7ec3c1b174".into(),
                parent_span_id: Some("eee19b7ec3c1b173".into()),
                name: "POST /cart".into(),
                service: "checkout".into(),
                kind: SpanKind::Server,
                start_ms: MS0,
                start_unix_nano: T0,
                duration_ms: 12.5,
                status: SpanStatus::Error,
                status_message: Some("quantity must be positive".into()),
                attributes: json!({
                    "http.request.method": "POST",
                    "http.response.status_code": 500,
                    "retry": false,
                    "ratio": 0.25,
                    "otel.scope.name": "shop.instrumentation",
                    "otel.scope.version": "0.9.0",
                }),
                labels: resource_labels.clone(),
            },
            SpanRecord {
                trace_id: "5b8efff798038103d269b633813fc60c".into(),
                span_id: "eee19b7ec3c1b175".into(),
                parent_span_id: Some("eee19b7ec3c1b174".into()),
                name: "SELECT cart".into(),
                service: "checkout".into(),
                kind: SpanKind::Client,
                start_ms: MS0 + 1,
                start_unix_nano: T0 + 1_000_000,
                duration_ms: 2.0,
                status: SpanStatus::Unset,
                status_message: None,
                attributes: json!({
                    "otel.scope.name": "shop.instrumentation",
                    "otel.scope.version": "0.9.0",
                }),
                labels: resource_labels.clone(),
            },
        ]
    );
    assert_eq!(
        traces.errors,
        vec![ErrorRecord {
            ts_ms: MS0 + 10,
            error_type: "ValueError".into(),
            message: "quantity must be positive".into(),
            stacktrace: vec![
                StackFrame {
                    function: "add_item".into(),
                    file: "/app/cart.py".into(),
                    line: Some(42),
                    column: None
                },
                StackFrame {
                    function: "check".into(),
                    file: "/app/checks.py".into(),
                    line: Some(7),
                    column: None
                },
            ],
            raw_stacktrace: Some(PY_TRACE.into()),
            service: "checkout".into(),
            trace_id: Some("5b8efff798038103d269b633813fc60c".into()),
            span_id: Some("eee19b7ec3c1b174".into()),
            labels: resource_labels,
        }]
    );
}

#[test]
fn traces_protobuf_round_trip_matches_json() {
    let body = trace_request().encode_to_vec();
    let limits = Limits::default();
    let from_protobuf = decode_traces(&body, Encoding::Protobuf, &limits).expect("decodes");
    let from_json = decode_traces(TRACE_JSON, Encoding::Json, &limits).expect("decodes");
    assert_eq!(from_protobuf, from_json);
    assert_eq!(from_protobuf.spans.len(), 2);
}

fn span(trace: &str, id: &str, start: u64, end: u64) -> Span {
    Span {
        trace_id: hex(trace),
        span_id: hex(id),
        name: "op".into(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Default::default()
    }
}

fn spans_request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn invalid_spans_rejected_one_by_one() {
    const TRACE: &str = "0102030405060708090a0b0c0d0e0f10";
    let mut bad_parent = span(TRACE, "0000000000000009", T0, T0 + 1);
    bad_parent.parent_span_id = vec![1, 2, 3];
    let mut zero_parent = span(TRACE, "000000000000000a", T0, T0 + 1);
    zero_parent.parent_span_id = vec![0; 8];
    let request = spans_request(vec![
        span(TRACE, "0000000000000001", T0, T0 + 1),
        span(
            "00000000000000000000000000000000",
            "0000000000000002",
            T0,
            T0 + 1,
        ),
        span("0102", "0000000000000003", T0, T0 + 1),
        span(TRACE, "0000000000000000", T0, T0 + 1),
        span(TRACE, "00000000000004", T0, T0 + 1),
        span(TRACE, "0000000000000005", T0, T0 - 1),
        span(TRACE, "0000000000000006", 0, 0),
        bad_parent,
        zero_parent,
    ]);
    let traces = decode_traces(
        &request.encode_to_vec(),
        Encoding::Protobuf,
        &Limits::default(),
    )
    .expect("decodes");
    let ids: Vec<_> = traces.spans.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(ids, ["0000000000000001", "000000000000000a"]);
    assert_eq!(traces.spans[1].parent_span_id, None);
    assert_eq!(traces.rejected, 7);
    assert_eq!(
        traces.message.as_deref(),
        Some("span \"op\": invalid trace id (need 16 bytes, not all zero)")
    );
    // No resource at all: the spec's fallback service name.
    assert_eq!(traces.spans[0].service, "unknown_service");
    assert_eq!(
        traces.spans[0].labels,
        labels(&[("service", "unknown_service")])
    );
}

#[test]
fn json_ids_are_hex_any_case_with_base64_fallback() {
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "0102030405060708090A0B0C0D0E0F10", "spanId": "A1A2A3A4A5A6A7A8",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        // base64 of the same 16 and 8 bytes, as some old exporters sent
        {"traceId": "AQIDBAUGBwgJCgsMDQ4PEA==", "spanId": "oaKjpKWmp6g=",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": "not hex at all!", "spanId": "a1a2a3a4a5a6a7a8",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": "0102030405060708090a0b0c0d0e0f", "spanId": "a1a2a3a4a5a6a7a8",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"}
    ]}]}]});
    let traces = decode_traces(
        body.to_string().as_bytes(),
        Encoding::Json,
        &Limits::default(),
    )
    .expect("decodes");
    assert_eq!(traces.spans.len(), 2);
    for span in &traces.spans {
        assert_eq!(span.trace_id, "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(span.span_id, "a1a2a3a4a5a6a7a8");
        assert_eq!(span.parent_span_id, None);
    }
    assert_eq!(traces.rejected, 2);
}

#[test]
fn int64_as_string_or_number_decode_the_same() {
    let with = |start: serde_json::Value, end: serde_json::Value, int: serde_json::Value| {
        let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "a1a2a3a4a5a6a7a8",
            "startTimeUnixNano": start, "endTimeUnixNano": end,
            "attributes": [{"key": "n", "value": {"intValue": int}}]
        }]}]}]});
        decode_traces(
            body.to_string().as_bytes(),
            Encoding::Json,
            &Limits::default(),
        )
        .expect("decodes")
    };
    let as_strings = with(
        json!("1764250000000000000"),
        json!("1764250000001000001"),
        json!("-9223372036854775808"),
    );
    let as_numbers = with(
        json!(1_764_250_000_000_000_000u64),
        json!(1_764_250_000_001_000_001u64),
        json!(i64::MIN),
    );
    assert_eq!(as_strings, as_numbers);
    assert_eq!(as_strings.spans[0].duration_ms, 1.000001);
    assert_eq!(as_strings.spans[0].attributes["n"], json!(i64::MIN));
    // Out of range for an int64 attribute: the request is malformed.
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "attributes": [{"key": "n", "value": {"intValue": "9223372036854775808"}}]}]}]}]});
    assert!(matches!(
        decode_traces(body.to_string().as_bytes(), Encoding::Json, &Limits::default()),
        Err(DecodeError::Json(m)) if m.contains("intValue")
    ));
}

// ---------------------------------------------------------------- metrics

fn metrics_request() -> ExportMetricsServiceRequest {
    let start = T0 - 60_000_000_000;
    let route = || vec![kv("http.route", s("/cart"))];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(vec![
                kv("service.name", s("checkout")),
                kv("deployment.environment", s("staging")),
            ]),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("shop.metrics", "1.0.0"),
                metrics: vec![
                    Metric {
                        name: "http.server.requests".into(),
                        unit: "1".into(),
                        description: "requests served".into(),
                        data: Some(Data::Sum(Sum {
                            aggregation_temporality: 2,
                            is_monotonic: true,
                            data_points: vec![NumberDataPoint {
                                value: Some(number_data_point::Value::AsInt(17)),
                                start_time_unix_nano: start,
                                time_unix_nano: T0,
                                attributes: route(),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "queue.depth".into(),
                        unit: "1".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                value: Some(number_data_point::Value::AsDouble(3.5)),
                                time_unix_nano: T0,
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "http.server.duration".into(),
                        unit: "ms".into(),
                        data: Some(Data::Histogram(Histogram {
                            aggregation_temporality: 1,
                            data_points: vec![HistogramDataPoint {
                                start_time_unix_nano: start,
                                time_unix_nano: T0,
                                count: 4,
                                sum: Some(30.5),
                                min: Some(0.5),
                                max: Some(20.0),
                                bucket_counts: vec![1, 2, 1, 0],
                                explicit_bounds: vec![1.0, 10.0, 100.0],
                                attributes: route(),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "payload.size".into(),
                        unit: "By".into(),
                        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                            aggregation_temporality: 2,
                            data_points: vec![ExponentialHistogramDataPoint {
                                start_time_unix_nano: start,
                                time_unix_nano: T0,
                                count: 6,
                                sum: Some(20.0),
                                scale: 0,
                                zero_count: 1,
                                positive: Some(Buckets {
                                    offset: 0,
                                    bucket_counts: vec![2, 3],
                                }),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "rpc.latency".into(),
                        unit: "s".into(),
                        data: Some(Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                start_time_unix_nano: start,
                                time_unix_nano: T0,
                                count: 10,
                                sum: 2.5,
                                quantile_values: vec![
                                    ValueAtQuantile {
                                        quantile: 0.5,
                                        value: 0.2,
                                    },
                                    ValueAtQuantile {
                                        quantile: 0.99,
                                        value: 0.9,
                                    },
                                ],
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn metrics_fixture_json_walks_to_the_hand_built_request() {
    assert_eq!(json::metrics_request(METRICS_JSON), Ok(metrics_request()));
}

#[test]
fn metrics_fixture_maps_every_kind() {
    let metrics =
        decode_metrics(METRICS_JSON, Encoding::Json, &Limits::default()).expect("decodes");
    let base = labels(&[("service", "checkout"), ("environment", "staging")]);
    let mut routed = base.clone();
    routed.insert("http.route".into(), "/cart".into());
    let point =
        |name: &str, unit: &str, value: f64, kind, temporality, labels: &Labels| MetricPoint {
            name: name.into(),
            unit: unit.into(),
            ts_ms: MS0,
            start_ms: Some(MS0 - 60_000),
            value,
            kind,
            temporality,
            labels: labels.clone(),
        };
    let with_quantile = |q: &str| {
        let mut l = base.clone();
        l.insert("quantile".into(), q.into());
        l
    };
    let mut gauge = point("queue.depth", "1", 3.5, MetricKind::Gauge, None, &base);
    gauge.start_ms = None;
    assert_eq!(
        metrics.points,
        vec![
            point(
                "http.server.requests",
                "1",
                17.0,
                MetricKind::Counter,
                Some(Temporality::Cumulative),
                &routed
            ),
            gauge,
            point(
                "rpc.latency",
                "s",
                0.2,
                MetricKind::Gauge,
                None,
                &with_quantile("0.5")
            ),
            point(
                "rpc.latency",
                "s",
                0.9,
                MetricKind::Gauge,
                None,
                &with_quantile("0.99")
            ),
            point(
                "rpc.latency_sum",
                "s",
                2.5,
                MetricKind::Counter,
                Some(Temporality::Cumulative),
                &base
            ),
            point(
                "rpc.latency_count",
                "s",
                10.0,
                MetricKind::Counter,
                Some(Temporality::Cumulative),
                &base
            ),
        ]
    );
    assert_eq!(
        metrics.histograms,
        vec![
            HistogramPoint {
                name: "http.server.duration".into(),
                unit: "ms".into(),
                ts_ms: MS0,
                start_ms: Some(MS0 - 60_000),
                count: 4,
                sum: Some(30.5),
                min: Some(0.5),
                max: Some(20.0),
                bounds: vec![1.0, 10.0, 100.0],
                bucket_counts: vec![1, 2, 1, 0],
                temporality: Temporality::Delta,
                labels: routed,
            },
            HistogramPoint {
                name: "payload.size".into(),
                unit: "By".into(),
                ts_ms: MS0,
                start_ms: Some(MS0 - 60_000),
                count: 6,
                sum: Some(20.0),
                min: None,
                max: None,
                // zero bucket (-inf, 0], then (1, 2] and (2, 4], then an empty overflow
                bounds: vec![0.0, 2.0, 4.0],
                bucket_counts: vec![1, 2, 3, 0],
                temporality: Temporality::Cumulative,
                labels: base,
            },
        ]
    );
    assert_eq!(metrics.rejected, 0);
}

#[test]
fn metrics_protobuf_round_trip_matches_json() {
    let body = metrics_request().encode_to_vec();
    let limits = Limits::default();
    assert_eq!(
        decode_metrics(&body, Encoding::Protobuf, &limits),
        decode_metrics(METRICS_JSON, Encoding::Json, &limits)
    );
}

fn gauge_metric(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

fn metrics_of(metrics: Vec<Metric>) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn number_point(time: u64, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

#[test]
fn invalid_points_rejected_and_counted() {
    let body = metrics_of(vec![
        gauge_metric(
            "g",
            vec![
                number_point(T0, 1.0),
                number_point(T0, f64::NAN),
                number_point(T0, f64::INFINITY),
                number_point(0, 1.0),
                NumberDataPoint {
                    time_unix_nano: T0,
                    ..Default::default()
                },
                // "no recorded value": skipped, not rejected
                NumberDataPoint {
                    time_unix_nano: T0,
                    flags: 1,
                    ..Default::default()
                },
            ],
        ),
        gauge_metric("", vec![number_point(T0, 1.0)]),
        Metric {
            name: "h".into(),
            data: Some(Data::Histogram(Histogram {
                aggregation_temporality: 2,
                data_points: vec![
                    // counts do not add up to count
                    HistogramDataPoint {
                        time_unix_nano: T0,
                        count: 5,
                        bucket_counts: vec![1, 1],
                        explicit_bounds: vec![1.0],
                        ..Default::default()
                    },
                    // bounds not increasing
                    HistogramDataPoint {
                        time_unix_nano: T0,
                        count: 2,
                        bucket_counts: vec![1, 1, 0],
                        explicit_bounds: vec![2.0, 1.0],
                        ..Default::default()
                    },
                    // wrong number of buckets
                    HistogramDataPoint {
                        time_unix_nano: T0,
                        count: 1,
                        bucket_counts: vec![1],
                        explicit_bounds: vec![1.0],
                        ..Default::default()
                    },
                    // count and sum only: fine
                    HistogramDataPoint {
                        time_unix_nano: T0,
                        count: 3,
                        sum: Some(1.5),
                        ..Default::default()
                    },
                ],
            })),
            ..Default::default()
        },
        Metric {
            name: "c".into(),
            data: Some(Data::Sum(Sum {
                aggregation_temporality: 0,
                is_monotonic: true,
                data_points: vec![number_point(T0, 1.0), number_point(T0, 2.0)],
            })),
            ..Default::default()
        },
    ]);
    let metrics = decode_metrics(&body, Encoding::Protobuf, &Limits::default()).expect("decodes");
    assert_eq!(metrics.points.len(), 1);
    assert_eq!(metrics.histograms.len(), 1);
    assert_eq!(metrics.rejected, 4 + 1 + 3 + 2);
    assert_eq!(
        metrics.message.as_deref(),
        Some("metric \"g\": non-finite value NaN")
    );
}

// ---------------------------------------------------------------- logs

const JS_TRACE: &str =
    "TypeError: x is undefined\n    at addToCart (cart.js:10:5)\n    at main (app.js:3:1)";

fn logs_request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(vec![kv("service.name", s("checkout"))]),
            scope_logs: vec![ScopeLogs {
                scope: scope("shop.logger", "2.1.0"),
                log_records: vec![
                    ProtoLog {
                        time_unix_nano: T0,
                        observed_time_unix_nano: T0 + 500_000,
                        severity_number: 10,
                        severity_text: "Information".into(),
                        trace_id: hex("5b8efff798038103d269b633813fc60c"),
                        span_id: hex("eee19b7ec3c1b174"),
                        body: any(s("cart updated")),
                        attributes: vec![
                            kv("string.attribute", s("some string")),
                            kv("boolean.attribute", Value::BoolValue(true)),
                            kv("int.attribute", Value::IntValue(10)),
                            kv("double.attribute", Value::DoubleValue(637.704)),
                            kv(
                                "array.attribute",
                                Value::ArrayValue(ArrayValue {
                                    values: vec![
                                        AnyValue {
                                            value: Some(s("many")),
                                        },
                                        AnyValue {
                                            value: Some(s("values")),
                                        },
                                    ],
                                }),
                            ),
                            kv(
                                "map.attribute",
                                Value::KvlistValue(KeyValueList {
                                    values: vec![kv("some.map.key", s("some value"))],
                                }),
                            ),
                        ],
                        ..Default::default()
                    },
                    ProtoLog {
                        observed_time_unix_nano: T0 + 1_000_000_000,
                        severity_text: "ERROR".into(),
                        body: any(Value::KvlistValue(KeyValueList {
                            values: vec![
                                kv("event", s("payment failed")),
                                kv("attempt", Value::IntValue(2)),
                            ],
                        })),
                        attributes: vec![
                            kv("exception.type", s("TypeError")),
                            kv("exception.message", s("x is undefined")),
                            kv("exception.stacktrace", s(JS_TRACE)),
                        ],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn logs_fixture_json_walks_to_the_hand_built_request() {
    assert_eq!(json::logs_request(LOGS_JSON), Ok(logs_request()));
}

#[test]
fn logs_fixture_maps_records_and_exceptions() {
    let logs = decode_logs(LOGS_JSON, Encoding::Json, &Limits::default()).expect("decodes");
    let service = labels(&[("service", "checkout")]);
    assert_eq!(logs.rejected, 0);
    assert_eq!(
        logs.records,
        vec![
            LogRecord {
                ts_ms: MS0,
                severity: Severity::Info,
                severity_number: 10,
                severity_text: "Information".into(),
                body: "cart updated".into(),
                event_name: None,
                service: "checkout".into(),
                attributes: json!({
                    "string.attribute": "some string",
                    "boolean.attribute": true,
                    "int.attribute": 10,
                    "double.attribute": 637.704,
                    "array.attribute": ["many", "values"],
                    "map.attribute": {"some.map.key": "some value"},
                    "otel.scope.name": "shop.logger",
                    "otel.scope.version": "2.1.0",
                }),
                trace_id: Some("5b8efff798038103d269b633813fc60c".into()),
                span_id: Some("eee19b7ec3c1b174".into()),
                labels: service.clone(),
            },
            LogRecord {
                // time is 0: the observed time stands in
                ts_ms: MS0 + 1000,
                severity: Severity::Error,
                severity_number: 0,
                severity_text: "ERROR".into(),
                body: r#"{"attempt":2,"event":"payment failed"}"#.into(),
                event_name: None,
                service: "checkout".into(),
                attributes: json!({
                    "exception.type": "TypeError",
                    "exception.message": "x is undefined",
                    "exception.stacktrace": JS_TRACE,
                    "otel.scope.name": "shop.logger",
                    "otel.scope.version": "2.1.0",
                }),
                trace_id: None,
                span_id: None,
                labels: service.clone(),
            },
        ]
    );
    assert_eq!(
        logs.errors,
        vec![ErrorRecord {
            ts_ms: MS0 + 1000,
            error_type: "TypeError".into(),
            message: "x is undefined".into(),
            stacktrace: vec![
                StackFrame {
                    function: "addToCart".into(),
                    file: "cart.js".into(),
                    line: Some(10),
                    column: Some(5)
                },
                StackFrame {
                    function: "main".into(),
                    file: "app.js".into(),
                    line: Some(3),
                    column: Some(1)
                },
            ],
            raw_stacktrace: Some(JS_TRACE.into()),
            service: "checkout".into(),
            trace_id: None,
            span_id: None,
            labels: service,
        }]
    );
}

#[test]
fn logs_protobuf_round_trip_matches_json() {
    let body = logs_request().encode_to_vec();
    let limits = Limits::default();
    assert_eq!(
        decode_logs(&body, Encoding::Protobuf, &limits),
        decode_logs(LOGS_JSON, Encoding::Json, &limits)
    );
}

#[test]
fn logs_without_any_timestamp_are_rejected() {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    ProtoLog {
                        body: any(s("kept")),
                        time_unix_nano: T0,
                        ..Default::default()
                    },
                    ProtoLog {
                        body: any(s("dropped")),
                        ..Default::default()
                    },
                    // invalid ids on a log are dropped, not the record
                    ProtoLog {
                        time_unix_nano: T0,
                        trace_id: vec![0; 16],
                        span_id: vec![1; 3],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let logs = decode_logs(
        &request.encode_to_vec(),
        Encoding::Protobuf,
        &Limits::default(),
    )
    .expect("decodes");
    assert_eq!(logs.records.len(), 2);
    assert_eq!(logs.records[1].trace_id, None);
    assert_eq!(logs.records[1].span_id, None);
    assert_eq!(logs.rejected, 1);
    assert!(logs.message.is_some_and(|m| m.contains("timestamp")));
}

// ---------------------------------------------------------------- limits and malformed input

#[test]
fn too_many_items_refuses_the_request() {
    let limits = Limits {
        max_items: 3,
        ..Limits::default()
    };
    let spans = (1..=4u8)
        .map(|i| {
            span(
                "0102030405060708090a0b0c0d0e0f10",
                &format!("00000000000000{i:02x}"),
                T0,
                T0,
            )
        })
        .collect();
    let body = spans_request(spans).encode_to_vec();
    assert_eq!(
        decode_traces(&body, Encoding::Protobuf, &limits),
        Err(DecodeError::TooManyItems {
            kind: "spans",
            count: 4,
            max: 3
        })
    );
    let points = (0..4).map(|_| number_point(T0, 1.0)).collect();
    assert!(matches!(
        decode_metrics(
            &metrics_of(vec![gauge_metric("g", points)]),
            Encoding::Protobuf,
            &limits
        ),
        Err(DecodeError::TooManyItems {
            kind: "data points",
            count: 4,
            ..
        })
    ));
}

#[test]
fn item_count_is_checked_before_decoding() {
    // 100 000 empty spans: 2 bytes each on the wire, ~300 bytes each once decoded.
    let mut scope_spans = Vec::new();
    for _ in 0..100_000 {
        scope_spans.extend_from_slice(&[0x12, 0x00]);
    }
    let mut resource_spans = vec![0x12];
    prost::encoding::encode_varint(scope_spans.len() as u64, &mut resource_spans);
    resource_spans.extend_from_slice(&scope_spans);
    let mut body = vec![0x0a];
    prost::encoding::encode_varint(resource_spans.len() as u64, &mut body);
    body.extend_from_slice(&resource_spans);
    assert_eq!(
        decode_traces(&body, Encoding::Protobuf, &Limits::default()),
        Err(DecodeError::TooManyItems {
            kind: "spans",
            count: 100_000,
            max: 10_000
        })
    );
    // The same count on the JSON path, and for logs.
    let spans: Vec<_> = (0..10_001).map(|_| json!({})).collect();
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
    assert!(matches!(
        decode_traces(
            body.to_string().as_bytes(),
            Encoding::Json,
            &Limits::default()
        ),
        Err(DecodeError::TooManyItems { count: 10_001, .. })
    ));
    let records: Vec<_> = (0..3).map(|_| json!({"timeUnixNano": "1"})).collect();
    let body = json!({"resource_logs": [{"scope_logs": [{"log_records": records}]}]});
    let limits = Limits {
        max_items: 2,
        ..Limits::default()
    };
    assert_eq!(
        decode_logs(body.to_string().as_bytes(), Encoding::Json, &limits),
        Err(DecodeError::TooManyItems {
            kind: "log records",
            count: 3,
            max: 2
        })
    );
    let points = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "a", "gauge": {"dataPoints": [{}, {}]}},
        {"name": "b", "exponentialHistogram": {"dataPoints": [{}]}}
    ]}]}]});
    assert_eq!(
        decode_metrics(points.to_string().as_bytes(), Encoding::Json, &limits),
        Err(DecodeError::TooManyItems {
            kind: "data points",
            count: 3,
            max: 2
        })
    );
}

#[test]
fn huge_attribute_lists_and_long_strings_are_cut() {
    let mut s1 = span(
        "0102030405060708090a0b0c0d0e0f10",
        "0000000000000001",
        T0,
        T0,
    );
    s1.attributes = (0..10_000)
        .map(|i| kv(&format!("k{i:05}"), Value::IntValue(i)))
        .collect();
    s1.name = "é".repeat(5000);
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(
                (0..1000)
                    .map(|i| kv(&format!("r{i:04}"), s(&"v".repeat(1000))))
                    .collect(),
            ),
            scope_spans: vec![ScopeSpans {
                spans: vec![s1],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let limits = Limits {
        max_attributes: 50,
        max_resource_labels: 5,
        max_string_len: 101,
        max_label_len: 30,
        ..Limits::default()
    };
    let traces =
        decode_traces(&request.encode_to_vec(), Encoding::Protobuf, &limits).expect("decodes");
    let span = &traces.spans[0];
    assert_eq!(span.attributes.as_object().map(|o| o.len()), Some(50));
    assert_eq!(span.attributes["k00049"], json!(49));
    assert_eq!(span.name.len(), 100); // 50 two-byte characters, cut on a boundary
    assert_eq!(span.labels.len(), 5 + 1); // plus service
    assert_eq!(span.labels.get("r0000").map(String::len), Some(30));
    assert!(span.labels.values().all(|v| v.len() <= 30));
}

#[test]
fn deep_nesting_is_flattened_to_null() {
    // 30 nested arrays: 90 JSON levels, inside serde_json's limit of 128.
    let mut value = json!({"stringValue": "deep"});
    for _ in 0..30 {
        value = json!({"arrayValue": {"values": [value]}});
    }
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1", "body": value.clone(),
        "attributes": [{"key": "deep", "value": value}]
    }]}]}]});
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let logs = decode_logs(body.to_string().as_bytes(), Encoding::Json, &limits).expect("decodes");
    assert_eq!(logs.records[0].attributes["deep"], json!([[[null]]]));
    assert_eq!(logs.records[0].body, "[[[null]]]");

    // Nesting beyond serde_json's recursion limit is malformed, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        decode_logs(deep.as_bytes(), Encoding::Json, &limits),
        Err(DecodeError::Json(_))
    ));
}

#[test]
fn deep_protobuf_nesting_is_malformed() {
    // AnyValue{array_value{values[AnyValue{...}]}} nested past prost's recursion limit (100).
    let mut value = AnyValue {
        value: Some(s("x")),
    };
    for _ in 0..200 {
        value = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![ProtoLog {
                    time_unix_nano: T0,
                    body: Some(value),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert!(matches!(
        decode_logs(
            &request.encode_to_vec(),
            Encoding::Protobuf,
            &Limits::default()
        ),
        Err(DecodeError::Protobuf(_))
    ));
}

#[test]
fn malformed_bodies_fail_with_a_reason() {
    let limits = Limits::default();
    assert!(matches!(
        decode_traces(b"\xff\xff\xff", Encoding::Protobuf, &limits),
        Err(DecodeError::Protobuf(_))
    ));
    assert!(matches!(
        decode_metrics(b"{\"resourceMetrics\": [", Encoding::Json, &limits),
        Err(DecodeError::Json(_))
    ));
    assert_eq!(
        decode_logs(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#,
            Encoding::Json,
            &limits
        )
        .map_err(|e| e.to_string()),
        Err("malformed json: field `timeUnixNano`: expected an integer, got a string".into())
    );
    // An empty request is valid and holds nothing.
    assert_eq!(
        decode_traces(b"", Encoding::Protobuf, &limits),
        Ok(Traces::default())
    );
    assert_eq!(
        decode_traces(b"{}", Encoding::Json, &limits),
        Ok(Traces::default())
    );
}
