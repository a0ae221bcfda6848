//! The ledger on production backends (Postgres, Redis Streams): the same
//! invariants as on SQLite, several recurring workers at once, and a crash
//! (`kill -9`) in the middle of a burst of creates. Required in CI.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use freedumb_kit::events::RedisBus;
use freedumb_proto::ledger as pb;
use prost::Message as _;

use crate::helpers::{authed, production_backends as backends, spawn_app_with};
use crate::ledger::{random_transfers, replay_100_times};
use crate::ledger_support::{
    account, amount, assert_ledger_consistent, balance, date, list_all, money, new_transaction,
    open_account,
};

#[tokio::test]
async fn concurrent_transfers_on_postgres_keep_every_balance_consistent() {
    let Some(backends) = backends().await else {
        return;
    };
    let app = spawn_app_with(backends, &[]).await;
    random_transfers(&app, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_request_id_replayed_100_times_on_postgres_creates_one_transaction() {
    let Some(backends) = backends().await else {
        return;
    };
    let app = spawn_app_with(backends, &[]).await;
    replay_100_times(&app).await;
}

#[tokio::test]
async fn two_recurring_workers_record_each_occurrence_once() {
    let Some(backends) = backends().await else {
        return;
    };
    let env = [("FREEDUMB_LEDGER__RECURRING_POLL_SECS", "1")];
    let a = spawn_app_with(backends.clone(), &env).await;
    let token = a.token().await;
    let mut ledger = a.ledger().await;
    let acc = open_account(&mut ledger, &token, "USD", 0).await;
    // A weekly rule a year in the past: 53 occurrences to catch up on at
    // once, while a second worker starts.
    let start = chrono::Utc::now().date_naive() - chrono::Days::new(364);
    use chrono::Datelike as _;
    let b = spawn_app_with(backends, &env).await;
    ledger
        .create_recurring_rule(authed(
            pb::CreateRecurringRuleRequest {
                rule: Some(pb::RecurringRule {
                    account_id: acc.id.clone(),
                    amount: money("USD", -1_000),
                    frequency: pb::Frequency::Weekly.into(),
                    start_date: date(start.year(), start.month() as i32, start.day() as i32),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &token,
        ))
        .await
        .expect("rule");
    for _ in 0..150 {
        if list_all(&mut ledger, &token, Default::default())
            .await
            .len()
            >= 53
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let found = list_all(&mut b.ledger().await, &token, Default::default()).await;
    let dates: HashSet<_> = found.iter().map(|t| t.date).collect();
    assert_eq!(found.len(), 53, "each weekly occurrence once");
    assert_eq!(dates.len(), 53);
    assert_eq!(
        balance(&account(&mut ledger, &token, &acc.id).await),
        -53_000
    );
}

#[tokio::test]
async fn kill_9_during_1000_creates_loses_and_duplicates_nothing() {
    let Some(backends) = backends().await else {
        return;
    };
    let redis_url = backends.redis_url.clone().expect("redis");
    let since_ms = chrono::Utc::now().timestamp_millis() - 1_000;
    let mut app = spawn_app_with(backends.clone(), &[]).await;
    let registered = app.register().await;
    let user_id = registered.user.as_ref().expect("user").id.clone();
    let token = registered.tokens.expect("tokens").access_token;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "USD", 0).await;

    let request = |i: i64| pb::CreateTransactionRequest {
        request_id: format!("crash-{i}"),
        description: format!("purchase {i}"),
        ..new_transaction(&acc, -(i + 1))
    };
    let acked: Arc<Mutex<HashMap<String, pb::Transaction>>> = Arc::default();
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let (mut ledger, token, req, acked) =
                (ledger.clone(), token.clone(), request(i), acked.clone());
            tokio::spawn(async move {
                if let Ok(reply) = ledger.create_transaction(authed(req.clone(), &token)).await {
                    let t = reply.into_inner().transaction.expect("transaction");
                    acked.lock().expect("lock").insert(req.request_id, t);
                }
            })
        })
        .collect();
    while acked.lock().expect("lock").len() < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.kill9();
    for call in calls {
        call.await.expect("join");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    assert!(
        acked.len() < 1000,
        "the crash interrupted the burst ({} acked)",
        acked.len()
    );

    let app = spawn_app_with(backends, &[]).await;
    let mut ledger = app.ledger().await;
    let after = list_all(&mut ledger, &token, Default::default()).await;
    let ids: HashSet<&str> = after.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), after.len(), "no transaction twice");
    for (request_id, t) in &acked {
        assert!(
            ids.contains(t.id.as_str()),
            "acknowledged {request_id} survived"
        );
    }

    // The client retries everything: acknowledged creates answer as before,
    // the rest are written now, and there are exactly 1000.
    for i in 0..1000 {
        let req = request(i);
        let reply = ledger
            .create_transaction(authed(req.clone(), &token))
            .await
            .expect("retry")
            .into_inner()
            .transaction
            .expect("transaction");
        if let Some(first) = acked.get(&req.request_id) {
            assert_eq!(&reply, first, "{} replays its first answer", req.request_id);
        }
    }
    let all = list_all(&mut ledger, &token, Default::default()).await;
    assert_eq!(all.len(), 1000);
    let total: i64 = all.iter().map(amount).sum();
    assert_eq!(total, -(1..=1000).sum::<i64>());
    assert_ledger_consistent(&mut ledger, &token, std::slice::from_ref(&acc)).await;

    // Every committed transaction's event reaches the stream: those the
    // killed process had claimed in its outbox once the claim expires.
    let bus = RedisBus::connect(&redis_url).await.expect("redis");
    let want: HashSet<String> = all.iter().map(|t| t.id.clone()).collect();
    let mut seen = HashSet::new();
    let deadline =
        std::time::Instant::now() + freedumb_kit::outbox::CLAIM + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        seen = bus
            .read_since(freedumb_ledger::outbox::STREAM, Some(since_ms))
            .await
            .expect("read stream")
            .into_iter()
            .filter(|e| e.user_id == user_id)
            .filter_map(|e| pb::LedgerEvent::decode(e.payload.as_ref()).ok())
            .filter_map(|e| match e.change {
                Some(pb::ledger_event::Change::TransactionCreated(c)) => {
                    c.transaction.map(|t| t.id)
                }
                _ => None,
            })
            .collect();
        if want.is_subset(&seen) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let missing = want.difference(&seen).count();
    assert_eq!(missing, 0, "every committed transaction has its event");
}
