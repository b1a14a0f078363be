//! Osprey: a self-hosted monitoring service in one binary.
//!
//! [`Osprey::start`] wires the parts together — store, batch writer, hot window, live hub,
//! query service, demo — and [`http::router`] serves them.

// Leptos view types nest deeply; their layout needs more than the default 128.
#![recursion_limit = "256"]

pub mod accounts;
pub mod alerting;
pub mod anomaly;
pub mod app_state;
pub mod auth;
pub mod config;
pub mod dashboards;
pub mod demo;
pub mod derived;
pub mod embeds;
pub mod forecasting;
pub mod hot;
pub mod http;
pub mod ingest;
pub mod live;
pub mod query;
pub mod security;
pub mod signals;
pub mod store;
pub mod telemetry;

use app_state::{AppState, Services};
use config::Config;
use ingest::{spawn_writer, WriterDeps, WriterHandle};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why Osprey could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot open storage: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A running Osprey: its shared state and the background tasks to stop on shutdown.
pub struct Osprey {
    pub state: AppState,
    /// Keys created on this start, to print once.
    pub new_keys: auth::NewKeys,
    /// Turns true once the anomaly detectors have been rebuilt from stored data.
    warmed: watch::Receiver<bool>,
    writer: WriterHandle,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Series watched by a live anomaly detector at most (about 2 KiB each).
const ANOMALY_SERIES: usize = 20_000;

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(300);
/// How often closed hours' sample blocks are merged, and how many series-hours a call takes.
const COMPACT_EVERY: Duration = Duration::from_secs(60);
const COMPACT_ROLLUPS_EVERY: Duration = Duration::from_secs(5);
const COMPACT_LIMIT: i64 = 2_000;

impl Osprey {
    /// Opens storage, applies migrations and starts the background tasks.
    pub async fn start(config: Config) -> Result<Osprey, StartError> {
        let store = store::open(
            &config.storage.database_url,
            config.storage.max_connections,
            config.ingest.max_series,
        )
        .await?;
        Self::start_with_store(config, store).await
    }

    /// Like [`Osprey::start`] on an already open store (the tests give each run its own).
    pub async fn start_with_store(
        config: Config,
        store: Arc<dyn store::Store>,
    ) -> Result<Osprey, StartError> {
        let mut new_keys = auth::bootstrap(store.as_ref(), &config).await?;
        let accounts = Arc::new(accounts::Accounts::new(
            store.clone(),
            config.session_ttl(),
            config.auth.anonymous_read,
            config.alerts.public_url.starts_with("https://"),
        ));
        new_keys.admin_password = accounts
            .bootstrap(config.auth.admin_password.as_ref().map(|s| s.expose()))
            .await?;
        if auth::retire_dashboard_key(store.as_ref()).await? {
            tracing::warn!("revoked the ingest key that pages used to carry; Osprey's pages now report with the reader's session");
        }
        let now = chrono::Utc::now().timestamp_millis();
        let telemetry = Arc::new(telemetry::Telemetry::default());
        let hot = Arc::new(prime_hot_window(store.as_ref(), &config, now).await?);
        let live = Arc::new(live::LiveHub::new(
            config.live.max_subscribers,
            config.live.max_per_client,
            config.live.updates_per_second,
            telemetry.clone(),
        ));
        let detectors = Arc::new(std::sync::Mutex::new(anomaly::AnomalyWatch::new(
            ANOMALY_SERIES,
        )));
        detectors.lock().expect("fresh lock").start_warming();
        let (security_tx, security_rx) = tokio::sync::mpsc::channel(SECURITY_QUEUE);
        let (ingest, writer) = spawn_writer(
            WriterDeps {
                store: store.clone(),
                hot: hot.clone(),
                live: live.clone(),
                telemetry: telemetry.clone(),
                detectors: detectors.clone(),
                security: security_tx,
            },
            config.ingest.queue_depth,
            config.ingest.max_commit_items,
        );
        accounts.report_sign_ins(ingest.clone());
        let (stop, stopped) = watch::channel(false);
        let (warmed_tx, warmed) = watch::channel(false);
        let (progress_tx, progress) = watch::channel(security::Progress::default());
        let mut tasks = vec![
            tokio::spawn(retention(store.clone(), config.clone(), stopped.clone())),
            tokio::spawn(compaction(store.clone(), stopped.clone())),
            tokio::spawn(warm_detectors(
                store.clone(),
                detectors.clone(),
                now,
                warmed_tx,
                stopped.clone(),
            )),
            tokio::spawn(derive_series(
                store.clone(),
                ingest.clone(),
                stopped.clone(),
            )),
            tokio::spawn(detect_attacks(
                security_rx,
                ingest.clone(),
                config.security.thresholds(),
                progress_tx,
                stopped.clone(),
            )),
        ];
        let query = query::QueryService::new(store.clone(), hot.clone());
        let alerting = Arc::new(alerting::Alerting::new(
            store.clone(),
            query.clone(),
            config.alerts.clone(),
        ));
        if let Err(e) = ensure_security_rule(&alerting).await {
            tracing::warn!(error = %e, "security alert rule not created");
        }
        tasks.extend(alerting.spawn(stopped.clone()));
        if config.demo.enabled {
            tasks.push(tokio::spawn(demo::run(
                ingest.clone(),
                store.clone(),
                alerting.clone(),
                config.ingest.clone(),
                stopped,
            )));
        }
        let state = AppState::new(Services {
            query,
            alerting,
            accounts,
            dashboards: dashboards::Dashboards::new(store.clone()),
            embeds: embeds::Embeds::new(store.clone(), config.embed.allowed_origins.clone()),
            security: progress,
            keys: auth::KeyRing::new(store.clone()),
            recent_batches: http::limits::RecentBatches::default(),
            ingest_limits: http::limits::IngestLimits::new(&config.ingest),
            leptos: leptos_options(&config),
            otlp: std::sync::Mutex::new(ingest::otlp::TemporalState::new(config.ingest.max_series)),
            config,
            store,
            ingest,
            live,
            hot,
            detectors,
            telemetry,
            ready: AtomicBool::new(true),
        });
        Ok(Osprey {
            state,
            new_keys,
            warmed,
            writer,
            stop,
            tasks,
        })
    }

    /// Resolves once the anomaly detectors have been rebuilt from stored data (or gave up).
    pub async fn detectors_warmed(&self) {
        let mut warmed = self.warmed.clone();
        let _ = warmed.wait_for(|done| *done).await;
    }

    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// Stops taking work, ends live streams and background tasks, commits every batch that was
    /// accepted, and closes storage.
    pub async fn shutdown(self) {
        self.state.set_ready(false);
        self.state.live.close();
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.writer.shutdown().await;
        self.state.store.close().await;
    }

    /// Signals live streams to end (so connections close) while requests drain.
    pub fn begin_shutdown(&self) {
        self.state.set_ready(false);
        self.state.live.close();
    }
}

/// Samples read back into memory at start-up at most; beyond it the window starts empty.
const PRIME_SAMPLES: u32 = 200_000;

/// The hot window, refilled from the database with the last `live.hot_window` of samples so
/// recent queries are served from memory right after a restart. Runs before the writer starts,
/// so nothing is counted twice; when there is too much to load, the window starts empty at `now`.
async fn prime_hot_window(
    store: &dyn store::Store,
    config: &Config,
    now: i64,
) -> Result<hot::HotWindow, StartError> {
    let window = config.hot_window().as_millis() as i64;
    let points = config.live.hot_points_per_series;
    let from = now - window;
    let recent = store.recent_samples(from, PRIME_SAMPLES + 1).await?;
    if recent.len() > PRIME_SAMPLES as usize {
        tracing::info!(
            limit = PRIME_SAMPLES,
            "too many recent samples to refill the hot window; it starts empty"
        );
        return Ok(hot::HotWindow::new(window, points, HOT_SERIES, now));
    }
    let hot = hot::HotWindow::new(window, points, HOT_SERIES, from);
    hot.record(recent.iter().map(|s| (s.series_id, s.ts, s.value)), now);
    tracing::info!(
        samples = recent.len(),
        series = hot.len(),
        "hot window refilled"
    );
    Ok(hot)
}

/// Rebuilds the anomaly detectors from stored minutes while ingest runs (see
/// [`anomaly::warm_up`]); a failure leaves the series to learn afresh.
async fn warm_detectors(
    store: Arc<dyn store::Store>,
    watch: Arc<std::sync::Mutex<anomaly::AnomalyWatch>>,
    now: i64,
    done: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let started = std::time::Instant::now();
    let result = tokio::select! {
        result = anomaly::warm_up(store, watch.clone(), now, ANOMALY_SERIES) => Some(result),
        _ = stop.wait_for(|stop| *stop) => None,
    };
    match result {
        None => {}
        Some(Ok(series)) => tracing::info!(
            series,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "anomaly detectors rebuilt from stored data"
        ),
        Some(Err(e)) => tracing::warn!(error = %e, "anomaly detectors start afresh"),
    }
    watch.lock().expect("anomaly watch lock").finish_warming();
    let _ = done.send(true);
}

/// Committed batches of sign-in events waiting for attack detection at most.
const SECURITY_QUEUE: usize = 1024;

/// Events detection looks at between two yields to the runtime.
const SECURITY_SLICE: usize = 1024;

/// The alert rule every Osprey has, on the findings of attack detection.
pub const SECURITY_RULE: &str = "Security: attack detected";

/// Creates [`SECURITY_RULE`] unless a rule of that name exists. It names no channel: it fires
/// and opens an incident, and people add channels to it as they like.
async fn ensure_security_rule(
    alerting: &alerting::Alerting,
) -> Result<(), alerting::AlertingError> {
    let rules = alerting.rules().await?;
    if rules
        .iter()
        .any(|r| r.spec.get("name").and_then(|n| n.as_str()) == Some(SECURITY_RULE))
    {
        return Ok(());
    }
    let rule = serde_json::json!({
        "name": SECURITY_RULE,
        "description": "Brute force, credential stuffing or impossible travel was detected in security events",
        "query": {"metric": "security.findings", "agg": "count", "window": "5m"},
        "group_by": ["kind"],
        "condition": {"op": ">", "threshold": 0},
        "severity": "critical",
    });
    alerting.create_rule(rule.to_string().as_bytes()).await?;
    Ok(())
}

/// Runs committed sign-in events through one [`security::SecurityWatch`] and writes what it
/// finds back through ingest: as a `finding.<kind>` security event and as a `security.findings`
/// sample (labels `kind`, `subject`) for the alert engine.
async fn detect_attacks(
    mut events: tokio::sync::mpsc::Receiver<Vec<ingest::model::SecurityEvent>>,
    ingest: ingest::IngestService,
    thresholds: security::Thresholds,
    progress: watch::Sender<security::Progress>,
    mut stop: watch::Receiver<bool>,
) {
    let mut detector = security::SecurityWatch::new(thresholds);
    loop {
        let batch = tokio::select! {
            batch = events.recv() => batch,
            _ = stop.wait_for(|stop| *stop) => None,
        };
        let Some(batch) = batch else { break };
        let mut found = Vec::new();
        for slice in batch.chunks(SECURITY_SLICE) {
            for e in slice {
                let signal = security::Signal {
                    ts: e.ts,
                    outcome: security::Outcome::of_kind(&e.kind),
                    actor: e.actor.as_deref(),
                    ip: e.ip.as_deref(),
                    location: security::location_of(&e.details),
                };
                found.extend(
                    detector
                        .observe(&signal)
                        .into_iter()
                        .map(|f| (f, &e.labels)),
                );
            }
            if batch.len() > SECURITY_SLICE {
                tokio::task::yield_now().await;
            }
        }
        let stored = found.len() as u64;
        if !found.is_empty() {
            if let Err(e) = ingest.submit(findings_batch(&found)).await {
                tracing::warn!(error = %e, count = found.len(), "security findings not stored");
            }
        }
        progress.send_modify(|p| {
            p.observed += batch.len() as u64;
            p.findings += stored;
        });
    }
}

/// Findings as ingest items: events carrying the labels of the event that revealed them, and
/// samples the alert engine counts.
fn findings_batch(found: &[(security::Finding, &ingest::model::Labels)]) -> ingest::model::Batch {
    use ingest::model::{Batch, MetricKind, MetricSample, SecurityEvent, SeriesKey};
    use security::FindingKind;
    let mut batch = Batch::default();
    for (f, labels) in found {
        let about_account = matches!(
            f.kind,
            FindingKind::BruteForceAccount | FindingKind::ImpossibleTravel
        );
        batch.security.push(SecurityEvent {
            ts: f.ts,
            kind: f.event_kind(),
            actor: about_account.then(|| f.subject.clone()),
            ip: (!about_account).then(|| f.subject.clone()),
            details: serde_json::json!({
                "subject": f.subject,
                "count": f.count,
                "explanation": f.explanation,
            }),
            labels: (*labels).clone(),
        });
        batch.metrics.push(MetricSample {
            series: Arc::new(SeriesKey {
                name: "security.findings".into(),
                labels: [
                    ("kind".to_string(), f.kind.as_str().to_string()),
                    ("subject".to_string(), f.subject.clone()),
                ]
                .into(),
            }),
            kind: MetricKind::Gauge,
            ts: f.ts,
            value: 1.0,
        });
    }
    batch
}

/// Series the hot window holds at most.
const HOT_SERIES: usize = 10_000;

fn leptos_options(config: &Config) -> leptos::config::LeptosOptions {
    leptos::config::LeptosOptions::builder()
        .output_name("osprey")
        .site_pkg_dir("pkg")
        .site_root("site")
        .site_addr(config.listen_addr().expect("validated"))
        .build()
}

/// Merges the sample blocks of closed hours into one per series and hour (see
/// [`store::blocks`]) every minute, and each window's rollup blocks into one (see
/// [`store::rollup`]) every few seconds: a flush appends a rollup block per series and open
/// window, and a long query reads every one of them until they are merged.
async fn compaction(store: Arc<dyn store::Store>, mut stop: watch::Receiver<bool>) {
    let mut samples = tokio::time::interval(COMPACT_EVERY);
    let mut rollups = tokio::time::interval(COMPACT_ROLLUPS_EVERY);
    for ticker in [&mut samples, &mut rollups] {
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        let of_rollups = tokio::select! {
            _ = stop.changed() => break,
            _ = samples.tick() => false,
            _ = rollups.tick() => true,
        };
        let now = chrono::Utc::now().timestamp_millis();
        let mut merged = 0;
        loop {
            let pass = if of_rollups {
                store.compact_rollups(now, COMPACT_LIMIT).await
            } else {
                store.compact(now, COMPACT_LIMIT).await
            };
            match pass {
                Ok(n) => {
                    merged += n;
                    if (n as i64) < COMPACT_LIMIT || *stop.borrow() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "compaction failed");
                    break;
                }
            }
        }
        if merged > 0 {
            tracing::debug!(series_windows = merged, of_rollups, "blocks compacted");
        }
    }
}

/// How often derivation looks for newly settled minutes.
const DERIVE_EVERY: Duration = Duration::from_secs(10);

/// Writes the series derived from spans (see [`derived`]) as minutes settle, through the
/// ingest path so they are stored, streamed and watched for anomalies like any other series.
/// A chunk that fails is derived again at the next tick.
async fn derive_series(
    store: Arc<dyn store::Store>,
    ingest: ingest::IngestService,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(DERIVE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut deriver = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        let now = chrono::Utc::now().timestamp_millis();
        let d = match deriver.as_mut() {
            Some(d) => d,
            None => match derived::Deriver::resume(store.as_ref(), now).await {
                Ok(d) => deriver.insert(d),
                Err(e) => {
                    tracing::warn!(error = %e, "derived series: resuming failed; retrying");
                    continue;
                }
            },
        };
        while !*stop.borrow() {
            let chunk = match d.next_chunk(store.as_ref(), now).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "derived series: reading spans failed; retrying");
                    break;
                }
            };
            if let Err(e) = ingest.submit(derived::batch(chunk.samples)).await {
                tracing::warn!(error = %e, "derived series not stored; retrying");
                break;
            }
            d.advance(chunk.then);
        }
    }
}

/// Deletes data past its retention horizon, every few minutes.
async fn retention(store: Arc<dyn store::Store>, config: Config, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(RETENTION_EVERY);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => {
                let now = chrono::Utc::now().timestamp_millis();
                let raw = now - config.retention().as_millis() as i64;
                let rolled = now - config.rollup_retention().as_millis() as i64;
                match store.expire(raw, rolled).await {
                    Ok(r) if r.raw + r.rollups > 0 => tracing::info!(raw = r.raw, rollups = r.rollups, "retention removed expired data"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention failed"),
                }
            }
        }
    }
}
