//! OTLP/HTTP response bodies: the export response with its `partial_success` for a request
//! that was (at least partly) accepted, and a `google.rpc.Status` for one that was refused,
//! each in the encoding of the request.

use prost::Message;
use serde_json::json;

use crate::proto::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use crate::proto::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use crate::proto::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use crate::{Encoding, Signal};

/// gRPC status codes a refused OTLP/HTTP request may carry in its `google.rpc.Status` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum StatusCode {
    /// Malformed or invalid request (HTTP 400).
    InvalidArgument = 3,
    /// Too large or rate limited (HTTP 413/429).
    ResourceExhausted = 8,
    /// A server fault (HTTP 500).
    Internal = 13,
    /// Temporarily unable to store; retry (HTTP 503).
    Unavailable = 14,
    /// Missing or wrong ingest key (HTTP 401).
    Unauthenticated = 16,
}

/// `google.rpc.Status` without `details` (which OTLP servers need not send).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The export response for `signal`. With nothing rejected and no message it is the empty
/// message (`{}` in JSON), as the spec asks; otherwise it carries `partial_success` with the
/// rejected count and the message (a message with zero rejected is a warning).
pub fn encode_response(
    signal: Signal,
    rejected: u64,
    message: Option<&str>,
    enc: Encoding,
) -> Vec<u8> {
    let partial = rejected > 0 || message.is_some_and(|m| !m.is_empty());
    // int64 on the wire; a count above i64::MAX cannot happen, saturate rather than wrap.
    let count = i64::try_from(rejected).unwrap_or(i64::MAX);
    let error_message = message.unwrap_or_default().to_owned();
    match enc {
        Encoding::Protobuf => match signal {
            Signal::Traces => ExportTraceServiceResponse {
                partial_success: partial.then_some(ExportTracePartialSuccess {
                    rejected_spans: count,
                    error_message,
                }),
            }
            .encode_to_vec(),
            Signal::Metrics => ExportMetricsServiceResponse {
                partial_success: partial.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: count,
                    error_message,
                }),
            }
            .encode_to_vec(),
            Signal::Logs => ExportLogsServiceResponse {
                partial_success: partial.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: count,
                    error_message,
                }),
            }
            .encode_to_vec(),
        },
        Encoding::Json => {
            if !partial {
                return b"{}".to_vec();
            }
            let field = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Metrics => "rejectedDataPoints",
                Signal::Logs => "rejectedLogRecords",
            };
            // Proto3 JSON: int64 as a decimal string, default values omitted.
            let mut body = serde_json::Map::new();
            if count != 0 {
                body.insert(field.to_owned(), json!(count.to_string()));
            }
            if !error_message.is_empty() {
                body.insert("errorMessage".to_owned(), json!(error_message));
            }
            json!({ "partialSuccess": body }).to_string().into_bytes()
        }
    }
}

/// A `google.rpc.Status` body for a refused request.
pub fn encode_status(code: StatusCode, message: &str, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => RpcStatus {
            code: code as i32,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Encoding::Json => json!({ "code": code as i32, "message": message })
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_protobuf_wire_format() {
        // field 1 varint 3, field 2 length 2 "no"
        assert_eq!(
            encode_status(StatusCode::InvalidArgument, "no", Encoding::Protobuf),
            vec![0x08, 0x03, 0x12, 0x02, b'n', b'o']
        );
        assert_eq!(
            encode_status(StatusCode::InvalidArgument, "bad \"body\"", Encoding::Json),
            br#"{"code":3,"message":"bad \"body\""}"#.to_vec()
        );
    }
}
