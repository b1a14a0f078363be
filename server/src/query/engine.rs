//! The aggregation engine: turns samples (or rollup rows) of many series into one series of
//! points per group. Pure code, shared by the query API, live streams and the dashboard.

use super::params::Agg;
use crate::ingest::model::Labels;
use crate::store::RollupRow;
use std::collections::BTreeMap;

/// Time buckets of a query: `[start + i·step, start + (i+1)·step)` for `i < len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start: i64,
    pub step: i64,
    pub len: usize,
}

impl Buckets {
    /// Buckets aligned to multiples of `step`, covering `[from, to]`.
    pub fn covering(from: i64, to: i64, step: i64) -> Buckets {
        let start = from.div_euclid(step) * step;
        let len = ((to - start).div_euclid(step) + 1).max(0) as usize;
        Buckets { start, step, len }
    }
    pub fn index(&self, ts: i64) -> Option<usize> {
        if ts < self.start {
            return None;
        }
        let i = ((ts - self.start) / self.step) as usize;
        (i < self.len).then_some(i)
    }
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// One series of a group: its samples, oldest first.
pub struct SeriesSamples<'a> {
    pub samples: &'a [(i64, f64)],
}

/// Running aggregate of one bucket.
#[derive(Debug, Clone)]
pub struct BucketAcc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    values: Vec<f64>,
    /// Sum of the per-second rates of the bucket's series.
    rate: f64,
    has_rate: bool,
}

impl Default for BucketAcc {
    fn default() -> Self {
        BucketAcc {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            values: Vec::new(),
            rate: 0.0,
            has_rate: false,
        }
    }
}

impl BucketAcc {
    /// Adds one sample; `keep` retains it for quantiles.
    pub fn add(&mut self, v: f64, keep: bool) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if keep {
            self.values.push(v);
        }
    }

    /// Adds one series' per-second rate (for `rate`).
    pub fn add_rate(&mut self, per_second: f64) {
        self.rate += per_second;
        self.has_rate = true;
    }

    fn add_rollup(&mut self, r: &RollupRow) {
        self.add_partial(r.count, r.sum, r.min, r.max);
    }

    /// Folds in a partial aggregate (count, sum, min, max) computed elsewhere.
    pub fn add_partial(&mut self, count: i64, sum: f64, min: f64, max: f64) {
        self.count += count.max(0) as u64;
        self.sum += sum;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }

    /// The bucket's value under `agg`, or `None` when it has no data for it.
    pub fn value(&mut self, agg: Agg) -> Option<f64> {
        match agg {
            Agg::Rate => self.has_rate.then_some(self.rate),
            _ if self.count == 0 => None,
            Agg::Avg => Some(self.sum / self.count as f64),
            Agg::Sum => Some(self.sum),
            Agg::Min => Some(self.min),
            Agg::Max => Some(self.max),
            Agg::Count => Some(self.count as f64),
            Agg::Quantile(q) => quantile(&mut self.values, q as f64 / 1000.0),
        }
    }
}

/// Nearest-rank quantile with linear interpolation between the two closest ranks.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(values[lo] + (values[hi] - values[lo]) * (pos - lo as f64))
}

/// The increase of a counter between two consecutive samples; a drop is a reset to zero.
pub fn counter_increase(prev: f64, cur: f64) -> f64 {
    if cur >= prev {
        cur - prev
    } else {
        cur
    }
}

/// The increase of one series within one bucket, and the time it took: pairs of consecutive
/// samples are credited to the bucket of the later one, so a bucket's rate is measured over
/// the time its samples actually cover (right for partial buckets and sparse samples alike).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Increase {
    pub amount: f64,
    pub span_ms: i64,
}

impl Increase {
    pub fn add(&mut self, prev: (i64, f64), cur: (i64, f64)) {
        self.amount += counter_increase(prev.1, cur.1);
        self.span_ms += cur.0 - prev.0;
    }
    pub fn per_second(&self) -> Option<f64> {
        (self.span_ms > 0).then(|| self.amount / (self.span_ms as f64 / 1000.0))
    }
}

/// Adds each series' rate per bucket into `accs`, from `(time, value)` pairs in time order.
fn add_rates(accs: &mut [BucketAcc], buckets: Buckets, points: impl Iterator<Item = (i64, f64)>) {
    let mut prev: Option<(i64, f64)> = None;
    let mut open: Option<(usize, Increase)> = None;
    for cur in points {
        if let (Some(i), Some(p)) = (buckets.index(cur.0), prev) {
            match &mut open {
                Some((j, inc)) if *j == i => inc.add(p, cur),
                _ => {
                    if let Some((j, inc)) = open.take() {
                        if let Some(r) = inc.per_second() {
                            accs[j].add_rate(r);
                        }
                    }
                    let mut inc = Increase::default();
                    inc.add(p, cur);
                    open = Some((i, inc));
                }
            }
        }
        prev = Some(cur);
    }
    if let Some((j, inc)) = open {
        if let Some(r) = inc.per_second() {
            accs[j].add_rate(r);
        }
    }
}

/// Aggregates raw samples of one group's series into points.
pub fn aggregate_samples(
    series: &[SeriesSamples<'_>],
    buckets: Buckets,
    agg: Agg,
) -> Vec<(i64, f64)> {
    let mut accs = vec![BucketAcc::default(); buckets.len];
    let keep = matches!(agg, Agg::Quantile(_));
    for s in series {
        if agg == Agg::Rate {
            add_rates(&mut accs, buckets, s.samples.iter().copied());
            continue;
        }
        for &(ts, v) in s.samples {
            if let Some(i) = buckets.index(ts) {
                accs[i].add(v, keep);
            }
        }
    }
    finish(accs, buckets, agg)
}

/// Aggregates rollup rows (each series' rows ordered by bucket) into points.
/// Quantiles cannot be answered from rollups; the planner reads raw samples for them.
pub fn aggregate_rollups(series: &[&[RollupRow]], buckets: Buckets, agg: Agg) -> Vec<(i64, f64)> {
    let mut accs = vec![BucketAcc::default(); buckets.len];
    for rows in series {
        if agg == Agg::Rate {
            // Each row's last value stands for the counter at its bucket's end.
            add_rates(&mut accs, buckets, rows.iter().map(|r| (r.last_ts, r.last)));
            continue;
        }
        for r in *rows {
            if let Some(i) = buckets.index(r.bucket) {
                accs[i].add_rollup(r);
            }
        }
    }
    finish(accs, buckets, agg)
}

/// The points of a row of bucket aggregates; empty buckets give no point.
pub fn finish(mut accs: Vec<BucketAcc>, buckets: Buckets, agg: Agg) -> Vec<(i64, f64)> {
    accs.iter_mut()
        .enumerate()
        .filter_map(|(i, acc)| acc.value(agg).map(|v| (buckets.time(i), v)))
        .collect()
}

/// Splits series into groups by the values of `group_by` labels; series lacking a label group
/// under an empty value for it.
pub fn group<'a, T>(
    series: impl IntoIterator<Item = (&'a Labels, T)>,
    group_by: &[String],
) -> BTreeMap<Labels, Vec<T>> {
    let mut groups: BTreeMap<Labels, Vec<T>> = BTreeMap::new();
    for (labels, item) in series {
        groups
            .entry(group_key(labels, group_by))
            .or_default()
            .push(item);
    }
    groups
}

/// The labels of the group a series with `labels` falls in (see [`group`]).
pub fn group_key(labels: &Labels, group_by: &[String]) -> Labels {
    group_by
        .iter()
        .map(|k| (k.clone(), labels.get(k).cloned().unwrap_or_default()))
        .collect()
}

/// True when `labels` has every `(key, value)` of `filter`.
pub fn matches(labels: &Labels, filter: &[(String, String)]) -> bool {
    filter.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(from: i64, to: i64, step: i64) -> Buckets {
        Buckets::covering(from, to, step)
    }

    #[test]
    fn buckets_align_to_step() {
        let bk = b(1_500, 10_000, 1_000);
        assert_eq!(bk.start, 1_000);
        assert_eq!(bk.len, 10);
        assert_eq!(bk.index(1_999), Some(0));
        assert_eq!(bk.index(10_000), Some(9));
        assert_eq!(bk.index(11_000), None);
        assert_eq!(bk.index(999), None);
    }

    #[test]
    fn aggregates_across_time_and_series() {
        let a = [(0, 1.0), (500, 3.0), (1_000, 10.0)];
        let c = [(100, 5.0)];
        let series = [SeriesSamples { samples: &a }, SeriesSamples { samples: &c }];
        let bk = b(0, 1_999, 1_000);
        assert_eq!(
            aggregate_samples(&series, bk, Agg::Avg),
            vec![(0, 3.0), (1_000, 10.0)]
        );
        assert_eq!(
            aggregate_samples(&series, bk, Agg::Sum),
            vec![(0, 9.0), (1_000, 10.0)]
        );
        assert_eq!(
            aggregate_samples(&series, bk, Agg::Count),
            vec![(0, 3.0), (1_000, 1.0)]
        );
        assert_eq!(
            aggregate_samples(&series, bk, Agg::Min),
            vec![(0, 1.0), (1_000, 10.0)]
        );
        assert_eq!(
            aggregate_samples(&series, bk, Agg::Max),
            vec![(0, 5.0), (1_000, 10.0)]
        );
        assert_eq!(
            aggregate_samples(&series, bk, Agg::Quantile(500)),
            vec![(0, 3.0), (1_000, 10.0)]
        );
    }

    #[test]
    fn quantiles_interpolate() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50.5));
        assert!((quantile(&mut v, 0.95).unwrap() - 95.05).abs() < 1e-9);
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn rate_is_per_second_and_survives_counter_resets() {
        // 10 per second, then a restart resets the counter to 5.
        let a = [(0, 0.0), (1_000, 10.0), (2_000, 20.0), (3_000, 5.0)];
        let bk = b(0, 3_999, 2_000);
        assert_eq!(
            aggregate_samples(&[SeriesSamples { samples: &a }], bk, Agg::Rate),
            vec![(0, 10.0), (2_000, 7.5)]
        );
    }

    #[test]
    fn rate_is_measured_over_the_time_samples_cover() {
        // One sample a minute, read in 10 s buckets: 60 per minute is 1 per second, not 6.
        let a = [(0, 0.0), (60_000, 60.0), (120_000, 120.0)];
        let bk = b(0, 120_000, 10_000);
        let one = [SeriesSamples { samples: &a }];
        assert_eq!(
            aggregate_samples(&one, bk, Agg::Rate),
            vec![(60_000, 1.0), (120_000, 1.0)]
        );
        // Rates of a group's series add up.
        let c = [(0, 0.0), (60_000, 120.0)];
        let both = [SeriesSamples { samples: &a }, SeriesSamples { samples: &c }];
        assert_eq!(aggregate_samples(&both, bk, Agg::Rate)[0], (60_000, 3.0));
    }

    #[test]
    fn rollups_combine_like_samples() {
        let row = |bucket, count, sum, min, max, last| RollupRow {
            series_id: 1,
            bucket,
            count,
            sum,
            min,
            max,
            last,
            last_ts: bucket,
        };
        let rows = [
            row(0, 2, 4.0, 1.0, 3.0, 100.0),
            row(60_000, 2, 10.0, 4.0, 6.0, 160.0),
            row(120_000, 1, 7.0, 7.0, 7.0, 220.0),
        ];
        let bk = b(0, 179_999, 120_000);
        assert_eq!(
            aggregate_rollups(&[&rows], bk, Agg::Avg),
            vec![(0, 3.5), (120_000, 7.0)]
        );
        assert_eq!(
            aggregate_rollups(&[&rows], bk, Agg::Count),
            vec![(0, 4.0), (120_000, 1.0)]
        );
        assert_eq!(
            aggregate_rollups(&[&rows], bk, Agg::Rate),
            vec![(0, 1.0), (120_000, 1.0)]
        );
    }

    #[test]
    fn groups_and_filters() {
        let l = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let x = l(&[("service", "api"), ("host", "a")]);
        let y = l(&[("service", "api"), ("host", "b")]);
        let z = l(&[("service", "web")]);
        let groups = group([(&x, 1), (&y, 2), (&z, 3)], &["service".to_string()]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[&l(&[("service", "api")])], vec![1, 2]);
        assert!(matches(&x, &[("host".into(), "a".into())]));
        assert!(!matches(&z, &[("host".into(), "a".into())]));
    }
}
