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

/// Sessions whose access tokens must be refused before they expire.
#[async_trait]
pub trait Revocations: Send + Sync + 'static {
    /// Marks `session` revoked for `ttl` (the longest an access token of it
    /// can still be valid).
    async fn revoke(&self, session: Uuid, ttl: Duration) -> anyhow::Result<()>;
    /// Whether `session` was revoked.
    async fn is_revoked(&self, session: Uuid) -> anyhow::Result<bool>;
}

/// Counters that reset a fixed window after their first increment.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// The current count of `key` (0 when absent or expired).
    async fn get(&self, key: &str) -> anyhow::Result<u64>;
    /// Adds one to `key`, starting a `window` on the first increment, and
    /// returns the new count.
    async fn incr(&self, key: &str, window: Duration) -> anyhow::Result<u64>;
    /// Takes one back from `key` (never below zero; absent stays absent).
    async fn decr(&self, key: &str) -> anyhow::Result<()>;
    /// How long until `key` expires (zero when absent).
    async fn ttl(&self, key: &str) -> anyhow::Result<Duration>;
    /// Forgets `key`.
    async fn reset(&self, key: &str) -> anyhow::Result<()>;
}

/// The shared-state backends of one process.
#[derive(Clone)]
pub struct SharedState {
    /// Revoked sessions.
    pub revocations: Arc<dyn Revocations>,
    /// Expiring counters.
    pub counters: Arc<dyn Counters>,
}

impl SharedState {
    /// Redis when configured, in-process otherwise.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        match &config.redis_url {
            Some(url) => {
                let redis = RedisState::connect(url.expose_secret()).await?;
                Ok(Self {
                    revocations: Arc::new(redis.clone()),
                    counters: Arc::new(redis),
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
    async fn revoke(&self, session: Uuid, ttl: Duration) -> anyhow::Result<()> {
        self.with(|map, now| map.insert(revocation_key(session), (1, now + ttl)));
        Ok(())
    }

    async fn is_revoked(&self, session: Uuid) -> anyhow::Result<bool> {
        Ok(self.with(|map, now| Self::live(map, &revocation_key(session), now).is_some()))
    }
}

#[async_trait]
impl Counters for MemoryState {
    async fn get(&self, key: &str) -> anyhow::Result<u64> {
        Ok(self.with(|map, now| Self::live(map, key, now).map_or(0, |(n, _)| n)))
    }

    async fn incr(&self, key: &str, window: Duration) -> anyhow::Result<u64> {
        Ok(self.with(|map, now| {
            let (count, expires) = Self::live(map, key, now).unwrap_or((0, now + window));
            map.insert(key.to_owned(), (count + 1, expires));
            count + 1
        }))
    }

    async fn decr(&self, key: &str) -> anyhow::Result<()> {
        self.with(|map, now| {
            if let Some((count, expires)) = Self::live(map, key, now) {
                map.insert(key.to_owned(), (count.saturating_sub(1), expires));
            }
        });
        Ok(())
    }

    async fn ttl(&self, key: &str) -> anyhow::Result<Duration> {
        Ok(self.with(|map, now| {
            Self::live(map, key, now).map_or(Duration::ZERO, |(_, expires)| expires - now)
        }))
    }

    async fn reset(&self, key: &str) -> anyhow::Result<()> {
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
}

fn revocation_key(session: Uuid) -> String {
    format!("freedumb:revoked-session:{session}")
}

fn counter_key(key: &str) -> String {
    format!("freedumb:counter:{key}")
}

#[async_trait]
impl Revocations for RedisState {
    async fn revoke(&self, session: Uuid, ttl: Duration) -> anyhow::Result<()> {
        let secs = ttl.as_secs().max(1);
        let _: () = self
            .conn
            .clone()
            .set_ex(revocation_key(session), 1u8, secs)
            .await?;
        Ok(())
    }

    async fn is_revoked(&self, session: Uuid) -> anyhow::Result<bool> {
        Ok(self.conn.clone().exists(revocation_key(session)).await?)
    }
}

#[async_trait]
impl Counters for RedisState {
    async fn get(&self, key: &str) -> anyhow::Result<u64> {
        let n: Option<u64> = self.conn.clone().get(counter_key(key)).await?;
        Ok(n.unwrap_or(0))
    }

    async fn incr(&self, key: &str, window: Duration) -> anyhow::Result<u64> {
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

    async fn decr(&self, key: &str) -> anyhow::Result<()> {
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

    async fn ttl(&self, key: &str) -> anyhow::Result<Duration> {
        let ms: i64 = self.conn.clone().pttl(counter_key(key)).await?;
        Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
    }

    async fn reset(&self, key: &str) -> anyhow::Result<()> {
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
