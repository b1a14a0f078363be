//! OTLP metrics to [`MetricPoint`]s and [`HistogramPoint`]s:
//!
//! | OTLP | becomes |
//! | --- | --- |
//! | gauge | gauge point |
//! | monotonic sum | counter point, temporality kept |
//! | non-monotonic sum | gauge point (an up-down counter's current value) |
//! | histogram | histogram point |
//! | exponential histogram | histogram point with explicit bounds computed from scale/offset |
//! | summary | a gauge per quantile (label `quantile`), plus `<name>_sum` and `<name>_count` counters |
//!
//! Labels are the resource labels plus the point's scalar attributes (resource labels win on a
//! clash). A point with no timestamp, a non-finite value or an inconsistent histogram is
//! rejected on its own; a point flagged "no recorded value" is skipped without counting.

use serde::Serialize;

use crate::histogram::exponential_to_explicit;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::common::v1::KeyValue;
use crate::proto::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, DataPointFlags, HistogramDataPoint,
    Metric, NumberDataPoint, SummaryDataPoint,
};
use crate::value::{add_attribute_labels, resource_info, truncate, ResourceInfo};
use crate::{nanos_to_ms, DecodeError, Labels, Limits, Rejections};

/// Quantiles kept per summary point (real summaries have a handful).
const MAX_QUANTILES: usize = 32;

/// Whether a point is a level or a running total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// A level that goes up and down.
    Gauge,
    /// A monotonic total.
    Counter,
}

/// What a counter or histogram value covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Everything since `start_ms` (a fixed start).
    Cumulative,
    /// Only what happened since the previous report.
    Delta,
}

/// One value of a gauge or counter series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPoint {
    /// Metric name (for summaries, `<name>_sum` / `<name>_count` for those parts).
    pub name: String,
    /// Unit as sent (UCUM, e.g. `ms`), possibly empty.
    pub unit: String,
    /// Time of the value, unix milliseconds.
    pub ts_ms: i64,
    /// Start of the interval a counter covers, when sent.
    pub start_ms: Option<i64>,
    /// The value (always finite).
    pub value: f64,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// For counters: cumulative or delta; `None` for gauges.
    pub temporality: Option<Temporality>,
    /// Resource labels plus point attributes.
    pub labels: Labels,
}

/// One histogram value with explicit bucket bounds.
///
/// `bucket_counts[i]` counts values in `(bounds[i-1], bounds[i]]`; the first bucket is open
/// below and the last (`bucket_counts.len() == bounds.len() + 1`) open above. Both are empty
/// when only count and sum were sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramPoint {
    /// Metric name.
    pub name: String,
    /// Unit as sent, possibly empty.
    pub unit: String,
    /// Time of the value, unix milliseconds.
    pub ts_ms: i64,
    /// Start of the interval the value covers, when sent.
    pub start_ms: Option<i64>,
    /// Number of recorded values.
    pub count: u64,
    /// Sum of recorded values, when sent.
    pub sum: Option<f64>,
    /// Smallest recorded value, when sent.
    pub min: Option<f64>,
    /// Largest recorded value, when sent.
    pub max: Option<f64>,
    /// Upper bounds, strictly increasing and finite.
    pub bounds: Vec<f64>,
    /// Counts per bucket, one more than `bounds`.
    pub bucket_counts: Vec<u64>,
    /// Cumulative or delta.
    pub temporality: Temporality,
    /// Resource labels plus point attributes.
    pub labels: Labels,
}

/// Result of decoding an `ExportMetricsServiceRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Gauge and counter points.
    pub points: Vec<MetricPoint>,
    /// Histogram points (explicit and exponential).
    pub histograms: Vec<HistogramPoint>,
    /// Data points rejected as invalid (for `partial_success.rejected_data_points`).
    pub rejected: u64,
    /// Why the first one was rejected.
    pub message: Option<String>,
}

/// Shared fields of a point being mapped.
struct Series<'a> {
    name: &'a str,
    unit: &'a str,
    resource: &'a ResourceInfo,
    limits: &'a Limits,
}

impl Series<'_> {
    fn labels(&self, attrs: &[KeyValue]) -> Labels {
        let mut labels = self.resource.labels.clone();
        add_attribute_labels(&mut labels, attrs, self.limits);
        labels
    }

    fn timestamps(&self, time: u64, start: u64) -> Result<(i64, Option<i64>), String> {
        if time == 0 {
            return Err(format!(
                "metric {:?}: data point without a timestamp",
                self.name
            ));
        }
        Ok((nanos_to_ms(time), (start != 0).then(|| nanos_to_ms(start))))
    }

    fn point(
        &self,
        labels: Labels,
        ts: (i64, Option<i64>),
        value: f64,
        kind: MetricKind,
        temporality: Option<Temporality>,
    ) -> MetricPoint {
        MetricPoint {
            name: self.name.to_owned(),
            unit: self.unit.to_owned(),
            ts_ms: ts.0,
            start_ms: ts.1,
            value,
            kind,
            temporality,
            labels,
        }
    }
}

fn no_recorded_value(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

fn temporality(value: i32) -> Option<Temporality> {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Cumulative) => Some(Temporality::Cumulative),
        Ok(AggregationTemporality::Delta) => Some(Temporality::Delta),
        _ => None,
    }
}

fn data_point_count(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

pub(crate) fn map_request(
    request: &ExportMetricsServiceRequest,
    limits: &Limits,
) -> Result<Metrics, DecodeError> {
    let count: usize = request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(data_point_count)
        .sum();
    if count > limits.max_items {
        return Err(DecodeError::TooManyItems {
            kind: "data points",
            count,
            max: limits.max_items,
        });
    }
    let mut out = Metrics::default();
    let mut rejections = Rejections::default();
    for resource_metrics in &request.resource_metrics {
        let resource = resource_info(resource_metrics.resource.as_ref(), limits);
        for metric in resource_metrics
            .scope_metrics
            .iter()
            .flat_map(|sm| &sm.metrics)
        {
            // Copied into every point, like labels, so bounded like them.
            let name = truncate(&metric.name, limits.max_label_len);
            let unit = truncate(&metric.unit, limits.max_label_len);
            let series = Series {
                name: &name,
                unit: &unit,
                resource: &resource,
                limits,
            };
            map_metric(metric, &series, &mut out, &mut rejections);
        }
    }
    out.rejected = rejections.count;
    out.message = rejections.first;
    Ok(out)
}

fn map_metric(metric: &Metric, series: &Series, out: &mut Metrics, rejections: &mut Rejections) {
    if series.name.is_empty() {
        rejections.reject(|| "metric without a name".to_owned());
        return;
    }
    match &metric.data {
        None => {}
        Some(Data::Gauge(gauge)) => {
            for p in &gauge.data_points {
                push(
                    number(p, series, MetricKind::Gauge, None),
                    &mut out.points,
                    rejections,
                );
            }
        }
        Some(Data::Sum(sum)) => {
            let (kind, temporality) = if sum.is_monotonic {
                match temporality(sum.aggregation_temporality) {
                    Some(t) => (MetricKind::Counter, Some(t)),
                    None => {
                        for _ in &sum.data_points {
                            rejections.reject(|| {
                                format!(
                                    "metric {:?}: monotonic sum without aggregation temporality",
                                    series.name
                                )
                            });
                        }
                        return;
                    }
                }
            } else {
                // An up-down counter's current total is what a gauge shows.
                (MetricKind::Gauge, None)
            };
            for p in &sum.data_points {
                push(
                    number(p, series, kind, temporality),
                    &mut out.points,
                    rejections,
                );
            }
        }
        Some(Data::Histogram(histogram)) => {
            let t = temporality(histogram.aggregation_temporality);
            for p in &histogram.data_points {
                push(explicit(p, series, t), &mut out.histograms, rejections);
            }
        }
        Some(Data::ExponentialHistogram(histogram)) => {
            let t = temporality(histogram.aggregation_temporality);
            for p in &histogram.data_points {
                let mapped = (|| {
                    if no_recorded_value(p.flags) {
                        return Ok(None);
                    }
                    let t = t.ok_or_else(|| {
                        format!(
                            "metric {:?}: histogram without aggregation temporality",
                            series.name
                        )
                    })?;
                    let ts = series.timestamps(p.time_unix_nano, p.start_time_unix_nano)?;
                    let (bounds, bucket_counts) =
                        exponential_to_explicit(p, series.limits.max_buckets)
                            .map_err(|e| format!("metric {:?}: {e}", series.name))?;
                    histogram_point(
                        series,
                        p.count,
                        p.sum,
                        p.min,
                        p.max,
                        bounds,
                        bucket_counts,
                        t,
                        ts,
                        &p.attributes,
                    )
                    .map(Some)
                })();
                push(mapped, &mut out.histograms, rejections);
            }
        }
        Some(Data::Summary(summary)) => {
            for p in &summary.data_points {
                match summary_points(p, series) {
                    Ok(points) => out.points.extend(points),
                    Err(reason) => rejections.reject(|| reason),
                }
            }
        }
    }
}

fn push<T>(mapped: Result<Option<T>, String>, into: &mut Vec<T>, rejections: &mut Rejections) {
    match mapped {
        Ok(Some(item)) => into.push(item),
        Ok(None) => {}
        Err(reason) => rejections.reject(|| reason),
    }
}

fn number(
    p: &NumberDataPoint,
    series: &Series,
    kind: MetricKind,
    temporality: Option<Temporality>,
) -> Result<Option<MetricPoint>, String> {
    if no_recorded_value(p.flags) {
        return Ok(None);
    }
    let ts = series.timestamps(p.time_unix_nano, p.start_time_unix_nano)?;
    let value = match p.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => {
            return Err(format!(
                "metric {:?}: data point without a value",
                series.name
            ))
        }
    };
    if !value.is_finite() {
        return Err(format!(
            "metric {:?}: non-finite value {value}",
            series.name
        ));
    }
    Ok(Some(series.point(
        series.labels(&p.attributes),
        ts,
        value,
        kind,
        temporality,
    )))
}

fn explicit(
    p: &HistogramDataPoint,
    series: &Series,
    temporality: Option<Temporality>,
) -> Result<Option<HistogramPoint>, String> {
    if no_recorded_value(p.flags) {
        return Ok(None);
    }
    let temporality = temporality.ok_or_else(|| {
        format!(
            "metric {:?}: histogram without aggregation temporality",
            series.name
        )
    })?;
    let ts = series.timestamps(p.time_unix_nano, p.start_time_unix_nano)?;
    if p.bucket_counts.len() > series.limits.max_buckets + 1 {
        return Err(format!(
            "metric {:?}: {} buckets (at most {})",
            series.name,
            p.bucket_counts.len(),
            series.limits.max_buckets
        ));
    }
    let shape_ok = (p.bucket_counts.is_empty() && p.explicit_bounds.is_empty())
        || p.bucket_counts.len() == p.explicit_bounds.len() + 1;
    if !shape_ok {
        return Err(format!(
            "metric {:?}: {} bucket counts for {} bounds",
            series.name,
            p.bucket_counts.len(),
            p.explicit_bounds.len()
        ));
    }
    if p.explicit_bounds.iter().any(|b| !b.is_finite())
        || p.explicit_bounds.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(format!(
            "metric {:?}: bounds not finite and increasing",
            series.name
        ));
    }
    histogram_point(
        series,
        p.count,
        p.sum,
        p.min,
        p.max,
        p.explicit_bounds.clone(),
        p.bucket_counts.clone(),
        temporality,
        ts,
        &p.attributes,
    )
    .map(Some)
}

#[allow(clippy::too_many_arguments)]
fn histogram_point(
    series: &Series,
    count: u64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    bounds: Vec<f64>,
    bucket_counts: Vec<u64>,
    temporality: Temporality,
    ts: (i64, Option<i64>),
    attrs: &[KeyValue],
) -> Result<HistogramPoint, String> {
    if [sum, min, max].iter().flatten().any(|v| !v.is_finite()) {
        return Err(format!(
            "metric {:?}: non-finite sum, min or max",
            series.name
        ));
    }
    if !bucket_counts.is_empty() {
        let total: u128 = bucket_counts.iter().map(|c| u128::from(*c)).sum();
        if total != u128::from(count) {
            return Err(format!(
                "metric {:?}: bucket counts add up to {total}, count is {count}",
                series.name
            ));
        }
    }
    Ok(HistogramPoint {
        name: series.name.to_owned(),
        unit: series.unit.to_owned(),
        ts_ms: ts.0,
        start_ms: ts.1,
        count,
        sum,
        min,
        max,
        bounds,
        bucket_counts,
        temporality,
        labels: series.labels(attrs),
    })
}

fn summary_points(p: &SummaryDataPoint, series: &Series) -> Result<Vec<MetricPoint>, String> {
    if no_recorded_value(p.flags) {
        return Ok(Vec::new());
    }
    let ts = series.timestamps(p.time_unix_nano, p.start_time_unix_nano)?;
    if !p.sum.is_finite() {
        return Err(format!("metric {:?}: non-finite sum", series.name));
    }
    // Each quantile copies the point's labels: keep their number small.
    if p.quantile_values.len() > MAX_QUANTILES {
        return Err(format!(
            "metric {:?}: {} quantiles (at most {MAX_QUANTILES})",
            series.name,
            p.quantile_values.len()
        ));
    }
    let labels = series.labels(&p.attributes);
    let mut points = Vec::with_capacity(p.quantile_values.len() + 2);
    for q in &p.quantile_values {
        if !(0.0..=1.0).contains(&q.quantile) || !q.value.is_finite() {
            return Err(format!(
                "metric {:?}: invalid quantile {} = {}",
                series.name, q.quantile, q.value
            ));
        }
        let mut labels = labels.clone();
        labels.insert("quantile".to_owned(), q.quantile.to_string());
        points.push(series.point(labels, ts, q.value, MetricKind::Gauge, None));
    }
    // Summary count and sum are cumulative by definition.
    for (suffix, value) in [("_sum", p.sum), ("_count", p.count as f64)] {
        let mut point = series.point(
            labels.clone(),
            ts,
            value,
            MetricKind::Counter,
            Some(Temporality::Cumulative),
        );
        point.name.push_str(suffix);
        points.push(point);
    }
    Ok(points)
}
