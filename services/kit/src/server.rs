//! The one gRPC server of a `freedumb` process. Each enabled module adds
//! its services; [`GrpcServer::serve`] adds health and reflection, wraps
//! everything in the request stack and serves until shutdown, draining
//! in-flight calls within the grace period.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::{Routes, RoutesBuilder};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;

use crate::admin::AdminState;
use crate::auth::{AuthLayer, PublicMethods, TokenVerifier};
use crate::{Config, Shutdown};

/// How often gRPC health is brought in line with readiness.
const READINESS_EVERY: Duration = Duration::from_secs(5);

/// Services collected from the enabled modules.
#[derive(Default)]
pub struct GrpcServer {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    public: PublicMethods,
    readiness: Option<AdminState>,
}

impl GrpcServer {
    /// An empty server.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hosts `service`: routed, health-reported and listed by reflection.
    pub fn add_service<S>(&mut self, service: S) -> &mut Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Lets `method` (full path) be called without an access token.
    pub fn allow_anonymous(&mut self, method: &str) -> &mut Self {
        self.public.allow(method);
        self
    }

    /// The hosted services' names.
    pub fn service_names(&self) -> &[&'static str] {
        &self.names
    }

    /// Makes gRPC health follow the process's readiness (what `/ready`
    /// reports): NOT_SERVING while a database is unreachable or a
    /// migration is missing, so that load balancers checking gRPC health
    /// (Envoy, Kubernetes probes) route around the replica until it
    /// recovers.
    pub fn follow_readiness(&mut self, readiness: AdminState) -> &mut Self {
        self.readiness = Some(readiness);
        self
    }

    /// Serves on `listener` until `shutdown`, then: health NOT_SERVING for
    /// every service, wait `shutdown_delay` (so load balancers notice) while
    /// still serving, stop accepting, and wait for in-flight calls for at
    /// most the grace period; calls still running then are abandoned (they
    /// end with the process).
    pub async fn serve(
        self,
        listener: TcpListener,
        config: &Config,
        verifier: Arc<TokenVerifier>,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = self.routes;
        for name in &self.names {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        health.set_service_status("", ServingStatus::Serving).await;
        let follower = self.readiness.map(|readiness| {
            let follow = follow_readiness(
                health.clone(),
                self.names.clone(),
                readiness,
                shutdown.clone(),
                READINESS_EVERY,
            );
            AbortOnDrop(tokio::spawn(follow))
        });
        // Reflection lists what this process hosts, not every contract.
        let reflection = || {
            let builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(freedumb_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name("grpc.health.v1.Health");
            self.names
                .iter()
                .fold(builder, |b, name| b.with_service_name(*name))
        };
        routes
            .add_service(health_service)
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?);
        let routes: Routes = routes.routes();

        let stack = ServiceBuilder::new()
            // Browsers speak gRPC-web; translate first so everything below
            // sees plain gRPC.
            .layer(tonic_web::GrpcWebLayer::new())
            // A span per call continuing the caller's trace; everything
            // below (including rejections) logs inside it.
            .layer(crate::trace::TraceLayer)
            // Count and time every call, including rejected ones.
            .layer(crate::metrics::MetricsLayer::new())
            // The deadline (the server's, or the caller's if shorter) covers
            // the wait for a slot below; late calls end DEADLINE_EXCEEDED.
            .layer(crate::deadline::DeadlineLayer::new(
                config.request_timeout(),
            ))
            // Bound the work in progress; excess calls queue here instead of
            // overloading the database.
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                config.concurrency_limit,
            ))
            // Innermost: verify the token, then hand the caller to handlers.
            .layer(AuthLayer::new(verifier, self.public));

        let names = self.names;
        let delay = config.shutdown_delay();
        let grace = config.shutdown_grace();
        let signal = {
            let shutdown = shutdown.clone();
            async move {
                shutdown.wait().await;
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                for name in names {
                    health
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
                tracing::info!(delay_secs = delay.as_secs(), "health set to NOT_SERVING");
                tokio::time::sleep(delay).await;
                tracing::info!("no longer accepting connections; draining in-flight calls");
            }
        };
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = crate::tls::server_config(&config.tls)? {
            builder = builder.tls_config(tls)?;
        }
        let server = builder
            .accept_http1(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .layer(stack)
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                // Small unary replies must not wait for Nagle's algorithm.
                tonic::transport::server::TcpIncoming::from(listener)
                    .with_nodelay(Some(true))
                    .with_keepalive(Some(Duration::from_secs(60))),
                signal,
            );
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result?,
            () = async { shutdown.wait().await; tokio::time::sleep(delay + grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "grace period over; abandoning unfinished calls");
            }
        }
        drop(follower);
        Ok(())
    }
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sets every hosted service's health (and the overall `""`) to what
/// `readiness` says, every `every`, until shutdown (which sets
/// NOT_SERVING itself).
async fn follow_readiness(
    health: HealthReporter,
    names: Vec<&'static str>,
    readiness: AdminState,
    shutdown: Shutdown,
    every: Duration,
) {
    let set = |status: ServingStatus| {
        let health = health.clone();
        let names = names.clone();
        async move {
            health.set_service_status("", status).await;
            for name in names {
                health.set_service_status(name, status).await;
            }
        }
    };
    let mut serving = true;
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(every) => {}
        }
        let ready = readiness.readiness().await;
        if ready.is_ok() == serving || shutdown.is_triggered() {
            continue;
        }
        serving = ready.is_ok();
        match ready {
            Ok(()) => {
                tracing::info!("ready again: gRPC health SERVING");
                set(ServingStatus::Serving).await;
            }
            Err(failures) => {
                tracing::warn!(?failures, "not ready: gRPC health NOT_SERVING");
                set(ServingStatus::NotServing).await;
            }
        }
        if shutdown.is_triggered() {
            // The shutdown began while this was setting SERVING.
            set(ServingStatus::NotServing).await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_server::Health as _;

    use super::*;
    use crate::admin::ReadinessCheck;

    struct Switch(Arc<AtomicBool>);

    #[async_trait::async_trait]
    impl ReadinessCheck for Switch {
        fn name(&self) -> &str {
            "database"
        }
        async fn check(&self) -> anyhow::Result<()> {
            anyhow::ensure!(self.0.load(Ordering::SeqCst), "unreachable");
            Ok(())
        }
    }

    async fn status(health: &tonic_health::server::HealthService, service: &str) -> i32 {
        health
            .check(tonic::Request::new(HealthCheckRequest {
                service: service.into(),
            }))
            .await
            .expect("known service")
            .into_inner()
            .status
    }

    #[tokio::test]
    async fn health_follows_readiness_until_shutdown() {
        let reporter = HealthReporter::new();
        let health = Arc::new(tonic_health::server::HealthService::from_health_reporter(
            reporter.clone(),
        ));
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("svc", ServingStatus::Serving)
            .await;
        let up = Arc::new(AtomicBool::new(true));
        let shutdown = Shutdown::new();
        let readiness = AdminState::new(
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .build_recorder()
                .handle(),
            shutdown.clone(),
            vec![Arc::new(Switch(up.clone()))],
            Vec::new(),
        );
        let every = Duration::from_millis(20);
        let follower = tokio::spawn(follow_readiness(
            reporter.clone(),
            vec!["svc"],
            readiness,
            shutdown.clone(),
            every,
        ));
        let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
        let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
        let eventually = |want: i32| {
            let health = health.clone();
            async move {
                for _ in 0..250 {
                    if status(&health, "").await == want && status(&health, "svc").await == want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("health never became {want}");
            }
        };
        up.store(false, Ordering::SeqCst);
        eventually(not_serving).await;
        up.store(true, Ordering::SeqCst);
        eventually(serving).await;
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .expect("the follower stops at shutdown")
            .expect("joined");
    }
}
