use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use freedumb_proto::common::ErrorReason;
use tonic::Code;
use tower::{Layer, Service};

use super::verifier::{TokenError, TokenVerifier};
use crate::error;

/// The gRPC methods callable without an access token.
#[derive(Debug, Clone, Default)]
pub struct PublicMethods {
    paths: HashSet<String>,
}

impl PublicMethods {
    /// Services that are always public: health checks and reflection.
    const PUBLIC_PREFIXES: [&str; 2] = ["/grpc.health.v1.Health/", "/grpc.reflection."];

    /// Allows `method` (a full path such as
    /// `/freedumb.auth.v1.AuthService/Login`) without a token.
    pub fn allow(&mut self, method: impl Into<String>) {
        self.paths.insert(method.into());
    }

    /// Whether `path` needs no token.
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains(path) || Self::PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p))
    }
}

/// Verifies the bearer token of every non-public call; sits innermost in the
/// stack so rejected calls are still traced and counted.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
    public: Arc<PublicMethods>,
}

impl AuthLayer {
    /// A layer that checks tokens with `verifier`, except on `public` methods.
    pub fn new(verifier: Arc<TokenVerifier>, public: PublicMethods) -> Self {
        Self {
            verifier,
            public: Arc::new(public),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
            public: self.public.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Arc<TokenVerifier>,
    public: Arc<PublicMethods>,
}

impl<S, B, ResB> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The service that was polled ready serves this call; its clone
        // serves the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if self.public.contains(req.uri().path()) {
            return Box::pin(inner.call(req));
        }
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let token = match bearer_token(req.headers()) {
                Some(token) => token,
                None => {
                    return Ok(unauthenticated(
                        "missing bearer token in the authorization header",
                    ));
                }
            };
            match verifier.verify(&token).await {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(TokenError::KeysUnavailable(cause)) => {
                    tracing::warn!(error = ?cause, "cannot verify tokens: key set unavailable");
                    Ok(error::unavailable(
                        "token verification is temporarily unavailable; retry shortly",
                        std::time::Duration::from_secs(1),
                    )
                    .into_http())
                }
                Err(e) => {
                    tracing::debug!(reason = %e, "token refused");
                    Ok(unauthenticated(&e.to_string()))
                }
            }
        })
    }
}

fn unauthenticated<B: Default>(message: &str) -> http::Response<B> {
    error::status(Code::Unauthenticated, ErrorReason::InvalidToken, message).into_http()
}

fn bearer_token(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_reflection_are_always_public() {
        let public = PublicMethods::default();
        assert!(public.contains("/grpc.health.v1.Health/Check"));
        assert!(public.contains("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
        assert!(!public.contains("/freedumb.auth.v1.AuthService/GetMe"));
    }

    #[test]
    fn bearer_token_is_parsed_case_insensitively() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "bearer abc".parse().expect("header"),
        );
        assert_eq!(bearer_token(&headers).as_deref(), Some("abc"));
        headers.insert(
            http::header::AUTHORIZATION,
            "Basic abc".parse().expect("header"),
        );
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer ".parse().expect("header"),
        );
        assert_eq!(bearer_token(&headers), None);
    }
}
