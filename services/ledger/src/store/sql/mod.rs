//! The ledger store in SQL both Postgres and SQLite accept. Writes run in
//! one transaction each ([`begin_write`]): on SQLite `BEGIN IMMEDIATE` (the
//! write lock up front, so two writers never deadlock upgrading), on
//! Postgres row locks taken in a fixed order (accounts by id, see
//! [`SqlStore::apply_balance`]). "Rows affected" is read through
//! `RETURNING`, which both backends support.
//!
//! One file per resource implements its store trait; this one holds what
//! they share: the store, the backend bounds, the idempotency claim, the
//! balance update and the outbox insert.
//!
//! [`begin_write`]: freedumb_kit::storage::begin_write

/// Opens an `impl<DB> SqlStore<DB>` block bounded for every sqlx backend
/// (see [`freedumb_kit::sql_impl!`]): `sql_store!(fn ..)` gives inherent
/// methods, `sql_store!(use SomeStore; fn ..)` an `async_trait` impl of the
/// store trait `SomeStore`. Call it with parentheses so rustfmt formats the
/// methods inside.
macro_rules! sql_store {
    (use $store:ident; $($item:tt)*) => {
        freedumb_kit::sql_impl!([
            #[::async_trait::async_trait]
            impl<DB> $store for $crate::store::sql::SqlStore<DB>
        ] $($item)*);
    };
    ($($item:tt)*) => {
        freedumb_kit::sql_impl!([impl<DB> $crate::store::sql::SqlStore<DB>] $($item)*);
    };
}

mod accounts;
mod categories;
mod import;
mod rules;
mod search;
mod transactions;
mod transfers;

use chrono::{DateTime, Utc};

use sqlx::{Database, FromRow, Pool};
use uuid::Uuid;

use super::{Balance, Created, Idempotency, OutboxEvent, StoreError};
use crate::domain::MAX_BALANCE_MINOR;

/// Every store trait ([`LedgerStore`](super::LedgerStore) and
/// [`LedgerSystemStore`](super::LedgerSystemStore)) over a sqlx pool of
/// either backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

fn map_duplicate(entity: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(entity),
        _ => StoreError::Database(e),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

#[derive(FromRow)]
struct IdempotencyRow {
    request_hash: Vec<u8>,
    response: Vec<u8>,
}

// Steps shared by several store methods, run on one connection (inside the
// method's transaction).
sql_store!(
    /// Records the request id, or returns the first call's response (or
    /// [`StoreError::RequestIdReused`]) when it was seen before.
    async fn claim_request(
        conn: &mut DB::Connection,
        user_id: Uuid,
        idempotency: Option<&Idempotency>,
        now: DateTime<Utc>,
    ) -> Result<Option<Created>, StoreError> {
        let Some(idem) = idempotency else {
            return Ok(None);
        };
        // On Postgres a concurrent insert of the same key waits here for
        // the other transaction, then finds its row.
        let inserted: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO idempotency_keys (user_id, method, request_id, request_hash, response, \
             create_time) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, method, request_id) DO NOTHING RETURNING user_id",
        )
        .bind(user_id)
        .bind(idem.method.to_owned())
        .bind(idem.request_id.clone())
        .bind(idem.request_hash.clone())
        .bind(idem.response.clone())
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if inserted.is_some() {
            return Ok(None);
        }
        let first: IdempotencyRow = sqlx::query_as(
            "SELECT request_hash, response FROM idempotency_keys \
             WHERE user_id = $1 AND method = $2 AND request_id = $3",
        )
        .bind(user_id)
        .bind(idem.method.to_owned())
        .bind(idem.request_id.clone())
        .fetch_one(&mut *conn)
        .await?;
        if first.request_hash == idem.request_hash {
            Ok(Some(Created::Replay(first.response)))
        } else {
            Err(StoreError::RequestIdReused)
        }
    }

    /// Moves an account's balance by `delta`, refusing archived accounts
    /// and balances beyond ±[`MAX_BALANCE_MINOR`]; returns the new balance.
    ///
    /// This locks the account row until the commit: call it as late in
    /// the transaction as the change allows, and when a change moves
    /// several accounts, in account id order, so two transactions never
    /// wait on each other in a cycle.
    async fn apply_balance(
        conn: &mut DB::Connection,
        user_id: Uuid,
        account_id: Uuid,
        delta: i64,
        now: DateTime<Utc>,
    ) -> Result<Balance, StoreError> {
        let moved: Option<(i64, String)> = sqlx::query_as(
            "UPDATE accounts SET balance_minor = balance_minor + $1, update_time = $2 \
             WHERE id = $3 AND user_id = $4 AND archived = $5 \
             AND balance_minor + $1 BETWEEN $6 AND $7 RETURNING balance_minor, currency_code",
        )
        .bind(delta)
        .bind(now)
        .bind(account_id)
        .bind(user_id)
        .bind(false)
        .bind(-MAX_BALANCE_MINOR)
        .bind(MAX_BALANCE_MINOR)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((balance_minor, currency)) = moved {
            return Ok(Balance {
                account_id,
                balance_minor,
                currency,
            });
        }
        let archived: Option<(bool,)> =
            sqlx::query_as("SELECT archived FROM accounts WHERE id = $1 AND user_id = $2")
                .bind(account_id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
        Err(match archived {
            None => StoreError::NotFound("account"),
            Some((true,)) => StoreError::AccountArchived,
            Some((false,)) => StoreError::BalanceOutOfRange,
        })
    }

    /// Writes the event of a change to the outbox.
    async fn insert_event(
        conn: &mut DB::Connection,
        event: OutboxEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Self::insert_events(conn, &[(event, now)]).await
    }

    /// Writes events, each with its change's time, to the outbox in order
    /// (their `seq`, the order the relay publishes them in).
    async fn insert_events(
        conn: &mut DB::Connection,
        events: &[(OutboxEvent, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        Ok(freedumb_kit::outbox::SqlOutbox::<DB>::insert(conn, events).await?)
    }
);
