//! `freedumb healthcheck`: asks the local admin listener's `/ready`, so a
//! container HEALTHCHECK needs no curl.

use anyhow::Context as _;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// `Ok` when `/ready` answers 200 within a few seconds.
pub async fn run(config: &freedumb_kit::Config) -> anyhow::Result<()> {
    let mut addr = config.admin_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let check = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to the admin listener at {addr}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let request = http::Request::get("/ready")
            .header(http::header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "not ready: /ready answered {}",
            response.status()
        );
        Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), check)
        .await
        .context("timed out")?
}
