//! Database connections for a service: Postgres when `DATABASE_URL` is set
//! (each service in its own schema, so no service can reach another's
//! tables), SQLite under the data directory otherwise (one file per
//! service). Migrations are embedded per backend and run at start.

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::Config;

/// The migrations of one service, one set per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Applied on Postgres, inside the service's schema.
    pub postgres: &'static Migrator,
    /// Applied on the service's SQLite file.
    pub sqlite: &'static Migrator,
}

/// `migrator`, accepting migrations it does not know in the database.
fn tolerant(migrator: &Migrator) -> Migrator {
    Migrator {
        migrations: migrator.migrations.clone(),
        ignore_missing: true,
        ..Migrator::DEFAULT
    }
}

/// A service's connection pool on one of the supported backends.
#[derive(Debug, Clone)]
pub enum Database {
    /// Production backend.
    Postgres(PgPool),
    /// Embedded default.
    Sqlite(SqlitePool),
}

impl Database {
    /// Connects the pool of `service` (a lower-case identifier: the Postgres
    /// schema and the SQLite file name).
    pub async fn connect(config: &Config, service: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !service.is_empty() && service.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "service name `{service}` must be lower-case letters and underscores"
        );
        match &config.database_url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url.expose_secret())
                    .context("parsing DATABASE_URL")?
                    .application_name(&format!("freedumb-{service}"))
                    .options([("search_path", service)]);
                let pool = PgPoolOptions::new()
                    .max_connections(config.db_max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .context("connecting to Postgres")?;
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{service}\""))
                    .execute(&pool)
                    .await
                    .with_context(|| format!("creating schema {service}"))?;
                Ok(Self::Postgres(pool))
            }
            None => {
                std::fs::create_dir_all(&config.data_dir).with_context(|| {
                    format!("creating the data directory {}", config.data_dir.display())
                })?;
                let path = config.data_dir.join(format!("{service}.db"));
                let options = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                // A SQLite connection is a file this process holds open: it
                // cannot go stale, so the pool does not ping it before each
                // use (on SQLite a ping is a round trip to the connection's
                // worker thread, as costly as the query).
                let pool = SqlitePoolOptions::new()
                    .max_connections(config.db_max_connections)
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?;
                Ok(Self::Sqlite(pool))
            }
        }
    }

    /// Applies pending migrations (idempotent; safe from several replicas:
    /// sqlx takes a lock on Postgres).
    ///
    /// Migrations a newer release applied are left alone: during a rollout
    /// or after a rollback, the previous release runs against the schema
    /// the new one migrated, which expand/contract keeps compatible
    /// (docs/DEPLOYMENT.md). A migration both releases know must still be
    /// the same (sqlx compares checksums).
    pub async fn migrate(&self, migrations: &Migrations) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => tolerant(migrations.postgres).run(pool).await,
            Self::Sqlite(pool) => tolerant(migrations.sqlite).run(pool).await,
        }
        .context("running migrations")
    }

    /// Readiness: the database answers and every embedded migration has
    /// been applied.
    pub async fn check_ready(&self, migrations: &Migrations) -> anyhow::Result<()> {
        let (latest, applied): (Option<i64>, Option<i64>) = match self {
            Self::Postgres(pool) => (
                migrations.postgres.iter().map(|m| m.version).max(),
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?,
            ),
            Self::Sqlite(pool) => (
                migrations.sqlite.iter().map(|m| m.version).max(),
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(pool)
                    .await?,
            ),
        };
        anyhow::ensure!(
            applied >= latest,
            "migrations pending: at {applied:?}, need {latest:?}"
        );
        Ok(())
    }

    /// Whether the database answers a query now, and which backend it is
    /// (`Some` on Postgres; SQLite is a file, always there).
    pub async fn ping(&self) -> Option<Result<(), sqlx::Error>> {
        match self {
            Self::Postgres(pool) => Some(sqlx::query("SELECT 1").execute(pool).await.map(drop)),
            Self::Sqlite(_) => None,
        }
    }

    /// One value built from whichever pool this is, e.g. a store generic
    /// over the sqlx backend.
    pub fn with_pool<T>(
        &self,
        postgres: impl FnOnce(PgPool) -> T,
        sqlite: impl FnOnce(SqlitePool) -> T,
    ) -> T {
        match self {
            Self::Postgres(pool) => postgres(pool.clone()),
            Self::Sqlite(pool) => sqlite(pool.clone()),
        }
    }

    /// Pool size, idle connections and the most it may open, for metrics.
    pub fn pool_stats(&self) -> (u32, usize, u32) {
        match self {
            Self::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Self::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

/// A write transaction on either backend. On SQLite it is `BEGIN
/// IMMEDIATE`: the write lock is taken up front, so two writers never both
/// read and then deadlock upgrading (which SQLite answers with SQLITE_BUSY
/// at once, whatever the busy timeout). Postgres takes row locks as it goes.
///
/// On SQLite the writers of one process also queue for the file's
/// [`write_gate`] first, in turn, instead of meeting SQLite's busy handler,
/// which sleeps in steps of up to 100 ms between attempts (the tail of every
/// write under load). The busy timeout still covers other processes.
pub async fn begin_write<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> Result<WriteTx<DB>, sqlx::Error> {
    let gate = write_gate(pool).await;
    let tx = if DB::NAME == "SQLite" {
        pool.begin_with("BEGIN IMMEDIATE").await?
    } else {
        pool.begin().await?
    };
    Ok(WriteTx { tx, _gate: gate })
}

/// A write transaction from [`begin_write`]: the connection (it derefs to
/// it), and on SQLite the file's write gate, held until it ends.
pub struct WriteTx<DB: sqlx::Database> {
    // Dropped first: the transaction ends (or its rollback is queued)
    // before the gate opens.
    tx: sqlx::Transaction<'static, DB>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    /// Commits, then opens the gate.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// The write gate of a SQLite pool's file (none on Postgres): one writer
/// of this process at a time, first come first served.
pub async fn write_gate<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex, PoisonError};
    static GATES: LazyLock<Mutex<HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Mutex::default);
    let sqlite = (pool as &dyn std::any::Any).downcast_ref::<SqlitePool>()?;
    let file = sqlite.connect_options().get_filename().to_path_buf();
    let gate = GATES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(file)
        .or_default()
        .clone();
    Some(gate.lock_owned().await)
}

/// How a database failure that is nobody's fault should be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// The transaction lost a race with another one (serialization failure,
    /// deadlock, SQLite busy): retrying the whole request is safe (ABORTED).
    Conflict,
    /// No connection could be had in time: the database is overloaded or
    /// down (UNAVAILABLE).
    Unavailable,
}

/// A store failure of a domain whose stores fail in no other way.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist for this user.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A stored row does not decode (a bug or a hand edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else the database reported.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// As an event handler's failure: set aside when the same events would
    /// fail again (a corrupt row, data the database refuses), retried
    /// otherwise (see [`crate::events::Permanent`]).
    pub fn into_failure(self) -> anyhow::Error {
        let permanent = match &self {
            Self::Corrupt(_) => true,
            Self::Database(e) => is_data_error(e),
            Self::NotFound(_) => false,
        };
        crate::events::failure(self, permanent)
    }
}

/// A database error as a domain error: a transient one (logged, see
/// [`transient`]) through `transient`, any other through `unexpected`.
pub fn classify<E>(
    e: sqlx::Error,
    transient: impl FnOnce(Transient) -> E,
    unexpected: impl FnOnce(anyhow::Error) -> E,
) -> E {
    match self::transient(&e) {
        Some(kind) => {
            tracing::warn!(error = %e, ?kind, "transient database failure");
            transient(kind)
        }
        None => unexpected(e.into()),
    }
}

/// Whether `e` is the database refusing the data itself (Postgres SQLSTATE
/// classes 22, data exception, and 23, integrity constraint; SQLite
/// constraint, mismatch and too-big errors): the same statement fails the
/// same way every time.
pub fn is_data_error(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    if code.starts_with("22") || code.starts_with("23") {
        return true;
    }
    // SQLite's (extended) result codes: the primary code is the low byte.
    code.parse::<u32>()
        .is_ok_and(|c| matches!(c & 0xff, 18..=20))
}

/// Whether `e` is a failure that may succeed when retried, and which kind.
pub fn transient(e: &sqlx::Error) -> Option<Transient> {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // Postgres: serialization_failure, deadlock_detected,
            // lock_not_available; SQLite: SQLITE_BUSY and its extended codes.
            Some("40001" | "40P01" | "55P03" | "5" | "261" | "517")
        )
        .then_some(Transient::Conflict),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            Some(Transient::Unavailable)
        }
        _ => None,
    }
}
