//! The whole edge (`Gateway::router`) driven with `oneshot`, no sockets:
//! the services are either unreachable (for calls the gateway answers
//! itself) or an in-memory upstream over `tokio::io::duplex`; access tokens
//! come from a test issuer whose public key the verifier trusts.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::ConnectInfo;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use freedumb_kit::auth::{
    ACCESS_TOKEN_TYPE, AccessClaims, KeySource, SIGNING_ALGORITHM, TokenVerifier,
};
use freedumb_kit::state::SharedState;
use freedumb_proto::auth::JsonWebKey;
use http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use tonic::server::NamedService;
use tower::ServiceExt as _;
use uuid::Uuid;

use crate::codec::RawCodec;
use crate::{Gateway, GatewayConfig};

/// The address every test request comes from.
pub fn client_addr() -> SocketAddr {
    SocketAddr::from(([203, 0, 113, 7], 40_000))
}

/// The `[gateway]` section with `per_minute` calls per bucket.
pub fn limits_of(per_minute: u64) -> GatewayConfig {
    GatewayConfig {
        auth_per_minute: per_minute,
        user_per_minute: per_minute,
        ..GatewayConfig::default()
    }
}

/// A gateway whose services are never reached: for calls it answers itself.
pub fn gateway_without_services(config: &GatewayConfig) -> Gateway {
    let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:9").connect_lazy();
    assemble(channel, config)
}

/// A gateway whose services answer with the message bytes `reply`: every
/// unary AuthService call, and every LedgerService stream (one message).
pub fn gateway_with_services_replying(reply: impl Into<Bytes>) -> Gateway {
    let reply = reply.into();
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(FixedReply(reply.clone()))
            .add_service(FixedStream(reply))
            .serve_with_incoming(tokio_stream::once(Ok::<_, std::io::Error>(server))),
    );
    let mut client = Some(client);
    let channel = tonic::transport::Endpoint::from_static("http://upstream.test")
        .connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let client = client.take();
            async move {
                client.map(hyper_util::rt::TokioIo::new).ok_or_else(|| {
                    std::io::Error::other("the in-memory upstream is connected once")
                })
            }
        }));
    assemble(channel, &GatewayConfig::default())
}

fn assemble(channel: tonic::transport::Channel, config: &GatewayConfig) -> Gateway {
    Gateway::assemble(
        channel,
        http::uri::Authority::from_static("127.0.0.1:9"),
        &freedumb_kit::Config::default(),
        config,
        SharedState::in_process().limiter,
    )
    .expect("gateway")
}

/// A GET of `path`, with `token` as bearer when given.
pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).expect("request")
}

/// Sends `request` from [`client_addr`] through the whole router; the
/// status, headers and body.
pub async fn send_raw(
    router: &axum::Router,
    mut request: Request<Body>,
) -> (StatusCode, HeaderMap, Bytes) {
    request.extensions_mut().insert(ConnectInfo(client_addr()));
    let response = router.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    (parts.status, parts.headers, bytes)
}

/// [`send_raw`] with the body as JSON (`Null` when it is not JSON).
pub async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let (status, headers, bytes) = send_raw(router, request).await;
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, json)
}

/// The `ErrorInfo` of an error body.
pub fn error_info(body: &Value) -> &Value {
    body["details"]
        .as_array()
        .and_then(|details| {
            details
                .iter()
                .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        })
        .unwrap_or(&Value::Null)
}

/// Answers every call of its service with the same message bytes.
#[derive(Clone)]
struct FixedReply(Bytes);

impl NamedService for FixedReply {
    const NAME: &'static str = "freedumb.auth.v1.AuthService";
}

impl tower::Service<http::Request<tonic::body::Body>> for FixedReply {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let reply = self.clone();
        Box::pin(async move {
            Ok(tonic::server::Grpc::new(RawCodec)
                .unary(reply, request)
                .await)
        })
    }
}

impl tonic::server::UnaryService<Bytes> for FixedReply {
    type Response = Bytes;
    type Future = std::future::Ready<Result<tonic::Response<Bytes>, tonic::Status>>;

    fn call(&mut self, _: tonic::Request<Bytes>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(self.0.clone())))
    }
}

/// Answers every stream of its service with one message.
#[derive(Clone)]
struct FixedStream(Bytes);

impl NamedService for FixedStream {
    const NAME: &'static str = "freedumb.ledger.v1.LedgerService";
}

impl tower::Service<http::Request<tonic::body::Body>> for FixedStream {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let reply = self.clone();
        Box::pin(async move {
            Ok(tonic::server::Grpc::new(RawCodec)
                .server_streaming(reply, request)
                .await)
        })
    }
}

impl tonic::server::ServerStreamingService<Bytes> for FixedStream {
    type Response = Bytes;
    type ResponseStream = futures::stream::Iter<std::vec::IntoIter<Result<Bytes, tonic::Status>>>;
    type Future = std::future::Ready<Result<tonic::Response<Self::ResponseStream>, tonic::Status>>;

    fn call(&mut self, _: tonic::Request<Bytes>) -> Self::Future {
        let messages = futures::stream::iter(vec![Ok(self.0.clone())]);
        std::future::ready(Ok(tonic::Response::new(messages)))
    }
}

/// Signs access tokens as the auth service would.
pub struct Issuer {
    kid: String,
    key: jsonwebtoken::EncodingKey,
    jwk: JsonWebKey,
}

impl Issuer {
    pub fn new() -> Self {
        freedumb_kit::auth::crypto::install();
        let key = freedumb_kit::auth::crypto::generate_rsa_key().expect("RSA key");
        let kid = Uuid::new_v4().simple().to_string();
        let jwk = JsonWebKey {
            kty: "RSA".into(),
            kid: kid.clone(),
            alg: "RS256".into(),
            r#use: "sig".into(),
            n: URL_SAFE_NO_PAD.encode(&key.modulus),
            e: URL_SAFE_NO_PAD.encode(&key.exponent),
        };
        Self {
            kid,
            key: jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key_pem.as_bytes())
                .expect("key"),
            jwk,
        }
    }

    /// A verifier that trusts this issuer, as the mesh builds it.
    pub fn verifier(&self) -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier::new(
            &freedumb_kit::config::TokenConfig::default(),
            Arc::new(Jwks(vec![self.jwk.clone()])),
            SharedState::in_process().revocations,
        ))
    }

    /// A valid access token of `user`.
    pub fn token(&self, user: Uuid) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let defaults = freedumb_kit::config::TokenConfig::default();
        let claims = AccessClaims {
            iss: defaults.issuer,
            sub: user,
            aud: defaults.audience,
            exp: now + 600,
            nbf: now,
            iat: now,
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
        };
        let mut header = jsonwebtoken::Header::new(SIGNING_ALGORITHM);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign")
    }

    /// A token claiming `user` that no issuer signed: a valid token of
    /// someone else with its `sub` rewritten, signature kept.
    pub fn forged(&self, user: Uuid) -> String {
        let genuine = self.token(Uuid::new_v4());
        let parts: Vec<&str> = genuine.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64"))
                .expect("claims");
        claims["sub"] = Value::String(user.to_string());
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
        format!("{}.{payload}.{}", parts[0], parts[2])
    }
}

/// A fixed key set.
struct Jwks(Vec<JsonWebKey>);

#[async_trait::async_trait]
impl KeySource for Jwks {
    async fn fetch_keys(&self) -> anyhow::Result<Vec<JsonWebKey>> {
        Ok(self.0.clone())
    }
}
