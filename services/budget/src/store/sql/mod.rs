//! The budget store in SQL both Postgres and SQLite accept, one file per
//! trait: budgets (with the spending sums and the rebuild) and the
//! projection. Writes run in one transaction each
//! ([`begin_write`](freedumb_kit::storage::begin_write)).

mod budgets;
mod goals;
mod plans;
mod projection;

use sqlx::{Database, Pool};

/// [`BudgetStore`](super::BudgetStore) and
/// [`ProjectionStore`](super::ProjectionStore) over a sqlx pool of either
/// backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}
