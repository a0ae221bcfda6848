//! Rate limits at the gateway, and the client it names to auth behind a
//! trusted proxy.

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::json;

use crate::helpers::{Backends, http1_sender, rest, spawn_app_with};

/// A failed login attempt through the gateway as client `address` (behind
/// a trusted proxy), for a fresh email: (status, headers).
async fn login_as(gw: SocketAddr, address: &str) -> (u16, http::HeaderMap) {
    let email = format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple());
    login_with_as(gw, address, &email).await
}

/// A failed login attempt for `email` as client `address`.
async fn login_with_as(gw: SocketAddr, address: &str, email: &str) -> (u16, http::HeaderMap) {
    let mut sender = http1_sender(gw).await;
    let body = json!({ "email": email, "password": "wrong password 1" }).to_string();
    let request = http::Request::post("/v1/auth:login")
        .header(http::header::HOST, gw.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", address)
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = sender.send_request(request).await.expect("send");
    (response.status().as_u16(), response.headers().clone())
}

/// A random client address in a /64 of its own (auth groups IPv6 clients
/// by /64).
fn random_client() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    format!("2001:db8:{:x}:{:x}::1", (n >> 16) as u16, n as u16)
}

const TRUST_LOCALHOST: (&str, &str) = ("FREEDUMB_TRUSTED_PROXIES", "[127.0.0.1]");

#[tokio::test]
async fn the_eleventh_auth_call_in_a_minute_from_one_address_is_refused() {
    let app = spawn_app_with(Backends::default(), &[TRUST_LOCALHOST]).await;
    let gw = app.gateway_addr.expect("gateway");
    let client = random_client();
    for n in 1..=10 {
        let (status, headers) = login_as(gw, &client).await;
        assert_eq!(status, 401, "attempt {n} reaches auth");
        assert_eq!(headers["ratelimit-limit"], "10");
        assert_eq!(
            headers["ratelimit-remaining"],
            (10 - n).to_string().as_str()
        );
    }
    let (status, headers) = login_as(gw, &client).await;
    assert_eq!(status, 429);
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));
    assert_eq!(headers["ratelimit-remaining"], "0");

    // Another address, and a user's own calls, are not affected.
    assert_eq!(login_as(gw, &random_client()).await.0, 401);
    let token = app.token().await;
    let (status, _, _) = rest(gw, "GET", "/v1/me", Some(&token), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn auth_throttles_the_client_the_gateway_names_not_the_gateway() {
    let app = spawn_app_with(Backends::default(), &[TRUST_LOCALHOST]).await;
    let gw = app.gateway_addr.expect("gateway");
    let email = format!("victim-{}@example.com", uuid::Uuid::new_v4().simple());
    let guesser = random_client();
    // Auth allows 5 failed attempts per account and client.
    for _ in 0..5 {
        assert_eq!(login_with_as(gw, &guesser, &email).await.0, 401);
    }
    assert_eq!(
        login_with_as(gw, &guesser, &email).await.0,
        429,
        "the guesser is throttled"
    );
    // Everyone else behind the same gateway still gets to try.
    assert_eq!(login_with_as(gw, &random_client(), &email).await.0, 401);
}

#[tokio::test]
async fn two_gateways_sharing_redis_enforce_one_limit() {
    let Some(redis_url) = freedumb_kit::testing::backend_url("TEST_REDIS_URL") else {
        return;
    };
    let backends = Backends {
        database_url: None,
        redis_url: Some(redis_url),
    };
    let a = spawn_app_with(backends.clone(), &[TRUST_LOCALHOST]).await;
    let b = spawn_app_with(backends, &[TRUST_LOCALHOST]).await;
    let client = random_client();
    for n in 0..10 {
        let gw = if n % 2 == 0 {
            a.gateway_addr
        } else {
            b.gateway_addr
        };
        assert_eq!(login_as(gw.expect("gateway"), &client).await.0, 401);
    }
    assert_eq!(
        login_as(a.gateway_addr.expect("gateway"), &client).await.0,
        429
    );
    assert_eq!(
        login_as(b.gateway_addr.expect("gateway"), &client).await.0,
        429
    );
}
