//! What a store needs to run the same SQL on Postgres and SQLite: the
//! bounds of a store generic over the sqlx backend, written once
//! ([`sql_impl!`](crate::sql_impl)), and queries built with
//! [`QueryBuilder`] run on a connection ([`RunBuilt`]).

use futures::future::BoxFuture;
use sqlx::{Database, Decode, Encode, FromRow, QueryBuilder, Type};

/// Opens an `impl<DB> …` block (the head in brackets) bounded for every
/// sqlx backend `DB` a store's SQL runs on:
///
/// ```ignore
/// freedumb_kit::sql_impl!([#[async_trait] impl<DB> AuthStore for SqlStore<DB>]
///     async fn get_user(&self, ..) -> .. { .. }
/// );
/// ```
///
/// The bounds live here and only here. A helper trait cannot carry them:
/// Rust implies a trait's supertraits, not its other `where` clauses
/// (rust-lang/rust#20671), and `Uuid: Encode<DB>` is a clause about
/// `Uuid`. Row structs deriving `FromRow` decode through the
/// [`ColumnType`] bounds. Call it with parentheses so rustfmt formats the
/// items inside.
#[macro_export]
macro_rules! sql_impl {
    ([$($head:tt)*] $($item:tt)*) => {
        $($head)*
        where
            DB: ::sqlx::Database,
            // Bulk writes reach Postgres' own connection ([`crate::pgcopy`]).
            DB::Connection: 'static,
            for<'c> &'c mut DB::Connection: ::sqlx::Executor<'c, Database = DB>,
            for<'c> &'c ::sqlx::Pool<DB>: ::sqlx::Executor<'c, Database = DB>,
            for<'q> DB::Arguments<'q>: ::sqlx::IntoArguments<'q, DB>,
            // Rows: by column name (`FromRow` structs) and position (tuples).
            for<'r> &'r str: ::sqlx::ColumnIndex<DB::Row>,
            usize: ::sqlx::ColumnIndex<DB::Row>,
            for<'a> ::sqlx::QueryBuilder<'a, DB>: $crate::sql::RunBuilt<DB>,
            ::uuid::Uuid: $crate::sql::ColumnType<DB>,
            Option<::uuid::Uuid>: $crate::sql::ColumnType<DB>,
            String: $crate::sql::ColumnType<DB>,
            Option<String>: $crate::sql::ColumnType<DB>,
            i64: $crate::sql::ColumnType<DB>,
            Option<i64>: $crate::sql::ColumnType<DB>,
            i32: $crate::sql::ColumnType<DB>,
            bool: $crate::sql::ColumnType<DB>,
            Vec<u8>: $crate::sql::ColumnType<DB>,
            Option<Vec<u8>>: $crate::sql::ColumnType<DB>,
            ::chrono::NaiveDate: $crate::sql::ColumnType<DB>,
            Option<::chrono::NaiveDate>: $crate::sql::ColumnType<DB>,
            ::chrono::DateTime<::chrono::Utc>: $crate::sql::ColumnType<DB>,
            Option<::chrono::DateTime<::chrono::Utc>>: $crate::sql::ColumnType<DB>,
        {
            $($item)*
        }
    };
}

/// A Rust type a store binds to, and reads from, columns of `DB`.
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

    /// [`fetch_all`](Self::fetch_all) of a statement not kept prepared, so
    /// that Postgres plans it for the values bound each time instead of
    /// settling, after a few runs, on one generic plan for any values: for
    /// queries whose best plan depends on them (how rare a searched word
    /// is decides between an index of words and a walk by date).
    fn fetch_all_replanned<'e, O>(
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

            fn fetch_all_replanned<'e, O>(
                &'e mut self,
                conn: &'e mut <$db as Database>::Connection,
            ) -> BoxFuture<'e, Result<Vec<O>, sqlx::Error>>
            where
                O: for<'r> FromRow<'r, <$db as Database>::Row> + Send + Unpin + 'e,
            {
                Box::pin(self.build_query_as().persistent(false).fetch_all(conn))
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

/// How many rows of `columns` bound values one statement may carry:
/// SQLite takes at most 32 766 bind parameters, Postgres 65 535.
pub fn rows_per_statement<DB: Database>(columns: usize) -> usize {
    let limit = if DB::NAME == "SQLite" { 32_766 } else { 65_535 };
    (limit / columns.max(1)).max(1)
}
