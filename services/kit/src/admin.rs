//! The admin HTTP listener: Prometheus `/metrics`, liveness `/health` and
//! readiness `/ready` (503 as soon as shutdown begins, or while any check
//! fails).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::state::SharedState;
use crate::{Database, Migrations, Shutdown};

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Something that must be healthy for the process to take traffic.
#[async_trait]
pub trait ReadinessCheck: Send + Sync + 'static {
    /// Short name shown in `/ready`.
    fn name(&self) -> &str;
    /// `Ok` when ready.
    async fn check(&self) -> anyhow::Result<()>;
}

/// A service database: reachable, with every migration applied.
pub struct DatabaseReady {
    name: String,
    db: Database,
    migrations: Migrations,
}

impl DatabaseReady {
    /// A check of `db` named after its service.
    pub fn new(service: &str, db: Database, migrations: Migrations) -> Self {
        Self {
            name: format!("{service}-database"),
            db,
            migrations,
        }
    }
}

#[async_trait]
impl ReadinessCheck for DatabaseReady {
    fn name(&self) -> &str {
        &self.name
    }
    async fn check(&self) -> anyhow::Result<()> {
        self.db.check_ready(&self.migrations).await
    }
}

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    prometheus: PrometheusHandle,
    shutdown: Shutdown,
    checks: Arc<Vec<Arc<dyn ReadinessCheck>>>,
    pools: Arc<Vec<(String, Database)>>,
    /// Pinged on each scrape for `dependency_up{dependency="redis"}`.
    shared: Option<SharedState>,
}

impl AdminState {
    /// State for a process whose readiness is `checks` and whose pools are
    /// reported as metrics.
    pub fn new(
        prometheus: PrometheusHandle,
        shutdown: Shutdown,
        checks: Vec<Arc<dyn ReadinessCheck>>,
        pools: Vec<(String, Database)>,
    ) -> Self {
        Self {
            prometheus,
            shutdown,
            checks: Arc::new(checks),
            pools: Arc::new(pools),
            shared: None,
        }
    }

    /// Also reports whether the shared state's Redis (if it has one)
    /// answers, on each scrape.
    #[must_use]
    pub fn with_shared_state(mut self, shared: SharedState) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Sets `dependency_up` for each Postgres pool (`service` = its
    /// database) and for Redis: 1 when it answered `SELECT 1` / `PING`
    /// within the readiness check's timeout, else 0. All are asked at once.
    /// A pool whose every connection is busy cannot ask in time, which says
    /// nothing of Postgres: its gauge is left as it was.
    async fn record_dependencies(&self) {
        let postgres = self.pools.iter().map(|(service, db)| async move {
            let up = match tokio::time::timeout(CHECK_TIMEOUT, db.ping()).await {
                Ok(None) | Ok(Some(Err(sqlx::Error::PoolTimedOut))) => return,
                Ok(Some(Ok(()))) => true,
                Ok(Some(Err(_))) => false,
                Err(_) => {
                    let (size, idle, max) = db.pool_stats();
                    if idle == 0 && size >= max {
                        return;
                    }
                    false
                }
            };
            crate::metrics::record_dependency("postgres", service, up);
        });
        let redis = async {
            let Some(shared) = &self.shared else { return };
            let up = match tokio::time::timeout(CHECK_TIMEOUT, shared.ping_redis()).await {
                Ok(None) => return,
                Ok(Some(result)) => result.is_ok(),
                Err(_) => false,
            };
            crate::metrics::record_dependency("redis", "", up);
        };
        futures::future::join(futures::future::join_all(postgres), redis).await;
    }

    /// Whether every check passes now (what `/ready` and `freedumb
    /// healthcheck` report).
    pub async fn readiness(&self) -> Result<(), Vec<String>> {
        if self.shutdown.is_triggered() {
            return Err(vec!["shutting down".into()]);
        }
        let results = futures::future::join_all(self.checks.iter().map(|check| async move {
            match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{}: {e:#}", check.name())),
                Err(_) => Some(format!("{}: timed out", check.name())),
            }
        }))
        .await;
        let failures: Vec<String> = results.into_iter().flatten().collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    for (service, db) in state.pools.iter() {
        let (size, idle, max) = db.pool_stats();
        crate::metrics::record_pool(service, size, idle, max);
    }
    state.record_dependencies().await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state.prometheus),
    )
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    match state.readiness().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ready" }))),
        Err(failures) => {
            tracing::warn!(?failures, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "not ready", "failures": failures })),
            )
        }
    }
}
