//! Imports: each import's record (what it reads, what it has done), the
//! batches it writes (each line at most once per account), and the
//! statistics a large import makes stale.

use async_trait::async_trait;
use uuid::Uuid;

use super::{EventBuilder, StoreError, TransactionRecord};

/// What a batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New transactions.
    pub imported: u64,
    /// Lines imported before.
    pub skipped: u64,
}

/// One line of a statement that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrorRecord {
    /// 1-based line in the file.
    pub line: u64,
    /// The option or the format's field at fault; empty for the line.
    pub field: String,
    /// Why.
    pub message: String,
}

/// An import: its file, and its counts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    /// The id of its operation.
    pub operation_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The account the lines go to.
    pub account_id: Uuid,
    /// The format read (`crate::import::Kind::as_str`).
    pub format: String,
    /// The file's size.
    pub file_bytes: u64,
    /// The client's idempotency key.
    pub request_id: Option<String>,
    /// Entries read.
    pub lines_read: u64,
    /// Transactions written.
    pub imported: u64,
    /// Lines imported before.
    pub skipped_duplicates: u64,
    /// Entries not yet booked.
    pub skipped_pending: u64,
    /// Lines that could not be read.
    pub error_count: u64,
    /// The first [`MAX_STORED_ERRORS`] of them, in file order.
    pub errors: Vec<ImportErrorRecord>,
}

/// Line errors kept per import (the count goes on).
pub const MAX_STORED_ERRORS: u64 = 1000;

/// What a batch read besides its transactions, recorded with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportBatch<'a> {
    /// The import.
    pub operation_id: Uuid,
    /// Entries read.
    pub read: u64,
    /// Entries not yet booked, skipped.
    pub pending: u64,
    /// Lines that could not be read.
    pub error_count: u64,
    /// Those of them to keep, and the position of the first among the
    /// import's kept errors.
    pub errors: &'a [ImportErrorRecord],
    /// See `errors`.
    pub first_error_seq: u64,
}

/// A user's statement imports.
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    /// Records a new import (before its operation);
    /// `Err(Duplicate("import"))` when the user has an import with the
    /// same request id.
    async fn create_import(&self, import: &ImportRecord) -> Result<(), StoreError>;

    /// The user's import started with `request_id`.
    async fn find_import(
        &self,
        user_id: Uuid,
        request_id: &str,
    ) -> Result<Option<Uuid>, StoreError>;

    /// One import of the user, with its kept errors.
    async fn get_import(
        &self,
        user_id: Uuid,
        operation_id: Uuid,
    ) -> Result<Option<ImportRecord>, StoreError>;

    /// Records imported lines, all for one account, that it did not import
    /// before (by `import_key`), and what the batch read into its import's
    /// record, in one database transaction.
    async fn import_transactions(
        &self,
        transactions: &[TransactionRecord],
        events: EventBuilder<'_>,
        batch: Option<&ImportBatch<'_>>,
    ) -> Result<ImportCounts, StoreError>;
}

/// The query planner's statistics, for every user's rows.
#[async_trait]
pub trait StatisticsStore: Send + Sync + 'static {
    /// Refreshes the query planner's statistics of the transactions table
    /// (after a bulk import, so listings keep using the right index).
    async fn refresh_statistics(&self) -> Result<(), StoreError>;
}
