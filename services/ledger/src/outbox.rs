//! Ledger events: built from a change inside its database transaction
//! (the outbox), then moved to the event stream by the kit's relay
//! ([`freedumb_kit::outbox::Relay`]).

use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::convert;
use crate::store::{Balance, Change, OutboxEvent};

/// The stream ledger events are published on.
pub const STREAM: &str = "freedumb.ledger.v1.events";

/// The outbox row announcing `change`, which left `balances`.
pub fn build(change: &Change<'_>, balances: &[Balance]) -> OutboxEvent {
    use pb::ledger_event::Change as C;
    let (user_id, kind, payload) = match *change {
        Change::TransactionCreated(t) => (
            t.user_id,
            "transaction_created",
            C::TransactionCreated(pb::TransactionCreated {
                transaction: Some(convert::transaction(t)),
            }),
        ),
        Change::TransactionUpdated { before, after } => (
            after.user_id,
            "transaction_updated",
            C::TransactionUpdated(pb::TransactionUpdated {
                before: Some(convert::transaction(before)),
                after: Some(convert::transaction(after)),
            }),
        ),
        Change::TransactionDeleted(t) => (
            t.user_id,
            "transaction_deleted",
            C::TransactionDeleted(pb::TransactionDeleted {
                transaction: Some(convert::transaction(t)),
            }),
        ),
        Change::TransferCreated(t) => (
            t.user_id,
            "transfer_created",
            C::TransferCreated(pb::TransferCreated {
                transfer: Some(convert::transfer(t)),
                from_transaction: Some(convert::transaction(&t.from)),
                to_transaction: Some(convert::transaction(&t.to)),
            }),
        ),
        Change::TransferDeleted(t) => (
            t.user_id,
            "transfer_deleted",
            C::TransferDeleted(pb::TransferDeleted {
                transfer: Some(convert::transfer(t)),
                from_transaction: Some(convert::transaction(&t.from)),
                to_transaction: Some(convert::transaction(&t.to)),
            }),
        ),
        Change::AccountUpdated { before, after } => (
            after.user_id,
            "account_updated",
            C::AccountUpdated(pb::AccountUpdated {
                before: Some(convert::account(before)),
                after: Some(convert::account(after)),
            }),
        ),
        Change::CategoryDeleted {
            category,
            reassigned_to,
        } => (
            category.user_id,
            "category_deleted",
            C::CategoryDeleted(pb::CategoryDeleted {
                category: Some(convert::category(category)),
                reassigned_to_category_id: reassigned_to
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            }),
        ),
    };
    let event_id = Uuid::now_v7();
    let event = pb::LedgerEvent {
        event_id: event_id.to_string(),
        user_id: user_id.to_string(),
        create_time: Some(time::timestamp(time::now())),
        balances: balances
            .iter()
            .map(|b| pb::AccountBalance {
                account_id: b.account_id.to_string(),
                balance: Some(freedumb_kit::domain::money(&b.currency, b.balance_minor)),
            })
            .collect(),
        change: Some(payload),
    };
    OutboxEvent {
        event_id,
        user_id,
        kind: kind.to_owned(),
        payload: event.encode_to_vec(),
    }
}
