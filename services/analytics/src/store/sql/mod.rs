//! The read model in SQL both Postgres and SQLite accept: applying changes
//! and rebuilding (`model.rs`), and the reads (`queries.rs`).

mod model;
mod queries;
mod reports;

use sqlx::{Database, Pool};

/// The analytics stores over a sqlx pool of either backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}
