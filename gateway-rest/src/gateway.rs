//! The gateway: its routes, its upstream, and the router that serves them
//! behind the edge's layers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use freedumb_kit::auth::TokenVerifier;
use freedumb_kit::ratelimit::RateLimiter;
use http::{HeaderValue, Method, Uri, header};
use prost_reflect::DescriptorPool;
use tonic::transport::Channel;

use crate::config::GatewayConfig;
use crate::limits::{self, Limits};
use crate::routes::{self, Route};
use crate::{body_limit, errors, openapi, proxy};

/// The transcoding gateway.
pub struct Gateway {
    pub(crate) routes: Vec<Route>,
    openapi: Bytes,
    pub(crate) channel: Channel,
    pub(crate) timeout: Duration,
    /// gRPC-web passes through to here (the services speak it natively).
    pub(crate) upstream: http::uri::Authority,
    pub(crate) http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Body,
    >,
    limits: Limits,
    /// The body limit of upload routes (REST and gRPC-web).
    upload_max_bytes: usize,
    cors_allowed_origins: Vec<HeaderValue>,
    hsts: bool,
    static_dir: Option<std::path::PathBuf>,
}

impl Gateway {
    /// Routes from the embedded descriptor set, calling the services at
    /// `upstream` (`http://host:port`), counting limits on `limiter`, per
    /// the `[gateway]` section of `config`. Until [`Gateway::with_verifier`]
    /// every call counts against its client address.
    pub fn new(
        upstream: &str,
        config: &freedumb_kit::Config,
        limiter: Arc<dyn RateLimiter>,
    ) -> anyhow::Result<Self> {
        let gateway: GatewayConfig = config.section()?;
        let uri: Uri = upstream.parse()?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("upstream {upstream} has no host"))?;
        let channel = tonic::transport::Endpoint::from_shared(upstream.to_owned())?.connect_lazy();
        Self::assemble(channel, authority, config, &gateway, limiter)
    }

    /// The gateway over an existing `channel` to the services (tests pass
    /// an in-memory one).
    pub(crate) fn assemble(
        channel: Channel,
        upstream: http::uri::Authority,
        config: &freedumb_kit::Config,
        gateway: &GatewayConfig,
        limiter: Arc<dyn RateLimiter>,
    ) -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET)?;
        let mut routes = routes::from_descriptors(&pool).map_err(anyhow::Error::msg)?;
        let openapi = openapi::render(&pool, &routes)?.into();
        routes::verbs_first(&mut routes);
        anyhow::ensure!(
            errors::renderable(),
            "the descriptor set lacks google.rpc.Status"
        );
        // gRPC-web answers are written in small pieces (a message, then the
        // trailers): without TCP_NODELAY each call waits out a delayed ACK.
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        let cors_allowed_origins = gateway
            .cors_allowed_origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            routes,
            openapi,
            channel,
            timeout: config.request_timeout(),
            upstream,
            http,
            limits: Limits::new(limiter, config, gateway),
            upload_max_bytes: usize::try_from(gateway.upload_max_bytes).unwrap_or(usize::MAX),
            cors_allowed_origins,
            hsts: gateway.hsts,
            static_dir: gateway.static_dir.clone(),
        })
    }

    /// Verifies access tokens with `verifier` so that rate limits count per
    /// user; calls without a token that verifies count per client address.
    pub fn with_verifier(self, verifier: Arc<TokenVerifier>) -> Self {
        Self {
            limits: self.limits.with_verifier(verifier),
            ..self
        }
    }

    /// The routes served.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The largest body a request to `path` may have: the upload limit
    /// for upload routes (by REST path, or by gRPC path for gRPC-web),
    /// [`crate::MAX_BODY_BYTES`] for everything else.
    pub fn body_limit(&self, method: &http::Method, path: &str) -> usize {
        let upload = self.routes.iter().any(|route| {
            route.upload_field().is_some()
                && ((route.method == method && route.template.captures(path).is_some())
                    || route.grpc_path() == path)
        });
        if upload {
            self.upload_max_bytes.max(crate::MAX_BODY_BYTES)
        } else {
            crate::MAX_BODY_BYTES
        }
    }

    /// The axum router: every path goes through transcoding, behind the
    /// edge's layers (request ids, trace context, security headers, a 10 MB
    /// body limit (uploads: `upload_max_bytes`), gzip, rate limits).
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
        let hsts = self.hsts.then(|| {
            header(
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            )
        });
        let cors = self.cors();
        let limits = Arc::new(self.limits.clone());
        let body_limits = self.clone();
        let mut router = axum::Router::new();
        if let Some(dir) = &self.static_dir {
            router = router.nest_service("/app", tower_http::services::ServeDir::new(dir));
        }
        // Outermost last. Refusals (413, 429) get the same headers, ids and
        // trace as answers.
        router
            .route("/openapi.json", axum::routing::get(openapi_json))
            .fallback(proxy::dispatch)
            .with_state(self)
            // Counts only calls that got past the body limit.
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
            .layer(axum::middleware::from_fn_with_state(
                body_limits,
                body_limit::limit_body,
            ))
            .layer(header("x-content-type-options", "nosniff"))
            .layer(header("referrer-policy", "no-referrer"))
            .layer(header("x-frame-options", "DENY"))
            // A span per call, continuing the caller's trace: errors are
            // logged with its trace id, and the services continue it.
            .layer(freedumb_kit::trace::TraceLayer)
            .layer(PropagateRequestIdLayer::new(request_id.clone()))
            .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
            .layer(cors)
    }

    /// CORS for the configured browser origins.
    fn cors(&self) -> tower_http::cors::CorsLayer {
        tower_http::cors::CorsLayer::new()
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
            .max_age(Duration::from_secs(3600))
    }
}

async fn openapi_json(
    axum::extract::State(gateway): axum::extract::State<Arc<Gateway>>,
) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        gateway.openapi.clone(),
    )
        .into_response()
}
