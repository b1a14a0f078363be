//! The real `osprey` binary as a process: durability across SIGKILL, graceful SIGTERM, and a
//! binary that serves the whole dashboard from an empty directory.

mod common;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

struct Server {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `bin` in `cwd` and returns once it logs that it is listening.
fn spawn(bin: &Path, cwd: &Path, db: Option<&Path>) -> Server {
    spawn_with(bin, cwd, db, &[])
}

/// Like [`spawn`], with extra environment variables.
fn spawn_with(bin: &Path, cwd: &Path, db: Option<&Path>, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let mut cmd = Command::new(bin);
    // The tests read without signing in.
    cmd.env("OSPREY__AUTH__ANONYMOUS_READ", "true");
    cmd.envs(env.iter().copied());
    cmd.current_dir(cwd)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("OSPREY_INGEST_KEY", common::INGEST_KEY)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(db) = db {
        cmd.args(["--database-url", &format!("sqlite://{}", db.display())]);
    }
    let mut child = cmd.spawn().expect("start osprey");
    let logs = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(logs).lines().map_while(Result::ok) {
            if line.contains("osprey listening") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("osprey did not start listening within 60 s");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Sends batches of 50 samples, each batch its own `batch` label, from 4 clients until stopped;
/// returns the ids of the batches that were acknowledged with 202.
async fn load(base: String, stop: Arc<tokio::sync::Notify>, acked: Arc<Acks>) {
    let now = common::now_ms();
    let mut clients = Vec::new();
    for c in 0..4 {
        let (base, acked, stop) = (base.clone(), acked.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let http = client();
            for seq in 0.. {
                let id = format!("{c}-{seq}");
                let metrics: Vec<Value> = (0..50)
                    .map(|i| json!({"timestamp": now - 1_000 + i, "name": "crash.m", "value": i, "labels": {"batch": id}}))
                    .collect();
                let send = http
                    .post(format!("{base}/api/v1/ingest"))
                    .bearer_auth(common::INGEST_KEY)
                    .json(&json!({"metrics": metrics}))
                    .send();
                tokio::select! {
                    _ = stop.notified() => return,
                    r = send => match r {
                        Ok(resp) if resp.status() == 202 => acked.add(id),
                        Ok(resp) if resp.status() == 429 => {}
                        _ => return, // the server is gone
                    }
                }
            }
        }));
    }
    for c in clients {
        let _ = c.await;
    }
}

/// Counts stored samples per batch label.
async fn stored(base: &str) -> BTreeMap<String, f64> {
    let body: Value = client()
        .get(format!("{base}/api/v1/query_range?metric=crash.m&from=now-1h&to=now&step=1h&agg=count&group_by=batch"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["labels"]["batch"].as_str().unwrap().to_string(),
                s["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p[1].as_f64().unwrap())
                    .sum(),
            )
        })
        .collect()
}

/// Batch ids acknowledged so far, with a wake-up for each new one.
#[derive(Default)]
struct Acks {
    ids: Mutex<BTreeSet<String>>,
    progress: tokio::sync::Notify,
}

impl Acks {
    fn add(&self, id: String) {
        self.ids.lock().unwrap().insert(id);
        self.progress.notify_one();
    }
    async fn wait_for(&self, n: usize) {
        while self.ids.lock().unwrap().len() < n {
            self.progress.notified().await;
        }
    }
    fn all(&self) -> BTreeSet<String> {
        self.ids.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_killed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("osprey.db");
    let mut server = spawn(Path::new(BIN), dir.path(), Some(&db));
    let acked = Arc::new(Acks::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let loader = tokio::spawn(load(server.base.clone(), stop.clone(), acked.clone()));
    acked.wait_for(60).await;
    server.child.kill().unwrap(); // SIGKILL, mid-load
    server.child.wait().unwrap();
    stop.notify_waiters();
    let _ = loader.await;
    let acked = acked.all();

    let mut again = spawn(Path::new(BIN), dir.path(), Some(&db));
    let stored = stored(&again.base).await;
    for id in &acked {
        assert_eq!(
            stored.get(id),
            Some(&50.0),
            "acknowledged batch {id} lost or partial after SIGKILL"
        );
    }
    for (id, n) in &stored {
        assert_eq!(*n, 50.0, "batch {id} was stored partially");
    }
    again.child.kill().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_acknowledged_work_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("osprey.db");
    let mut server = spawn(Path::new(BIN), dir.path(), Some(&db));
    let acked = Arc::new(Acks::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let loader = tokio::spawn(load(server.base.clone(), stop.clone(), acked.clone()));
    acked.wait_for(40).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "osprey exited with {exit:?} after SIGTERM");
    stop.notify_waiters();
    let _ = loader.await;
    let acked = acked.all();
    let mut again = spawn(Path::new(BIN), dir.path(), Some(&db));
    let stored = stored(&again.base).await;
    for id in &acked {
        assert_eq!(
            stored.get(id),
            Some(&50.0),
            "acknowledged batch {id} lost after SIGTERM"
        );
    }
    again.child.kill().unwrap();
}

/// A webhook receiver that never answers its first request (Osprey is killed while waiting for
/// it) and accepts every later one, recording its idempotency key.
#[derive(Clone, Default)]
struct StallingReceiver {
    requests: Arc<Mutex<usize>>,
    accepted: Arc<Mutex<Vec<String>>>,
    arrived: Arc<tokio::sync::Notify>,
}

async fn stall_or_accept(
    axum::extract::State(r): axum::extract::State<StallingReceiver>,
    headers: axum::http::HeaderMap,
) -> axum::http::StatusCode {
    let first = {
        let mut n = r.requests.lock().unwrap();
        *n += 1;
        *n == 1
    };
    r.arrived.notify_waiters();
    if first {
        std::future::pending::<()>().await;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    r.accepted.lock().unwrap().push(key);
    r.arrived.notify_waiters();
    axum::http::StatusCode::OK
}

impl StallingReceiver {
    async fn until(&self, done: impl Fn(&Self) -> bool) {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let arrived = self.arrived.notified();
                if done(self) {
                    return;
                }
                arrived.await;
            }
        })
        .await
        .expect("the receiver waited 60 s in vain");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_queued_before_a_sigkill_are_delivered_after_restart() {
    let receiver = StallingReceiver::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(stall_or_accept))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("osprey.db");
    let env = [
        ("OSPREY_ADMIN_TOKEN", "process-admin"),
        ("OSPREY__ALERTS__EVAL_INTERVAL", "1s"),
    ];
    let mut server = spawn_with(Path::new(BIN), dir.path(), Some(&db), &env);
    let http = client();
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth("process-admin");
    let channel: Value = admin(http.post(format!("{}/api/v1/channels", server.base)))
        .json(&json!({"name": "ops", "kind": "webhook", "config": {"url": hook}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rule = json!({"name": "crash", "query": {"metric": "crash.latency"}, "group_by": ["service"],
        "condition": {"op": ">", "threshold": 500}, "nodata_for": "1h", "severity": "critical", "channels": [channel["id"]]});
    let status = admin(http.post(format!("{}/api/v1/alert-rules", server.base)))
        .json(&rule)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
    // Three services over the threshold: three notifications (one group each).
    let now = common::now_ms();
    for service in ["a", "b", "c"] {
        let status = http
            .post(format!("{}/api/v1/ingest", server.base))
            .bearer_auth(common::INGEST_KEY)
            .json(&json!({"context": {"service": service}, "metrics": [{"timestamp": now, "name": "crash.latency", "value": 900}]}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 202);
    }
    // The first delivery is in flight (the receiver holds it); kill Osprey mid-delivery.
    receiver.until(|r| *r.requests.lock().unwrap() >= 1).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(receiver.accepted.lock().unwrap().is_empty());

    let mut again = spawn_with(Path::new(BIN), dir.path(), Some(&db), &env);
    receiver
        .until(|r| {
            r.accepted
                .lock()
                .unwrap()
                .iter()
                .collect::<BTreeSet<_>>()
                .len()
                >= 3
        })
        .await;
    let accepted = receiver.accepted.lock().unwrap().clone();
    let keys: BTreeSet<&String> = accepted.iter().collect();
    assert_eq!(
        keys.len(),
        3,
        "every queued notification arrived: {accepted:?}"
    );
    assert!(keys.iter().all(|k| !k.is_empty()));
    again.child.kill().unwrap();
}

#[test]
fn detect_scores_a_csv_from_stdin() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("detect")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut csv = String::from("timestamp,value\n");
    for i in 0..300 {
        csv.push_str(&format!(
            "2026-11-27 {:02}:{:02}:00,{}\n",
            i / 60,
            i % 60,
            10 + i % 3
        ));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(csv.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 300);
    assert!(rows[0].starts_with("2026-11-27 00:00:00,10,"));
    for row in rows {
        let score: f64 = row.rsplit(',').next().unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&score), "{row}");
    }
    // Bad input is refused with the line that is wrong.
    let out = Command::new(BIN)
        .args(["detect", "/nonexistent.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_alone_serves_the_dashboard_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("osprey");
    std::fs::copy(BIN, &bin).unwrap();
    let mut server = spawn(&bin, dir.path(), None);
    let http = client();
    let page = http.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Overview") && html.contains("/pkg/osprey.js"),
        "{html}"
    );
    assert!(
        dir.path().join("data/osprey.db").exists(),
        "the default database is created under ./data"
    );
    // The site is embedded when the build had one (make test builds it first).
    if option_env!("OSPREY_SITE_DIR").is_some() {
        for (path, kind) in [
            ("/pkg/osprey.js", "javascript"),
            ("/pkg/osprey_bg.wasm", "wasm"),
            ("/pkg/osprey.css", "css"),
            ("/favicon.svg", "svg"),
        ] {
            let resp = http
                .get(format!("{}{path}", server.base))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.contains(kind), "{path}: {ct}");
        }
    }
    server.child.kill().unwrap();
}

/// The process's resident memory, from `/proc/<pid>/status`.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}

/// A million distinct series from one key: past its budget every batch is refused, and the
/// process's memory stays flat. Without the budget the store's global limit (100 000 series)
/// would let the anomaly detectors (about 2 KiB per series) and the hot window grow by over a
/// hundred MiB (measured: 130 MiB between the third and the tenth batch); the 32 MiB allowed here
/// is a few batches' worth of decoding buffers (measured: 4 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_series_from_one_key_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_with(
        Path::new(BIN),
        dir.path(),
        Some(&dir.path().join("o.db")),
        &[("OSPREY__INGEST__MAX_SERIES_PER_KEY", "1000")],
    );
    let http = client();
    let now = common::now_ms();
    let send = |batch: usize| {
        // Built by hand: 10 000 samples, each a series of its own.
        let mut body = String::from("{\"metrics\": [");
        for i in 0..10_000 {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                "{{\"timestamp\": {now}, \"name\": \"flood\", \"value\": 1, \"labels\": {{\"request_id\": \"{batch}-{i}\"}}}}"
            ));
        }
        body.push_str("]}");
        http.post(format!("{}/api/v1/ingest", server.base))
            .bearer_auth(common::INGEST_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let mut rss_after_warmup = 0;
    for batch in 0..100 {
        let resp = send(batch).await.unwrap();
        assert_eq!(resp.status(), 429, "batch {batch}: over the budget of 1000");
        let reply: Value = resp.json().await.unwrap();
        assert_eq!(reply["error"]["code"], "series_limit", "{reply}");
        if batch == 2 {
            rss_after_warmup = rss_bytes(server.child.id());
        }
    }
    let grown = rss_bytes(server.child.id()).saturating_sub(rss_after_warmup);
    eprintln!(
        "RSS {} MiB after three batches, grew by {} KiB after 97 more",
        rss_after_warmup >> 20,
        grown >> 10
    );
    assert!(
        grown < 32 << 20,
        "RSS grew by {} MiB over 970 000 refused series",
        grown >> 20
    );
    // The key still feeds series within its budget.
    let ok = http
        .post(format!("{}/api/v1/ingest", server.base))
        .bearer_auth(common::INGEST_KEY)
        .json(&json!({"metrics": [{"timestamp": now, "name": "flood", "value": 1, "labels": {"request_id": "x"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    server.child.kill().unwrap();
}
