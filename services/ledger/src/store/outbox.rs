//! The outbox: the change a store method announces and the event built
//! from it in the same transaction (the table and the relay are the kit's,
//! [`freedumb_kit::outbox`]).

pub use freedumb_kit::outbox::OutboxEvent;

use uuid::Uuid;

use super::{AccountRecord, CategoryRecord, TransactionRecord, TransferRecord};

/// Builds the outbox event of a change from its records and the balances
/// it left, so the store writes it in the change's own database
/// transaction.
pub type EventBuilder<'a> = &'a (dyn Fn(&Change<'_>, &[Balance]) -> OutboxEvent + Send + Sync);

/// An account's balance as a change left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The account.
    pub account_id: Uuid,
    /// Its balance, minor units.
    pub balance_minor: i64,
    /// Its currency.
    pub currency: String,
}

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
    /// Account changed (name, kind or opening balance).
    AccountUpdated {
        /// Before.
        before: &'a AccountRecord,
        /// After.
        after: &'a AccountRecord,
    },
    /// Category deleted, its transactions moved to `reassigned_to` (or
    /// uncategorized).
    CategoryDeleted {
        /// The category as it was.
        category: &'a CategoryRecord,
        /// Where its transactions went.
        reassigned_to: Option<Uuid>,
    },
}
