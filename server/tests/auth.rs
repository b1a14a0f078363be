//! Signing in, sessions, roles, CSRF and the audit log, through the router.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use osprey::accounts::Role;
use osprey::Osprey;
use serde_json::{json, Value};
use tower::ServiceExt;

const HOST: &str = "osprey.test";

struct Harness {
    osprey: Osprey,
    router: Router,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.auth.anonymous_read = false;
    config.alerts.eval_interval = "1h".into();
    let osprey = Osprey::start(config).await.expect("start");
    let router = osprey.router();
    Harness {
        osprey,
        router,
        _dir: dir,
    }
}

#[derive(Clone, Copy, Debug)]
enum Cred<'a> {
    None,
    Bearer(&'a str),
    Cookie(&'a str),
}

async fn call(
    h: &Harness,
    method: &str,
    uri: &str,
    body: Option<Value>,
    cred: Cred<'_>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, format!("http://{HOST}"));
    match cred {
        Cred::None => {}
        Cred::Bearer(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Cred::Cookie(c) => req = req.header(header::COOKIE, c),
    }
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
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Signs in and returns the `Cookie` header value of the session.
async fn sign_in(h: &Harness, username: &str, password: &str) -> String {
    let (status, headers, body) = call(
        h,
        "POST",
        "/api/v1/login",
        Some(json!({"username": username, "password": password})),
        Cred::None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn every_management_endpoint_checks_the_role() {
    let h = start().await;
    let accounts = &h.osprey.state.accounts;
    accounts
        .create_user("vera", "viewer-password", Role::Viewer)
        .await
        .unwrap();
    accounts
        .create_user("ed", "editor-password", Role::Editor)
        .await
        .unwrap();
    let viewer = sign_in(&h, "vera", "viewer-password").await;
    let editor = sign_in(&h, "ed", "editor-password").await;
    let admin = sign_in(&h, "admin", "test-admin-password").await;

    let rule = json!({"name": "r", "query": {"metric": "m"}, "condition": {"op": ">", "threshold": 1}, "severity": "info"});
    let silence = json!({"matchers": [{"label": "service", "op": "=", "value": "x"}], "ends_at": common::now_ms() + 60_000});
    let channel = json!({"name": "c", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/"}});
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/ingest",
        Some(json!({"errors": [{"timestamp": common::now_ms(), "type": "E", "message": "m"}]})),
        Cred::Bearer(common::INGEST_KEY),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, _, listed) = call(&h, "GET", "/api/v1/errors", None, Cred::Cookie(&admin)).await;
    let issue = format!(
        "/api/v1/errors/{}",
        listed["errors"][0]["group_id"]
            .as_str()
            .expect("the issue is listed")
    );
    // (method, path, body, least role; None: anyone signed in or not)
    let cases: Vec<(&str, &str, Option<Value>, Role)> = vec![
        ("GET", "/api/v1/query_range?metric=m", None, Role::Viewer),
        ("GET", "/api/v1/metrics", None, Role::Viewer),
        ("GET", "/api/v1/anomalies", None, Role::Viewer),
        ("GET", "/api/v1/alerts", None, Role::Viewer),
        ("GET", "/api/v1/alert-rules", None, Role::Viewer),
        ("GET", "/api/v1/incidents", None, Role::Viewer),
        ("GET", "/api/v1/channels", None, Role::Viewer),
        ("GET", "/api/v1/deliveries", None, Role::Viewer),
        ("GET", "/api/v1/errors", None, Role::Viewer),
        ("GET", issue.as_str(), None, Role::Viewer),
        ("GET", "/api/v1/traces", None, Role::Viewer),
        ("GET", "/api/v1/logs", None, Role::Viewer),
        ("GET", "/api/v1/services", None, Role::Viewer),
        ("GET", "/api/v1/spans", None, Role::Viewer),
        ("GET", "/api/v1/spans/points", None, Role::Viewer),
        ("GET", "/api/v1/security/events", None, Role::Viewer),
        ("GET", "/api/v1/security/findings", None, Role::Viewer),
        (
            "PATCH",
            issue.as_str(),
            Some(json!({"status": "ignored"})),
            Role::Editor,
        ),
        ("POST", "/api/v1/alert-rules", Some(rule), Role::Editor),
        (
            "POST",
            "/api/v1/alert-rules/preview",
            Some(
                json!({"name": "r", "query": {"metric": "m"}, "condition": {"op": ">", "threshold": 1}, "severity": "info"}),
            ),
            Role::Editor,
        ),
        ("POST", "/api/v1/channels", Some(channel), Role::Editor),
        ("POST", "/api/v1/silences", Some(silence), Role::Editor),
        ("GET", "/api/v1/dashboards", None, Role::Viewer),
        (
            "POST",
            "/api/v1/dashboards",
            Some(
                json!({"title": "d", "panels": [{"title": "p", "query": {"metric": "m"}, "viz": "line"}]}),
            ),
            Role::Editor,
        ),
        ("GET", "/api/v1/embed-tokens", None, Role::Editor),
        ("GET", "/api/v1/audit", None, Role::Admin),
        ("GET", "/api/v1/users", None, Role::Admin),
        (
            "POST",
            "/api/v1/users",
            Some(json!({"username": "new", "password": "long enough pw", "role": "viewer"})),
            Role::Admin,
        ),
        ("GET", "/api/v1/keys", None, Role::Admin),
        (
            "POST",
            "/api/v1/keys",
            Some(json!({"name": "k", "scope": "read"})),
            Role::Admin,
        ),
    ];
    let creds: Vec<(&str, Cred, Option<Role>)> = vec![
        ("nobody", Cred::None, None),
        ("ingest key", Cred::Bearer(common::INGEST_KEY), None),
        ("viewer", Cred::Cookie(&viewer), Some(Role::Viewer)),
        ("editor", Cred::Cookie(&editor), Some(Role::Editor)),
        ("admin", Cred::Cookie(&admin), Some(Role::Admin)),
        (
            "admin token",
            Cred::Bearer("test-admin-token"),
            Some(Role::Admin),
        ),
    ];
    for (method, path, body, least) in &cases {
        for (i, (who, cred, role)) in creds.iter().enumerate() {
            let mut body = body.clone();
            if let Some(user) = body.as_mut().and_then(|b| b.get_mut("username")) {
                *user = json!(format!("new-{i}"));
            }
            let (status, _, reply) = call(&h, method, path, body, *cred).await;
            let expected = match (role, who) {
                (None, &"nobody") => StatusCode::UNAUTHORIZED,
                (None, _) => StatusCode::FORBIDDEN,
                (Some(r), _) if r < least => StatusCode::FORBIDDEN,
                _ => {
                    assert!(
                        status.is_success(),
                        "{who} {method} {path}: {status} {reply}"
                    );
                    continue;
                }
            };
            assert_eq!(status, expected, "{who} {method} {path}: {reply}");
            assert!(reply["error"]["code"].is_string(), "{reply}");
        }
    }
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn sessions_sign_in_out_and_are_rate_limited() {
    let h = start().await;
    let admin = sign_in(&h, "admin", "test-admin-password").await;
    let (status, _, _) = call(&h, "GET", "/api/v1/alerts", None, Cred::Cookie(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&h, "POST", "/api/v1/logout", None, Cred::Cookie(&admin)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&h, "GET", "/api/v1/alerts", None, Cred::Cookie(&admin)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the server revoked the session"
    );
    let (status, _, _) = call(
        &h,
        "GET",
        "/api/v1/alerts",
        None,
        Cred::Cookie("osprey_session=forged"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Five wrong passwords for one user, then even the right one waits.
    for _ in 0..5 {
        let (status, _, body) = call(
            &h,
            "POST",
            "/api/v1/login",
            Some(json!({"username": "admin", "password": "wrong"})),
            Cred::None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, headers, body) = call(
        &h,
        "POST",
        "/api/v1/login",
        Some(json!({"username": "admin", "password": "test-admin-password"})),
        Cred::None,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");

    // A page asks the signed-out to sign in, and comes back after.
    let req = Request::get("/alerts?x=1")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let resp = h.router.clone().oneshot(req).await.unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(
        resp.headers()[header::LOCATION],
        "/login?next=/alerts%3Fx%3D1"
    );
    let req = Request::get("/login")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        h.router.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn cross_site_requests_with_a_session_are_refused() {
    let h = start().await;
    let admin = sign_in(&h, "admin", "test-admin-password").await;
    let silence = json!({"matchers": [{"label": "service", "op": "=", "value": "x"}], "ends_at": common::now_ms() + 60_000});
    for origin in [Some("https://evil.example"), None] {
        let mut req = Request::post("/api/v1/silences")
            .header(header::HOST, HOST)
            .header(header::COOKIE, &admin)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        let resp = h
            .router
            .clone()
            .oneshot(req.body(Body::from(silence.to_string())).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "origin {origin:?}");
        let body: Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["error"]["code"], "csrf");
    }
    // The same request from this site's page goes through.
    let (status, _, body) = call(
        &h,
        "POST",
        "/api/v1/silences",
        Some(silence),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A server function posted from another site is refused too.
    let req = Request::post("/_osprey/dismiss_anomaly")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("series_id=1&ts=1"))
        .unwrap();
    assert_eq!(
        h.router.clone().oneshot(req).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn the_audit_log_records_sign_ins_and_changes() {
    let h = start().await;
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/login",
        Some(json!({"username": "admin", "password": "nope"})),
        Cred::None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = sign_in(&h, "admin", "test-admin-password").await;
    let rule = json!({"name": "r", "query": {"metric": "m"}, "condition": {"op": ">", "threshold": 1}, "severity": "info"});
    let (status, _, created) = call(
        &h,
        "POST",
        "/api/v1/alert-rules",
        Some(rule),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, log) = call(
        &h,
        "GET",
        "/api/v1/audit",
        None,
        Cred::Bearer("test-admin-token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let entries: Vec<(String, String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["time"].as_i64().unwrap() > 0);
            (
                e["actor"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
                e["target"].as_str().unwrap().into(),
            )
        })
        .collect();
    let rule_id = created["id"].as_str().unwrap().to_string();
    assert!(
        entries.contains(&("admin".into(), "rule.create".into(), rule_id)),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("admin".into(), "login".into(), "admin".into())),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("anonymous".into(), "login_failed".into(), "admin".into())),
        "{entries:?}"
    );
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn admins_manage_users_and_a_demotion_ends_their_sessions() {
    let h = start().await;
    let admin = sign_in(&h, "admin", "test-admin-password").await;
    let (status, _, body) = call(
        &h,
        "POST",
        "/api/v1/users",
        Some(json!({"username": "ed", "password": "short", "role": "editor"})),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "password", "{body}");
    let (status, _, body) = call(
        &h,
        "POST",
        "/api/v1/users",
        Some(json!({"username": "ed", "password": "editor-password", "role": "boss"})),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("role"))
    );
    let (status, _, created) = call(
        &h,
        "POST",
        "/api/v1/users",
        Some(json!({"username": "ed", "password": "editor-password", "role": "editor"})),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/users",
        Some(json!({"username": "ed", "password": "editor-password", "role": "editor"})),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "usernames are unique");
    let (_, _, list) = call(&h, "GET", "/api/v1/users", None, Cred::Cookie(&admin)).await;
    assert!(
        !list.to_string().contains("argon2"),
        "hashes never leave: {list}"
    );

    let ed = sign_in(&h, "ed", "editor-password").await;
    let silence = json!({"matchers": [{"label": "service", "op": "=", "value": "x"}], "ends_at": common::now_ms() + 60_000});
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/silences",
        Some(silence.clone()),
        Cred::Cookie(&ed),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    let (status, _, body) = call(
        &h,
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(json!({"role": "viewer"})),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("viewer")),
        "{body}"
    );
    let (status, _, _) = call(&h, "GET", "/api/v1/alerts", None, Cred::Cookie(&ed)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the demotion signed ed out"
    );
    let ed = sign_in(&h, "ed", "editor-password").await;
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/silences",
        Some(silence),
        Cred::Cookie(&ed),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer now");
    let (status, _, _) = call(
        &h,
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(json!({"disabled": true})),
        Cred::Cookie(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/login",
        Some(json!({"username": "ed", "password": "editor-password"})),
        Cred::None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "disabled users cannot sign in"
    );

    let (_, _, log) = call(&h, "GET", "/api/v1/audit", None, Cred::Cookie(&admin)).await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "user.create",
        "role.change",
        "user.disable",
        "silence.create",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn keys_are_created_listed_rotated_and_revoked() {
    let h = start().await;
    let admin = Cred::Bearer("test-admin-token");
    let (status, _, body) = call(
        &h,
        "POST",
        "/api/v1/keys",
        Some(json!({"name": "grafana", "scope": "root"})),
        admin,
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scope"))
    );
    let (status, _, created) = call(
        &h,
        "POST",
        "/api/v1/keys",
        Some(json!({"name": "grafana", "scope": "read"})),
        admin,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("osp_read_"), "{key}");
    let id = created["id"].as_str().unwrap().to_string();

    // A read key reads and changes nothing.
    let (status, _, _) = call(&h, "GET", "/api/v1/alerts", None, Cred::Bearer(&key)).await;
    assert_eq!(status, StatusCode::OK);
    let silence = json!({"matchers": [{"label": "service", "op": "=", "value": "x"}], "ends_at": common::now_ms() + 60_000});
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/silences",
        Some(silence),
        Cred::Bearer(&key),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Listed by prefix and id only, with when it was last used.
    let list = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let (_, _, list) = call(&h, "GET", "/api/v1/keys", None, admin).await;
            let mine = list["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == id.as_str())
                .cloned()
                .unwrap();
            if mine["last_used_at"].is_i64() {
                return list;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("last use recorded");
    assert!(
        !list.to_string().contains(&key),
        "the key itself is shown once only"
    );

    // Rotation: the new key works, the old one stops at once.
    let (status, _, rotated) = call(
        &h,
        "POST",
        &format!("/api/v1/keys/{id}/rotate"),
        None,
        admin,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(rotated["name"], "grafana");
    let (status, _, _) = call(&h, "GET", "/api/v1/alerts", None, Cred::Bearer(&key)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the rotated-out key is revoked"
    );
    let (status, _, _) = call(&h, "GET", "/api/v1/alerts", None, Cred::Bearer(&new_key)).await;
    assert_eq!(status, StatusCode::OK);
    let new_id = rotated["id"].as_str().unwrap();
    let (status, _, _) = call(&h, "DELETE", &format!("/api/v1/keys/{new_id}"), None, admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&h, "GET", "/api/v1/alerts", None, Cred::Bearer(&new_key)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&h, "DELETE", &format!("/api/v1/keys/{new_id}"), None, admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An ingest key created here ingests, and revoking it stops ingest.
    let (_, _, ingest) = call(
        &h,
        "POST",
        "/api/v1/keys",
        Some(json!({"name": "shop", "scope": "ingest"})),
        admin,
    )
    .await;
    let ingest_key = ingest["key"].as_str().unwrap().to_string();
    let batch = json!({"metrics": [{"timestamp": common::now_ms(), "name": "k.m", "value": 1}]});
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/ingest",
        Some(batch.clone()),
        Cred::Bearer(&ingest_key),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, _) = call(
        &h,
        "DELETE",
        &format!("/api/v1/keys/{}", ingest["id"].as_str().unwrap()),
        None,
        admin,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/ingest",
        Some(batch),
        Cred::Bearer(&ingest_key),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, _, log) = call(&h, "GET", "/api/v1/audit", None, admin).await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["key.create", "key.rotate", "key.revoke"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    h.osprey.shutdown().await;
}

#[tokio::test]
async fn pages_carry_a_nonce_policy_and_every_response_is_hardened() {
    let h = start().await;
    let admin = sign_in(&h, "admin", "test-admin-password").await;
    let req = Request::get("/alerts")
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, &admin)
        .body(Body::empty())
        .unwrap();
    let resp = h.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(resp.headers().contains_key(header::REFERRER_POLICY));
    let html = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a script nonce in the policy")
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let scripts = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .unwrap();
    assert!(
        !scripts.contains("unsafe-inline"),
        "no inline scripts without the nonce: {csp}"
    );
    // Every script the page carries is either external or has this response's nonce.
    for tag in html.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap();
        assert!(
            open.contains("src=") || open.contains(&format!("nonce=\"{nonce}\"")),
            "script without nonce: <script{open}>"
        );
    }
    // A second page gets a different nonce.
    let req = Request::get("/alerts")
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, &admin)
        .body(Body::empty())
        .unwrap();
    let again = h.router.clone().oneshot(req).await.unwrap();
    assert_ne!(
        again.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap(),
        csp
    );
    // API answers may not be framed or run anything either.
    let (_, headers, _) = call(&h, "GET", "/healthz", None, Cred::None).await;
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    h.osprey.shutdown().await;
}

/// Security review, row 1: the reader check once ran only for GETs that accepted `text/html`, so
/// `curl -H 'Accept: */*' /errors` (and `fetch()`, hence DNS rebinding) read every page signed
/// out. Now every path needs a viewer unless it is on the public list, whatever the headers.
#[tokio::test]
async fn every_page_needs_a_viewer_whatever_the_accept_header() {
    let h = start().await;
    let secret = "the-ingested-error-message-nobody-may-read";
    let now = common::now_ms();
    let batch = json!({"context": {"service": "shop"},
        "errors": [{"timestamp": now, "type": "TypeError", "message": secret}]});
    let ingest = Request::post("/api/v1/ingest")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", common::INGEST_KEY),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(batch.to_string()))
        .unwrap();
    let resp = h.router.clone().oneshot(ingest).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let viewer = {
        h.osprey
            .state
            .accounts
            .create_user("vera", "viewer-password", Role::Viewer)
            .await
            .unwrap();
        sign_in(&h, "vera", "viewer-password").await
    };

    let get = |path: &str, accept: Option<&str>, cookie: Option<&str>| {
        let mut req = Request::get(path).header(header::HOST, HOST);
        if let Some(accept) = accept {
            req = req.header(header::ACCEPT, accept);
        }
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        let router = h.router.clone();
        let req = req.body(Body::empty()).unwrap();
        async move {
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let location = resp.headers().get(header::LOCATION).cloned();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                location,
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        }
    };
    let pages = [
        "/",
        "/errors",
        "/logs",
        "/traces",
        "/security",
        "/alerts",
        "/incidents",
        "/dashboards",
        "/explore",
        "/settings",
        "/no/such/page",
    ];
    for path in pages {
        for accept in [
            None,
            Some("*/*"),
            Some("application/json"),
            Some("text/plain"),
        ] {
            let (status, _, body) = get(path, accept, None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{path} {accept:?}: {body}"
            );
            assert!(!body.contains(secret), "{path} {accept:?} leaked: {body}");
        }
        // A browser navigating there is sent to sign in instead.
        let (status, location, _) = get(path, Some("text/html"), None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let location = location.unwrap();
        assert!(location.to_str().unwrap().starts_with("/login?next="));
    }
    // Signed in, the same request reads.
    let (status, _, body) = get("/errors", Some("*/*"), Some(&viewer)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(secret), "{body}");
    // The public list: sign-in, health and the site's static files.
    for path in ["/login", "/healthz", "/readyz", "/favicon.svg"] {
        let (status, _, body) = get(path, Some("*/*"), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    // Server functions answer no one signed out either.
    let load = <app::signals::LoadErrorGroups as leptos::server_fn::ServerFn>::PATH;
    let resp = h
        .router
        .clone()
        .oneshot(
            Request::post(load)
                .header(header::HOST, HOST)
                .header(header::ORIGIN, format!("http://{HOST}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    h.osprey.shutdown().await;
}

/// Security review, row 8: `next=/\evil.example` passed the sign-in form's check (browsers read
/// `\` as `/`), an open redirect. Only paths on this site are followed now.
#[tokio::test]
async fn signing_in_never_redirects_off_the_site() {
    let h = start().await;
    for (next, want) in [
        ("/errors?range=6h", "/errors?range=6h"),
        ("/\\evil.example", "/"),
        ("//evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("https://evil.example", "/"),
    ] {
        let form = format!(
            "username=admin&password=test-admin-password&next={}",
            next.bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>()
        );
        let req = Request::post("/login")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let resp = h.router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(resp.headers()[header::LOCATION], want, "{next:?}");
    }
    h.osprey.shutdown().await;
}

/// Security review, row 3: a live ingest key was printed in every page, `/login` included; copied
/// from there it wrote metrics and a forged `auth_success` from a foreign origin. Pages now carry
/// no key: Osprey's own pages report with the reader's session, same-origin, and only their own
/// errors, events and metrics; a key made for pages before is revoked at start-up.
#[tokio::test]
async fn pages_carry_no_key_and_report_with_the_session() {
    let h = start().await;
    let page = |path: &str, cookie: Option<String>| {
        let mut req = Request::get(path)
            .header(header::HOST, HOST)
            .header(header::ACCEPT, "text/html");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let router = h.router.clone();
        let req = req.body(Body::empty()).unwrap();
        async move {
            let resp = router.oneshot(req).await.unwrap();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let login = page("/login", None).await;
    assert!(login.contains("Sign in"), "{login}");
    assert!(
        !login.contains("data-key") && !login.contains("osp_"),
        "{login}"
    );
    assert!(!login.contains("/sdk/osprey.js"), "no reporting signed out");
    h.osprey
        .state
        .accounts
        .create_user("vera", "viewer-password", Role::Viewer)
        .await
        .unwrap();
    let viewer = sign_in(&h, "vera", "viewer-password").await;
    let errors = page("/errors", Some(viewer.clone())).await;
    assert!(errors.contains("data-session"), "{errors}");
    assert!(
        !errors.contains("data-key") && !errors.contains("osp_"),
        "{errors}"
    );

    let now = common::now_ms();
    let send = |body: Value, origin: &str, cookie: Option<&str>| {
        // A fresh batch id each time: a repeated one is answered from memory, unread.
        let mut req = Request::post(format!("/api/v1/ingest?batch=b{}", common::rand_u64()))
            .header(header::HOST, HOST)
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "text/plain");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let router = h.router.clone();
        let req = req.body(Body::from(body.to_string())).unwrap();
        async move { router.oneshot(req).await.unwrap().status() }
    };
    let own = json!({"context": {"service": "osprey-dashboard"},
        "errors": [{"timestamp": now, "type": "TypeError", "message": "x is undefined"}],
        "events": [{"timestamp": now, "name": "page_view"}],
        "metrics": [{"timestamp": now, "name": "web_vitals.lcp", "value": 812.0}]});
    let here = format!("http://{HOST}");
    assert_eq!(
        send(own.clone(), &here, Some(&viewer)).await,
        StatusCode::ACCEPTED
    );
    let forged = json!({"context": {"service": "osprey-dashboard"},
        "security": [{"timestamp": now, "kind": "auth_success", "actor": "admin", "ip": "203.0.113.9"}]});
    assert_eq!(
        send(forged, &here, Some(&viewer)).await,
        StatusCode::FORBIDDEN
    );
    let other_service = json!({"context": {"service": "shop"},
        "metrics": [{"timestamp": now, "name": "orders", "value": 1.0}]});
    assert_eq!(
        send(other_service, &here, Some(&viewer)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(own.clone(), "https://evil.example", Some(&viewer)).await,
        StatusCode::UNAUTHORIZED,
        "another site's page gets nothing from the session"
    );
    assert_eq!(send(own, &here, None).await, StatusCode::UNAUTHORIZED);

    // A key that pages carried before is revoked at the next start.
    let store = h.osprey.state.store.clone();
    let (_, old_key) = osprey::auth::create_key(
        store.as_ref(),
        osprey::store::KeyKind::Ingest,
        "dashboard self-monitoring",
    )
    .await
    .unwrap();
    store
        .put_document(&osprey::store::Document {
            kind: osprey::store::alerting::kinds::SETTING,
            id: "dashboard_ingest_key".into(),
            name: "dashboard ingest key".into(),
            body: json!({ "key": old_key }),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    assert!(osprey::auth::retire_dashboard_key(store.as_ref())
        .await
        .unwrap());
    assert!(!osprey::auth::retire_dashboard_key(store.as_ref())
        .await
        .unwrap());
    let keys = store.keys().await.unwrap();
    let hash = osprey::auth::hash_key(&old_key);
    assert!(keys
        .iter()
        .any(|k| k.hash == hash && k.revoked_at.is_some()));
    h.osprey.shutdown().await;
}

/// Security review, row 4 (in part): every sign-in attempt wrote the typed username, up to the
/// 2 MB body limit, to the audit log; ten requests grew the database by 28.6 MB. A sign-in body
/// is now at most 8 KiB (413 beyond), and what is kept of a typed username is at most 64 bytes.
#[tokio::test]
async fn a_sign_in_attempt_keeps_only_a_bounded_part_of_what_was_typed() {
    let h = start().await;
    let huge = "é".repeat(50_000);
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/login",
        Some(json!({"username": huge, "password": "x"})),
        Cred::None,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let long = format!("{}{}", "ü".repeat(40), "x".repeat(2_000));
    let (status, _, _) = call(
        &h,
        "POST",
        "/api/v1/login",
        Some(json!({"username": long, "password": "x"})),
        Cred::None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, _, log) = call(
        &h,
        "GET",
        "/api/v1/audit",
        None,
        Cred::Bearer("test-admin-token"),
    )
    .await;
    let failed: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login_failed")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 1, "the refused body was never read: {log}");
    assert_eq!(failed[0], format!("{}…", "ü".repeat(32)));
    h.osprey.shutdown().await;
}
