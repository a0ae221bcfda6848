//! The ledger's persistence: one trait whose methods are each one database
//! transaction, scoped by the user they concern; one implementation,
//! generic over the sqlx backend, instantiated for Postgres and SQLite.
//!
//! Every write that changes money updates the account balance in the same
//! transaction, guarded so a balance never leaves ±[`MAX_BALANCE_MINOR`],
//! and writes its event to the outbox in that transaction too.
//!
//! [`MAX_BALANCE_MINOR`]: crate::domain::MAX_BALANCE_MINOR

mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

pub use self::sql::SqlStore;

/// Builds the store for a kit database.
pub fn for_database(db: &freedumb_kit::Database) -> Arc<dyn LedgerStore> {
    match db {
        freedumb_kit::Database::Postgres(pool) => Arc::new(SqlStore::new(pool.clone())),
        freedumb_kit::Database::Sqlite(pool) => Arc::new(SqlStore::new(pool.clone())),
    }
}

/// The current instant at the precision every backend keeps.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    Utc::now().trunc_subsecs(6)
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist for this user.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique key is taken.
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// The request id was used for a different request.
    #[error("request id reused")]
    RequestIdReused,
    /// The account takes no new transactions.
    #[error("account is archived")]
    AccountArchived,
    /// The change would take a balance out of range.
    #[error("balance out of range")]
    BalanceOutOfRange,
    /// A category id is not one of the user's.
    #[error("unknown category {0}")]
    UnknownCategory(Uuid),
    /// The object changed meanwhile; read it again.
    #[error("concurrent change")]
    Conflict,
    /// The object's state forbids the change.
    #[error("{0}")]
    Precondition(String),
    /// Anything else the database reported.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A create's idempotency record: the request's fingerprint and the
/// response to repeat.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The RPC, so one id can serve different methods.
    pub method: &'static str,
    /// The client's key.
    pub request_id: String,
    /// SHA-256 of the encoded request.
    pub request_hash: Vec<u8>,
    /// The encoded response of the first call.
    pub response: Vec<u8>,
}

/// The result of an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Written now.
    New,
    /// Written before: the first call's encoded response.
    Replay(Vec<u8>),
}

/// An account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// Kind (the proto enum name without prefix, lower-case).
    pub kind: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Opening balance, minor units.
    pub opening_balance_minor: i64,
    /// Current balance, minor units.
    pub balance_minor: i64,
    /// No new transactions.
    pub archived: bool,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// The changeable fields of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPatch {
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<String>,
    /// New opening balance.
    pub opening_balance_minor: Option<i64>,
}

/// A category row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Name, unique among siblings (case-insensitively).
    pub name: String,
    /// `income` or `expense`.
    pub kind: String,
    /// Parent, for a subcategory.
    pub parent_id: Option<Uuid>,
    /// Created.
    pub create_time: DateTime<Utc>,
}

/// One category's part of a split transaction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitRecord {
    /// Category.
    pub category_id: Uuid,
    /// Amount, minor units.
    pub amount_minor: i64,
}

/// A transaction row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    /// Id (UUIDv7: orders by creation).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Account.
    pub account_id: Uuid,
    /// The account's currency.
    pub currency: String,
    /// Signed amount, minor units.
    pub amount_minor: i64,
    /// Booking date.
    pub date: NaiveDate,
    /// Description.
    pub description: String,
    /// Merchant.
    pub merchant: String,
    /// The one category of the whole amount.
    pub category_id: Option<Uuid>,
    /// Two or more categories (then `category_id` is `None`).
    pub splits: Vec<SplitRecord>,
    /// Sorted, distinct tags.
    pub tags: Vec<String>,
    /// Notes.
    pub notes: String,
    /// The transfer it is a leg of.
    pub transfer_id: Option<Uuid>,
    /// The recurring rule that recorded it, and for which date.
    pub recurring: Option<(Uuid, NaiveDate)>,
    /// Fingerprint of the imported statement line.
    pub import_key: Option<Vec<u8>>,
    /// Bumped on every update (optimistic concurrency).
    pub revision: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

impl TransactionRecord {
    /// Every category it refers to.
    pub fn category_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.category_id.into_iter().collect();
        ids.extend(self.splits.iter().map(|s| s.category_id));
        ids.sort();
        ids.dedup();
        ids
    }
}

/// A transfer row with its two legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Exchange rate as given.
    pub exchange_rate: String,
    /// Description.
    pub description: String,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// The negative leg on the source account.
    pub from: TransactionRecord,
    /// The positive leg on the destination account.
    pub to: TransactionRecord,
}

/// A recurring rule row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Account.
    pub account_id: Uuid,
    /// The account's currency.
    pub currency: String,
    /// Amount of each occurrence.
    pub amount_minor: i64,
    /// Description of each occurrence.
    pub description: String,
    /// Merchant of each occurrence.
    pub merchant: String,
    /// Category of each occurrence.
    pub category_id: Option<Uuid>,
    /// Tags of each occurrence.
    pub tags: Vec<String>,
    /// When it falls due.
    pub schedule: crate::recurrence::Schedule,
    /// Index of the next occurrence to record.
    pub next_index: i64,
    /// Its date, `None` once the rule has ended.
    pub next_date: Option<NaiveDate>,
    /// Created.
    pub create_time: DateTime<Utc>,
}

/// Filters of a transaction listing (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    /// One account.
    pub account_id: Option<Uuid>,
    /// One category (whole or split).
    pub category_id: Option<Uuid>,
    /// Booking date from, inclusive.
    pub start_date: Option<NaiveDate>,
    /// Booking date to, inclusive.
    pub end_date: Option<NaiveDate>,
    /// Amount from, inclusive.
    pub min_amount_minor: Option<i64>,
    /// Amount to, inclusive.
    pub max_amount_minor: Option<i64>,
    /// Lower-case substring of description or merchant.
    pub text: Option<String>,
    /// Every one of these tags.
    pub tags: Vec<String>,
}

/// Where a transaction listing continues: after this (date, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionCursor {
    /// Booking date of the last row returned.
    pub date: NaiveDate,
    /// Id of the last row returned.
    pub id: Uuid,
}

/// An event for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Event id.
    pub event_id: Uuid,
    /// The user it concerns.
    pub user_id: Uuid,
    /// Its type.
    pub kind: String,
    /// Encoded `LedgerEvent`.
    pub payload: Vec<u8>,
}

/// An outbox row claimed by a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Commit sequence.
    pub seq: i64,
    /// The event.
    pub event: OutboxEvent,
}

/// Builds the outbox events of a change from its records, so the store
/// writes them in the change's own database transaction.
pub type EventBuilder<'a> = &'a (dyn Fn(&Change<'_>) -> OutboxEvent + Send + Sync);

/// A change the ledger announces.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Recorded.
    TransactionCreated(&'a TransactionRecord),
    /// Changed.
    TransactionUpdated {
        /// Before.
        before: &'a TransactionRecord,
        /// After.
        after: &'a TransactionRecord,
    },
    /// Deleted.
    TransactionDeleted(&'a TransactionRecord),
    /// Transfer recorded.
    TransferCreated(&'a TransferRecord),
    /// Transfer deleted.
    TransferDeleted(&'a TransferRecord),
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New transactions.
    pub imported: u64,
    /// Lines imported before.
    pub skipped: u64,
}

/// The ledger's persistence.
#[async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    /// Creates the user's profile and default categories on first use;
    /// returns whether it did.
    async fn ensure_profile(
        &self,
        user_id: Uuid,
        defaults: &[CategoryRecord],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Opens an account.
    async fn create_account(
        &self,
        account: &AccountRecord,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StoreError>;
    /// One account.
    async fn get_account(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<AccountRecord>, StoreError>;
    /// Accounts after `after` (by id), at most `limit`.
    async fn list_accounts(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
        show_archived: bool,
    ) -> Result<Vec<AccountRecord>, StoreError>;
    /// Applies `patch` (moving the balance with the opening balance).
    async fn update_account(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &AccountPatch,
        now: DateTime<Utc>,
    ) -> Result<AccountRecord, StoreError>;
    /// Archives an account.
    async fn archive_account(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<AccountRecord, StoreError>;
    /// The sum of the account's transactions before `start`, and per day
    /// from `start` to `end`.
    async fn daily_sums(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(i64, Vec<(NaiveDate, i64)>), StoreError>;

    /// Every category of the user.
    async fn list_categories(&self, user_id: Uuid) -> Result<Vec<CategoryRecord>, StoreError>;
    /// Adds a category.
    async fn create_category(&self, category: &CategoryRecord) -> Result<(), StoreError>;
    /// Renames or moves a category.
    async fn update_category(&self, category: &CategoryRecord) -> Result<(), StoreError>;
    /// Deletes a leaf category, moving its transactions and rules to
    /// `reassign_to`; returns how many transactions moved.
    async fn delete_category(
        &self,
        user_id: Uuid,
        id: Uuid,
        reassign_to: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Records a transaction.
    async fn create_transaction(
        &self,
        transaction: &TransactionRecord,
        idempotency: Option<&Idempotency>,
        events: EventBuilder<'_>,
    ) -> Result<Created, StoreError>;
    /// One transaction.
    async fn get_transaction(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransactionRecord>, StoreError>;
    /// Newest first, after `cursor`, at most `limit`.
    async fn list_transactions(
        &self,
        user_id: Uuid,
        filter: &TransactionFilter,
        cursor: Option<TransactionCursor>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError>;
    /// Replaces `before` with `after` if nobody changed it meanwhile
    /// ([`StoreError::Conflict`] otherwise).
    async fn update_transaction(
        &self,
        before: &TransactionRecord,
        after: &TransactionRecord,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError>;
    /// Deletes a transaction that is not a transfer leg.
    async fn delete_transaction(
        &self,
        user_id: Uuid,
        id: Uuid,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError>;

    /// Records a transfer and both legs.
    async fn create_transfer(
        &self,
        transfer: &TransferRecord,
        idempotency: Option<&Idempotency>,
        events: EventBuilder<'_>,
    ) -> Result<Created, StoreError>;
    /// One transfer with its legs.
    async fn get_transfer(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransferRecord>, StoreError>;
    /// Deletes a transfer and both legs.
    async fn delete_transfer(
        &self,
        user_id: Uuid,
        id: Uuid,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError>;

    /// Adds a recurring rule.
    async fn create_rule(
        &self,
        rule: &RuleRecord,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StoreError>;
    /// One rule.
    async fn get_rule(&self, user_id: Uuid, id: Uuid) -> Result<Option<RuleRecord>, StoreError>;
    /// Rules after `after` (by id), at most `limit`.
    async fn list_rules(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RuleRecord>, StoreError>;
    /// Deletes a rule.
    async fn delete_rule(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;
    /// Rules with an occurrence due on or before `today`.
    async fn due_rules(&self, today: NaiveDate, limit: u32) -> Result<Vec<Uuid>, StoreError>;
    /// Records the rule's next occurrence if it is due on or before
    /// `today` and nobody recorded it yet; returns the transaction
    /// recorded, if any.
    async fn record_next_occurrence(
        &self,
        rule_id: Uuid,
        today: NaiveDate,
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<Option<TransactionRecord>, StoreError>;

    /// Records imported lines not imported before (by `import_key`).
    async fn import_transactions(
        &self,
        transactions: &[TransactionRecord],
        events: EventBuilder<'_>,
    ) -> Result<ImportCounts, StoreError>;

    /// Refreshes the query planner's statistics of the transactions table
    /// (after a bulk import, so listings keep using the right index).
    async fn refresh_statistics(&self) -> Result<(), StoreError>;

    /// Claims up to `limit` unpublished events, oldest first, until
    /// `claim_until_ms` (another relay takes them over after that).
    async fn claim_outbox(
        &self,
        token: Uuid,
        now_ms: i64,
        claim_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// Deletes published events still held by `token`.
    async fn delete_outbox(&self, token: Uuid, seqs: &[i64]) -> Result<(), StoreError>;
    /// How many events wait to be published.
    async fn outbox_len(&self) -> Result<i64, StoreError>;
}
