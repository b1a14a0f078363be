//! The streaming update, the cost every stored point pays: one detector over a noisy daily
//! cycle with an occasional spike (the target is 1 000 000 points/s per core), and a
//! forecast fitted on two days of minute points.
//!
//! `cargo bench -p detect --bench update`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use detect::forecast::{forecast, Horizon};
use detect::Detector;

const POINTS: usize = 100_000;
const MINUTE: i64 = 60_000;

/// Deterministic noise in [-1, 1].
fn noise(i: u64) -> f64 {
    let x = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn series(n: usize) -> Vec<(i64, f64)> {
    (0..n)
        .map(|i| {
            let day = (i as f64 / 1_440.0 * std::f64::consts::TAU).sin();
            let spike = if i % 5_000 == 4_999 { 80.0 } else { 0.0 };
            (
                i as i64 * MINUTE,
                100.0 + 20.0 * day + 3.0 * noise(i as u64) + spike,
            )
        })
        .collect()
}

fn update(c: &mut Criterion) {
    let points = series(POINTS);
    let mut group = c.benchmark_group("detector");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("update 100k points", |b| {
        b.iter_batched_ref(
            Detector::default,
            |d| {
                let mut sum = 0.0;
                for &(t, v) in &points {
                    sum += d.update(t, v).score;
                }
                sum
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let history = series(2 * 1_440);
    c.bench_function("forecast fit 2 days of minutes, 6 h ahead", |b| {
        b.iter(|| forecast(&history, Horizon::Duration(6 * 3_600_000)))
    });
}

criterion_group!(benches, update);
criterion_main!(benches);
