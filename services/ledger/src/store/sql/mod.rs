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

/// Opens an `impl<DB> SqlStore<DB>` block for every sqlx backend `DB` the
/// store's SQL runs on: `sql_store!(fn ..)` gives inherent methods,
/// `sql_store!(use SomeStore; fn ..)` an `async_trait` impl of the store
/// trait `SomeStore`.
///
/// The bounds are written here and only here. A helper trait cannot carry
/// them: Rust implies a trait's supertraits, not its other `where` clauses
/// (rust-lang/rust#20671), and `Uuid: Encode<DB>` is a clause about
/// `Uuid`. Call it with parentheses so rustfmt formats the methods inside.
macro_rules! sql_store {
    (use $store:ident; $($item:tt)*) => {
        sql_store!(@bounded [
            #[::async_trait::async_trait]
            impl<DB> $store for $crate::store::sql::SqlStore<DB>
        ] $($item)*);
    };
    (@bounded [$($head:tt)*] $($item:tt)*) => {
        $($head)*
        where
            DB: ::sqlx::Database,
            for<'c> &'c mut DB::Connection: ::sqlx::Executor<'c, Database = DB>,
            for<'q> DB::Arguments<'q>: ::sqlx::IntoArguments<'q, DB>,
            // Rows: by column name (`FromRow` structs) and position (tuples).
            for<'r> &'r str: ::sqlx::ColumnIndex<DB::Row>,
            usize: ::sqlx::ColumnIndex<DB::Row>,
            for<'a> ::sqlx::QueryBuilder<'a, DB>: $crate::store::sql::RunBuilt<DB>,
            ::uuid::Uuid: $crate::store::sql::ColumnType<DB>,
            Option<::uuid::Uuid>: $crate::store::sql::ColumnType<DB>,
            String: $crate::store::sql::ColumnType<DB>,
            i64: $crate::store::sql::ColumnType<DB>,
            i32: $crate::store::sql::ColumnType<DB>,
            bool: $crate::store::sql::ColumnType<DB>,
            Vec<u8>: $crate::store::sql::ColumnType<DB>,
            Option<Vec<u8>>: $crate::store::sql::ColumnType<DB>,
            ::chrono::NaiveDate: $crate::store::sql::ColumnType<DB>,
            Option<::chrono::NaiveDate>: $crate::store::sql::ColumnType<DB>,
            ::chrono::DateTime<::chrono::Utc>: $crate::store::sql::ColumnType<DB>,
        {
            $($item)*
        }
    };
    ($($item:tt)*) => {
        sql_store!(@bounded [impl<DB> $crate::store::sql::SqlStore<DB>] $($item)*);
    };
}

mod accounts;
mod categories;
mod import;
mod outbox;
mod rules;
mod transactions;
mod transfers;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::{Database, Decode, Encode, FromRow, Pool, QueryBuilder, Type};
use uuid::Uuid;

use super::{Created, Idempotency, OutboxEvent, StoreError};
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

/// A Rust type the store binds to, and reads from, columns of `DB`.
pub trait ColumnType<DB: Database>:
    for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + 'static
{
}

impl<DB: Database, T> ColumnType<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + 'static
{
}

/// Runs a query built with [`QueryBuilder`] on a connection.
///
/// Implemented for each backend's builder rather than once for all. A
/// SQLite builder's arguments borrow for `'args`; at the concrete type the
/// compiler may shorten that borrow to the query's, but generic code would
/// have to keep the builder borrowed until it is dropped, which the borrow
/// checker refuses.
pub trait RunBuilt<DB: Database> {
    /// `build_query_as().fetch_all(conn)`.
    fn fetch_all<'e, O>(
        &'e mut self,
        conn: &'e mut DB::Connection,
    ) -> BoxFuture<'e, Result<Vec<O>, sqlx::Error>>
    where
        O: for<'r> FromRow<'r, DB::Row> + Send + Unpin + 'e;

    /// `build().execute(conn)`, without the backend's own result type.
    fn execute<'e>(
        &'e mut self,
        conn: &'e mut DB::Connection,
    ) -> BoxFuture<'e, Result<(), sqlx::Error>>;
}

/// The same body for each backend, type-checked at each.
macro_rules! run_built {
    ($($db:ty),*) => {$(
        impl<'args> RunBuilt<$db> for QueryBuilder<'args, $db> {
            fn fetch_all<'e, O>(
                &'e mut self,
                conn: &'e mut <$db as Database>::Connection,
            ) -> BoxFuture<'e, Result<Vec<O>, sqlx::Error>>
            where
                O: for<'r> FromRow<'r, <$db as Database>::Row> + Send + Unpin + 'e,
            {
                Box::pin(self.build_query_as().fetch_all(conn))
            }

            fn execute<'e>(
                &'e mut self,
                conn: &'e mut <$db as Database>::Connection,
            ) -> BoxFuture<'e, Result<(), sqlx::Error>> {
                Box::pin(async move { self.build().execute(conn).await.map(|_| ()) })
            }
        }
    )*};
}

run_built!(sqlx::Postgres, sqlx::Sqlite);

/// How many rows of `columns` bound values each one statement may carry:
/// SQLite takes at most 32 766 bind parameters, Postgres 65 535.
fn rows_per_statement<DB: Database>(columns: usize) -> usize {
    let limit = if DB::NAME == "SQLite" { 32_766 } else { 65_535 };
    (limit / columns.max(1)).max(1)
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
    /// and balances beyond ±[`MAX_BALANCE_MINOR`].
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
    ) -> Result<(), StoreError> {
        let moved: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE accounts SET balance_minor = balance_minor + $1, update_time = $2 \
             WHERE id = $3 AND user_id = $4 AND archived = $5 \
             AND balance_minor + $1 BETWEEN $6 AND $7 RETURNING id",
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
        if moved.is_some() {
            return Ok(());
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
        const COLUMNS: usize = 5;
        for batch in events.chunks(rows_per_statement::<DB>(COLUMNS)) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO outbox (event_id, user_id, kind, payload, create_time) ",
            );
            insert.push_values(batch, |mut row, (event, time)| {
                row.push_bind(event.event_id)
                    .push_bind(event.user_id)
                    .push_bind(event.kind.clone())
                    .push_bind(event.payload.clone())
                    .push_bind(*time);
            });
            insert.execute(&mut *conn).await?;
        }
        Ok(())
    }
);
