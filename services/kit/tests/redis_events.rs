//! The Redis Streams event bus: what one process publishes, another's
//! subscription receives, and it stays readable in the stream. Requires
//! TEST_REDIS_URL in CI.

use std::time::Duration;

use freedumb_kit::events::{Event, EventBus as _, RedisBus};
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
