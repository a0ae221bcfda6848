//! The notification store contract on SQLite always and Postgres when
//! `TEST_DATABASE_URL` is set (required in CI): an event's notification and
//! deliveries are recorded once; concurrent workers never claim the same
//! delivery; a worker whose claim expired cannot record over the one that
//! took over; another user's rows are out of reach.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use freedumb_notification::domain::Kind;
use freedumb_notification::store::{
    Channel, DeliveryRecord, DeliveryState, EndpointRecord, Made, NotificationRecord, Outcome,
    Stores,
};
use uuid::Uuid;

freedumb_kit::store_contract!(
    freedumb_notification::NAME,
    freedumb_notification::MIGRATIONS,
    freedumb_notification::store::for_database;
    an_event_is_recorded_once,
    concurrent_workers_claim_disjoint_deliveries_and_stale_claims_record_nothing,
    deliveries_and_endpoints_are_scoped_to_their_owner,
);

fn notification(user_id: Uuid, event_id: Uuid) -> NotificationRecord {
    NotificationRecord {
        id: Uuid::now_v7(),
        user_id,
        kind: Kind::LargeTransaction,
        title: "Large transaction: -500.00 EUR".into(),
        body: "Rent on 2026-11-30.".into(),
        attributes: BTreeMap::from([("transaction_id".into(), Uuid::now_v7().to_string())]),
        event_id,
        create_time: freedumb_kit::time::now(),
        read_time: None,
    }
}

fn delivery(n: &NotificationRecord, endpoint: Uuid, due_ms: i64) -> DeliveryRecord {
    DeliveryRecord {
        id: Uuid::now_v7(),
        user_id: n.user_id,
        channel: Channel::Webhook(endpoint),
        notification_id: n.id,
        kind: n.kind,
        payload: "{}".into(),
        digest: false,
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_ms: due_ms,
        last_status: 0,
        last_error: String::new(),
        create_time: n.create_time,
        deliver_time: None,
    }
}

async fn endpoint(stores: &Stores, user_id: Uuid) -> EndpointRecord {
    let e = EndpointRecord {
        id: Uuid::now_v7(),
        user_id,
        url: "https://hooks.example.com/in".into(),
        description: String::new(),
        kinds: vec![],
        secret: freedumb_notification::domain::webhook::new_secret(),
        create_time: freedumb_kit::time::now(),
    };
    stores.user.create_endpoint(&e).await.expect("endpoint");
    e
}

/// What one event makes: a notification in the feed and `n` deliveries.
fn made(user: Uuid, endpoint: Uuid, n: usize) -> Made {
    let event_id = Uuid::now_v7();
    let record = notification(user, event_id);
    Made {
        event_id,
        deliveries: (0..n).map(|_| delivery(&record, endpoint, 0)).collect(),
        notification: Some(record),
        in_feed: true,
    }
}

async fn an_event_is_recorded_once(stores: Stores) {
    let user = Uuid::now_v7();
    let hook = endpoint(&stores, user).await;
    let first = made(user, hook.id, 1);
    let recorded = stores
        .inbox
        .record(std::slice::from_ref(&first), 1)
        .await
        .expect("record");
    assert_eq!(recorded.len(), 1);
    // Delivered again (a redelivered batch): nothing new.
    let again = stores
        .inbox
        .record(&[first.clone(), first], 2)
        .await
        .expect("record");
    assert!(again.is_empty());
    assert_eq!(stores.user.count_unread(user).await.expect("count"), 1);
    let log = stores
        .user
        .list_deliveries(user, hook.id, None, 10)
        .await
        .expect("log");
    assert_eq!(log.len(), 1);
    // Hidden from the feed, yet its deliveries are kept.
    let mut hidden = made(user, hook.id, 1);
    hidden.in_feed = false;
    assert!(
        stores
            .inbox
            .record(&[hidden], 3)
            .await
            .expect("record")
            .is_empty()
    );
    assert_eq!(stores.user.count_unread(user).await.expect("count"), 1);
    assert_eq!(
        stores
            .user
            .list_deliveries(user, hook.id, None, 10)
            .await
            .expect("log")
            .len(),
        2
    );
}

async fn concurrent_workers_claim_disjoint_deliveries_and_stale_claims_record_nothing(
    stores: Stores,
) {
    let user = Uuid::now_v7();
    let hook = endpoint(&stores, user).await;
    let batch: Vec<Made> = (0..20).map(|_| made(user, hook.id, 10)).collect();
    stores.inbox.record(&batch, 1).await.expect("record");
    let now_ms = Utc::now().timestamp_millis();
    // The worker's backlog: every delivery, due since 0.
    assert_eq!(
        stores
            .deliveries
            .due_backlog(now_ms)
            .await
            .expect("backlog"),
        (200, Some(0))
    );
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let stores = stores.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let token = Uuid::new_v4();
                    match stores
                        .deliveries
                        .claim_deliveries(token, now_ms, now_ms + 60_000, 7)
                        .await
                    {
                        Ok(claimed) if claimed.is_empty() => return mine,
                        Ok(claimed) => {
                            mine.extend(claimed.into_iter().map(|c| (token, c.delivery.id)))
                        }
                        // SQLite: one writer at a time; try again.
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claims {
        all.extend(c.await.expect("worker"));
    }
    let unique: HashSet<Uuid> = all.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        (all.len(), unique.len()),
        (200, 200),
        "each delivery claimed exactly once"
    );
    assert_eq!(
        stores
            .deliveries
            .due_backlog(now_ms)
            .await
            .expect("backlog"),
        (0, None),
        "claimed deliveries are not waiting"
    );

    // A claim that expired is taken over; the first worker's late result
    // records nothing, the second's does.
    let (stale, id) = all[0];
    let later = now_ms + 120_000;
    let retaken = stores
        .deliveries
        .claim_deliveries(Uuid::new_v4(), later, later + 60_000, 500)
        .await
        .expect("claim");
    let fresh = retaken
        .iter()
        .find(|c| c.delivery.id == id)
        .expect("taken over");
    let now = freedumb_kit::time::now();
    let dead = Outcome::Dead {
        status: 500,
        error: "late".into(),
    };
    stores
        .deliveries
        .complete_delivery(stale, id, &dead, now)
        .await
        .expect("stale");
    let pending = |log: &[DeliveryRecord]| log.iter().find(|d| d.id == id).map(|d| d.state);
    let log = stores
        .user
        .list_deliveries(user, hook.id, None, 1000)
        .await
        .expect("log");
    assert_eq!(
        pending(&log),
        Some(DeliveryState::Pending),
        "the stale worker recorded nothing"
    );
    assert_eq!(fresh.endpoint.as_ref().map(|e| e.id), Some(hook.id));
}

async fn deliveries_and_endpoints_are_scoped_to_their_owner(stores: Stores) {
    let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
    let hook = endpoint(&stores, owner).await;
    let m = made(owner, hook.id, 1);
    let delivery_id = m.deliveries[0].id;
    let notification_id = m.notification.as_ref().map(|n| n.id).expect("notification");
    stores.inbox.record(&[m], 1).await.expect("record");
    assert!(
        stores
            .user
            .list_deliveries(other, hook.id, None, 10)
            .await
            .is_err()
    );
    assert!(stores.user.redeliver(other, delivery_id, 0).await.is_err());
    assert!(stores.user.delete_endpoint(other, hook.id).await.is_err());
    assert!(
        stores
            .user
            .mark_read(other, &[notification_id], freedumb_kit::time::now())
            .await
            .is_err(),
        "not theirs"
    );
    assert!(
        stores
            .user
            .list_notifications(other, None, false, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        stores.user.list_endpoints(other).await.expect("list").len(),
        0
    );
    // The owner deleting the endpoint drops its log.
    stores
        .user
        .delete_endpoint(owner, hook.id)
        .await
        .expect("delete");
    assert!(
        stores
            .user
            .list_deliveries(owner, hook.id, None, 10)
            .await
            .is_err()
    );
}
