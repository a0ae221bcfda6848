//! The outbox: the change a store method announces and the event built
//! from it in the same transaction (the table and the relay are the kit's,
//! [`freedumb_kit::outbox`]).

pub use freedumb_kit::outbox::OutboxEvent;

use uuid::Uuid;

use super::{CategoryRecord, TransactionRecord, TransferRecord};

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
    /// Category deleted, its transactions moved to `reassigned_to` (or
    /// uncategorized).
    CategoryDeleted {
        /// The category as it was.
        category: &'a CategoryRecord,
        /// Where its transactions went.
        reassigned_to: Option<Uuid>,
    },
}
