//! What operators rely on: admin endpoints, `freedumb healthcheck`, the
//! CLI, configuration errors and graceful shutdown.

use std::process::Command;
use std::time::Duration;

use freedumb_proto::auth::LoginRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::helpers::{PASSWORD, http_get, http1, spawn_app, spawn_app_with};

#[tokio::test]
async fn admin_serves_health_readiness_and_metrics() {
    let app = spawn_app().await;
    app.register().await;
    assert_eq!(http_get(app.admin_addr, "/health").await.0, 200);
    let (status, body) = http_get(app.admin_addr, "/ready").await;
    assert_eq!((status, body.contains("ready")), (200, true), "{body}");
    let (status, metrics) = http_get(app.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    for needle in [
        r#"grpc_server_handled_total{method="freedumb.auth.v1.AuthService/Register",code="Ok"} 1"#,
        "grpc_server_handling_seconds_bucket",
        "grpc_server_in_flight",
        r#"db_pool_connections{service="auth""#,
        "process_resident_memory_bytes",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    // In process, a consumer group never lags; the workers report their
    // backlogs from their first measurement, made as they start (a query in
    // a task of its own: scrape until it is in).
    let series = [
        r#"events_consumer_lag_seconds{stream="freedumb.ledger.v1.events",group="budget"}"#,
        r#"worker_due_items{worker="worker-recurring"}"#,
        r#"worker_oldest_due_seconds{worker="worker-notification"}"#,
        r#"worker_due_items{worker="worker-investment-price"}"#,
    ];
    let mut metrics = metrics;
    for _ in 0..50 {
        if series.iter().all(|s| metrics.contains(s)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        metrics = http_get(app.admin_addr, "/metrics").await.1;
    }
    for series in series {
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok());
        assert_eq!(value, Some(0.0), "{series}:\n{metrics}");
    }
}

#[tokio::test]
async fn healthcheck_command_reports_readiness() {
    let app = spawn_app().await;
    let run = |admin: String| {
        Command::new(env!("CARGO_BIN_EXE_freedumb"))
            .arg("healthcheck")
            .env("FREEDUMB_ADMIN_ADDR", admin)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .output()
            .expect("healthcheck")
    };
    let ready = run(app.admin_addr.to_string());
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let down = run(unused.to_string());
    assert!(!down.status.success(), "nothing listens there");
}

#[test]
fn invalid_configuration_is_reported_all_at_once() {
    let output = Command::new(env!("CARGO_BIN_EXE_freedumb"))
        .arg("serve")
        .env("FREEDUMB_GRPC_ADDR", "not-an-address")
        .env("FREEDUMB_AUTH__LEEWAY_SECS", "300")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.to_lowercase().contains("grpc_addr"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_freedumb"))
        .arg("serve")
        .env("FREEDUMB_AUTH__LEEWAY_SECS", "300")
        .env("FREEDUMB_AUTH__ARGON2_MEMORY_KIB", "8")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("leeway_secs") && stderr.contains("argon2_memory_kib"),
        "{stderr}"
    );
    // Each domain owns its section: a misspelt key in it, or a section
    // nobody owns, is named with its variable, next to bad platform values.
    let output = Command::new(env!("CARGO_BIN_EXE_freedumb"))
        .arg("serve")
        .env("FREEDUMB_LEDGER__RELAY_POL_MS", "5")
        .env("FREEDUMB_GATEWAY__USER_PER_MINUTE", "0")
        .env("FREEDUMB_LEDGR__RELAY_POLL_MS", "5")
        .env("FREEDUMB_CONCURRENCY_LIMIT", "0")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "ledger.relay_pol_ms (FREEDUMB_LEDGER__RELAY_POL_MS): unknown setting",
        "gateway.user_per_minute (FREEDUMB_GATEWAY__USER_PER_MINUTE): must be at least 1",
        "ledgr (FREEDUMB_LEDGR): unknown setting",
        "concurrency_limit (FREEDUMB_CONCURRENCY_LIMIT)",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
}

#[test]
fn cli_lists_targets_prints_version_and_refuses_unknown_targets() {
    let bin = env!("CARGO_BIN_EXE_freedumb");
    let list = Command::new(bin)
        .args(["serve", "--list-targets"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&list.stdout).contains("auth\t"));
    let version = Command::new(bin).arg("version").output().expect("run");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("freedumb "));
    let unknown = Command::new(bin)
        .args(["serve", "--target", "auth,nope"])
        .output()
        .expect("run");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown target `nope`"));
}

#[tokio::test]
async fn sigterm_drains_in_flight_calls_reports_not_serving_and_exits_zero() {
    let mut app = spawn_app_with(
        Default::default(),
        &[("FREEDUMB_SHUTDOWN_GRACE_SECS", "20")],
    )
    .await;
    // Distinct users: concurrent sign-ins to one account from one address
    // are throttled (they look like parallel guessing).
    let mut emails = Vec::new();
    for _ in 0..32 {
        emails.push(app.register().await.user.expect("user").email);
    }
    let channel = tonic::transport::Channel::from_shared(app.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("stream").expect("status");
    assert_eq!(first.status(), ServingStatus::Serving);

    // Password checks are slow by design: 32 of them keep the server busy
    // while the signal arrives.
    let client = freedumb_proto::auth::auth_service_client::AuthServiceClient::new(channel);
    let logins: Vec<_> = emails
        .into_iter()
        .map(|email| {
            let mut client = client.clone();
            let request = LoginRequest {
                email,
                password: PASSWORD.into(),
            };
            tokio::spawn(async move { client.login(request).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.sigterm();

    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("health update in time")
        .expect("stream")
        .expect("status");
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);

    for login in logins {
        login
            .await
            .expect("join")
            .expect("in-flight call completes during shutdown");
    }
    let status = app.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn migrate_applies_migrations_and_exits() {
    let data = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_freedumb"))
        .arg("migrate")
        .env_clear()
        .env("FREEDUMB_DATA_DIR", data.path())
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("auth: migrations applied"));
    assert!(data.path().join("auth.db").is_file());
}

#[tokio::test]
async fn grpc_web_over_http1_reaches_the_services() {
    let app = spawn_app().await;
    // One gRPC-web frame: flag 0, length 0 (an empty HealthCheckRequest).
    let frame = hyper::body::Bytes::from_static(&[0, 0, 0, 0, 0]);
    let request = http::Request::post("/grpc.health.v1.Health/Check")
        .header(http::header::HOST, app.grpc_addr.to_string())
        .header(http::header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(http_body_util::Full::new(frame))
        .expect("request");
    let (status, body) = http1(app.grpc_addr, request).await;
    assert_eq!(status, 200);
    // Data frame: flag 0, length 2, HealthCheckResponse { status: SERVING (1) }.
    assert_eq!(&body[..7], &[0, 0, 0, 0, 2, 0x08, 0x01]);
    // Then the trailers frame (flag 0x80) carrying grpc-status 0.
    assert_eq!(body[7], 0x80);
    assert!(String::from_utf8_lossy(&body[12..]).contains("grpc-status:0"));
}
