//! Alerting end to end inside one process: rules through the HTTP API, data through ingest,
//! evaluations driven by the test (`Alerting::tick`), and notifications delivered over real
//! sockets to a receiver the test runs.

mod common;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use osprey::Osprey;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const ADMIN: &str = "test-admin-token";
const SECRET: &str = "s3cret";

struct Harness {
    osprey: Osprey,
    router: Router,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    // The test drives evaluations itself; the background evaluator stays out of the way.
    config.alerts.eval_interval = "1h".into();
    config.alerts.public_url = "https://osprey.example".into();
    let osprey = Osprey::start(config).await.expect("start");
    let router = osprey.router();
    Harness {
        osprey,
        router,
        _dir: dir,
    }
}

async fn call(h: &Harness, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
    let resp = h
        .router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn ingest(h: &Harness, metric: &str, service: &str, points: &[(i64, f64)]) {
    let metrics: Vec<Value> = points
        .iter()
        .map(|(t, v)| json!({"timestamp": t, "name": metric, "value": v}))
        .collect();
    let body = json!({"context": {"service": service}, "metrics": metrics});
    let req = Request::post("/api/v1/ingest")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", common::INGEST_KEY),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = h.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

/// What the receiver got: body, signature and idempotency key of each request.
#[derive(Clone, Debug)]
struct Received {
    body: Bytes,
    signature: Option<String>,
    key: Option<String>,
}

/// An HTTP receiver on a real socket. It answers each request with the next status of
/// `script` (200 once the script runs out) and records every request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(u16, Received)>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend(script);
        let app = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// Requests answered with 2xx.
    fn accepted(&self) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s < 300)
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Waits (on arrivals, not on a clock) until `n` requests were accepted.
    async fn wait_accepted(&self, n: usize) -> Vec<Received> {
        tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                let notified = self.arrived.notified();
                if self.accepted().len() >= n {
                    return self.accepted();
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "expected {n} accepted deliveries, got {:?}",
                self.accepted().len()
            )
        })
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    r.got.lock().unwrap().push((
        status,
        Received {
            body,
            signature: header("x-osprey-signature"),
            key: header("idempotency-key"),
        },
    ));
    r.arrived.notify_waiters();
    StatusCode::from_u16(status).unwrap()
}

async fn webhook_channel(h: &Harness, url: &str) -> String {
    let (status, body) = call(
        h,
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "ops", "kind": "webhook", "config": {"url": url, "secret": SECRET}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn latency_rule(h: &Harness, channel: &str, extra: Value) -> String {
    let mut rule = json!({
        "name": "High latency",
        "query": {"metric": "http.latency_ms", "agg": "avg", "filter": {"service": "api"}},
        "condition": {"op": ">", "threshold": 500, "recover": 400},
        "severity": "critical",
        "channels": [channel],
    });
    if let Value::Object(extra) = extra {
        rule.as_object_mut().unwrap().extend(extra);
    }
    let (status, body) = call(h, "POST", "/api/v1/alert-rules", Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn verify(r: &Received) -> Value {
    let expected = notify::sign(SECRET, &r.body);
    assert_eq!(
        r.signature.as_deref(),
        Some(expected.as_str()),
        "signed with the channel's secret"
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(r.key.as_deref(), body["idempotency_key"].as_str());
    body
}

#[tokio::test]
async fn a_threshold_rule_fires_opens_an_incident_notifies_once_and_resolves() {
    let h = start().await;
    let (receiver, url) = Receiver::start(&[]).await;
    let channel = webhook_channel(&h, &url).await;
    let rule = latency_rule(&h, &channel, json!({})).await;
    let alerting = h.osprey.state.alerting.clone();

    let now = common::now_ms();
    ingest(
        &h,
        "http.latency_ms",
        "api",
        &[(now - 20_000, 620.0), (now - 10_000, 640.0)],
    )
    .await;
    let report = alerting.tick(now).await.unwrap();
    assert_eq!(
        (report.transitions, report.deliveries),
        (1, 1),
        "{report:?}"
    );
    // A second evaluation with the same data changes nothing and sends nothing.
    let again = alerting.tick(now + 1_000).await.unwrap();
    assert_eq!((again.transitions, again.deliveries), (0, 0));

    let (_, alerts) = call(&h, "GET", "/api/v1/alerts", None).await;
    assert_eq!(alerts["alerts"][0]["rule_id"], rule);
    assert_eq!(alerts["alerts"][0]["state"], "firing");
    assert_eq!(alerts["alerts"][0]["instances"][0]["value"], 630.0);

    let got = receiver.wait_accepted(1).await;
    let mut attempts = alerting.attempts();
    attempts.wait_for(|n| *n >= 1).await.unwrap();
    let body = verify(&got[0]);
    assert_eq!(body["status"], "firing");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["alerts"][0]["value"], 630.0);
    assert_eq!(body["alerts"][0]["threshold"], 500.0);
    let incident_id = body["incident"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        body["incident"]["url"],
        format!("https://osprey.example/incidents/{incident_id}")
    );

    let (status, incident) =
        call(&h, "GET", &format!("/api/v1/incidents/{incident_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (incident["status"].as_str(), incident["severity"].as_str()),
        (Some("triggered"), Some("SEV2"))
    );
    let (status, acked) = call(
        &h,
        "POST",
        &format!("/api/v1/incidents/{incident_id}/ack"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    let kinds: Vec<&str> = acked["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["opened", "alert", "notified", "delivered", "acknowledged"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let (status, _) = call(
        &h,
        "POST",
        &format!("/api/v1/incidents/{incident_id}/notes"),
        Some(json!({"text": "rolled back"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Between recover (400) and threshold (500) it keeps firing: hysteresis.
    ingest(&h, "http.latency_ms", "api", &[(now + 50_000, 450.0)]).await;
    let held = alerting.tick(now + 60_000).await.unwrap();
    assert_eq!(held.transitions, 0);
    // Below recover it resolves; the incident resolves with it.
    ingest(&h, "http.latency_ms", "api", &[(now + 110_000, 120.0)]).await;
    let resolved = alerting.tick(now + 120_000).await.unwrap();
    assert_eq!(
        (resolved.transitions, resolved.deliveries),
        (1, 1),
        "{resolved:?}"
    );
    let got = receiver.wait_accepted(2).await;
    let body = verify(&got[1]);
    assert_eq!(body["status"], "resolved");
    let (_, incident) = call(&h, "GET", &format!("/api/v1/incidents/{incident_id}"), None).await;
    assert_eq!(incident["status"], "resolved");
    assert!(incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["message"] == "rolled back"));
    assert_eq!(receiver.requests(), 2, "exactly one message per change");
    let (status, history) = call(
        &h,
        "GET",
        &format!("/api/v1/alert-rules/{rule}/history?from=now-1h"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let changes: Vec<(&str, &str)> = history["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].as_str().unwrap(), t["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changes,
        vec![("firing", "normal"), ("normal", "firing")],
        "every transition recorded, newest first"
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_every_notification_once_it_is_back() {
    let h = start().await;
    // Down for three attempts (two 503s, one 429), then up.
    let (receiver, url) = Receiver::start(&[503, 503, 429]).await;
    let channel = webhook_channel(&h, &url).await;
    latency_rule(
        &h,
        &channel,
        json!({"group_by": ["service"], "query": {"metric": "http.latency_ms", "agg": "max"}}),
    )
    .await;
    let alerting = h.osprey.state.alerting.clone();
    let now = common::now_ms();
    for service in ["api", "web", "db"] {
        ingest(&h, "http.latency_ms", service, &[(now - 5_000, 900.0)]).await;
    }
    let report = alerting.tick(now).await.unwrap();
    assert_eq!(report.transitions, 3);
    // Grouped by alertname and service: three notifications.
    assert_eq!(report.deliveries, 3, "{report:?}");
    // Retries are due after a backoff; the test moves time forward instead of sleeping.
    for pass in 1..=6 {
        alerting
            .deliver_due(common::now_ms() + pass * 3_600_000)
            .await
            .unwrap();
    }
    let accepted = receiver.wait_accepted(3).await;
    let mut keys: Vec<String> = accepted
        .iter()
        .map(|r| verify(r)["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        3,
        "each notification arrived, each under one key"
    );
    assert!(receiver.requests() >= 6, "the failed attempts were retried");
    let requests = receiver.requests() as u64;
    alerting
        .attempts()
        .wait_for(|n| *n >= requests)
        .await
        .unwrap();
    let (_, pending) = call(&h, "GET", "/api/v1/deliveries?status=pending", None).await;
    assert_eq!(pending["deliveries"], json!([]));
    let (_, delivered) = call(&h, "GET", "/api/v1/deliveries?status=delivered", None).await;
    assert_eq!(delivered["deliveries"].as_array().unwrap().len(), 3);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn a_refused_notification_is_dead_lettered_and_can_be_retried() {
    let h = start().await;
    let (receiver, url) = Receiver::start(&[400]).await;
    let channel = webhook_channel(&h, &url).await;
    latency_rule(&h, &channel, json!({})).await;
    let alerting = h.osprey.state.alerting.clone();
    let now = common::now_ms();
    ingest(&h, "http.latency_ms", "api", &[(now - 5_000, 900.0)]).await;
    let mut attempts = alerting.attempts();
    alerting.tick(now).await.unwrap();
    attempts.wait_for(|n| *n >= 1).await.unwrap();
    let (_, dead) = call(&h, "GET", "/api/v1/deliveries?status=dead", None).await;
    let dead = dead["deliveries"].as_array().unwrap().clone();
    assert_eq!(dead.len(), 1, "a 400 is not retried");
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("400"),
        "{dead:?}"
    );
    let id = dead[0]["id"].as_i64().unwrap();
    let (status, _) = call(&h, "POST", &format!("/api/v1/deliveries/{id}/retry"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    receiver.wait_accepted(1).await;
    let (status, _) = call(&h, "POST", &format!("/api/v1/deliveries/{id}/retry"), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only dead deliveries are retried"
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn silences_mute_and_escalation_notifies_the_next_level() {
    let h = start().await;
    let (first, first_url) = Receiver::start(&[]).await;
    let (second, second_url) = Receiver::start(&[]).await;
    let ch1 = webhook_channel(&h, &first_url).await;
    let ch2 = webhook_channel(&h, &second_url).await;
    let (status, rotation) = call(
        &h,
        "POST",
        "/api/v1/oncall-rotations",
        Some(json!({"name": "primary", "users": ["ana", "bo"], "start": 0, "period": "1w"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rotation}");
    let (status, policy) = call(&h, "POST", "/api/v1/escalation-policies", Some(json!({
        "name": "primary", "rotation": rotation["id"], "steps": [{"after": "5m", "channels": [ch2]}]
    }))).await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    latency_rule(&h, &ch1, json!({"escalation": policy["id"], "group_by": ["service"], "query": {"metric": "http.latency_ms"}})).await;
    let (status, _) = call(&h, "POST", "/api/v1/silences", Some(json!({
        "matchers": [{"label": "service", "op": "=", "value": "web"}], "ends_at": common::now_ms() + 3_600_000, "comment": "deploy"
    }))).await;
    assert_eq!(status, StatusCode::CREATED);

    let alerting = h.osprey.state.alerting.clone();
    let now = common::now_ms();
    ingest(&h, "http.latency_ms", "api", &[(now - 5_000, 900.0)]).await;
    ingest(&h, "http.latency_ms", "web", &[(now - 5_000, 900.0)]).await;
    let report = alerting.tick(now).await.unwrap();
    assert_eq!(
        (report.transitions, report.deliveries),
        (2, 1),
        "web is silenced: {report:?}"
    );
    let (_, open) = call(&h, "GET", "/api/v1/incidents?status=open", None).await;
    let open = open["incidents"].as_array().unwrap().clone();
    assert_eq!(open.len(), 1, "no incident for a silenced alert");
    assert!(open[0]["title"].as_str().unwrap().contains("service=api"));
    let expected = ["ana", "bo"][((now / (7 * 86_400_000)) % 2) as usize];
    assert_eq!(
        open[0]["assignee"], expected,
        "assigned to whoever is on call"
    );
    first.wait_accepted(1).await;

    // Nobody acknowledged within 5 minutes: the next level hears about it, once.
    ingest(&h, "http.latency_ms", "api", &[(now + 290_000, 900.0)]).await;
    let escalated = alerting.tick(now + 301_000).await.unwrap();
    assert_eq!(escalated.deliveries, 1, "{escalated:?}");
    let got = second.wait_accepted(1).await;
    assert!(verify(&got[0])["title"]
        .as_str()
        .unwrap()
        .starts_with("[ESCALATED]"));
    assert_eq!(alerting.tick(now + 302_000).await.unwrap().deliveries, 0);
    let id = open[0]["id"].as_str().unwrap();
    let (_, incident) = call(&h, "GET", &format!("/api/v1/incidents/{id}"), None).await;
    assert_eq!(incident["escalation_level"], 1);
    assert!(incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "escalated"));
    assert_eq!(first.requests(), 1);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn the_backtest_counts_past_firings_before_saving() {
    let h = start().await;
    let now = common::now_ms();
    let minute = 60_000;
    let start = (now / minute - 180) * minute;
    // Three hours of calm minutes with two bursts of five minutes.
    let points: Vec<(i64, f64)> = (0..180)
        .map(|m| {
            let burst = (60..65).contains(&m) || (120..125).contains(&m);
            (
                start + m * minute + 1_000,
                if burst { 900.0 } else { 100.0 },
            )
        })
        .collect();
    ingest(&h, "http.latency_ms", "api", &points).await;
    let rule = json!({
        "name": "High latency",
        "query": {"metric": "http.latency_ms", "agg": "avg", "filter": {"service": "api"}},
        "condition": {"op": ">", "threshold": 500},
        "for": "2m",
        "severity": "warning",
    });
    let (status, preview) = call(
        &h,
        "POST",
        "/api/v1/alert-rules/preview?range=24h",
        Some(rule.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["firings"], 2, "{preview}");
    assert_eq!(preview["episodes"].as_array().unwrap().len(), 2);
    let first = preview["episodes"][0]["start"].as_i64().unwrap();
    assert!(
        first >= start + 60 * minute && first <= start + 64 * minute,
        "fires inside the first burst"
    );
    // Nothing was saved (the built-in security rule is all there is).
    let (_, rules) = call(&h, "GET", "/api/v1/alert-rules", None).await;
    assert!(
        !rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "High latency"),
        "{rules}"
    );
    let mut long = rule.clone();
    long["for"] = json!("10m");
    let (_, preview) = call(
        &h,
        "POST",
        "/api/v1/alert-rules/preview?range=24h",
        Some(long),
    )
    .await;
    assert_eq!(
        preview["firings"], 0,
        "bursts shorter than `for` do not fire"
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn management_is_validated_and_needs_the_admin_token() {
    let h = start().await;
    let (status, body) = call(&h, "POST", "/api/v1/alert-rules", Some(json!({
        "name": "x", "query": {"metric": "m"}, "condition": {"op": ">", "threshold": 1}, "severity": "critical", "channels": ["ch_missing"]
    }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "channels[0]", "{body}");
    let (status, body) = call(&h, "POST", "/api/v1/alert-rules", Some(json!({
        "name": "x", "query": {"metric": "m"}, "condition": {"op": "≈", "threshold": 1}, "severity": "critical"
    }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "condition.op", "{body}");
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "x", "kind": "webhook", "config": {"url": "ftp://x"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "config.url", "{body}");
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "x", "kind": "pigeon", "config": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The channel list never shows secrets.
    let id = webhook_channel(&h, "http://127.0.0.1:9/hook").await;
    let (_, list) = call(&h, "GET", "/api/v1/channels", None).await;
    assert_eq!(list["channels"][0]["id"], id);
    assert!(!list.to_string().contains(SECRET), "{list}");
    // A channel in use cannot be deleted.
    let rule = latency_rule(&h, &id, json!({})).await;
    let (status, _) = call(&h, "DELETE", &format!("/api/v1/channels/{id}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(&h, "DELETE", &format!("/api/v1/alert-rules/{rule}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&h, "DELETE", &format!("/api/v1/channels/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Tests read without signing in (anonymous_read); changing needs a token (tests/auth.rs has
    // the whole role matrix).
    for (method, uri) in [
        ("POST", "/api/v1/alert-rules"),
        ("DELETE", "/api/v1/channels/x"),
        ("POST", "/api/v1/silences"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let resp = h.router.clone().oneshot(req).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{uri} without credentials"
        );
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", common::INGEST_KEY),
            )
            .body(Body::empty())
            .unwrap();
        let resp = h.router.clone().oneshot(req).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{uri} with an ingest key"
        );
    }
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn alert_states_survive_a_restart_without_notifying_again() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, url) = Receiver::start(&[]).await;
    let now = common::now_ms();
    {
        let mut config = common::config(dir.path());
        config.alerts.eval_interval = "1h".into();
        let osprey = Osprey::start(config).await.unwrap();
        let h = Harness {
            router: osprey.router(),
            osprey,
            _dir: tempfile::tempdir().unwrap(),
        };
        let channel = webhook_channel(&h, &url).await;
        latency_rule(&h, &channel, json!({})).await;
        ingest(&h, "http.latency_ms", "api", &[(now - 5_000, 900.0)]).await;
        let mut attempts = h.osprey.state.alerting.attempts();
        h.osprey.state.alerting.tick(now).await.unwrap();
        receiver.wait_accepted(1).await;
        attempts.wait_for(|n| *n >= 1).await.unwrap();
        h.osprey.shutdown().await;
    }
    let mut config = common::config(dir.path());
    config.alerts.eval_interval = "1h".into();
    let osprey = Osprey::start(config).await.unwrap();
    let h = Harness {
        router: osprey.router(),
        osprey,
        _dir: tempfile::tempdir().unwrap(),
    };
    ingest(&h, "http.latency_ms", "api", &[(now + 10_000, 950.0)]).await;
    let report = h.osprey.state.alerting.tick(now + 15_000).await.unwrap();
    assert_eq!(
        (report.transitions, report.deliveries),
        (0, 0),
        "still firing, already told"
    );
    let (_, alerts) = call(&h, "GET", "/api/v1/alerts", None).await;
    assert_eq!(alerts["alerts"][0]["state"], "firing");
    assert_eq!(receiver.requests(), 1);
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn a_rule_grouped_by_the_label_it_filters_on_keeps_its_state() {
    let h = start().await;
    let (_, url) = Receiver::start(&[]).await;
    let channel = webhook_channel(&h, &url).await;
    latency_rule(&h, &channel, json!({"group_by": ["service"], "for": "1m"})).await;
    let alerting = h.osprey.state.alerting.clone();
    let now = common::now_ms();
    ingest(&h, "http.latency_ms", "api", &[(now - 5_000, 900.0)]).await;
    assert_eq!(
        alerting.tick(now).await.unwrap().transitions,
        1,
        "normal → pending"
    );
    ingest(&h, "http.latency_ms", "api", &[(now + 55_000, 900.0)]).await;
    let report = alerting.tick(now + 61_000).await.unwrap();
    assert_eq!(
        report.transitions, 1,
        "pending → firing once `for` has passed: {report:?}"
    );
    let (_, alerts) = call(&h, "GET", "/api/v1/alerts", None).await;
    assert_eq!(alerts["alerts"][0]["state"], "firing");
    h.osprey.shutdown().await;
}
