//! `osprey-load`: drives a running Osprey for a fixed time and prints throughput and latency
//! percentiles. Used by `scripts/bench-ingest` and `scripts/bench-query`.
//!
//! ```text
//! osprey-load ingest URL KEY --seconds 20 --concurrency 8 --batch 1000 [--rate BATCHES_PER_S]
//! osprey-load seed   URL KEY --series 1000 --hours 24 --every 10
//! osprey-load query  URL --seconds 10 --concurrency 4 QUERY...
//! ```

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Latencies of finished requests, for percentiles at the end.
#[derive(Default)]
struct Recorder {
    latencies: Mutex<Vec<Duration>>,
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Recorder {
    fn record(&self, took: Duration, ok: bool) {
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
            self.latencies.lock().unwrap().push(took);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn report(&self, what: &str, elapsed: Duration, items_per_request: u64) {
        let mut l = self.latencies.lock().unwrap().clone();
        l.sort();
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(f64::NAN)
        };
        let ok = self.ok.load(Ordering::Relaxed);
        println!(
            "{what}: {ok} ok, {} failed in {:.1} s; {:.0} requests/s, {:.0} items/s; latency ms p50 {:.1} p95 {:.1} p99 {:.1} max {:.1}",
            self.failed.load(Ordering::Relaxed),
            elapsed.as_secs_f64(),
            ok as f64 / elapsed.as_secs_f64(),
            (ok * items_per_request) as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            l.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN),
        );
    }
}

fn batch(series: u64, batch: u64, seq: u64, start_ts: i64) -> Value {
    let metrics: Vec<Value> = (0..batch)
        .map(|i| {
            let s = (seq * batch + i) % series;
            json!({"timestamp": start_ts + (seq * batch + i) as i64 / series as i64, "name": "load.latency_ms", "value": (i % 997) as f64 * 0.5,
                   "labels": {"host": format!("h{}", s % 50), "route": format!("/r{}", s / 50)}})
        })
        .collect();
    json!({"context": {"service": "load"}, "metrics": metrics})
}

async fn ingest(args: &[String]) {
    let (url, key) = (args[0].clone(), args[1].clone());
    let seconds: u64 = arg(args, "--seconds", 20);
    let concurrency: u64 = arg(args, "--concurrency", 8);
    let size: u64 = arg(args, "--batch", 1000);
    let series: u64 = arg(args, "--series", 1000);
    let rate: f64 = arg(args, "--rate", 0.0);
    let http = reqwest::Client::new();
    let rec = Arc::new(Recorder::default());
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let start_ts = now_ms() - 3_600_000;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (http, rec, seq, url, key) = (
            http.clone(),
            rec.clone(),
            seq.clone(),
            url.clone(),
            key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // With --rate, requests leave on a fixed schedule (open loop) so latency is honest.
            let interval = (rate > 0.0).then(|| Duration::from_secs_f64(concurrency as f64 / rate));
            let mut next = Instant::now()
                + interval
                    .map(|i| i.mul_f64(worker as f64 / concurrency as f64))
                    .unwrap_or_default();
            while Instant::now() < deadline {
                if let Some(i) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += i;
                }
                let body = serde_json::to_vec(&batch(
                    series,
                    size,
                    seq.fetch_add(1, Ordering::Relaxed),
                    start_ts,
                ))
                .unwrap();
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/api/v1/ingest"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                rec.record(t.elapsed(), matches!(&r, Ok(resp) if resp.status() == 202));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    rec.report(
        &format!(
            "ingest c={concurrency} batch={size}{}",
            if rate > 0.0 {
                format!(" rate={rate}/s")
            } else {
                String::new()
            }
        ),
        start.elapsed(),
        size,
    );
}

/// Loads `--series` series × `--hours` of history, one sample every `--every` seconds.
async fn seed(args: &[String]) {
    let (url, key) = (args[0].clone(), args[1].clone());
    let series: i64 = arg(args, "--series", 1000);
    let hours: i64 = arg(args, "--hours", 24);
    let every: i64 = arg(args, "--every", 10) * 1000;
    let http = reqwest::Client::new();
    let end = now_ms();
    let start = end - hours * 3_600_000;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut pending = Vec::with_capacity(5000);
    let mut jobs = tokio::task::JoinSet::new();
    let mut t = start;
    while t < end {
        for s in 0..series {
            let v = 50.0 + 30.0 * ((t / 60_000 + s) as f64 / 30.0).sin();
            pending.push(json!({"timestamp": t, "name": "bench.cpu", "value": v, "labels": {"host": format!("host-{s:04}")}}));
            if pending.len() == 5000 {
                let body = json!({"metrics": std::mem::take(&mut pending)});
                let (http, url, key) = (http.clone(), url.clone(), key.clone());
                while jobs.len() >= 4 {
                    jobs.join_next().await;
                }
                jobs.spawn(async move {
                    let r = http
                        .post(format!("{url}/api/v1/ingest"))
                        .bearer_auth(key)
                        .json(&body)
                        .send()
                        .await
                        .expect("seed request");
                    assert_eq!(
                        r.status(),
                        202,
                        "seed batch refused: {}",
                        r.text().await.unwrap_or_default()
                    );
                });
                sent += 5000;
            }
        }
        t += every;
    }
    while jobs.join_next().await.is_some() {}
    println!(
        "seeded {sent} samples ({series} series × {hours} h) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn query(args: &[String]) {
    let url = args[0].clone();
    let seconds: u64 = arg(args, "--seconds", 10);
    let concurrency: u64 = arg(args, "--concurrency", 1);
    let queries: Vec<String> = args[1..]
        .iter()
        .filter(|a| a.starts_with('/'))
        .cloned()
        .collect();
    let http = reqwest::Client::new();
    for q in queries {
        let rec = Arc::new(Recorder::default());
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        let points = Arc::new(AtomicU64::new(0));
        for _ in 0..concurrency {
            let (http, rec, url, q, points) = (
                http.clone(),
                rec.clone(),
                url.clone(),
                q.clone(),
                points.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = http.get(format!("{url}{q}")).send().await;
                    let ok = match r {
                        Ok(resp) if resp.status() == 200 => {
                            let v: Value = resp.json().await.unwrap_or(Value::Null);
                            let n: usize = v["series"]
                                .as_array()
                                .map(|s| {
                                    s.iter()
                                        .map(|x| x["points"].as_array().map_or(0, Vec::len))
                                        .sum()
                                })
                                .unwrap_or(0);
                            points.store(n as u64, Ordering::Relaxed);
                            true
                        }
                        _ => false,
                    };
                    rec.record(t.elapsed(), ok);
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        rec.report(
            &format!("query {q} ({} points)", points.load(Ordering::Relaxed)),
            start.elapsed(),
            1,
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ingest") => ingest(&args[1..]).await,
        Some("seed") => seed(&args[1..]).await,
        Some("query") => query(&args[1..]).await,
        _ => {
            eprintln!("usage: osprey-load ingest URL KEY [--seconds N --concurrency N --batch N --series N --rate R] | seed URL KEY [--series N --hours N --every S] | query URL [--seconds N --concurrency N] /api/…");
            std::process::exit(2);
        }
    }
}
