//! Start-up and shutdown of a `freedumb serve` process: bind the listeners
//! (so port 0 works and failures surface before serving), start every
//! module of the targets in registry order, serve, and on SIGTERM — or when
//! any supervised task fails — report NOT_SERVING, drain and exit.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use freedumb_kit::admin::AdminState;
use freedumb_kit::auth::TokenVerifier;
use freedumb_kit::state::SharedState;
use freedumb_kit::{Config, Database, GrpcServer, Shutdown};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::registry::{Kind, Module, Targets};
use crate::wiring::{Task, Wiring};

/// Runs `targets` until SIGTERM/SIGINT.
pub async fn serve(config: Config, targets: Targets) -> anyhow::Result<()> {
    let _telemetry = freedumb_kit::telemetry::init(&config, &targets.service_name())?;
    let prometheus = freedumb_kit::metrics::install()?;
    freedumb_kit::metrics::record_process(env!("CARGO_PKG_VERSION"), config.concurrency_limit);
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    let modules = targets.resolve();
    let problems = crate::registry::together_problems(&config, &modules);
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("\n"));
    let app = App::build(config, &modules, prometheus, shutdown).await?;
    app.run().await
}

/// Applies the migrations of the databases `targets` use, and returns.
pub async fn migrate(config: Config, targets: Targets) -> anyhow::Result<()> {
    let modules = targets.resolve();
    let mut done = Vec::new();
    for (name, migrations) in modules.iter().filter_map(|m| m.database.map(|db| db())) {
        if done.contains(&name) {
            continue;
        }
        let db = crate::wiring::open_database(&config, name, migrations).await?;
        db.close().await;
        println!("{name}: migrations applied");
        done.push(name);
    }
    Ok(())
}

/// A built process, listeners bound, ready to [`App::run`].
pub struct App {
    config: Config,
    shutdown: Shutdown,
    server: GrpcServer,
    verifier: Arc<TokenVerifier>,
    admin: AdminState,
    databases: Vec<Database>,
    /// Servers and background work, supervised: background work is stopped
    /// after the gRPC server has drained, so everything it committed is
    /// published.
    tasks: Vec<Task>,
    tasks_stop: Shutdown,
    grpc_listener: TcpListener,
    admin_listener: TcpListener,
    gateway_addr: Option<SocketAddr>,
}

impl App {
    /// Connects, migrates and starts every module of `modules` (resolved
    /// targets, dependencies first).
    pub async fn build(
        config: Config,
        modules: &[&Module],
        prometheus: PrometheusHandle,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        // The gateway's own clients are judged by the configuration as
        // given; only the services trust the in-process gateway's loopback.
        let edge_config = config.clone();
        let mut config = config;
        let hosts_services = modules.iter().any(|m| m.kind == Kind::Service);
        let has_gateway = modules.iter().any(|m| m.kind == Kind::Edge);
        if has_gateway && hosts_services && config.gateway_upstream_url.is_none() {
            // The in-process gateway calls the services over loopback and
            // names the client in x-forwarded-for: believe it.
            config.trusted_proxies.extend(
                [
                    std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
                    std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                ]
                .map(ipnet::IpNet::from),
            );
        }
        let grpc_listener = bind(config.grpc_addr, "gRPC (FREEDUMB_GRPC_ADDR)").await?;
        let admin_listener = bind(config.admin_addr, "admin (FREEDUMB_ADMIN_ADDR)").await?;
        let state = SharedState::connect(&config).await?;
        let mut wiring = Wiring::new(
            config.clone(),
            edge_config,
            state.clone(),
            shutdown.clone(),
            grpc_listener.local_addr()?,
            hosts_services,
        );
        for module in modules {
            (module.init)(&mut wiring)
                .await
                .with_context(|| format!("starting module `{}`", module.name))?;
        }
        let parts = wiring.into_parts();
        let verifier = parts
            .provided
            .get::<Arc<TokenVerifier>>()
            .cloned()
            .context("no module provided the token verifier")?;
        let gateway_addr = parts
            .provided
            .get::<crate::gateway::GatewayAddr>()
            .map(|a| a.0);
        let databases = parts.databases.iter().map(|(_, db)| db.clone()).collect();
        let admin = AdminState::new(prometheus, shutdown.clone(), parts.checks, parts.databases)
            .with_shared_state(state);
        tracing::info!(
            modules = ?modules.iter().map(|m| m.name).collect::<Vec<_>>(),
            services = ?parts.server.service_names(),
            "built"
        );
        Ok(Self {
            config,
            shutdown,
            server: parts.server,
            verifier,
            admin,
            databases,
            tasks: parts.tasks,
            tasks_stop: parts.tasks_stop,
            grpc_listener,
            admin_listener,
            gateway_addr,
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

    /// The bound gateway address, when the gateway runs.
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway_addr
    }

    /// Serves until shutdown. If the admin server or any supervised task
    /// stops on its own, the process stops the way SIGTERM would (health
    /// NOT_SERVING, then drain) and the error names the culprit.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(
            grpc_addr = %self.grpc_addr()?,
            admin_addr = %self.admin_addr()?,
            gateway_addr = self.gateway_addr.map(|a| a.to_string()),
            "serving"
        );
        let mut tasks = Supervisor::start(self.tasks);
        let mut server = self.server;
        server.follow_readiness(self.admin.clone());
        let admin_stop = Shutdown::new();
        let admin = axum::serve(self.admin_listener, freedumb_kit::admin::router(self.admin))
            .with_graceful_shutdown({
                let stop = admin_stop.clone();
                async move { stop.wait().await }
            });
        let mut admin = tokio::spawn(async move { admin.await });
        let grpc = server.serve(
            self.grpc_listener,
            &self.config,
            self.verifier,
            self.shutdown.clone(),
        );
        tokio::pin!(grpc);
        let mut failure: Option<anyhow::Error> = None;
        let served = loop {
            tokio::select! {
                result = &mut grpc => break result.context("gRPC server"),
                joined = &mut admin, if failure.is_none() => {
                    let error = match joined {
                        Ok(Ok(())) => anyhow::anyhow!("admin server stopped unexpectedly"),
                        Ok(Err(e)) => anyhow::Error::from(e).context("admin server"),
                        Err(e) => anyhow::Error::from(e).context("admin server task"),
                    };
                    failure.get_or_insert_with(|| fail(&self.shutdown, error));
                }
                Some((name, outcome)) = tasks.next(), if failure.is_none() => {
                    if self.shutdown.is_triggered() {
                        // Servers end with the shutdown; nothing to report.
                        if let Err(e) = outcome {
                            tracing::error!(task = name, error = ?e, "failed while stopping");
                        }
                        continue;
                    }
                    let error = match outcome {
                        Ok(()) => anyhow::anyhow!("`{name}` stopped unexpectedly"),
                        Err(e) => e.context(format!("`{name}` failed")),
                    };
                    failure = Some(fail(&self.shutdown, error));
                }
            }
        };
        admin_stop.trigger();
        if !admin.is_finished() {
            let _ = admin.await;
        }
        self.tasks_stop.trigger();
        // A task that does not stop (a stream that never ends) must not
        // keep the process alive past the grace period.
        if tokio::time::timeout(self.config.shutdown_grace(), tasks.finish())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time; aborting them");
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
        let result = match (failure, served) {
            (Some(failure), served) => {
                if let Err(e) = served {
                    tracing::error!(error = ?e, "gRPC server failed while draining");
                }
                Err(failure)
            }
            (None, served) => served,
        };
        tracing::info!(ok = result.is_ok(), "stopped");
        result
    }
}

/// Starts an orderly stop because of `error` (as SIGTERM would: NOT_SERVING,
/// then drain), and returns it.
fn fail(shutdown: &Shutdown, error: anyhow::Error) -> anyhow::Error {
    tracing::error!(error = ?error, "stopping: a part of the process failed");
    shutdown.trigger();
    error
}

/// The supervised tasks of a running process.
struct Supervisor {
    set: JoinSet<anyhow::Result<()>>,
    names: std::collections::HashMap<tokio::task::Id, &'static str>,
}

impl Supervisor {
    fn start(tasks: Vec<Task>) -> Self {
        let mut set = JoinSet::new();
        let mut names = std::collections::HashMap::new();
        for task in tasks {
            let handle = set.spawn(task.future);
            names.insert(handle.id(), task.name);
        }
        Self { set, names }
    }

    /// The next task to finish, by name; a panic is its error. Pending
    /// forever when none is left, so it can sit in a `select!`.
    async fn next(&mut self) -> Option<(&'static str, anyhow::Result<()>)> {
        let Some(joined) = self.set.join_next_with_id().await else {
            return std::future::pending().await;
        };
        Some(self.named(joined))
    }

    /// A finished task's name and outcome; a panic is its error.
    fn named(
        &self,
        joined: Result<(tokio::task::Id, anyhow::Result<()>), tokio::task::JoinError>,
    ) -> (&'static str, anyhow::Result<()>) {
        let name = |id| self.names.get(&id).copied().unwrap_or("a task");
        match joined {
            Ok((id, outcome)) => (name(id), outcome),
            Err(e) => (name(e.id()), Err(anyhow::anyhow!("task panicked: {e}"))),
        }
    }

    /// Waits for every task still running (they have been told to stop).
    async fn finish(mut self) {
        while let Some(joined) = self.set.join_next_with_id().await {
            let (name, outcome) = self.named(joined);
            if let Err(e) = outcome {
                tracing::error!(task = name, error = ?e, "failed while stopping");
            }
        }
    }
}

/// Binds `addr`, naming the listener in the error.
pub async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener on {addr}"))
}
