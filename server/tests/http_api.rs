//! The HTTP API through the router, without a socket (`tower::ServiceExt::oneshot`).

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use osprey::config::Config;
use osprey::Osprey;
use serde_json::{json, Value};
use std::io::Write;
use tower::ServiceExt;

struct Harness {
    osprey: Osprey,
    router: Router,
    _dir: tempfile::TempDir,
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
        _dir: dir,
    }
}

async fn start() -> Harness {
    start_with(|_| {}).await
}

fn ingest_request(body: impl Into<Body>) -> Request<Body> {
    Request::post("/api/v1/ingest")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", common::INGEST_KEY),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, value)
}

async fn get(router: &Router, uri: &str) -> (StatusCode, Value) {
    let (s, _, v) = send(router, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, v)
}

fn metric_body(name: &str, points: &[(i64, f64)]) -> String {
    let metrics: Vec<Value> = points.iter().map(|(t, v)| json!({"timestamp": t, "name": name, "value": v, "labels": {"route": "/cart"}})).collect();
    json!({"context": {"service": "api"}, "metrics": metrics}).to_string()
}

async fn stored_samples(h: &Harness) -> i64 {
    h.osprey.state.store.counts().await.unwrap().samples
}

/// Opens a server-sent events stream, checking it is one.
async fn open_stream(router: &Router, uri: &str) -> axum::response::Response {
    let resp = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    resp
}

/// The data of the first server-sent event named `event` on a stream, within 10 s.
async fn first_event(resp: axum::response::Response, event: &str) -> Value {
    let mut body = resp.into_body();
    let marker = format!("event: {event}");
    let text = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut text = String::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
                if text.contains(&marker) && text.contains("\n\n") {
                    return text;
                }
            }
        }
        text
    })
    .await
    .unwrap_or_else(|_| panic!("an {event} event within 10 s"));
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    serde_json::from_str(data).unwrap()
}

fn assert_error(
    status: StatusCode,
    body: &Value,
    want: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    match field {
        Some(f) => assert_eq!(body["error"]["field"], f, "{body}"),
        None => assert!(body["error"].get("field").is_none(), "{body}"),
    }
}

#[tokio::test]
async fn ingest_then_query_range() {
    let h = start().await;
    let now = common::now_ms();
    let points: Vec<(i64, f64)> = (0..10)
        .map(|i| (now - 60_000 + i * 5_000, i as f64))
        .collect();
    let (status, _, body) = send(
        &h.router,
        ingest_request(metric_body("http.latency_ms", &points)),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        body,
        json!({"accepted": {"events": 0, "metrics": 10, "errors": 0, "spans": 0, "security": 0}})
    );

    let (status, body) = get(
        &h.router,
        "/api/v1/query_range?metric=http.latency_ms&from=now-5m&to=now&step=1m&agg=count",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["metric"], "http.latency_ms");
    let total: f64 = series[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .sum();
    assert_eq!(
        total, 10.0,
        "count over the range counts the samples stored"
    );

    let (_, body) = get(&h.router, "/api/v1/query_range?metric=http.latency_ms&from=now-5m&step=5m&agg=max&group_by=service&filter=route:/cart").await;
    assert_eq!(body["series"][0]["labels"], json!({"service": "api"}));
    // Buckets align to multiples of the step, so the range may straddle two of them.
    let max = body["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(max, 9.0, "{body}");
    let (_, body) = get(
        &h.router,
        "/api/v1/query_range?metric=http.latency_ms&filter=route:/other",
    )
    .await;
    assert_eq!(body["series"], json!([]));

    let (status, body) = get(&h.router, "/api/v1/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["metrics"][0],
        json!({"name": "http.latency_ms", "kind": "gauge", "labels": ["route", "service"]})
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let h = start().await;
    let body = metric_body("m", &[(1, 1.0)]);
    let req = Request::post("/api/v1/ingest")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    let (s, _, v) = send(&h.router, req).await;
    assert_error(s, &v, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let req = Request::post("/api/v1/ingest")
        .header(header::AUTHORIZATION, "Bearer wrong")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    let (s, _, v) = send(&h.router, req).await;
    assert_error(s, &v, StatusCode::UNAUTHORIZED, "unauthorized", None);
    // The admin token is not an ingest key.
    let req = Request::post("/api/v1/ingest")
        .header(header::AUTHORIZATION, "Bearer test-admin-token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(send(&h.router, req).await.0, StatusCode::UNAUTHORIZED);
    // Browsers may pass the key in the query string.
    let req = Request::post(format!("/api/v1/ingest?key={}", common::INGEST_KEY))
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(send(&h.router, req).await.0, StatusCode::ACCEPTED);
    assert_eq!(stored_samples(&h).await, 1);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_precise_error_and_stores_nothing() {
    let h = start().await;
    let long = "v".repeat(300);
    let labels: serde_json::Map<String, Value> =
        (0..40).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(String, StatusCode, &str, Option<&str>)> = vec![
        ("{\"metrics\": [".into(), StatusCode::BAD_REQUEST, "invalid_input", None),
        ("[1, 2]".into(), StatusCode::BAD_REQUEST, "invalid_input", None),
        (json!({"metrics": [{"timestamp": 1, "name": "a", "value": 1}, {"timestamp": 1, "name": "a", "value": "high"}]}).to_string(), StatusCode::BAD_REQUEST, "invalid_input", Some("metrics[1].value")),
        (r#"{"metrics": [{"timestamp": 1, "name": "a", "value": NaN}]}"#.into(), StatusCode::BAD_REQUEST, "invalid_input", None),
        (r#"{"metrics": [{"timestamp": 1, "name": "a", "value": 1e400}]}"#.into(), StatusCode::BAD_REQUEST, "invalid_input", Some("metrics[0].value")),
        (json!({"metrics": [{"timestamp": 1, "name": "a", "value": 1, "labels": labels}]}).to_string(), StatusCode::BAD_REQUEST, "invalid_input", Some("metrics[0].labels")),
        (json!({"metrics": [{"timestamp": 1, "name": "a", "value": 1, "labels": {"k": long}}]}).to_string(), StatusCode::BAD_REQUEST, "invalid_input", Some("metrics[0].labels.k")),
        (json!({"events": [{"timestamp": 1, "name": "ok"}], "metrics": [{"timestamp": -5, "name": "a", "value": 1}]}).to_string(), StatusCode::BAD_REQUEST, "invalid_input", Some("metrics[0].timestamp")),
        (json!({"metrics": [{"timestamp": 1, "name": "", "value": 1}]}).to_string(), StatusCode::BAD_REQUEST, "invalid_input", Some("metrics[0].name")),
    ];
    for (body, status, code, field) in cases {
        let (s, _, v) = send(&h.router, ingest_request(body.clone())).await;
        assert_error(s, &v, status, code, field);
    }
    let c = h.osprey.state.store.counts().await.unwrap();
    assert_eq!(
        (c.samples, c.events, c.series),
        (0, 0, 0),
        "nothing of a refused batch is stored"
    );

    // Unknown fields are ignored (documented in the README).
    let (s, _, v) = send(&h.router, ingest_request(json!({"v2": true, "metrics": [{"timestamp": 1, "name": "a", "value": 1, "unit": "ms"}]}).to_string())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn bodies_are_bounded_before_and_after_decompression() {
    let h = start_with(|c| {
        c.ingest.max_body_bytes = 64 * 1024;
        c.ingest.max_decompressed_bytes = 256 * 1024;
    })
    .await;
    let big = format!(
        "{{\"events\": [{{\"timestamp\": 1, \"name\": \"{}\"}}]}}",
        "x".repeat(100 * 1024)
    );
    let (s, _, v) = send(&h.router, ingest_request(big)).await;
    assert_error(
        s,
        &v,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );

    // A gzip bomb: a few kilobytes that inflate far past the limit.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(b"{\"events\": [").unwrap();
    enc.write_all(&vec![b' '; 20 * 1024 * 1024]).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let mut req = ingest_request(bomb);
    req.headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    let (s, _, v) = send(&h.router, req).await;
    assert_error(
        s,
        &v,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );

    // Honest gzip works.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(metric_body("gz", &[(1, 1.0), (2, 2.0)]).as_bytes())
        .unwrap();
    let mut req = ingest_request(enc.finish().unwrap());
    req.headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    assert_eq!(send(&h.router, req).await.0, StatusCode::ACCEPTED);

    let mut req = ingest_request(metric_body("m", &[(1, 1.0)]));
    req.headers_mut()
        .insert(header::CONTENT_ENCODING, "br".parse().unwrap());
    let (s, _, v) = send(&h.router, req).await;
    assert_error(
        s,
        &v,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_encoding",
        None,
    );
    let mut req = ingest_request(metric_body("m", &[(1, 1.0)]));
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/xml".parse().unwrap());
    let (s, _, v) = send(&h.router, req).await;
    assert_error(
        s,
        &v,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    );
    assert_eq!(stored_samples(&h).await, 2);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn query_parameters_are_validated() {
    let h = start().await;
    for (uri, field) in [
        ("/api/v1/query_range", "metric"),
        ("/api/v1/query_range?metric=m&agg=median", "agg"),
        ("/api/v1/query_range?metric=m&from=yesterday", "from"),
        ("/api/v1/query_range?metric=m&from=now&to=now-1h", "to"),
        ("/api/v1/query_range?metric=m&from=now-30d&step=1s", "step"),
        ("/api/v1/query_range?metric=m&filter=service", "filter"),
        ("/api/v1/live?agg=avg", "metric"),
        ("/api/v1/live/panels?q=nope", "q"),
    ] {
        let (s, v) = get(&h.router, uri).await;
        assert_error(
            s,
            &v,
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            Some(field),
        );
    }
    let (s, v) = get(&h.router, "/api/v1/nothing").await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found", None);
    h.osprey.shutdown().await;
}

/// Holds SQLite's write lock from outside, so the batch writer blocks and requests queue up.
async fn lock_database(dir: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("osprey.db").display()))
            .await
            .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_and_waiting_requests_commit_together() {
    let h = start_with(|c| c.ingest.queue_depth = 3).await;
    let mut lock = lock_database(h._dir.path()).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let router = h.router.clone();
            let req = ingest_request(metric_body("q", &[(i + 1, i as f64)]));
            tokio::spawn(async move { send(&router, req).await })
        })
        .collect();
    // The writer holds some requests (blocked on the lock), three wait in the queue, the rest are refused.
    let ingest = &h.osprey.state.ingest;
    while ingest.queued() < 3
        || tasks.iter().filter(|t| t.is_finished()).count() + ingest.queued() + ingest.in_flight()
            < 20
    {
        tokio::task::yield_now().await;
    }
    let held = ingest.in_flight() + ingest.queued();
    let commits = |h: &Harness| -> u64 {
        let text = h.osprey.state.telemetry.render(&osprey::telemetry::Gauges {
            queue_depth: 0,
            hot_series: 0,
        });
        text.lines()
            .find_map(|l| l.strip_prefix("osprey_ingest_commits_total "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = commits(&h);
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let (mut accepted, mut refused) = (0, 0);
    for task in tasks {
        let (s, headers, v) = task.await.unwrap();
        if s == StatusCode::ACCEPTED {
            accepted += 1;
        } else {
            assert_error(s, &v, StatusCode::TOO_MANY_REQUESTS, "overloaded", None);
            assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "1");
            refused += 1;
        }
    }
    assert_eq!((accepted, refused), (held, 20 - held));
    assert_eq!(
        stored_samples(&h).await,
        held as i64,
        "every acknowledged request is stored"
    );
    let used = commits(&h) - before;
    assert_eq!(
        used, 2,
        "the blocked requests commit in one transaction, the three queued ones in another"
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn operations_endpoints() {
    let h = start().await;
    let (s, v) = get(&h.router, "/healthz").await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, v) = get(&h.router, "/readyz").await;
    assert_eq!((s, v["storage"].as_str()), (StatusCode::OK, Some("sqlite")));
    send(&h.router, ingest_request(metric_body("m", &[(1, 1.0)]))).await;
    let (s, v) = get(&h.router, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let text = v.as_str().unwrap();
    for needle in [
        "osprey_ingest_items_total{kind=\"metrics\"} 1",
        "osprey_ingest_bytes_total",
        "osprey_ingest_queue_depth 0",
        "osprey_commit_duration_seconds_bucket",
        "osprey_live_subscribers 0",
        "osprey_query_duration_seconds_count",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let (s, v) = get(&h.router, "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/api/v1/ingest",
        "/api/v1/query_range",
        "/api/v1/metrics",
        "/api/v1/live",
        "/metrics",
        "/healthz",
        "/readyz",
        "/api/v1/alert-rules",
        "/api/v1/alerts",
        "/api/v1/incidents",
        "/api/v1/silences",
        "/api/v1/channels",
        "/api/v1/dashboards",
        "/api/v1/embed-tokens",
    ] {
        assert!(v["paths"].get(path).is_some(), "openapi.json lacks {path}");
    }
    h.osprey.state.set_ready(false);
    assert_eq!(
        get(&h.router, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn live_stream_sends_new_points() {
    let h = start().await;
    let resp = open_stream(&h.router, "/api/v1/live?metric=live.m&agg=sum&step=1s").await;
    let now = common::now_ms();
    assert_eq!(
        send(
            &h.router,
            ingest_request(metric_body("live.m", &[(now, 2.0), (now, 3.0)]))
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let update = first_event(resp, "update").await;
    assert_eq!(update["series"][0]["metric"], "live.m");
    assert_eq!(update["series"][0]["points"][0][1], 5.0);
    assert_eq!(h.osprey.state.live.open_streams(), 1);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn the_log_tail_streams_new_matching_records() {
    let h = start().await;
    let (status, _) = get(&h.router, "/api/v1/logs/live?severity=loud").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let resp = open_stream(
        &h.router,
        "/api/v1/logs/live?service=shop&severity=warn&q=DISK",
    )
    .await;
    let now = common::now_ms();
    let log =
        |severity: &str, body: &str| json!({"timestamp": now, "severity": severity, "body": body});
    let body = json!({"context": {"service": "shop"}, "logs": [
        log("error", "Disk full on /var"),
        log("info", "disk ok"),
        log("warn", "cpu hot"),
    ]});
    let (status, _, reply) = send(&h.router, ingest_request(body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let other = json!({"context": {"service": "billing"}, "logs": [log("fatal", "disk gone")]});
    send(&h.router, ingest_request(other.to_string())).await;

    let update = first_event(resp, "logs").await;
    let bodies: Vec<&str> = update["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Disk full on /var"], "{update}");
    assert_eq!(update["logs"][0]["service"], "shop");
    assert_eq!(update["skipped"], 0);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn overview_page_renders_six_panels_server_side() {
    let h = start().await;
    let resp = h
        .router
        .clone()
        .oneshot(Request::get("/?range=1h").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(html.matches("class=\"panel\"").count(), 6, "{html}");
    assert_eq!(html.matches("<svg").count(), 6);
    for title in [
        "Request rate",
        "p95 latency",
        "Error rate",
        "Revenue per minute",
        "Active sessions",
        "CPU by host",
    ] {
        assert!(html.contains(title), "missing panel {title}");
    }
    assert!(html.contains("data-theme=\"dark\""));
    let resp = h
        .router
        .clone()
        .oneshot(Request::get("/no/such/page").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn the_live_detector_records_anomalies() {
    let h = start().await;
    // Six hours of a calm series, a minute at a time, then one wild minute and one more.
    let start_ms = (common::now_ms() / 60_000 - 400) * 60_000;
    let points: Vec<(i64, f64)> = (0..380)
        .map(|m| {
            (
                start_ms + m * 60_000,
                if m == 370 {
                    5_000.0
                } else {
                    50.0 + 5.0 * ((m as f64) / 15.0).sin()
                },
            )
        })
        .collect();
    for chunk in points.chunks(100) {
        assert_eq!(
            send(&h.router, ingest_request(metric_body("det.latency", chunk)))
                .await
                .0,
            StatusCode::ACCEPTED
        );
    }
    let (s, v) = get(
        &h.router,
        "/api/v1/anomalies?metric=det.latency&from=now-12h",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let found = v["anomalies"].as_array().unwrap();
    let spike = found
        .iter()
        .find(|a| a["timestamp"] == start_ms + 370 * 60_000)
        .unwrap_or_else(|| panic!("spike not found in {v}"));
    assert_eq!(spike["metric"], "det.latency");
    assert_eq!(spike["labels"]["service"], "api");
    assert_eq!(spike["value"], 5_000.0);
    assert!(spike["score"].as_f64().unwrap() >= 0.5);
    assert!(spike["upper"].as_f64().unwrap() < 5_000.0);
    assert!(
        spike["explanation"]
            .as_str()
            .unwrap()
            .contains("above its usual range"),
        "{spike}"
    );
    let (_, v) = get(&h.router, "/api/v1/anomalies?metric=other").await;
    assert_eq!(v["anomalies"], json!([]));
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn a_restart_rebuilds_the_detectors_from_stored_data() {
    let h = start().await;
    let now = common::now_ms();
    // Six and a half calm hours, ending ten minutes ago: more than a fresh detector's learning.
    let start_ms = (now / 60_000 - 400) * 60_000;
    let calm: Vec<(i64, f64)> = (0..390)
        .map(|m| {
            (
                start_ms + m * 60_000,
                50.0 + 5.0 * ((m as f64) / 15.0).sin(),
            )
        })
        .collect();
    for chunk in calm.chunks(100) {
        let (s, _, v) = send(&h.router, ingest_request(metric_body("re.latency", chunk))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    let dir = h._dir;
    h.osprey.shutdown().await;

    let again = Osprey::start(common::config(dir.path())).await.unwrap();
    again.detectors_warmed().await;
    let router = again.router();
    // The first minutes after the restart: a wild one, then one that closes it.
    let next = (common::now_ms() / 60_000 + 1) * 60_000;
    let body = metric_body("re.latency", &[(next, 5_000.0), (next + 60_000, 50.0)]);
    assert_eq!(
        send(&router, ingest_request(body)).await.0,
        StatusCode::ACCEPTED
    );
    let uri = format!(
        "/api/v1/anomalies?metric=re.latency&from=now-1h&to={}",
        next + 3_600_000
    );
    let (s, v) = get(&router, &uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["timestamp"] == next),
        "a detector that had to learn afresh would still be in its learning period: {v}"
    );
    again.shutdown().await;
}

#[tokio::test]
async fn forecasts_extrapolate_with_intervals_and_time_to_threshold() {
    let h = start().await;
    // Three days of a disk filling by one unit an hour, every five minutes.
    let now = common::now_ms();
    let start_ms = now - 3 * 86_400_000;
    let points: Vec<(i64, f64)> = (0..864)
        .map(|i| {
            let t = start_ms + i * 300_000;
            (t, 100.0 + (t - start_ms) as f64 / 3_600_000.0)
        })
        .collect();
    for chunk in points.chunks(432) {
        let (s, _, v) = send(&h.router, ingest_request(metric_body("disk.used", chunk))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    let (s, v) = get(
        &h.router,
        "/api/v1/forecast?metric=disk.used&horizon=6h&threshold=175&group_by=service",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let series = &v["series"][0];
    assert_eq!(series["labels"]["service"], "api");
    assert!(
        series["model"].as_str().unwrap().starts_with("ETS"),
        "{series}"
    );
    let forecast = series["points"].as_array().unwrap();
    assert!(!forecast.is_empty());
    let last = forecast.last().unwrap();
    assert!(last["timestamp"].as_i64().unwrap() >= now + 6 * 3_600_000 - 600_000);
    let value = |p: &Value, k: &str| p[k].as_f64().unwrap();
    // Still climbing about one an hour: 172 now, about 178 six hours on.
    assert!((value(last, "value") - 178.0).abs() < 2.0, "{last}");
    for p in forecast {
        assert!(value(p, "lower") <= value(p, "lower80"));
        assert!(value(p, "lower80") <= value(p, "value"));
        assert!(value(p, "value") <= value(p, "upper80"));
        assert!(value(p, "upper80") <= value(p, "upper"));
    }
    let eta = &series["time_to_threshold"];
    let hours = eta["in_ms"].as_f64().unwrap() / 3_600_000.0;
    assert!(
        (2.0..4.5).contains(&hours),
        "175 is about three hours away: {eta}"
    );
    assert!(eta["text"].as_str().unwrap().contains('h'), "{eta}");

    let (s, v) = get(&h.router, "/api/v1/forecast?metric=disk.used&horizon=1y").await;
    assert_error(
        s,
        &v,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("horizon"),
    );
    let (s, v) = get(&h.router, "/api/v1/forecast?metric=nothing.here").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = get(&h.router, "/api/v1/forecast?horizon=1h").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn overview_charts_mark_anomalies_on_the_line_of_their_group() {
    let h = start().await;
    // p95 latency is grouped by service: one series has a service, the other none (it groups
    // under an empty service) and has one wild minute among six calm hours.
    let start_ms = (common::now_ms() / 60_000 - 400) * 60_000;
    let calm = |m: i64| 50.0 + 5.0 * ((m as f64) / 15.0).sin();
    let metrics: Vec<Value> = (0..380)
        .flat_map(|m| {
            let t = start_ms + m * 60_000;
            let wild = if m == 370 { 5_000.0 } else { calm(m) };
            [
                json!({"timestamp": t, "name": "http.latency_ms", "value": calm(m), "labels": {"service": "web"}}),
                json!({"timestamp": t, "name": "http.latency_ms", "value": wild}),
            ]
        })
        .collect();
    let body = json!({ "metrics": metrics }).to_string();
    assert_eq!(
        send(&h.router, ingest_request(body)).await.0,
        StatusCode::ACCEPTED
    );
    let (_, v) = get(
        &h.router,
        "/api/v1/anomalies?metric=http.latency_ms&from=now-12h",
    )
    .await;
    assert!(
        v["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["timestamp"] == start_ms + 370 * 60_000),
        "{v}"
    );
    let (s, html) = get(&h.router, "/?range=24h").await;
    assert_eq!(s, StatusCode::OK);
    let html = html.as_str().unwrap().to_string();
    let latency = &html[html.find("data-panel=\"latency\"").unwrap()..];
    let latency = &latency[..latency.find("</section>").unwrap()];
    assert!(
        latency.contains("<circle"),
        "the anomaly is marked on its line"
    );
    let errors = &html[html.find("data-panel=\"errors\"").unwrap()..];
    assert!(!errors[..errors.find("</section>").unwrap()].contains("<circle"));
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn a_restart_refills_the_hot_window_from_the_database() {
    use osprey::query::{QueryService, RangeParams, RangeQuery, Source};
    let h = start().await;
    let now = common::now_ms();
    let points: Vec<(i64, f64)> = (0..30)
        .map(|i| (now - 600_000 + i * 10_000, i as f64))
        .collect();
    assert_eq!(
        send(&h.router, ingest_request(metric_body("warm.m", &points)))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let params = RangeParams {
        metric: Some("warm.m".into()),
        from: Some("now-15m".into()),
        step: Some("1m".into()),
        agg: Some("p50".into()),
        ..Default::default()
    };
    let q = RangeQuery::parse(&params, now).unwrap();
    let before = h.osprey.state.query.run(&q, now).await.unwrap().0;
    let dir = h._dir;
    h.osprey.shutdown().await;

    let again = Osprey::start(common::config(dir.path())).await.unwrap();
    let query: &QueryService = &again.state.query;
    let (after, source) = query.run(&q, now).await.unwrap();
    assert_eq!(
        source,
        Source::Hot,
        "recent data is served from memory after a restart"
    );
    assert_eq!(after, before);
    assert!(!after.is_empty() && !after[0].points.is_empty());
    again.shutdown().await;
}

#[tokio::test]
async fn errors_traces_and_logs_are_served() {
    let h = start().await;
    let now = common::now_ms();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let body = json!({
        "context": {"service": "shop", "release": "2.0.0", "user_id": "u-1"},
        "errors": [
            {"timestamp": now - 2_000, "type": "TypeError", "message": "x is undefined",
             "stacktrace": [{"function": "addToCart", "file": "cart.js", "line": 10}],
             "tags": {"browser": "chromium"}, "trace_id": trace},
            {"timestamp": now - 1_000, "type": "TypeError", "message": "y is undefined",
             "stacktrace": [{"function": "addToCart", "file": "cart.js", "line": 11}],
             "tags": {"browser": "firefox"}}
        ],
        "spans": [{"trace_id": trace, "span_id": "b7ad6b7169203331", "name": "POST /cart",
                   "start": now - 2_100, "duration_ms": 250.0, "status": "error"}],
        "logs": [{"timestamp": now - 2_050, "severity": "error", "body": "cart write failed",
                  "trace_id": trace}]
    });
    let (status, _, reply) = send(&h.router, ingest_request(body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(reply["accepted"]["logs"], 1);

    let (status, listed) = get(&h.router, "/api/v1/errors").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let issue = &listed["errors"][0];
    assert_eq!(listed["errors"].as_array().unwrap().len(), 1);
    assert_eq!(
        (issue["count"].as_i64(), issue["users"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(issue["type"], "TypeError");
    let spark: i64 = issue["sparkline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(spark, 2, "the sparkline counts both occurrences");
    let id = issue["group_id"].as_str().unwrap();

    let (status, detail) = get(&h.router, &format!("/api/v1/errors/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["occurrences"].as_array().unwrap().len(), 2);
    assert_eq!(detail["occurrences"][1]["trace_id"], trace);
    assert_eq!(detail["tags"]["browser"].as_array().unwrap().len(), 2);
    assert_eq!(detail["tags"]["release"][0], json!(["2.0.0", 2]));

    let patch = |status: &str| {
        Request::patch(format!("/api/v1/errors/{id}"))
            .header(header::AUTHORIZATION, "Bearer test-admin-token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"status": status}).to_string()))
            .unwrap()
    };
    let (status, _, reply) = send(&h.router, patch("fixed")).await;
    assert_error(
        status,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("status"),
    );
    let (status, _, reply) = send(&h.router, patch("resolved")).await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (StatusCode::OK, Some("resolved"))
    );
    let (_, unresolved) = get(&h.router, "/api/v1/errors?status=unresolved").await;
    assert_eq!(unresolved["errors"].as_array().unwrap().len(), 0);
    let (status, _) = get(&h.router, "/api/v1/errors/ffffffffffffffff").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, traces) = get(
        &h.router,
        "/api/v1/traces?service=shop&status=error&min_duration_ms=100",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{traces}");
    assert_eq!(traces["traces"][0]["trace_id"], trace);
    let (status, one) = get(
        &h.router,
        &format!("/api/v1/traces/{}", trace.to_uppercase()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["spans"][0]["name"], "POST /cart");
    assert_eq!(one["spans"][0]["service"], "shop");
    assert_eq!(
        one["errors"].as_array().unwrap().len(),
        1,
        "the trace links its error"
    );
    let (status, services) = get(&h.router, "/api/v1/services").await;
    assert_eq!(status, StatusCode::OK, "{services}");
    assert_eq!(services["services"][0]["service"], "shop");
    assert_eq!(services["services"][0]["requests"], 1);
    assert_eq!(services["services"][0]["error_rate"], 1.0);
    assert_eq!(services["services"][0]["p95_ms"], 250.0);

    // The span scatter's points (packed binary) and a brushed region's spans.
    let resp = h
        .router
        .clone()
        .oneshot(
            Request::get("/api/v1/spans/points")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let points = app::model::SpanPoints::decode(&bytes).expect("packed points");
    assert_eq!(
        (points.len(), points.durations_ms[0], points.failed[0]),
        (1, 250.0, true)
    );
    assert_eq!(points.origin + points.starts[0] as i64, now - 2_100);
    let (status, found) = get(&h.router, "/api/v1/spans?min_ms=200&max_ms=300").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["spans"][0]["trace_id"], trace);
    assert_eq!(found["spans"][0]["name"], "POST /cart");
    let (_, none) = get(&h.router, "/api/v1/spans?min_ms=300&max_ms=400").await;
    assert_eq!(none["spans"].as_array().unwrap().len(), 0);
    let (status, reply) = get(&h.router, "/api/v1/spans?min_ms=300&max_ms=200").await;
    assert_error(
        status,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("max_ms"),
    );
    let (status, reply) = get(&h.router, "/api/v1/traces/not-a-trace").await;
    assert_error(
        status,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("trace_id"),
    );
    let (status, _) = get(&h.router, "/api/v1/traces/ffffffffffffffffffffffffffffffff").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, logs) = get(
        &h.router,
        &format!("/api/v1/logs?trace_id={trace}&severity=warn&q=WRITE"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{logs}");
    assert_eq!(logs["logs"][0]["body"], "cart write failed");
    assert_eq!(logs["logs"][0]["service"], "shop");
    let (status, reply) = get(&h.router, "/api/v1/logs?severity=loud").await;
    assert_error(
        status,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("severity"),
    );
    let long = "x".repeat(300);
    let (status, reply) = get(&h.router, &format!("/api/v1/logs?q={long}")).await;
    assert_error(
        status,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("q"),
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn pages_on_other_origins_may_send_to_ingest() {
    let h = start().await;
    let preflight = Request::options("/api/v1/ingest")
        .header(header::ORIGIN, "https://shop.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization, content-type",
        )
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&h.router, preflight).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .contains("authorization"));

    // A browser on another site, even one holding a session cookie for this one.
    let mut req = ingest_request(metric_body("m", &[(common::now_ms(), 1.0)]));
    req.headers_mut()
        .insert(header::ORIGIN, "https://shop.example".parse().unwrap());
    req.headers_mut()
        .insert(header::COOKIE, "osprey_session=whatever".parse().unwrap());
    let (status, headers, reply) = send(&h.router, req).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(
        headers[header::ACCESS_CONTROL_EXPOSE_HEADERS],
        "retry-after"
    );

    // Refusals are readable too, so the SDK knows not to resend.
    let (status, headers, _) = send(&h.router, ingest_request("{")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn a_flood_from_one_key_is_told_when_to_come_back() {
    let h = start_with(|c| c.ingest.rate_per_key = 3).await;
    let body = || metric_body("m", &[(common::now_ms(), 1.0)]);
    // Bursts of twice the rate pass; the next is refused with a wait, and nothing of it stored.
    for _ in 0..6 {
        let (status, _, reply) = send(&h.router, ingest_request(body())).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    }
    let (status, headers, reply) = send(&h.router, ingest_request(body())).await;
    assert_error(
        status,
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        None,
    );
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(stored_samples(&h).await, 6);
    // Another key has its own budget.
    let (_, other) = osprey::auth::create_key(
        &*h.osprey.state.store,
        osprey::store::KeyKind::Ingest,
        "second",
    )
    .await
    .unwrap();
    let mut req = ingest_request(body());
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {other}").parse().unwrap(),
    );
    let (status, _, reply) = send(&h.router, req).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    h.osprey.shutdown().await;
}

/// Hostile input: each is refused with a clear error, none harms the process, nothing of it is
/// stored.
#[tokio::test]
async fn hostile_input_is_refused_without_harm() {
    let h = start_with(|c| c.ingest.max_series = 50).await;
    // Nesting deep enough to overflow a naive recursive decoder's stack.
    let deep = format!(
        "{{\"events\": [{{\"timestamp\": 1, \"name\": \"e\", \"properties\": {{\"p\": {}1{}}}}}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (s, _, v) = send(&h.router, ingest_request(deep)).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_input", None);

    // Bytes that are not UTF-8 inside a string.
    let mut invalid = br#"{"events": [{"timestamp": 1, "name": ""#.to_vec();
    invalid.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid.extend_from_slice(br#""}]}"#);
    let (s, _, v) = send(&h.router, ingest_request(invalid)).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_input", None);

    // A 10 MB label value: refused by the body bound before it is decoded.
    let huge = json!({"metrics": [{"timestamp": 1, "name": "m", "value": 1, "labels": {"k": "v".repeat(10 << 20)}}]});
    let (s, _, v) = send(&h.router, ingest_request(huge.to_string())).await;
    assert_error(
        s,
        &v,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );

    // Ever new series from one client: the series limit answers, the store keeps its bound.
    let now = common::now_ms();
    let mut refused = 0;
    for batch in 0..20 {
        let metrics: Vec<Value> = (0..10)
            .map(|i| json!({"timestamp": now, "name": "m", "value": 1, "labels": {"id": format!("{batch}-{i}")}}))
            .collect();
        let (s, _, v) = send(
            &h.router,
            ingest_request(json!({"metrics": metrics}).to_string()),
        )
        .await;
        match s {
            StatusCode::ACCEPTED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(v["error"]["code"], "series_limit", "{v}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(refused, 15, "5 batches of 10 new series fit under 50");
    assert_eq!(h.osprey.state.store.counts().await.unwrap().series, 50);

    // Still serving, known series included.
    let known =
        json!({"metrics": [{"timestamp": now, "name": "m", "value": 2, "labels": {"id": "0-0"}}]});
    let (s, _, v) = send(&h.router, ingest_request(known.to_string())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn a_batch_sent_again_with_its_id_is_stored_once() {
    let h = start().await;
    let now = common::now_ms();
    let body = metric_body("m", &[(now, 1.0), (now + 1, 2.0)]);
    let with_id = |uri: &str| {
        let mut req = ingest_request(body.clone());
        *req.uri_mut() = uri.parse().unwrap();
        req
    };
    let (s1, _, first) = send(&h.router, with_id("/api/v1/ingest?batch=b-1")).await;
    let (s2, _, again) = send(&h.router, with_id("/api/v1/ingest?batch=b-1")).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(first, again, "the same answer");
    assert_eq!(stored_samples(&h).await, 2, "stored once");
    let mut header_id = ingest_request(body.clone());
    header_id
        .headers_mut()
        .insert("idempotency-key", "b-1".parse().unwrap());
    send(&h.router, header_id).await;
    assert_eq!(
        stored_samples(&h).await,
        2,
        "the header names the same batch"
    );
    let (s, _, _) = send(&h.router, with_id("/api/v1/ingest?batch=b-2")).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(stored_samples(&h).await, 4, "another id is another batch");
    let (s, _, v) = send(&h.router, with_id("/api/v1/ingest?batch=no%20spaces")).await;
    assert_error(
        s,
        &v,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        Some("batch"),
    );
    h.osprey.shutdown().await;
}

/// A request as an embed's iframe or the admin's client sends it.
fn request(method: &str, uri: &str, body: Option<Value>, token: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::ACCEPT, "text/html");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

#[tokio::test]
async fn embeds_need_a_token_not_a_session_and_say_who_may_frame_them() {
    // Nobody reads without signing in here, yet embeds open with their token alone.
    let h = start_with(|c| c.auth.anonymous_read = false).await;
    let admin = Some("test-admin-token");
    let (s, _, d) = send(
        &h.router,
        request(
            "POST",
            "/api/v1/dashboards",
            Some(json!({"title": "Shop", "panels": [
                {"title": "Latency", "query": {"metric": "lat"}, "viz": "line"},
                {"title": "Errors", "query": {"metric": "err"}, "viz": "bar"}
            ]})),
            admin,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (a, b) = (
        d["panels"][0]["id"].as_str().unwrap().to_string(),
        d["panels"][1]["id"].as_str().unwrap().to_string(),
    );
    let body =
        json!({"panels": [a], "expires_in": "1h", "origins": ["https://intranet.example.com"]});
    let (s, _, v) = send(
        &h.router,
        request("POST", "/api/v1/embed-tokens", Some(body.clone()), None),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, _, v) = send(
        &h.router,
        request(
            "POST",
            "/api/v1/embed-tokens",
            Some(json!({"panels": [a], "origins": ["intranet.example.com"]})),
            admin,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["field"], "origins[0]");
    let (s, _, v) = send(
        &h.router,
        request(
            "POST",
            "/api/v1/embed-tokens",
            Some(json!({"panels": [a], "expires": "1h"})),
            admin,
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused: {v}"
    );
    let (s, _, issued) = send(
        &h.router,
        request("POST", "/api/v1/embed-tokens", Some(body), admin),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{issued}");
    let url = issued["url"].as_str().unwrap().to_string();
    let token = issued["token"].as_str().unwrap().to_string();

    // The embed opens without a session, framable by this site and the named origin only.
    let (s, headers, page) = send(&h.router, request("GET", &url, None, None)).await;
    assert_eq!(s, StatusCode::OK);
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.ends_with("frame-ancestors 'self' https://intranet.example.com"),
        "{csp}"
    );
    assert!(headers.get(header::X_FRAME_OPTIONS).is_none());
    let page = page.as_str().unwrap();
    assert!(page.contains(&format!("data-panel=\"{a}\"")), "the panel");
    assert!(
        !page.contains(&format!("data-panel=\"{b}\"")),
        "only the panel named"
    );
    assert!(!page.contains("class=\"sidebar\""), "no navigation");
    assert!(
        !page.contains("/sdk/osprey.js"),
        "no ingest key in other sites"
    );
    // An embed may match the host page's theme.
    let (_, _, light) = send(
        &h.router,
        request("GET", &format!("{url}&theme=light"), None, None),
    )
    .await;
    assert!(light.as_str().unwrap().contains("data-theme=\"light\""));
    // Every other page may not be framed at all.
    let (_, headers, _) = send(&h.router, request("GET", "/login", None, None)).await;
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));

    // The token shows only its panels, and its live stream follows only them.
    let other = format!("/embed/panel/{b}?token={token}");
    let (s, _, page) = send(&h.router, request("GET", &other, None, None)).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a refused embed says so in its status"
    );
    assert!(page.as_str().unwrap().contains("does not include panel"));
    for bad in ["", "?token=", "?token=oe1.x.1.00"] {
        let (s, _, page) = send(
            &h.router,
            request("GET", &format!("/embed/panel/{a}{bad}"), None, None),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert!(page.as_str().unwrap().contains("embed-denied"), "{bad:?}");
    }
    let live = |path: String| {
        let router = h.router.clone();
        async move {
            let resp = router
                .oneshot(request("GET", &path, None, None))
                .await
                .unwrap();
            (
                resp.status(),
                resp.headers()
                    .get(header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_string()),
            )
        }
    };
    let (s, kind) = live(format!("/embed/live/panel/{a}?token={token}&range=1h")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kind.as_deref(), Some("text/event-stream"));
    let (s, _) = live(format!("/embed/live/panel/{b}?token={token}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = live(format!("/embed/live/panel/{a}?token=oe1.x.1.00")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = live(format!("/embed/live/panel/{a}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Listed for editors, revoked at once, and the embed says so.
    let (s, _, list) = send(
        &h.router,
        request("GET", "/api/v1/embed-tokens", None, admin),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["embed_tokens"].as_array().unwrap().len(), 1);
    let id = issued["id"].as_str().unwrap();
    let (s, _, _) = send(
        &h.router,
        request("DELETE", &format!("/api/v1/embed-tokens/{id}"), None, admin),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, headers, page) = send(&h.router, request("GET", &url, None, None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(page.as_str().unwrap().contains("was revoked on"));
    // Still framable where it was, so the host page shows why.
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("https://intranet.example.com"));
    let (s, _) = live(format!("/embed/live/panel/{a}?token={token}")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = send(
        &h.router,
        request("DELETE", "/api/v1/embed-tokens/em_none", None, admin),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn dashboards_through_the_api() {
    let h = start().await;
    let call = |method: &str, uri: &str, body: Option<Value>, token: Option<&str>| {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        req.body(body).unwrap()
    };
    let admin = Some("test-admin-token");
    let spec = json!({"title": "Checkout", "panels": [
        {"title": "p95", "query": {"metric": "http.latency_ms", "agg": "p95"}, "viz": "line"},
        {"title": "errors", "query": {"metric": "http.errors", "agg": "rate", "group_by": ["route"]}, "viz": "bar"}
    ]});

    // Reading is open to viewers (anonymous reads here); changing needs an editor.
    let (s, _, v) = send(
        &h.router,
        call("POST", "/api/v1/dashboards", Some(spec.clone()), None),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, _, created) = send(
        &h.router,
        call("POST", "/api/v1/dashboards", Some(spec.clone()), admin),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["panels"].as_array().unwrap().len(), 2);

    let (s, read) = get(&h.router, &format!("/api/v1/dashboards/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["title"], "Checkout");
    assert_eq!(read["panels"][0]["id"], created["panels"][0]["id"]);
    assert_eq!(
        read["panels"][1]["grid"],
        json!({"x": 12, "y": 0, "w": 12, "h": 8})
    );

    // The export is the import: what GET returns can be sent back as it is.
    let mut export = read.clone();
    export["title"] = json!("Checkout (edited)");
    let (s, _, v) = send(
        &h.router,
        call(
            "PUT",
            &format!("/api/v1/dashboards/{id}"),
            Some(export),
            admin,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["panels"], created["panels"], "panel ids survive an edit");

    let mut bad = spec.clone();
    bad["panels"][1]["query"]["agg"] = json!("median");
    let (s, _, v) = send(
        &h.router,
        call("POST", "/api/v1/dashboards", Some(bad), admin),
    )
    .await;
    assert_error(
        s,
        &v,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("panels[1].query.agg"),
    );
    let (s, _, v) = send(
        &h.router,
        call(
            "POST",
            "/api/v1/dashboards",
            Some(json!({"panels": []})),
            admin,
        ),
    )
    .await;
    assert_error(
        s,
        &v,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        Some("title"),
    );

    let (s, _, copy) = send(
        &h.router,
        call(
            "POST",
            &format!("/api/v1/dashboards/{id}/duplicate"),
            None,
            admin,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{copy}");
    let (_, list) = get(&h.router, "/api/v1/dashboards").await;
    let titles: Vec<&str> = list["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Checkout (edited)", "Copy of Checkout (edited)"]);

    let (s, _, _) = send(
        &h.router,
        call("DELETE", &format!("/api/v1/dashboards/{id}"), None, admin),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = get(&h.router, &format!("/api/v1/dashboards/{id}")).await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found", None);

    let (_, _, audit) = send(&h.router, call("GET", "/api/v1/audit", None, admin)).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "dashboard.create",
        "dashboard.update",
        "dashboard.duplicate",
        "dashboard.delete",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    h.osprey.shutdown().await;
}

/// Commits leave samples pending; the writer flushes them into blocks and rollups within about a
/// second while running, and all of them when it stops.
#[tokio::test]
async fn the_writer_flushes_pending_samples_while_running_and_at_shutdown() {
    let h = start().await;
    let t = common::now_ms();
    let req = ingest_request(metric_body("m", &[(t, 1.0), (t + 1, 2.0), (t + 2, 3.0)]));
    assert_eq!(send(&h.router, req).await.0, StatusCode::ACCEPTED);
    let store = h.osprey.state.store.clone();
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while store.pending_samples() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("pending samples flushed by the writer's tick");
    assert_eq!(stored_samples(&h).await, 3);
    let req = ingest_request(metric_body("m", &[(t + 3, 4.0)]));
    assert_eq!(send(&h.router, req).await.0, StatusCode::ACCEPTED);
    h.osprey.shutdown().await;
    let url = format!("sqlite://{}", h._dir.path().join("osprey.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_blocks")
        .fetch_one(&pool)
        .await
        .unwrap();
    let flushed: i64 = sqlx::query_scalar("SELECT SUM(count) FROM sample_blocks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((pending, flushed), (0, 4));
}

/// Security review, row 2: `from`/`to` in a page URL skipped the query bounds, and
/// `GET /?from=-1000000000000000000&to=1` made the process try to allocate 833 GB and abort.
/// Every query now passes one check (range, step, points, and series × points) in the query
/// service itself, whichever entry built it.
#[tokio::test]
async fn no_url_can_ask_for_unbounded_work() {
    let h = start().await;
    let now = common::now_ms();
    // One series of each overview metric, so every panel has a group to fill.
    let metrics: Vec<Value> = ["http.requests", "http.latency_ms", "http.error_rate"]
        .iter()
        .map(|name| json!({"timestamp": now, "name": name, "value": 1.0, "labels": {"service": "api"}}))
        .collect();
    let body = json!({"context": {"service": "api"}, "metrics": metrics}).to_string();
    let (status, _, reply) = send(&h.router, ingest_request(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");

    for uri in [
        "/?from=-1000000000000000000&to=1",
        "/?from=-9223372036854775808&to=9223372036854775807",
        "/?from=0&to=9000000000000",
        "/?from=1&to=2",
        "/dashboards?from=-1000000000000000000&to=1",
        "/forecast?from=-1000000000000000000&to=1",
        "/anomalies?from=-1000000000000000000&to=1",
        "/errors?from=-1000000000000000000&to=1",
        "/logs?from=-1000000000000000000&to=1",
        "/traces?from=-1000000000000000000&to=1",
        "/security?from=-1000000000000000000&to=1",
        "/explore?from=-1000000000000000000&to=1",
    ] {
        let (status, body) = get(&h.router, uri).await;
        assert!(status.is_success(), "{uri}: {status} {body}");
    }
    // A range longer than the bound is refused in the page's panels, not computed.
    let (_, body) = get(&h.router, "/?from=0&to=9000000000000").await;
    assert!(
        body.as_str()
            .unwrap()
            .contains("range longer than 400 days"),
        "{body}"
    );

    // The cost bound: 1 001 series × 10 801 points is more than one query may compute.
    for part in 0..2 {
        let metrics: Vec<Value> = (0..501)
            .map(|i| json!({"timestamp": now, "name": "wide", "value": 1.0, "labels": {"host": format!("h{part}-{i}")}}))
            .collect();
        let (status, _, reply) = send(
            &h.router,
            ingest_request(json!({"context": {"service": "api"}, "metrics": metrics}).to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    }
    let (s, v) = get(
        &h.router,
        "/api/v1/query_range?metric=wide&from=now-3h&step=1s",
    )
    .await;
    assert_error(
        s,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        "query_too_large",
        None,
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1002 series"),
        "{v}"
    );
    // The same series at a coarser step are answered.
    let (s, v) = get(&h.router, "/api/v1/query_range?metric=wide&from=now-3h").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    h.osprey.shutdown().await;
}

/// The query service keeps each metric's series in memory (indexed by label pair); a series
/// this process creates is part of the very next answer.
#[tokio::test]
async fn a_new_series_is_answered_as_soon_as_it_is_acknowledged() {
    let h = start().await;
    let now = common::now_ms();
    let send_one = |host: &str| {
        let body = json!({"context": {"service": "api"}, "metrics": [
            {"timestamp": now, "name": "catalogued", "value": 1.0, "labels": {"host": host}}]});
        ingest_request(body.to_string())
    };
    for (host, want) in [("a", 1), ("b", 2), ("c", 3)] {
        let (status, _, reply) = send(&h.router, send_one(host)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
        let (s, v) = get(
            &h.router,
            "/api/v1/query_range?metric=catalogued&from=now-5m&group_by=host",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["series"].as_array().unwrap().len(), want, "{v}");
        let (_, one) = get(
            &h.router,
            &format!("/api/v1/query_range?metric=catalogued&from=now-5m&filter=host:{host}"),
        )
        .await;
        assert_eq!(one["series"].as_array().unwrap().len(), 1, "{one}");
    }
    let (_, none) = get(
        &h.router,
        "/api/v1/query_range?metric=catalogued&from=now-5m&filter=host:z",
    )
    .await;
    assert_eq!(none["series"].as_array().unwrap().len(), 0, "{none}");
    h.osprey.shutdown().await;
}

/// Security review, row 12: one global cap of 1 024 live streams and none per client, so one
/// client (or one embed token's holder) could take every place. Now each client address and
/// each embed token may hold `live.max_per_client` streams; beyond it 429, until one closes.
#[tokio::test]
async fn one_client_cannot_take_every_live_stream() {
    let h = start_with(|c| c.live.max_per_client = 2).await;
    let first = open_stream(&h.router, "/api/v1/live?metric=m").await;
    let second = open_stream(&h.router, "/api/v1/live/panels?q=[]").await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let (s, v) = get(&h.router, "/api/v1/live?metric=m").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from one address"),
        "{v}"
    );
    // A closed stream gives its place back as soon as its task sees the client gone.
    drop(first);
    let mut again = None;
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
        let resp = h
            .router
            .clone()
            .oneshot(
                Request::get("/api/v1/live?metric=m")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        if resp.status() == StatusCode::OK {
            again = Some(resp);
            break;
        }
    }
    assert!(again.is_some(), "the place was never given back");
    drop((second, again));
    h.osprey.shutdown().await;
}
