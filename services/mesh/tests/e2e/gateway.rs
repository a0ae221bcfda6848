//! The REST gateway of `--target all`, driven like curl: every annotated
//! auth RPC over REST+JSON (path variables, query parameters, bodies), a
//! ledger round trip, and the JSON errors (404, 405, 400 with the field,
//! 401).

use std::net::SocketAddr;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::helpers::{Backends, PASSWORD, http1_sender, spawn_app, spawn_app_with};

/// A REST call: (status, headers, JSON body or `null`).
async fn rest(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, http::HeaderMap, Value) {
    let mut sender = http1_sender(addr).await;
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
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
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

#[tokio::test]
async fn every_auth_rpc_works_over_rest() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("the gateway runs in --target all");
    let email = format!("rest-{}@example.com", uuid::Uuid::new_v4().simple());
    let credentials = json!({ "email": email, "password": PASSWORD }).to_string();

    let (status, headers, registered) =
        rest(gw, "POST", "/v1/auth:register", None, Some(&credentials)).await;
    assert_eq!(status, 200, "{registered}");
    assert_eq!(registered["user"]["email"], email);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("x-request-id"));

    let (status, _, login) = rest(gw, "POST", "/v1/auth:login", None, Some(&credentials)).await;
    assert_eq!(status, 200, "{login}");
    let access = login["tokens"]["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = login["tokens"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();

    let (status, _, me) = rest(gw, "GET", "/v1/me", Some(&access), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], email);

    let (status, _, jwks) = rest(gw, "GET", "/v1/auth/jwks", None, None).await;
    assert_eq!(status, 200);
    assert!(!jwks["keys"].as_array().expect("keys").is_empty());

    let body = json!({ "refreshToken": refresh }).to_string();
    let (status, _, refreshed) = rest(gw, "POST", "/v1/auth:refresh", None, Some(&body)).await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["tokens"]["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();

    let body = json!({ "currentPassword": PASSWORD, "newPassword": "a much better passphrase 7" })
        .to_string();
    let (status, _, changed) = rest(
        gw,
        "POST",
        "/v1/auth:changePassword",
        Some(&access),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let (status, _, _) = rest(gw, "POST", "/v1/auth:logoutAll", Some(&access), Some("{}")).await;
    assert_eq!(status, 200);
    let (status, _, _) = rest(gw, "POST", "/v1/auth:logout", Some(&access), Some("{}")).await;
    assert_eq!(status, 200);
    let (status, _, after) = rest(gw, "GET", "/v1/me", Some(&access), None).await;
    assert_eq!(status, 401, "{after}");
    assert_eq!(after["code"], 16);
}

#[tokio::test]
async fn ledger_resources_over_rest_use_path_variables_query_and_body() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let token = app.token().await;
    let account = json!({
        "name": "Checking",
        "kind": "ACCOUNT_KIND_CHECKING",
        "openingBalance": { "currencyCode": "USD", "amountMinor": "5000" },
    })
    .to_string();
    let (status, _, created) = rest(gw, "POST", "/v1/accounts", Some(&token), Some(&account)).await;
    assert_eq!(status, 200, "{created}");
    let id = created["account"]["id"].as_str().expect("id").to_owned();

    // body "account" + path variable {account.id} + query update_mask.
    let (status, _, renamed) = rest(
        gw,
        "PATCH",
        &format!("/v1/accounts/{id}?updateMask=name"),
        Some(&token),
        Some(r#"{"name":"Everyday"}"#),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["account"]["name"], "Everyday");

    let tx = json!({
        "accountId": id,
        "amount": { "currencyCode": "USD", "amountMinor": "-1250" },
        "date": { "year": 2026, "month": 11, "day": 23 },
        "description": "Lunch",
        "tags": ["food"],
    })
    .to_string();
    let (status, _, created) = rest(gw, "POST", "/v1/transactions", Some(&token), Some(&tx)).await;
    assert_eq!(status, 200, "{created}");

    // Query parameters: a nested message field, a repeated field, an int64.
    let (status, _, listed) = rest(
        gw,
        "GET",
        &format!(
            "/v1/transactions?accountId={id}&startDate.year=2026&startDate.month=11&startDate.day=1\
             &tags=food&maxAmountMinor=-1000&pageSize=10"
        ),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["transactions"].as_array().expect("list").len(), 1);

    let (status, _, got) = rest(gw, "GET", &format!("/v1/accounts/{id}"), Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["account"]["balance"]["amountMinor"], "3750");
}

#[tokio::test]
async fn errors_are_json_with_the_mapped_http_status() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");

    let (status, _, body) = rest(gw, "GET", "/v1/nowhere", None, None).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(5)));

    let (status, headers, body) = rest(gw, "DELETE", "/v1/auth:login", None, None).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(headers["allow"], "POST");

    let (status, _, body) = rest(gw, "POST", "/v1/auth:login", None, Some("{not json")).await;
    assert_eq!(status, 400);
    assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "body");

    let (status, _, body) = rest(
        gw,
        "POST",
        "/v1/auth:login",
        None,
        Some(r#"{"email": 5, "password": "x"}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "email");

    let (status, _, body) = rest(
        gw,
        "POST",
        "/v1/auth:register",
        None,
        Some(r#"{"email":"bad","password":"x"}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let details = body["details"].as_array().expect("details");
    assert!(
        details
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest"),
        "the service's BadRequest reaches the client: {body}"
    );

    let (status, _, body) = rest(gw, "GET", "/v1/me", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], 16);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// A command-line tool on PATH, required in CI.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} must be installed in CI"
        );
        eprintln!("skipping the {name} check: not installed");
    }
    found
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_every_route_in_it_answers() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let (status, _, document) = rest(gw, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );

    // The real validator (openapi-spec-validator from PyPI) on what is served.
    if let Some(validator) = tool("openapi-spec-validator") {
        let file = app.data_dir.path().join("openapi.json");
        std::fs::write(&file, document.to_string()).expect("write");
        let out = std::process::Command::new(validator)
            .arg(&file)
            .output()
            .expect("run openapi-spec-validator");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "auth and ledger routes are listed");
    for (path, operations) in paths {
        let concrete: String = {
            let mut out = String::new();
            let mut inside = false;
            for c in path.chars() {
                match c {
                    '{' => {
                        inside = true;
                        out.push_str("01a20850-5105-752d-9e23-83f386cfe71a");
                    }
                    '}' => inside = false,
                    _ if inside => {}
                    _ => out.push(c),
                }
            }
            out
        };
        for method in operations.as_object().expect("operations").keys() {
            let body = (method != "get" && method != "delete").then_some("{}");
            let (status, _, answer) = rest(gw, &method.to_uppercase(), &concrete, None, body).await;
            let routed = !(status == 405
                || (status == 404
                    && answer["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no route"))));
            assert!(routed, "{method} {path} is not routed: {status} {answer}");
        }
    }
}

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

#[tokio::test]
async fn grpc_web_passes_through_the_gateway_with_cors() {
    let app = spawn_app_with(
        Backends::default(),
        &[(
            "FREEDUMB_GATEWAY__CORS_ALLOWED_ORIGINS",
            "[http://app.example]",
        )],
    )
    .await;
    let gw = app.gateway_addr.expect("gateway");
    // GetJwks over gRPC-web: an empty request frame.
    let frame = hyper::body::Bytes::from_static(&[0, 0, 0, 0, 0]);
    let request = http::Request::post("/freedumb.auth.v1.AuthService/GetJwks")
        .header(http::header::HOST, gw.to_string())
        .header(http::header::CONTENT_TYPE, "application/grpc-web+proto")
        .header(http::header::ORIGIN, "http://app.example")
        .header("x-grpc-web", "1")
        .body(Full::new(frame))
        .expect("request");
    let mut sender = http1_sender(gw).await;
    let response = sender.send_request(request).await.expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body[0], 0, "a data frame first");
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let jwks = <freedumb_proto::auth::GetJwksResponse as prost::Message>::decode(&body[5..5 + len])
        .expect("GetJwksResponse");
    assert!(!jwks.keys.is_empty());
    assert!(String::from_utf8_lossy(&body[5 + len..]).contains("grpc-status:0"));

    // A preflight from another origin is not allowed.
    let (status, headers, _) = {
        let mut sender = http1_sender(gw).await;
        let preflight = http::Request::options("/v1/me")
            .header(http::header::HOST, gw.to_string())
            .header(http::header::ORIGIN, "http://evil.example")
            .header("access-control-request-method", "GET")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = sender.send_request(preflight).await.expect("send");
        (response.status().as_u16(), response.headers().clone(), ())
    };
    assert!(status < 500);
    assert!(!headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn server_streaming_rpcs_answer_with_newline_delimited_json() {
    let app = spawn_app().await;
    let gw = app.gateway_addr.expect("gateway");
    let token = app.token().await;
    let account = json!({
        "name": "Cash",
        "kind": "ACCOUNT_KIND_CASH",
        "openingBalance": { "currencyCode": "EUR", "amountMinor": "0" },
    })
    .to_string();
    let (_, _, created) = rest(gw, "POST", "/v1/accounts", Some(&token), Some(&account)).await;
    let account_id = created["account"]["id"].as_str().expect("id").to_owned();

    let mut sender = http1_sender(gw).await;
    let watch = http::Request::get(format!("/v1/transactions:watch?accountId={account_id}"))
        .header(http::header::HOST, gw.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        // Streams are never compressed, so each line arrives as written.
        .header(http::header::ACCEPT_ENCODING, "gzip")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(watch).await.expect("send");
    assert!(
        !response
            .headers()
            .contains_key(http::header::CONTENT_ENCODING)
    );
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    let mut body = response.into_body();

    let tx = json!({
        "accountId": account_id,
        "amount": { "currencyCode": "EUR", "amountMinor": "-300" },
        "date": { "year": 2026, "month": 11, "day": 23 },
        "description": "Bakery",
    })
    .to_string();
    let (status, _, _) = rest(gw, "POST", "/v1/transactions", Some(&token), Some(&tx)).await;
    assert_eq!(status, 200);

    let mut text = String::new();
    while !text.contains('\n') {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")
            .expect("stream open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let line: Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON line");
    assert_eq!(
        line["event"]["transactionCreated"]["transaction"]["description"],
        "Bakery"
    );
}
