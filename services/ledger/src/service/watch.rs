//! `WatchTransactions`: the caller's ledger events as they are published,
//! optionally only those touching one account. The stream ends with
//! UNAVAILABLE on shutdown and ABORTED when the watcher falls behind.

use std::pin::Pin;

use futures::Stream;
use prost::Message as _;
use tonic::Status;
use uuid::Uuid;

use super::{LedgerApi, Result};
use crate::outbox;
use freedumb_proto::ledger as pb;

/// The stream `WatchTransactions` answers with.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchTransactionsResponse, Status>> + Send>>;

impl LedgerApi {
    pub(super) async fn watch_transactions(
        &self,
        user_id: Uuid,
        account: Option<Uuid>,
    ) -> Result<WatchStream> {
        if let Some(account) = account {
            // Not found for someone else's account, as for every read.
            self.account(user_id, account).await?;
        }
        let to_message = move |event: &freedumb_kit::events::Event| {
            let Ok(decoded) = pb::LedgerEvent::decode(event.payload.as_ref()) else {
                tracing::warn!(event_id = %event.id, "undecodable ledger event");
                return None;
            };
            if account.is_some_and(|a| !touches_account(&decoded, &a.to_string())) {
                return None;
            }
            Some(pb::WatchTransactionsResponse {
                event: Some(decoded),
            })
        };
        Ok(freedumb_kit::events::watch_user(
            self.deps.bus.as_ref(),
            outbox::STREAM,
            user_id,
            self.deps.shutdown.clone(),
            to_message,
        ))
    }
}

/// Whether `event` changes a transaction of `account`.
fn touches_account(event: &pb::LedgerEvent, account: &str) -> bool {
    use pb::ledger_event::Change as C;
    let on = |t: &Option<pb::Transaction>| t.as_ref().is_some_and(|t| t.account_id == account);
    match &event.change {
        Some(C::TransactionCreated(e)) => on(&e.transaction),
        Some(C::TransactionUpdated(e)) => on(&e.after) || on(&e.before),
        Some(C::TransactionDeleted(e)) => on(&e.transaction),
        Some(C::TransferCreated(e)) => on(&e.from_transaction) || on(&e.to_transaction),
        Some(C::TransferDeleted(e)) => on(&e.from_transaction) || on(&e.to_transaction),
        Some(C::AccountUpdated(e)) => e.after.as_ref().is_some_and(|a| a.id == account),
        Some(C::CategoryDeleted(_)) | None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(account: &str) -> Option<pb::Transaction> {
        Some(pb::Transaction {
            account_id: account.into(),
            ..Default::default()
        })
    }

    #[test]
    fn a_transfer_touches_both_accounts_and_an_update_its_old_one() {
        use pb::ledger_event::Change as C;
        let transfer = pb::LedgerEvent {
            change: Some(C::TransferCreated(pb::TransferCreated {
                from_transaction: on("a"),
                to_transaction: on("b"),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert!(touches_account(&transfer, "a"));
        assert!(touches_account(&transfer, "b"));
        assert!(!touches_account(&transfer, "c"));
        let moved = pb::LedgerEvent {
            change: Some(C::TransactionUpdated(pb::TransactionUpdated {
                before: on("a"),
                after: on("b"),
            })),
            ..Default::default()
        };
        assert!(touches_account(&moved, "a"));
        assert!(!touches_account(&pb::LedgerEvent::default(), "a"));
    }
}
