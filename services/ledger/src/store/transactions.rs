//! Transactions: the record, the filters of a listing, and what a request
//! may do with them.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Created, EventBuilder, Idempotency, StoreError};

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
    /// Whether the ai service chose the category (or splits); a user's
    /// change of them clears it.
    pub ai_categorized: bool,
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

/// A user's transactions.
#[async_trait]
pub trait TransactionStore: Send + Sync + 'static {
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

    /// Sets, in one transaction, the categories the ai service proposed
    /// for `user_id`'s transactions, marked as the ai's, on those still
    /// uncategorized (no category, no splits, not a transfer leg) and
    /// unchanged since the ai decided, whose category still exists;
    /// returns the ids set.
    async fn apply_ai_categories(
        &self,
        user_id: Uuid,
        proposals: &[AiCategory],
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<Vec<Uuid>, StoreError>;
}

/// A category the ai service proposed for a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiCategory {
    /// The transaction.
    pub transaction_id: Uuid,
    /// Its `update_time` (µs) when the ai decided.
    pub decided_on_micros: i64,
    /// The category for money out, if the proposal names one.
    pub expense: Option<Uuid>,
    /// The category for money in, if the proposal names one.
    pub income: Option<Uuid>,
}
