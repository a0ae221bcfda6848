//! The notification store in SQL both Postgres and SQLite accept: the feed
//! and preferences (`feed.rs`), endpoints and deliveries (`deliveries.rs`),
//! and the consumer's inbox (`inbox.rs`).

mod deliveries;
mod feed;
mod inbox;

use sqlx::{Database, Pool};

/// Every store trait over a sqlx pool of either backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}
