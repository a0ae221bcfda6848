//! The outbox: the change a store method announces, the event built from
//! it in the same transaction, and the relay's claims.

use async_trait::async_trait;
use uuid::Uuid;

use super::{StoreError, TransactionRecord, TransferRecord};

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

/// The outbox relay's side of the outbox, across every user.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
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
    async fn count_outbox(&self) -> Result<i64, StoreError>;
}
