//! The FREEDUMB edge for browsers and mobile apps: REST+JSON transcoding
//! derived at run time from the `google.api.http` annotations of the
//! contracts (no per-RPC code: a new annotated RPC is served as soon as it
//! is in the descriptor set), forwarded to the services over gRPC.
//!
//! Requests and responses use the canonical proto3 JSON mapping; errors are
//! the `google.rpc.Status` as JSON (`{code, message, details}`) with the
//! HTTP status its gRPC code maps to. Server-streaming RPCs answer with
//! newline-delimited JSON, one message per line.
#![forbid(unsafe_code)]

mod codec;
pub mod limits;
pub mod openapi;
pub mod routes;
pub mod transcode;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::json;
use tonic::transport::Channel;

use self::codec::RawCodec;
use self::routes::Route;

/// Request headers passed on to the services as gRPC metadata.
const FORWARDED: [&str; 4] = ["authorization", "traceparent", "tracestate", "x-request-id"];

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The transcoding gateway.
pub struct Gateway {
    routes: Vec<Route>,
    openapi: Bytes,
    pool: DescriptorPool,
    channel: Channel,
    timeout: Duration,
    /// gRPC-web passes through to here (the services speak it natively).
    upstream: http::uri::Authority,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Body,
    >,
    limits: Arc<limits::Limits>,
    cors_allowed_origins: Vec<HeaderValue>,
    hsts: bool,
    static_dir: Option<std::path::PathBuf>,
}

impl Gateway {
    /// Routes from the embedded descriptor set, calling the services at
    /// `upstream` (`http://host:port`), counting limits on `counters`.
    pub fn new(
        upstream: &str,
        config: &freedumb_kit::Config,
        counters: Arc<dyn freedumb_kit::state::Counters>,
    ) -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET)?;
        let routes = routes::from_descriptors(&pool).map_err(anyhow::Error::msg)?;
        let openapi = openapi::render(&pool, &routes)?.into();
        let uri: Uri = upstream.parse()?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("upstream {upstream} has no host"))?;
        let channel = tonic::transport::Endpoint::from_shared(upstream.to_owned())?.connect_lazy();
        // gRPC-web answers are written in small pieces (a message, then the
        // trailers): without TCP_NODELAY each call waits out a delayed ACK.
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        let cors_allowed_origins = config
            .gateway
            .cors_allowed_origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            routes,
            openapi,
            pool,
            channel,
            timeout: config.request_timeout(),
            upstream: authority,
            http,
            limits: Arc::new(limits::Limits::new(counters, config)),
            cors_allowed_origins,
            hsts: config.gateway.hsts,
            static_dir: config.gateway.static_dir.clone(),
        })
    }

    /// The routes served.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The axum router: every path goes through transcoding, behind the
    /// edge's layers (request ids, security headers, a 10 MB body limit,
    /// gzip).
    pub fn router(self: Arc<Self>) -> axum::Router {
        use tower_http::compression::Predicate as _;
        use tower_http::compression::predicate::{DefaultPredicate, NotForContentType};
        use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
        use tower_http::set_header::SetResponseHeaderLayer;
        let request_id = http::HeaderName::from_static("x-request-id");
        let header = |name: &'static str, value: &'static str| {
            SetResponseHeaderLayer::if_not_present(
                http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        };
        let cors = tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list(
                self.cors_allowed_origins.clone(),
            ))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                http::HeaderName::from_static("x-grpc-web"),
                http::HeaderName::from_static("x-user-agent"),
                http::HeaderName::from_static("grpc-timeout"),
                http::HeaderName::from_static("x-request-id"),
                http::HeaderName::from_static("connect-protocol-version"),
                http::HeaderName::from_static("connect-timeout-ms"),
            ])
            .expose_headers([
                http::HeaderName::from_static("grpc-status"),
                http::HeaderName::from_static("grpc-message"),
                http::HeaderName::from_static("grpc-status-details-bin"),
                http::HeaderName::from_static("x-request-id"),
                http::HeaderName::from_static("ratelimit-limit"),
                http::HeaderName::from_static("ratelimit-remaining"),
                http::HeaderName::from_static("ratelimit-reset"),
                header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(3600));
        let hsts = self.hsts.then(|| {
            header(
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            )
        });
        let limits = self.limits.clone();
        let mut router = axum::Router::new();
        if let Some(dir) = &self.static_dir {
            router = router.nest_service("/app", tower_http::services::ServeDir::new(dir));
        }
        router
            .route("/openapi.json", axum::routing::get(openapi_json))
            .fallback(dispatch)
            .with_state(self)
            .layer(axum::middleware::from_fn_with_state(limits, limits::limit))
            .layer(tower::util::option_layer(hsts))
            .layer(
                // Streams (NDJSON, gRPC-web) go out uncompressed, so each
                // message reaches the client as soon as it is written.
                tower_http::compression::CompressionLayer::new()
                    .gzip(true)
                    .compress_when(
                        DefaultPredicate::new()
                            .and(NotForContentType::const_new("application/x-ndjson"))
                            .and(NotForContentType::const_new("application/grpc-web")),
                    ),
            )
            .layer(tower_http::limit::RequestBodyLimitLayer::new(
                MAX_BODY_BYTES,
            ))
            .layer(header("x-content-type-options", "nosniff"))
            .layer(header("referrer-policy", "no-referrer"))
            .layer(header("x-frame-options", "DENY"))
            .layer(PropagateRequestIdLayer::new(request_id.clone()))
            .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
            .layer(cors)
    }

    fn status_message(&self) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name("google.rpc.Status")
    }

    /// The JSON error response for a gRPC status.
    fn error(&self, status: &tonic::Status) -> Response {
        let http = http_status(status.code());
        let mut body = json!({
            "code": status.code() as i32,
            "message": status.message(),
            "details": [],
        });
        if !status.details().is_empty()
            && let Some(desc) = self.status_message()
            && let Ok(decoded) = DynamicMessage::decode(desc, status.details())
            && let Ok(value) = serde_json::to_value(&decoded)
        {
            body = value;
            if body.get("details").is_none() {
                body["details"] = json!([]);
            }
        }
        let mut response = (http, axum::Json(body)).into_response();
        if status.code() == tonic::Code::ResourceExhausted
            && let Some(wait) = retry_after(status)
        {
            response.headers_mut().insert(header::RETRY_AFTER, wait);
        }
        response
    }
}

/// `Retry-After` seconds from a status's `RetryInfo`.
fn retry_after(status: &tonic::Status) -> Option<HeaderValue> {
    use tonic_types::StatusExt as _;
    let delay = status.get_details_retry_info()?.retry_delay?;
    HeaderValue::from_str(&delay.as_secs().max(1).to_string()).ok()
}

async fn openapi_json(State(gateway): State<Arc<Gateway>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        gateway.openapi.clone(),
    )
        .into_response()
}

/// The OpenAPI document of the contracts, as served at `/openapi.json`.
pub fn openapi_document() -> anyhow::Result<String> {
    let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET)?;
    let routes = routes::from_descriptors(&pool).map_err(anyhow::Error::msg)?;
    Ok(openapi::render(&pool, &routes)?)
}

/// The HTTP status a gRPC code maps to (google.rpc.Code's documented mapping).
pub fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code as C;
    match code {
        C::Ok => StatusCode::OK,
        C::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        C::InvalidArgument | C::FailedPrecondition | C::OutOfRange => StatusCode::BAD_REQUEST,
        C::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        C::NotFound => StatusCode::NOT_FOUND,
        C::AlreadyExists | C::Aborted => StatusCode::CONFLICT,
        C::PermissionDenied => StatusCode::FORBIDDEN,
        C::Unauthenticated => StatusCode::UNAUTHORIZED,
        C::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        C::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        C::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::Unknown | C::Internal | C::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON error the gateway itself answers with (no service involved).
fn local_error(
    http: StatusCode,
    code: tonic::Code,
    message: String,
    field: Option<(&str, &str)>,
) -> Response {
    let details = match field {
        Some((field, description)) => json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{ "field": field, "description": description }],
        }]),
        None => json!([]),
    };
    let body = json!({ "code": code as i32, "message": message, "details": details });
    (http, axum::Json(body)).into_response()
}

/// gRPC-web goes through as it is; everything else is transcoded.
async fn dispatch(
    State(gateway): State<Arc<Gateway>>,
    request: axum::extract::Request,
) -> Response {
    let grpc_web = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc-web"));
    let client = request
        .extensions()
        .get::<limits::ClientAddr>()
        .map(|c| c.0);
    if grpc_web {
        let mut request = request;
        if let Some(client) = client
            && let Ok(value) = HeaderValue::from_str(&client.to_string())
        {
            request.headers_mut().insert("x-forwarded-for", value);
        }
        return proxy_grpc_web(&gateway, request).await;
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return local_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::InvalidArgument,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                None,
            );
        }
    };
    handle(
        &gateway,
        parts.method,
        parts.uri,
        parts.headers,
        client,
        body,
    )
    .await
}

/// Forwards a gRPC-web call to the services (which speak gRPC-web over
/// HTTP/1.1 natively) and streams the answer back.
async fn proxy_grpc_web(gateway: &Gateway, request: axum::extract::Request) -> Response {
    let (mut parts, body) = request.into_parts();
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
    let Ok(uri) = uri else {
        return gateway.error(&tonic::Status::internal("bad upstream"));
    };
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    parts.headers.remove(header::HOST);
    parts.headers.remove(header::CONNECTION);
    match gateway
        .http
        .request(http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response.map(Body::new),
        Err(e) => {
            tracing::warn!(error = %e, "gRPC-web upstream failed");
            gateway.error(&tonic::Status::unavailable("the service is unavailable"))
        }
    }
}

async fn handle(
    gateway: &Arc<Gateway>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    client: Option<std::net::IpAddr>,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let mut allowed = Vec::new();
    let mut found = None;
    for route in &gateway.routes {
        if let Some(variables) = route.template.matches(path) {
            if route.method == method {
                found = Some((route, variables));
                break;
            }
            allowed.push(route.method.as_str());
        }
    }
    let Some((route, variables)) = found else {
        if allowed.is_empty() {
            return local_error(
                StatusCode::NOT_FOUND,
                tonic::Code::NotFound,
                format!("no route for {method} {path}"),
                None,
            );
        }
        let mut response = local_error(
            StatusCode::METHOD_NOT_ALLOWED,
            tonic::Code::Unimplemented,
            format!(
                "{method} is not allowed on {path}; use {}",
                allowed.join(", ")
            ),
            None,
        );
        if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        return response;
    };
    let message = match transcode::request(route, &variables, uri.query(), &body) {
        Ok(message) => message,
        Err(bad) => {
            return local_error(
                StatusCode::BAD_REQUEST,
                tonic::Code::InvalidArgument,
                format!("invalid {}: {}", bad.field, bad.description),
                Some((&bad.field, &bad.description)),
            );
        }
    };
    let mut request = tonic::Request::new(Bytes::from(message.encode_to_vec()));
    for name in FORWARDED {
        if let Some(value) = headers.get(name)
            && let Ok(value) = tonic::metadata::MetadataValue::try_from(value.as_bytes())
        {
            request.metadata_mut().insert(name, value);
        }
    }
    // The services trust this from the gateway (FREEDUMB_TRUSTED_PROXIES):
    // it is the client the gateway determined, not what the client claimed.
    if let Some(client) = client
        && let Ok(value) = tonic::metadata::MetadataValue::try_from(client.to_string())
    {
        request.metadata_mut().insert("x-forwarded-for", value);
    }
    // Streams (watches) live as long as the client keeps them open.
    if !route.rpc.is_server_streaming() {
        request.set_timeout(gateway.timeout);
    }
    let grpc_path = match http::uri::PathAndQuery::try_from(route.grpc_path()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "bad gRPC path");
            return gateway.error(&tonic::Status::internal("bad route"));
        }
    };
    let mut client = tonic::client::Grpc::new(gateway.channel.clone());
    if let Err(e) = client.ready().await {
        tracing::warn!(error = %e, "upstream not ready");
        return gateway.error(&tonic::Status::unavailable("the service is unavailable"));
    }
    let output = route.rpc.output();
    if route.rpc.is_server_streaming() {
        return match client.server_streaming(request, grpc_path, RawCodec).await {
            Ok(response) => {
                let lines = response.into_inner().map(move |item| {
                    let line = match item {
                        Ok(bytes) => to_json(&output, &bytes),
                        Err(status) => json!({ "error": {
                            "code": status.code() as i32, "message": status.message(),
                        }}),
                    };
                    let mut text = line.to_string();
                    text.push('\n');
                    Ok::<_, std::convert::Infallible>(Bytes::from(text))
                });
                let mut response = Response::new(Body::from_stream(lines));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                );
                response
            }
            Err(status) => gateway.error(&status),
        };
    }
    match client.unary(request, grpc_path, RawCodec).await {
        Ok(response) => axum::Json(to_json(&output, response.get_ref())).into_response(),
        Err(status) => gateway.error(&status),
    }
}

/// A response message as canonical JSON.
fn to_json(desc: &MessageDescriptor, bytes: &[u8]) -> serde_json::Value {
    match DynamicMessage::decode(desc.clone(), bytes) {
        Ok(message) => serde_json::to_value(&message).unwrap_or_else(|e| {
            tracing::error!(error = %e, "response does not serialize");
            json!({})
        }),
        Err(e) => {
            tracing::error!(error = %e, message = desc.full_name(), "response does not decode");
            json!({})
        }
    }
}

#[cfg(test)]
mod tests {
    /// The checked-in `openapi.json` is what the contracts generate. Run
    /// with `UPDATE_OPENAPI=1` to rewrite it after changing a contract.
    #[test]
    fn the_checked_in_openapi_document_is_current() {
        let generated = super::openapi_document().expect("document");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).expect("write openapi.json");
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "gateway-rest/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p freedumb-gateway` and commit it"
        );
    }
}
