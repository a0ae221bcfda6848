//! The Redis implementations of shared state behave like the in-process
//! ones. Requires TEST_REDIS_URL in CI.

use std::time::Duration;

use freedumb_kit::state::{Counters as _, RedisState, Revocations as _};
use freedumb_kit::testing::backend_url;
use uuid::Uuid;

#[tokio::test]
async fn redis_counters_count_expire_and_reset() {
    let Some(url) = backend_url("TEST_REDIS_URL") else {
        return;
    };
    let redis = RedisState::connect(&url).await.expect("connect");
    let key = format!("test:{}", Uuid::new_v4());
    assert_eq!(redis.get(&key).await.expect("get"), 0);
    assert_eq!(
        redis
            .incr(&key, Duration::from_secs(60))
            .await
            .expect("incr"),
        1
    );
    assert_eq!(
        redis
            .incr(&key, Duration::from_secs(1))
            .await
            .expect("incr"),
        2
    );
    let ttl = redis.ttl(&key).await.expect("ttl");
    assert!(
        ttl > Duration::from_secs(50),
        "the window is not shortened by later increments: {ttl:?}"
    );
    redis.decr(&key).await.expect("decr");
    assert_eq!(redis.get(&key).await.expect("get"), 1);
    redis.reset(&key).await.expect("reset");
    redis.decr(&key).await.expect("decr of an absent key");
    assert_eq!(
        redis.ttl(&key).await.expect("ttl"),
        Duration::ZERO,
        "decr creates nothing"
    );
    assert_eq!(redis.get(&key).await.expect("get"), 0);

    let short = format!("test:{}", Uuid::new_v4());
    redis
        .incr(&short, Duration::from_secs(1))
        .await
        .expect("incr");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(redis.get(&short).await.expect("get"), 0, "expired");
}

#[tokio::test]
async fn redis_revocations_are_visible_until_they_expire() {
    let Some(url) = backend_url("TEST_REDIS_URL") else {
        return;
    };
    let redis = RedisState::connect(&url).await.expect("connect");
    let session = Uuid::now_v7();
    assert!(!redis.is_revoked(session).await.expect("check"));
    redis
        .revoke(session, Duration::from_secs(1))
        .await
        .expect("revoke");
    assert!(redis.is_revoked(session).await.expect("check"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!redis.is_revoked(session).await.expect("check"));
}
