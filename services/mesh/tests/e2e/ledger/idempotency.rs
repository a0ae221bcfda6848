//! Request ids: a replayed create is one transaction.

use freedumb_proto::ledger as pb;
use tonic::Code;

use crate::helpers::{TestApp, authed, reason, spawn_app, violated_fields};
use crate::ledger_support::{
    account, balance, create, list_all, money, new_transaction, open_account,
};

#[tokio::test]
async fn a_request_id_replayed_100_times_creates_one_transaction() {
    let app = spawn_app().await;
    replay_100_times(&app).await;
}

/// 100 concurrent creates with one request id: one transaction, 100
/// identical replies; other content under that id is refused.
pub async fn replay_100_times(app: &TestApp) {
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let mut req = new_transaction(&acc, -999);
    req.request_id = "replay-1".into();
    let calls = (0..100).map(|_| {
        let (mut ledger, token, req) = (ledger.clone(), token.clone(), req.clone());
        tokio::spawn(async move { create(&mut ledger, &token, req).await })
    });
    let replies: Vec<pb::Transaction> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    assert!(
        replies.iter().all(|r| *r == replies[0]),
        "every reply is identical"
    );
    let all = list_all(&mut ledger, &token, Default::default()).await;
    assert_eq!(all.len(), 1);
    assert_eq!(balance(&account(&mut ledger, &token, &acc.id).await), -999);

    req.amount = money("EUR", -1000);
    let err = ledger
        .create_transaction(authed(req, &token))
        .await
        .expect_err("same id, other content");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(reason(&err), "REQUEST_ID_REUSED");
    assert_eq!(violated_fields(&err), ["request_id"]);
}

#[tokio::test]
async fn a_request_id_is_free_again_after_its_retention() {
    let app = crate::helpers::spawn_app_with(
        crate::helpers::Backends::default(),
        &[("FREEDUMB_IDEMPOTENCY_RETENTION_SECS", "3")],
    )
    .await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let mut req = new_transaction(&acc, -100);
    req.request_id = "kept-for-3-s".into();
    let first = create(&mut ledger, &token, req.clone()).await;
    req.amount = money("EUR", -200);
    let err = ledger
        .create_transaction(authed(req.clone(), &token))
        .await
        .expect_err("same id, other content, within the retention");
    assert_eq!(reason(&err), "REQUEST_ID_REUSED");

    // Expired (deleted within a second after the 3 s): the id makes a new
    // transaction.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let second = loop {
        match ledger.create_transaction(authed(req.clone(), &token)).await {
            Ok(reply) => break reply.into_inner().transaction.expect("transaction"),
            Err(err) => {
                assert_eq!(reason(&err), "REQUEST_ID_REUSED", "{err:?}");
                assert!(std::time::Instant::now() < deadline, "never expired");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
    };
    assert_ne!(second.id, first.id);
    assert_eq!(balance(&account(&mut ledger, &token, &acc.id).await), -300);
}
