//! The server side of alerting: rules, channels, silences, escalation policies and on-call
//! rotations kept in the store; an evaluator that runs every rule each `alerts.eval_interval`;
//! incidents; and a durable outbox that delivers notifications.
//!
//! Decisions live in the pure `alerts` crate (rules, state machine, noise control) and
//! delivery formats in `notify`; this module wires them to storage, the query engine and
//! time. One evaluation ([`Alerting::tick`]):
//!
//! 1. evaluates each rule's query over its window (hot window or raw samples, never the
//!    ingest path) and steps one `alerts::AlertInstance` per label set;
//! 2. hands the transitions to the `alerts::Dispatcher`, which groups, dedups, silences,
//!    inhibits, holds flapping alerts and folds storms into digests;
//! 3. opens, joins or resolves incidents and takes due escalation steps;
//! 4. writes states, transitions, incidents, timeline entries and outbox rows in one
//!    transaction ([`crate::store::AlertStore::apply`]).
//!
//! The outbox worker ([`outbox`]) then delivers at least once, with backoff, per-channel
//! rate limits and a dead-letter state. Tests drive `tick` and `deliver_due` directly.

mod backtest;
mod catalog;
mod engine;
mod incidents;
pub mod outbox;

pub use app::model::{
    AlertView, Backtest, ChannelView, DeliveryView, Episode, IncidentView, InstanceView,
    TimelineEntry, TransitionView,
};
pub use catalog::{EscalationPolicy, Rotation, RuleView};
pub use engine::TickReport;

use crate::config::AlertsConfig;
use crate::query::QueryService;
use crate::store::{Store, StoreError};
use alerts::AlertRule;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex, Notify};

/// Why an alerting request failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AlertingError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AlertingError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

impl From<alerts::ValidationError> for AlertingError {
    fn from(e: alerts::ValidationError) -> Self {
        AlertingError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

pub type AlertingResult<T> = Result<T, AlertingError>;

/// The alerting service: shared by the HTTP API, the dashboard and the background tasks.
pub struct Alerting {
    store: Arc<dyn Store>,
    query: QueryService,
    config: AlertsConfig,
    engine: Mutex<engine::Engine>,
    sender: notify::Sender,
    limiter: std::sync::Mutex<outbox::RateLimiter>,
    /// Woken when new deliveries are queued.
    queued: Notify,
    /// Counts finished delivery attempts, so tests await deliveries instead of sleeping.
    attempts: watch::Sender<u64>,
    /// Bumped by every document change made here: with the stored rules' count and newest
    /// update time it tells whether `rule_cache` is current (two changes in one millisecond
    /// would leave the stored time alone).
    rules_changed: AtomicU64,
    /// Dispatch latency: state change → delivered.
    pub dispatch_clock: outbox::DispatchClock,
    rule_cache: std::sync::Mutex<Option<(RuleStamp, Rules)>>,
}

type RuleStamp = (u64, crate::store::DocumentStats);
/// Parsed rules with their ids.
pub(crate) type Rules = Arc<Vec<(String, AlertRule)>>;

impl Alerting {
    pub fn new(store: Arc<dyn Store>, query: QueryService, config: AlertsConfig) -> Self {
        let limiter = outbox::RateLimiter::new(config.channel_rate_per_minute);
        Alerting {
            store,
            query,
            engine: Mutex::new(engine::Engine::new()),
            sender: notify::Sender::new(),
            limiter: std::sync::Mutex::new(limiter),
            queued: Notify::new(),
            attempts: watch::channel(0).0,
            rules_changed: AtomicU64::new(0),
            dispatch_clock: outbox::DispatchClock::default(),
            rule_cache: std::sync::Mutex::new(None),
            config,
        }
    }

    /// Runs the evaluator and the outbox worker until `stop` turns true.
    pub fn spawn(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(evaluate_forever(self.clone(), stop.clone())),
            tokio::spawn(outbox::deliver_forever(self.clone(), stop)),
        ]
    }

    /// A receiver of the number of finished delivery attempts.
    pub fn attempts(&self) -> watch::Receiver<u64> {
        self.attempts.subscribe()
    }

    fn link(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_url.trim_end_matches('/'))
    }

    /// Recorded state changes of one rule since `from`, newest first.
    pub async fn history(
        &self,
        rule_id: &str,
        from: i64,
        limit: u32,
    ) -> AlertingResult<Vec<TransitionView>> {
        self.rule(rule_id).await?;
        let rows = self
            .store
            .transitions(Some(rule_id), from, limit.min(1_000))
            .await?;
        Ok(rows
            .into_iter()
            .map(|t| TransitionView {
                labels: serde_json::from_str(&t.labels).unwrap_or_default(),
                ts: t.ts,
                from: t.from_state,
                to: t.to_state,
                value: t.value,
            })
            .collect())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A fresh id with a readable prefix (`ch_`, `ru_`, `inc_`…).
fn new_id(prefix: &str) -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{prefix}_{n:016x}")
}

/// Evaluates every rule each interval. A slow evaluation delays the next one rather than
/// overlapping it.
async fn evaluate_forever(alerting: Arc<Alerting>, mut stop: watch::Receiver<bool>) {
    let every = alerting.config.eval_interval();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = ticker.tick() => {
                let started = std::time::Instant::now();
                match alerting.tick(now_ms()).await {
                    Ok(report) => {
                        if started.elapsed() > every / 2 {
                            tracing::warn!(
                                rules = report.rules,
                                elapsed_ms = started.elapsed().as_millis() as u64,
                                "alert evaluation takes more than half its interval"
                            );
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "alert evaluation failed"),
                }
            }
        }
    }
}

/// How long the outbox worker sleeps when nothing is due and nothing is queued.
const OUTBOX_IDLE: Duration = Duration::from_secs(1);

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
