//! Transfers: the record and what a request may do with it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Created, EventBuilder, Idempotency, StoreError, TransactionRecord};

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
