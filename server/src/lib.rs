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
pub mod demo;
pub mod forecasting;
pub mod hot;
pub mod http;
pub mod ingest;
pub mod live;
pub mod query;
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
        let now = chrono::Utc::now().timestamp_millis();
        let telemetry = Arc::new(telemetry::Telemetry::default());
        let hot = Arc::new(prime_hot_window(store.as_ref(), &config, now).await?);
        let live = Arc::new(live::LiveHub::new(
            config.live.max_subscribers,
            config.live.updates_per_second,
            telemetry.clone(),
        ));
        let detectors = Arc::new(std::sync::Mutex::new(anomaly::AnomalyWatch::new(
            ANOMALY_SERIES,
        )));
        detectors.lock().expect("fresh lock").start_warming();
        let (ingest, writer) = spawn_writer(
            WriterDeps {
                store: store.clone(),
                hot: hot.clone(),
                live: live.clone(),
                telemetry: telemetry.clone(),
                detectors: detectors.clone(),
            },
            config.ingest.queue_depth,
            config.ingest.max_commit_items,
        );
        let (stop, stopped) = watch::channel(false);
        let (warmed_tx, warmed) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(retention(store.clone(), config.clone(), stopped.clone())),
            tokio::spawn(warm_detectors(
                store.clone(),
                detectors.clone(),
                now,
                warmed_tx,
                stopped.clone(),
            )),
        ];
        let query = query::QueryService::new(store.clone(), hot.clone());
        let alerting = Arc::new(alerting::Alerting::new(
            store.clone(),
            query.clone(),
            config.alerts.clone(),
        ));
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
            keys: auth::KeyRing::new(store.clone()),
            leptos: leptos_options(&config),
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
