//! Test support shared by every crate's tests: a throw-away Postgres
//! database per test, and the rule that a test needing Postgres or Redis
//! fails in CI (`CI` set) instead of skipping when they are not configured.
//!
//! Backends come from `TEST_DATABASE_URL` (a Postgres server URL whose user
//! may create databases) and `TEST_REDIS_URL`.

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

/// The URL in `var`, or `None` (with a note) when unset outside CI.
///
/// # Panics
/// When `var` is unset and `CI` is set: CI must exercise every backend.
pub fn backend_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} must be set in CI: this test needs that backend")
        }
        _ => {
            eprintln!("skipping: {var} is not set");
            None
        }
    }
}

/// A fresh, empty Postgres database for one test, or `None` when Postgres
/// is not configured (outside CI). Returns its URL.
pub async fn fresh_postgres_database() -> Option<String> {
    let server = backend_url("TEST_DATABASE_URL")?;
    let now = chrono::Utc::now().timestamp();
    let name = format!("freedumb_test_{now}_{}", uuid::Uuid::new_v4().simple());
    let options = PgConnectOptions::from_str(&server).expect("TEST_DATABASE_URL is a Postgres URL");
    let mut conn = options
        .connect()
        .await
        .expect("connecting to TEST_DATABASE_URL");
    drop_stale_databases(&mut conn, now).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    conn.close().await.ok();
    let mut url = url_without_database(&server);
    url.push('/');
    url.push_str(&name);
    Some(url)
}

/// A migrated database for a store contract test (the SQLite file's
/// directory lives as long as it does).
pub struct TestDatabase {
    /// The pool.
    pub db: crate::Database,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite database of `service` in a temporary directory, migrated
/// twice (every replica migrates at start, so the second run must be a
/// no-op) and checked ready.
pub async fn sqlite_database(service: &str, migrations: &crate::Migrations) -> TestDatabase {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::Config {
        data_dir: dir.path().to_owned(),
        ..crate::Config::default()
    };
    TestDatabase {
        db: migrated(&config, service, migrations).await,
        _dir: Some(dir),
    }
}

/// A fresh Postgres database of `service`, migrated as
/// [`sqlite_database`] does, or `None` when Postgres is not configured
/// (outside CI).
pub async fn postgres_database(
    service: &str,
    migrations: &crate::Migrations,
) -> Option<TestDatabase> {
    let url = fresh_postgres_database().await?;
    let config = crate::Config {
        database_url: Some(secrecy::SecretString::from(url)),
        ..crate::Config::default()
    };
    Some(TestDatabase {
        db: migrated(&config, service, migrations).await,
        _dir: None,
    })
}

async fn migrated(
    config: &crate::Config,
    service: &str,
    migrations: &crate::Migrations,
) -> crate::Database {
    let db = crate::Database::connect(config, service)
        .await
        .expect("connect");
    db.migrate(migrations).await.expect("migrate");
    db.migrate(migrations).await.expect("migrate again");
    db.check_ready(migrations).await.expect("ready");
    db
}

/// Checks that every down migration of `service` runs: migrates up, reverts
/// everything (leaving no table, index or view behind), migrates up again
/// and finds the same schema as the first time. On SQLite always, on
/// Postgres when it is configured.
///
/// # Panics
/// When a step fails or the schemas differ: this is a test helper.
pub async fn assert_migrations_round_trip(service: &str, migrations: &crate::Migrations) {
    let sqlite = sqlite_database(service, migrations).await;
    round_trip(service, &sqlite.db, migrations).await;
    if let Some(postgres) = postgres_database(service, migrations).await {
        round_trip(service, &postgres.db, migrations).await;
    }
}

async fn round_trip(service: &str, db: &crate::Database, migrations: &crate::Migrations) {
    let backend = match db {
        crate::Database::Postgres(_) => "postgres",
        crate::Database::Sqlite(_) => "sqlite",
    };
    let up = schema_objects(db).await;
    assert!(
        !up.is_empty(),
        "{service} on {backend}: the migrations created nothing"
    );
    // The previous release, which lacks the newest migration, still starts
    // on this schema (a rollout runs both; a rollback goes back to it).
    let previous = crate::Migrations {
        postgres: without_newest(migrations.postgres),
        sqlite: without_newest(migrations.sqlite),
    };
    db.migrate(&previous).await.unwrap_or_else(|e| {
        panic!("{service} on {backend}: the previous release cannot migrate: {e:#}")
    });
    db.check_ready(&previous).await.unwrap_or_else(|e| {
        panic!("{service} on {backend}: the previous release is not ready: {e:#}")
    });
    let reverted = match db {
        crate::Database::Postgres(pool) => migrations.postgres.undo(pool, 0).await,
        crate::Database::Sqlite(pool) => migrations.sqlite.undo(pool, 0).await,
    };
    reverted.unwrap_or_else(|e| panic!("{service} on {backend}: reverting: {e}"));
    let left = schema_objects(db).await;
    assert!(
        left.is_empty(),
        "{service} on {backend}: the down migrations left {left:?}"
    );
    db.migrate(migrations)
        .await
        .unwrap_or_else(|e| panic!("{service} on {backend}: migrating up again: {e:#}"));
    assert_eq!(
        schema_objects(db).await,
        up,
        "{service} on {backend}: up, down, up gave another schema"
    );
    db.check_ready(migrations)
        .await
        .unwrap_or_else(|e| panic!("{service} on {backend}: not ready after up again: {e:#}"));
}

/// `migrator` as the release before its newest migration had it.
fn without_newest(migrator: &sqlx::migrate::Migrator) -> &'static sqlx::migrate::Migrator {
    let newest = migrator.iter().map(|m| m.version).max().unwrap_or_default();
    let older: Vec<_> = migrator
        .iter()
        .filter(|m| m.version != newest)
        .cloned()
        .collect();
    Box::leak(Box::new(sqlx::migrate::Migrator {
        migrations: older.into(),
        ..sqlx::migrate::Migrator::DEFAULT
    }))
}

/// The tables, indexes, views and sequences of the service's schema (its
/// own Postgres schema, or its SQLite file), but sqlx's bookkeeping.
async fn schema_objects(db: &crate::Database) -> Vec<(String, String)> {
    let objects: Result<Vec<(String, String)>, sqlx::Error> =
        match db {
            crate::Database::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'i' THEN 'index' \
                 WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' ELSE c.relkind::text END, \
                 c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relname NOT LIKE '\\_sqlx\\_migrations%' \
                 ORDER BY 1, 2",
                )
                .fetch_all(pool)
                .await
            }
            crate::Database::Sqlite(pool) => sqlx::query_as(
                "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 AND name NOT LIKE '\\_sqlx\\_migrations%' ESCAPE '\\' ORDER BY 1, 2",
            )
            .fetch_all(pool)
            .await,
        };
    objects.expect("listing the schema's objects")
}

/// Runs each store contract test (an `async fn(store)`) on SQLite, and on
/// Postgres when it is configured: `store_contract!(open; test_a, test_b)`
/// where `open(&Database)` builds the store under test.
#[macro_export]
macro_rules! store_contract {
    ($service:expr, $migrations:expr, $open:expr; $($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test]
            async fn $name() {
                let test = $crate::testing::sqlite_database($service, &$migrations).await;
                super::$name(($open)(&test.db)).await;
            })*
        }
        mod postgres_backend {
            $(#[tokio::test]
            async fn $name() {
                if let Some(test) = $crate::testing::postgres_database($service, &$migrations).await {
                    super::$name(($open)(&test.db)).await;
                }
            })*
        }
    };
}

/// Test databases are left behind for inspection after a failure; the ones
/// older than a few hours are dropped here so they do not pile up.
async fn drop_stale_databases(conn: &mut sqlx::PgConnection, now: i64) {
    const STALE_SECS: i64 = 3 * 3600;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'freedumb_test_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name.split('_').nth(2).and_then(|t| t.parse::<i64>().ok());
        if created.is_some_and(|t| now - t > STALE_SECS) {
            // Another run may be dropping it too; failure is harmless.
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// `postgres://user@host:port/db?x` → `postgres://user@host:port`.
fn url_without_database(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    let authority_start = without_query.find("://").map_or(0, |i| i + 3);
    match without_query[authority_start..].find('/') {
        Some(slash) => without_query[..authority_start + slash].to_owned(),
        None => without_query.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_is_stripped_from_urls() {
        assert_eq!(
            super::url_without_database("postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
            "postgres://postgres@127.0.0.1:5432"
        );
        assert_eq!(super::url_without_database("postgres://h"), "postgres://h");
    }
}
