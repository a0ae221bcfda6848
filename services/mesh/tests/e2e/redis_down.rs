//! Redis down and back, for real: the test runs a private `redis-server` on
//! a free port, kills it under a running mesh and starts it again. Sign-in
//! routes stay limited (in process, said by a metric), auth answers
//! UNAVAILABLE with a `RetryInfo` instead of INTERNAL, revocations survive
//! a Redis that comes back empty, and everything recovers without a
//! restart.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use freedumb_proto::auth::{GetMeRequest, LogoutRequest};
use freedumb_proto::ledger::ListAccountsRequest;
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::helpers::{Backends, PASSWORD, authed, http_get, rest, spawn_app_with, tool};

/// A `redis-server` of the test's own, killed on drop.
struct PrivateRedis {
    child: Option<Child>,
    port: u16,
}

impl PrivateRedis {
    /// Starts one on a free port, or `None` outside CI without redis-server.
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self { child: None, port };
        if !redis.up() {
            return None;
        }
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (nothing kept on disk: it comes back empty).
    fn up(&mut self) -> bool {
        let Some(binary) = tool("redis-server") else {
            return false;
        };
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Kills it at once, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

const TRUST_LOCALHOST: (&str, &str) = ("FREEDUMB_TRUSTED_PROXIES", "[127.0.0.1]");

/// A failed REST login of a fresh email from `client`.
async fn failed_login(gw: SocketAddr, client: &str) -> (u16, http::HeaderMap, serde_json::Value) {
    use http_body_util::BodyExt as _;
    let mut sender = crate::helpers::http1_sender(gw).await;
    let email = format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple());
    let body = json!({ "email": email, "password": "wrong password 1" }).to_string();
    let request = http::Request::post("/v1/auth:login")
        .header(http::header::HOST, gw.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", client)
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .expect("request");
    let response = sender.send_request(request).await.expect("send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The sum of the samples of `metric` on the admin port (`None` when it
/// has none).
async fn metric(admin: SocketAddr, metric: &str) -> Option<f64> {
    let (_, text) = http_get(admin, "/metrics").await;
    text.lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

/// Retries `f` until it returns `Some` or `limit` passes.
async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn with_redis_down_sign_ins_stay_limited_auth_is_unavailable_and_all_recovers() {
    let Some(mut redis) = PrivateRedis::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is required in CI"
        );
        return;
    };
    let backends = Backends {
        database_url: None,
        redis_url: Some(redis.url()),
    };
    let app = spawn_app_with(
        backends,
        &[TRUST_LOCALHOST, ("FREEDUMB_GATEWAY__AUTH_PER_MINUTE", "3")],
    )
    .await;
    let gw = app.gateway_addr.expect("gateway");
    let registered = app.register().await;
    let token = registered.tokens.clone().expect("tokens").access_token;
    // Each scrape asks Redis (no Postgres here: SQLite has no such gauge).
    assert_eq!(metric(app.admin_addr, "dependency_up").await, Some(1.0));

    redis.kill();
    assert_eq!(metric(app.admin_addr, "dependency_up").await, Some(0.0));

    // Sign-in routes: auth cannot count attempts, so it answers
    // UNAVAILABLE (503), never INTERNAL; and the gateway keeps limiting
    // them, in process, instead of letting every call through.
    let client = "2001:db8:77::1";
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, headers, body) = failed_login(gw, client).await;
        if status == 503 {
            assert_eq!(
                headers["retry-after"], "1",
                "Retry-After from the RetryInfo"
            );
            assert_eq!(body["code"], 14, "{body}");
            let retry = body["details"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo");
            assert!(retry, "no RetryInfo: {body}");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [503, 503, 503, 429, 429],
        "3 a minute, then refused"
    );
    let fallbacks = metric(app.admin_addr, "ratelimit_fallback_total").await;
    assert!(fallbacks.is_some_and(|n| n >= 5.0), "{fallbacks:?}");
    assert_eq!(
        metric(app.admin_addr, "ratelimit_shared_up").await,
        Some(0.0)
    );

    // gRPC: Login and an authenticated call are UNAVAILABLE with RetryInfo.
    let mut auth = app.client().await;
    let email = registered.user.as_ref().expect("user").email.clone();
    let status = crate::helpers::login_with(&mut auth, email.clone(), PASSWORD)
        .await
        .expect_err("no Redis");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.get_error_details().retry_info().is_some());
    let status = auth
        .get_me(authed(GetMeRequest {}, &token))
        .await
        .expect_err("no revocation list");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.get_error_details().retry_info().is_some());

    // Redis comes back (empty): no restart needed.
    assert!(redis.up());
    let me = eventually(Duration::from_secs(20), || {
        let mut auth = auth.clone();
        let token = token.clone();
        async move { auth.get_me(authed(GetMeRequest {}, &token)).await.ok() }
    })
    .await;
    assert!(me.is_some(), "GetMe did not recover");
    let login = eventually(Duration::from_secs(20), || {
        let mut auth = auth.clone();
        let email = email.clone();
        async move {
            crate::helpers::login_with(&mut auth, email, PASSWORD)
                .await
                .ok()
        }
    })
    .await;
    assert!(login.is_some(), "Login did not recover");
    let (status, _, _) = rest(gw, "GET", "/v1/me", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(app.admin_addr, "ratelimit_shared_up").await,
        Some(1.0)
    );
    assert_eq!(metric(app.admin_addr, "dependency_up").await, Some(1.0));
}

#[tokio::test]
async fn a_logout_is_not_forgotten_when_redis_comes_back_empty() {
    let Some(mut redis) = PrivateRedis::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is required in CI"
        );
        return;
    };
    let backends = Backends {
        database_url: None,
        redis_url: Some(redis.url()),
    };
    let app = spawn_app_with(backends, &[]).await;
    let registered = app.register().await;
    let old = registered.tokens.clone().expect("tokens").access_token;
    let live = app.login(&registered).await.access_token;
    let mut auth = app.client().await;
    auth.logout(authed(LogoutRequest {}, &old))
        .await
        .expect("logout");
    // The ledger knows of the logout only through the revocation list.
    let mut ledger = app.ledger().await;
    let list = |token: &str| authed(ListAccountsRequest::default(), token);
    let refused = ledger
        .list_accounts(list(&old))
        .await
        .expect_err("logged out");
    assert_eq!(refused.code(), Code::Unauthenticated);
    ledger
        .list_accounts(list(&live))
        .await
        .expect("live session");

    // Redis restarts and has forgotten every revocation. Verifiers do not
    // trust the empty list (UNAVAILABLE) until auth has put back the
    // sessions that ended lately; then the logout holds again.
    redis.kill();
    assert!(redis.up());
    let recovered = eventually(Duration::from_secs(20), || {
        let mut ledger = ledger.clone();
        let request = list(&live);
        async move {
            match ledger.list_accounts(request).await {
                Ok(_) => Some(()),
                Err(status) => {
                    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                    None
                }
            }
        }
    })
    .await;
    assert!(recovered.is_some(), "the live session recovers");
    let status = ledger
        .list_accounts(list(&old))
        .await
        .expect_err("the logged-out session stays refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
