//! `WatchTransactions`: the caller's ledger events as they are published,
//! optionally only those touching one account. The stream ends with
//! UNAVAILABLE on shutdown and ABORTED when the watcher falls behind.

use std::pin::Pin;

use futures::Stream;
use prost::Message as _;
use tokio::sync::broadcast::error::RecvError;
use tonic::Status;
use uuid::Uuid;

use super::{LedgerApi, Result};
use crate::outbox;
use freedumb_proto::ledger as pb;

/// Events buffered per watcher before it blocks the forwarding task.
const WATCH_BUFFER: usize = 64;

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
        let mut events = self.deps.bus.subscribe(outbox::STREAM);
        let shutdown = self.deps.shutdown.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_BUFFER);
        let user = user_id.to_string();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    r = events.recv() => r,
                    () = shutdown.wait() => {
                        let _ = tx.send(Err(Status::unavailable("the server is shutting down; watch again"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                };
                let event = match received {
                    Ok(event) => event,
                    Err(RecvError::Lagged(missed)) => {
                        let _ = tx
                            .send(Err(Status::aborted(format!(
                                "the watch fell {missed} events behind; list again and watch again"
                            ))))
                            .await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                };
                if event.user_id != user {
                    continue;
                }
                let Ok(decoded) = pb::LedgerEvent::decode(event.payload.as_ref()) else {
                    tracing::warn!(event_id = %event.id, "undecodable ledger event");
                    continue;
                };
                if account.is_some_and(|a| !touches_account(&decoded, &a.to_string())) {
                    continue;
                }
                let message = pb::WatchTransactionsResponse {
                    event: Some(decoded),
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
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
