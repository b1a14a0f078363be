//! OpenTelemetry (OTLP) records, as the `otlp` crate decodes them, mapped into the native
//! [`Batch`], bounded by the same [`IngestConfig`] as `POST /api/v1/ingest`:
//!
//! - resource labels (`service`, `environment`, `host`, `release`, `namespace`, then others)
//!   become the labels of every item, like the native `context` (metric points add their
//!   attributes). Keys that are empty, too long or hold control characters are dropped, values
//!   are cut to `max_label_value_bytes`, and past `max_labels` the well-known keys are kept
//!   first, then the others in key order;
//! - spans become [`Span`]s (the span kind in the attribute `span.kind`), their `exception`
//!   events and log records carrying `exception.*` attributes become [`ErrorEvent`]s grouped by
//!   [`grouping`]; log records become [`LogRecord`]s;
//! - gauges and non-monotonic sums become gauge samples, monotonic cumulative sums counter
//!   samples as they are, and monotonic delta sums counter samples through a running total per
//!   series ([`DeltaToCumulative`], kept in memory by the process);
//! - histograms (explicit or exponential) become counters `<name>.count` and `<name>.sum`
//!   (cumulative, delta ones through the same running totals) and a gauge series `<name>` of
//!   representative samples, so `agg=p50…p99` answers approximate quantiles of the recorded
//!   values; summaries become a gauge per quantile (label `quantile`) and counters
//!   `<name>_sum`, `<name>_count`, as the `otlp` crate gives them.
//!
//! ## The histogram approximation
//!
//! Osprey stores samples, not buckets. For each interval a histogram covers (delta points as
//! sent, cumulative ones differenced with the previous point of their series by
//! [`CumulativeToDelta`], so the first cumulative point of a series only sets the baseline), it
//! stores `k = min(count, 32)` samples at the quantiles `(i + 0.5) / k`, `i = 0..k`, of the
//! interval's buckets ([`otlp::quantile`]: linear interpolation inside a bucket, the highest
//! bound for the open-above bucket), clamped to the point's min and max when sent. All share the
//! point's timestamp (the store keeps several samples of a series at one timestamp). A query's
//! quantile over those samples is then within the bucket holding the true quantile of one
//! interval; across intervals every interval weighs the same (up to 32 samples) whatever its
//! count, so busy and quiet intervals mixed in one step skew it towards the quiet ones. A point
//! with only count and sum gets no samples. A request of `max_items` histogram points stores at
//! most 34 rows per point.
//!
//! The running totals live in memory: a restart begins new totals (a counter reset, which
//! `rate` handles), and a delta point not newer than the last one of its series (a retried
//! export) is refused, so it is not counted twice. The state advances when a request is mapped,
//! before its commit: when the commit fails, the retried points are refused as duplicates, and
//! the next point's total still includes them.

use super::grouping;
use super::model::{
    Batch, ErrorEvent, Labels, LogRecord, MetricKind, MetricSample, SeriesKey, Span, StackFrame,
    SEVERITIES,
};
use crate::config::IngestConfig;
use otlp::{
    CumulativeToDelta, DecodeError, DeltaToCumulative, Encoding, HistogramPoint, MetricPoint,
    Signal,
};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// Representative samples stored per histogram interval at most.
pub const MAX_HISTOGRAM_SAMPLES: u64 = 32;

/// Labels kept first when an item has more than `max_labels` (`quantile` tells a summary's
/// series apart).
const WELL_KNOWN_LABELS: [&str; 6] = [
    "service",
    "environment",
    "host",
    "release",
    "namespace",
    "quantile",
];

/// Latest timestamp accepted, as the native decoder: 2200-01-01 in unix milliseconds.
const MAX_TS: i64 = 7_258_118_400_000;

/// What a request maps to: the batch to submit, and the items left out for partial success.
#[derive(Debug, Default)]
pub struct Mapped {
    pub batch: Batch,
    /// Items refused, by the decoder or here.
    pub rejected: u64,
    /// Why the first one was refused.
    pub message: Option<String>,
}

impl Mapped {
    fn reject(&mut self, reason: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.message.is_none() {
            self.message = Some(reason());
        }
    }

    fn with_decoded(rejected: u64, message: Option<String>) -> Mapped {
        Mapped {
            rejected,
            message,
            ..Mapped::default()
        }
    }
}

/// The per-series memory the metric mapping needs: running totals of delta counters and the
/// last cumulative histogram of each series, both bounded in series.
#[derive(Debug)]
pub struct TemporalState {
    counters: DeltaToCumulative,
    histograms: CumulativeToDelta,
}

impl TemporalState {
    /// State remembering at most `max_series` series of each kind.
    pub fn new(max_series: usize) -> Self {
        TemporalState {
            counters: DeltaToCumulative::new(max_series),
            histograms: CumulativeToDelta::new(max_series),
        }
    }
}

/// The decoder's bounds derived from the native ones, so both paths store the same sizes.
pub fn limits(cfg: &IngestConfig) -> otlp::Limits {
    otlp::Limits {
        max_items: cfg.max_items,
        max_attributes: cfg.max_labels,
        max_resource_labels: cfg.max_labels,
        max_string_len: cfg.max_message_bytes,
        max_label_len: cfg.max_label_key_bytes.max(cfg.max_label_value_bytes),
        ..otlp::Limits::default()
    }
}

/// Decodes an OTLP body (decompressed) and maps it; blocking work, bounded by `cfg`.
pub fn decode(
    signal: Signal,
    body: &[u8],
    enc: Encoding,
    cfg: &IngestConfig,
    state: &Mutex<TemporalState>,
) -> Result<Mapped, DecodeError> {
    let limits = limits(cfg);
    Ok(match signal {
        Signal::Traces => traces_batch(otlp::decode_traces(body, enc, &limits)?, cfg),
        Signal::Logs => logs_batch(otlp::decode_logs(body, enc, &limits)?, cfg),
        Signal::Metrics => {
            let metrics = otlp::decode_metrics(body, enc, &limits)?;
            // A poisoned lock only means another request panicked mid-update; the totals are
            // still usable.
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            metrics_batch(metrics, cfg, &mut state)
        }
    })
}

/// Spans and their exceptions.
pub fn traces_batch(traces: otlp::Traces, cfg: &IngestConfig) -> Mapped {
    let mut out = Mapped::with_decoded(traces.rejected, traces.message);
    for s in traces.spans {
        let name = clean_text(&s.name, cfg.max_name_bytes);
        if name.is_empty() {
            out.reject(|| format!("span {}: without a name", s.span_id));
            continue;
        }
        if let Err(e) = timestamp(s.start_ms) {
            out.reject(|| format!("span {name:?}: {e}"));
            continue;
        }
        let mut attributes = into_object(s.attributes);
        attributes.insert("span.kind".into(), s.kind.as_str().into());
        if let Some(message) = s.status_message {
            attributes.insert("otel.status_description".into(), message.into());
        }
        let labels = bound_labels(s.labels, cfg);
        out.batch.spans.push(Span {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            name,
            service: service(&labels),
            start: s.start_ms,
            duration_ms: s.duration_ms,
            status: s.status.as_str().to_owned(),
            attributes: bound_object(attributes, cfg, &["span.kind"]),
            labels,
        });
    }
    out.batch.errors = errors(traces.errors, cfg);
    out
}

/// Log records and the exceptions they carry.
pub fn logs_batch(logs: otlp::Logs, cfg: &IngestConfig) -> Mapped {
    let mut out = Mapped::with_decoded(logs.rejected, logs.message);
    for r in logs.records {
        if let Err(e) = timestamp(r.ts_ms) {
            out.reject(|| format!("log record: {e}"));
            continue;
        }
        let severity = r.severity.as_str();
        let severity_number = if (1..=24).contains(&r.severity_number) {
            r.severity_number
        } else {
            SEVERITIES
                .iter()
                .find(|(name, _)| *name == severity)
                .map_or(0, |(_, n)| *n)
        };
        let mut attributes = into_object(r.attributes);
        if let Some(event) = r.event_name {
            attributes.insert("event.name".into(), event.into());
        }
        let labels = bound_labels(r.labels, cfg);
        out.batch.logs.push(LogRecord {
            ts: r.ts_ms,
            severity: severity.to_owned(),
            severity_number,
            body: otlp_truncate(&r.body, cfg.max_message_bytes),
            service: service(&labels),
            trace_id: r.trace_id,
            span_id: r.span_id,
            attributes: bound_object(attributes, cfg, &["event.name"]),
            labels,
        });
    }
    out.batch.errors = errors(logs.errors, cfg);
    out
}

/// Gauge, counter and histogram points as samples (see the module doc).
pub fn metrics_batch(
    metrics: otlp::Metrics,
    cfg: &IngestConfig,
    state: &mut TemporalState,
) -> Mapped {
    let mut out = Mapped::with_decoded(metrics.rejected, metrics.message);
    for mut p in metrics.points {
        if let Err(e) = metric_name(&p.name, "", cfg).and_then(|()| timestamp(p.ts_ms)) {
            out.reject(|| e);
            continue;
        }
        // Bounded before the running total, so the total's series is the stored one.
        p.labels = bound_labels(p.labels, cfg);
        let Some(p) = state.counters.accumulate(&p) else {
            out.reject(|| stale_delta(&p.name, p.ts_ms));
            continue;
        };
        let kind = match p.kind {
            otlp::MetricKind::Gauge => MetricKind::Gauge,
            otlp::MetricKind::Counter => MetricKind::Counter,
        };
        out.batch
            .metrics
            .push(sample(p.name, p.labels, kind, p.ts_ms, p.value));
    }
    for mut h in metrics.histograms {
        if let Err(e) = metric_name(&h.name, ".count", cfg).and_then(|()| timestamp(h.ts_ms)) {
            out.reject(|| e);
            continue;
        }
        h.labels = bound_labels(h.labels, cfg);
        let total = |suffix: &str, value: f64| MetricPoint {
            name: format!("{}{suffix}", h.name),
            unit: h.unit.clone(),
            ts_ms: h.ts_ms,
            start_ms: h.start_ms,
            value,
            kind: otlp::MetricKind::Counter,
            temporality: Some(h.temporality),
            labels: h.labels.clone(),
        };
        // The count's running total also tells a retried delta point, refused whole.
        let Some(count) = state.counters.accumulate(&total(".count", h.count as f64)) else {
            out.reject(|| stale_delta(&h.name, h.ts_ms));
            continue;
        };
        out.batch.metrics.push(counter(count));
        // A negative delta sum (negative values recorded) cannot be a total: left out.
        if let Some(sum) = h
            .sum
            .and_then(|s| state.counters.accumulate(&total(".sum", s)))
        {
            out.batch.metrics.push(counter(sum));
        }
        if let Some(delta) = state.histograms.delta(&h) {
            let series = Arc::new(SeriesKey {
                name: h.name.clone(),
                labels: h.labels.clone(),
            });
            for value in representative_values(&delta) {
                out.batch.metrics.push(MetricSample {
                    series: series.clone(),
                    kind: MetricKind::Gauge,
                    ts: h.ts_ms,
                    value,
                });
            }
        }
    }
    out
}

/// The samples standing for one histogram interval: `min(count, 32)` values at the quantiles
/// `(i + 0.5) / k`, clamped to the point's min and max when sent.
pub fn representative_values(point: &HistogramPoint) -> Vec<f64> {
    let k = point.count.min(MAX_HISTOGRAM_SAMPLES);
    if k == 0 || point.bounds.is_empty() {
        return Vec::new();
    }
    (0..k)
        .map(|i| {
            let q = (i as f64 + 0.5) / k as f64;
            let v = otlp::quantile(&point.bounds, &point.bucket_counts, q);
            let v = point.min.map_or(v, |min| v.max(min));
            point.max.map_or(v, |max| v.min(max))
        })
        .filter(|v| v.is_finite())
        .collect()
}

fn stale_delta(name: &str, ts: i64) -> String {
    format!(
        "metric {name:?}: delta point at {ts} not newer than the last one of its series, or negative"
    )
}

fn sample(name: String, labels: Labels, kind: MetricKind, ts: i64, value: f64) -> MetricSample {
    MetricSample {
        series: Arc::new(SeriesKey { name, labels }),
        kind,
        ts,
        value,
    }
}

fn counter(p: MetricPoint) -> MetricSample {
    sample(p.name, p.labels, MetricKind::Counter, p.ts_ms, p.value)
}

/// Exceptions as error events; ones that cannot be stored are dropped with no count, since the
/// span or log record carrying them was the item.
fn errors(records: Vec<otlp::ErrorRecord>, cfg: &IngestConfig) -> Vec<ErrorEvent> {
    records
        .into_iter()
        .filter(|e| timestamp(e.ts_ms).is_ok())
        .map(|e| {
            let frames = stack_frames(&e, cfg);
            let kind = match clean_text(&e.error_type, cfg.max_name_bytes) {
                k if k.is_empty() => "Error".to_owned(),
                k => k,
            };
            let message = otlp_truncate(&e.message, cfg.max_message_bytes);
            ErrorEvent {
                ts: e.ts_ms,
                fingerprint: grouping::fingerprint(&kind, &message, &frames),
                culprit: grouping::culprit(&frames),
                kind,
                message,
                stacktrace: frames,
                tags: Labels::new(),
                labels: bound_labels(e.labels, cfg),
                trace_id: e.trace_id,
                span_id: e.span_id,
            }
        })
        .collect()
}

/// Frames innermost first, as grouping expects: Python prints the innermost frame last.
fn stack_frames(e: &otlp::ErrorRecord, cfg: &IngestConfig) -> Vec<StackFrame> {
    let text = |s: &str| (!s.is_empty()).then(|| otlp_truncate(s, cfg.max_message_bytes));
    let mut frames: Vec<StackFrame> = e
        .stacktrace
        .iter()
        .map(|f| StackFrame {
            function: text(&f.function),
            file: text(&f.file),
            line: f.line,
            column: f.column,
            in_app: None,
        })
        .collect();
    let python = e
        .raw_stacktrace
        .as_deref()
        .is_some_and(|raw| raw.lines().any(|l| l.trim_start().starts_with("File \"")));
    if python {
        frames.reverse();
    }
    frames
}

/// Labels within the native bounds: invalid keys dropped, values cut, the well-known keys kept
/// first when there are too many.
fn bound_labels(labels: Labels, cfg: &IngestConfig) -> Labels {
    let valid = |k: &str| {
        !k.is_empty() && k.len() <= cfg.max_label_key_bytes && !k.chars().any(char::is_control)
    };
    let mut rest = labels;
    let known: Vec<(String, String)> = WELL_KNOWN_LABELS
        .iter()
        .filter_map(|k| rest.remove_entry(*k))
        .collect();
    let mut out = Labels::new();
    for (k, v) in known.into_iter().chain(rest) {
        if out.len() >= cfg.max_labels {
            break;
        }
        if valid(&k) {
            out.insert(k, otlp_truncate(&v, cfg.max_label_value_bytes));
        }
    }
    out
}

fn service(labels: &Labels) -> String {
    labels
        .get("service")
        .cloned()
        .unwrap_or_else(|| otlp::UNKNOWN_SERVICE.to_owned())
}

fn into_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// An attributes object within the native bounds (`max_labels` keys, `4 × max_message_bytes`
/// of JSON): the `keep` keys first, then the others in order while they fit.
fn bound_object(mut map: Map<String, Value>, cfg: &IngestConfig, keep: &[&str]) -> Value {
    let max_bytes = cfg.max_message_bytes * 4;
    let size =
        |k: &str, v: &Value| k.len() + 4 + serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    let total: usize = map.iter().map(|(k, v)| size(k, v)).sum::<usize>() + 2;
    if map.len() <= cfg.max_labels && total <= max_bytes {
        return Value::Object(map);
    }
    let first: Vec<(String, Value)> = keep.iter().filter_map(|k| map.remove_entry(*k)).collect();
    let mut out = Map::new();
    let mut used = 2;
    for (k, v) in first.into_iter().chain(map) {
        let n = size(&k, &v);
        if out.len() < cfg.max_labels && used + n <= max_bytes {
            used += n;
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// A metric name the native decoder would accept, with room for `suffix`.
fn metric_name(name: &str, suffix: &str, cfg: &IngestConfig) -> Result<(), String> {
    if name.chars().any(char::is_control) {
        return Err(format!("metric {name:?}: name has control characters"));
    }
    if name.len() + suffix.len() > cfg.max_name_bytes {
        return Err(format!(
            "metric {:?}: name longer than {} bytes",
            otlp_truncate(name, 64),
            cfg.max_name_bytes - suffix.len().min(cfg.max_name_bytes)
        ));
    }
    Ok(())
}

fn timestamp(ts: i64) -> Result<(), String> {
    if (0..=MAX_TS).contains(&ts) {
        Ok(())
    } else {
        Err(format!("timestamp {ts} ms is not between 1970 and 2200"))
    }
}

/// `s` cut to `max` bytes with control characters replaced by spaces (names are one line).
fn clean_text(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    otlp_truncate(cleaned.trim(), max)
}

/// `s` cut to at most `max` bytes on a character boundary.
fn otlp_truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use otlp::{ErrorRecord, Severity, SpanKind, SpanRecord, SpanStatus, Temporality};
    use serde_json::json;

    fn cfg() -> IngestConfig {
        IngestConfig::default()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn histogram(ts_ms: i64, counts: &[u64], temporality: Temporality) -> HistogramPoint {
        HistogramPoint {
            name: "http.duration".into(),
            unit: "ms".into(),
            ts_ms,
            start_ms: Some(1_000),
            count: counts.iter().sum(),
            sum: Some(counts.iter().sum::<u64>() as f64 * 10.0),
            min: None,
            max: None,
            bounds: vec![10.0, 50.0, 100.0, 500.0],
            bucket_counts: counts.to_vec(),
            temporality,
            labels: labels(&[("service", "api")]),
        }
    }

    fn counter_point(ts_ms: i64, value: f64, temporality: Temporality) -> MetricPoint {
        MetricPoint {
            name: "jobs".into(),
            unit: String::new(),
            ts_ms,
            start_ms: None,
            value,
            kind: otlp::MetricKind::Counter,
            temporality: Some(temporality),
            labels: labels(&[("service", "worker")]),
        }
    }

    fn values_of(batch: &Batch, name: &str) -> Vec<(i64, f64, MetricKind)> {
        batch
            .metrics
            .iter()
            .filter(|m| m.series.name == name)
            .map(|m| (m.ts, m.value, m.kind))
            .collect()
    }

    /// The engine's quantile over stored samples (linear between closest ranks).
    fn sample_quantile(mut values: Vec<f64>, q: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        let pos = q * (values.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
    }

    #[test]
    fn representative_samples_follow_the_bucket_quantiles() {
        // 10 ≤10, 60 in (10,50], 20 in (50,100], 10 in (100,500]: p95 is in (100, 500].
        let p = histogram(5_000, &[10, 60, 20, 10, 0], Temporality::Delta);
        let values = representative_values(&p);
        assert_eq!(values.len(), 32);
        let in_bucket = |lo: f64, hi: f64| values.iter().filter(|v| **v > lo && **v <= hi).count();
        // Each bucket holds its share of the 32 samples (10% → 3, 60% → 19 or 20...).
        assert_eq!(in_bucket(0.0, 10.0), 3);
        assert!((19..=20).contains(&in_bucket(10.0, 50.0)));
        assert!((6..=7).contains(&in_bucket(50.0, 100.0)));
        assert_eq!(in_bucket(100.0, 500.0), 3);
        let p95 = sample_quantile(values.clone(), 0.95);
        assert!(p95 > 100.0 && p95 <= 500.0, "p95 {p95}");
        let p50 = sample_quantile(values, 0.5);
        assert!(p50 > 10.0 && p50 <= 50.0, "p50 {p50}");
    }

    #[test]
    fn few_observations_give_one_sample_each_and_clamp_to_min_max() {
        let mut p = histogram(5_000, &[0, 0, 3, 0, 0], Temporality::Delta);
        p.min = Some(60.0);
        p.max = Some(70.0);
        let values = representative_values(&p);
        assert_eq!(values.len(), 3);
        assert!(
            values.iter().all(|v| (60.0..=70.0).contains(v)),
            "{values:?}"
        );
        p.count = 0;
        assert!(representative_values(&p).is_empty());
        let mut only_sum = histogram(5_000, &[], Temporality::Delta);
        only_sum.count = 4;
        only_sum.bounds.clear();
        assert!(representative_values(&only_sum).is_empty());
    }

    #[test]
    fn delta_counters_become_running_totals_and_retries_are_refused() {
        let mut state = TemporalState::new(100);
        let metrics = otlp::Metrics {
            points: vec![
                counter_point(1_000, 5.0, Temporality::Delta),
                counter_point(2_000, 3.0, Temporality::Delta),
                counter_point(2_000, 3.0, Temporality::Delta), // a retry
            ],
            ..Default::default()
        };
        let out = metrics_batch(metrics, &cfg(), &mut state);
        assert_eq!(
            values_of(&out.batch, "jobs"),
            vec![
                (1_000, 5.0, MetricKind::Counter),
                (2_000, 8.0, MetricKind::Counter)
            ]
        );
        assert_eq!(out.rejected, 1);
        assert!(out.message.unwrap().contains("not newer"));
        // The total carries over to the next request.
        let next = otlp::Metrics {
            points: vec![counter_point(3_000, 2.0, Temporality::Delta)],
            ..Default::default()
        };
        let out = metrics_batch(next, &cfg(), &mut state);
        assert_eq!(
            values_of(&out.batch, "jobs"),
            vec![(3_000, 10.0, MetricKind::Counter)]
        );
        // Cumulative counters are stored as sent.
        let cumulative = otlp::Metrics {
            points: vec![counter_point(4_000, 7.0, Temporality::Cumulative)],
            rejected: 2,
            message: Some("decoder said no".into()),
            ..Default::default()
        };
        let out = metrics_batch(cumulative, &cfg(), &mut state);
        assert_eq!(
            values_of(&out.batch, "jobs"),
            vec![(4_000, 7.0, MetricKind::Counter)]
        );
        assert_eq!(
            (out.rejected, out.message.as_deref()),
            (2, Some("decoder said no"))
        );
    }

    #[test]
    fn histograms_give_count_sum_and_samples() {
        let mut state = TemporalState::new(100);
        let delta = otlp::Metrics {
            histograms: vec![
                histogram(10_000, &[1, 1, 0, 0, 0], Temporality::Delta),
                histogram(20_000, &[0, 2, 1, 0, 0], Temporality::Delta),
            ],
            ..Default::default()
        };
        let out = metrics_batch(delta, &cfg(), &mut state);
        assert_eq!(
            values_of(&out.batch, "http.duration.count"),
            vec![
                (10_000, 2.0, MetricKind::Counter),
                (20_000, 5.0, MetricKind::Counter)
            ]
        );
        assert_eq!(
            values_of(&out.batch, "http.duration.sum"),
            vec![
                (10_000, 20.0, MetricKind::Counter),
                (20_000, 50.0, MetricKind::Counter)
            ]
        );
        let samples = values_of(&out.batch, "http.duration");
        assert_eq!(samples.len(), 5);
        assert!(samples
            .iter()
            .all(|(_, _, kind)| *kind == MetricKind::Gauge));
        assert_eq!(samples.iter().filter(|s| s.0 == 20_000).count(), 3);

        // Cumulative: the first point sets the baseline, the next gives the interval's samples.
        let cumulative = otlp::Metrics {
            histograms: vec![
                HistogramPoint {
                    name: "db.duration".into(),
                    ..histogram(10_000, &[5, 0, 0, 0, 0], Temporality::Cumulative)
                },
                HistogramPoint {
                    name: "db.duration".into(),
                    ..histogram(20_000, &[5, 0, 0, 4, 0], Temporality::Cumulative)
                },
            ],
            ..Default::default()
        };
        let out = metrics_batch(cumulative, &cfg(), &mut state);
        assert_eq!(
            values_of(&out.batch, "db.duration.count"),
            vec![
                (10_000, 5.0, MetricKind::Counter),
                (20_000, 9.0, MetricKind::Counter)
            ]
        );
        let samples = values_of(&out.batch, "db.duration");
        assert_eq!(samples.len(), 4, "{samples:?}");
        assert!(samples
            .iter()
            .all(|(ts, v, _)| *ts == 20_000 && *v > 100.0 && *v <= 500.0));
    }

    #[test]
    fn labels_are_bounded_deterministically() {
        let mut c = cfg();
        c.max_labels = 3;
        c.max_label_key_bytes = 8;
        c.max_label_value_bytes = 4;
        let l = labels(&[
            ("a", "1"),
            ("b", "2"),
            ("much-too-long-key", "x"),
            ("host", "web-1"),
            ("service", "checkout"),
            ("", "empty key"),
        ]);
        let bounded = bound_labels(l, &c);
        assert_eq!(
            bounded,
            labels(&[("service", "chec"), ("host", "web-"), ("a", "1")])
        );
    }

    fn span(kind: SpanKind, status: SpanStatus) -> SpanRecord {
        SpanRecord {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            span_id: "b7ad6b7169203331".into(),
            parent_span_id: None,
            name: "GET /cart".into(),
            service: "shop".into(),
            kind,
            start_ms: 1_764_250_000_000,
            start_unix_nano: 1_764_250_000_000_000_000,
            duration_ms: 12.5,
            status,
            status_message: Some("boom".into()),
            attributes: json!({"http.route": "/cart"}),
            labels: labels(&[("service", "shop"), ("environment", "prod")]),
        }
    }

    const PYTHON_TRACE: &str = "Traceback (most recent call last):\n  \
        File \"/srv/app/handlers.py\", line 10, in checkout\n    cart.pay()\n  \
        File \"/srv/app/cart.py\", line 42, in pay\n    raise ValueError(\"no card\")\n\
        ValueError: no card\n";

    fn exception(raw: &str) -> ErrorRecord {
        ErrorRecord {
            ts_ms: 1_764_250_000_005,
            error_type: "ValueError".into(),
            message: "no card".into(),
            stacktrace: otlp::parse_stacktrace(raw),
            raw_stacktrace: Some(raw.into()),
            service: "shop".into(),
            trace_id: Some("0af7651916cd43dd8448eb211c80319c".into()),
            span_id: Some("b7ad6b7169203331".into()),
            labels: labels(&[("service", "shop")]),
        }
    }

    #[test]
    fn spans_keep_kind_and_status_and_exceptions_become_errors() {
        let traces = otlp::Traces {
            spans: vec![
                span(SpanKind::Server, SpanStatus::Error),
                SpanRecord {
                    name: String::new(),
                    ..span(SpanKind::Client, SpanStatus::Ok)
                },
            ],
            errors: vec![exception(PYTHON_TRACE)],
            rejected: 0,
            message: None,
        };
        let out = traces_batch(traces, &cfg());
        assert_eq!(out.rejected, 1, "the nameless span");
        let s = &out.batch.spans[0];
        assert_eq!((s.status.as_str(), s.service.as_str()), ("error", "shop"));
        assert_eq!(s.attributes["span.kind"], "server");
        assert_eq!(s.attributes["http.route"], "/cart");
        assert_eq!(s.attributes["otel.status_description"], "boom");
        assert_eq!(
            s.labels.get("environment").map(String::as_str),
            Some("prod")
        );

        let e = &out.batch.errors[0];
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("ValueError", "no card")
        );
        assert_eq!(
            e.trace_id.as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(e.span_id.as_deref(), Some("b7ad6b7169203331"));
        // Innermost first: the frame that raised.
        assert_eq!(e.stacktrace[0].function.as_deref(), Some("pay"));
        assert_eq!(e.stacktrace[1].function.as_deref(), Some("checkout"));
        assert_eq!(e.culprit, "pay (/srv/app/cart.py)");
        assert_eq!(
            e.fingerprint,
            grouping::fingerprint("ValueError", "no card", &e.stacktrace)
        );
    }

    #[test]
    fn javascript_frames_keep_their_order() {
        let raw = "TypeError: x is undefined\n    at addToCart (cart.js:10:5)\n    at onClick (ui.js:3:1)";
        let mut e = exception(raw);
        e.error_type = String::new();
        let out = traces_batch(
            otlp::Traces {
                errors: vec![e],
                ..Default::default()
            },
            &cfg(),
        );
        let e = &out.batch.errors[0];
        assert_eq!(e.kind, "Error");
        assert_eq!(e.stacktrace[0].function.as_deref(), Some("addToCart"));
        assert_eq!(e.culprit, "addToCart (cart.js)");
    }

    fn log(severity: Severity, number: i32) -> otlp::LogRecord {
        otlp::LogRecord {
            ts_ms: 1_764_250_000_000,
            severity,
            severity_number: number,
            severity_text: String::new(),
            body: "payment declined".into(),
            event_name: Some("payment.declined".into()),
            service: "shop".into(),
            attributes: json!({"card": "visa"}),
            trace_id: None,
            span_id: None,
            labels: labels(&[("service", "shop")]),
        }
    }

    #[test]
    fn log_severity_names_and_numbers() {
        let logs = otlp::Logs {
            records: vec![
                log(Severity::Warn, 14),
                log(Severity::Error, 0), // from the text only
                log(Severity::Info, 0),
                otlp::LogRecord {
                    ts_ms: -315_619_200_000, // 1960
                    ..log(Severity::Info, 9)
                },
            ],
            errors: vec![exception(PYTHON_TRACE)],
            rejected: 1,
            message: Some("log record: invalid trace id".into()),
        };
        let out = logs_batch(logs, &cfg());
        let got: Vec<(&str, i32)> = out
            .batch
            .logs
            .iter()
            .map(|l| (l.severity.as_str(), l.severity_number))
            .collect();
        assert_eq!(got, vec![("warn", 14), ("error", 17), ("info", 9)]);
        assert_eq!(out.rejected, 2, "the decoder's one and the 1960 record");
        let l = &out.batch.logs[0];
        assert_eq!(l.attributes["event.name"], "payment.declined");
        assert_eq!(l.attributes["card"], "visa");
        assert_eq!(
            (l.service.as_str(), l.body.as_str()),
            ("shop", "payment declined")
        );
        assert_eq!(out.batch.errors.len(), 1);
    }

    #[test]
    fn attributes_are_bounded_keeping_span_kind() {
        let mut c = cfg();
        c.max_labels = 2;
        let mut map = Map::new();
        for k in ["a", "b", "c"] {
            map.insert(k.into(), json!(1));
        }
        map.insert("span.kind".into(), json!("server"));
        let bounded = bound_object(map, &c, &["span.kind"]);
        assert_eq!(bounded, json!({"span.kind": "server", "a": 1}));
    }

    #[test]
    fn bad_metric_names_and_times_are_rejected_alone() {
        let mut state = TemporalState::new(10);
        let long = "m".repeat(251);
        let metrics = otlp::Metrics {
            points: vec![
                MetricPoint {
                    name: "m".repeat(257),
                    ..counter_point(1_000, 1.0, Temporality::Cumulative)
                },
                MetricPoint {
                    name: "bad\nname".into(),
                    ..counter_point(1_000, 1.0, Temporality::Cumulative)
                },
                // 251 bytes is a fine name for a counter...
                MetricPoint {
                    name: long.clone(),
                    ..counter_point(1_000, 1.0, Temporality::Cumulative)
                },
                MetricPoint {
                    ts_ms: MAX_TS + 1,
                    ..counter_point(1_000, 1.0, Temporality::Cumulative)
                },
                counter_point(1_000, 1.0, Temporality::Cumulative),
            ],
            // ...but not for a histogram: 251 + ".count" is more than 256 bytes.
            histograms: vec![HistogramPoint {
                name: long.clone(),
                ..histogram(1_000, &[1, 0, 0, 0, 0], Temporality::Delta)
            }],
            ..Default::default()
        };
        let out = metrics_batch(metrics, &cfg(), &mut state);
        assert_eq!(out.rejected, 4, "{:?}", out.message);
        let names: Vec<&str> = out
            .batch
            .metrics
            .iter()
            .map(|m| m.series.name.as_str())
            .collect();
        assert_eq!(names, vec![long.as_str(), "jobs"]);
    }
}
