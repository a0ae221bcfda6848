//! What an operator does with the real grpcurl: list, describe, health, and
//! the whole sign-in flow with JSON in and out.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, grpcurl, spawn_app};

/// Runs `grpcurl -plaintext args…` (flags, then address, then method).
async fn run(args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(grpcurl().expect("grpcurl"))
        .arg("-plaintext")
        .args(args)
        .output()
        .await
        .expect("running grpcurl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn call(app: &TestApp, method: &str, body: Value, token: Option<&str>) -> Value {
    let addr = app.grpc_addr.to_string();
    let body = body.to_string();
    let header = token.map(|t| format!("authorization: Bearer {t}"));
    let mut args: Vec<&str> = vec!["-d", &body];
    if let Some(h) = &header {
        args.extend(["-H", h]);
    }
    let full = format!("freedumb.auth.v1.AuthService/{method}");
    args.extend([addr.as_str(), full.as_str()]);
    let (ok, out) = run(&args).await;
    assert!(ok, "grpcurl {method} failed: {out}");
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{method} output is not JSON ({e}): {out}"))
}

#[tokio::test]
async fn grpcurl_lists_describes_and_checks_health() {
    if grpcurl().is_none() {
        return;
    }
    let app = spawn_app().await;
    let addr = app.grpc_addr.to_string();

    let (ok, out) = run(&[&addr, "list"]).await;
    assert!(ok, "{out}");
    let services: Vec<&str> = out.lines().collect();
    assert!(services.contains(&"freedumb.auth.v1.AuthService"), "{out}");
    assert!(services.contains(&"grpc.health.v1.Health"), "{out}");

    let (ok, out) = run(&[&addr, "describe", "freedumb.auth.v1.AuthService"]).await;
    assert!(ok, "{out}");
    for rpc in [
        "Register",
        "ConfirmRegistration",
        "Login",
        "Refresh",
        "Logout",
        "LogoutAll",
        "GetMe",
        "ChangePassword",
        "GetJwks",
    ] {
        assert!(
            out.contains(&format!("rpc {rpc} ")),
            "describe lacks {rpc}: {out}"
        );
    }

    let (ok, out) = run(&[&addr, "describe", "freedumb.auth.v1.RegisterRequest"]).await;
    assert!(ok && out.contains("string email = 1"), "{out}");

    let (ok, out) = run(&[&addr, "grpc.health.v1.Health/Check"]).await;
    assert!(ok && out.contains("SERVING"), "{out}");
    let (ok, out) = run(&[
        "-d",
        r#"{"service":"freedumb.auth.v1.AuthService"}"#,
        &addr,
        "grpc.health.v1.Health/Check",
    ])
    .await;
    assert!(ok && out.contains("SERVING"), "{out}");
}

#[tokio::test]
async fn grpcurl_drives_register_login_get_me_refresh_logout() {
    if grpcurl().is_none() {
        return;
    }
    let app = spawn_app().await;
    let email = "grpcurl@example.com";

    let registered = call(
        &app,
        "Register",
        json!({ "email": email, "password": PASSWORD }),
        None,
    )
    .await;
    assert_eq!(registered["user"]["email"], email);
    let login = call(
        &app,
        "Login",
        json!({ "email": email, "password": PASSWORD }),
        None,
    )
    .await;
    let access = login["tokens"]["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned();
    let refresh = login["tokens"]["refreshToken"]
        .as_str()
        .expect("refreshToken")
        .to_owned();

    let me = call(&app, "GetMe", json!({}), Some(&access)).await;
    assert_eq!(me["user"]["id"], registered["user"]["id"]);

    let refreshed = call(&app, "Refresh", json!({ "refreshToken": refresh }), None).await;
    let access2 = refreshed["tokens"]["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned();
    call(&app, "Logout", json!({}), Some(&access2)).await;

    let addr = app.grpc_addr.to_string();
    let header = format!("authorization: Bearer {access2}");
    let (ok, out) = run(&["-H", &header, &addr, "freedumb.auth.v1.AuthService/GetMe"]).await;
    assert!(!ok, "GetMe after logout must fail: {out}");
    assert!(out.contains("Unauthenticated"), "{out}");
}
