//! Ingest: decoded, validated batches wait in a bounded queue for the one batch writer, which
//! commits many requests per transaction and acknowledges each only after its commit.

pub mod grouping;
pub mod model;
pub mod otlp;
mod writer;

pub use writer::{spawn_writer, Committed, CommittedSample, WriterDeps, WriterHandle};

use crate::store::StoreError;
use model::{Accepted, Batch};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest queue is full ({depth} requests waiting)")]
    QueueFull { depth: usize },
    #[error("osprey is shutting down")]
    ShuttingDown,
    #[error("series limit of {limit} reached")]
    SeriesLimit { limit: usize },
    #[error("storing the batch failed: {0}")]
    Store(StoreError),
}

impl IngestError {
    /// How long a client should wait before retrying, where retrying can help.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::QueueFull { .. } => Some(Duration::from_secs(1)),
            IngestError::SeriesLimit { .. } => Some(Duration::from_secs(60)),
            IngestError::ShuttingDown | IngestError::Store(_) => Some(Duration::from_secs(5)),
        }
    }
}

/// A batch waiting for the writer, with the channel its acknowledgement goes back on.
pub(crate) struct Job {
    pub batch: Batch,
    pub done: oneshot::Sender<Result<(), IngestError>>,
}

/// The front of the ingest path: hands batches to the writer and waits for their commit.
#[derive(Clone)]
pub struct IngestService {
    queue: mpsc::Sender<Job>,
    depth: usize,
    /// Requests the writer has taken and not yet acknowledged.
    in_flight: Arc<AtomicUsize>,
}

impl IngestService {
    /// Submits a validated batch; returns once it is durably stored (or refused).
    pub async fn submit(&self, batch: Batch) -> Result<Accepted, IngestError> {
        let accepted = batch.accepted();
        if batch.is_empty() {
            return Ok(accepted);
        }
        let (done, wait) = oneshot::channel();
        self.queue
            .try_send(Job { batch, done })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::QueueFull { depth: self.depth },
                mpsc::error::TrySendError::Closed(_) => IngestError::ShuttingDown,
            })?;
        wait.await.map_err(|_| IngestError::ShuttingDown)??;
        Ok(accepted)
    }

    /// Requests waiting for the writer now.
    pub fn queued(&self) -> usize {
        self.depth - self.queue.capacity()
    }

    /// Requests the writer is committing now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}
