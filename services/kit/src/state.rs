//! Small pieces of shared, expiring state: session revocations (checked on
//! every authenticated call) and attempt counters (login throttling, rate
//! limits). Redis when `REDIS_URL` is set, so every replica sees the same
//! state; in-process otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret as _;
use uuid::Uuid;

use crate::Config;
use crate::ratelimit::{FallbackLimiter, LocalLimiter, RateLimiter, RedisLimiter};

/// The shared state cannot be trusted right now; the caller may retry
/// shortly.
#[derive(Debug, thiserror::Error)]
pub enum StateUnavailable {
    /// Redis did not answer.
    #[error("the shared state (Redis) is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answers but has lost the revocation list (it restarted
    /// empty), and auth has not put it back yet.
    #[error("the revocation list is being restored")]
    Restoring,
}

/// Sessions whose access tokens must be refused before they expire.
#[async_trait]
pub trait Revocations: Send + Sync + 'static {
    /// Marks `session` revoked for `ttl` (the longest an access token of it
    /// can still be valid).
    async fn revoke(&self, session: Uuid, ttl: Duration) -> Result<(), StateUnavailable>;
    /// Whether `session` was revoked; [`StateUnavailable::Restoring`] while
    /// the list is not [`Revocations::is_complete`].
    async fn is_revoked(&self, session: Uuid) -> Result<bool, StateUnavailable>;
    /// Whether the list holds every revocation: false once it lost them
    /// (Redis restarted empty) until [`Revocations::mark_complete`].
    async fn is_complete(&self) -> Result<bool, StateUnavailable>;
    /// Says that the list holds every revocation again (auth calls it after
    /// putting back the sessions revoked lately).
    async fn mark_complete(&self) -> Result<(), StateUnavailable>;
}

/// Counters that reset a fixed window after their first increment.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// The current count of `key` (0 when absent or expired).
    async fn get(&self, key: &str) -> Result<u64, StateUnavailable>;
    /// Adds one to `key`, starting a `window` on the first increment, and
    /// returns the new count.
    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StateUnavailable>;
    /// Takes one back from `key` (never below zero; absent stays absent).
    async fn decr(&self, key: &str) -> Result<(), StateUnavailable>;
    /// How long until `key` expires (zero when absent).
    async fn ttl(&self, key: &str) -> Result<Duration, StateUnavailable>;
    /// Forgets `key`.
    async fn reset(&self, key: &str) -> Result<(), StateUnavailable>;
}

/// The shared-state backends of one process.
#[derive(Clone)]
pub struct SharedState {
    /// Revoked sessions.
    pub revocations: Arc<dyn Revocations>,
    /// Expiring counters.
    pub counters: Arc<dyn Counters>,
    /// Rate limits (on Redis with an in-process fallback, or in process).
    pub limiter: Arc<dyn RateLimiter>,
    /// The Redis connection behind them, when there is one.
    redis: Option<RedisState>,
}

impl SharedState {
    /// Redis when configured, in-process otherwise.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        match &config.redis_url {
            Some(url) => {
                let redis = RedisState::connect(url.expose_secret()).await?;
                Ok(Self {
                    limiter: Arc::new(FallbackLimiter::new(redis.limiter())),
                    revocations: Arc::new(redis.clone()),
                    counters: Arc::new(redis.clone()),
                    redis: Some(redis),
                })
            }
            None => Ok(Self::in_process()),
        }
    }

    /// In-process state for one process (the embedded default and tests).
    pub fn in_process() -> Self {
        let memory = MemoryState::default();
        Self {
            revocations: Arc::new(memory.clone()),
            counters: Arc::new(memory),
            limiter: Arc::new(LocalLimiter::default()),
            redis: None,
        }
    }

    /// Whether Redis answers a `PING` now; `None` without Redis.
    pub async fn ping_redis(&self) -> Option<Result<(), StateUnavailable>> {
        match &self.redis {
            Some(redis) => Some(redis.ping().await),
            None => None,
        }
    }
}

/// In-process state: a map of expiring entries.
#[derive(Clone, Default)]
pub struct MemoryState {
    entries: Arc<Mutex<HashMap<String, (u64, Instant)>>>,
}

impl MemoryState {
    /// Prune expired entries once the map grows, so it stays bounded by the
    /// number of keys live within one window.
    const PRUNE_AT: usize = 10_000;

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (u64, Instant)>, Instant) -> T) -> T {
        let now = Instant::now();
        let mut map = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= Self::PRUNE_AT {
            map.retain(|_, (_, expires)| *expires > now);
        }
        f(&mut map, now)
    }

    fn live(
        map: &HashMap<String, (u64, Instant)>,
        key: &str,
        now: Instant,
    ) -> Option<(u64, Instant)> {
        map.get(key).copied().filter(|(_, expires)| *expires > now)
    }
}

#[async_trait]
impl Revocations for MemoryState {
    async fn revoke(&self, session: Uuid, ttl: Duration) -> Result<(), StateUnavailable> {
        self.with(|map, now| map.insert(revocation_key(session), (1, now + ttl)));
        Ok(())
    }

    async fn is_revoked(&self, session: Uuid) -> Result<bool, StateUnavailable> {
        Ok(self.with(|map, now| Self::live(map, &revocation_key(session), now).is_some()))
    }

    /// In process the list lives and dies with the process, and auth puts
    /// it back before serving: never incomplete while anyone asks.
    async fn is_complete(&self) -> Result<bool, StateUnavailable> {
        Ok(true)
    }

    async fn mark_complete(&self) -> Result<(), StateUnavailable> {
        Ok(())
    }
}

#[async_trait]
impl Counters for MemoryState {
    async fn get(&self, key: &str) -> Result<u64, StateUnavailable> {
        Ok(self.with(|map, now| Self::live(map, key, now).map_or(0, |(n, _)| n)))
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StateUnavailable> {
        Ok(self.with(|map, now| {
            let (count, expires) = Self::live(map, key, now).unwrap_or((0, now + window));
            map.insert(key.to_owned(), (count + 1, expires));
            count + 1
        }))
    }

    async fn decr(&self, key: &str) -> Result<(), StateUnavailable> {
        self.with(|map, now| {
            if let Some((count, expires)) = Self::live(map, key, now) {
                map.insert(key.to_owned(), (count.saturating_sub(1), expires));
            }
        });
        Ok(())
    }

    async fn ttl(&self, key: &str) -> Result<Duration, StateUnavailable> {
        Ok(self.with(|map, now| {
            Self::live(map, key, now).map_or(Duration::ZERO, |(_, expires)| expires - now)
        }))
    }

    async fn reset(&self, key: &str) -> Result<(), StateUnavailable> {
        self.with(|map, _| map.remove(key));
        Ok(())
    }
}

/// Redis-backed state shared by every replica.
#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
}

impl RedisState {
    /// Connects to `url` (failing within seconds when Redis does not
    /// answer), then keeps reconnecting.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let conn = crate::events::connect_manager(client).await?;
        Ok(Self { conn })
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), StateUnavailable> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// A rate limiter on this connection.
    pub fn limiter(&self) -> RedisLimiter {
        RedisLimiter::new(self.conn.clone())
    }
}

fn revocation_key(session: Uuid) -> String {
    format!("freedumb:revoked-session:{session}")
}

/// Present while the revocation list is complete. Redis keeps nothing on
/// disk in the shipped setups: a restart drops it with the list.
const COMPLETE_KEY: &str = "freedumb:revocations-complete";

fn counter_key(key: &str) -> String {
    format!("freedumb:counter:{key}")
}

#[async_trait]
impl Revocations for RedisState {
    async fn revoke(&self, session: Uuid, ttl: Duration) -> Result<(), StateUnavailable> {
        let secs = ttl.as_secs().max(1);
        let _: () = self
            .conn
            .clone()
            .set_ex(revocation_key(session), 1u8, secs)
            .await?;
        Ok(())
    }

    async fn is_revoked(&self, session: Uuid) -> Result<bool, StateUnavailable> {
        // One round trip for both the entry and the list's completeness.
        let (revoked, complete): (Option<u8>, Option<u8>) = self
            .conn
            .clone()
            .mget(&[revocation_key(session), COMPLETE_KEY.to_owned()])
            .await?;
        if complete.is_none() {
            return Err(StateUnavailable::Restoring);
        }
        Ok(revoked.is_some())
    }

    async fn is_complete(&self) -> Result<bool, StateUnavailable> {
        Ok(self.conn.clone().exists(COMPLETE_KEY).await?)
    }

    async fn mark_complete(&self) -> Result<(), StateUnavailable> {
        let _: () = self.conn.clone().set(COMPLETE_KEY, 1u8).await?;
        Ok(())
    }
}

#[async_trait]
impl Counters for RedisState {
    async fn get(&self, key: &str) -> Result<u64, StateUnavailable> {
        let n: Option<u64> = self.conn.clone().get(counter_key(key)).await?;
        Ok(n.unwrap_or(0))
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StateUnavailable> {
        let key = counter_key(key);
        // INCR and EXPIRE NX in one transaction: the window starts at the
        // first increment and is never extended by later ones.
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1u64)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(window.as_secs().max(1))
            .arg("NX")
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(count)
    }

    async fn decr(&self, key: &str) -> Result<(), StateUnavailable> {
        // Only an existing, positive counter goes down: a plain DECR would
        // create a counter without expiry.
        let script = redis::Script::new(
            "if (tonumber(redis.call('GET', KEYS[1]) or '0')) > 0 then redis.call('DECR', KEYS[1]) end return 0",
        );
        let _: i64 = script
            .key(counter_key(key))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn ttl(&self, key: &str) -> Result<Duration, StateUnavailable> {
        let ms: i64 = self.conn.clone().pttl(counter_key(key)).await?;
        Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
    }

    async fn reset(&self, key: &str) -> Result<(), StateUnavailable> {
        let _: () = self.conn.clone().del(counter_key(key)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_fails_the_start_within_seconds() {
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            RedisState::connect(&format!("redis://127.0.0.1:{port}")),
        )
        .await
        .expect("connect gave up by itself");
        let error = result.err().expect("no Redis there");
        assert!(
            format!("{error:#}").contains("connecting to Redis"),
            "{error:#}"
        );
        assert!(started.elapsed() < Duration::from_secs(15));
    }

    #[tokio::test]
    async fn memory_counters_count_within_the_window_and_reset() {
        let state = MemoryState::default();
        assert_eq!(
            state
                .incr("k", Duration::from_secs(60))
                .await
                .expect("incr"),
            1
        );
        assert_eq!(
            state
                .incr("k", Duration::from_secs(60))
                .await
                .expect("incr"),
            2
        );
        assert_eq!(state.get("k").await.expect("get"), 2);
        assert!(state.ttl("k").await.expect("ttl") > Duration::from_secs(58));
        state.decr("k").await.expect("decr");
        assert_eq!(state.get("k").await.expect("get"), 1);
        state.reset("k").await.expect("reset");
        state.decr("k").await.expect("decr");
        assert_eq!(state.get("k").await.expect("get"), 0);
    }

    #[tokio::test]
    async fn memory_counters_expire() {
        let state = MemoryState::default();
        state
            .incr("k", Duration::from_millis(20))
            .await
            .expect("incr");
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(state.get("k").await.expect("get"), 0);
    }

    #[tokio::test]
    async fn memory_revocations_expire() {
        let state = MemoryState::default();
        let session = Uuid::now_v7();
        state
            .revoke(session, Duration::from_millis(20))
            .await
            .expect("revoke");
        assert!(state.is_revoked(session).await.expect("check"));
        assert!(!state.is_revoked(Uuid::now_v7()).await.expect("check"));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(!state.is_revoked(session).await.expect("check"));
    }
}
