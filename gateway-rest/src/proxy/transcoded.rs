//! A REST+JSON call as a gRPC call: find the route, build the request
//! message, forward the caller's metadata, call, and answer with the reply.

use std::net::IpAddr;

use axum::response::Response;
use bytes::Bytes;
use freedumb_kit::trace::TraceContextInjector;
use http::{HeaderMap, Method, Uri};
use prost::Message as _;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;

use super::{reply, upload};
use crate::Gateway;
use crate::codec::RawCodec;
use crate::errors::GatewayError;
use crate::routes::Route;
use crate::transcode;

/// Request headers passed on to the services as gRPC metadata.
const FORWARDED: [&str; 4] = ["authorization", "traceparent", "tracestate", "x-request-id"];

/// The field path and still percent-encoded value of each path variable.
type Variables = Vec<(String, String)>;

/// A REST call, its body read.
pub struct Call {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    /// The client the gateway determined (see `limits`).
    pub client: Option<IpAddr>,
    pub body: Bytes,
}

/// Transcodes `call`, calls the service and transcodes its reply.
pub async fn handle(gateway: &Gateway, call: Call) -> Result<Response, GatewayError> {
    let (route, variables) = find_route(&gateway.routes, &call.method, call.uri.path())?;
    if !call.headers.contains_key(http::header::AUTHORIZATION) && !route.is_public() {
        return Err(GatewayError::MissingToken);
    }
    let message = if route.upload_field().is_some() {
        let file = upload::file(&call.headers, call.body.clone()).await?;
        transcode::upload(route, &variables, call.uri.query(), file)
    } else {
        transcode::request(route, &variables, call.uri.query(), &call.body)
    }
    .map_err(GatewayError::InvalidRequest)?;
    let mut request = tonic::Request::new(Bytes::from(message.encode_to_vec()));
    for name in FORWARDED {
        if let Some(value) = call.headers.get(name)
            && let Ok(value) = MetadataValue::try_from(value.as_bytes())
        {
            request.metadata_mut().insert(name, value);
        }
    }
    // The services trust this from the gateway (FREEDUMB_TRUSTED_PROXIES):
    // it is the client the gateway determined, not what the client claimed.
    if let Some(client) = call.client
        && let Ok(value) = MetadataValue::try_from(client.to_string())
    {
        request.metadata_mut().insert("x-forwarded-for", value);
    }
    // Streams (watches) live as long as the client keeps them open.
    if !route.rpc.is_server_streaming() {
        request.set_timeout(gateway.timeout);
    }
    let grpc_path = http::uri::PathAndQuery::try_from(route.grpc_path())
        .map_err(|e| GatewayError::Internal(anyhow::Error::new(e).context("bad gRPC path")))?;
    // The services continue the gateway's span (see `trace_context`).
    let channel = InterceptedService::new(gateway.channel.clone(), TraceContextInjector);
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| {
        tracing::warn!(error = %e, "upstream not ready");
        GatewayError::Unavailable
    })?;
    if route.rpc.is_server_streaming() {
        let replies = client
            .server_streaming(request, grpc_path, RawCodec)
            .await?;
        if route.rpc.output().full_name() == crate::routes::HTTP_BODY {
            return reply::file(replies).await;
        }
        return Ok(reply::stream(route.rpc.clone(), replies.into_inner()));
    }
    let reply = client.unary(request, grpc_path, RawCodec).await?;
    reply::unary(&route.rpc, reply.get_ref())
}

/// The route for `method` on `path` and its variables (still
/// percent-encoded), or why there is none.
fn find_route<'a>(
    routes: &'a [Route],
    method: &Method,
    path: &str,
) -> Result<(&'a Route, Variables), GatewayError> {
    let mut allowed = Vec::new();
    // The routes come with custom verbs first (`Gateway::assemble`). Once a
    // route with a verb has the path (`/v1/accounts/7:archive`), a route
    // without one must not take the verb into its last variable: the
    // answer is 405 with the verb route's method.
    let mut verb_matched = false;
    for route in routes {
        if verb_matched && route.template.verb.is_none() {
            break;
        }
        if let Some(variables) = route.template.captures(path) {
            verb_matched |= route.template.verb.is_some();
            if route.method == method {
                return Ok((route, variables));
            }
            allowed.push(route.method.clone());
        }
    }
    let (method, path) = (method.clone(), path.to_owned());
    Err(if allowed.is_empty() {
        GatewayError::NoRoute { method, path }
    } else {
        GatewayError::MethodNotAllowed {
            method,
            path,
            allowed,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_verb_is_not_taken_for_part_of_an_id() {
        let pool = prost_reflect::DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptors");
        let mut routes = crate::routes::from_descriptors(&pool).expect("routes");
        crate::routes::verbs_first(&mut routes);
        for (path, rpc, id) in [
            ("/v1/ledger/operations/0190:watch", "WatchOperation", "0190"),
            ("/v1/ledger/operations/0190", "GetOperation", "0190"),
            (
                "/v1/analytics/operations/0190:watch",
                "WatchOperation",
                "0190",
            ),
        ] {
            let (route, variables) = find_route(&routes, &Method::GET, path).expect(path);
            assert_eq!(route.rpc.name(), rpc, "{path}");
            assert_eq!(variables, vec![("operation_id".to_owned(), id.to_owned())]);
        }
    }
}
