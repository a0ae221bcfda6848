//! Accounts: the record and what a request may do with it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Created, EventBuilder, Idempotency, StoreError};

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

/// A user's accounts.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
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

    /// Applies `patch` (moving the balance with the opening balance) and
    /// announces the change.
    async fn update_account(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &AccountPatch,
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
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
    async fn list_daily_sums(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(i64, Vec<(NaiveDate, i64)>), StoreError>;
}
