//! gRPC-web passes through: the services speak it natively over HTTP/1.1,
//! so the call is forwarded as it is and the answer streamed back.

use std::net::IpAddr;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Uri, header};

use crate::Gateway;
use crate::body_limit::is_too_large;
use crate::errors::GatewayError;

/// Forwards `request` from `client` to the services.
pub async fn forward(
    gateway: &Gateway,
    request: axum::extract::Request,
    client: Option<IpAddr>,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let limit = gateway.body_limit(&parts.method, parts.uri.path());
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme("http")
        .authority(gateway.upstream.clone())
        .path_and_query(path)
        .build();
    parts.uri = match uri {
        Ok(uri) => uri,
        Err(e) => return GatewayError::Internal(e.into()).into_response(),
    };
    parts.version = http::Version::HTTP_11;
    parts.headers.remove(header::HOST);
    parts.headers.remove(header::CONNECTION);
    // The services trust this from the gateway (FREEDUMB_TRUSTED_PROXIES):
    // it is the client the gateway determined, not what the client claimed.
    if let Some(client) = client
        && let Ok(value) = HeaderValue::from_str(&client.to_string())
    {
        parts.headers.insert("x-forwarded-for", value);
    }
    super::trace_context::inject(&mut parts.headers);
    match gateway
        .http
        .request(http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response.map(Body::new),
        Err(e) if is_too_large(&e) => GatewayError::BodyTooLarge { limit }.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "gRPC-web upstream failed");
            GatewayError::Unavailable.into_response()
        }
    }
}
