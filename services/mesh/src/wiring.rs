//! What modules build a process with: the one gRPC server they add services
//! to, the databases they share, what they provide each other, and the
//! tasks the process supervises.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use freedumb_kit::admin::{DatabaseReady, ReadinessCheck};
use freedumb_kit::state::SharedState;
use freedumb_kit::{Config, Database, GrpcServer, Migrations, Shutdown};
use futures::future::BoxFuture;

/// A long-running part of the process (a server, the relay, a worker). It
/// must run until it is told to stop; finishing earlier, with or without
/// an error, stops the whole process.
pub struct Task {
    /// The module part it runs, for the error that names it.
    pub name: &'static str,
    /// The work.
    pub future: BoxFuture<'static, anyhow::Result<()>>,
}

/// The process being built, handed to each module's `init` in turn.
pub struct Wiring {
    /// The configuration the services run with.
    pub config: Config,
    /// The configuration as given, for the edge: the in-process gateway's
    /// loopback is a trusted proxy for the services (it names the client
    /// in `x-forwarded-for`), never for the gateway's own clients.
    pub edge_config: Config,
    /// Rate-limit counters and revocations (Redis or in-process).
    pub state: SharedState,
    /// The one gRPC server every service is added to.
    pub server: GrpcServer,
    /// Triggered on SIGTERM or when a task fails: serving stops.
    pub shutdown: Shutdown,
    /// Where the gRPC listener is bound.
    pub grpc_addr: SocketAddr,
    /// Whether gRPC services run in this process.
    pub hosts_services: bool,
    provided: http::Extensions,
    databases: Vec<(String, Database)>,
    checks: Vec<Arc<dyn ReadinessCheck>>,
    tasks: Vec<Task>,
    tasks_stop: Shutdown,
}

impl Wiring {
    /// An empty process.
    pub fn new(
        config: Config,
        edge_config: Config,
        state: SharedState,
        shutdown: Shutdown,
        grpc_addr: SocketAddr,
        hosts_services: bool,
    ) -> Self {
        Self {
            config,
            edge_config,
            state,
            server: GrpcServer::new(),
            shutdown,
            grpc_addr,
            hosts_services,
            provided: http::Extensions::new(),
            databases: Vec::new(),
            checks: Vec::new(),
            tasks: Vec::new(),
            tasks_stop: Shutdown::new(),
        }
    }

    /// The migrated database of service `name`, connected once per process
    /// however many modules use it; its readiness joins `/ready`.
    pub async fn database(
        &mut self,
        name: &'static str,
        migrations: Migrations,
    ) -> anyhow::Result<Database> {
        if let Some((_, db)) = self.databases.iter().find(|(n, _)| n == name) {
            return Ok(db.clone());
        }
        let db = open_database(&self.config, name, migrations).await?;
        self.checks
            .push(Arc::new(DatabaseReady::new(name, db.clone(), migrations)));
        self.databases.push((name.to_owned(), db.clone()));
        Ok(db)
    }

    /// Makes `value` available to the modules that start later.
    pub fn provide<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.provided.insert(value);
    }

    /// What an earlier module provided, if it did.
    pub fn try_get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.provided.get::<T>().cloned()
    }

    /// What a dependency of `module` provided (a missing one is a registry
    /// mistake, reported by name).
    pub fn get<T: Clone + Send + Sync + 'static>(&self, module: &str) -> anyhow::Result<T> {
        self.try_get().with_context(|| {
            format!(
                "module `{module}` needs a {} that none of its dependencies provided",
                std::any::type_name::<T>()
            )
        })
    }

    /// Supervises `future` as task `name`.
    pub fn task(
        &mut self,
        name: &'static str,
        future: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        self.tasks.push(Task {
            name,
            future: Box::pin(future),
        });
    }

    /// Supervises background work that runs until the stop signal it is
    /// given, which comes after the gRPC server has drained, so that what
    /// the last calls committed is still handled.
    pub fn background<F, Fut>(&mut self, name: &'static str, work: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run = work(self.tasks_stop.clone());
        self.task(name, async move {
            run.await;
            Ok(())
        });
    }

    /// The built parts: (databases, readiness checks, tasks, the signal that
    /// stops background work).
    pub fn into_parts(self) -> Parts {
        Parts {
            server: self.server,
            provided: self.provided,
            databases: self.databases,
            checks: self.checks,
            tasks: self.tasks,
            tasks_stop: self.tasks_stop,
        }
    }
}

/// A finished [`Wiring`], taken apart by the app.
pub struct Parts {
    /// The gRPC server with every service added.
    pub server: GrpcServer,
    /// What modules provided.
    pub provided: http::Extensions,
    /// Every database pool, by service name.
    pub databases: Vec<(String, Database)>,
    /// What `/ready` checks.
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
    /// What the process supervises.
    pub tasks: Vec<Task>,
    /// Stops background work.
    pub tasks_stop: Shutdown,
}

/// Connects a service's database and applies its migrations.
pub async fn open_database(
    config: &Config,
    name: &str,
    migrations: Migrations,
) -> anyhow::Result<Database> {
    let db = Database::connect(config, name)
        .await
        .with_context(|| format!("{name}: database"))?;
    db.migrate(&migrations)
        .await
        .with_context(|| format!("{name}: migrations"))?;
    Ok(db)
}
