//! Storage: one `Store` trait with a SQLite and a PostgreSQL implementation, picked from the
//! database URL. Both run the same conformance suite (`tests/store_conformance.rs`).

pub mod accounts;
pub mod alerting;
pub mod blocks;
mod postgres;
mod rollup;
pub mod security;
pub mod signals;
mod sql;
mod sqlite;

pub use accounts::{AccountStore, AuditEntry, KeyRow, SessionRow, UserRow};
pub use alerting::{
    AlertChanges, AlertStore, Attempt, Delivery, Document, DocumentStats, IncidentEvent,
    IncidentRow, InstanceRow, NewDelivery, TransitionRow,
};
pub use app::model::Anomaly;
pub use postgres::PgStore;
pub use rollup::{Resolution, RollupRow};
pub use security::{SecurityField, SecurityQuery, SecurityStore};
pub use signals::{EntrySpan, ErrorGroupQuery, LogQuery, SignalStore, SpanBox, TraceQuery};
pub use sqlite::SqliteStore;

use crate::ingest::model::{Batch, Labels, MetricKind, SeriesKey};
use async_trait::async_trait;
use std::sync::Arc;

/// Errors from the database layer; the HTTP edge hides their text from clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("series limit of {limit} reached")]
    SeriesLimit { limit: usize },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A stored series: its id and identity.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow {
    pub id: i64,
    pub name: String,
    pub labels: Labels,
    pub kind: MetricKind,
}

/// One raw sample as read back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRow {
    pub series_id: i64,
    pub ts: i64,
    pub value: f64,
}

/// One group's aggregate over one query bucket, computed by the database from rollups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupBucket {
    /// Index of the group in the caller's list.
    pub group: i64,
    /// Index of the query bucket: `(bucket - from) / step`.
    pub index: i64,
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// "Not an anomaly" feedback on one series at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feedback {
    pub series_id: i64,
    pub ts: i64,
    /// The deviation marked normal, in the detector's standard deviations.
    pub sigmas: f64,
}

/// A metric name with its kind and the label keys its series use.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricInfo {
    pub name: String,
    pub kind: MetricKind,
    pub labels: Vec<String>,
}

/// A stored event, for the events API.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventRow {
    pub timestamp: i64,
    pub name: String,
    pub properties: serde_json::Value,
    pub labels: Labels,
}

/// What the events API asks for.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub name: Option<String>,
    pub from: i64,
    pub to: i64,
    pub limit: u32,
}

/// Rows in each table, for tests and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub series: i64,
    pub samples: i64,
    pub events: i64,
    pub errors: i64,
    pub spans: i64,
    pub security: i64,
}

/// Samples committed to `pending_blocks` and not yet flushed, as one process counts them (the
/// batch writer uses it to decide when to flush).
#[derive(Debug, Default)]
pub(crate) struct PendingCount(std::sync::atomic::AtomicUsize);

impl PendingCount {
    pub(crate) fn new(n: usize) -> Self {
        PendingCount(n.into())
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub(crate) fn committed(&self, samples: usize) {
        self.0
            .fetch_add(samples, std::sync::atomic::Ordering::Relaxed);
    }
    /// After a flush that moved `samples`; none moved means none left (another process sharing
    /// the database may have flushed ours).
    pub(crate) fn flushed(&self, samples: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if samples == 0 {
            self.0.store(0, Relaxed);
        } else {
            let _ = self
                .0
                .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(samples)));
        }
    }
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Rows deleted (SQLite) or partitions dropped (PostgreSQL) of raw data.
    pub raw: u64,
    pub rollups: u64,
}

/// Kinds of credentials kept (hashed) in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Sends data only.
    Ingest,
    /// Reads (a viewer's rights), for dashboards and scripts.
    Read,
    /// Everything.
    Admin,
}

impl KeyKind {
    pub fn parse(text: &str) -> Option<KeyKind> {
        match text {
            "ingest" => Some(KeyKind::Ingest),
            "read" => Some(KeyKind::Read),
            "admin" => Some(KeyKind::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Ingest => "ingest",
            KeyKind::Read => "read",
            KeyKind::Admin => "admin",
        }
    }
}

/// A stored credential: only its SHA-256 hash and a short prefix for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub hash: String,
    pub prefix: String,
    pub kind: KeyKind,
    pub project: String,
}

/// Everything Osprey keeps, behind one interface per backend.
#[async_trait]
pub trait Store:
    AlertStore + AccountStore + SignalStore + SecurityStore + Send + Sync + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Stores a whole batch in one transaction: all of it or, on error, none of it.
    /// Returns the ids of the batch's series, in the order of `batch.metrics`.
    async fn write(&self, batch: &Batch) -> StoreResult<Vec<i64>>;

    /// Series of one metric.
    async fn series(&self, metric: &str) -> StoreResult<Vec<SeriesRow>>;
    /// How many series this process has created, a count that only grows: when it moves,
    /// [`Store::series`] may answer differently than before.
    fn series_created(&self) -> usize;
    /// Raw samples of the given series with `from <= ts < to`, ordered by series then time.
    async fn samples(&self, series: &[i64], from: i64, to: i64) -> StoreResult<Vec<SampleRow>>;
    /// Rollup rows of the given series with `from <= bucket < to`.
    async fn rollups(
        &self,
        resolution: Resolution,
        series: &[i64],
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<RollupRow>>;
    /// Rollups summed per group and query bucket inside the database, so a long range over many
    /// series returns one row per point instead of one per stored minute. `members` pairs each
    /// series id with its group index; buckets start at `from` and are `step` wide.
    async fn rollup_groups(
        &self,
        resolution: Resolution,
        members: &[(i64, i64)],
        from: i64,
        to: i64,
        step: i64,
    ) -> StoreResult<Vec<GroupBucket>>;
    /// Records anomalies; a second report for the same series and time replaces the first.
    async fn put_anomalies(&self, rows: &[Anomaly]) -> StoreResult<()>;
    /// Anomalies with `from <= ts < to`, of one metric or all, newest first.
    async fn anomalies(
        &self,
        metric: Option<&str>,
        from: i64,
        to: i64,
        limit: u32,
    ) -> StoreResult<Vec<Anomaly>>;
    /// The stored anomaly of one series at one time.
    async fn anomaly(&self, series_id: i64, ts: i64) -> StoreResult<Option<Anomaly>>;
    /// Records "not an anomaly" feedback; a second one on the same anomaly is ignored.
    async fn put_feedback(&self, feedback: &Feedback, now: i64) -> StoreResult<()>;
    /// Feedback on times `>= from`, oldest first.
    async fn feedback(&self, from: i64) -> StoreResult<Vec<Feedback>>;
    /// Samples of every series with `ts >= from`, oldest first, at most `limit` of them; for
    /// refilling the hot window at start-up.
    async fn recent_samples(&self, from: i64, limit: u32) -> StoreResult<Vec<SampleRow>>;
    async fn metrics(&self) -> StoreResult<Vec<MetricInfo>>;
    async fn events(&self, query: &EventQuery) -> StoreResult<Vec<EventRow>>;

    async fn put_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn find_key(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn has_key(&self, kind: KeyKind) -> StoreResult<bool>;

    /// Moves a share of the samples that commits left pending into their blocks and rollups (see
    /// [`blocks`]); returns the samples moved, 0 when none wait. Reads include pending samples, so
    /// this changes how fast data is read, never what is read.
    async fn flush_pending(&self) -> StoreResult<usize>;
    /// Samples waiting to be flushed (as this process counts them).
    fn pending_samples(&self) -> usize;
    /// Flushes until no sample is pending.
    async fn flush_all(&self) -> StoreResult<()> {
        while self.flush_pending().await? > 0 {}
        Ok(())
    }
    /// Merges the sample blocks of each series in recent closed hours into one (see [`blocks`]),
    /// at most `limit` series-hours per call; returns how many it merged.
    async fn compact(&self, now: i64, limit: i64) -> StoreResult<u64>;
    /// Merges the rollup blocks of each series and window of the last two days into one (see
    /// [`rollup`]), open windows included, at most `limit` series-windows per resolution and
    /// call; returns how many it merged.
    async fn compact_rollups(&self, now: i64, limit: i64) -> StoreResult<u64>;
    /// Removes raw data older than `raw_before` and rollups older than `rollup_before` (unix ms).
    async fn expire(&self, raw_before: i64, rollup_before: i64) -> StoreResult<ExpiryReport>;
    async fn counts(&self) -> StoreResult<TableCounts>;
    /// True when the database answers.
    async fn ping(&self) -> bool;
    /// Closes connections, waiting for in-flight work.
    async fn close(&self);
}

/// Opens the store named by `url` and brings its schema up to date.
pub async fn open(
    url: &str,
    max_connections: u32,
    max_series: usize,
) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::open(url, max_connections, max_series).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PgStore::open(url, max_connections, max_series, None).await?,
        ))
    } else {
        Err(StoreError::Url {
            url: url.into(),
            reason: "expected sqlite:// or postgres://".into(),
        })
    }
}

/// Per-commit work shared by both backends: the distinct series of a batch, and its rollup rows.
pub(crate) struct PreparedBatch<'a> {
    pub distinct: Vec<(&'a SeriesKey, MetricKind)>,
    /// Index into `distinct` for each sample of `batch.metrics`.
    pub sample_series: Vec<usize>,
}

impl<'a> PreparedBatch<'a> {
    pub fn new(batch: &'a Batch) -> Self {
        let mut index: std::collections::HashMap<&SeriesKey, usize> = Default::default();
        let mut distinct = Vec::new();
        let sample_series = batch
            .metrics
            .iter()
            .map(|m| {
                *index.entry(&m.series).or_insert_with(|| {
                    distinct.push((&*m.series, m.kind));
                    distinct.len() - 1
                })
            })
            .collect();
        PreparedBatch {
            distinct,
            sample_series,
        }
    }
}

pub(crate) fn parse_labels(text: &str) -> StoreResult<Labels> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("series labels {text:?}: {e}")))
}

/// Bounded cache of series ids, so the hot path skips a lookup per sample.
pub(crate) struct SeriesCache {
    map: std::sync::Mutex<std::collections::HashMap<SeriesKey, i64>>,
    capacity: usize,
}

impl SeriesCache {
    pub fn new(capacity: usize) -> Self {
        SeriesCache {
            map: Default::default(),
            capacity,
        }
    }
    pub fn get(&self, key: &SeriesKey) -> Option<i64> {
        self.map
            .lock()
            .expect("series cache lock")
            .get(key)
            .copied()
    }
    pub fn insert_all(&self, entries: impl IntoIterator<Item = (SeriesKey, i64)>) {
        let mut map = self.map.lock().expect("series cache lock");
        for (k, v) in entries {
            if map.len() >= self.capacity {
                // Dropping everything is crude but bounded; ids are re-read on the next miss.
                map.clear();
            }
            map.insert(k, v);
        }
    }
}
