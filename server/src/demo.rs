//! `--demo`: a simulated shop (services web, api, checkout, db) that reports traffic with a
//! daily cycle, latency, errors with recurring stack traces, purchases, sessions, traces and
//! login failures, with an anomaly now and then. It writes through the same decode, validation
//! and batch writer as any client.

use crate::config::IngestConfig;
use crate::ingest::{model, IngestError, IngestService};
use crate::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const SERVICES: [(&str, f64, f64, f64); 4] = [
    // name, requests/s at the daily mean, median latency ms, error %
    ("web", 120.0, 35.0, 0.4),
    ("api", 90.0, 60.0, 0.8),
    ("checkout", 12.0, 140.0, 1.2),
    ("db", 260.0, 4.0, 0.05),
];
const HOSTS: [(&str, &str); 4] = [
    ("web-1", "web"),
    ("web-2", "web"),
    ("api-1", "api"),
    ("db-1", "db"),
];

/// A disturbance the demo injects so detection and alerting have something to find.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Anomaly {
    LatencySpike,
    ErrorBurst,
    TrafficDrop,
}

/// The shop's state between ticks.
pub struct DemoShop {
    rng: StdRng,
    counters: HashMap<&'static str, f64>,
    revenue: f64,
    anomaly: Option<(Anomaly, i64)>,
    next_anomaly: i64,
    /// When the last tick happened: counters grow by the time that really passed.
    last_tick: Option<i64>,
    trace: Option<DemoTrace>,
}

impl DemoShop {
    pub fn new(seed: u64, start: i64) -> Self {
        DemoShop {
            rng: StdRng::seed_from_u64(seed),
            counters: HashMap::new(),
            revenue: 0.0,
            anomaly: None,
            next_anomaly: start + 5 * 60_000,
            last_tick: None,
            trace: None,
        }
    }

    /// Traffic multiplier over the day: low at night (UTC), peaking mid-afternoon.
    fn daily(t: i64) -> f64 {
        let hour = (t.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
        1.0 + 0.55 * ((hour - 9.0) / 24.0 * 2.0 * PI).sin()
    }

    fn advance_anomaly(&mut self, t: i64) {
        if let Some((_, until)) = self.anomaly {
            if t >= until {
                self.anomaly = None;
            }
        }
        if self.anomaly.is_none() && t >= self.next_anomaly {
            let kind = [
                Anomaly::LatencySpike,
                Anomaly::ErrorBurst,
                Anomaly::TrafficDrop,
            ][self.rng.gen_range(0..3)];
            // Incidents last minutes, as real ones do.
            self.anomaly = Some((kind, t + self.rng.gen_range(3 * 60_000..8 * 60_000)));
            // Rare enough to be anomalies (a detector rightly learns that something happening
            // every ten minutes is normal), frequent enough that a first look finds several.
            self.next_anomaly = t + self.rng.gen_range(2 * 3_600_000..4 * 3_600_000);
        }
    }

    fn active(&self, kind: Anomaly) -> bool {
        matches!(self.anomaly, Some((k, _)) if k == kind)
    }

    /// The shop since the last tick, at time `t`, as one ingest body per service. `detail`
    /// adds events, errors, traces and security events (live ticks); backfill leaves them out.
    pub fn tick(&mut self, t: i64, detail: bool) -> Vec<Value> {
        let dt_ms = self
            .last_tick
            .map_or(1_000, |last| (t - last).clamp(1, 3_600_000));
        self.last_tick = Some(t);
        self.advance_anomaly(t);
        let dt = dt_ms as f64 / 1000.0;
        let day = Self::daily(t);
        let mut bodies = Vec::new();
        let mut total_rps = 0.0;
        for (service, base_rps, base_latency, base_err) in SERVICES {
            let mut rps = base_rps * day * self.rng.gen_range(0.92..1.08);
            if self.active(Anomaly::TrafficDrop) && (service == "web" || service == "api") {
                rps *= 0.3;
            }
            total_rps += rps;
            let counter = self.counters.entry(service).or_insert(0.0);
            *counter += rps * dt;
            let requests = *counter;
            let mut latency_factor = 1.0 + 0.25 * (day - 1.0);
            if self.active(Anomaly::LatencySpike) && (service == "api" || service == "db") {
                latency_factor *= 6.0;
            }
            let mut err = base_err * self.rng.gen_range(0.5..1.5);
            if self.active(Anomaly::ErrorBurst) && (service == "checkout" || service == "api") {
                err += 12.0;
            }
            let mut metrics = vec![
                json!({"timestamp": t, "name": "http.requests", "kind": "counter", "value": requests.round()}),
                json!({"timestamp": t, "name": "http.error_rate", "value": (err * 100.0).round() / 100.0}),
            ];
            for i in 0..4 {
                // Log-normal latencies: a long right tail, as real ones have.
                let z = standard_normal(&mut self.rng);
                let v = base_latency * latency_factor * (0.45 * z).exp();
                metrics.push(json!({"timestamp": t - i * dt_ms / 4, "name": "http.latency_ms", "value": (v * 10.0).round() / 10.0}));
            }
            let mut body = json!({
                "context": {"service": service, "environment": "prod", "release": "1.4.2"},
                "metrics": metrics,
            });
            if detail {
                self.details(&mut body, service, t, err);
            }
            bodies.push(body);
        }
        // Shop-wide signals ride with the web service's body.
        let purchases = (SERVICES[2].1 * day * dt * 0.35).max(0.0);
        self.revenue += purchases * self.rng.gen_range(35.0..60.0);
        let sessions = (total_rps * 6.5 * self.rng.gen_range(0.97..1.03)).round();
        let mut extra = vec![
            json!({"timestamp": t, "name": "shop.revenue", "kind": "counter", "value": (self.revenue * 100.0).round() / 100.0}),
            json!({"timestamp": t, "name": "sessions.active", "value": sessions}),
        ];
        for (host, service) in HOSTS {
            let share = SERVICES
                .iter()
                .find(|s| s.0 == service)
                .map(|s| s.1)
                .unwrap_or(50.0);
            let mut cpu = 8.0 + share / 6.0 * day + self.rng.gen_range(-3.0..3.0);
            if self.active(Anomaly::LatencySpike) && host == "db-1" {
                cpu = 96.0;
            }
            extra.push(json!({"timestamp": t, "name": "system.cpu_percent", "value": (cpu.clamp(0.0, 100.0) * 10.0).round() / 10.0, "labels": {"host": host}}));
        }
        if let Some(Value::Array(metrics)) = bodies[0].get_mut("metrics") {
            metrics.extend(extra);
        }
        bodies
    }

    fn hex_id(&mut self, digits: usize) -> String {
        (0..digits)
            .map(|_| char::from_digit(self.rng.gen_range(0..16), 16).expect("hex"))
            .collect()
    }

    /// Events, an error now and then, this service's part of one distributed trace (web →
    /// api → checkout and db), its log lines, and login failures.
    fn details(&mut self, body: &mut Value, service: &str, t: i64, err_pct: f64) {
        let obj = body.as_object_mut().expect("object");
        if service == "checkout" {
            let n = self.rng.gen_range(0..3);
            let events: Vec<Value> = (0..n)
                .map(|_| json!({"timestamp": t, "name": "purchase", "properties": {"amount": (self.rng.gen_range(12.0..180.0f64) * 100.0).round() / 100.0, "currency": "USD"}}))
                .collect();
            obj.insert("events".into(), Value::Array(events));
        }
        // The trace: web starts it, the others add their spans under it.
        if service == "web" {
            let dur = self.rng.gen_range(40.0..300.0f64);
            self.trace = Some(DemoTrace {
                id: self.hex_id(32),
                root: self.hex_id(16),
                api: self.hex_id(16),
                start: t - dur as i64 - 5,
                dur,
            });
        }
        let Some(trace) = self.trace.clone() else {
            return;
        };
        let failed = self.rng.gen_bool((err_pct / 20.0).clamp(0.0, 1.0));
        let status = if failed { "error" } else { "ok" };
        let round = |ms: f64| (ms * 10.0).round() / 10.0;
        let (spans, line) = match service {
            "web" => (
                vec![
                    json!({"trace_id": trace.id, "span_id": trace.root, "name": "GET /checkout", "start": trace.start, "duration_ms": round(trace.dur), "status": status, "attributes": {"http.route": "/checkout", "http.method": "GET"}}),
                ],
                format!(
                    "GET /checkout {} in {:.0} ms",
                    if failed { 500 } else { 200 },
                    trace.dur
                ),
            ),
            "api" => (
                vec![
                    json!({"trace_id": trace.id, "span_id": trace.api, "parent_span_id": trace.root, "name": "POST /api/orders", "start": trace.start + 3, "duration_ms": round(trace.dur * 0.85), "status": status, "attributes": {"http.route": "/api/orders", "http.method": "POST"}}),
                ],
                format!(
                    "order accepted for session s-{}",
                    self.rng.gen_range(1000..9999)
                ),
            ),
            "checkout" => {
                let id = self.hex_id(16);
                (
                    vec![
                        json!({"trace_id": trace.id, "span_id": id, "parent_span_id": trace.api, "name": "charge card", "start": trace.start + 8 + (trace.dur * 0.3) as i64, "duration_ms": round(trace.dur * 0.5), "status": status, "attributes": {"payment.provider": "stripe"}}),
                    ],
                    "payment authorised".to_string(),
                )
            }
            _ => {
                let (a, b) = (self.hex_id(16), self.hex_id(16));
                (
                    vec![
                        json!({"trace_id": trace.id, "span_id": a, "parent_span_id": trace.api, "name": "SELECT cart", "start": trace.start + 5, "duration_ms": round(trace.dur * 0.1), "status": "ok", "attributes": {"db.system": "postgresql"}}),
                        json!({"trace_id": trace.id, "span_id": b, "parent_span_id": trace.api, "name": "INSERT order", "start": trace.start + 10 + (trace.dur * 0.8) as i64, "duration_ms": round(trace.dur * 0.05), "status": status, "attributes": {"db.system": "postgresql"}}),
                    ],
                    format!("query plan cached ({} rows)", self.rng.gen_range(1..40)),
                )
            }
        };
        let span_id = spans[0]["span_id"].clone();
        obj.insert("spans".into(), Value::Array(spans));
        let mut logs = vec![
            json!({"timestamp": t - 2, "severity": "info", "body": line, "trace_id": trace.id, "span_id": span_id}),
        ];
        if failed {
            let (kind, message, frames) = ERRORS[self.rng.gen_range(0..ERRORS.len())];
            let stack: Vec<Value> = frames
                .iter()
                .map(|(f, file, line)| json!({"function": f, "file": file, "line": line}))
                .collect();
            obj.insert("errors".into(), json!([{"timestamp": t, "type": kind, "message": message, "stacktrace": stack, "tags": {"region": "eu-west-1"}, "trace_id": trace.id, "span_id": span_id}]));
            logs.push(json!({"timestamp": t - 1, "severity": "error", "body": format!("{kind}: {message}"), "trace_id": trace.id, "span_id": span_id}));
        } else if trace.dur > 250.0 {
            logs.push(json!({"timestamp": t - 1, "severity": "warn", "body": format!("slow request: {:.0} ms", trace.dur), "trace_id": trace.id}));
        }
        obj.insert("logs".into(), Value::Array(logs));
        if service == "web" && self.rng.gen_bool(1.0 / 600.0) {
            // Now and then (every ten minutes or so) someone tries a password list from one
            // address: the Security page's detectors have something real to find.
            let ip = format!("198.51.100.{}", self.rng.gen_range(1..255));
            let attempts: Vec<Value> = (0..12)
                .map(|i| json!({"timestamp": t - 11 + i, "kind": "auth_failure", "actor": format!("u-{}", self.rng.gen_range(1..500)), "ip": ip, "details": {"reason": "bad_password"}}))
                .collect();
            obj.insert("security".into(), Value::Array(attempts));
        } else if service == "web" && self.rng.gen_bool(0.15) {
            let ip = format!("203.0.113.{}", self.rng.gen_range(1..255));
            obj.insert("security".into(), json!([{"timestamp": t, "kind": "auth_failure", "actor": format!("u-{}", self.rng.gen_range(1..500)), "ip": ip, "details": {"reason": "bad_password"}}]));
        }
    }
}

/// The trace being built across the services' bodies of one tick.
#[derive(Debug, Clone)]
struct DemoTrace {
    id: String,
    root: String,
    api: String,
    start: i64,
    dur: f64,
}

/// A standard normal draw by Box–Muller (keeps the dependency list short).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

type Frames = &'static [(&'static str, &'static str, u32)];
const ERRORS: [(&str, &str, Frames); 3] = [
    (
        "TypeError",
        "cannot read properties of undefined (reading 'price')",
        &[("addToCart", "cart.js", 42), ("onClick", "button.js", 12)],
    ),
    (
        "PaymentDeclined",
        "card declined by issuer for order 8812",
        &[
            ("charge", "payments/stripe.rs", 118),
            ("checkout", "orders/checkout.rs", 77),
        ],
    ),
    (
        "TimeoutError",
        "upstream db timed out after 5000ms",
        &[
            ("query", "db/pool.rs", 201),
            ("load_cart", "cart/repo.rs", 33),
        ],
    ),
];

/// History the demo writes on an empty database: three days, so on the first look every
/// detector has already seen two daily cycles and the last day shows only the injected
/// anomalies, and forecasts have a daily season to fit.
const BACKFILL_MS: i64 = 3 * 86_400_000;

/// Runs the demo until `stop` turns true: backfills the last three days on an empty database,
/// then reports every second.
/// Alert rules for the demo's shop, created once when there are none, so the Alerts page and
/// incidents come alive with the injected incidents. They notify no channel: add one in the UI.
async fn seed_rules(
    alerting: &crate::alerting::Alerting,
) -> Result<(), crate::alerting::AlertingError> {
    // Every Osprey has the security rule; the demo's own rules go in once, beside it.
    let existing = alerting.rules().await?;
    if existing
        .iter()
        .any(|r| r.spec.get("name").and_then(|n| n.as_str()) != Some(crate::SECURITY_RULE))
    {
        return Ok(());
    }
    let rules = [
        json!({"name": "Error rate high", "description": "More than 5 % of requests fail",
               "query": {"metric": "http.error_rate", "agg": "avg", "window": "1m"}, "group_by": ["service"],
               "condition": {"op": ">", "threshold": 5, "recover": 3}, "for": "30s", "keep_firing_for": "1m",
               "severity": "critical"}),
        json!({"name": "API latency p95", "query": {"metric": "http.latency_ms", "agg": "p95", "filter": {"service": "api"}, "window": "1m"},
               "condition": {"op": ">", "threshold": 300, "recover": 200}, "for": "1m", "severity": "warning"}),
        json!({"name": "Traffic anomaly", "query": {"metric": "http.requests", "agg": "rate", "window": "3m"}, "group_by": ["service"],
               "condition": {"anomaly": {"min_score": 0.9, "recover": 0.5}}, "severity": "warning"}),
    ];
    for rule in rules {
        alerting.create_rule(rule.to_string().as_bytes()).await?;
    }
    Ok(())
}

pub async fn run(
    ingest: IngestService,
    store: Arc<dyn Store>,
    alerting: Arc<crate::alerting::Alerting>,
    limits: IngestConfig,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(e) = seed_rules(&alerting).await {
        tracing::warn!(error = %e, "demo alert rules not created");
    }
    let now = chrono::Utc::now().timestamp_millis();
    let fresh = store
        .series("http.requests")
        .await
        .map(|s| s.is_empty())
        .unwrap_or(false);
    // Incidents are scheduled from the shop's first tick: the backfill's start when there is one.
    let first = if fresh { now - BACKFILL_MS } else { now };
    let mut shop = DemoShop::new(now as u64, first);
    if fresh {
        if let Err(e) = backfill(&mut shop, &ingest, &limits, now).await {
            tracing::warn!(error = %e, "demo backfill stopped");
        }
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => {
                let t = chrono::Utc::now().timestamp_millis();
                for body in shop.tick(t, true) {
                    if let Err(e) = send(&ingest, &limits, &body).await {
                        tracing::warn!(error = %e, "demo batch not stored");
                    }
                }
            }
        }
    }
}

/// [`BACKFILL_MS`] of history: one point a minute, then one every 5 s over the last hour.
async fn backfill(
    shop: &mut DemoShop,
    ingest: &IngestService,
    limits: &IngestConfig,
    now: i64,
) -> Result<(), String> {
    let mut t = now - BACKFILL_MS;
    let mut pending: Vec<Value> = Vec::new();
    while t < now {
        let dt = if now - t > 3_600_000 { 60_000 } else { 5_000 };
        pending.extend(shop.tick(t, false));
        if pending.len() >= 240 {
            send(ingest, limits, &merge(std::mem::take(&mut pending))).await?;
        }
        t += dt;
    }
    if !pending.is_empty() {
        send(ingest, limits, &merge(pending)).await?;
    }
    tracing::info!(hours = BACKFILL_MS / 3_600_000, "demo backfilled");
    Ok(())
}

/// Merges per-service bodies into one, moving each body's context into its metrics' labels.
fn merge(bodies: Vec<Value>) -> Value {
    let mut metrics = Vec::new();
    for mut body in bodies {
        let service = body["context"]["service"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if let Some(Value::Array(ms)) = body.get_mut("metrics").map(Value::take) {
            for mut m in ms {
                let labels = m
                    .as_object_mut()
                    .expect("metric")
                    .entry("labels")
                    .or_insert_with(|| json!({}));
                labels["service"] = Value::String(service.clone());
                labels["environment"] = json!("prod");
                labels["release"] = json!("1.4.2");
                metrics.push(m);
            }
        }
    }
    json!({ "metrics": metrics })
}

async fn send(ingest: &IngestService, limits: &IngestConfig, body: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let batch = model::decode(&bytes, limits).map_err(|e| format!("{e} at {:?}", e.field))?;
    loop {
        match ingest.submit(batch.clone()).await {
            Ok(_) => return Ok(()),
            Err(IngestError::QueueFull { .. }) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tick_is_valid_ingest_input() {
        let limits = IngestConfig::default();
        let mut shop = DemoShop::new(7, 0);
        let start = 1_795_780_800_000;
        for i in 0..2_000 {
            for body in shop.tick(start + i * 1_000, true) {
                let bytes = serde_json::to_vec(&body).unwrap();
                model::decode(&bytes, &limits).unwrap_or_else(|e| panic!("{e:?} in {body}"));
            }
        }
    }

    #[test]
    fn an_hour_of_demo_holds_password_guessing_bursts() {
        let mut shop = DemoShop::new(7, 0);
        let start = 1_795_780_800_000;
        let bursts = (0..3_600)
            .flat_map(|i| shop.tick(start + i * 1_000, true))
            .filter(|body| body["security"].as_array().is_some_and(|s| s.len() >= 10))
            .count();
        assert!(bursts >= 2, "{bursts} bursts");
    }

    #[test]
    fn anomalies_happen_and_end() {
        let mut shop = DemoShop::new(1, 0);
        let mut seen = 0;
        for i in 0..3_600 {
            shop.advance_anomaly(i * 1_000);
            seen += usize::from(shop.anomaly.is_some());
        }
        assert!(
            seen > 0 && seen < 3_600,
            "anomalies are occasional, got {seen} s of 3600"
        );
    }

    /// Five days of the demo, a point a minute, through the live detectors: the injected
    /// anomalies of the last three days are found and the daily cycle raises few false alarms.
    #[test]
    fn the_detectors_find_the_injected_anomalies_and_not_the_daily_cycle() {
        use crate::anomaly::AnomalyWatch;
        let limits = IngestConfig::default();
        let start = 1_795_780_800_000i64;
        let mut shop = DemoShop::new(11, start);
        let mut watch = AnomalyWatch::new(1_000);
        let mut ids: HashMap<String, i64> = HashMap::new();
        // Injected anomalies as (kind, first minute, last minute).
        let mut injected: Vec<(Anomaly, i64, i64)> = Vec::new();
        let mut found = Vec::new();
        for m in 0..5 * 1_440 {
            let t = start + m * 60_000;
            let body = merge(shop.tick(t, false));
            if let Some((kind, _)) = shop.anomaly {
                match injected.last_mut() {
                    Some(last) if last.0 == kind && last.2 >= t - 60_000 => last.2 = t,
                    _ => injected.push((kind, t, t)),
                }
            }
            let batch = model::decode(&serde_json::to_vec(&body).unwrap(), &limits).unwrap();
            for sample in &batch.metrics {
                let key = format!("{}{:?}", sample.series.name, sample.series.labels);
                let next = ids.len() as i64;
                let id = *ids.entry(key).or_insert(next);
                if let Some(a) =
                    watch.observe(id, &sample.series, sample.kind, sample.ts, sample.value)
                {
                    found.push(a);
                }
            }
        }
        let judged_from = start + 2 * 1_440 * 60_000;
        let near = |a: &crate::store::Anomaly, (_, from, to): &(Anomaly, i64, i64)| {
            a.timestamp >= from - 60_000 && a.timestamp <= to + 3 * 60_000
        };
        let judged: Vec<_> = injected.iter().filter(|i| i.1 >= judged_from).collect();
        let hit = judged
            .iter()
            .filter(|i| found.iter().any(|a| near(a, i)))
            .count();
        let false_alarms = found
            .iter()
            .filter(|a| a.timestamp >= judged_from)
            .filter(|a| !injected.iter().any(|i| near(a, i)))
            .count();
        assert!(
            judged.len() >= 15,
            "three days hold {} anomalies",
            judged.len()
        );
        assert!(
            hit * 10 >= judged.len() * 8,
            "found {hit} of {} injected anomalies",
            judged.len()
        );
        assert!(
            false_alarms <= 3,
            "{false_alarms} false alarms in three days (found {hit} of {})",
            judged.len()
        );
        assert!(found
            .iter()
            .all(|a| a.explanation.contains("above") || a.explanation.contains("below")));
    }

    #[test]
    fn merged_backfill_keeps_the_service_label() {
        let mut shop = DemoShop::new(3, 0);
        let merged = merge(shop.tick(1_795_780_800_000, false));
        let b = model::decode(
            &serde_json::to_vec(&merged).unwrap(),
            &IngestConfig::default(),
        )
        .unwrap();
        assert!(b
            .metrics
            .iter()
            .all(|m| m.series.labels.contains_key("service")));
    }
}
