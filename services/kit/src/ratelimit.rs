//! Rate limits by GCRA (the generic cell rate algorithm): each key holds
//! one instant, its *theoretical arrival time*, so a limit of `n` per
//! `period` lets a burst of `n` through and then one call every
//! `period / n`, smoothly — never the 2× a fixed window lets through
//! across its boundary.
//!
//! The shared limiter keeps that instant in Redis (one Lua script, on the
//! Redis server's clock, so every replica enforces one limit). When Redis
//! does not answer, [`FallbackLimiter`] decides with an in-process limiter
//! instead of letting every call through, counts it in
//! `ratelimit_fallback_total` and shows `ratelimit_shared_up 0`, and goes
//! back to Redis once it answers again.
//!
//! The algorithm is [`gcra`], a pure function; the Lua script is the same
//! arithmetic (the Redis tests check that they agree). A crate such as
//! `governor` keeps its state in process only, which is the fallback's
//! job but not the shared limiter's, and both must decide alike.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use crate::state::StateUnavailable;

/// `limit` calls per `period`, all of them allowed in one burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Calls allowed per period (at least 1).
    pub limit: u64,
    /// The period.
    pub period: Duration,
}

impl Quota {
    /// `limit` per minute.
    pub fn per_minute(limit: u64) -> Self {
        Self {
            limit: limit.max(1),
            period: Duration::from_secs(60),
        }
    }

    /// The time one call uses up, in microseconds (at least 1).
    fn interval_us(&self) -> u64 {
        (duration_us(self.period) / self.limit.max(1)).max(1)
    }
}

/// What the limiter decided about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call may proceed.
    pub allowed: bool,
    /// Calls still allowed right now (0 when refused).
    pub remaining: u64,
    /// How long until the full allowance is back.
    pub reset: Duration,
    /// When refused, how long until one call is allowed again.
    pub retry_after: Duration,
}

/// One GCRA step for a key whose theoretical arrival time is `tat_us`
/// (`None`: never seen, or expired), at `now_us`. Returns the decision and
/// the new arrival time to store (`None` when refused: nothing changes).
pub fn gcra(tat_us: Option<u64>, now_us: u64, quota: Quota) -> (Decision, Option<u64>) {
    let interval = quota.interval_us();
    let period = interval * quota.limit.max(1);
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat + interval;
    // The call fits when the new arrival time is at most a period ahead.
    let allow_at = new_tat.saturating_sub(period);
    if now_us < allow_at {
        return (
            Decision {
                allowed: false,
                remaining: 0,
                reset: Duration::from_micros(tat - now_us),
                retry_after: Duration::from_micros(allow_at - now_us),
            },
            None,
        );
    }
    let remaining = (now_us + period - new_tat) / interval;
    (
        Decision {
            allowed: true,
            remaining,
            reset: Duration::from_micros(new_tat - now_us),
            retry_after: Duration::ZERO,
        },
        Some(new_tat),
    )
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Decides whether a call counted against `key` may proceed.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one call from `key`'s allowance.
    async fn take(&self, key: &str, quota: Quota) -> Result<Decision, StateUnavailable>;
}

/// The in-process limiter: one process's view only.
pub struct LocalLimiter {
    epoch: Instant,
    arrivals: Mutex<HashMap<String, u64>>,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            arrivals: Mutex::new(HashMap::new()),
        }
    }
}

impl LocalLimiter {
    /// Past this many keys, those whose allowance is full again are dropped,
    /// so the map stays bounded by the keys active within one period.
    const PRUNE_AT: usize = 10_000;

    /// [`RateLimiter::take`] at `now` microseconds after the limiter's start.
    fn take_at(&self, key: &str, quota: Quota, now_us: u64) -> Decision {
        let mut map = self
            .arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= Self::PRUNE_AT {
            map.retain(|_, tat| *tat > now_us);
        }
        let (decision, tat) = gcra(map.get(key).copied(), now_us, quota);
        if let Some(tat) = tat {
            map.insert(key.to_owned(), tat);
        }
        decision
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn take(&self, key: &str, quota: Quota) -> Result<Decision, StateUnavailable> {
        Ok(self.take_at(key, quota, duration_us(self.epoch.elapsed())))
    }
}

/// The limiter on Redis, shared by every replica.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: std::sync::Arc<redis::Script>,
}

/// [`gcra`] in Lua, on the server's clock. Lua numbers are doubles: exact
/// for microsecond instants (below 2^53) and whole intervals.
const GCRA_SCRIPT: &str = r"
local limit = tonumber(ARGV[1])
local interval = math.max(1, math.floor(tonumber(ARGV[2]) / limit))
local period = interval * limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now + period - new_tat) / interval), new_tat - now, 0}
";

impl RedisLimiter {
    /// A limiter on the connection `conn`.
    pub fn new(conn: ConnectionManager) -> Self {
        Self {
            conn,
            script: std::sync::Arc::new(redis::Script::new(GCRA_SCRIPT)),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn take(&self, key: &str, quota: Quota) -> Result<Decision, StateUnavailable> {
        let (allowed, remaining, reset, retry): (i64, i64, i64, i64) = self
            .script
            .key(format!("freedumb:gcra:{key}"))
            .arg(quota.limit.max(1))
            .arg(duration_us(quota.period))
            .invoke_async(&mut self.conn.clone())
            .await?;
        let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        Ok(Decision {
            allowed: allowed == 1,
            remaining: u64::try_from(remaining).unwrap_or(0),
            reset: us(reset),
            retry_after: us(retry),
        })
    }
}

/// The shared limiter with a local one behind it: when the shared one fails
/// or takes longer than [`FallbackLimiter::SHARED_TIMEOUT`], the call is
/// decided locally, and the shared limiter is left alone for
/// [`FallbackLimiter::COOL_OFF`] so an outage costs no wait per call.
pub struct FallbackLimiter {
    shared: Box<dyn RateLimiter>,
    local: LocalLimiter,
    epoch: Instant,
    /// Microseconds after `epoch` before which the shared limiter is not
    /// asked (0: ask it).
    skip_until_us: AtomicU64,
}

impl FallbackLimiter {
    /// The longest a decision waits for the shared limiter.
    pub const SHARED_TIMEOUT: Duration = Duration::from_millis(250);
    /// How long the shared limiter is not asked after it failed.
    pub const COOL_OFF: Duration = Duration::from_secs(1);

    /// `shared`, falling back to an in-process limiter.
    pub fn new(shared: impl RateLimiter) -> Self {
        metrics::gauge!("ratelimit_shared_up").set(1.0);
        Self {
            shared: Box::new(shared),
            local: LocalLimiter::default(),
            epoch: Instant::now(),
            skip_until_us: AtomicU64::new(0),
        }
    }

    fn fallback(&self, key: &str, quota: Quota, reason: &'static str) -> Decision {
        metrics::counter!("ratelimit_fallback_total", "reason" => reason).increment(1);
        let now = duration_us(self.epoch.elapsed());
        self.local.take_at(key, quota, now)
    }
}

#[async_trait]
impl RateLimiter for FallbackLimiter {
    async fn take(&self, key: &str, quota: Quota) -> Result<Decision, StateUnavailable> {
        let now = duration_us(self.epoch.elapsed());
        if now < self.skip_until_us.load(Ordering::Relaxed) {
            return Ok(self.fallback(key, quota, "cooling_off"));
        }
        let outcome =
            tokio::time::timeout(Self::SHARED_TIMEOUT, self.shared.take(key, quota)).await;
        let reason = match outcome {
            Ok(Ok(decision)) => {
                if self.skip_until_us.swap(0, Ordering::Relaxed) != 0 {
                    tracing::info!("shared rate limiter answers again");
                }
                metrics::gauge!("ratelimit_shared_up").set(1.0);
                return Ok(decision);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "shared rate limiter unavailable: limiting in process");
                "unavailable"
            }
            Err(_) => {
                tracing::warn!("shared rate limiter too slow: limiting in process");
                "timeout"
            }
        };
        metrics::gauge!("ratelimit_shared_up").set(0.0);
        self.skip_until_us
            .store(now + duration_us(Self::COOL_OFF).max(1), Ordering::Relaxed);
        Ok(self.fallback(key, quota, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    #[test]
    fn a_burst_of_the_limit_passes_then_one_per_interval() {
        let quota = Quota::per_minute(3);
        let limiter = LocalLimiter::default();
        let remaining: Vec<u64> = (0..3)
            .map(|_| limiter.take_at("k", quota, 0))
            .map(|d| {
                assert!(d.allowed);
                d.remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.take_at("k", quota, 0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(20));
        assert_eq!(refused.reset, Duration::from_secs(60));
        // One interval later exactly one more call fits.
        assert!(limiter.take_at("k", quota, 20 * SEC).allowed);
        assert!(!limiter.take_at("k", quota, 20 * SEC).allowed);
        // Other keys are not affected.
        assert!(limiter.take_at("other", quota, 20 * SEC).allowed);
    }

    #[test]
    fn no_window_boundary_lets_twice_the_limit_through() {
        // A fixed window lets `limit` through just before its end and
        // `limit` again just after; GCRA lets through at most `limit` plus
        // what the elapsed time has earned.
        let quota = Quota::per_minute(60);
        let limiter = LocalLimiter::default();
        let mut allowed = 0;
        for step in 0..=2_000u64 {
            // 2,001 calls evenly over 2 seconds.
            if limiter.take_at("k", quota, step * 1_000).allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 60 + 2, "the burst plus one per second elapsed");
    }

    #[test]
    fn the_allowance_refills_fully_after_a_period() {
        let quota = Quota::per_minute(2);
        let limiter = LocalLimiter::default();
        assert!(limiter.take_at("k", quota, 0).allowed);
        assert!(limiter.take_at("k", quota, 0).allowed);
        assert!(!limiter.take_at("k", quota, 0).allowed);
        let later = limiter.take_at("k", quota, 60 * SEC);
        assert!(later.allowed);
        assert_eq!(later.remaining, 1);
    }

    #[test]
    fn refused_calls_do_not_use_up_the_allowance() {
        let quota = Quota::per_minute(1);
        let limiter = LocalLimiter::default();
        assert!(limiter.take_at("k", quota, 0).allowed);
        for _ in 0..100 {
            assert!(!limiter.take_at("k", quota, SEC).allowed);
        }
        assert!(limiter.take_at("k", quota, 60 * SEC).allowed);
    }

    struct Down;

    #[async_trait]
    impl RateLimiter for Down {
        async fn take(&self, _: &str, _: Quota) -> Result<Decision, StateUnavailable> {
            Err(StateUnavailable::from(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "connection refused",
            ))))
        }
    }

    #[tokio::test]
    async fn a_failing_shared_limiter_falls_back_to_a_local_limit_not_to_none() {
        let limiter = FallbackLimiter::new(Down);
        let quota = Quota::per_minute(2);
        let decisions: Vec<bool> = futures::future::join_all(
            (0..4).map(|_| async { limiter.take("k", quota).await.expect("decided").allowed }),
        )
        .await;
        assert_eq!(decisions, [true, true, false, false]);
    }
}
