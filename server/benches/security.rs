//! Security monitoring at the rate of issue 6 (10 000 security events/s).
//!
//! - `security/observe_mix` (criterion): [`SecurityWatch::observe`] over 200 000 sign-in
//!   events from 100 000 addresses and 10 000 accounts, 10 % of them failures from 50
//!   attacking addresses, a third of the successes with a location (the account's
//!   home, one in 1 000 far away); a fresh detector each
//!   iteration.
//! - `security/end_to_end` (printed): 100 000 such events sent as JSON batches of 1 000 through
//!   the HTTP ingest path (4 requests in flight) into SQLite, until the detector has looked at
//!   every one and its findings are stored.
//!
//! `cargo bench -p server --bench security` runs both; `… -- observe` or `… -- end_to_end` one.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use criterion::{BatchSize, Criterion, Throughput};
use osprey::config::{Config, Secret};
use osprey::security::{Outcome, SecurityWatch, Signal, Thresholds};
use osprey::Osprey;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const INGEST_KEY: &str = "bench-ingest-key";
const ADDRESSES: u64 = 100_000;
const ACCOUNTS: u64 = 10_000;
const ATTACKERS: u64 = 50;
const EVENTS: usize = 200_000;
const END_TO_END_EVENTS: usize = 100_000;
const PER_REQUEST: usize = 1_000;
/// Events per second the mix is spread over (the target rate).
const RATE: i64 = 10_000;

/// A small deterministic generator (xorshift), so every run sees the same mix.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One sign-in of the mix, owned.
struct Attempt {
    ts: i64,
    failed: bool,
    actor: String,
    ip: String,
    location: Option<(f64, f64)>,
}

fn address(n: u64) -> String {
    format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255)
}

fn mix(count: usize, start: i64) -> Vec<Attempt> {
    let mut r = Mix(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|i| {
            let ts = start + i as i64 * 1_000 / RATE;
            if r.below(10) == 0 {
                Attempt {
                    ts,
                    failed: true,
                    actor: format!("user{}", r.below(ACCOUNTS)),
                    ip: format!("203.0.113.{}", r.below(ATTACKERS)),
                    location: None,
                }
            } else {
                let account = r.below(ACCOUNTS);
                // People sign in from home; one located sign-in in 1 000 is from far away.
                let location = (r.below(3) == 0).then(|| {
                    let home = account as f64;
                    if r.below(1_000) == 0 {
                        (-33.9, 151.2)
                    } else {
                        (home % 120.0 - 60.0, home % 360.0 - 180.0)
                    }
                });
                let actor = format!("user{account}");
                Attempt {
                    ts,
                    failed: false,
                    actor,
                    ip: address(r.below(ADDRESSES)),
                    location,
                }
            }
        })
        .collect()
}

fn observe_mix(c: &mut Criterion) {
    let events = mix(EVENTS, 1_795_780_800_000);
    let mut group = c.benchmark_group("security");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    group.bench_function("observe_mix", |b| {
        b.iter_batched(
            || SecurityWatch::new(Thresholds::default()),
            |mut watch| {
                let mut found = 0;
                for e in &events {
                    found += watch
                        .observe(&Signal {
                            ts: e.ts,
                            outcome: if e.failed {
                                Outcome::Failure
                            } else {
                                Outcome::Success
                            },
                            actor: Some(&e.actor),
                            ip: Some(&e.ip),
                            location: e.location,
                        })
                        .len();
                }
                (watch, found)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

async fn send(router: Router, body: String) {
    let req = Request::post("/api/v1/ingest")
        .header(header::AUTHORIZATION, format!("Bearer {INGEST_KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = router.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

fn end_to_end(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.auth.ingest_key = Some(Secret::new(INGEST_KEY));
        config.storage.database_url = format!("sqlite://{}", dir.path().join("osprey.db").display());
        config.alerts.eval_interval = "1h".into();
        let osprey = Osprey::start(config).await.expect("start osprey");
        let router = osprey.router();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let events = mix(END_TO_END_EVENTS, now - (END_TO_END_EVENTS as i64 * 1_000 / RATE));
        let bodies: Vec<String> = events
            .chunks(PER_REQUEST)
            .map(|chunk| {
                let security: Vec<Value> = chunk
                    .iter()
                    .map(|e| {
                        let mut event = json!({
                            "timestamp": e.ts,
                            "kind": if e.failed { "auth_failure" } else { "auth_success" },
                            "actor": e.actor, "ip": e.ip,
                        });
                        if let Some((lat, lon)) = e.location {
                            event["details"] = json!({"geo": {"lat": lat, "lon": lon}});
                        }
                        event
                    })
                    .collect();
                json!({"context": {"service": "bench"}, "security": security}).to_string()
            })
            .collect();
        let mut progress = osprey.state.security.clone();
        let started = Instant::now();
        let mut pending = bodies.into_iter();
        let mut in_flight = tokio::task::JoinSet::new();
        for body in pending.by_ref().take(4) {
            in_flight.spawn(send(router.clone(), body));
        }
        while in_flight.join_next().await.is_some() {
            if let Some(body) = pending.next() {
                in_flight.spawn(send(router.clone(), body));
            }
        }
        let stored = started.elapsed();
        let done = *tokio::time::timeout(
            Duration::from_secs(600),
            progress.wait_for(|p| p.observed >= END_TO_END_EVENTS as u64),
        )
        .await
        .expect("detection keeps up")
        .expect("detection running");
        let detected = started.elapsed();
        let n = END_TO_END_EVENTS as f64;
        println!(
            "security/end_to_end: {} events stored in {:.2} s ({:.0} events/s), detected in {:.2} s \
             ({:.0} events/s end to end); {} findings",
            END_TO_END_EVENTS,
            stored.as_secs_f64(),
            n / stored.as_secs_f64(),
            detected.as_secs_f64(),
            n / detected.as_secs_f64(),
            done.findings,
        );
        osprey.shutdown().await;
    });
}

/// Whether the part named `name` runs: the first argument that is not a flag filters by name.
fn selected(name: &str) -> bool {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    filter.is_none_or(|f| name.contains(&f))
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = Criterion::default().configure_from_args();
    if selected("security/observe_mix") {
        observe_mix(&mut c);
    }
    if selected("security/end_to_end") {
        end_to_end(&rt);
    }
    c.final_summary();
}
