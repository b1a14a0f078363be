//! The fuzz seed corpus must stay made of valid requests, or the fuzzer starts from noise.

use otlp::{decode_logs, decode_metrics, decode_traces, Encoding, Limits};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus");

fn seed(target: &str, file: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{target}/{file}")).expect("seed file present")
}

#[test]
fn protobuf_and_json_seeds_decode_cleanly() {
    let limits = Limits::default();
    for (target, enc, ext) in [
        ("otlp_protobuf", Encoding::Protobuf, "pb"),
        ("otlp_json", Encoding::Json, "json"),
    ] {
        let traces = decode_traces(&seed(target, &format!("trace.{ext}")), enc, &limits)
            .expect("trace seed decodes");
        assert_eq!(
            (traces.spans.len(), traces.errors.len(), traces.rejected),
            (2, 1, 0)
        );
        let metrics = decode_metrics(&seed(target, &format!("metrics.{ext}")), enc, &limits)
            .expect("metrics seed decodes");
        assert_eq!(
            (
                metrics.points.len(),
                metrics.histograms.len(),
                metrics.rejected
            ),
            (6, 2, 0)
        );
        let logs = decode_logs(&seed(target, &format!("logs.{ext}")), enc, &limits)
            .expect("logs seed decodes");
        assert_eq!(
            (logs.records.len(), logs.errors.len(), logs.rejected),
            (2, 1, 0)
        );
    }
}
