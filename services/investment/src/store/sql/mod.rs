//! The investment store in SQL both Postgres and SQLite accept, one file
//! per trait. Writes run in one transaction each
//! ([`begin_write`](freedumb_kit::storage::begin_write)).

mod activities;
mod instruments;
mod portfolios;
mod prices;

use chrono::{DateTime, Utc};
use freedumb_kit::domain::Currency;
use sqlx::{Database, Pool};
use uuid::Uuid;

use super::{IdempotencyKey, StoreError};

/// The investment stores over a sqlx pool of either backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

/// A stored currency code, checked.
fn currency(raw: &str, what: &str) -> Result<Currency, StoreError> {
    Currency::parse(raw).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A unique violation as `Duplicate(entity)`.
fn duplicate(e: sqlx::Error, entity: &'static str) -> StoreError {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(entity),
        e => StoreError::Database(e),
    }
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    /// Claims `key` for `resource_id` inside the create's transaction, or
    /// returns the resource an earlier request with the same key made
    /// (`RequestIdReused` when that request was a different one).
    pub(super) async fn claim_request(
        conn: &mut DB::Connection,
        user_id: Uuid,
        key: Option<&IdempotencyKey>,
        resource_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, StoreError> {
        let Some(key) = key else {
            return Ok(None);
        };
        let claimed: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO idempotency_keys (user_id, method, request_id, request_hash, resource_id, \
             create_time) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, method, request_id) DO NOTHING RETURNING user_id",
        )
        .bind(user_id)
        .bind(key.method.to_owned())
        .bind(key.request_id.clone())
        .bind(key.request_hash.clone())
        .bind(resource_id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if claimed.is_some() {
            return Ok(None);
        }
        let (hash, existing): (Vec<u8>, Uuid) = sqlx::query_as(
            "SELECT request_hash, resource_id FROM idempotency_keys \
             WHERE user_id = $1 AND method = $2 AND request_id = $3",
        )
        .bind(user_id)
        .bind(key.method.to_owned())
        .bind(key.request_id.clone())
        .fetch_one(&mut *conn)
        .await?;
        if hash != key.request_hash {
            return Err(StoreError::RequestIdReused);
        }
        Ok(Some(existing))
    }
);
