//! Production backends: two replicas sharing Postgres and Redis behave as
//! one service. Required in CI (TEST_DATABASE_URL, TEST_REDIS_URL).

use freedumb_proto::auth::{GetMeRequest, LoginRequest, LogoutRequest};
use tonic::Code;

use crate::helpers::{PASSWORD, authed, spawn_app_with};

#[tokio::test]
async fn two_replicas_on_postgres_and_redis_share_users_keys_and_revocations() {
    let Some(backends) = crate::helpers::production_backends().await else {
        return;
    };
    let a = spawn_app_with(backends.clone(), &[]).await;
    let b = spawn_app_with(backends, &[]).await;

    let registered = a.register().await;
    let email = registered.user.as_ref().expect("user").email.clone();
    let tokens = b
        .client()
        .await
        .login(LoginRequest {
            email,
            password: PASSWORD.into(),
        })
        .await
        .expect("B knows the user A registered")
        .into_inner()
        .tokens
        .expect("tokens");

    // Each replica verifies the other's tokens (one key set in Postgres).
    let from_a = registered.tokens.expect("tokens").access_token;
    b.client()
        .await
        .get_me(authed(GetMeRequest {}, &from_a))
        .await
        .expect("B accepts A's token");
    a.client()
        .await
        .get_me(authed(GetMeRequest {}, &tokens.access_token))
        .await
        .expect("A accepts B's");

    a.client()
        .await
        .logout(authed(LogoutRequest {}, &tokens.access_token))
        .await
        .expect("logout on A");
    let err = b
        .client()
        .await
        .get_me(authed(GetMeRequest {}, &tokens.access_token))
        .await
        .expect_err("B refuses the logged-out session");
    assert_eq!(err.code(), Code::Unauthenticated);
}
