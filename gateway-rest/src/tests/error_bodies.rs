//! Every error the gateway answers by itself is the `google.rpc.Status` as
//! JSON, with an `ErrorInfo` giving the reason.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::Value;

use super::harness::{error_info, gateway_without_services, get, limits_of, send};
use crate::{GatewayConfig, MAX_BODY_BYTES};

fn assert_status_shape(body: &Value) {
    assert!(body["code"].is_i64(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["details"].is_array(), "{body}");
}

/// A JSON POST to the login route.
fn login() -> http::request::Builder {
    Request::post("/v1/auth:login").header(header::CONTENT_TYPE, "application/json")
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_a_json_413_naming_the_limit() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    let request = login()
        .header(header::CONTENT_LENGTH, MAX_BODY_BYTES + 1)
        .body(Body::empty())
        .expect("request");

    let (status, _, body) = send(&router, request).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_status_shape(&body);
    assert_eq!(body["code"], tonic::Code::InvalidArgument as i32);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains(&MAX_BODY_BYTES.to_string())),
        "{body}"
    );
    assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "body");
    let info = error_info(&body);
    assert_eq!(info["reason"], "INVALID_ARGUMENT", "{body}");
    assert_eq!(info["domain"], "freedumb.dev");
    assert_eq!(info["metadata"]["limit_bytes"], MAX_BODY_BYTES.to_string());
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_the_same_json_413() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    let request = login()
        .body(Body::from(vec![b' '; MAX_BODY_BYTES + 1]))
        .expect("request");

    let (status, _, body) = send(&router, request).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_status_shape(&body);
    assert_eq!(error_info(&body)["reason"], "INVALID_ARGUMENT", "{body}");
}

#[tokio::test]
async fn a_call_over_the_rate_limit_is_a_json_429_with_retry_after() {
    let router = Arc::new(gateway_without_services(&limits_of(1))).router();
    send(&router, get("/v1/nowhere", None)).await;

    let (status, headers, body) = send(&router, get("/v1/nowhere", None)).await;

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_status_shape(&body);
    assert_eq!(body["code"], tonic::Code::ResourceExhausted as i32);
    let info = error_info(&body);
    assert_eq!(info["reason"], "RATE_LIMITED", "{body}");
    assert_eq!(info["domain"], "freedumb.dev");
    assert!(
        body["details"]
            .as_array()
            .expect("details")
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"),
        "{body}"
    );
    let retry_after: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(headers["ratelimit-limit"], "1");
    assert_eq!(headers["ratelimit-remaining"], "0");
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_bodies_share_the_shape() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();

    let (status, _, body) = send(&router, get("/v1/nowhere", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_status_shape(&body);
    assert_eq!(error_info(&body)["reason"], "NOT_FOUND", "{body}");

    let delete = Request::delete("/v1/auth:login")
        .body(Body::empty())
        .expect("request");
    let (status, headers, body) = send(&router, delete).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
    assert_status_shape(&body);

    let bad_json = login().body(Body::from("{not json")).expect("request");
    let (status, _, body) = send(&router, bad_json).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_status_shape(&body);
    assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "body");
    assert_eq!(error_info(&body)["reason"], "INVALID_ARGUMENT", "{body}");
}

#[tokio::test]
async fn an_empty_body_where_the_document_requires_one_is_a_400_on_body() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    for (method, path) in [
        ("POST", "/v1/auth:login"),
        ("PATCH", "/v1/accounts/0190b7c4-0000-7000-8000-000000000001"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, "Bearer a.b.c")
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = send(&router, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        assert_status_shape(&body);
        assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "body");
    }
}

#[test]
fn the_document_requires_a_body_exactly_where_the_gateway_does() {
    let pool =
        prost_reflect::DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET).expect("pool");
    let routes = crate::routes::from_descriptors(&pool).expect("routes");
    let document = crate::openapi::document(&pool, &routes);
    let mut optional = 0;
    for route in &routes {
        let path = document["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .find(|(p, ops)| {
                ops.get(route.method.as_str().to_lowercase())
                    .is_some_and(|op| {
                        op["operationId"].as_str().is_some_and(|id| {
                            id.starts_with(&format!(
                                "{}_{}",
                                route.rpc.parent_service().name(),
                                route.rpc.name()
                            ))
                        })
                    })
                    && !p.contains('.')
            });
        let (_, ops) = path.unwrap_or_else(|| panic!("{} is documented", route.template.text));
        let body = &ops[route.method.as_str().to_lowercase()]["requestBody"];
        if route.body.is_empty() {
            assert!(body.is_null(), "{}", route.template.text);
        } else {
            assert_eq!(
                body["required"].as_bool(),
                Some(route.body_required()),
                "{}",
                route.template.text
            );
            optional += usize::from(!route.body_required());
        }
    }
    assert!(optional > 0, "some bodies are optional (LogoutAll, …)");
}

#[tokio::test]
async fn an_authenticated_route_without_a_token_is_a_401_before_its_body_is_read() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    let request =
        Request::patch("/v1/accounts/0190b7c4-0000-7000-8000-000000000001?updateMask=name")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"openingBalance":{"amountMinor":""}}"#))
            .expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_status_shape(&body);
    assert_eq!(body["code"], tonic::Code::Unauthenticated as i32);
}

#[tokio::test]
async fn a_custom_verb_called_with_another_method_is_a_405_not_an_id() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    let (status, headers, body) = send(
        &router,
        get(
            "/v1/accounts/0190b7c4-0000-7000-8000-000000000001:archive",
            Some("a.b.c"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn a_body_of_blanks_where_the_body_is_optional_is_malformed_json() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    let request = Request::post("/v1/accounts/0190b7c4-0000-7000-8000-000000000001:archive")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer a.b.c")
        .body(Body::from(" \n"))
        .expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "body");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("malformed JSON")),
        "{body}"
    );
}

#[tokio::test]
async fn a_null_in_a_body_is_a_400_naming_the_field() {
    let router = Arc::new(gateway_without_services(&GatewayConfig::default())).router();
    let request = Request::post("/v1/categories")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer a.b.c")
        .body(Body::from(
            r#"{"kind":"CATEGORY_KIND_INCOME","name":"x","parentId":null}"#,
        ))
        .expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["details"][0]["fieldViolations"][0]["field"],
        "parentId"
    );
}
