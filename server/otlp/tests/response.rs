//! Response bodies in both encodings, read back with the prost types (protobuf) or compared
//! byte for byte with the OTLP JSON mapping.

use otlp::proto::collector::logs::v1::ExportLogsServiceResponse;
use otlp::proto::collector::metrics::v1::ExportMetricsServiceResponse;
use otlp::proto::collector::trace::v1::ExportTraceServiceResponse;
use otlp::*;
use prost::Message;
use serde_json::json;

#[test]
fn full_success_is_the_empty_message() {
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        assert_eq!(encode_response(signal, 0, None, Encoding::Json), b"{}");
        assert_eq!(encode_response(signal, 0, None, Encoding::Protobuf), b"");
        assert_eq!(encode_response(signal, 0, Some(""), Encoding::Json), b"{}");
    }
}

/// Parses a JSON body, so the test does not depend on serde_json's key order feature.
fn json_of(body: Vec<u8>) -> serde_json::Value {
    serde_json::from_slice(&body).expect("valid json")
}

#[test]
fn partial_success_json() {
    // int64 counts are decimal strings in proto3 JSON; default fields are omitted.
    assert_eq!(
        json_of(encode_response(
            Signal::Traces,
            2,
            Some("span \"x\": bad id"),
            Encoding::Json
        )),
        json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "span \"x\": bad id"}})
    );
    assert_eq!(
        json_of(encode_response(Signal::Metrics, 1, None, Encoding::Json)),
        json!({"partialSuccess": {"rejectedDataPoints": "1"}})
    );
    assert_eq!(
        json_of(encode_response(
            Signal::Logs,
            7,
            Some("no ts"),
            Encoding::Json
        )),
        json!({"partialSuccess": {"rejectedLogRecords": "7", "errorMessage": "no ts"}})
    );
    // a message with nothing rejected is a warning
    assert_eq!(
        json_of(encode_response(
            Signal::Logs,
            0,
            Some("slow down"),
            Encoding::Json
        )),
        json!({"partialSuccess": {"errorMessage": "slow down"}})
    );
}

#[test]
fn partial_success_protobuf_reads_back() {
    let body = encode_response(Signal::Traces, 3, Some("bad"), Encoding::Protobuf);
    let traces = ExportTraceServiceResponse::decode(body.as_slice()).expect("valid protobuf");
    let partial = traces.partial_success.expect("set");
    assert_eq!(
        (partial.rejected_spans, partial.error_message.as_str()),
        (3, "bad")
    );

    let body = encode_response(Signal::Metrics, 4, None, Encoding::Protobuf);
    let metrics = ExportMetricsServiceResponse::decode(body.as_slice()).expect("valid protobuf");
    let partial = metrics.partial_success.expect("set");
    assert_eq!(
        (partial.rejected_data_points, partial.error_message.as_str()),
        (4, "")
    );

    let body = encode_response(Signal::Logs, u64::MAX, Some("many"), Encoding::Protobuf);
    let logs = ExportLogsServiceResponse::decode(body.as_slice()).expect("valid protobuf");
    assert_eq!(
        logs.partial_success.map(|p| p.rejected_log_records),
        Some(i64::MAX)
    );
}

#[test]
fn status_bodies() {
    assert_eq!(
        json_of(encode_status(
            StatusCode::InvalidArgument,
            "malformed json: eof",
            Encoding::Json
        )),
        json!({"code": 3, "message": "malformed json: eof"})
    );
    assert_eq!(
        json_of(encode_status(StatusCode::Unavailable, "", Encoding::Json)),
        json!({"code": 14, "message": ""})
    );
    // google.rpc.Status: code = field 1 varint, message = field 2 string
    let body = encode_status(
        StatusCode::ResourceExhausted,
        "too many spans",
        Encoding::Protobuf,
    );
    let mut expected = vec![0x08, 8, 0x12, 14];
    expected.extend_from_slice(b"too many spans");
    assert_eq!(body, expected);
}

#[test]
fn decode_results_feed_the_response() {
    let body =
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00","spanId":"00"}]}]}]}"#;
    let traces = decode_traces(body, Encoding::Json, &Limits::default()).expect("decodes");
    let response = encode_response(
        Signal::Traces,
        traces.rejected,
        traces.message.as_deref(),
        Encoding::Json,
    );
    let value: serde_json::Value = serde_json::from_slice(&response).expect("json");
    assert_eq!(value["partialSuccess"]["rejectedSpans"], "1");
    assert!(value["partialSuccess"]["errorMessage"]
        .as_str()
        .is_some_and(|m| m.contains("trace id")));
}
