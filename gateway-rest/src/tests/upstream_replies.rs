//! What the client gets when a service's reply is or is not the RPC's
//! response message.

use std::sync::Arc;

use freedumb_proto::auth::{GetJwksResponse, JsonWebKey};
use http::StatusCode;
use prost::Message as _;

use super::harness::{error_info, gateway_with_services_replying, get, send, send_raw};

#[tokio::test]
async fn a_reply_that_decodes_is_answered_as_its_json() {
    let reply = GetJwksResponse {
        keys: vec![JsonWebKey {
            kid: "k1".into(),
            ..JsonWebKey::default()
        }],
    };
    let router = Arc::new(gateway_with_services_replying(reply.encode_to_vec())).router();

    let (status, _, body) = send(&router, get("/v1/auth/jwks", None)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["keys"][0]["kid"], "k1");
}

#[tokio::test]
async fn a_reply_that_does_not_decode_is_a_json_502_with_the_trace_id_not_the_cause() {
    // Field 1 announces 5 bytes and carries 1.
    let router = Arc::new(gateway_with_services_replying(&b"\x0a\x05\x01"[..])).router();

    let (status, _, body) = send(&router, get("/v1/auth/jwks", None)).await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], tonic::Code::Internal as i32);
    let info = error_info(&body);
    assert_eq!(info["reason"], "INTERNAL", "{body}");
    let trace_id = info["metadata"]["trace_id"].as_str().expect("a trace id");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains(trace_id), "{message}");
    let text = body.to_string();
    assert!(
        !text.contains("decode") && !text.contains("Protobuf") && !text.contains("buffer"),
        "the cause stays in the log: {text}"
    );
}

#[tokio::test]
async fn a_streamed_reply_that_does_not_decode_ends_the_stream_with_an_error_line() {
    let router = Arc::new(gateway_with_services_replying(&b"\x0a\x05\x01"[..])).router();

    let (status, headers, body) =
        send_raw(&router, get("/v1/transactions:watch", Some("a.b.c"))).await;
    let text = String::from_utf8_lossy(&body);

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[http::header::CONTENT_TYPE], "application/x-ndjson");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(
        line["error"]["code"],
        tonic::Code::Internal as i32,
        "{line}"
    );
    assert_eq!(error_info(&line["error"])["reason"], "INTERNAL", "{line}");
}
