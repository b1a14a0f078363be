//! Arbitrary bytes as protobuf export requests of every signal: decoding must return a value or
//! an error, never panic, and results must respect the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otlp::{decode_logs, decode_metrics, decode_traces, Encoding, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(traces) = decode_traces(data, Encoding::Protobuf, &limits) {
        assert!(traces.spans.len() <= limits.max_items);
    }
    if let Ok(metrics) = decode_metrics(data, Encoding::Protobuf, &limits) {
        for h in &metrics.histograms {
            assert!(h.bucket_counts.is_empty() || h.bucket_counts.len() == h.bounds.len() + 1);
            let _ = otlp::quantile(&h.bounds, &h.bucket_counts, 0.99);
        }
    }
    if let Ok(logs) = decode_logs(data, Encoding::Protobuf, &limits) {
        assert!(logs.records.len() <= limits.max_items);
    }
});
