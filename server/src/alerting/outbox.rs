//! The delivery worker: takes due notifications from the outbox and sends them, at least once.
//!
//! A row leaves the queue only when the receiver acknowledged it (2xx, or SMTP 250). Failures
//! that may pass (timeouts, 5xx, 429) are retried with exponential backoff and jitter, honouring
//! `Retry-After`; permanent ones (other 4xx, bad addresses) and rows out of attempts go to the
//! dead-letter state, shown in the dashboard with a retry button. Receivers dedupe on the
//! `Idempotency-Key`, which a retry repeats, so a crash between "sent" and "marked delivered"
//! costs a duplicate the receiver can recognise, never a lost message.

use super::incidents::IncidentBook;
use super::{now_ms, stopped, Alerting, AlertingResult, OUTBOX_IDLE};
use crate::store::{AlertChanges, Attempt, Delivery};
use crate::telemetry::Histogram;
use app::model::DeliveryView;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Rows taken from the outbox per pass.
const BATCH: u32 = 50;

/// Times notifications from the state change that caused them to their delivery: the
/// dispatch latency, exported as `osprey_alert_dispatch_seconds`. In memory only: a delivery
/// queued before a restart is delivered untimed.
#[derive(Default)]
pub struct DispatchClock {
    /// Idempotency key → when the evaluation saw the state change.
    pending: std::sync::Mutex<HashMap<String, Instant>>,
    pub histogram: Histogram,
    /// The latest latencies, newest last, for benchmarks.
    recent: std::sync::Mutex<VecDeque<Duration>>,
}

/// Bounds of [`DispatchClock`]'s memory.
const CLOCK_PENDING: usize = 10_000;
const CLOCK_RECENT: usize = 1_000;

impl DispatchClock {
    pub(crate) fn decided(&self, keys: Vec<(String, Instant)>) {
        let mut pending = self.pending.lock().expect("dispatch clock");
        for (key, at) in keys {
            if pending.len() < CLOCK_PENDING {
                pending.insert(key, at);
            }
        }
    }

    fn delivered(&self, key: &str) {
        let at = self.pending.lock().expect("dispatch clock").remove(key);
        if let Some(at) = at {
            let latency = at.elapsed();
            self.histogram.observe(latency);
            let mut recent = self.recent.lock().expect("dispatch clock");
            if recent.len() == CLOCK_RECENT {
                recent.pop_front();
            }
            recent.push_back(latency);
        }
    }

    fn dead(&self, key: &str) {
        self.pending.lock().expect("dispatch clock").remove(key);
    }

    /// The latest dispatch latencies, oldest first.
    pub fn recent(&self) -> Vec<Duration> {
        self.recent
            .lock()
            .expect("dispatch clock")
            .iter()
            .copied()
            .collect()
    }
}

/// Sliding one-minute send counts per channel.
pub struct RateLimiter {
    per_minute: usize,
    sent: HashMap<String, VecDeque<i64>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute: per_minute.max(1) as usize,
            sent: HashMap::new(),
        }
    }

    /// Takes a send slot for `channel` at `now`, or says when the next one frees up.
    pub fn take(&mut self, channel: &str, now: i64) -> Result<(), i64> {
        let sent = self.sent.entry(channel.to_string()).or_default();
        while sent.front().is_some_and(|t| *t <= now - 60_000) {
            sent.pop_front();
        }
        if sent.len() >= self.per_minute {
            return Err(sent.front().copied().unwrap_or(now) + 60_000);
        }
        sent.push_back(now);
        Ok(())
    }
}

fn delivery_view(d: Delivery) -> DeliveryView {
    DeliveryView {
        title: d.message["title"].as_str().unwrap_or_default().to_string(),
        id: d.id,
        channel_id: d.channel_id,
        incident_id: d.incident_id,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_error: d.last_error,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
    }
}

impl Alerting {
    /// Sends every delivery due at `now` once; returns how many were attempted.
    pub async fn deliver_due(&self, now: i64) -> AlertingResult<usize> {
        let due = self.store.due_deliveries(now, BATCH).await?;
        let mut attempted = 0;
        for delivery in due {
            let slot = self
                .limiter
                .lock()
                .expect("rate limiter lock")
                .take(&delivery.channel_id, now);
            if slot.is_err() {
                // Over the channel's rate: it stays due and goes on a later pass.
                continue;
            }
            attempted += 1;
            let outcome = self.attempt(&delivery).await;
            let mut book = IncidentBook::default();
            let attempt = match outcome {
                Ok(name) => {
                    self.dispatch_clock.delivered(&delivery.idempotency_key);
                    if let Some(incident) = &delivery.incident_id {
                        book.note(
                            incident,
                            now_ms(),
                            "delivered",
                            format!("Delivered to {name}"),
                            None,
                        );
                    }
                    Attempt::Delivered
                }
                Err(failure) => {
                    let attempts = delivery.attempts as u32 + 1;
                    let give_up = !failure.retryable || attempts >= self.config.max_attempts;
                    tracing::warn!(
                        delivery = delivery.id,
                        channel = %delivery.channel_id,
                        attempts,
                        error = %failure.message,
                        give_up,
                        "notification delivery failed"
                    );
                    if give_up {
                        self.dispatch_clock.dead(&delivery.idempotency_key);
                        if let Some(incident) = &delivery.incident_id {
                            book.note(
                                incident,
                                now_ms(),
                                "delivery_failed",
                                format!(
                                    "Delivery to {} failed after {attempts} attempts: {}",
                                    delivery.channel_id, failure.message
                                ),
                                None,
                            );
                        }
                        Attempt::Dead {
                            error: failure.message,
                        }
                    } else {
                        let jitter: f64 = rand::random();
                        let wait = failure
                            .next_delay(attempts, jitter)
                            .unwrap_or_else(|| notify::backoff(attempts, jitter));
                        Attempt::Retry {
                            next_attempt_at: now_ms() + wait.as_millis() as i64,
                            error: failure.message,
                        }
                    }
                }
            };
            self.store
                .finish_attempt(delivery.id, &attempt, now_ms())
                .await?;
            let mut changes = AlertChanges::default();
            book.into_changes(&mut changes);
            self.store.apply(&changes).await?;
            self.attempts.send_modify(|n| *n += 1);
        }
        Ok(attempted)
    }

    /// One attempt; the channel's name on success.
    async fn attempt(&self, delivery: &Delivery) -> Result<String, notify::DeliveryError> {
        let permanent = |message: String| notify::DeliveryError {
            retryable: false,
            retry_after: None,
            message,
        };
        let (name, config) = match self.channel_config(&delivery.channel_id).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(permanent("the channel was deleted".into())),
            Err(e) => {
                return Err(notify::DeliveryError {
                    retryable: true,
                    retry_after: None,
                    message: e.to_string(),
                })
            }
        };
        let message: notify::Message = serde_json::from_value(delivery.message.clone())
            .map_err(|e| permanent(format!("unreadable message: {e}")))?;
        self.sender.send(&config, &message).await?;
        Ok(name)
    }

    /// Deliveries of one status (or all), newest first.
    pub async fn deliveries(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> AlertingResult<Vec<DeliveryView>> {
        Ok(self
            .store
            .deliveries(status, limit.min(1_000))
            .await?
            .into_iter()
            .map(delivery_view)
            .collect())
    }

    /// Puts a dead-lettered delivery back in the queue.
    pub async fn retry_delivery(&self, id: i64) -> AlertingResult<()> {
        if !self.store.retry_delivery(id, now_ms()).await? {
            return Err(super::AlertingError::NotFound(format!(
                "dead delivery {id}"
            )));
        }
        self.queued.notify_one();
        Ok(())
    }
}

/// Delivers until `stop`, waking when deliveries are queued or every second for retries.
pub(crate) async fn deliver_forever(alerting: Arc<Alerting>, mut stop: watch::Receiver<bool>) {
    loop {
        let busy = match alerting.deliver_due(now_ms()).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "outbox pass failed");
                false
            }
        };
        if busy {
            // More may be due right away; yield to other work first.
            tokio::task::yield_now().await;
            if *stop.borrow() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = alerting.queued.notified() => {}
            _ = tokio::time::sleep(OUTBOX_IDLE) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_slides_per_channel() {
        let mut l = RateLimiter::new(2);
        assert_eq!(l.take("a", 0), Ok(()));
        assert_eq!(l.take("a", 10), Ok(()));
        assert_eq!(l.take("a", 20), Err(60_000));
        assert_eq!(l.take("b", 20), Ok(()), "channels are limited separately");
        assert_eq!(
            l.take("a", 60_000),
            Ok(()),
            "the first send left the window"
        );
        assert_eq!(l.take("a", 60_001), Err(60_010));
    }
}
