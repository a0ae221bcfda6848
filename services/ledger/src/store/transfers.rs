//! Transfers: the record and what a request may do with it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{AccountRecord, Created, EventBuilder, Idempotency, StoreError, TransactionRecord};

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

impl TransferRecord {
    /// A transfer `id` of `sent` minor units out of `from` and `received`
    /// into `to` on `date`, as two new legs.
    pub fn between(
        id: Uuid,
        (from, sent): (&AccountRecord, i64),
        (to, received): (&AccountRecord, i64),
        exchange_rate: String,
        date: NaiveDate,
        description: String,
        now: DateTime<Utc>,
    ) -> Self {
        let leg = |account: &AccountRecord, amount_minor: i64| TransactionRecord {
            id: Uuid::now_v7(),
            user_id: account.user_id,
            account_id: account.id,
            currency: account.currency.clone(),
            amount_minor,
            date,
            description: description.clone(),
            merchant: String::new(),
            category_id: None,
            splits: Vec::new(),
            tags: Vec::new(),
            notes: String::new(),
            transfer_id: Some(id),
            recurring: None,
            import_key: None,
            ai_categorized: false,
            revision: 0,
            create_time: now,
            update_time: now,
        };
        Self {
            id,
            user_id: from.user_id,
            exchange_rate,
            description: description.clone(),
            create_time: now,
            from: leg(from, -sent),
            to: leg(to, received),
        }
    }
}

/// A user's transfers.
#[async_trait]
pub trait TransferStore: Send + Sync + 'static {
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
}
