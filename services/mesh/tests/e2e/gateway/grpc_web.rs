//! gRPC-web through the gateway, with CORS.

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

use crate::helpers::{Backends, http1_sender, spawn_app_with};

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
