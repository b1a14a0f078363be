//! Histogram arithmetic checked against hand-computed values: exponential bucket bounds,
//! quantile interpolation, delta→cumulative counters and cumulative→delta histograms.

use otlp::proto::metrics::v1::{
    exponential_histogram_data_point::Buckets, ExponentialHistogramDataPoint,
};
use otlp::*;

fn exp_point(
    scale: i32,
    zero_count: u64,
    zero_threshold: f64,
    positive: Option<(i32, Vec<u64>)>,
    negative: Option<(i32, Vec<u64>)>,
) -> ExponentialHistogramDataPoint {
    let buckets = |b: Option<(i32, Vec<u64>)>| {
        b.map(|(offset, bucket_counts)| Buckets {
            offset,
            bucket_counts,
        })
    };
    ExponentialHistogramDataPoint {
        scale,
        zero_count,
        zero_threshold,
        positive: buckets(positive),
        negative: buckets(negative),
        ..Default::default()
    }
}

#[test]
fn exponential_scale_0_with_zero_and_negative_buckets() {
    // base 2. Negative offset 1: bucket 1 = [-4, -2), bucket 2 = [-8, -4).
    // Positive offset 0: bucket 0 = (1, 2], bucket 1 = (2, 4].
    let p = exp_point(0, 1, 0.0, Some((0, vec![2, 3])), Some((1, vec![4, 5])));
    let (bounds, counts) = exponential_to_explicit(&p, 160).expect("valid");
    assert_eq!(bounds, vec![-8.0, -4.0, -2.0, 0.0, 2.0, 4.0]);
    // (-inf,-8]: 0, (-8,-4]: 5, (-4,-2]: 4, zero: 1, (0,2]: 2, (2,4]: 3, overflow: 0
    assert_eq!(counts, vec![0, 5, 4, 1, 2, 3, 0]);
}

#[test]
fn exponential_negative_scale() {
    // scale -1: base 4. Offset 1: bucket 1 = (4, 16], bucket 2 = (16, 64].
    let p = exp_point(-1, 0, 0.0, Some((1, vec![5, 6])), None);
    let (bounds, counts) = exponential_to_explicit(&p, 160).expect("valid");
    assert_eq!(bounds, vec![0.0, 16.0, 64.0]);
    assert_eq!(counts, vec![0, 5, 6, 0]);
    // scale -2: base 16; offset -1: bucket -1 = (1/16, 1].
    let p = exp_point(-2, 0, 0.0, Some((-1, vec![7])), None);
    assert_eq!(
        exponential_to_explicit(&p, 160),
        Ok((vec![0.0, 1.0], vec![0, 7, 0]))
    );
}

#[test]
fn exponential_positive_scale() {
    // scale 1: base √2. Offset -2: buckets (0.5, 1/√2], (1/√2, 1], (1, √2], (√2, 2].
    let p = exp_point(1, 2, 0.001, Some((-2, vec![1, 2, 3, 4])), None);
    let (bounds, counts) = exponential_to_explicit(&p, 160).expect("valid");
    let expected = [
        0.001,
        std::f64::consts::FRAC_1_SQRT_2,
        1.0,
        std::f64::consts::SQRT_2,
        2.0,
    ];
    assert_eq!(bounds.len(), expected.len());
    for (got, want) in bounds.iter().zip(expected) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    assert_eq!(counts, vec![2, 1, 2, 3, 4, 0]);
}

#[test]
fn exponential_only_zero_bucket() {
    let p = exp_point(3, 9, 0.0, None, None);
    assert_eq!(
        exponential_to_explicit(&p, 160),
        Ok((vec![0.0], vec![9, 0]))
    );
}

#[test]
fn exponential_refuses_bad_points() {
    let ok = |p: &ExponentialHistogramDataPoint| exponential_to_explicit(p, 4).is_ok();
    assert!(!ok(&exp_point(21, 0, 0.0, Some((0, vec![1])), None)));
    assert!(!ok(&exp_point(-11, 0, 0.0, Some((0, vec![1])), None)));
    assert!(!ok(&exp_point(0, 0, 0.0, Some((0, vec![1; 5])), None)));
    assert!(!ok(&exp_point(0, 0, 0.0, None, Some((0, vec![1; 5])))));
    // 2^(2^10 · 2^20) overflows f64
    assert!(!ok(&exp_point(-10, 0, 0.0, Some((1 << 20, vec![1])), None)));
    // zero threshold above the first positive bucket's bound
    assert!(!ok(&exp_point(0, 0, 10.0, Some((0, vec![1])), None)));
    assert!(!ok(&exp_point(0, 0, f64::NAN, None, None)));
    assert!(!ok(&exp_point(0, 0, -1.0, None, None)));
}

#[test]
fn exponential_point_decodes_through_metrics() {
    use otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
    use otlp::proto::metrics::v1::{
        metric::Data, ExponentialHistogram, Metric, ResourceMetrics, ScopeMetrics,
    };
    use prost::Message;
    let mut good = exp_point(0, 1, 0.0, Some((0, vec![2])), Some((0, vec![3])));
    good.time_unix_nano = 1_000_000;
    good.count = 6;
    let mut bad = exp_point(30, 0, 0.0, None, None);
    bad.time_unix_nano = 1_000_000;
    let body = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "x".into(),
                    data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                        aggregation_temporality: 1,
                        data_points: vec![good, bad],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let metrics = decode_metrics(&body, Encoding::Protobuf, &Limits::default()).expect("decodes");
    assert_eq!(metrics.rejected, 1);
    assert_eq!(metrics.histograms.len(), 1);
    let h = &metrics.histograms[0];
    // negative bucket 0 = [-2, -1), zero bucket, positive bucket 0 = (1, 2]
    assert_eq!(h.bounds, vec![-2.0, -1.0, 0.0, 2.0]);
    assert_eq!(h.bucket_counts, vec![0, 3, 1, 2, 0]);
    assert_eq!(h.temporality, Temporality::Delta);
    assert_eq!(h.ts_ms, 1);
}

#[test]
fn quantile_interpolates_like_prometheus() {
    // buckets (-inf,1]: 1, (1,2]: 2, (2,4]: 1, (4,+inf): 0 — total 4
    let bounds = [1.0, 2.0, 4.0];
    let counts = [1, 2, 1, 0];
    // rank 2 falls in (1,2] which holds ranks 1..3: 1 + 1·(1/2)
    assert_eq!(quantile(&bounds, &counts, 0.5), 1.5);
    // rank 3.6 in (2,4] holding ranks 3..4: 2 + 2·0.6
    assert!((quantile(&bounds, &counts, 0.9) - 3.2).abs() < 1e-12);
    // rank 1 at the top of the first bucket, whose lower edge is 0
    assert_eq!(quantile(&bounds, &counts, 0.25), 1.0);
    assert_eq!(quantile(&bounds, &counts, 0.125), 0.5);
    // rank 0: the lower edge of the first occupied bucket
    assert_eq!(quantile(&bounds, &[0, 2, 2, 0], 0.0), 1.0);
    assert_eq!(quantile(&bounds, &counts, 1.0), 4.0);
    // the open-above bucket answers the highest bound
    assert_eq!(quantile(&bounds, &[0, 0, 1, 3], 0.9), 4.0);
    // missing overflow bucket counts as empty
    assert_eq!(quantile(&bounds, &[1, 2, 1], 0.5), 1.5);
    // a first bucket with a non-positive bound answers that bound
    assert_eq!(quantile(&[-1.0, 0.0], &[5, 0, 0], 0.5), -1.0);
    // negative buckets from an exponential histogram: (-4,-2] holds ranks 0..4
    assert_eq!(
        quantile(&[-8.0, -4.0, -2.0, 0.0], &[0, 0, 4, 4, 0], 0.25),
        -3.0
    );
    assert_eq!(quantile(&bounds, &counts, -0.1), f64::NEG_INFINITY);
    assert_eq!(quantile(&bounds, &counts, 1.1), f64::INFINITY);
    assert!(quantile(&bounds, &[0, 0, 0, 0], 0.5).is_nan());
    assert!(quantile(&bounds, &[1, 1], 0.5).is_nan());
    assert!(quantile(&[], &[3], 0.5).is_nan());
    assert!(quantile(&bounds, &counts, f64::NAN).is_nan());
}

fn counter(name: &str, ts_ms: i64, value: f64, temporality: Temporality) -> MetricPoint {
    MetricPoint {
        name: name.into(),
        unit: String::new(),
        ts_ms,
        start_ms: Some(ts_ms - 10),
        value,
        kind: MetricKind::Counter,
        temporality: Some(temporality),
        labels: Labels::new(),
    }
}

#[test]
fn delta_counters_become_running_totals() {
    let mut acc = DeltaToCumulative::new(2);
    let total = |acc: &mut DeltaToCumulative, p: MetricPoint| acc.accumulate(&p).map(|p| p.value);
    assert_eq!(
        total(&mut acc, counter("a", 100, 3.0, Temporality::Delta)),
        Some(3.0)
    );
    assert_eq!(
        total(&mut acc, counter("a", 110, 2.0, Temporality::Delta)),
        Some(5.0)
    );
    // a retried (not newer) point does not count twice
    assert_eq!(
        total(&mut acc, counter("a", 110, 2.0, Temporality::Delta)),
        None
    );
    assert_eq!(
        total(&mut acc, counter("a", 120, -1.0, Temporality::Delta)),
        None
    );
    let out = acc
        .accumulate(&counter("a", 130, 0.5, Temporality::Delta))
        .expect("newer");
    assert_eq!(out.value, 5.5);
    assert_eq!(out.temporality, Some(Temporality::Cumulative));
    assert_eq!(out.start_ms, Some(90)); // the first point's start
                                        // other labels are another series
    let mut labelled = counter("a", 130, 1.0, Temporality::Delta);
    labelled.labels.insert("route".into(), "/x".into());
    assert_eq!(total(&mut acc, labelled), Some(1.0));
    // cumulative points and gauges pass through untouched
    let cumulative = counter("a", 140, 42.0, Temporality::Cumulative);
    assert_eq!(acc.accumulate(&cumulative), Some(cumulative));
    assert_eq!(acc.len(), 2);
    // a third series evicts the least recently used ("a"), which then starts over
    assert_eq!(
        total(&mut acc, counter("b", 100, 1.0, Temporality::Delta)),
        Some(1.0)
    );
    assert_eq!(acc.len(), 2);
    assert_eq!(
        total(&mut acc, counter("a", 200, 4.0, Temporality::Delta)),
        Some(4.0)
    );
}

fn cumulative_histogram(ts_ms: i64, start_ms: i64, counts: Vec<u64>, sum: f64) -> HistogramPoint {
    HistogramPoint {
        name: "latency".into(),
        unit: "ms".into(),
        ts_ms,
        start_ms: Some(start_ms),
        count: counts.iter().sum(),
        sum: Some(sum),
        min: Some(1.0),
        max: Some(9.0),
        bounds: vec![1.0, 10.0],
        bucket_counts: counts,
        temporality: Temporality::Cumulative,
        labels: Labels::new(),
    }
}

#[test]
fn cumulative_histograms_become_deltas_with_reset_detection() {
    let mut conv = CumulativeToDelta::new(10);
    // the first point only sets the baseline
    assert_eq!(
        conv.delta(&cumulative_histogram(100, 0, vec![1, 2, 0], 10.0)),
        None
    );
    let d = conv
        .delta(&cumulative_histogram(200, 0, vec![3, 5, 1], 50.0))
        .expect("delta");
    assert_eq!(d.bucket_counts, vec![2, 3, 1]);
    assert_eq!(d.count, 6);
    assert_eq!(d.sum, Some(40.0));
    assert_eq!(d.start_ms, Some(100));
    assert_eq!((d.min, d.max), (None, None));
    assert_eq!(d.temporality, Temporality::Delta);
    assert_eq!(
        conv.delta(&cumulative_histogram(200, 0, vec![3, 5, 1], 50.0)),
        None
    );
    // a bucket went down: the process restarted, the new counts are the delta
    let d = conv
        .delta(&cumulative_histogram(300, 250, vec![1, 0, 0], 2.0))
        .expect("reset");
    assert_eq!(d.bucket_counts, vec![1, 0, 0]);
    assert_eq!(d.start_ms, Some(250));
    assert_eq!(d.sum, Some(2.0));
    // a new start time is a reset even when counts grew
    let d = conv
        .delta(&cumulative_histogram(400, 350, vec![5, 5, 5], 9.0))
        .expect("reset");
    assert_eq!(d.bucket_counts, vec![5, 5, 5]);
    // a changed layout cannot be compared: new baseline
    let mut relaid = cumulative_histogram(500, 350, vec![6, 5, 5, 0], 9.0);
    relaid.bounds = vec![1.0, 10.0, 100.0];
    assert_eq!(conv.delta(&relaid), None);
    assert_eq!(conv.len(), 1);
}

#[test]
fn histogram_delta_is_pure() {
    let prev = cumulative_histogram(100, 0, vec![1, 1, 1], 3.0);
    let cur = cumulative_histogram(200, 0, vec![2, 1, 4], 9.0);
    let d = histogram_delta(&prev, &cur).expect("comparable");
    assert_eq!(
        (d.count, d.bucket_counts.clone(), d.sum),
        (4, vec![1, 0, 3], Some(6.0))
    );
    // quantile of the step: ranks 0..4 — (-inf,1]:1, (1,10]:0, (10,+inf):3 → p50 in overflow
    assert_eq!(quantile(&d.bounds, &d.bucket_counts, 0.5), 10.0);
}
