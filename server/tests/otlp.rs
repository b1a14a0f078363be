//! OTLP/HTTP through the router (`tower::ServiceExt::oneshot`): requests built with the prost
//! types of the `otlp` crate (or OTLP JSON), read back through the query API.

mod common;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use osprey::config::Config;
use osprey::Osprey;
use otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp::proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
use otlp::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use otlp::proto::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use otlp::proto::resource::v1::Resource;
use otlp::proto::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use tower::ServiceExt;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";

/// `google.rpc.Status` as a refused request carries it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

struct Harness {
    osprey: Osprey,
    router: Router,
    dir: tempfile::TempDir,
}

async fn start_with(tune: impl FnOnce(&mut Config)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    tune(&mut config);
    let osprey = Osprey::start(config).await.expect("start");
    let router = osprey.router();
    Harness {
        osprey,
        router,
        dir,
    }
}

async fn start() -> Harness {
    start_with(|_| {}).await
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn post(
    h: &Harness,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    gzip: bool,
    key: Option<&str>,
) -> Answer {
    let mut req = Request::post(path).header(header::CONTENT_TYPE, content_type);
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let body = if gzip {
        req = req.header(header::CONTENT_ENCODING, "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        enc.finish().unwrap()
    } else {
        body
    };
    send(h, req.body(Body::from(body)).unwrap()).await
}

async fn export(h: &Harness, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
    post(h, path, content_type, body, false, Some(common::INGEST_KEY)).await
}

async fn send(h: &Harness, req: Request<Body>) -> Answer {
    let resp = h.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(h: &Harness, uri: &str) -> Value {
    let a = send(h, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&a.body)
    );
    a.json()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn nanos(ms: i64) -> u64 {
    ms as u64 * 1_000_000
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", service),
            kv("deployment.environment.name", "prod"),
            kv("host.name", "web-1"),
        ],
        ..Default::default()
    })
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn spans_request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn checkout_spans(start: i64) -> Vec<Span> {
    let root = Span {
        trace_id: hex(TRACE_ID),
        span_id: hex("eee19b7ec3c1b174"),
        name: "POST /checkout".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: nanos(start),
        end_time_unix_nano: nanos(start + 120),
        status: Some(Status {
            code: status::StatusCode::Error as i32,
            message: "payment failed".into(),
        }),
        attributes: vec![kv("http.route", "/checkout")],
        events: vec![span::Event {
            name: "exception".into(),
            time_unix_nano: nanos(start + 100),
            attributes: vec![
                kv("exception.type", "CardDeclined"),
                kv("exception.message", "card 4242 declined"),
                kv(
                    "exception.stacktrace",
                    "Traceback (most recent call last):\n  File \"/srv/shop/views.py\", line 20, in checkout\n    pay(cart)\n  File \"/srv/shop/payments.py\", line 7, in pay\n    raise CardDeclined()\nCardDeclined: card 4242 declined",
                ),
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let child = Span {
        trace_id: hex(TRACE_ID),
        span_id: hex("0102030405060708"),
        parent_span_id: hex("eee19b7ec3c1b174"),
        name: "SELECT carts".into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: nanos(start + 5),
        end_time_unix_nano: nanos(start + 25),
        ..Default::default()
    };
    vec![root, child]
}

#[tokio::test]
async fn traces_in_protobuf_are_stored_with_their_exceptions() {
    let h = start().await;
    let start = now_ms() - 60_000;
    let body = spans_request("shop", checkout_spans(start)).encode_to_vec();
    let a = export(&h, "/v1/traces", PROTOBUF, body).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.content_type(), PROTOBUF);
    let response = ExportTraceServiceResponse::decode(a.body.as_slice()).unwrap();
    assert_eq!(response.partial_success, None);

    let trace = get(&h, &format!("/api/v1/traces/{TRACE_ID}")).await;
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{trace}");
    let root = spans
        .iter()
        .find(|s| s["name"] == "POST /checkout")
        .unwrap();
    assert_eq!(root["service"], "shop");
    assert_eq!(root["status"], "error");
    assert_eq!(root["start"], start);
    assert_eq!(root["duration_ms"], 120.0);
    assert_eq!(root["attributes"]["span.kind"], "server");
    assert_eq!(root["attributes"]["http.route"], "/checkout");
    let child = spans.iter().find(|s| s["name"] == "SELECT carts").unwrap();
    assert_eq!(child["parent_span_id"], "eee19b7ec3c1b174");
    assert_eq!(child["status"], "unset");
    assert_eq!(child["attributes"]["span.kind"], "client");
    let errors = trace["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{trace}");
    assert_eq!(errors[0]["span_id"], "eee19b7ec3c1b174");
    // Innermost frame first, although Python prints it last.
    assert_eq!(errors[0]["stacktrace"][0]["function"], "pay");

    let groups = get(&h, "/api/v1/errors").await;
    let group = &groups["errors"][0];
    assert_eq!(group["type"], "CardDeclined", "{groups}");
    assert_eq!(group["service"], "shop");
    assert_eq!(group["culprit"], "pay (/srv/shop/payments.py)");
}

#[tokio::test]
async fn invalid_spans_are_reported_as_partial_success() {
    let h = start().await;
    let start = now_ms() - 60_000;
    let mut spans = checkout_spans(start);
    spans[1].trace_id = vec![0; 16];
    let a = export(
        &h,
        "/v1/traces",
        PROTOBUF,
        spans_request("shop", spans).encode_to_vec(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let partial = ExportTraceServiceResponse::decode(a.body.as_slice())
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("trace id"), "{partial:?}");
    let trace = get(&h, &format!("/api/v1/traces/{TRACE_ID}")).await;
    assert_eq!(trace["spans"].as_array().unwrap().len(), 1);

    // The same in JSON: the answer is JSON too.
    let body = json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
             "name": "GET /cart", "kind": 2,
             "startTimeUnixNano": nanos(start).to_string(),
             "endTimeUnixNano": nanos(start + 3).to_string()},
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "",
             "name": "broken", "startTimeUnixNano": nanos(start).to_string()}]}]}]});
    let a = export(&h, "/v1/traces", JSON, body.to_string().into_bytes()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type(), JSON);
    let answer = a.json();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1", "{answer}");
    let trace = get(&h, "/api/v1/traces/0af7651916cd43dd8448eb211c80319c").await;
    assert_eq!(trace["spans"][0]["attributes"]["span.kind"], "server");
}

#[tokio::test]
async fn logs_in_gzipped_json_are_stored_and_exceptions_grouped() {
    let h = start().await;
    let ts = now_ms() - 30_000;
    let body = json!({"resourceLogs": [{"resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "billing"}}]},
    "scopeLogs": [{"scope": {"name": "billing.logger"}, "logRecords": [
        {"timeUnixNano": nanos(ts).to_string(), "severityNumber": 13, "severityText": "WARNING",
         "body": {"stringValue": "card expires soon"},
         "traceId": TRACE_ID, "spanId": "eee19b7ec3c1b174",
         "attributes": [{"key": "customer", "value": {"stringValue": "c-9"}}]},
        {"timeUnixNano": nanos(ts + 1).to_string(), "severityText": "ERROR",
         "body": {"stringValue": "charge failed"},
         "attributes": [
            {"key": "exception.type", "value": {"stringValue": "TimeoutError"}},
            {"key": "exception.message", "value": {"stringValue": "gateway timed out"}}]}
    ]}]}]});
    let a = post(
        &h,
        "/v1/logs",
        JSON,
        body.to_string().into_bytes(),
        true,
        Some(common::INGEST_KEY),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.content_type(), JSON);
    assert_eq!(a.json(), json!({}));

    let logs = get(&h, "/api/v1/logs?service=billing").await;
    let logs = logs["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let warn = logs
        .iter()
        .find(|l| l["body"] == "card expires soon")
        .unwrap();
    assert_eq!(warn["severity"], "warn");
    assert_eq!(warn["timestamp"], ts);
    assert_eq!(warn["trace_id"], TRACE_ID);
    assert_eq!(warn["attributes"]["customer"], "c-9");
    assert_eq!(warn["attributes"]["otel.scope.name"], "billing.logger");
    let error = logs.iter().find(|l| l["body"] == "charge failed").unwrap();
    assert_eq!(error["severity"], "error");
    let errors = get(&h, "/api/v1/logs?service=billing&severity=error").await;
    assert_eq!(errors["logs"].as_array().unwrap().len(), 1);

    let groups = get(&h, "/api/v1/errors").await;
    assert_eq!(groups["errors"][0]["type"], "TimeoutError", "{groups}");
    assert_eq!(groups["errors"][0]["message"], "gateway timed out");
}

fn metrics_request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("shop"),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The single value of a query_range answer's one series.
async fn query_points(h: &Harness, query: &str) -> Vec<(i64, f64)> {
    let answer = get(h, &format!("/api/v1/query_range?{query}")).await;
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{query}: {answer}");
    series[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

#[tokio::test]
async fn histograms_answer_quantiles_and_delta_sums_rates() {
    let h = start().await;
    let ts = (now_ms() - 120_000) / 10_000 * 10_000;
    // 10 ≤ 10 ms, 60 in (10, 50], 20 in (50, 100], 10 in (100, 500]: p95 is in (100, 500],
    // p50 in (10, 50].
    let histogram = Metric {
        name: "checkout.duration".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("route", "/pay")],
                start_time_unix_nano: nanos(ts - 10_000),
                time_unix_nano: nanos(ts),
                count: 100,
                sum: Some(4_000.0),
                bucket_counts: vec![10, 60, 20, 10, 0],
                explicit_bounds: vec![10.0, 50.0, 100.0, 500.0],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let delta = |i: i64| NumberDataPoint {
        start_time_unix_nano: nanos(ts + (i - 1) * 10_000),
        time_unix_nano: nanos(ts + i * 10_000),
        value: Some(number_data_point::Value::AsInt(50)),
        ..Default::default()
    };
    let orders = Metric {
        name: "orders".into(),
        data: Some(metric::Data::Sum(Sum {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
            data_points: vec![delta(0), delta(1), delta(2)],
        })),
        ..Default::default()
    };
    let a = export(
        &h,
        "/v1/metrics",
        PROTOBUF,
        metrics_request(vec![histogram, orders]).encode_to_vec(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(a.body.is_empty(), "no partial success: {:?}", a.body);

    let window = format!("from={}&to={}&step=10s", ts - 10_000, ts + 30_000);
    let p95 = query_points(&h, &format!("metric=checkout.duration&agg=p95&{window}")).await;
    assert_eq!(p95.len(), 1, "{p95:?}");
    assert!(p95[0].1 > 100.0 && p95[0].1 <= 500.0, "p95 {p95:?}");
    let p50 = query_points(&h, &format!("metric=checkout.duration&agg=p50&{window}")).await;
    assert!(p50[0].1 > 10.0 && p50[0].1 <= 50.0, "p50 {p50:?}");
    let count = query_points(
        &h,
        &format!("metric=checkout.duration.count&agg=max&{window}"),
    )
    .await;
    assert_eq!(count[0].1, 100.0);
    let sum = query_points(
        &h,
        &format!("metric=checkout.duration.sum&agg=max&{window}"),
    )
    .await;
    assert_eq!(sum[0].1, 4_000.0);

    // 50 every 10 s is 5 per second.
    let rate = query_points(&h, &format!("metric=orders&agg=rate&{window}")).await;
    assert!(rate.len() >= 2, "{rate:?}");
    assert!(rate.iter().all(|(_, r)| (r - 5.0).abs() < 1e-9), "{rate:?}");
    let totals = query_points(&h, &format!("metric=orders&agg=max&{window}")).await;
    let totals: Vec<f64> = totals.iter().map(|p| p.1).collect();
    assert_eq!(totals, vec![50.0, 100.0, 150.0]);

    // A retried export is not counted twice, and says so.
    let retry = Metric {
        name: "orders".into(),
        data: Some(metric::Data::Sum(Sum {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
            data_points: vec![delta(2)],
        })),
        ..Default::default()
    };
    let a = export(
        &h,
        "/v1/metrics",
        PROTOBUF,
        metrics_request(vec![retry]).encode_to_vec(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let answer = otlp::proto::collector::metrics::v1::ExportMetricsServiceResponse::decode(
        a.body.as_slice(),
    )
    .unwrap();
    assert_eq!(answer.partial_success.unwrap().rejected_data_points, 1);
    let totals = query_points(&h, &format!("metric=orders&agg=max&{window}")).await;
    assert_eq!(totals.last().unwrap().1, 150.0);
}

#[tokio::test]
async fn refusals_carry_a_google_rpc_status() {
    let h = start().await;
    let body = spans_request("shop", checkout_spans(now_ms())).encode_to_vec();

    for key in [None, Some("not-a-key")] {
        let a = post(&h, "/v1/traces", PROTOBUF, body.clone(), false, key).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.content_type(), PROTOBUF);
        let status = RpcStatus::decode(a.body.as_slice()).unwrap();
        assert_eq!(status.code, 16, "{status:?}");
    }

    let a = export(
        &h,
        "/v1/metrics",
        PROTOBUF,
        b"\xff\xff\xff garbage".to_vec(),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let status = RpcStatus::decode(a.body.as_slice()).unwrap();
    assert_eq!(status.code, 3);
    assert!(status.message.contains("malformed protobuf"), "{status:?}");

    let a = export(&h, "/v1/logs", JSON, b"{\"resourceLogs\": [".to_vec()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.content_type(), JSON);
    assert_eq!(a.json()["code"], 3);

    let a = export(&h, "/v1/traces", "text/plain", body.clone()).await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(RpcStatus::decode(a.body.as_slice()).unwrap().code, 3);

    // Not gzip although it says so.
    let mut req = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, PROTOBUF)
        .header(header::CONTENT_ENCODING, "gzip")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", common::INGEST_KEY),
        );
    req = req.header(header::ORIGIN, "https://shop.example");
    let a = send(&h, req.body(Body::from(body)).unwrap()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
        "*"
    );

    // Browsers' preflight is answered for the OTLP paths too.
    let preflight = Request::options("/v1/traces")
        .header(header::ORIGIN, "https://shop.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let a = send(&h, preflight).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn native_limits_apply() {
    let h = start_with(|c| {
        c.ingest.max_items = 1;
        c.ingest.max_body_bytes = 4096;
        c.ingest.max_decompressed_bytes = 8192;
    })
    .await;
    let body = spans_request("shop", checkout_spans(now_ms())).encode_to_vec();
    let a = export(&h, "/v1/traces", PROTOBUF, body).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    let status = RpcStatus::decode(a.body.as_slice()).unwrap();
    assert_eq!(status.code, 8);
    assert!(status.message.contains("too many spans"), "{status:?}");

    let big_log = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: nanos(now_ms()),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("x".repeat(20_000))),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let a = export(&h, "/v1/logs", PROTOBUF, big_log.clone()).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Compressed it fits the body limit, but not the decompressed one.
    let a = post(
        &h,
        "/v1/logs",
        PROTOBUF,
        big_log,
        true,
        Some(common::INGEST_KEY),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(RpcStatus::decode(a.body.as_slice())
        .unwrap()
        .message
        .contains("decompressed"));
}

#[tokio::test]
async fn one_key_feeds_at_most_its_budget_of_series() {
    let h = start_with(|c| c.ingest.max_series_per_key = 2).await;
    let gauge = |disks: &[&str]| {
        let points = disks
            .iter()
            .map(|disk| NumberDataPoint {
                time_unix_nano: nanos(now_ms()),
                attributes: vec![kv("disk", disk)],
                value: Some(number_data_point::Value::AsDouble(1.0)),
                ..Default::default()
            })
            .collect();
        let cpu = Metric {
            name: "disk.used".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: points,
            })),
            ..Default::default()
        };
        metrics_request(vec![cpu]).encode_to_vec()
    };
    let a = export(&h, "/v1/metrics", PROTOBUF, gauge(&["a", "b", "c"])).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers[header::RETRY_AFTER], "60");
    let status = RpcStatus::decode(a.body.as_slice()).unwrap();
    assert!(status.message.contains("limit is 2"), "{status:?}");
    let a = export(&h, "/v1/metrics", PROTOBUF, gauge(&["a", "b"])).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let a = export(&h, "/v1/metrics", PROTOBUF, gauge(&["c"])).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let a = export(&h, "/v1/metrics", PROTOBUF, gauge(&["b"])).await;
    assert_eq!(a.status, StatusCode::OK, "the key's own series still pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_with_retry_after() {
    let h = Arc::new(start_with(|c| c.ingest.queue_depth = 1).await);
    // The writer blocks on the database lock, one request waits in the queue, the rest are
    // refused.
    let mut lock = lock_database(h.dir.path()).await;
    let body = spans_request("shop", checkout_spans(now_ms() - 1_000)).encode_to_vec();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (h, body) = (h.clone(), body.clone());
            tokio::spawn(async move { export(&h, "/v1/traces", PROTOBUF, body).await })
        })
        .collect();
    let ingest = &h.osprey.state.ingest;
    while ingest.queued() < 1
        || tasks.iter().filter(|t| t.is_finished()).count() + ingest.queued() + ingest.in_flight()
            < 20
    {
        tokio::task::yield_now().await;
    }
    let held = ingest.in_flight() + ingest.queued();
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let mut refused = 0;
    for task in tasks {
        let a = task.await.unwrap();
        if a.status != StatusCode::OK {
            assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(a.headers.get(header::RETRY_AFTER).unwrap(), "1");
            assert_eq!(a.content_type(), PROTOBUF);
            assert_eq!(RpcStatus::decode(a.body.as_slice()).unwrap().code, 8);
            refused += 1;
        }
    }
    assert_eq!(refused, 20 - held);
    assert!(refused > 0, "the queue never filled");
}

async fn lock_database(dir: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let url = format!("sqlite://{}", dir.join("osprey.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}
