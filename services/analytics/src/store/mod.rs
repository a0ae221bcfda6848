//! The analytics read model: [`AnalyticsStore`] for what a request may read
//! or rebuild (every method scoped by the caller's user id) and
//! [`ModelStore`] for the event consumer's work across users.
//!
//! Per ledger transaction the model keeps the last version applied (its
//! update time in microseconds, or its deletion's) and its facts (one per
//! split); the sums per day (by category, by merchant, by account) are
//! kept in step with the facts: a change subtracts the transaction's old
//! facts and adds its new ones, in the transaction that records it. A
//! change applies only when it is newer than what was applied, so events
//! that arrive twice or out of order, and a rebuild racing live events,
//! all end in the same sums.

mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use uuid::Uuid;

pub use self::sql::SqlStore;
use crate::domain::{Fact, Span};

/// A change of the ledger, as the model applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A transaction exists with these facts.
    Upsert {
        /// Its owner.
        user_id: Uuid,
        /// The transaction.
        transaction_id: Uuid,
        /// Its update time, in microseconds.
        version: i64,
        /// What it contributes.
        facts: Vec<Fact>,
    },
    /// A transaction was deleted.
    Delete {
        /// Its owner.
        user_id: Uuid,
        /// The transaction.
        transaction_id: Uuid,
        /// When it was deleted, in microseconds.
        version: i64,
    },
    /// A category was deleted; its facts moved to `reassigned_to`, or lost
    /// their category. Changes older than `version` that arrive later move
    /// the same way.
    CategoryDeleted {
        /// Its owner.
        user_id: Uuid,
        /// The category.
        category_id: Uuid,
        /// Where its transactions went.
        reassigned_to: Option<Uuid>,
        /// When it was deleted, in microseconds.
        version: i64,
    },
}

/// One ledger event: its id (applied once) and its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventChanges {
    /// The event's id.
    pub event_id: Uuid,
    /// What it changes.
    pub changes: Vec<Change>,
}

/// What applying a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events applied now (not seen before).
    pub events: usize,
    /// Transactions changed.
    pub transactions: usize,
}

/// One category's sums on one day, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CategoryDay {
    /// The day.
    pub day: NaiveDate,
    /// The category (none: uncategorized).
    pub category_id: Option<Uuid>,
    /// Money in.
    pub inflow_minor: i64,
    /// Money out, positive.
    pub outflow_minor: i64,
    /// Facts counted.
    pub count: i64,
}

/// One merchant's sums over a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantSum {
    /// The merchant key.
    pub merchant: String,
    /// Money out less money in.
    pub spent_minor: i64,
    /// Facts counted.
    pub count: i64,
}

/// One account's net change on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountDay {
    /// The account.
    pub account_id: Uuid,
    /// The day.
    pub day: NaiveDate,
    /// The sum of its transactions that day (transfers included).
    pub net_minor: i64,
}

/// What requests may do, each for the user it names.
#[async_trait]
pub trait AnalyticsStore: Send + Sync + 'static {
    /// The user's sums per day and category in `currency` over `span`,
    /// transfers excepted.
    async fn list_category_days(
        &self,
        user_id: Uuid,
        currency: &str,
        span: Span,
    ) -> Result<Vec<CategoryDay>, StoreError>;

    /// The `limit` merchants the user spent the most at in `currency` over
    /// `span` (transfers excepted), largest first.
    async fn list_top_merchants(
        &self,
        user_id: Uuid,
        currency: &str,
        span: Span,
        limit: u32,
    ) -> Result<Vec<MerchantSum>, StoreError>;

    /// The user's net change per account and day after `after`.
    async fn list_account_days_after(
        &self,
        user_id: Uuid,
        after: NaiveDate,
    ) -> Result<Vec<AccountDay>, StoreError>;

    /// Applies the user's transactions as read from the ledger (each with
    /// its version and facts) where not older than what was applied, and
    /// deletes the tracked ones not among them that no event touched since
    /// `started_ms` (the rebuild's start, in Unix milliseconds): a rebuild.
    async fn rebuild(
        &self,
        user_id: Uuid,
        transactions: &[(Uuid, i64, Vec<Fact>)],
        started_ms: i64,
    ) -> Result<(), StoreError>;
}

/// The file a report operation makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    /// Its operation.
    pub operation_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// `text/csv; charset=utf-8` or `application/pdf`.
    pub content_type: String,
    /// The name a download suggests.
    pub file_name: String,
}

/// Report files and their chunks.
#[async_trait]
pub trait ReportStore: Send + Sync + 'static {
    /// Records the file an operation makes.
    async fn create_report_file(&self, file: &ReportFile) -> Result<(), StoreError>;

    /// The file of one of the user's operations.
    async fn get_report_file(
        &self,
        user_id: Uuid,
        operation_id: Uuid,
    ) -> Result<Option<ReportFile>, StoreError>;

    /// Adds chunk `seq` (from 0) of an operation's file.
    async fn append_report_chunk(
        &self,
        operation_id: Uuid,
        seq: i32,
        data: Vec<u8>,
    ) -> Result<(), StoreError>;

    /// Chunk `seq` of an operation's file, if there is one.
    async fn get_report_chunk(
        &self,
        operation_id: Uuid,
        seq: i32,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Drops an operation's chunks (a cancelled or failed report).
    async fn delete_report_chunks(&self, operation_id: Uuid) -> Result<(), StoreError>;
}

/// The event consumer's work, across users.
#[async_trait]
pub trait ModelStore: Send + Sync + 'static {
    /// Applies the events not applied before, in one transaction.
    async fn apply_events(
        &self,
        events: &[EventChanges],
        now_ms: i64,
    ) -> Result<Applied, StoreError>;

    /// Forgets handled event ids recorded before `before_ms` (Unix ms).
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError>;
}

/// The analytics stores on one database.
#[derive(Clone)]
pub struct Stores {
    /// Scoped by the caller.
    pub user: Arc<dyn AnalyticsStore>,
    /// The consumer's.
    pub model: Arc<dyn ModelStore>,
    /// Report files.
    pub reports: Arc<dyn ReportStore>,
    /// Report operations.
    pub operations: Arc<dyn freedumb_kit::operations::Operations>,
}

impl Stores {
    fn on<S: AnalyticsStore + ModelStore + ReportStore>(
        store: S,
        operations: Arc<dyn freedumb_kit::operations::Operations>,
    ) -> Self {
        let store = Arc::new(store);
        Self {
            user: store.clone(),
            model: store.clone(),
            reports: store,
            operations,
        }
    }
}

/// Builds the stores for a kit database (already migrated).
pub fn for_database(db: &freedumb_kit::Database) -> Stores {
    let operations = freedumb_kit::operations::for_database(db);
    db.with_pool(
        |pool| Stores::on(SqlStore::new(pool), operations.clone()),
        |pool| Stores::on(SqlStore::new(pool), operations.clone()),
    )
}

/// A store failure: the kit's.
pub use freedumb_kit::storage::StoreError;
