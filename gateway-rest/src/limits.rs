//! Rate limits at the edge, by GCRA on the shared limiter (Redis when
//! configured, so every gateway replica enforces one limit, with an
//! in-process fallback while Redis does not answer; in-process otherwise):
//! sign-in routes per client address, the rest per user whose access token
//! the gateway verified, per client address otherwise. Claims of a token that does not verify are never used: a
//! forged `sub` would open a fresh bucket per forgery. Answers carry
//! `RateLimit-*` headers; refusals are 429 with `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use freedumb_kit::auth::{TokenError, TokenVerifier};
use freedumb_kit::client::TrustedProxies;
use freedumb_kit::ratelimit::{Quota, RateLimiter};
use http::{HeaderMap, HeaderValue};
use uuid::Uuid;

use crate::config::GatewayConfig;
use crate::errors::GatewayError;

/// The limiter and its settings.
#[derive(Clone)]
pub struct Limits {
    limiter: Arc<dyn RateLimiter>,
    auth: Quota,
    user: Quota,
    proxies: TrustedProxies,
    /// Identifies callers by their access token; without one every call
    /// counts per address.
    verifier: Option<Arc<TokenVerifier>>,
    /// Tokens that failed verification lately, so a client repeating a
    /// forged token costs a hash, not a signature check, per call.
    rejected: moka::sync::Cache<[u8; 32], ()>,
}

/// How long a rejected token is not checked again.
const REJECTED_FOR: Duration = Duration::from_secs(60);

/// Rejected tokens remembered at most (32 bytes each).
const REJECTED_CAPACITY: u64 = 100_000;

impl Limits {
    /// Limits from the config on `limiter`, counting every call per
    /// address until [`Limits::with_verifier`].
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        config: &freedumb_kit::Config,
        gateway: &GatewayConfig,
    ) -> Self {
        Self {
            limiter,
            auth: Quota::per_minute(gateway.auth_per_minute),
            user: Quota::per_minute(gateway.user_per_minute),
            proxies: TrustedProxies::new(config.trusted_proxies.iter().copied()),
            verifier: None,
            rejected: moka::sync::Cache::builder()
                .max_capacity(REJECTED_CAPACITY)
                .time_to_live(REJECTED_FOR)
                .build(),
        }
    }

    /// Counts the calls of callers with a valid access token per user.
    pub fn with_verifier(self, verifier: Arc<TokenVerifier>) -> Self {
        Self {
            verifier: Some(verifier),
            ..self
        }
    }

    /// The client's address: the peer, or what a trusted proxy said.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        self.proxies.client(peer, forwarded)
    }

    /// The bucket a call to `path` counts in, and its quota.
    async fn bucket(&self, path: &str, headers: &HeaderMap, client: IpAddr) -> (Bucket, Quota) {
        if is_auth(path) {
            return (Bucket::SignIn(client), self.auth);
        }
        let bucket = match self.verified_user(headers).await {
            Some(user) => Bucket::User(user),
            None => Bucket::Address(client),
        };
        (bucket, self.user)
    }

    /// The user of a bearer token that verifies. Any other token counts as
    /// none: its claims are whatever the caller wrote.
    async fn verified_user(&self, headers: &HeaderMap) -> Option<Uuid> {
        use sha2::Digest as _;
        let verifier = self.verifier.as_ref()?;
        let token = bearer_token(headers)?;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if self.rejected.contains_key(&digest) {
            return None;
        }
        // Only the bucket depends on it: the verifier remembers verified
        // tokens (no RSA check per call), and the revocation check is the
        // service's (a token revoked meanwhile still counts for its user).
        match verifier.identify(token).await {
            Ok(caller) => Some(caller.user_id),
            Err(TokenError::KeysUnavailable(e)) => {
                tracing::warn!(error = ?e, "token keys unavailable: counting per address");
                None
            }
            // The service refuses the token itself, with the reason.
            Err(e) => {
                tracing::debug!(reason = %e, "unverified token: counting per address");
                self.rejected.insert(digest, ());
                None
            }
        }
    }
}

/// The client address the gateway determined, for the services.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// What a call is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bucket {
    /// Sign-in and sign-up calls of one address.
    SignIn(IpAddr),
    /// Calls of one verified user, from anywhere.
    User(Uuid),
    /// Other calls of one address (no token, or one that did not verify).
    Address(IpAddr),
}

impl Bucket {
    /// The counter's key.
    fn key(&self) -> String {
        match self {
            Self::SignIn(client) => format!("ratelimit:auth:{client}"),
            Self::User(user) => format!("ratelimit:user:{user}"),
            Self::Address(client) => format!("ratelimit:anon:{client}"),
        }
    }
}

/// Whether `path` signs in or creates an account (REST or gRPC-web): the
/// calls a password guesser or sign-up spammer makes, limited per address.
/// The rest of auth (GetMe, Logout, ...) counts per user like any call.
fn is_auth(path: &str) -> bool {
    matches!(
        path,
        "/v1/auth:register"
            | "/v1/auth:confirmRegistration"
            | "/v1/auth:login"
            | "/v1/auth:refresh"
            | "/freedumb.auth.v1.AuthService/Register"
            | "/freedumb.auth.v1.AuthService/ConfirmRegistration"
            | "/freedumb.auth.v1.AuthService/Login"
            | "/freedumb.auth.v1.AuthService/Refresh"
    )
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The middleware.
pub async fn limit(
    State(limits): State<Arc<Limits>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = limits.client(peer.ip(), request.headers());
    request.extensions_mut().insert(ClientAddr(client));
    let path = request.uri().path();
    if path == "/openapi.json" || request.method() == http::Method::OPTIONS {
        return next.run(request).await;
    }
    let (bucket, quota) = limits.bucket(path, request.headers(), client).await;
    let decision = match limits.limiter.take(&bucket.key(), quota).await {
        Ok(decision) => decision,
        Err(e) => {
            // Only an in-process limiter without a fallback gets here,
            // and it does not fail; a shared one falls back to a local
            // limit (FallbackLimiter) rather than letting every call in.
            tracing::error!(error = %e, "rate limiter failed");
            return GatewayError::Unavailable.into_response();
        }
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        GatewayError::RateLimited {
            limit: quota.limit,
            retry_after: whole_seconds(decision.retry_after),
        }
        .into_response()
    };
    let headers = response.headers_mut();
    insert(headers, "ratelimit-limit", quota.limit);
    insert(headers, "ratelimit-remaining", decision.remaining);
    insert(
        headers,
        "ratelimit-reset",
        whole_seconds(decision.reset).as_secs(),
    );
    response
}

/// `d` rounded up to whole seconds, at least one (the headers' unit).
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(Duration::from_secs(1))
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: u64) {
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(http::HeaderName::from_static(name), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::state::SharedState;

    #[test]
    fn the_client_comes_from_x_forwarded_for_of_trusted_proxies_only() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let config = freedumb_kit::Config {
            trusted_proxies: vec![proxy.into()],
            ..Default::default()
        };
        let limits = Limits::new(
            SharedState::in_process().limiter,
            &config,
            &GatewayConfig::default(),
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.1"),
        );
        assert_eq!(
            limits.client(proxy, &headers),
            "1.2.3.4".parse::<IpAddr>().expect("ip")
        );
        let other: IpAddr = "10.9.9.9".parse().expect("ip");
        assert_eq!(limits.client(other, &headers), other);
    }

    #[test]
    fn routes_are_classified_and_bearer_tokens_read() {
        assert!(is_auth("/v1/auth:login"));
        assert!(is_auth("/freedumb.auth.v1.AuthService/Login"));
        assert!(!is_auth("/v1/me"));
        assert!(!is_auth("/freedumb.auth.v1.AuthService/GetMe"));
        assert!(!is_auth("/v1/auth/jwks"));
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("bearer x.y.z"),
        );
        assert_eq!(bearer_token(&headers), Some("x.y.z"));
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic x.y.z"),
        );
        assert_eq!(bearer_token(&headers), None);
    }
}
