//! The alert evaluator at the scale of the alerting issue, on SQLite in a temp directory.
//!
//! - `alerting/tick_10000_rules` (criterion): one evaluation of 10 000 threshold rules over
//!   1 000 series: 7 500 rules on one host each, 2 500 on a rack of 10 hosts grouped by host
//!   (32 500 alert instances, 350 of them firing). Printed after it: the process's CPU time
//!   per evaluation, the first (cold) evaluation, and the dispatch latency of a rule evaluated
//!   with 9 999 others.
//! - `alerting/dispatch_latency` (printed): from just before the evaluation that changes an
//!   alert's state to the webhook's arrival at a receiver on a real socket, one rule, 200
//!   state changes.
//!
//! `cargo bench -p server --bench alerting` runs both; `… -- tick` or `… -- dispatch` one.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use criterion::{Criterion, SamplingMode};
use osprey::config::{Config, Secret};
use osprey::store::alerting::kinds;
use osprey::store::Document;
use osprey::Osprey;
use serde_json::{json, Value};
use std::cell::Cell;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tower::ServiceExt;

const INGEST_KEY: &str = "bench-ingest-key";
const SERIES: usize = 1_000;
const RULES: usize = 10_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// CPU time (user + system, all threads) this process has used so far.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux only)");
    // The command name is in parentheses and may hold spaces; after it come field 3 (state)
    // onwards, so utime (field 14) and stime (field 15) are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // In clock ticks of USER_HZ, which Linux fixes at 100 per second for userspace.
    Duration::from_millis(ticks * 10)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Whether the part named `name` runs: the first argument that is not a flag filters by name,
/// as criterion's own filter does.
fn selected(name: &str) -> bool {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    filter.is_none_or(|f| name.contains(&f))
}

/// A fresh Osprey on SQLite whose evaluations the bench drives itself.
async fn start(dir: &std::path::Path) -> Osprey {
    let mut config = Config::default();
    config.auth.ingest_key = Some(Secret::new(INGEST_KEY));
    config.storage.database_url = format!("sqlite://{}", dir.join("osprey.db").display());
    config.alerts.eval_interval = "1h".into();
    // Hundreds of notifications go out within seconds; the per-channel limit (30 a minute by
    // default) would hold most of them back, and this measures dispatch, not the limiter.
    config.alerts.channel_rate_per_minute = 1_000_000;
    Osprey::start(config).await.expect("start osprey")
}

async fn ingest(router: &Router, metrics: Vec<Value>) {
    let req = Request::post("/api/v1/ingest")
        .header(header::AUTHORIZATION, format!("Bearer {INGEST_KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "metrics": metrics }).to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

/// Host `h{n}` sits in rack `r{n % 100}` and reports `n % 100` at 40, 25 and 10 s before `now`:
/// rack `r99` and hosts `h…99` are above the rules' threshold.
fn cpu_points(now: i64) -> Vec<Value> {
    (0..SERIES)
        .flat_map(|h| {
            [40_000, 25_000, 10_000].map(|ago| {
                json!({
                    "timestamp": now - ago,
                    "name": "bench.cpu",
                    "value": (h % 100) as f64,
                    "labels": {"host": format!("h{h}"), "rack": format!("r{}", h % 100)},
                })
            })
        })
        .collect()
}

/// Rule `i`: avg or max of `bench.cpu` over the last minute above 98. Every fourth watches
/// rack `r{i / 4 % 100}` grouped by host, the others host `h{i % 1000}`.
fn cpu_rule(i: usize) -> Value {
    let mut rule = json!({
        "name": format!("cpu {i}"),
        "query": {
            "metric": "bench.cpu",
            "agg": if i.is_multiple_of(2) { "avg" } else { "max" },
            "filter": {"host": format!("h{}", i % SERIES)},
        },
        "condition": {"op": ">", "threshold": 98, "recover": 90},
        "severity": "warning",
    });
    if i.is_multiple_of(4) {
        rule["query"]["filter"] = json!({"rack": format!("r{}", i / 4 % 100)});
        rule["group_by"] = json!(["host"]);
    }
    rule
}

/// Stores rule `i` as `Alerting::create_rule` would. `create_rule` counts the stored rules
/// against the limit each time, which for 10 000 rules took 440 s, so the bench writes the
/// same documents directly.
async fn put_rule(osprey: &Osprey, i: usize) {
    let rule = alerts::parse_rule(cpu_rule(i).to_string().as_bytes()).expect("valid rule");
    let now = now_ms();
    let doc = Document {
        kind: kinds::RULE,
        id: format!("ru_bench{i:05}"),
        name: rule.name.clone(),
        body: serde_json::to_value(alerts::RuleSpec::from(rule)).unwrap(),
        created_at: now,
        updated_at: now,
    };
    osprey
        .state
        .store
        .put_document(&doc)
        .await
        .expect("store rule");
}

/// The evaluations criterion ran, for the CPU-time line.
#[derive(Default, Clone, Copy)]
struct Evaluations {
    count: u32,
    wall: Duration,
    cpu: Duration,
    slowest_wall: Duration,
    most_cpu: Duration,
}

fn evaluation(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let osprey = rt.block_on(start(dir.path()));
    let alerting = osprey.state.alerting.clone();
    let t0 = now_ms();
    rt.block_on(ingest(&osprey.router(), cpu_points(t0)));
    let started = Instant::now();
    rt.block_on(async {
        for i in 0..RULES {
            put_rule(&osprey, i).await;
        }
    });
    println!(
        "setup: {SERIES} series, {RULES} rules stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (cpu, wall) = (process_cpu(), Instant::now());
    let first = rt.block_on(alerting.tick(t0)).unwrap();
    println!(
        "first evaluation (loads states, creates {} instances, {} transitions): \
         wall {:.0} ms, cpu {:.0} ms",
        first.instances,
        first.transitions,
        ms(wall.elapsed()),
        ms(process_cpu() - cpu),
    );
    assert_eq!(
        (first.rules, first.instances, first.transitions),
        (RULES, 32_500, 350)
    );

    let stats = Cell::new(Evaluations::default());
    // Evaluations 10 ms apart: the data stays inside every rule's window however many run.
    let now = Cell::new(t0);
    let mut group = c.benchmark_group("alerting");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("tick_10000_rules", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                now.set(now.get() + 10);
                let (cpu, wall) = (process_cpu(), Instant::now());
                let report = rt.block_on(alerting.tick(now.get())).unwrap();
                let (wall, cpu) = (wall.elapsed(), process_cpu() - cpu);
                assert_eq!(report.transitions, 0, "steady state: nothing changes");
                total += wall;
                let mut s = stats.get();
                s.count += 1;
                s.wall += wall;
                s.cpu += cpu;
                s.slowest_wall = s.slowest_wall.max(wall);
                s.most_cpu = s.most_cpu.max(cpu);
                stats.set(s);
            }
            total
        })
    });
    group.finish();
    let s = stats.get();
    println!(
        "evaluation of {RULES} rules over {} evaluations: wall mean {:.1} ms, max {:.1} ms; \
         cpu mean {:.1} ms, max {:.0} ms (process user+system, read in 10 ms ticks)",
        s.count,
        ms(s.wall) / f64::from(s.count),
        ms(s.slowest_wall),
        ms(s.cpu) / f64::from(s.count),
        ms(s.most_cpu),
    );

    // A rule with a webhook evaluated with the others. Its name sorts after theirs, so it is
    // evaluated last: "tick to arrival" is the whole evaluation plus the delivery, while its
    // own notification leaves as soon as its chunk of rules is stored ("state change to
    // delivered"). It takes the place of a quiet rule (10 000 is the most rules a project may
    // have). Three minutes apart, each evaluation gets fresh data.
    rt.block_on(async {
        alerting.delete_rule("ru_bench00001").await.unwrap();
        let router = osprey.router();
        let mut dispatch = Dispatch::start(&osprey).await;
        let samples = dispatch
            .measure(5, 20, |k| {
                let at = t0 + (k as i64 + 1) * 180_000;
                (at, ingest(&router, cpu_points(at)))
            })
            .await;
        samples.print("dispatch latency among 10 000 rules, tick to webhook arrival");
        osprey.shutdown().await;
    });
}

/// Records when each webhook request arrives.
async fn receive(State(arrivals): State<mpsc::Sender<Instant>>) -> StatusCode {
    let _ = arrivals.send(Instant::now()).await;
    StatusCode::OK
}

/// A rule whose notifications go to a webhook on a real socket, and what is needed to make it
/// change state.
struct Dispatch<'a> {
    osprey: &'a Osprey,
    router: Router,
    arrivals: mpsc::Receiver<Instant>,
}

/// Times from just before each evaluation to the webhook's arrival, and of the evaluation
/// alone, sorted.
struct Latencies {
    arrival: Vec<Duration>,
    tick: Vec<Duration>,
    /// From the state change to the delivery, as Osprey's dispatch clock timed it.
    change: Vec<Duration>,
}

impl<'a> Dispatch<'a> {
    async fn start(osprey: &'a Osprey) -> Dispatch<'a> {
        let (tx, arrivals) = mpsc::channel(16);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(tx);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let alerting = &osprey.state.alerting;
        let channel =
            json!({"name": "bench", "kind": "webhook", "config": {"url": url, "secret": "s3cret"}});
        let channel = alerting
            .create_channel(channel.to_string().as_bytes())
            .await
            .unwrap();
        let rule = json!({
            "name": "web latency",
            "query": {"metric": "bench.latency_ms", "agg": "max", "window": "30s"},
            "condition": {"op": ">", "threshold": 500, "recover": 400},
            "severity": "warning",
            "channels": [channel],
        });
        alerting
            .create_rule(rule.to_string().as_bytes())
            .await
            .unwrap();
        Dispatch {
            osprey,
            router: osprey.router(),
            arrivals,
        }
    }

    /// Puts the rule's metric above and below its threshold in turn, evaluating after each
    /// change, `warm_up + samples` times. `prepare(k)` gives the k-th evaluation's time and
    /// what to do before it (untimed). Evaluations must be minutes apart, or the dispatcher
    /// holds the alert as flapping.
    async fn measure<F: std::future::Future<Output = ()>>(
        &mut self,
        warm_up: usize,
        samples: usize,
        mut prepare: impl FnMut(usize) -> (i64, F),
    ) -> Latencies {
        let alerting = &self.osprey.state.alerting;
        let mut attempts = alerting.attempts();
        let done = *attempts.borrow();
        let mut out = Latencies {
            arrival: Vec::new(),
            tick: Vec::new(),
            change: Vec::new(),
        };
        for k in 0..warm_up + samples {
            let (at, before) = prepare(k);
            before.await;
            let value = if k.is_multiple_of(2) { 900.0 } else { 100.0 };
            let point =
                json!({"timestamp": at - 1_000, "name": "bench.latency_ms", "value": value});
            ingest(&self.router, vec![point]).await;
            let started = Instant::now();
            let report = alerting.tick(at).await.unwrap();
            let evaluated = started.elapsed();
            assert_eq!(
                (report.transitions, report.deliveries),
                (1, 1),
                "one change, one notification"
            );
            let arrived = tokio::time::timeout(Duration::from_secs(10), self.arrivals.recv())
                .await
                .expect("the webhook arrives")
                .unwrap();
            // The next evaluation starts once the worker recorded this delivery.
            attempts.wait_for(|n| *n > done + k as u64).await.unwrap();
            if k >= warm_up {
                out.arrival.push(arrived - started);
                out.tick.push(evaluated);
                let clock = alerting.dispatch_clock.recent();
                out.change
                    .push(*clock.last().expect("the delivery was timed"));
            }
        }
        out.arrival.sort();
        out.tick.sort();
        out.change.sort();
        out
    }
}

impl Latencies {
    fn percentile(sorted: &[Duration], p: f64) -> f64 {
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        ms(sorted[i])
    }

    fn print(&self, what: &str) {
        let p = Self::percentile;
        println!(
            "{what}, {} state changes: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms \
             (the tick alone: p50 {:.2} ms, p95 {:.2} ms); \
             state change to delivered: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            self.arrival.len(),
            p(&self.arrival, 0.50),
            p(&self.arrival, 0.95),
            p(&self.arrival, 1.0),
            p(&self.tick, 0.50),
            p(&self.tick, 0.95),
            p(&self.change, 0.50),
            p(&self.change, 0.95),
            p(&self.change, 1.0),
        );
    }
}

fn dispatch_latency(rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let osprey = start(dir.path()).await;
        let mut dispatch = Dispatch::start(&osprey).await;
        // Evaluations three minutes apart in the past, so the alert may change state at each.
        let base = now_ms() - 12 * 3_600_000;
        let samples = dispatch
            .measure(10, 200, |k| (base + k as i64 * 180_000, async {}))
            .await;
        samples.print("dispatch latency, one rule, tick to webhook arrival");
        osprey.shutdown().await;
    });
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = Criterion::default().configure_from_args();
    if selected("alerting/tick_10000_rules") {
        evaluation(&mut c, &rt);
    }
    if selected("alerting/dispatch_latency") {
        dispatch_latency(&rt);
    }
    c.final_summary();
}
