//! Property tests: decoders never panic on arbitrary input, ids survive both encodings, and the
//! histogram arithmetic keeps its invariants for any bucket layout.

use otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp::proto::metrics::v1::{
    exponential_histogram_data_point::Buckets, ExponentialHistogramDataPoint,
};
use otlp::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp::*;
use proptest::prelude::*;
use prost::Message;

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits::default();
        for enc in [Encoding::Protobuf, Encoding::Json] {
            let _ = decode_traces(&body, enc, &limits);
            let _ = decode_metrics(&body, enc, &limits);
            let _ = decode_logs(&body, enc, &limits);
        }
    }

    #[test]
    fn ids_are_lowercase_hex_from_either_encoding(
        trace in proptest::array::uniform16(any::<u8>()),
        span in proptest::array::uniform8(any::<u8>()),
        start in 1u64..u64::MAX / 2,
        length in 0u64..1_000_000_000_000,
    ) {
        prop_assume!(trace.iter().any(|b| *b != 0) && span.iter().any(|b| *b != 0));
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: trace.to_vec(),
                        span_id: span.to_vec(),
                        start_time_unix_nano: start,
                        end_time_unix_nano: start + length,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let json = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{}","spanId":"{}","startTimeUnixNano":"{start}","endTimeUnixNano":{}}}]}}]}}]}}"#,
            lower_hex(&trace).to_uppercase(),
            lower_hex(&span),
            start + length,
        );
        let limits = Limits::default();
        let from_protobuf = decode_traces(&request.encode_to_vec(), Encoding::Protobuf, &limits);
        let from_json = decode_traces(json.as_bytes(), Encoding::Json, &limits);
        prop_assert_eq!(&from_protobuf, &from_json);
        let traces = from_protobuf.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&traces.spans[0].trace_id, &lower_hex(&trace));
        prop_assert_eq!(&traces.spans[0].span_id, &lower_hex(&span));
        prop_assert_eq!(traces.spans[0].duration_ms, length as f64 / 1e6);
    }

    #[test]
    fn exponential_bounds_are_increasing_and_counts_kept(
        scale in -2i32..=8, // with offsets below ±90, bounds stay within f64
        pos_offset in -50i32..50,
        neg_offset in -50i32..50,
        positive in proptest::collection::vec(0u64..1000, 0..40),
        negative in proptest::collection::vec(0u64..1000, 0..40),
        zero_count in 0u64..1000,
    ) {
        let point = ExponentialHistogramDataPoint {
            scale,
            zero_count,
            positive: Some(Buckets { offset: pos_offset, bucket_counts: positive.clone() }),
            negative: Some(Buckets { offset: neg_offset, bucket_counts: negative.clone() }),
            ..Default::default()
        };
        let (bounds, counts) = exponential_to_explicit(&point, 160)
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(counts.len(), bounds.len() + 1);
        prop_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        let total: u64 = positive.iter().chain(&negative).sum::<u64>() + zero_count;
        prop_assert_eq!(counts.iter().sum::<u64>(), total);
        // consecutive positive bounds grow by the base 2^(2^-scale)
        let base = 2f64.powf(2f64.powi(-scale));
        let first_positive = bounds.iter().position(|b| *b > 0.0);
        if let Some(i) = first_positive {
            for w in bounds[i..].windows(2) {
                prop_assert!((w[1] / w[0] - base).abs() < 1e-9 * base);
            }
        }
    }

    #[test]
    fn quantiles_are_monotonic_and_within_bounds(
        counts in proptest::collection::vec(0u64..100, 2..20),
        q1 in 0.0f64..=1.0,
        q2 in 0.0f64..=1.0,
    ) {
        prop_assume!(counts.iter().any(|c| *c > 0));
        let bounds: Vec<f64> = (1..counts.len()).map(|i| i as f64 * 10.0).collect();
        let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
        let (a, b) = (quantile(&bounds, &counts, lo), quantile(&bounds, &counts, hi));
        prop_assert!(a <= b + 1e-9, "q{} = {} > q{} = {}", lo, a, hi, b);
        prop_assert!((0.0..=bounds[bounds.len() - 1]).contains(&a));
        prop_assert!((0.0..=bounds[bounds.len() - 1]).contains(&b));
    }
}
