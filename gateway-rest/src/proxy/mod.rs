//! The fallback handler: gRPC-web goes through to the services as it is;
//! everything else is transcoded from REST+JSON.

mod grpc_web;
mod reply;
mod trace_context;
mod transcoded;
mod upload;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use crate::Gateway;
use crate::body_limit::is_too_large;
use crate::errors::GatewayError;
use crate::limits::ClientAddr;

/// Serves every path the router has no explicit route for.
pub async fn dispatch(
    State(gateway): State<Arc<Gateway>>,
    request: axum::extract::Request,
) -> Response {
    let is_grpc_web = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc-web"));
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    if is_grpc_web {
        return grpc_web::forward(&gateway, request, client).await;
    }
    let (parts, body) = request.into_parts();
    let limit = gateway.body_limit(&parts.method, parts.uri.path());
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(e) if is_too_large(&e) => {
            return GatewayError::BodyTooLarge { limit }.into_response();
        }
        Err(e) => {
            tracing::debug!(error = %e, "reading the request body failed");
            return GatewayError::InvalidRequest(crate::transcode::BadRequest::new(
                "body",
                "could not be read",
            ))
            .into_response();
        }
    };
    let call = transcoded::Call {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        client,
        body,
    };
    match transcoded::handle(&gateway, call).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}
