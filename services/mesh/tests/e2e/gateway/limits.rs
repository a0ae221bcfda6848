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

/// The calls a limit of 10 a minute allows within `elapsed`: the burst of
/// 10 plus one per 6 s since.
fn allowed_within(elapsed: std::time::Duration) -> u64 {
    10 + elapsed.as_secs() / 6
}

#[tokio::test]
async fn the_auth_calls_of_one_address_beyond_the_limit_are_refused() {
    let app = spawn_app_with(Backends::default(), &[TRUST_LOCALHOST]).await;
    let gw = app.gateway_addr.expect("gateway");
    let client = random_client();
    let started = std::time::Instant::now();
    let mut calls = 0u64;
    let headers = loop {
        let (status, headers) = login_as(gw, &client).await;
        calls += 1;
        if status == 429 {
            break headers;
        }
        assert_eq!(status, 401, "attempt {calls} reaches auth");
        assert_eq!(headers["ratelimit-limit"], "10");
        let remaining: u64 = headers["ratelimit-remaining"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("a count");
        // GCRA: a burst of 10, then one more per 6 s; never more.
        let allowed = allowed_within(started.elapsed());
        assert!(
            calls + remaining <= allowed,
            "{calls} + {remaining} > {allowed}"
        );
        assert!(calls <= allowed, "call {calls} allowed beyond the limit");
    };
    assert!(calls > 10, "refused after {calls} calls, within the burst");
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
    let gateways = [
        a.gateway_addr.expect("gateway"),
        b.gateway_addr.expect("gateway"),
    ];
    let started = std::time::Instant::now();
    let mut calls = 0u64;
    // Alternating between the two, the limit is the one limit of 10.
    let (refused_by, headers) = loop {
        let gw = gateways[(calls % 2) as usize];
        let (status, headers) = login_as(gw, &client).await;
        calls += 1;
        if status == 429 {
            break (gw, headers);
        }
        assert_eq!(status, 401);
        assert!(
            calls <= allowed_within(started.elapsed()),
            "call {calls} allowed"
        );
    };
    assert!(calls > 10, "refused after {calls} calls");
    let refused_at = std::time::Instant::now();
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    // The other gateway refuses too, unless the next call was earned
    // meanwhile (Retry-After is rounded up to whole seconds).
    let other = gateways
        .into_iter()
        .find(|g| *g != refused_by)
        .expect("two");
    let status = login_as(other, &client).await.0;
    assert!(
        status == 429 || refused_at.elapsed().as_secs() + 1 >= retry,
        "the other gateway answered {status} within the wait"
    );
}
