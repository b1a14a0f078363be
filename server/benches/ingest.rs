//! Decode + validate + write of a 1 000-item batch, on SQLite in a temp directory.
//!
//! `cargo bench -p server --bench ingest`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use osprey::config::IngestConfig;
use osprey::ingest::model;
use osprey::store::{SqliteStore, Store};

fn batch_body(offset: i64) -> Vec<u8> {
    let metrics: Vec<serde_json::Value> = (0..1_000)
        .map(|i| {
            serde_json::json!({
                "timestamp": 1_795_780_800_000i64 + offset * 1_000 + i / 100,
                "name": "http.latency_ms",
                "value": (i % 97) as f64 * 1.5,
                "labels": {"route": format!("/r{}", i % 100), "method": "GET"}
            })
        })
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"context": {"service": "bench", "host": "h1"}, "metrics": metrics}),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let limits = IngestConfig::default();
    let body = batch_body(0);
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("decode_validate_1000", |b| {
        b.iter(|| model::decode(&body, &limits).unwrap())
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(SqliteStore::open(&url, 2, 1_000_000)).unwrap();
    let mut offset = 0;
    group.bench_function("decode_validate_write_1000_sqlite", |b| {
        b.iter(|| {
            offset += 1;
            let batch = model::decode(&batch_body(offset), &limits).unwrap();
            rt.block_on(store.write(&batch)).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
