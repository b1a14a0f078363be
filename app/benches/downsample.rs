//! Downsampling a million points to a canvas width: the part of a redraw that grows with data.
//!
//! `cargo bench -p app --bench downsample`

use app::downsample::{lttb, min_max_per_column};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let points: Vec<(i64, f64)> = (0..1_000_000)
        .map(|i| (i * 1_000, (i as f64 / 500.0).sin() * 100.0 + (i % 7) as f64))
        .collect();
    let mut group = c.benchmark_group("downsample_1m_points");
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("lttb_to_800", |b| b.iter(|| lttb(&points, 800)));
    group.bench_function("min_max_800_columns", |b| {
        b.iter(|| min_max_per_column(&points, 0, 1_000_000_000, 800))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
