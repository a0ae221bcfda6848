//! The platform event bus: the outbox relay appends events to named streams,
//! and watchers fan live events out to clients. Redis Streams when
//! `REDIS_URL` is set, so every replica sees every event; in-process
//! broadcast channels otherwise (the embedded default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use async_trait::async_trait;
use redis::Value;
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret as _;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::Config;

/// Live events a subscriber may fall behind by before it sees `Lagged`.
const CAPACITY: usize = 1024;
/// XREAD waits up to 5 s (BLOCK, in ms) for up to 500 entries.
const READ_ARGS: [&str; 5] = ["COUNT", "500", "BLOCK", "5000", "STREAMS"];
/// Longer than one blocking XREAD, so only a dead connection times out.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Entries per XRANGE page of [`RedisBus::read_all`].
const PAGE: usize = 1000;

type Senders = Mutex<HashMap<String, broadcast::Sender<Arc<Event>>>>;
/// One stream entry: its Redis id and its event (`None` when malformed).
type Entry = (String, Option<Event>);

/// One event on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique id (a UUIDv7 string) consumers deduplicate on.
    pub id: String,
    /// Event type, e.g. "transaction_created".
    pub kind: String,
    /// The user the event concerns (for fan-out filtering).
    pub user_id: String,
    /// The encoded protobuf payload.
    pub payload: bytes::Bytes,
}

/// Named, ordered streams of events.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Appends `events` to `stream`, in order, all or none; returns once they
    /// are durable in the backend (Redis: after the XADDs replied).
    async fn publish(&self, stream: &str, events: &[Event]) -> anyhow::Result<()>;
    /// Live events of `stream` published from now on (by any process, for
    /// Redis), for fan-out to watchers. A receiver more than 1024 events
    /// behind gets `RecvError::Lagged`.
    fn subscribe(&self, stream: &str) -> broadcast::Receiver<Arc<Event>>;
}

/// Redis when `config.redis_url` is set, in-process otherwise.
pub async fn connect(config: &Config) -> anyhow::Result<Arc<dyn EventBus>> {
    let bus: Arc<dyn EventBus> = match &config.redis_url {
        Some(url) => Arc::new(RedisBus::connect(url.expose_secret()).await?),
        None => Arc::new(MemoryBus::new()),
    };
    Ok(bus)
}

/// In-process bus: one broadcast channel per stream, nothing persisted
/// (events of a stream nobody subscribed to are dropped).
#[derive(Default)]
pub struct MemoryBus {
    streams: Senders,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, stream: &str, events: &[Event]) -> anyhow::Result<()> {
        let tx = {
            let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            streams.get(stream).cloned()
        };
        if let Some(tx) = tx {
            for event in events {
                // No receivers is fine: nobody is watching right now.
                let _ = tx.send(Arc::new(event.clone()));
            }
        }
        Ok(())
    }

    fn subscribe(&self, stream: &str) -> broadcast::Receiver<Arc<Event>> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = streams.entry(stream.to_owned());
        tx.or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }
}

/// Redis Streams bus shared by every replica. The first subscription to a
/// stream starts its one background reader in this process, on a connection
/// of its own (a blocking XREAD would stall the shared one); readers stop
/// when the bus is dropped.
pub struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    runtime: tokio::runtime::Handle,
    /// Redis clock minus local clock, in milliseconds (measured at connect).
    clock_offset_ms: i64,
    streams: Senders,
    stop: CancellationToken,
}

impl RedisBus {
    /// Connects (fails fast if Redis is unreachable).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().context("no Tokio runtime")?;
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_number_of_retries(2);
        let mut conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .context("connecting to Redis")?;
        let (secs, micros): (i64, i64) = redis::cmd("TIME")
            .query_async(&mut conn)
            .await
            .context("reading the Redis clock")?;
        Ok(Self {
            client,
            conn,
            runtime,
            clock_offset_ms: secs * 1000 + micros / 1000 - now_ms(),
            streams: Senders::default(),
            stop: CancellationToken::new(),
        })
    }

    /// Reads back entries of `stream` from the start (for tests and tools),
    /// skipping entries that are not events.
    pub async fn read_all(&self, stream: &str) -> anyhow::Result<Vec<Event>> {
        self.read_since(stream, None).await
    }

    /// Reads back entries of `stream` added at or after `since_ms` (Unix
    /// milliseconds, Redis clock), or all of them.
    pub async fn read_since(
        &self,
        stream: &str,
        since_ms: Option<i64>,
    ) -> anyhow::Result<Vec<Event>> {
        let first = since_ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms}-0"));
        let (mut start, mut events) = (first, Vec::new());
        loop {
            let reply: Value = redis::cmd("XRANGE")
                .arg(&[stream, start.as_str(), "+", "COUNT"])
                .arg(PAGE)
                .query_async(&mut self.conn.clone())
                .await
                .with_context(|| format!("reading stream {stream}"))?;
            let page = decode_entries(reply)?;
            let full = page.len() >= PAGE;
            let Some((last, _)) = page.last() else { break };
            start = format!("({last}");
            events.extend(page.into_iter().filter_map(|(_, event)| event));
            if !full {
                break;
            }
        }
        Ok(events)
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, stream: &str, events: &[Event]) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for e in events {
            let fields: [&str; 8] = [
                "*", "id", &e.id, "type", &e.kind, "user", &e.user_id, "payload",
            ];
            let xadd = pipe
                .cmd("XADD")
                .arg(stream)
                .arg(&["MAXLEN", "~", "1000000"]);
            xadd.arg(&fields).arg(&e.payload[..]);
        }
        // Errors of single XADDs inside the transaction surface here too.
        let _: () = pipe
            .query_async(&mut self.conn.clone())
            .await
            .with_context(|| format!("appending to stream {stream}"))?;
        Ok(())
    }

    fn subscribe(&self, stream: &str) -> broadcast::Receiver<Arc<Event>> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = streams.get(stream) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(CAPACITY);
        // Start just before the current Redis time rather than at "$", so
        // events appended after this call are read even if they beat the
        // reader's first XREAD.
        let ms = now_ms()
            .saturating_add(self.clock_offset_ms)
            .saturating_sub(1);
        let start = format!("{}-{}", ms.max(0), u64::MAX);
        let (client, stop) = (self.client.clone(), self.stop.clone());
        let reader = read_loop(client, stream.to_owned(), start, tx.clone(), stop);
        self.runtime.spawn(reader);
        streams.insert(stream.to_owned(), tx);
        rx
    }
}

/// Follows `stream` after `last_id` into `tx` until `stop`, reconnecting with
/// backoff on errors and resuming after the last entry seen.
async fn read_loop(
    client: redis::Client,
    stream: String,
    mut last_id: String,
    tx: broadcast::Sender<Arc<Event>>,
    stop: CancellationToken,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let result = tokio::select! {
            () = stop.cancelled() => return,
            result = follow(&client, &stream, &mut last_id, &tx, &mut backoff) => result,
        };
        if let Err(error) = result {
            tracing::warn!(%stream, error = ?error, "reading the event stream failed; retrying");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects and forwards the entries of `stream` until an error.
async fn follow(
    client: &redis::Client,
    stream: &str,
    last_id: &mut String,
    tx: &broadcast::Sender<Arc<Event>>,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(READ_TIMEOUT);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .context("connecting to Redis")?;
    loop {
        let reply: Value = redis::cmd("XREAD")
            .arg(&READ_ARGS)
            .arg(&[stream, last_id.as_str()])
            .query_async(&mut conn)
            .await
            .context("XREAD")?;
        *backoff = MIN_BACKOFF;
        // Nil on timeout; `[[name, entries]]` in RESP2, `{name: entries}` in RESP3.
        let streams: Vec<(Value, Value)> =
            redis::from_owned_redis_value(reply).context("XREAD reply")?;
        for (_, entries) in streams {
            for (id, event) in decode_entries(entries)? {
                *last_id = id;
                if let Some(event) = event {
                    // No receivers is fine: nobody is watching right now.
                    let _ = tx.send(Arc::new(event));
                }
            }
        }
    }
}

/// Decodes a list of `[id, [field, value, ...]]` stream entries, logging and
/// keeping the ids of entries that are not events.
fn decode_entries(value: Value) -> anyhow::Result<Vec<Entry>> {
    let items: Vec<(String, Value)> =
        redis::from_owned_redis_value(value).context("stream entries")?;
    let mut entries = Vec::with_capacity(items.len());
    for (id, fields) in items {
        let event = decode_event(fields);
        if let Err(error) = &event {
            tracing::warn!(entry = %id, error = ?error, "skipping a malformed event");
        }
        entries.push((id, event.ok()));
    }
    Ok(entries)
}

/// Decodes the `id`, `type`, `user` and `payload` fields of one entry.
fn decode_event(fields: Value) -> anyhow::Result<Event> {
    let mut fields: HashMap<String, Vec<u8>> = redis::from_owned_redis_value(fields)?;
    let mut take = |name: &str| {
        let value = fields.remove(name);
        value.with_context(|| format!("missing field `{name}`"))
    };
    let (id, kind, user_id) = (take("id")?, take("type")?, take("user")?);
    Ok(Event {
        id: String::from_utf8(id).context("`id` is not UTF-8")?,
        kind: String::from_utf8(kind).context("`type` is not UTF-8")?,
        user_id: String::from_utf8(user_id).context("`user` is not UTF-8")?,
        payload: take("payload")?.into(),
    })
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    fn sample(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                id: format!("e{i}"),
                kind: "transaction_created".to_owned(),
                user_id: "u1".to_owned(),
                payload: bytes::Bytes::from(i.to_le_bytes().to_vec()),
            })
            .collect()
    }

    #[tokio::test]
    async fn memory_bus_delivers_in_order_to_its_stream_only() {
        let bus = MemoryBus::new();
        let (mut rx, mut other) = (bus.subscribe("a"), bus.subscribe("b"));
        let events = sample(3);
        bus.publish("a", &events).await.expect("publish");
        for expected in &events {
            assert_eq!(*rx.recv().await.expect("recv"), *expected);
        }
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        assert!(matches!(other.try_recv(), Err(TryRecvError::Empty)));
    }

    #[tokio::test]
    async fn memory_bus_reports_lagging_receivers() {
        let bus = MemoryBus::new();
        let mut rx = bus.subscribe("a");
        let events = sample(CAPACITY + 5);
        bus.publish("a", &events).await.expect("publish");
        assert!(matches!(rx.recv().await, Err(RecvError::Lagged(5))));
        assert_eq!(*rx.recv().await.expect("recv"), events[5]);
    }
}
