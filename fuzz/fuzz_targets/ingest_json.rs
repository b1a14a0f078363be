//! Arbitrary bytes as a native ingest body (`POST /api/v1/ingest`): decoding must return a batch
//! or a validation error, never panic, and a batch must respect every limit it was decoded with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey::config::IngestConfig;
use osprey::ingest::model::decode;
use std::sync::LazyLock;

/// Small limits, so inputs the fuzzer can reach also exercise the refusals.
static LIMITS: LazyLock<IngestConfig> = LazyLock::new(|| IngestConfig {
    max_items: 64,
    max_labels: 4,
    max_label_key_bytes: 16,
    max_label_value_bytes: 32,
    max_message_bytes: 128,
    max_name_bytes: 32,
    ..IngestConfig::default()
});

fuzz_target!(|data: &[u8]| {
    let limits = &*LIMITS;
    let Ok(batch) = decode(data, limits) else {
        return;
    };
    assert!(batch.len() <= limits.max_items, "{} items", batch.len());
    for m in &batch.metrics {
        assert!(m.series.name.len() <= limits.max_name_bytes);
        assert!(m.series.labels.len() <= limits.max_labels);
        for (k, v) in &m.series.labels {
            assert!(k.len() <= limits.max_label_key_bytes && v.len() <= limits.max_label_value_bytes);
        }
        assert!(m.value.is_finite(), "{}", m.value);
    }
    for e in &batch.events {
        assert!(e.name.len() <= limits.max_name_bytes);
    }
    for e in &batch.errors {
        assert!(e.message.len() <= limits.max_message_bytes);
        assert!(!e.fingerprint.is_empty(), "every error belongs to an issue");
    }
});
