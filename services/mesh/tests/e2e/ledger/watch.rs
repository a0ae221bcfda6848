//! Watch: a caller sees their own changes only.

use std::time::Duration;

use freedumb_proto::ledger as pb;

use crate::helpers::{authed, spawn_app};
use crate::ledger_support::{create, new_transaction, open_account};

#[tokio::test]
async fn watch_streams_the_callers_own_changes() {
    let app = spawn_app().await;
    let (a, b) = (app.token().await, app.token().await);
    let mut ledger = app.ledger().await;
    let acc_a = open_account(&mut ledger, &a, "USD", 0).await;
    let acc_b = open_account(&mut ledger, &b, "USD", 0).await;
    let mut watch = ledger
        .watch_transactions(authed(pb::WatchTransactionsRequest::default(), &a))
        .await
        .expect("watch")
        .into_inner();
    // B's change first: A's watch must skip it.
    create(&mut ledger, &b, new_transaction(&acc_b, -7)).await;
    let mine = create(&mut ledger, &a, new_transaction(&acc_a, -8)).await;
    let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("an event within 10 s")
        .expect("stream ok")
        .expect("an event")
        .event
        .expect("event");
    match event.change {
        Some(pb::ledger_event::Change::TransactionCreated(c)) => {
            assert_eq!(c.transaction.expect("transaction"), mine);
        }
        other => panic!("unexpected event {other:?}"),
    }
}
