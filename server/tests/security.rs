//! Security monitoring end to end inside one process: sign-in events (from ingest and from
//! Osprey's own sign-in) reach the detector, its findings are stored and reach the alert engine,
//! and browsers' CSP violation reports are accepted.

mod common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use osprey::Osprey;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceExt;

const ADMIN: &str = "test-admin-token";

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
    let osprey = Osprey::start(config).await.expect("start");
    let router = osprey.router();
    Harness {
        osprey,
        router,
        _dir: dir,
    }
}

async fn send(h: &Harness, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = h.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(h: &Harness, uri: &str) -> Value {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(h, req).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

/// Resolves once detection has stored `n` findings; never sleeps.
async fn findings_stored(h: &Harness, n: u64) {
    let mut progress = h.osprey.state.security.clone();
    tokio::time::timeout(
        Duration::from_secs(20),
        progress.wait_for(|p| p.findings >= n),
    )
    .await
    .expect("findings in time")
    .expect("detection running");
}

fn failure(t: i64, actor: &str, ip: &str) -> Value {
    json!({"timestamp": t, "kind": "auth_failure", "actor": actor, "ip": ip, "details": {"reason": "bad_password"}})
}

#[tokio::test]
async fn ten_failures_from_one_address_fire_the_security_alert() {
    let h = start().await;
    let now = common::now_ms();
    let events: Vec<Value> = (0..10)
        .map(|i| {
            failure(
                now - 10_000 + i * 1_000,
                &format!("user{}", i % 3),
                "203.0.113.7",
            )
        })
        .collect();
    let req = Request::post("/api/v1/ingest")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", common::INGEST_KEY),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"context": {"service": "shop"}, "security": events}).to_string(),
        ))
        .unwrap();
    let (status, _, _) = send(&h, req).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    findings_stored(&h, 1).await;

    let findings = get(&h, "/api/v1/security/findings").await;
    let found = findings["findings"].as_array().unwrap();
    let brute = found
        .iter()
        .find(|f| f["kind"] == "brute_force_ip")
        .unwrap_or_else(|| panic!("no brute force finding in {findings}"));
    assert_eq!(brute["subject"], "203.0.113.7");
    assert_eq!(brute["count"], 10);
    assert_eq!(
        brute["service"], "shop",
        "a finding keeps the service of its events"
    );
    assert!(brute["explanation"]
        .as_str()
        .unwrap()
        .contains("10 failed sign-ins"));
    assert!(
        !found.iter().any(|f| f["kind"] == "brute_force_account"),
        "three accounts, none failed ten times: {findings}"
    );

    let alerting = &h.osprey.state.alerting;
    alerting.tick(common::now_ms()).await.unwrap();
    let alerts = alerting.alerts().await.unwrap();
    let rule = alerts
        .iter()
        .find(|a| a.name == osprey::SECURITY_RULE)
        .expect("the security rule exists from the first start");
    assert_eq!(rule.severity, "critical");
    assert_eq!(rule.state, "firing", "{rule:?}");
    assert!(rule.instances.iter().any(|i| i.state == "firing"
        && i.labels.get("kind").map(String::as_str) == Some("brute_force_ip")));
    let incidents = alerting.incidents(true, 10).await.unwrap();
    assert!(
        incidents
            .iter()
            .any(|i| i.title.contains("Security") && i.status == "triggered"),
        "{incidents:?}"
    );
    let rules = alerting.rules().await.unwrap();
    assert_eq!(
        rules
            .iter()
            .filter(|r| r.spec["name"] == osprey::SECURITY_RULE)
            .count(),
        1
    );
}

#[tokio::test]
async fn failed_sign_ins_to_osprey_are_stored_and_detected() {
    let h = start().await;
    let attacker: SocketAddr = "198.51.100.23:40000".parse().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let mut req = Request::post("/api/v1/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"username": "admin", "password": "guess-guess-guess"}).to_string(),
            ))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(attacker));
        let (status, _, _) = send(&h, req).await;
        statuses.push(status.as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429, 429, 429, 429],
        "the sign-in rate limit still applies"
    );
    // Brute force against the address and against the account.
    findings_stored(&h, 2).await;
    let findings = get(&h, "/api/v1/security/findings").await;
    let kinds: Vec<(&str, &str)> = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["subject"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("brute_force_ip", "198.51.100.23")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("brute_force_account", "admin")),
        "{kinds:?}"
    );

    let events = get(&h, "/api/v1/security/events?kind=auth_failure").await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        10,
        "every attempt is a failure, blocked ones too"
    );
    assert!(events.iter().all(|e| e["labels"]["service"] == "osprey"
        && e["actor"] == "admin"
        && e["ip"] == "198.51.100.23"));
    assert_eq!(
        events
            .iter()
            .filter(|e| e["details"]["reason"] == "rate limited")
            .count(),
        5
    );
}

#[tokio::test]
async fn a_successful_sign_in_is_an_auth_success_event() {
    let h = start().await;
    let req = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": "admin", "password": "test-admin-password"}).to_string(),
        ))
        .unwrap();
    let (status, _, _) = send(&h, req).await;
    assert_eq!(status, StatusCode::OK);
    let events = get(&h, "/api/v1/security/events?kind=auth_*").await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["auth_success"]);
}

fn csp(body: &str, content_type: &str, key: &str) -> Request<Body> {
    Request::post(format!("/api/v1/csp-report?key={key}&service=shop"))
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ORIGIN, "https://shop.example")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn csp_reports_of_both_formats_are_stored() {
    let h = start().await;
    let key = common::INGEST_KEY;
    let classic = json!({"csp-report": {
        "document-uri": "https://shop.example/cart", "violated-directive": "script-src-elem",
        "blocked-uri": "https://evil.example/x.js", "source-file": "https://shop.example/app.js",
        "line-number": 12, "original-policy": "script-src 'self'"}});
    let (status, headers, _) =
        send(&h, csp(&classic.to_string(), "application/csp-report", key)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");

    let modern = json!([
        {"type": "csp-violation", "age": 3, "url": "https://shop.example/",
         "body": {"documentURL": "https://shop.example/", "effectiveDirective": "img-src",
                  "blockedURL": "https://track.example/p.gif", "disposition": "enforce"}},
        {"type": "deprecation", "body": {"id": "x"}}
    ]);
    let (status, _, _) = send(
        &h,
        csp(&modern.to_string(), "application/reports+json", key),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let events = get(&h, "/api/v1/security/events?kind=csp_violation").await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let img = &events[0]["details"];
    assert_eq!(img["violated-directive"], "img-src");
    assert_eq!(img["blocked-uri"], "https://track.example/p.gif");
    let script = &events[1];
    assert_eq!(
        script["details"]["document-uri"],
        "https://shop.example/cart"
    );
    assert_eq!(
        script["details"]["source-file"],
        "https://shop.example/app.js"
    );
    assert_eq!(script["details"]["line-number"], 12);
    assert_eq!(script["labels"]["service"], "shop");

    // Preflight, as for ingest.
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/api/v1/csp-report")
        .header(header::ORIGIN, "https://shop.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&h, preflight).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn bad_csp_reports_are_refused() {
    let h = start().await;
    let key = common::INGEST_KEY;
    let body = json!({"csp-report": {"blocked-uri": "inline"}}).to_string();
    let cases = [
        (
            csp(&body, "application/csp-report", "wrong-key"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            csp(&body, "text/html", key),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            csp("{not json", "application/csp-report", key),
            StatusCode::BAD_REQUEST,
        ),
        (
            csp("{\"other\": 1}", "application/csp-report", key),
            StatusCode::BAD_REQUEST,
        ),
        (
            csp(
                &format!(
                    "{{\"csp-report\": {{\"blocked-uri\": \"{}\"}}}}",
                    "a".repeat(70_000)
                ),
                "application/csp-report",
                key,
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (req, expected) in cases {
        let (status, _, body) = send(&h, req).await;
        assert_eq!(status, expected, "{body}");
    }
    let events = get(&h, "/api/v1/security/events").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn listing_parameters_are_checked() {
    let h = start().await;
    for uri in [
        "/api/v1/security/events?from=yesterday",
        "/api/v1/security/events?from=now&to=now-1h",
    ] {
        let req = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(&h, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
    }
}
