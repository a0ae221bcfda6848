//! Bad input always gets INVALID_ARGUMENT naming the field — never INTERNAL.

use freedumb_proto::auth::*;
use tonic::Code;

use crate::helpers::{PASSWORD, TestApp, spawn_app, violated_fields};

async fn register_err(app: &TestApp, email: &str, password: &str) -> tonic::Status {
    app.client()
        .await
        .register(RegisterRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .expect_err("must be refused")
}

#[tokio::test]
async fn invalid_emails_are_field_violations() {
    let app = spawn_app().await;
    let overlong = format!("{}@example.com", "a".repeat(300));
    let megabyte = "b".repeat(1024 * 1024);
    for email in [
        "",
        "   ",
        "no-at-sign",
        "two@@example.com",
        "a@b",
        "a b@example.com",
        &overlong,
        &megabyte,
    ] {
        let err = register_err(&app, email, PASSWORD).await;
        assert_eq!(err.code(), Code::InvalidArgument, "{email:.40}: {err:?}");
        assert_eq!(violated_fields(&err), ["email"], "{email:.40}");
    }
}

#[tokio::test]
async fn weak_or_overlong_passwords_are_field_violations() {
    let app = spawn_app().await;
    let overlong = "x".repeat(5000);
    for password in [
        "",
        "short",
        "password",
        "Password1",
        "qwertyuiop",
        &overlong,
    ] {
        let err = register_err(&app, "weak@example.com", password).await;
        assert_eq!(err.code(), Code::InvalidArgument, "{password:.20}: {err:?}");
        assert_eq!(violated_fields(&err), ["password"], "{password:.20}");
    }
    let both = register_err(&app, "nope", "short").await;
    assert_eq!(
        violated_fields(&both),
        ["email", "password"],
        "every problem is reported at once"
    );
    // 128 characters (and more) are accepted.
    app.client()
        .await
        .register(RegisterRequest {
            email: "long@example.com".into(),
            password: (0..40).map(|i| format!("Ω{i}-word ")).collect(),
        })
        .await
        .expect("long passwords are fine");
}

#[tokio::test]
async fn login_and_refresh_validate_their_fields() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let err = client
        .login(LoginRequest {
            email: String::new(),
            password: String::new(),
        })
        .await
        .expect_err("empty");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["email", "password"]);
    for token in ["", "not-a-refresh-token", "fdr_tooShort"] {
        let err = client
            .refresh(RefreshRequest {
                refresh_token: token.into(),
            })
            .await
            .expect_err("bad token");
        assert_eq!(err.code(), Code::InvalidArgument, "{token}");
        assert_eq!(violated_fields(&err), ["refresh_token"]);
    }
}

/// A `RegisterRequest` on the wire, with bytes where strings belong.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRegister {
    #[prost(bytes = "vec", tag = "1")]
    email: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    password: Vec<u8>,
}

async fn raw_register(
    app: &TestApp,
    message: RawRegister,
) -> Result<RegisterResponse, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(app.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/freedumb.auth.v1.AuthService/Register");
    let codec = tonic_prost::ProstCodec::<RawRegister, RegisterResponse>::default();
    grpc.unary(tonic::Request::new(message), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn invalid_utf8_is_invalid_argument_not_internal() {
    let app = spawn_app().await;
    let err = raw_register(
        &app,
        RawRegister {
            email: vec![0x61, 0xff, 0xfe, 0x40],
            password: PASSWORD.into(),
        },
    )
    .await
    .expect_err("invalid UTF-8");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(violated_fields(&err), ["request"]);
}

#[tokio::test]
async fn oversized_messages_are_invalid_argument() {
    let app = spawn_app().await;
    let err = raw_register(
        &app,
        RawRegister {
            email: vec![b'a'; 3 * 1024 * 1024],
            password: PASSWORD.into(),
        },
    )
    .await
    .expect_err("3 MiB message");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(violated_fields(&err), ["request"]);
}
