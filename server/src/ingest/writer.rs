//! The batch writer: the one task that writes ingested data. It drains whatever requests are
//! waiting into one transaction (group commit), then acknowledges each of them, feeds the hot
//! window and tells live streams what is new.

use super::{IngestError, IngestService, Job};
use crate::anomaly::AnomalyWatch;
use crate::hot::HotWindow;
use crate::ingest::model::{Accepted, Batch, SecurityEvent, SeriesKey};
use crate::live::LiveHub;
use crate::store::{Store, StoreError};
use crate::telemetry::Telemetry;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Samples of one commit, as live streams receive them.
#[derive(Debug)]
pub struct Committed {
    pub samples: Vec<CommittedSample>,
}

#[derive(Debug)]
pub struct CommittedSample {
    pub series_id: i64,
    pub series: Arc<SeriesKey>,
    pub ts: i64,
    pub value: f64,
}

/// Controls the running writer.
pub struct WriterHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WriterHandle {
    /// Stops taking new batches, commits every one already queued, and returns when done.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Everything the writer feeds after a commit.
pub struct WriterDeps {
    pub store: Arc<dyn Store>,
    pub hot: Arc<HotWindow>,
    pub live: Arc<LiveHub>,
    pub telemetry: Arc<Telemetry>,
    /// Only the writer touches it; the lock is never contended.
    pub detectors: Arc<std::sync::Mutex<AnomalyWatch>>,
    /// Committed sign-in events go here for attack detection (see `crate::security`); when
    /// detection falls behind they are dropped rather than slowing commits.
    pub security: mpsc::Sender<Vec<SecurityEvent>>,
}

/// Starts the writer; returns the service that feeds it and the handle that stops it.
pub fn spawn_writer(
    deps: WriterDeps,
    queue_depth: usize,
    max_commit_items: usize,
) -> (IngestService, WriterHandle) {
    let (tx, rx) = mpsc::channel(queue_depth);
    let (stop, stopped) = watch::channel(false);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(run(rx, stopped, deps, max_commit_items, in_flight.clone()));
    (
        IngestService {
            queue: tx,
            depth: queue_depth,
            in_flight,
        },
        WriterHandle { stop, task },
    )
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    mut stopped: watch::Receiver<bool>,
    deps: WriterDeps,
    max_items: usize,
    in_flight: Arc<AtomicUsize>,
) {
    let mut flush_tick = tokio::time::interval(FLUSH_EVERY);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flushed = Instant::now();
    loop {
        let first = tokio::select! {
            job = rx.recv() => job,
            _ = flush_tick.tick() => {
                flush_slice(&deps, &mut flushed).await;
                continue;
            }
            _ = stopped.changed() => {
                // Refuse new work, then commit what was already accepted into the queue.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        let mut jobs = vec![first];
        let mut items = jobs[0].batch.len();
        while items < max_items {
            match rx.try_recv() {
                Ok(job) => {
                    items += job.batch.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        in_flight.store(jobs.len(), Ordering::SeqCst);
        commit(&deps, jobs).await;
        in_flight.store(0, Ordering::SeqCst);
        flush_slice(&deps, &mut flushed).await;
    }
    if let Err(e) = deps.store.flush_all().await {
        tracing::warn!(error = %e, "pending samples not flushed at shutdown; they stay readable and are flushed at the next start");
    }
    tracing::info!("batch writer stopped; every queued batch was committed");
}

/// How often samples left pending by commits are flushed into blocks and rollups.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Pending samples that start a flush before a second has passed.
const FLUSH_SAMPLES: usize = 200_000;

/// Flushes one slice of pending samples (see `Store::flush_pending`) when a flush is due. A
/// flush of a second's samples runs as slices between commits, so no request waits for a whole
/// flush; it is over when nothing is pending. On failure the samples stay pending, and
/// readable, until the next second.
async fn flush_slice(deps: &WriterDeps, flushed: &mut Instant) {
    let pending = deps.store.pending_samples();
    if pending == 0 || (flushed.elapsed() < FLUSH_EVERY && pending < FLUSH_SAMPLES) {
        return;
    }
    match deps.store.flush_pending().await {
        Ok(moved) if moved > 0 && deps.store.pending_samples() > 0 => {}
        Ok(_) => *flushed = Instant::now(),
        Err(e) => {
            tracing::warn!(error = %e, "flushing pending samples failed; retrying in a second");
            *flushed = Instant::now();
        }
    }
}

/// Commits jobs together; if that fails, each job alone, so one bad batch fails only itself.
async fn commit(deps: &WriterDeps, jobs: Vec<Job>) {
    if jobs.len() == 1 {
        let job = jobs.into_iter().next().expect("one job");
        let result = write(deps, &job.batch).await;
        let _ = job.done.send(result);
        return;
    }
    let mut merged = Batch::default();
    let mut shapes = Vec::with_capacity(jobs.len());
    let mut acks = Vec::with_capacity(jobs.len());
    for job in jobs {
        shapes.push(job.batch.accepted());
        merged.append(job.batch);
        acks.push(job.done);
    }
    match write(deps, &merged).await {
        Ok(()) => {
            for ack in acks {
                let _ = ack.send(Ok(()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = acks.len(), "group commit failed; committing each request alone");
            for (batch, ack) in split(merged, &shapes).into_iter().zip(acks) {
                let result = write(deps, &batch).await;
                let _ = ack.send(result);
            }
        }
    }
}

async fn write(deps: &WriterDeps, batch: &Batch) -> Result<(), IngestError> {
    let started = Instant::now();
    let ids = deps.store.write(batch).await.map_err(|e| match e {
        StoreError::SeriesLimit { limit } => IngestError::SeriesLimit { limit },
        other => {
            tracing::error!(error = %other, "commit failed");
            IngestError::Store(other)
        }
    })?;
    deps.telemetry
        .record_commit(started.elapsed(), &batch.accepted());
    watch_security(deps, batch);
    if !batch.logs.is_empty() && deps.live.has_log_tails() {
        let logs = batch.logs.iter().map(live_log).collect();
        deps.live.publish_logs(logs);
    }
    if !batch.metrics.is_empty() {
        let now = chrono::Utc::now().timestamp_millis();
        deps.hot.record(
            batch
                .metrics
                .iter()
                .zip(&ids)
                .map(|(m, id)| (*id, m.ts, m.value)),
            now,
        );
        let samples = batch
            .metrics
            .iter()
            .zip(&ids)
            .map(|(m, id)| CommittedSample {
                series_id: *id,
                series: m.series.clone(),
                ts: m.ts,
                value: m.value,
            })
            .collect();
        deps.live.publish(Arc::new(Committed { samples }));
        let found: Vec<_> = {
            let mut watch = deps.detectors.lock().expect("anomaly watch lock");
            batch
                .metrics
                .iter()
                .zip(&ids)
                .filter_map(|(m, id)| watch.observe(*id, &m.series, m.kind, m.ts, m.value))
                .collect()
        };
        if !found.is_empty() {
            // Derived data, written after the batch's own commit: a failure costs no ingested item.
            if let Err(e) = deps.store.put_anomalies(&found).await {
                tracing::warn!(error = %e, count = found.len(), "anomalies not recorded");
            }
        }
    }
    Ok(())
}

/// A committed log record as the Logs page lists it.
fn live_log(l: &crate::ingest::model::LogRecord) -> crate::live::LiveLog {
    crate::live::LiveLog {
        severity_number: l.severity_number,
        view: app::model::LogView {
            timestamp: l.ts,
            severity: l.severity.clone(),
            body: l.body.clone(),
            service: l.service.clone(),
            attributes: l.attributes.clone(),
            trace_id: l.trace_id.clone(),
            span_id: l.span_id.clone(),
        },
    }
}

/// Hands the batch's sign-in events to attack detection without waiting for it.
fn watch_security(deps: &WriterDeps, batch: &Batch) {
    use crate::security::Outcome;
    let watched: Vec<SecurityEvent> = batch
        .security
        .iter()
        .filter(|e| Outcome::of_kind(&e.kind) != Outcome::Other)
        .cloned()
        .collect();
    if watched.is_empty() {
        return;
    }
    if let Err(e) = deps.security.try_send(watched) {
        let count = match &e {
            mpsc::error::TrySendError::Full(v) | mpsc::error::TrySendError::Closed(v) => v.len(),
        };
        tracing::warn!(count, "security detection is behind; events not watched");
    }
}

/// Undoes `Batch::append` over batches of the given shapes, in order.
fn split(mut merged: Batch, shapes: &[Accepted]) -> Vec<Batch> {
    let mut out = Vec::with_capacity(shapes.len());
    for shape in shapes.iter().rev() {
        out.push(Batch {
            metrics: merged
                .metrics
                .split_off(merged.metrics.len() - shape.metrics),
            events: merged.events.split_off(merged.events.len() - shape.events),
            errors: merged.errors.split_off(merged.errors.len() - shape.errors),
            spans: merged.spans.split_off(merged.spans.len() - shape.spans),
            security: merged
                .security
                .split_off(merged.security.len() - shape.security),
            logs: merged.logs.split_off(merged.logs.len() - shape.logs),
        });
    }
    out.reverse();
    out
}
