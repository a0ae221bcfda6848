//! The Redis Streams event bus: what one process publishes, another's
//! subscription receives, and it stays readable in the stream. Requires
//! TEST_REDIS_URL in CI.

use std::time::Duration;

use freedumb_kit::events::{Event, EventBus as _, RedisBus, Start};
use freedumb_kit::testing::backend_url;
use uuid::Uuid;

fn event(n: usize, user: &str) -> Event {
    Event {
        id: Uuid::now_v7().to_string(),
        kind: "test_event".into(),
        user_id: user.into(),
        payload: vec![0, 159, 146, 150, n as u8].into(),
    }
}

#[tokio::test]
async fn published_events_reach_subscribers_of_another_connection_in_order() {
    let Some(url) = backend_url("TEST_REDIS_URL") else {
        return;
    };
    let stream = format!("test:events:{}", Uuid::new_v4());
    let publisher = RedisBus::connect(&url).await.expect("connect");
    let subscriber = RedisBus::connect(&url).await.expect("connect");
    let mut rx = subscriber.subscribe(&stream);
    // Let the reader's first XREAD start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent: Vec<Event> = (0..20).map(|n| event(n, "user-a")).collect();
    publisher
        .publish(&stream, &sent[..10])
        .await
        .expect("publish");
    publisher
        .publish(&stream, &sent[10..])
        .await
        .expect("publish");
    for want in &sent {
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event within 10 s")
            .expect("not lagged");
        assert_eq!(&*got, want, "binary payloads arrive intact and in order");
    }
    let stored = publisher.read_all(&stream).await.expect("read back");
    assert_eq!(stored, sent);
}

#[tokio::test]
async fn a_consumer_group_starts_at_the_beginning_and_keeps_what_was_not_acknowledged() {
    let Some(url) = backend_url("TEST_REDIS_URL") else {
        return;
    };
    let stream = format!("test:events:{}", Uuid::new_v4());
    let bus = RedisBus::connect(&url).await.expect("connect");
    // Published before the group exists: a new group still reads it.
    let sent: Vec<Event> = (0..5).map(|n| event(n, "user-a")).collect();
    bus.publish(&stream, &sent).await.expect("publish");

    let mut reader = bus.group(&stream, "budget", Start::Beginning);
    let first = reader.read().await.expect("read");
    let ids =
        |events: &[std::sync::Arc<Event>]| events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&first),
        sent.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
    // Not acknowledged: read again, by this reader…
    assert_eq!(ids(&reader.read().await.expect("read")), ids(&first));
    // …and at once by the reader that replaces it after a crash (the same
    // host: the same consumer name).
    drop(reader);
    let mut restarted = bus.group(&stream, "budget", Start::Beginning);
    assert_eq!(ids(&restarted.read().await.expect("read")), ids(&first));
    restarted.ack().await.expect("ack");
    // New entries come after.
    let later = event(9, "user-b");
    bus.publish(&stream, std::slice::from_ref(&later))
        .await
        .expect("publish");
    let read = restarted.read().await.expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].id, later.id);
    restarted.ack().await.expect("ack");
    // Everything acknowledged: nothing comes back (the read waits out its
    // block and returns empty).
    drop(restarted);
    let mut fresh = bus.group(&stream, "budget", Start::Beginning);
    assert!(fresh.read().await.expect("read").is_empty());
    // Another group has its own position.
    let mut analytics = bus.group(&stream, "analytics", Start::Beginning);
    assert_eq!(analytics.read().await.expect("read").len(), 6);
    // A group that starts at the latest entry sees only what comes after.
    let mut notifier = bus.group(&stream, "notifier", Start::Latest);
    assert!(notifier.read().await.expect("read").is_empty());
    let newest = event(10, "user-c");
    bus.publish(&stream, std::slice::from_ref(&newest))
        .await
        .expect("publish");
    let read = notifier.read().await.expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].id, newest.id);
}

#[tokio::test]
async fn a_groups_lag_is_its_oldest_event_not_acknowledged_delivered_or_not() {
    let Some(url) = backend_url("TEST_REDIS_URL") else {
        return;
    };
    let stream = format!("test:events:{}", Uuid::new_v4());
    let bus = RedisBus::connect(&url).await.expect("connect");
    let sent: Vec<Event> = (0..3).map(|n| event(n, "user-a")).collect();
    bus.publish(&stream, &sent).await.expect("publish");
    // The group exists and has read nothing.
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", &stream, "lagging", "0"])
        .query_async(&mut conn)
        .await
        .expect("group");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let mut reader = bus.group(&stream, "lagging", Start::Beginning);
    assert_eq!(reader.stream(), stream);
    let probe = reader.lag_probe().expect("a Redis group can lag");
    let undelivered = probe.lag().await.expect("lag");
    assert!(
        (Duration::from_millis(1100)..Duration::from_secs(30)).contains(&undelivered),
        "not delivered yet: {undelivered:?}"
    );
    assert_eq!(reader.read().await.expect("read").len(), 3);
    let pending = probe.lag().await.expect("lag");
    assert!(
        pending >= undelivered,
        "delivered, not acknowledged: {pending:?}"
    );
    reader.ack().await.expect("ack");
    assert_eq!(probe.lag().await.expect("lag"), Duration::ZERO, "caught up");
}
