//! Arbitrary bytes as OTLP/JSON export requests of every signal: decoding must return a value
//! or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otlp::{decode_logs, decode_metrics, decode_traces, Encoding, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = decode_traces(data, Encoding::Json, &limits);
    if let Ok(metrics) = decode_metrics(data, Encoding::Json, &limits) {
        for h in &metrics.histograms {
            assert!(h.bucket_counts.is_empty() || h.bucket_counts.len() == h.bounds.len() + 1);
            let _ = otlp::quantile(&h.bounds, &h.bucket_counts, 0.5);
        }
    }
    let _ = decode_logs(data, Encoding::Json, &limits);
});
