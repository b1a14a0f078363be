//! HTTP deliveries against a real receiver on a loopback socket: what arrives (bodies,
//! headers, signatures, auth, form fields) and how failures are classified.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::{closed_port, message, INCIDENT_URL, PANEL_URL};
use notify::{parse_channel, ChannelConfig, MessageStatus, Sender, Timeouts};

/// A request as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// What the receiver answers.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: &'static str,
    delay: Duration,
}

impl Reply {
    fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: "",
            delay: Duration::ZERO,
        }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn with_body(mut self, body: &'static str) -> Self {
        self.body = body;
        self
    }
}

type Respond = dyn Fn(&Received) -> Reply + Send + Sync;

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    respond: Arc<Respond>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers as `respond` says.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(respond: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        let state = ReceiverState {
            received: Arc::default(),
            respond: Arc::new(respond),
        };
        let received = state.received.clone();
        let app = Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            port,
            received,
            server,
        }
    }

    /// A receiver that answers every request with `status`.
    async fn answering(status: u16) -> Self {
        Self::start(move |_| Reply::status(status)).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn only_request(&self) -> Received {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        requests.into_iter().next().unwrap()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(state): State<ReceiverState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Received {
        method,
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    };
    let reply = (state.respond)(&request);
    state.received.lock().unwrap().push(request);
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// HMAC-SHA256 as RFC 2104 defines it, written out here so that the crate's signature is
/// checked against a computation that shares no code with it.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn webhook(url: &str, secret: Option<&str>) -> ChannelConfig {
    let mut config = json!({"url": url});
    if let Some(secret) = secret {
        config["secret"] = json!(secret);
    }
    parse_channel("webhook", &config).unwrap()
}

#[tokio::test]
async fn webhooks_post_signed_json_with_an_idempotency_key() {
    let receiver = Receiver::answering(200).await;
    let channel = webhook(&receiver.url("/hooks/osprey"), Some("s3cret"));
    Sender::new().send(&channel, &message()).await.unwrap();

    let request = receiver.only_request();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/hooks/osprey");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("idempotency-key"), "ntf-42-ops");
    assert_eq!(
        request.header("user-agent"),
        concat!("osprey/", env!("CARGO_PKG_VERSION"))
    );

    let expected = format!(
        "sha256={}",
        hex::encode(hmac_sha256(b"s3cret", &request.body))
    );
    assert_eq!(request.header("x-osprey-signature"), expected);
    // The signature covers the exact bytes: one more byte, or another key, does not verify.
    let mut tampered = request.body.clone();
    tampered.push(b' ');
    assert_ne!(
        format!("sha256={}", hex::encode(hmac_sha256(b"s3cret", &tampered))),
        expected
    );
    assert_ne!(
        format!(
            "sha256={}",
            hex::encode(hmac_sha256(b"s3creT", &request.body))
        ),
        expected
    );

    let body = request.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["idempotency_key"], "ntf-42-ops");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["title"], "[FIRING] High latency (service=api)");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["alerts"][0]["value"], 612.5);
    assert_eq!(body["alerts"][0]["threshold"], 500.0);
    assert_eq!(body["alerts"][0]["labels"], json!({"service": "api"}));
    assert_eq!(body["incident"]["url"], INCIDENT_URL);
    assert_eq!(body["panel_url"], PANEL_URL);
    assert_eq!(body["sent_at"], "2026-11-18T11:07:10.000Z");
}

#[tokio::test]
async fn webhooks_without_a_secret_are_not_signed() {
    let receiver = Receiver::answering(204).await;
    let channel = webhook(&receiver.url("/hook"), None);
    Sender::new().send(&channel, &message()).await.unwrap();
    let request = receiver.only_request();
    assert!(request.headers.get("x-osprey-signature").is_none());
    assert_eq!(request.header("idempotency-key"), "ntf-42-ops");
}

#[tokio::test]
async fn slack_gets_an_incoming_webhook_message() {
    let receiver = Receiver::start(|_| Reply::status(200).with_body("ok")).await;
    let channel = parse_channel(
        "slack",
        &json!({"webhook_url": receiver.url("/services/T000/B000/XXXX")}),
    )
    .unwrap();
    Sender::new().send(&channel, &message()).await.unwrap();

    let request = receiver.only_request();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/services/T000/B000/XXXX");
    assert_eq!(request.header("content-type"), "application/json");
    let body = request.json();
    assert_eq!(
        body["text"],
        "[FIRING] High latency (service=api): value 612.5 (threshold 500)"
    );
    let blocks = body["blocks"].as_array().unwrap();
    for block in blocks {
        assert!(
            ["section", "context"].contains(&block["type"].as_str().unwrap()),
            "{block}"
        );
    }
    let alert = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        alert.contains("Condition: avg http.latency_ms &gt; 500"),
        "{alert}"
    );
    let all = body.to_string();
    assert!(
        all.contains(&format!("<{INCIDENT_URL}|Incident inc-12 (SEV2)>")),
        "{all}"
    );
    assert!(all.contains(&format!("<{PANEL_URL}|View chart>")), "{all}");
}

#[tokio::test]
async fn pagerduty_gets_trigger_and_resolve_events() {
    let receiver = Receiver::start(|_| {
        Reply::status(202).with_body(r#"{"status":"success","message":"Event processed"}"#)
    })
    .await;
    let channel = parse_channel(
        "pagerduty",
        &json!({"routing_key": "R0123456789ABCDEF0123456789ABCDE", "url": receiver.url("/v2/enqueue")}),
    )
    .unwrap();
    let sender = Sender::new();
    sender.send(&channel, &message()).await.unwrap();
    let mut resolved = message();
    resolved.status = MessageStatus::Resolved;
    sender.send(&channel, &resolved).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.path == "/v2/enqueue"));
    assert!(requests
        .iter()
        .all(|r| r.header("content-type") == "application/json"));
    let trigger = requests[0].json();
    assert_eq!(trigger["routing_key"], "R0123456789ABCDEF0123456789ABCDE");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "rule-7{service=api}");
    assert_eq!(
        trigger["payload"]["summary"],
        "[FIRING] High latency (service=api)"
    );
    assert_eq!(trigger["payload"]["source"], "api");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["timestamp"], "2026-11-18T11:07:10.000Z");
    assert_eq!(trigger["links"][0]["href"], INCIDENT_URL);
    assert_eq!(trigger["links"][1]["href"], PANEL_URL);
    assert_eq!(
        requests[1].json(),
        json!({
            "routing_key": "R0123456789ABCDEF0123456789ABCDE",
            "event_action": "resolve",
            "dedup_key": "rule-7{service=api}",
        })
    );
}

fn sms(url: &str, to: &[&str]) -> ChannelConfig {
    parse_channel(
        "sms",
        &json!({
            "url": url, "account_sid": "AC123", "auth_token": "tok3n",
            "from": "+15005550006", "to": to,
        }),
    )
    .unwrap()
}

#[tokio::test]
async fn sms_sends_one_form_per_recipient_with_basic_auth() {
    let receiver = Receiver::start(|_| Reply::status(201).with_body(r#"{"sid":"SM1"}"#)).await;
    let channel = sms(
        &receiver.url("/2010-04-01/Accounts/AC123/Messages.json"),
        &["+15005550001", "+15005550002"],
    );
    Sender::new().send(&channel, &message()).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let mut numbers = Vec::new();
    for request in &requests {
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.path, "/2010-04-01/Accounts/AC123/Messages.json");
        assert_eq!(
            request.header("content-type"),
            "application/x-www-form-urlencoded"
        );
        // base64("AC123:tok3n"), computed outside Rust.
        assert_eq!(request.header("authorization"), "Basic QUMxMjM6dG9rM24=");
        let form = request.form();
        let names: Vec<&str> = form.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["To", "From", "Body"]);
        assert_eq!(form[1].1, "+15005550006");
        let body = &form[2].1;
        assert!(
            body.starts_with("[FIRING] High latency (service=api)\n"),
            "{body}"
        );
        assert!(body.contains("value 612.5 (threshold 500)"), "{body}");
        assert!(
            body.contains(INCIDENT_URL) && body.contains(PANEL_URL),
            "{body}"
        );
        numbers.push(form[0].1.clone());
    }
    numbers.sort();
    assert_eq!(numbers, ["+15005550001", "+15005550002"]);
}

#[tokio::test]
async fn sms_fails_when_any_recipient_fails() {
    let receiver = Receiver::start(|request| {
        if request
            .form()
            .iter()
            .any(|(k, v)| k == "To" && v == "+15005550002")
        {
            Reply::status(400).with_body(r#"{"code":21211,"message":"Invalid 'To' Phone Number"}"#)
        } else {
            Reply::status(201)
        }
    })
    .await;
    let channel = sms(
        &receiver.url("/Messages.json"),
        &["+15005550001", "+15005550002"],
    );
    let e = Sender::new().send(&channel, &message()).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(
        e.message
            .starts_with("sms to +15005550002: http 400 from 127.0.0.1:"),
        "{e}"
    );
    assert!(e.message.contains("Invalid 'To' Phone Number"), "{e}");
    // The other recipient got it all the same.
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let receiver = Receiver::start(|_| Reply::status(500).with_body("upstream\n  exploded")).await;
    let e = Sender::new()
        .send(&webhook(&receiver.url("/"), None), &message())
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert_eq!(e.retry_after, None);
    assert_eq!(
        e.message,
        format!(
            "http 500 from 127.0.0.1:{}: upstream exploded",
            receiver.port
        )
    );
}

#[tokio::test]
async fn rate_limits_are_retryable_after_what_the_receiver_asks() {
    let receiver = Receiver::start(|_| Reply::status(429).with_header("retry-after", "7")).await;
    let e = Sender::new()
        .send(&webhook(&receiver.url("/"), None), &message())
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(e.next_delay(1, 0.0), Some(Duration::from_secs(7)));

    let receiver = Receiver::answering(408).await;
    let e = Sender::new()
        .send(&webhook(&receiver.url("/"), None), &message())
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
}

#[tokio::test]
async fn client_errors_are_permanent() {
    let receiver = Receiver::start(|_| Reply::status(400).with_body("invalid_payload")).await;
    let e = Sender::new()
        .send(&webhook(&receiver.url("/"), None), &message())
        .await
        .unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert_eq!(e.retry_after, None);
    assert!(e.message.ends_with(": invalid_payload"), "{e}");
    assert_eq!(e.next_delay(1, 0.5), None);
}

#[tokio::test]
async fn an_unreachable_receiver_is_retryable() {
    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}/services/T000/B000/SECRETTOKEN");
    let channel = parse_channel("slack", &json!({"webhook_url": url})).unwrap();
    let e = Sender::new().send(&channel, &message()).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(
        e.message
            .starts_with(&format!("cannot connect: 127.0.0.1:{port}")),
        "{e}"
    );
    // The Slack URL is a credential: errors name the host only.
    assert!(!e.message.contains("SECRETTOKEN"), "{e}");
}

#[tokio::test]
async fn a_slow_receiver_times_out_retryably() {
    let receiver = Receiver::start(|_| Reply {
        delay: Duration::from_secs(5),
        ..Reply::status(200)
    })
    .await;
    let sender = Sender::with_timeouts(Timeouts {
        request: Duration::from_millis(300),
        ..Timeouts::default()
    });
    let started = Instant::now();
    let e = sender
        .send(&webhook(&receiver.url("/slow"), None), &message())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(e.retryable, "{e:?}");
    assert!(e.message.starts_with("timed out: 127.0.0.1:"), "{e}");
}

#[tokio::test]
async fn redirects_are_followed_within_the_origin_only() {
    let port = Arc::new(Mutex::new(0u16));
    let port_seen = port.clone();
    let receiver = Receiver::start(move |request| match request.path.as_str() {
        "/moved" => Reply::status(307).with_header("location", "/final"),
        "/away" => Reply::status(307).with_header(
            "location",
            format!("http://localhost:{}/final", port_seen.lock().unwrap()),
        ),
        _ => Reply::status(200),
    })
    .await;
    *port.lock().unwrap() = receiver.port;

    Sender::new()
        .send(
            &webhook(&receiver.url("/moved"), Some("s3cret")),
            &message(),
        )
        .await
        .unwrap();
    let requests = receiver.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/moved", "/final"]);
    // A 307 keeps the method and the body.
    assert_eq!(requests[1].method, Method::POST);
    assert_eq!(requests[1].body, requests[0].body);

    let e = Sender::new()
        .send(&webhook(&receiver.url("/away"), None), &message())
        .await
        .unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(
        e.message.contains("http 307") && e.message.contains("not followed"),
        "{e}"
    );
    assert_eq!(
        receiver.requests().len(),
        3,
        "the other origin was not asked"
    );
}

#[tokio::test]
async fn https_urls_get_tls_or_nothing() {
    // The receiver speaks plain HTTP: the TLS handshake (rustls with ring) must fail, and no
    // request may reach it in the clear.
    let receiver = Receiver::answering(200).await;
    let url = format!("https://127.0.0.1:{}/hook", receiver.port);
    let e = Sender::new()
        .send(&webhook(&url, Some("s3cret")), &message())
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(e.message.starts_with("cannot connect: 127.0.0.1:"), "{e}");
    assert!(receiver.requests().is_empty(), "{:?}", receiver.requests());
}
