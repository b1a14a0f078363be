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
    let resp = h
        .router
        .clone()
        .oneshot(
            Request::get("/api/v1/live?metric=live.m&agg=sum&step=1s")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
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
    let mut body = resp.into_body();
    let text = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut text = String::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
                if text.contains("event: update") && text.contains("\n\n") {
                    return text;
                }
            }
        }
        text
    })
    .await
    .expect("an update within 10 s");
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    let update: Value = serde_json::from_str(data).unwrap();
    assert_eq!(update["series"][0]["metric"], "live.m");
    assert_eq!(update["series"][0]["points"][0][1], 5.0);
    assert_eq!(h.osprey.state.live.open_streams(), 1);
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
