//! The budget in its own process on production backends: it reads the
//! ledger's events from Redis Streams as the consumer group `budget`, and a
//! `kill -9` in the middle of 16 concurrent writers loses nothing and
//! raises each alert once. Required in CI.

use std::collections::BTreeMap;
use std::time::Duration;

use freedumb_kit::events::RedisBus;
use freedumb_proto::budget as bpb;
use freedumb_proto::ledger as pb;
use prost::Message as _;

use crate::budget::{await_spent, budgets, create_budget, monthly, today, two_categories};
use crate::helpers::{authed, spawn_app_with};
use crate::ledger_support::{new_transaction, open_account};

const WRITERS: usize = 16;
const PER_WRITER: usize = 25;
const AMOUNT: i64 = 300;

#[tokio::test]
async fn a_budget_process_killed_mid_burst_loses_nothing_and_alerts_each_threshold_once() {
    let Some(backends) = crate::helpers::production_backends().await else {
        return;
    };
    let redis_url = backends.redis_url.clone().expect("redis");
    // Its own streams: other tests share the Redis server.
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let core = spawn_app_with(
        backends.clone(),
        &[
            ("FREEDUMB_TARGET", "auth,ledger"),
            ("FREEDUMB_EVENT_NAMESPACE", &namespace),
        ],
    )
    .await;
    let core_url = core.url();
    let budget_env = [
        ("FREEDUMB_TARGET", "budget"),
        ("FREEDUMB_AUTH_URL", core_url.as_str()),
        ("FREEDUMB_BUDGET__LEDGER_URL", core_url.as_str()),
        ("FREEDUMB_EVENT_NAMESPACE", namespace.as_str()),
    ];
    let mut budget_process = spawn_app_with(backends.clone(), &budget_env).await;

    let token = core.token().await;
    let mut ledger = core.ledger().await;
    let (food, _) = two_categories(&mut ledger, &token).await;
    let account = open_account(&mut ledger, &token, "EUR", 0).await;
    let total = (WRITERS * PER_WRITER) as i64 * AMOUNT;
    let budget = create_budget(
        &mut budgets(&budget_process).await,
        &token,
        monthly(&[&food], total * 5 / 6, &[25, 50, 75, 100]),
    )
    .await;

    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (mut ledger, token, account, food) =
                (ledger.clone(), token.clone(), account.clone(), food.clone());
            tokio::spawn(async move {
                for _ in 0..PER_WRITER {
                    let request = pb::CreateTransactionRequest {
                        date: today(),
                        category_id: food.clone(),
                        ..new_transaction(&account, -AMOUNT)
                    };
                    ledger
                        .create_transaction(authed(request, &token))
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    // Kill the budget process while the burst is on, then start it again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    budget_process.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = spawn_app_with(backends, &budget_env).await;
    for writer in writers {
        writer.await.expect("writer");
    }

    let mut client = budgets(&restarted).await;
    let status = await_spent(&mut client, &token, &budget.id, total).await;
    assert_eq!(status.crossed_thresholds_percent, [25, 50, 75, 100]);

    // Each crossing was published once (a republished event keeps its id).
    // An alert the killed process had claimed in its outbox waits for the
    // claim to expire before the restarted relay publishes it.
    let bus = RedisBus::connect(&redis_url)
        .await
        .expect("redis")
        .with_namespace(Some(&namespace));
    let deadline =
        tokio::time::Instant::now() + freedumb_kit::outbox::CLAIM + Duration::from_secs(20);
    let alerts = loop {
        let mut alerts: BTreeMap<String, i32> = BTreeMap::new();
        for event in bus
            .read_all("freedumb.budget.v1.events")
            .await
            .expect("read")
        {
            let decoded = bpb::BudgetEvent::decode(event.payload.as_ref()).expect("event");
            if let Some(bpb::budget_event::Change::ThresholdCrossed(c)) = decoded.change {
                assert_eq!(c.budget_id, budget.id);
                alerts.insert(decoded.event_id, c.threshold_percent);
            }
        }
        if alerts.len() >= 4 || tokio::time::Instant::now() > deadline {
            break alerts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut thresholds: Vec<i32> = alerts.into_values().collect();
    thresholds.sort_unstable();
    assert_eq!(thresholds, [25, 50, 75, 100]);
}
