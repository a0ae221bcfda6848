//! mTLS on the gRPC listener: with `FREEDUMB_TLS__*` set, a caller needs a
//! certificate from the configured client CA (Envoy's); without one, or
//! with one from another CA, the handshake is refused.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backends, TestApp, spawn_app_with};

/// A fresh development PKI from `deploy/scripts/dev-certs.sh`.
pub fn dev_certs(dir: &Path) -> PathBuf {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/scripts/dev-certs.sh"
    );
    let status = std::process::Command::new("bash")
        .arg(script)
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run dev-certs.sh (needs openssl)");
    assert!(status.success(), "dev-certs.sh failed");
    dir.to_owned()
}

/// The environment that turns mTLS on with the certificates in `certs`.
pub fn tls_env(certs: &Path) -> Vec<(String, String)> {
    let file = |name: &str| certs.join(name).display().to_string();
    vec![
        ("FREEDUMB_TLS__CERT_FILE".into(), file("server.pem")),
        ("FREEDUMB_TLS__KEY_FILE".into(), file("server.key")),
        ("FREEDUMB_TLS__CLIENT_CA_FILE".into(), file("ca.pem")),
        (
            "FREEDUMB_TARGET".into(),
            "auth,ledger,worker-recurring".into(),
        ),
    ]
}

/// The services on mTLS (no gateway in the process).
pub async fn spawn_tls(backends: Backends, certs: &Path) -> TestApp {
    let env = tls_env(certs);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with(backends, &env).await
}

/// A health check over TLS trusting `ca`, presenting `identity` if any.
async fn check(app: &TestApp, ca: &Path, identity: Option<&Path>) -> Result<(), String> {
    let read = |p: PathBuf| std::fs::read(p).expect("read pem");
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca.join("ca.pem"))))
        .domain_name("localhost");
    if let Some(dir) = identity {
        tls = tls.identity(Identity::from_pem(
            read(dir.join("envoy.pem")),
            read(dir.join("envoy.key")),
        ));
    }
    let endpoint = Endpoint::from_shared(format!("https://{}", app.grpc_addr))
        .expect("endpoint")
        .tls_config(tls)
        .expect("tls");
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn only_callers_with_a_certificate_from_the_client_ca_get_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = dev_certs(&dir.path().join("ours"));
    let theirs = dev_certs(&dir.path().join("theirs"));
    let app = spawn_tls(Backends::default(), &ours).await;

    check(&app, &ours, Some(&ours))
        .await
        .expect("Envoy's certificate is accepted");
    let err = check(&app, &ours, None)
        .await
        .expect_err("no client certificate");
    eprintln!("without a certificate: {err}");
    let err = check(&app, &ours, Some(&theirs))
        .await
        .expect_err("a certificate from another CA");
    eprintln!("with another CA's certificate: {err}");

    // Plaintext gRPC is refused too.
    let plain = Endpoint::from_shared(format!("http://{}", app.grpc_addr))
        .expect("endpoint")
        .connect()
        .await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .is_err(),
    };
    assert!(refused, "plaintext calls do not reach the services");

    // The certificates' expiry, for the alerts: each file's notAfter as
    // openssl reads it.
    let (_, metrics) = crate::helpers::http_get(app.admin_addr, "/metrics").await;
    for (certificate, file) in [("server", "server.pem"), ("client_ca", "ca.pem")] {
        let series =
            format!(r#"tls_certificate_expiry_timestamp_seconds{{certificate="{certificate}"}}"#);
        let reported = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str())?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series}:\n{metrics}"));
        assert_eq!(
            reported,
            not_after(&ours.join(file)) as f64,
            "{certificate}"
        );
    }
}

/// A certificate's notAfter (Unix seconds), read by openssl.
fn not_after(pem: &Path) -> i64 {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(pem)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    let date = text.trim().trim_start_matches("notAfter=");
    chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%SZ")
        .unwrap_or_else(|e| panic!("{date}: {e}"))
        .and_utc()
        .timestamp()
}
