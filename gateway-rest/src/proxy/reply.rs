//! The service's reply as canonical proto3 JSON: one object, or for a
//! server stream newline-delimited JSON, one message per line. A reply that
//! is not the RPC's response message is the service's fault: a 502, or in
//! a stream an error line that ends it; never an empty `{}`.

use std::future::ready;

use anyhow::Context as _;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use http::{HeaderValue, header};
use prost_reflect::{DynamicMessage, MethodDescriptor};
use serde_json::{Value, json};

use crate::errors::GatewayError;

/// The reply of a unary `rpc`.
pub fn unary(rpc: &MethodDescriptor, reply: &[u8]) -> Result<Response, GatewayError> {
    let value = to_json(rpc, reply)?;
    Ok(axum::Json(value).into_response())
}

/// The replies of a server-streaming `rpc`, one line each; the stream ends
/// after an error line.
pub fn stream(rpc: MethodDescriptor, replies: tonic::Streaming<Bytes>) -> Response {
    // The body is streamed after the handler returned: errors are logged
    // in the call's span all the same, with its trace id.
    let span = tracing::Span::current();
    let lines = replies.scan(false, move |ended, item| {
        if *ended {
            return ready(None);
        }
        let line = match item
            .map_err(GatewayError::from)
            .and_then(|reply| to_json(&rpc, &reply))
        {
            Ok(value) => value,
            Err(error) => {
                *ended = true;
                let _in_call = span.enter();
                json!({ "error": error.into_json() })
            }
        };
        let mut text = line.to_string();
        text.push('\n');
        ready(Some(Ok::<_, std::convert::Infallible>(Bytes::from(text))))
    });
    let mut response = Response::new(Body::from_stream(lines));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// The replies of a server-streaming RPC answering `google.api.HttpBody`:
/// the file itself, its `Content-Type` from the first message, its
/// `Content-Disposition` from the service's response metadata. An error
/// before the first message is the call's error; a later one cuts the
/// body (the client sees a truncated transfer, not a corrupt file).
pub async fn file(
    reply: tonic::Response<tonic::Streaming<Bytes>>,
) -> Result<Response, GatewayError> {
    use freedumb_proto::google::api::HttpBody;
    use prost::Message as _;
    let disposition = reply
        .metadata()
        .get("content-disposition")
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let mut replies = reply.into_inner();
    let decode = |bytes: Bytes| {
        HttpBody::decode(bytes).map_err(|e| GatewayError::BadReply {
            rpc: "google.api.HttpBody".into(),
            cause: e.into(),
        })
    };
    let first = match replies.message().await? {
        Some(bytes) => decode(bytes)?,
        None => HttpBody::default(),
    };
    let content_type = HeaderValue::from_str(&first.content_type)
        .ok()
        .filter(|_| !first.content_type.is_empty())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let span = tracing::Span::current();
    let rest = replies.map(move |item| {
        item.map_err(GatewayError::from)
            .and_then(decode)
            .map(|body| Bytes::from(body.data))
            .map_err(|error| {
                let _in_call = span.enter();
                tracing::warn!(error = ?error, "a file download broke off");
                std::io::Error::other("the download broke off")
            })
    });
    let chunks = futures::stream::once(ready(Ok(Bytes::from(first.data)))).chain(rest);
    let mut response = Response::new(Body::from_stream(chunks));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    if let Some(disposition) = disposition {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// One response message of `rpc` as JSON.
fn to_json(rpc: &MethodDescriptor, reply: &[u8]) -> Result<Value, GatewayError> {
    let output = rpc.output();
    DynamicMessage::decode(output.clone(), reply)
        .context("the reply does not decode")
        .and_then(|message| serde_json::to_value(&message).context("the reply does not serialize"))
        .map_err(|cause| GatewayError::BadReply {
            rpc: rpc.full_name().to_owned(),
            cause,
        })
}
