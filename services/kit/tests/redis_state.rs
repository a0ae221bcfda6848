//! The Redis implementations of shared state behave like the in-process
//! ones. Requires TEST_REDIS_URL in CI.

use std::time::Duration;

use freedumb_kit::ratelimit::{Quota, RateLimiter as _};
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
    // (Auth marks the list complete; the other tests share this Redis, so
    // losing the mark is tested on a private one, in the mesh's tests.)
    redis.mark_complete().await.expect("mark");
    assert!(redis.is_complete().await.expect("complete"));
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

#[tokio::test]
async fn the_redis_limiter_decides_like_the_gcra_function() {
    let Some(url) = backend_url("TEST_REDIS_URL") else {
        return;
    };
    let limiter = RedisState::connect(&url).await.expect("connect").limiter();
    let key = format!("test:{}", Uuid::new_v4());
    let quota = Quota::per_minute(3);
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let d = limiter.take(&key, quota).await.expect("take");
        assert!(d.allowed);
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, [2, 1, 0]);
    let refused = limiter.take(&key, quota).await.expect("take");
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    // One call is earned back every 20 s; the whole allowance in 60 s.
    let near = |d: Duration, want: u64| {
        d <= Duration::from_secs(want) && d + Duration::from_secs(1) > Duration::from_secs(want)
    };
    assert!(near(refused.retry_after, 20), "{:?}", refused.retry_after);
    assert!(near(refused.reset, 60), "{:?}", refused.reset);
    // Refused calls use nothing up.
    let again = limiter.take(&key, quota).await.expect("take");
    assert!(!again.allowed && again.retry_after <= refused.retry_after);
    // Another key has its own allowance.
    let other = format!("test:{}", Uuid::new_v4());
    assert!(limiter.take(&other, quota).await.expect("take").allowed);
}
