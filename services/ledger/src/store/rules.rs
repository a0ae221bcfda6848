//! Recurring rules: the record, what a request may do with it, and the
//! recurring worker's claims.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Created, EventBuilder, Idempotency, StoreError, TransactionRecord};

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

/// A user's recurring rules.
#[async_trait]
pub trait RuleStore: Send + Sync + 'static {
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
}

/// The recurring worker's side of the rules, across every user.
#[async_trait]
pub trait RecurringStore: Send + Sync + 'static {
    /// Rules with an occurrence due on or before `today`.
    async fn list_due_rules(&self, today: NaiveDate, limit: u32) -> Result<Vec<Uuid>, StoreError>;

    /// How many rules have an occurrence due on or before `today`, and
    /// the earliest such occurrence's date.
    async fn due_backlog(&self, today: NaiveDate) -> Result<(u64, Option<NaiveDate>), StoreError>;

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
}
