//! Watch: a caller sees their own changes only, each with the balances it
//! left.

use std::time::Duration;

use freedumb_proto::ledger as pb;

use crate::helpers::{authed, spawn_app};
use crate::ledger_support::{create, date, mask, money, new_transaction, open_account};

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
    let event = next(&mut watch).await;
    assert_eq!(balances(&event), [(acc_a.id.clone(), -8)]);
    match event.change {
        Some(pb::ledger_event::Change::TransactionCreated(c)) => {
            assert_eq!(c.transaction.expect("transaction"), mine);
        }
        other => panic!("unexpected event {other:?}"),
    }

    // A transfer carries both accounts' balances, in account id order; a
    // new opening balance is an account event with the balance it left.
    let savings = open_account(&mut ledger, &a, "USD", 100).await;
    ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: savings.id.clone(),
                to_account_id: acc_a.id.clone(),
                amount: money("USD", 30),
                date: date(2026, 3, 14),
                ..Default::default()
            },
            &a,
        ))
        .await
        .expect("transfer");
    let mut expected = vec![(acc_a.id.clone(), 22), (savings.id.clone(), 70)];
    expected.sort();
    assert_eq!(balances(&next(&mut watch).await), expected);
    ledger
        .update_account(authed(
            pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    id: savings.id.clone(),
                    opening_balance: money("USD", 1_100),
                    ..Default::default()
                }),
                update_mask: mask(&["opening_balance"]),
            },
            &a,
        ))
        .await
        .expect("update");
    let updated = next(&mut watch).await;
    assert!(matches!(
        updated.change,
        Some(pb::ledger_event::Change::AccountUpdated(_))
    ));
    assert_eq!(balances(&updated), [(savings.id.clone(), 1_070)]);
}

async fn next(watch: &mut tonic::Streaming<pb::WatchTransactionsResponse>) -> pb::LedgerEvent {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("an event within 10 s")
        .expect("stream ok")
        .expect("an event")
        .event
        .expect("event")
}

fn balances(event: &pb::LedgerEvent) -> Vec<(String, i64)> {
    event
        .balances
        .iter()
        .map(|b| {
            let m = b.balance.as_ref().expect("amount");
            assert_eq!(m.currency_code, "USD");
            (b.account_id.clone(), m.amount_minor)
        })
        .collect()
}
