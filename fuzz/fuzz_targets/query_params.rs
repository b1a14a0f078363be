//! Arbitrary query strings against every read endpoint of the HTTP API, through the real router
//! on a real (SQLite, seeded) store: each must be answered with a success or a 4xx naming the
//! bad parameter, never a panic and never a 5xx. The first byte picks the endpoint, the rest is
//! the query string (bytes a URI cannot carry are percent-encoded, as a browser would).
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use osprey::config::{Config, Secret};
use std::sync::LazyLock;
use tower::ServiceExt;

const ENDPOINTS: &[&str] = &[
    "/api/v1/query_range",
    "/api/v1/metrics",
    "/api/v1/events",
    "/api/v1/anomalies",
    "/api/v1/forecast",
    "/api/v1/live",
    "/api/v1/live/panels",
    "/api/v1/alert-rules/preview",
    "/api/v1/alerts",
    "/api/v1/incidents",
    "/api/v1/deliveries",
    "/api/v1/audit",
    "/api/v1/security/events",
    "/api/v1/security/findings",
    "/api/v1/errors",
    "/api/v1/traces",
    "/api/v1/logs",
    "/api/v1/services",
    "/api/v1/logs/live",
];

const ADMIN_TOKEN: &str = "fuzz-admin-token";
const INGEST_KEY: &str = "fuzz-ingest-key";

struct Target {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _osprey: osprey::Osprey,
    _dir: tempfile::TempDir,
}

/// One Osprey for the whole run, with a little of every kind of data so queries reach the store.
static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.storage.database_url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
    config.auth.admin_token = Some(Secret::new(ADMIN_TOKEN));
    config.auth.ingest_key = Some(Secret::new(INGEST_KEY));
    config.auth.admin_password = Some(Secret::new("fuzz-admin-password"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let osprey = runtime.block_on(osprey::Osprey::start(config)).unwrap();
    let router = osprey.router();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let seed = format!(
        r#"{{"context": {{"service": "shop", "release": "1.0"}},
            "metrics": [{{"timestamp": {now}, "name": "http.latency", "value": 12.5}}],
            "events": [{{"timestamp": {now}, "name": "signup"}}],
            "errors": [{{"timestamp": {now}, "type": "TypeError", "message": "x is undefined"}}],
            "spans": [{{"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
                        "name": "GET /", "start": {now}, "duration_ms": 3.5, "status": "error"}}],
            "security": [{{"timestamp": {now}, "kind": "auth_failure", "actor": "u-9", "ip": "203.0.113.7"}}],
            "logs": [{{"timestamp": {now}, "severity": "error", "body": "boom"}}]}}"#
    );
    let seeded = runtime.block_on(
        router.clone().oneshot(
            Request::post("/api/v1/ingest")
                .header("authorization", format!("Bearer {INGEST_KEY}"))
                .header("content-type", "application/json")
                .body(Body::from(seed))
                .unwrap(),
        ),
    );
    assert_eq!(seeded.unwrap().status(), StatusCode::ACCEPTED, "seeding the store");
    Target {
        runtime,
        router,
        _osprey: osprey,
        _dir: dir,
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, query)) = data.split_first() else {
        return;
    };
    let path = ENDPOINTS[pick as usize % ENDPOINTS.len()];
    let mut uri = format!("{path}?");
    for &b in query {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    let Ok(request) = Request::get(&uri)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
    else {
        return; // not a URI at all (a stray '%'): the HTTP layer refuses it before Osprey
    };
    let target = &*TARGET;
    let status = target
        .runtime
        .block_on(target.router.clone().oneshot(request))
        .unwrap()
        .status();
    assert!(!status.is_server_error(), "{uri} answered {status}");
});
