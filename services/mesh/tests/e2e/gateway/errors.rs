//! Errors are JSON with the mapped HTTP status (404, 405, 400 naming the
//! field, 401).

use crate::helpers::{rest, spawn_app};

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
