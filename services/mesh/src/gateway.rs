//! The `gateway` module: the REST+JSON and gRPC-web edge, served on its own
//! listener in front of the services of this process or of an upstream.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use freedumb_kit::Shutdown;
use freedumb_kit::auth::TokenVerifier;
use futures::future::BoxFuture;
use tokio::net::TcpListener;

use crate::wiring::Wiring;

/// Where the gateway listens, provided for the "serving" log line.
#[derive(Debug, Clone, Copy)]
pub struct GatewayAddr(pub SocketAddr);

/// Binds the gateway's listener and supervises its server.
pub fn init(w: &mut Wiring) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        let listener =
            crate::app::bind(w.config.gateway_addr, "gateway (FREEDUMB_GATEWAY_ADDR)").await?;
        let upstream = match (&w.config.gateway_upstream_url, w.hosts_services) {
            (Some(url), _) => url.clone(),
            (None, true) if w.config.tls.cert_file.is_some() => anyhow::bail!(
                "with TLS on the gRPC listener (FREEDUMB_TLS__*), the gateway needs \
                 FREEDUMB_GATEWAY_UPSTREAM_URL (e.g. Envoy) or its own process"
            ),
            (None, true) => format!("http://{}", w.grpc_addr),
            (None, false) => anyhow::bail!(
                "FREEDUMB_GATEWAY_UPSTREAM_URL is required when the gateway runs without the services"
            ),
        };
        let verifier: Arc<TokenVerifier> = w.get("gateway")?;
        let gateway =
            freedumb_gateway::Gateway::new(&upstream, &w.edge_config, w.state.limiter.clone())
                .with_context(|| format!("building the gateway (upstream {upstream})"))?
                .with_verifier(verifier);
        tracing::info!(
            routes = gateway.routes().len(),
            %upstream,
            "gateway routes built"
        );
        w.provide(GatewayAddr(listener.local_addr()?));
        let stop = w.shutdown.clone();
        w.task("gateway", serve(listener, Arc::new(gateway), stop));
        Ok(())
    })
}

/// Serves until `stop`, then finishes the requests in flight.
async fn serve(
    listener: TcpListener,
    gateway: Arc<freedumb_gateway::Gateway>,
    stop: Shutdown,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt as _;
    let app = gateway
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    // Small answers must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.wait().await })
        .await
        .context("gateway server")
}
