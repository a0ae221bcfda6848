//! Transfers: concurrent ones keep every balance consistent; between
//! currencies they use the given rate.

use std::time::Duration;

use freedumb_proto::ledger as pb;
use tonic::Code;

use crate::helpers::{TestApp, authed, spawn_app};
use crate::ledger_support::{
    account, assert_ledger_consistent, balance, date, list_all, money, open_account,
};

#[tokio::test]
async fn concurrent_transfers_keep_every_balance_consistent() {
    let app = spawn_app().await;
    random_transfers(&app, Duration::from_secs(3)).await;
}

/// 8 clients move money at random among 5 accounts for `period`: the
/// total never changes and no transfer is half-applied.
pub async fn random_transfers(app: &TestApp, period: Duration) {
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let mut accounts = Vec::new();
    for _ in 0..5 {
        accounts.push(open_account(&mut ledger, &token, "USD", 1_000_000).await);
    }
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let deadline = tokio::time::Instant::now() + period;
    let workers = (0..8u64).map(|worker| {
        let (mut ledger, token, ids) = (ledger.clone(), token.clone(), ids.clone());
        tokio::spawn(async move {
            let mut n = worker;
            let mut done = 0;
            while tokio::time::Instant::now() < deadline {
                // A cheap deterministic shuffle per worker.
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let from = (n >> 33) as usize % ids.len();
                let to = (from + 1 + (n >> 40) as usize % (ids.len() - 1)) % ids.len();
                let result = ledger
                    .create_transfer(authed(
                        pb::CreateTransferRequest {
                            from_account_id: ids[from].clone(),
                            to_account_id: ids[to].clone(),
                            amount: money("USD", 1 + (n >> 50) as i64 % 5_000),
                            date: date(2026, 5, 1),
                            request_id: format!("w{worker}-{done}"),
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await;
                match result {
                    Ok(_) => done += 1,
                    // A lock timeout is a clean refusal the client may retry.
                    Err(e) if e.code() == Code::Aborted => {}
                    Err(e) => panic!("transfer failed: {e:?}"),
                }
            }
            done
        })
    });
    let total: u64 = futures::future::join_all(workers)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .sum();
    assert!(total > 8, "transfers happened ({total})");
    let mut sum = 0;
    for a in &accounts {
        sum += balance(&account(&mut ledger, &token, &a.id).await);
    }
    assert_eq!(sum, 5 * 1_000_000, "money is neither created nor lost");
    assert_ledger_consistent(&mut ledger, &token, &accounts).await;
}

#[tokio::test]
async fn transfers_between_currencies_use_the_given_rate() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let usd = open_account(&mut ledger, &token, "USD", 10_000).await;
    let jpy = open_account(&mut ledger, &token, "JPY", 0).await;
    let transfer = ledger
        .create_transfer(authed(
            pb::CreateTransferRequest {
                from_account_id: usd.id.clone(),
                to_account_id: jpy.id.clone(),
                amount: money("USD", 1_000),
                exchange_rate: "150.55".into(),
                date: date(2026, 4, 1),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("transfer")
        .into_inner()
        .transfer
        .expect("transfer");
    assert_eq!(transfer.received_amount, money("JPY", 1506));
    assert_eq!(balance(&account(&mut ledger, &token, &usd.id).await), 9_000);
    assert_eq!(balance(&account(&mut ledger, &token, &jpy.id).await), 1506);

    // A leg cannot be deleted alone; the transfer goes with both legs.
    let err = ledger
        .delete_transaction(authed(
            pb::DeleteTransactionRequest {
                transaction_id: transfer.to_transaction_id.clone(),
            },
            &token,
        ))
        .await
        .expect_err("leg");
    assert_eq!(err.code(), Code::FailedPrecondition);
    ledger
        .delete_transfer(authed(
            pb::DeleteTransferRequest {
                transfer_id: transfer.id.clone(),
            },
            &token,
        ))
        .await
        .expect("delete transfer");
    assert_eq!(
        balance(&account(&mut ledger, &token, &usd.id).await),
        10_000
    );
    assert_eq!(balance(&account(&mut ledger, &token, &jpy.id).await), 0);
    assert!(
        list_all(&mut ledger, &token, Default::default())
            .await
            .is_empty()
    );
}
