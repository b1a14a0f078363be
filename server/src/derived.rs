//! Series derived from spans: per service, one point a minute of its request rate, error ratio
//! and p95 latency, computed from its entry spans (see `Store::entry_spans`) and stored as
//! ordinary gauge samples labelled `service`. Being ordinary series, they are charted, alerted
//! on, forecast and watched by the anomaly detectors like any metric an application sends, so
//! "the error rate of checkout tripled" is found without anyone instrumenting it twice.
//!
//! A minute is derived once it has settled ([`SETTLE_MS`] after it ends, so spans exported a
//! little late are counted). After a restart derivation resumes after the newest derived point
//! stored, at most [`BACKFILL_MS`] back, so no minute is written twice.

use crate::ingest::model::{Batch, Labels, MetricKind, MetricSample, SeriesKey};
use crate::signals::{stats_of, MAX_STAT_SPANS};
use crate::store::{EntrySpan, Store, StoreResult};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Requests per second of a service (a gauge, one point a minute).
pub const REQUEST_RATE: &str = "osprey.service.request_rate";
/// Failed requests as a share of requests, 0 to 1; no point in a minute without requests.
pub const ERROR_RATIO: &str = "osprey.service.error_ratio";
/// The 95th percentile of request duration in milliseconds (nearest rank).
pub const LATENCY_P95: &str = "osprey.service.latency_p95_ms";

const MINUTE_MS: i64 = 60_000;
/// How long after a minute ends its spans are counted.
pub const SETTLE_MS: i64 = 60_000;
/// How far back derivation starts when nothing was derived before (or long ago).
pub const BACKFILL_MS: i64 = 6 * 3_600_000;
/// A service that served nothing for this long gets no more zero-rate points.
pub const IDLE_MS: i64 = 3_600_000;
/// Services derived at most; spans of further services are left out (and logged).
pub const MAX_SERVICES: usize = 500;
/// Minutes read with one query.
const CHUNK_MINUTES: i64 = 60;

/// Where derivation stands: the next minute to derive and the services seen lately.
#[derive(Debug, Clone, PartialEq)]
pub struct Deriver {
    /// Start of the next minute to derive.
    next: i64,
    /// Service → start of the last minute it served a request.
    services: BTreeMap<String, i64>,
}

/// The samples of a run of settled minutes, and where derivation stands once they are stored.
pub struct Chunk {
    pub samples: Vec<MetricSample>,
    pub then: Deriver,
}

/// The start of the minute holding `ts`.
fn minute_of(ts: i64) -> i64 {
    ts.div_euclid(MINUTE_MS) * MINUTE_MS
}

impl Deriver {
    /// Resumes after the newest request-rate point stored, or starts [`BACKFILL_MS`] before
    /// `now`, whichever is later; services that served requests within [`IDLE_MS`] of that
    /// point are remembered, so their idle minutes get zero-rate points.
    pub async fn resume(store: &dyn Store, now: i64) -> StoreResult<Deriver> {
        let floor = minute_of(now - BACKFILL_MS);
        let series = store.series(REQUEST_RATE).await?;
        let service_of: HashMap<i64, &str> = series
            .iter()
            .filter_map(|s| Some((s.id, s.labels.get("service")?.as_str())))
            .collect();
        let mut deriver = Deriver {
            next: floor,
            services: BTreeMap::new(),
        };
        if !service_of.is_empty() {
            let ids: Vec<i64> = service_of.keys().copied().collect();
            for s in store.samples(&ids, floor - IDLE_MS, now + 1).await? {
                deriver.next = deriver.next.max(minute_of(s.ts) + MINUTE_MS);
                if s.value > 0.0 {
                    let last = deriver
                        .services
                        .entry(service_of[&s.series_id].to_string())
                        .or_insert(s.ts);
                    *last = (*last).max(s.ts);
                }
            }
        }
        let next = deriver.next;
        deriver.services.retain(|_, last| *last >= next - IDLE_MS);
        Ok(deriver)
    }

    /// Start of the next minute to derive.
    pub fn next_minute(&self) -> i64 {
        self.next
    }

    /// The samples of the settled minutes after the last derived one (at most an hour of them),
    /// or `None` when no minute has settled since. Nothing changes until [`Deriver::advance`]
    /// is given the chunk's `then`, after its samples are stored.
    pub async fn next_chunk(&self, store: &dyn Store, now: i64) -> StoreResult<Option<Chunk>> {
        let settled = minute_of(now - SETTLE_MS);
        let from = self.next;
        if from >= settled {
            return Ok(None);
        }
        let to = settled.min(from + CHUNK_MINUTES * MINUTE_MS);
        let mut by_minute: BTreeMap<i64, Vec<EntrySpan>> = BTreeMap::new();
        let spans = store.entry_spans(from, to, None, MAX_STAT_SPANS).await?;
        if spans.len() < MAX_STAT_SPANS as usize {
            for span in spans {
                by_minute
                    .entry(minute_of(span.start))
                    .or_default()
                    .push(span);
            }
        } else {
            // Too busy to read an hour at once: a minute at a time, each bounded the same way
            // (beyond it a minute's rate is a floor and its ratios are of the newest requests).
            for minute in (from..to).step_by(MINUTE_MS as usize) {
                let spans = store
                    .entry_spans(minute, minute + MINUTE_MS, None, MAX_STAT_SPANS)
                    .await?;
                by_minute.insert(minute, spans);
            }
        }
        let mut then = self.clone();
        let mut samples = Vec::new();
        for minute in (from..to).step_by(MINUTE_MS as usize) {
            let spans = by_minute.remove(&minute).unwrap_or_default();
            derive_minute(&mut then, minute, spans, &mut samples);
        }
        then.next = to;
        Ok(Some(Chunk { samples, then }))
    }

    /// Moves on past a chunk whose samples are stored.
    pub fn advance(&mut self, then: Deriver) {
        *self = then;
    }
}

/// One minute's points: rate, error ratio and p95 of each service that served requests, and a
/// zero rate for each service idle for less than [`IDLE_MS`].
fn derive_minute(
    state: &mut Deriver,
    minute: i64,
    spans: Vec<EntrySpan>,
    out: &mut Vec<MetricSample>,
) {
    let mut left_out = 0usize;
    for stats in stats_of(spans) {
        if !state.services.contains_key(&stats.service) && state.services.len() >= MAX_SERVICES {
            left_out += 1;
            continue;
        }
        let rate = stats.requests as f64 / (MINUTE_MS / 1000) as f64;
        out.push(sample(REQUEST_RATE, &stats.service, minute, rate));
        out.push(sample(
            ERROR_RATIO,
            &stats.service,
            minute,
            stats.error_rate,
        ));
        out.push(sample(LATENCY_P95, &stats.service, minute, stats.p95_ms));
        state.services.insert(stats.service, minute);
    }
    if left_out > 0 {
        tracing::warn!(
            services = left_out,
            limit = MAX_SERVICES,
            "too many services: some get no derived series"
        );
    }
    state.services.retain(|_, last| *last >= minute - IDLE_MS);
    for (service, _) in state.services.iter().filter(|(_, last)| **last < minute) {
        out.push(sample(REQUEST_RATE, service, minute, 0.0));
    }
}

fn sample(metric: &str, service: &str, ts: i64, value: f64) -> MetricSample {
    let labels: Labels = [("service".to_string(), service.to_string())].into();
    MetricSample {
        series: Arc::new(SeriesKey {
            name: metric.to_string(),
            labels,
        }),
        kind: MetricKind::Gauge,
        ts,
        value,
    }
}

/// How a person names a derived series ("error ratio of checkout"), if `key` is one.
pub fn describe(key: &SeriesKey) -> Option<String> {
    let what = match key.name.as_str() {
        REQUEST_RATE => "requests per second",
        ERROR_RATIO => "error ratio",
        LATENCY_P95 => "p95 latency (ms)",
        _ => return None,
    };
    Some(format!("{what} of {}", key.labels.get("service")?))
}

/// A batch holding a chunk's samples.
pub fn batch(samples: Vec<MetricSample>) -> Batch {
    Batch {
        metrics: samples,
        ..Batch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(service: &str, start: i64, duration_ms: f64, failed: bool) -> EntrySpan {
        EntrySpan {
            service: service.into(),
            start,
            duration_ms,
            failed,
        }
    }

    fn values(out: &[MetricSample]) -> Vec<(String, String, i64, f64)> {
        out.iter()
            .map(|s| {
                (
                    s.series.name.clone(),
                    s.series.labels["service"].clone(),
                    s.ts,
                    s.value,
                )
            })
            .collect()
    }

    #[test]
    fn a_minute_gives_rate_ratio_and_p95_and_idle_services_a_zero_rate() {
        let mut state = Deriver {
            next: 0,
            services: [("search".to_string(), -MINUTE_MS)].into(),
        };
        let spans: Vec<EntrySpan> = (0..20)
            .map(|i| span("checkout", 1_000 * i, f64::from(i as u32 + 1), i % 5 == 0))
            .collect();
        let mut out = Vec::new();
        derive_minute(&mut state, 0, spans, &mut out);
        assert_eq!(
            values(&out),
            vec![
                (REQUEST_RATE.into(), "checkout".into(), 0, 20.0 / 60.0),
                (ERROR_RATIO.into(), "checkout".into(), 0, 0.2),
                (LATENCY_P95.into(), "checkout".into(), 0, 19.0),
                (REQUEST_RATE.into(), "search".into(), 0, 0.0),
            ]
        );
        assert_eq!(state.services["checkout"], 0);
    }

    #[test]
    fn a_service_idle_for_an_hour_is_forgotten() {
        let mut state = Deriver {
            next: 0,
            services: [("search".to_string(), 0)].into(),
        };
        let mut out = Vec::new();
        derive_minute(&mut state, IDLE_MS, Vec::new(), &mut out);
        assert_eq!(out.len(), 1, "idle for exactly an hour still counts");
        out.clear();
        derive_minute(&mut state, IDLE_MS + MINUTE_MS, Vec::new(), &mut out);
        assert!(out.is_empty());
        assert!(state.services.is_empty());
    }

    #[test]
    fn derived_series_are_named_for_people() {
        let key = SeriesKey {
            name: ERROR_RATIO.into(),
            labels: [("service".to_string(), "checkout".to_string())].into(),
        };
        assert_eq!(describe(&key).as_deref(), Some("error ratio of checkout"));
        let other = SeriesKey {
            name: "cpu".into(),
            labels: Labels::new(),
        };
        assert_eq!(describe(&other), None);
    }
}
