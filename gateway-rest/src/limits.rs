//! Rate limits at the edge, in fixed one-minute windows on the shared
//! counters (Redis when configured, so every gateway replica enforces one
//! limit; in-process otherwise): sign-in routes per client address, the rest
//! per user (per address without a token). Answers carry `RateLimit-*`
//! headers; refusals are 429 with `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use freedumb_kit::client::TrustedProxies;
use freedumb_kit::state::Counters;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

/// The window every limit counts in.
const WINDOW: Duration = Duration::from_secs(60);

/// The limiter's settings and counters.
pub struct Limits {
    counters: Arc<dyn Counters>,
    auth_per_minute: u64,
    user_per_minute: u64,
    proxies: TrustedProxies,
}

impl Limits {
    /// Limits from the config on `counters`.
    pub fn new(counters: Arc<dyn Counters>, config: &freedumb_kit::Config) -> Self {
        Self {
            counters,
            auth_per_minute: config.gateway.auth_per_minute,
            user_per_minute: config.gateway.user_per_minute,
            proxies: TrustedProxies::new(config.trusted_proxies.iter().copied()),
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
}

/// The client address the gateway determined, for the services.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Whether `path` signs in or creates an account (REST or gRPC-web): the
/// calls a password guesser or sign-up spammer makes, limited per address.
/// The rest of auth (GetMe, Logout, ...) counts per user like any call.
fn is_auth(path: &str) -> bool {
    matches!(
        path,
        "/v1/auth:register"
            | "/v1/auth:login"
            | "/v1/auth:refresh"
            | "/freedumb.auth.v1.AuthService/Register"
            | "/freedumb.auth.v1.AuthService/Login"
            | "/freedumb.auth.v1.AuthService/Refresh"
    )
}

/// The unverified `sub` of a bearer token: only a key for counting (the
/// services verify the token itself).
fn subject(headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["sub"].as_str().map(str::to_owned)
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
    let (key, limit) = if is_auth(path) {
        (format!("ratelimit:auth:{client}"), limits.auth_per_minute)
    } else if let Some(sub) = subject(request.headers()) {
        (format!("ratelimit:user:{sub}"), limits.user_per_minute)
    } else {
        (format!("ratelimit:anon:{client}"), limits.user_per_minute)
    };
    let (count, reset) = match limits.counters.incr(&key, WINDOW).await {
        Ok(count) => (count, limits.counters.ttl(&key).await.unwrap_or(WINDOW)),
        Err(e) => {
            // Failing open: a limiter outage must not take the edge down.
            tracing::warn!(error = ?e, "rate limiter unavailable");
            return next.run(request).await;
        }
    };
    let reset_secs = reset.as_secs().max(1);
    let mut response = if count > limit {
        let body = json!({
            "code": tonic::Code::ResourceExhausted as i32,
            "message": format!("rate limit of {limit} calls per minute exceeded; retry in {reset_secs} s"),
            "details": [],
        });
        let mut refused = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        insert(
            refused.headers_mut(),
            http::header::RETRY_AFTER.as_str(),
            reset_secs,
        );
        refused
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    insert(headers, "ratelimit-limit", limit);
    insert(headers, "ratelimit-remaining", limit.saturating_sub(count));
    insert(headers, "ratelimit-reset", reset_secs);
    response
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
            trusted_proxies: vec![proxy],
            ..Default::default()
        };
        let limits = Limits::new(SharedState::in_process().counters, &config);
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
    fn routes_are_classified_and_subjects_read() {
        assert!(is_auth("/v1/auth:login"));
        assert!(is_auth("/freedumb.auth.v1.AuthService/Login"));
        assert!(!is_auth("/v1/me"));
        assert!(!is_auth("/freedumb.auth.v1.AuthService/GetMe"));
        assert!(!is_auth("/v1/auth/jwks"));
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"u1"}"#);
        let mut headers = HeaderMap::new();
        let value = format!("Bearer x.{payload}.y");
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&value).expect("header"),
        );
        assert_eq!(subject(&headers).as_deref(), Some("u1"));
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert_eq!(subject(&headers), None);
    }
}
