//! Histogram arithmetic the server needs on stored points, and the stateful conversions between
//! cumulative and delta series:
//!
//! - [`exponential_to_explicit`]: OTLP exponential buckets (scale, offset, zero bucket,
//!   negative buckets) to explicit upper bounds, so every histogram is stored one way;
//! - [`quantile`]: Prometheus `histogram_quantile` semantics (linear interpolation inside the
//!   bucket holding the rank);
//! - [`histogram_delta`] / [`CumulativeToDelta`]: per-interval counts from cumulative
//!   histograms, with reset detection;
//! - [`DeltaToCumulative`]: running totals from delta counters.
//!
//! The two stateful converters keep at most `max_series` series and forget the least recently
//! used one first, so a client sending ever-new label values cannot grow them without bound.

use std::collections::{BTreeMap, HashMap};

use crate::metrics::{HistogramPoint, MetricKind, MetricPoint, Temporality};
use crate::proto::metrics::v1::ExponentialHistogramDataPoint;
use crate::Labels;

/// Scales the OTLP spec allows for exponential histograms.
const SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// Lower boundary of exponential bucket `index` at `scale`: `2^(index · 2^-scale)`.
fn exponential_boundary(scale: i32, index: i64) -> f64 {
    if scale <= 0 {
        // An integral power of two: exact.
        let exponent = index.saturating_mul(1i64 << (-scale));
        exp2_int(exponent)
    } else {
        (index as f64 / f64::from(1u32 << scale)).exp2()
    }
}

fn exp2_int(exponent: i64) -> f64 {
    match i32::try_from(exponent) {
        Ok(e) => 2f64.powi(e),
        Err(_) if exponent > 0 => f64::INFINITY,
        Err(_) => 0.0,
    }
}

/// Converts an exponential histogram point to explicit upper bounds and per-bucket counts
/// (`counts.len() == bounds.len() + 1`), in ascending value order:
///
/// 1. when there are negative buckets, an empty bucket up to the most negative boundary,
///    then each negative bucket `i` (covering `[-base^(i+1), -base^i)`) with bound `-base^i`;
/// 2. the zero bucket with bound `zero_threshold` and count `zero_count`;
/// 3. each positive bucket `i` (covering `(base^i, base^(i+1)]`) with bound `base^(i+1)`;
/// 4. an empty overflow bucket, so the last real bucket keeps its upper bound.
///
/// Counts are exact; a bucket's lower edge becomes the previous bound. Fails for a scale
/// outside -10..=20, more than `max_buckets` buckets per side, or bounds that overflow.
pub fn exponential_to_explicit(
    point: &ExponentialHistogramDataPoint,
    max_buckets: usize,
) -> Result<(Vec<f64>, Vec<u64>), String> {
    let scale = point.scale;
    if !SCALES.contains(&scale) {
        return Err(format!(
            "exponential histogram scale {scale} outside -10..=20"
        ));
    }
    let empty = Vec::new();
    let (pos_offset, positive) = point
        .positive
        .as_ref()
        .map_or((0, &empty), |b| (i64::from(b.offset), &b.bucket_counts));
    let (neg_offset, negative) = point
        .negative
        .as_ref()
        .map_or((0, &empty), |b| (i64::from(b.offset), &b.bucket_counts));
    if positive.len() > max_buckets || negative.len() > max_buckets {
        return Err(format!(
            "exponential histogram with {} positive and {} negative buckets (at most {max_buckets} each)",
            positive.len(),
            negative.len()
        ));
    }
    let zero_threshold = point.zero_threshold;
    if !(zero_threshold.is_finite() && zero_threshold >= 0.0) {
        return Err(format!("invalid zero threshold {zero_threshold}"));
    }

    let mut bounds = Vec::with_capacity(positive.len() + negative.len() + 2);
    let mut counts = Vec::with_capacity(positive.len() + negative.len() + 3);
    if !negative.is_empty() {
        bounds.push(-exponential_boundary(
            scale,
            neg_offset + negative.len() as i64,
        ));
        counts.push(0);
        for (j, count) in negative.iter().enumerate().rev() {
            bounds.push(-exponential_boundary(scale, neg_offset + j as i64));
            counts.push(*count);
        }
    }
    bounds.push(zero_threshold);
    counts.push(point.zero_count);
    for (j, count) in positive.iter().enumerate() {
        bounds.push(exponential_boundary(scale, pos_offset + j as i64 + 1));
        counts.push(*count);
    }
    counts.push(0);

    if bounds.iter().any(|b| !b.is_finite()) {
        return Err("exponential histogram bounds overflow".to_owned());
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "exponential histogram buckets overlap the zero bucket (threshold {zero_threshold})"
        ));
    }
    Ok((bounds, counts))
}

/// The `q` quantile (0..=1) of a histogram with upper `bounds` and per-bucket `counts`
/// (`bounds.len() + 1` of them, the last open above; a missing last bucket counts as empty),
/// with Prometheus `histogram_quantile` semantics:
///
/// - interpolates linearly inside the bucket where the rank `q · total` falls;
/// - the first bucket's lower edge is 0 when its bound is positive (else its bound is returned);
/// - a rank in the open-above bucket returns the highest bound;
/// - `q < 0` gives -∞, `q > 1` gives +∞; no observations or mismatched lengths give NaN.
pub fn quantile(bounds: &[f64], counts: &[u64], q: f64) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if bounds.is_empty() || !(counts.len() == bounds.len() || counts.len() == bounds.len() + 1) {
        return f64::NAN;
    }
    let total: f64 = counts.iter().map(|c| *c as f64).sum();
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let mut below = 0.0;
    for (b, count) in counts.iter().enumerate() {
        let count = *count as f64;
        // Skipping empty buckets only matters for rank 0: answer the first occupied bucket.
        if count > 0.0 && below + count >= rank {
            let Some(&end) = bounds.get(b) else {
                // The open-above bucket.
                return bounds[bounds.len() - 1];
            };
            let start = if b == 0 {
                if end <= 0.0 {
                    return end;
                }
                0.0
            } else {
                bounds[b - 1]
            };
            return start + (end - start) * ((rank - below) / count);
        }
        below += count;
    }
    // Only reachable through float rounding of the rank: the top of the data.
    bounds[bounds.len() - 1]
}

/// Per-interval counts between two cumulative points of one series: `cur - prev`, or `cur`
/// itself when the series was reset (its count, sum or a bucket went down, or its start time
/// changed). `None` when the bucket layout changed, so the two cannot be compared.
pub fn histogram_delta(prev: &HistogramPoint, cur: &HistogramPoint) -> Option<HistogramPoint> {
    if prev.bounds != cur.bounds || prev.bucket_counts.len() != cur.bucket_counts.len() {
        return None;
    }
    let reset = cur.count < prev.count
        || cur.start_ms != prev.start_ms && cur.start_ms.is_some()
        || cur
            .bucket_counts
            .iter()
            .zip(&prev.bucket_counts)
            .any(|(c, p)| c < p);
    let mut delta = cur.clone();
    delta.temporality = Temporality::Delta;
    if reset {
        return Some(delta);
    }
    delta.start_ms = Some(prev.ts_ms);
    delta.count = cur.count - prev.count;
    delta.sum = match (cur.sum, prev.sum) {
        (Some(c), Some(p)) => Some(c - p),
        _ => None,
    };
    // Min and max cover the whole cumulative interval, not this step.
    delta.min = None;
    delta.max = None;
    delta.bucket_counts = cur
        .bucket_counts
        .iter()
        .zip(&prev.bucket_counts)
        .map(|(c, p)| c - p)
        .collect();
    Some(delta)
}

/// Identity of a series: metric name and labels.
pub type SeriesKey = (String, Labels);

/// A map of series state that keeps at most `max` entries, forgetting the least recently
/// used first.
#[derive(Debug)]
struct SeriesCache<V> {
    max: usize,
    tick: u64,
    entries: HashMap<SeriesKey, (V, u64)>,
    by_use: BTreeMap<u64, SeriesKey>,
}

impl<V> SeriesCache<V> {
    fn new(max: usize) -> Self {
        SeriesCache {
            max: max.max(1),
            tick: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    /// The entry for `key`, marked as just used.
    fn get_mut(&mut self, key: &SeriesKey) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        let (value, used) = self.entries.get_mut(key)?;
        self.by_use.remove(used);
        *used = tick;
        self.by_use.insert(tick, key.clone());
        Some(value)
    }

    fn insert(&mut self, key: SeriesKey, value: V) {
        self.tick += 1;
        if let Some((_, used)) = self.entries.get(&key) {
            self.by_use.remove(used);
        } else if self.entries.len() >= self.max {
            if let Some((_, oldest)) = self.by_use.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        self.by_use.insert(self.tick, key.clone());
        self.entries.insert(key, (value, self.tick));
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[derive(Debug)]
struct RunningTotal {
    total: f64,
    start_ms: Option<i64>,
    last_ms: i64,
}

/// Turns delta counter points into cumulative ones by keeping a running total per series.
#[derive(Debug)]
pub struct DeltaToCumulative {
    series: SeriesCache<RunningTotal>,
}

impl DeltaToCumulative {
    /// A converter remembering at most `max_series` series.
    pub fn new(max_series: usize) -> Self {
        DeltaToCumulative {
            series: SeriesCache::new(max_series),
        }
    }

    /// Series currently remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series is remembered.
    pub fn is_empty(&self) -> bool {
        self.series.len() == 0
    }

    /// A delta counter point as a cumulative one (running total since the series was first
    /// seen, or last forgotten); other points are returned unchanged. `None` for a point not
    /// newer than the last one of its series (a retried batch must not count twice) or with a
    /// negative delta (not monotonic).
    pub fn accumulate(&mut self, point: &MetricPoint) -> Option<MetricPoint> {
        if point.kind != MetricKind::Counter || point.temporality != Some(Temporality::Delta) {
            return Some(point.clone());
        }
        if point.value < 0.0 {
            return None;
        }
        let key = (point.name.clone(), point.labels.clone());
        let (total, start_ms) = match self.series.get_mut(&key) {
            Some(state) => {
                if point.ts_ms <= state.last_ms {
                    return None;
                }
                state.total += point.value;
                state.last_ms = point.ts_ms;
                (state.total, state.start_ms)
            }
            None => {
                let start_ms = point.start_ms.or(Some(point.ts_ms));
                let state = RunningTotal {
                    total: point.value,
                    start_ms,
                    last_ms: point.ts_ms,
                };
                self.series.insert(key, state);
                (point.value, start_ms)
            }
        };
        let mut cumulative = point.clone();
        cumulative.value = total;
        cumulative.start_ms = start_ms;
        cumulative.temporality = Some(Temporality::Cumulative);
        Some(cumulative)
    }
}

/// Turns cumulative histogram points into per-interval (delta) ones by remembering the last
/// point of each series.
#[derive(Debug)]
pub struct CumulativeToDelta {
    series: SeriesCache<HistogramPoint>,
}

impl CumulativeToDelta {
    /// A converter remembering at most `max_series` series.
    pub fn new(max_series: usize) -> Self {
        CumulativeToDelta {
            series: SeriesCache::new(max_series),
        }
    }

    /// Series currently remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series is remembered.
    pub fn is_empty(&self) -> bool {
        self.series.len() == 0
    }

    /// The counts since the previous point of this series ([`histogram_delta`]). Delta points
    /// are returned unchanged. `None` for the first point of a series, after a change of bucket
    /// layout (both only set the baseline), or for a point not newer than the last one.
    pub fn delta(&mut self, point: &HistogramPoint) -> Option<HistogramPoint> {
        if point.temporality == Temporality::Delta {
            return Some(point.clone());
        }
        let key = (point.name.clone(), point.labels.clone());
        match self.series.get_mut(&key) {
            Some(prev) => {
                if point.ts_ms <= prev.ts_ms {
                    return None;
                }
                let delta = histogram_delta(prev, point);
                *prev = point.clone();
                delta
            }
            None => {
                self.series.insert(key, point.clone());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_cache_forgets_least_recently_used() {
        let key = |n: &str| (n.to_owned(), Labels::new());
        let mut cache = SeriesCache::new(2);
        cache.insert(key("a"), 1);
        cache.insert(key("b"), 2);
        assert_eq!(cache.get_mut(&key("a")).copied(), Some(1)); // a is now the newest
        cache.insert(key("c"), 3);
        assert_eq!(cache.len(), 2);
        assert!(cache.get_mut(&key("b")).is_none());
        assert_eq!(cache.get_mut(&key("a")).copied(), Some(1));
        assert_eq!(cache.get_mut(&key("c")).copied(), Some(3));
        assert_eq!(cache.by_use.len(), 2);
    }

    #[test]
    fn boundaries() {
        assert_eq!(exponential_boundary(0, 3), 8.0);
        assert_eq!(exponential_boundary(-1, 2), 16.0);
        assert_eq!(exponential_boundary(1, 2), 2.0);
        assert!((exponential_boundary(1, 1) - std::f64::consts::SQRT_2).abs() < 1e-12);
        assert_eq!(exponential_boundary(0, -2), 0.25);
        assert_eq!(
            exponential_boundary(-10, i64::from(i32::MAX)),
            f64::INFINITY
        );
    }
}
