//! `osprey-load`: drives a running Osprey for a fixed time and prints throughput and latency
//! percentiles. Used by `scripts/bench-ingest` and `scripts/bench-query`.
//!
//! ```text
//! osprey-load ingest URL KEY --seconds 20 --concurrency 8 --batch 1000 [--rate BATCHES_PER_S]
//! osprey-load otlp   URL KEY --signal traces|metrics --seconds 20 --concurrency 8 --batch 1000
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

/// One request of a load run: the path, content type and body, and the status that means
/// "stored".
struct Shot {
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    stored: u16,
}

/// Sends requests made by `make(seq)` from `concurrency` workers until `seconds` have passed,
/// closed loop or (with `rate`) on a fixed schedule; returns the recorder and the time taken.
async fn drive(
    url: &str,
    key: &str,
    args: &[String],
    make: impl Fn(u64) -> Shot + Send + Sync + 'static,
) -> (Arc<Recorder>, Duration) {
    let seconds: u64 = arg(args, "--seconds", 20);
    let concurrency: u64 = arg(args, "--concurrency", 8);
    let rate: f64 = arg(args, "--rate", 0.0);
    let http = reqwest::Client::new();
    let rec = Arc::new(Recorder::default());
    let seq = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (http, rec, seq, url, key, make) = (
            http.clone(),
            rec.clone(),
            seq.clone(),
            url.to_string(),
            key.to_string(),
            make.clone(),
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
                let shot = make(seq.fetch_add(1, Ordering::Relaxed));
                let t = Instant::now();
                let r = http
                    .post(format!("{url}{}", shot.path))
                    .bearer_auth(&key)
                    .header("content-type", shot.content_type)
                    .body(shot.body)
                    .send()
                    .await;
                rec.record(
                    t.elapsed(),
                    matches!(&r, Ok(resp) if resp.status() == shot.stored),
                );
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (rec, start.elapsed())
}

async fn ingest(args: &[String]) {
    let (url, key) = (args[0].clone(), args[1].clone());
    let concurrency: u64 = arg(args, "--concurrency", 8);
    let size: u64 = arg(args, "--batch", 1000);
    let series: u64 = arg(args, "--series", 1000);
    let rate: f64 = arg(args, "--rate", 0.0);
    let start_ts = now_ms() - 3_600_000;
    let (rec, elapsed) = drive(&url, &key, args, move |seq| Shot {
        path: "/api/v1/ingest",
        content_type: "application/json",
        body: serde_json::to_vec(&batch(series, size, seq, start_ts)).unwrap(),
        stored: 202,
    })
    .await;
    rec.report(
        &format!(
            "ingest c={concurrency} batch={size}{}",
            if rate > 0.0 {
                format!(" rate={rate}/s")
            } else {
                String::new()
            }
        ),
        elapsed,
        size,
    );
}

/// OTLP/HTTP protobuf exports, as an OpenTelemetry SDK or collector sends them: `traces` sends
/// `--batch` spans per request in traces of 10 (a root and nine children), `metrics` sends
/// `--batch` gauge data points over 1000 series.
async fn otlp(args: &[String]) {
    use otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
    use otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
    use otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
    use otlp::proto::metrics::v1::{
        metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use otlp::proto::resource::v1::Resource;
    use otlp::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    let (url, key) = (args[0].clone(), args[1].clone());
    let signal: String = arg(args, "--signal", "traces".to_string());
    let concurrency: u64 = arg(args, "--concurrency", 8);
    let size: u64 = arg(args, "--batch", 1000);
    let kv = |k: &str, v: String| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    };
    let resource = move || {
        Some(Resource {
            attributes: vec![
                kv("service.name", "load".into()),
                kv("host.name", "load-1".into()),
            ],
            ..Default::default()
        })
    };
    let start_ns = (now_ms() - 3_600_000) as u64 * 1_000_000;
    let make: Box<dyn Fn(u64) -> Shot + Send + Sync> = match signal.as_str() {
        "traces" => Box::new(move |seq| {
            let spans = (0..size)
                .map(|i| {
                    let n = seq * size + i;
                    let trace = n / 10;
                    let start = start_ns + n * 1_000_000;
                    Span {
                        trace_id: (u128::from(trace) + 1).to_be_bytes().to_vec(),
                        span_id: (n + 1).to_be_bytes().to_vec(),
                        parent_span_id: if n.is_multiple_of(10) {
                            Vec::new()
                        } else {
                            (trace * 10 + 1).to_be_bytes().to_vec()
                        },
                        name: format!("GET /r{}", n % 20),
                        start_time_unix_nano: start,
                        end_time_unix_nano: start + 1_000_000 + (n % 97) * 100_000,
                        attributes: vec![kv("http.route", format!("/r{}", n % 20))],
                        ..Default::default()
                    }
                })
                .collect();
            let body = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: resource(),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            Shot {
                path: "/v1/traces",
                content_type: "application/x-protobuf",
                body: body.encode_to_vec(),
                stored: 200,
            }
        }),
        "metrics" => Box::new(move |seq| {
            let points = (0..size)
                .map(|i| {
                    let n = seq * size + i;
                    NumberDataPoint {
                        time_unix_nano: start_ns + (n / 1000) * 1_000_000,
                        attributes: vec![kv("route", format!("/r{}", n % 1000))],
                        value: Some(number_data_point::Value::AsDouble((n % 997) as f64 * 0.5)),
                        ..Default::default()
                    }
                })
                .collect();
            let body = ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: resource(),
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![Metric {
                            name: "load.latency_ms".into(),
                            data: Some(metric::Data::Gauge(Gauge {
                                data_points: points,
                            })),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            Shot {
                path: "/v1/metrics",
                content_type: "application/x-protobuf",
                body: body.encode_to_vec(),
                stored: 200,
            }
        }),
        other => {
            eprintln!("--signal {other}: expected traces or metrics");
            std::process::exit(2);
        }
    };
    let (rec, elapsed) = drive(&url, &key, args, make).await;
    rec.report(
        &format!("otlp {signal} c={concurrency} batch={size}"),
        elapsed,
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
        Some("otlp") => otlp(&args[1..]).await,
        Some("seed") => seed(&args[1..]).await,
        Some("query") => query(&args[1..]).await,
        _ => {
            eprintln!("usage: osprey-load ingest URL KEY [--seconds N --concurrency N --batch N --series N --rate R] | otlp URL KEY [--signal traces|metrics --seconds N --concurrency N --batch N] | seed URL KEY [--series N --hours N --every S] | query URL [--seconds N --concurrency N] /api/…");
            std::process::exit(2);
        }
    }
}
