//! Imports: what a request may import, and the statistics a large import
//! makes stale.

use async_trait::async_trait;

use super::{EventBuilder, StoreError, TransactionRecord};

/// What an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New transactions.
    pub imported: u64,
    /// Lines imported before.
    pub skipped: u64,
}

/// A user's statement imports.
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    /// Records imported lines, all for one account, that it did not import
    /// before (by `import_key`).
    async fn import_transactions(
        &self,
        transactions: &[TransactionRecord],
        events: EventBuilder<'_>,
    ) -> Result<ImportCounts, StoreError>;
}

/// The query planner's statistics, for every user's rows.
#[async_trait]
pub trait StatisticsStore: Send + Sync + 'static {
    /// Refreshes the query planner's statistics of the transactions table
    /// (after a bulk import, so listings keep using the right index).
    async fn refresh_statistics(&self) -> Result<(), StoreError>;
}
