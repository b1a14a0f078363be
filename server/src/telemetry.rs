//! Osprey's own metrics, exposed at `/metrics` in the Prometheus text format.

use crate::ingest::model::Accepted;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets in seconds, from 1 ms to 10 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A cumulative latency histogram.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; 12],
    count: AtomicU64,
    /// Sum in microseconds, so it can be an integer atomic.
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, slot) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                slot.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, slot) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                slot.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Counters and histograms of one Osprey process.
#[derive(Default)]
pub struct Telemetry {
    items: [AtomicU64; 6],
    bytes: AtomicU64,
    requests: AtomicU64,
    commits: AtomicU64,
    /// Rejected requests by error code; codes are a fixed, small set.
    rejects: Mutex<BTreeMap<&'static str, u64>>,
    pub commit_latency: Histogram,
    pub query_latency: Histogram,
    pub live_subscribers: AtomicI64,
    pub live_lagged: AtomicU64,
}

const KINDS: [&str; 6] = ["events", "metrics", "errors", "spans", "security", "logs"];

/// Gauges read at scrape time from the parts that own them.
pub struct Gauges {
    pub queue_depth: usize,
    pub hot_series: usize,
}

impl Telemetry {
    pub fn record_request(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn record_reject(&self, code: &'static str) {
        *self
            .rejects
            .lock()
            .expect("telemetry lock")
            .entry(code)
            .or_default() += 1;
    }

    pub fn record_commit(&self, took: Duration, a: &Accepted) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_latency.observe(took);
        for (slot, n) in self
            .items
            .iter()
            .zip([a.events, a.metrics, a.errors, a.spans, a.security, a.logs])
        {
            slot.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Items committed so far, by kind (in `KINDS` order).
    pub fn committed(&self, kind: &str) -> u64 {
        KINDS
            .iter()
            .position(|k| *k == kind)
            .map(|i| self.items[i].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP osprey_ingest_items_total Items committed, by kind.\n# TYPE osprey_ingest_items_total counter\n");
        for (kind, slot) in KINDS.iter().zip(&self.items) {
            let _ = writeln!(
                out,
                "osprey_ingest_items_total{{kind=\"{kind}\"}} {}",
                slot.load(Ordering::Relaxed)
            );
        }
        let counters = [
            (
                "osprey_ingest_bytes_total",
                "Request body bytes received by ingest endpoints, as sent.",
                &self.bytes,
            ),
            (
                "osprey_ingest_requests_total",
                "Ingest requests received.",
                &self.requests,
            ),
            (
                "osprey_ingest_commits_total",
                "Transactions committed by the batch writer.",
                &self.commits,
            ),
            (
                "osprey_live_lagged_total",
                "Times a live stream fell behind the writer.",
                &self.live_lagged,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP osprey_ingest_rejects_total Ingest requests refused, by error code.\n# TYPE osprey_ingest_rejects_total counter\n");
        for (code, n) in self.rejects.lock().expect("telemetry lock").iter() {
            let _ = writeln!(out, "osprey_ingest_rejects_total{{code=\"{code}\"}} {n}");
        }
        let gauges = [
            (
                "osprey_ingest_queue_depth",
                "Requests waiting for the batch writer.",
                gauges.queue_depth as i64,
            ),
            (
                "osprey_hot_series",
                "Series held in the in-memory hot window.",
                gauges.hot_series as i64,
            ),
            (
                "osprey_live_subscribers",
                "Open live streams.",
                self.live_subscribers.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        self.commit_latency.render(
            &mut out,
            "osprey_commit_duration_seconds",
            "Time to commit one group of ingest requests.",
        );
        self.query_latency.render(
            &mut out,
            "osprey_query_duration_seconds",
            "Time to answer one range query.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let t = Telemetry::default();
        t.record_commit(
            Duration::from_millis(3),
            &Accepted {
                metrics: 5,
                ..Default::default()
            },
        );
        t.record_reject("payload_too_large");
        let text = t.render(&Gauges {
            queue_depth: 1,
            hot_series: 2,
        });
        assert!(
            text.contains("osprey_ingest_items_total{kind=\"metrics\"} 5"),
            "{text}"
        );
        assert!(text.contains("osprey_ingest_rejects_total{code=\"payload_too_large\"} 1"));
        assert!(text.contains("osprey_commit_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("osprey_commit_duration_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("osprey_ingest_queue_depth 1"));
    }
}
