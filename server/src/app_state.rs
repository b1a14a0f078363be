//! What every request handler can reach.

use crate::auth::KeyRing;
use crate::config::Config;
use crate::hot::HotWindow;
use crate::ingest::IngestService;
use crate::live::LiveHub;
use crate::query::QueryService;
use crate::store::Store;
use crate::telemetry::Telemetry;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared services of one Osprey process; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub ingest: IngestService,
    pub query: QueryService,
    pub live: Arc<LiveHub>,
    pub hot: Arc<HotWindow>,
    /// The live anomaly detectors, for feedback.
    pub detectors: Arc<std::sync::Mutex<crate::anomaly::AnomalyWatch>>,
    pub telemetry: Arc<Telemetry>,
    /// Running totals and last histograms of OTLP series (delta/cumulative conversion).
    pub otlp: std::sync::Mutex<crate::ingest::otlp::TemporalState>,
    pub alerting: Arc<crate::alerting::Alerting>,
    pub accounts: Arc<crate::accounts::Accounts>,
    pub dashboards: crate::dashboards::Dashboards,
    pub embeds: crate::embeds::Embeds,
    /// How far attack detection has got (events looked at, findings stored).
    pub security: tokio::sync::watch::Receiver<crate::security::Progress>,
    pub keys: KeyRing,
    /// Requests per second per key and per address, and active series per key, on ingest.
    pub ingest_limits: crate::http::limits::IngestLimits,
    /// Recently stored batch ids, so a retried batch is acknowledged, not stored twice.
    pub recent_batches: crate::http::limits::RecentBatches,
    pub leptos: LeptosOptions,
    pub ready: AtomicBool,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
