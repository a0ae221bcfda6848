//! Start-up and shutdown of a `freedumb serve` process: build every enabled
//! module, bind the listeners (so port 0 works and failures surface before
//! serving), serve, and on SIGTERM drain and exit.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use freedumb_kit::admin::{AdminState, DatabaseReady, ReadinessCheck};
use freedumb_kit::auth::{GrpcKeySource, KeySource, TokenVerifier};
use freedumb_kit::state::SharedState;
use freedumb_kit::{Config, Database, GrpcServer, Shutdown};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::targets::{Target, Targets};

/// Runs `targets` until SIGTERM/SIGINT.
pub async fn serve(config: Config, targets: Targets) -> anyhow::Result<()> {
    let _telemetry = freedumb_kit::telemetry::init(&config, "freedumb")?;
    let prometheus = freedumb_kit::metrics::install()?;
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let app = App::build(config, targets, prometheus, shutdown).await?;
    app.run().await
}

/// Applies the migrations of `targets` and returns.
pub async fn migrate(config: Config, targets: Targets) -> anyhow::Result<()> {
    let mut done = Vec::new();
    for target in targets.iter() {
        let Some((name, migrations)) = target.database() else {
            continue;
        };
        if done.contains(&name) {
            continue;
        }
        let db = open_database(&config, name, migrations).await?;
        db.close().await;
        println!("{name}: migrations applied");
        done.push(name);
    }
    Ok(())
}

impl Target {
    /// The database the target works on: its service's name and migrations.
    fn database(self) -> Option<(&'static str, freedumb_kit::Migrations)> {
        match self {
            Target::Auth => Some((freedumb_auth::NAME, freedumb_auth::MIGRATIONS)),
            Target::Ledger | Target::WorkerRecurring => {
                Some((freedumb_ledger::NAME, freedumb_ledger::MIGRATIONS))
            }
            Target::Gateway => None,
        }
    }
}

/// Connects a service's database and applies its migrations.
async fn open_database(
    config: &Config,
    name: &'static str,
    migrations: freedumb_kit::Migrations,
) -> anyhow::Result<Database> {
    let db = Database::connect(config, name)
        .await
        .with_context(|| format!("{name}: database"))?;
    db.migrate(&migrations)
        .await
        .with_context(|| format!("{name}: migrations"))?;
    Ok(db)
}

/// A built process, listeners bound, ready to [`App::run`].
pub struct App {
    config: Config,
    shutdown: Shutdown,
    server: GrpcServer,
    verifier: Arc<TokenVerifier>,
    admin: AdminState,
    databases: Vec<Database>,
    /// Background work (outbox relay, workers), stopped after the gRPC
    /// server has drained so that everything it committed is published.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    tasks_stop: Shutdown,
    grpc_listener: TcpListener,
    admin_listener: TcpListener,
    gateway: Option<(TcpListener, Arc<freedumb_gateway::Gateway>)>,
}

impl App {
    /// Connects, migrates and builds every module of `targets`.
    pub async fn build(
        config: Config,
        targets: Targets,
        prometheus: PrometheusHandle,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let mut config = config;
        let hosts_services = targets.contains(Target::Auth) || targets.contains(Target::Ledger);
        if targets.contains(Target::Gateway)
            && hosts_services
            && config.gateway_upstream_url.is_none()
        {
            // The in-process gateway calls the services over loopback and
            // names the client in x-forwarded-for: believe it.
            config.trusted_proxies.extend([
                std::net::IpAddr::from([127, 0, 0, 1]),
                std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ]);
        }
        let state = SharedState::connect(&config).await?;
        let mut server = GrpcServer::new();
        let mut checks: Vec<Arc<dyn ReadinessCheck>> = Vec::new();
        let mut pools = Vec::new();
        let mut key_source: Option<Arc<dyn KeySource>> = None;
        let mut ledger: Option<freedumb_ledger::Ledger> = None;
        let mut tasks = Vec::new();
        let tasks_stop = Shutdown::new();

        for target in targets.iter() {
            let Some((name, migrations)) = target.database() else {
                continue;
            };
            let db = match pools.iter().find(|(n, _): &&(String, Database)| n == name) {
                Some((_, db)) => db.clone(),
                None => {
                    let db = open_database(&config, name, migrations).await?;
                    checks.push(Arc::new(DatabaseReady::new(name, db.clone(), migrations)));
                    pools.push((name.to_owned(), db.clone()));
                    db
                }
            };
            if matches!(target, Target::Ledger | Target::WorkerRecurring) && ledger.is_none() {
                let bus = freedumb_kit::events::connect(&config).await?;
                let built = freedumb_ledger::Ledger::new(&config, &db, bus);
                tasks.push(tokio::spawn(built.relay().run(tasks_stop.clone())));
                ledger = Some(built);
            }
            match target {
                Target::Auth => {
                    let auth =
                        freedumb_auth::build(&config, &db, &state).context("starting auth")?;
                    for method in freedumb_auth::PUBLIC_METHODS {
                        server.allow_anonymous(method);
                    }
                    server.add_service(auth.server);
                    key_source = Some(Arc::new(freedumb_auth::LocalKeySource(auth.keys)));
                }
                Target::Ledger => {
                    if let Some(ledger) = &ledger {
                        server.add_service(ledger.service(shutdown.clone()));
                    }
                }
                Target::WorkerRecurring => {
                    if let Some(ledger) = &ledger {
                        tasks.push(tokio::spawn(
                            ledger.recurring_worker().run(tasks_stop.clone()),
                        ));
                    }
                }
                Target::Gateway => {}
            }
        }

        let key_source = match key_source {
            Some(local) => local,
            None => {
                let url = config.auth_url.as_deref().context(
                    "FREEDUMB_AUTH_URL is required when the auth target does not run in this process",
                )?;
                // Logouts reach other processes only through Redis.
                anyhow::ensure!(
                    config.redis_url.is_some(),
                    "REDIS_URL is required when the auth target runs in another process \
                     (session revocations are shared through it)"
                );
                Arc::new(GrpcKeySource::new(url)?)
            }
        };
        let verifier = Arc::new(TokenVerifier::new(
            &config.auth,
            key_source,
            state.revocations.clone(),
        ));

        let grpc_listener = bind(config.grpc_addr, "gRPC (FREEDUMB_GRPC_ADDR)").await?;
        let admin_listener = bind(config.admin_addr, "admin (FREEDUMB_ADMIN_ADDR)").await?;
        let gateway = if targets.contains(Target::Gateway) {
            let listener = bind(config.gateway_addr, "gateway (FREEDUMB_GATEWAY_ADDR)").await?;
            let upstream = match (&config.gateway_upstream_url, hosts_services) {
                (Some(url), _) => url.clone(),
                (None, true) if config.tls.cert_file.is_some() => anyhow::bail!(
                    "with TLS on the gRPC listener (FREEDUMB_TLS__*), the gateway needs \
                     FREEDUMB_GATEWAY_UPSTREAM_URL (e.g. Envoy) or its own process"
                ),
                (None, true) => format!("http://{}", grpc_listener.local_addr()?),
                (None, false) => anyhow::bail!(
                    "FREEDUMB_GATEWAY_UPSTREAM_URL is required when the gateway runs without the services"
                ),
            };
            let gateway =
                freedumb_gateway::Gateway::new(&upstream, &config, state.counters.clone())
                    .with_context(|| format!("building the gateway (upstream {upstream})"))?;
            tracing::info!(routes = gateway.routes().len(), %upstream, "gateway routes built");
            Some((listener, Arc::new(gateway)))
        } else {
            None
        };
        let databases = pools.iter().map(|(_, db)| db.clone()).collect();
        let admin = AdminState::new(prometheus, shutdown.clone(), checks, pools);
        tracing::info!(targets = ?targets.names(), services = ?server.service_names(), "built");
        Ok(Self {
            config,
            shutdown,
            server,
            verifier,
            admin,
            databases,
            tasks,
            tasks_stop,
            grpc_listener,
            admin_listener,
            gateway,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> std::io::Result<SocketAddr> {
        self.grpc_listener.local_addr()
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin_listener.local_addr()
    }

    /// Serves until shutdown. If the admin server fails, everything stops
    /// and the error names it.
    pub async fn run(self) -> anyhow::Result<()> {
        let gateway_addr = match &self.gateway {
            Some((listener, _)) => Some(listener.local_addr()?),
            None => None,
        };
        tracing::info!(
            grpc_addr = %self.grpc_addr()?,
            admin_addr = %self.admin_addr()?,
            gateway_addr = gateway_addr.map(|a| a.to_string()),
            "serving"
        );
        let gateway_task = self.gateway.map(|(listener, gateway)| {
            let stop = self.shutdown.clone();
            tokio::spawn(async move {
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
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.wait().await })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = ?e, "gateway server failed");
                }
            })
        });
        let admin_stop = Shutdown::new();
        let admin = axum::serve(self.admin_listener, freedumb_kit::admin::router(self.admin))
            .with_graceful_shutdown({
                let stop = admin_stop.clone();
                async move { stop.wait().await }
            });
        let mut admin = tokio::spawn(async move { admin.await });
        let grpc = self.server.serve(
            self.grpc_listener,
            &self.config,
            self.verifier,
            self.shutdown.clone(),
        );
        tokio::pin!(grpc);
        let result = tokio::select! {
            result = &mut grpc => result.context("gRPC server"),
            joined = &mut admin => {
                // Stop the way SIGTERM would: NOT_SERVING, then drain.
                self.shutdown.trigger();
                let drained = grpc.await;
                let admin_error = match joined {
                    Ok(Ok(())) => anyhow::anyhow!("admin server stopped unexpectedly"),
                    Ok(Err(e)) => anyhow::Error::from(e).context("admin server"),
                    Err(e) => anyhow::Error::from(e).context("admin server task"),
                };
                if let Err(e) = drained {
                    tracing::error!(error = ?e, "gRPC server failed while draining");
                }
                Err(admin_error)
            }
        };
        admin_stop.trigger();
        if !admin.is_finished() {
            let _ = admin.await;
        }
        if let Some(task) = gateway_task {
            let _ = task.await;
        }
        self.tasks_stop.trigger();
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = ?e, "background task failed");
            }
        }
        for db in &self.databases {
            // Calls abandoned after the grace period may still hold
            // connections; do not wait for them.
            if tokio::time::timeout(std::time::Duration::from_secs(2), db.close())
                .await
                .is_err()
            {
                tracing::warn!("database pool did not close in time");
            }
        }
        tracing::info!(ok = result.is_ok(), "stopped");
        result
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener on {addr}"))
}
