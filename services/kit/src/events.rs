//! The platform event bus: the outbox relay appends events to named streams,
//! watchers fan live events out to clients, and consumer groups (the
//! projections of other domains) read every event at least once. Redis
//! Streams when `REDIS_URL` is set, so every replica sees every event;
//! in-process channels otherwise (the embedded default).
//!
//! Consumer groups are durable in both: on Redis, the group's position and
//! its unacknowledged entries live in the stream (`XREADGROUP`, `XACK`,
//! `XAUTOCLAIM` for entries a dead consumer held); in process, `publish`
//! returns only once every group has acknowledged the events, so the outbox
//! rows the relay publishes stay in the database until the consumers have
//! committed what they made of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use async_trait::async_trait;
use redis::Value;
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret as _;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::Config;

mod fanout;
pub use fanout::Fanout;

/// Live events a subscriber (a process's watch fan-out) may fall behind by
/// before it sees `Lagged`: several of the outbox relay's batches (2,000
/// events), which arrive all at once.
const CAPACITY: usize = 16_384;
/// Live events one watcher may have waiting before it is ended as too slow.
const WATCHER_CAPACITY: usize = 1024;
/// XREAD waits up to 5 s (BLOCK, in ms) for up to 500 entries.
const READ_ARGS: [&str; 5] = ["COUNT", "500", "BLOCK", "5000", "STREAMS"];
/// Longer than one blocking XREAD, so only a dead connection times out.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Entries per XRANGE page of [`RedisBus::read_all`].
const PAGE: usize = 1000;
/// How long a group reader waits for events before returning none.
const READ_WAIT: Duration = Duration::from_secs(5);
/// Batches an in-process group may have queued (publishers wait beyond).
const GROUP_QUEUE: usize = 16;
/// Entries per read of a Redis group reader.
const GROUP_BATCH: usize = 500;
/// An entry a consumer has held this long unacknowledged is taken over by
/// another reader of the group (its consumer died).
const CLAIM_IDLE: Duration = Duration::from_secs(60);
/// How often a Redis group reader looks for such entries.
const CLAIM_EVERY: Duration = Duration::from_secs(15);

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
    /// Redis), for fan-out to watchers. A receiver more than 16,384 events
    /// behind gets `RecvError::Lagged`.
    fn subscribe(&self, stream: &str) -> broadcast::Receiver<Arc<Event>>;
    /// Joins consumer group `group` of `stream`: every event appended to
    /// the stream is delivered to one reader of the group until a reader
    /// acknowledges it. Call it while the process is being wired, before
    /// its tasks start, so the in-process bus holds the relay's first
    /// events for the group.
    fn group(&self, stream: &str, group: &str, start: Start) -> Box<dyn GroupReader>;
    /// The watchers of this bus's streams ([`watch_user`]).
    fn fanout(&self) -> &Fanout;
}

/// Where a new consumer group starts reading (a group that exists goes on
/// from where it stands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every event the stream still holds: for projections, which must
    /// see the history.
    Beginning,
    /// Events appended from now on: for consumers that act (notify), which
    /// must not act again on old events.
    Latest,
}

/// A handler's failure that handling the same events again will not fix (a
/// corrupt event, data a constraint refuses). [`run_group`] narrows a batch
/// that fails this way down to the events that cause it and sets them
/// aside, logged and counted in `events_set_aside_total`, so that one bad
/// event does not stop the group. Any other error is retried.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Permanent(pub anyhow::Error);

/// A handler's failure: [`Permanent`] when `permanent`, retried otherwise.
pub fn failure(e: impl Into<anyhow::Error>, permanent: bool) -> anyhow::Error {
    if permanent {
        Permanent(e.into()).into()
    } else {
        e.into()
    }
}

/// One reader of a consumer group (see [`EventBus::group`]).
#[async_trait]
pub trait GroupReader: Send + 'static {
    /// The next events for the group, waiting a few seconds at most (an
    /// empty batch then). Events returned and not acknowledged are returned
    /// again by the next call.
    async fn read(&mut self) -> anyhow::Result<Vec<Arc<Event>>>;
    /// Acknowledges the events the last [`read`](Self::read) returned.
    async fn ack(&mut self) -> anyhow::Result<()>;
    /// The stream the group reads, as named to the bus.
    fn stream(&self) -> &str;
    /// What measures how far the group is behind, apart from the reader
    /// (a reader busy with a batch does not delay it); `None` where a
    /// group cannot fall behind (in process, publishing waits for every
    /// group).
    fn lag_probe(&self) -> Option<Arc<dyn LagProbe>> {
        None
    }
}

/// Measures a consumer group's lag (see [`GroupReader::lag_probe`]).
#[async_trait]
pub trait LagProbe: Send + Sync + 'static {
    /// Age of the oldest event of the stream the group has not
    /// acknowledged: delivered and pending, or not delivered yet. Zero
    /// when the group is caught up.
    async fn lag(&self) -> anyhow::Result<Duration>;
}

/// How often [`run_group`] measures its group's lag.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// What a consumer group does with its events. It must be idempotent (an
/// event can come twice, after a crash) and should commit a batch at once.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles `events`; an error has them delivered again after a pause.
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()>;
}

/// Feeds `reader`'s events to `handler` until `stop`: acknowledged once
/// handled, delivered again (after a growing pause) when handling fails,
/// and set aside one by one when they fail for good (see [`Permanent`]).
///
/// Beside it, `events_consumer_lag_seconds{stream, group}` is measured every
/// [`LAG_EVERY`] (always 0 for a group that cannot fall behind).
pub async fn run_group(
    name: &'static str,
    reader: Box<dyn GroupReader>,
    handler: Arc<dyn Handler>,
    stop: crate::Shutdown,
) {
    let lag = metrics::gauge!(
        "events_consumer_lag_seconds",
        "stream" => reader.stream().to_owned(),
        "group" => name
    );
    lag.set(0.0);
    match reader.lag_probe() {
        Some(probe) => {
            tokio::join!(
                consume(name, reader, handler, stop.clone()),
                crate::metrics::measure_every(
                    name,
                    LAG_EVERY,
                    stop,
                    || probe.lag(),
                    |lag_now: Duration| lag.set(lag_now.as_secs_f64())
                )
            );
        }
        None => consume(name, reader, handler, stop).await,
    }
}

async fn consume(
    name: &'static str,
    mut reader: Box<dyn GroupReader>,
    handler: Arc<dyn Handler>,
    stop: crate::Shutdown,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let round = async {
            let events = reader.read().await.context("reading")?;
            // Even an empty batch may hold entries that were not events.
            if !events.is_empty() {
                handle(name, handler.as_ref(), &events)
                    .await
                    .context("handling")?;
            }
            reader.ack().await.context("acknowledging")?;
            anyhow::Ok(events.len())
        };
        let result = tokio::select! {
            () = stop.wait() => return,
            result = round => result,
        };
        match result {
            Ok(n) => {
                backoff = MIN_BACKOFF;
                metrics::counter!("events_consumed_total", "group" => name).increment(n as u64);
            }
            Err(error) => {
                metrics::counter!("events_consumer_failures_total", "group" => name).increment(1);
                tracing::warn!(group = name, error = ?error, retry_in = ?backoff, "event consumer failed; retrying");
                tokio::select! {
                    () = stop.wait() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Handles `events`; a batch failing for good is halved until the events
/// that fail alone are found, and those are set aside.
fn handle<'a>(
    name: &'static str,
    handler: &'a dyn Handler,
    events: &'a [Arc<Event>],
) -> futures::future::BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        let Err(error) = handler.handle(events).await else {
            return Ok(());
        };
        if error.downcast_ref::<Permanent>().is_none() {
            return Err(error);
        }
        if let [event] = events {
            metrics::counter!("events_set_aside_total", "group" => name).increment(1);
            tracing::error!(
                group = name,
                event = %event.id,
                kind = %event.kind,
                error = ?error,
                "setting aside an event that cannot be handled"
            );
            return Ok(());
        }
        let (first, second) = events.split_at(events.len() / 2);
        handle(name, handler, first).await?;
        handle(name, handler, second).await
    })
}

/// Redis when `config.redis_url` is set, in-process otherwise.
pub async fn connect(config: &Config) -> anyhow::Result<Arc<dyn EventBus>> {
    let bus: Arc<dyn EventBus> = match &config.redis_url {
        Some(url) => Arc::new(
            RedisBus::connect(url.expose_secret())
                .await?
                .with_namespace(config.event_namespace.as_deref()),
        ),
        None => Arc::new(MemoryBus::new()),
    };
    Ok(bus)
}

/// A server stream of one user's live events of `stream`: each event whose
/// user is `user_id` becomes a message through `to_message` (`None` skips
/// it). The stream ends with UNAVAILABLE on `shutdown` and ABORTED when
/// the watcher falls more than 1,024 events behind (it should list again,
/// then watch again).
///
/// Events reach the watcher through the bus's [`Fanout`]: routed by user
/// once per process, and turned into messages (decoded) only as the
/// client's stream is polled.
pub fn watch_user<T, F>(
    bus: &dyn EventBus,
    stream: &str,
    user_id: uuid::Uuid,
    shutdown: crate::Shutdown,
    to_message: F,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, tonic::Status>> + Send>>
where
    T: Send + 'static,
    F: Fn(&Event) -> Option<T> + Send + 'static,
{
    struct Watching<F> {
        subscription: fanout::Subscription,
        shutdown: crate::Shutdown,
        to_message: F,
        done: bool,
    }
    let subscription = bus
        .fanout()
        .watch(stream, &user_id.to_string(), || bus.subscribe(stream));
    let watching = Watching {
        subscription,
        shutdown,
        to_message,
        done: false,
    };
    Box::pin(futures::stream::unfold(watching, |mut w| async move {
        if w.done {
            return None;
        }
        loop {
            let received = tokio::select! {
                biased;
                () = w.shutdown.wait() => None,
                event = w.subscription.events.recv() => Some(event),
            };
            let event = match received {
                None => {
                    w.done = true;
                    let status =
                        tonic::Status::unavailable("the server is shutting down; watch again");
                    return Some((Err(status), w));
                }
                Some(Some(event)) => event,
                Some(None) => {
                    w.done = true;
                    let fanout::Ended::FellBehind = w.subscription.ended.get()?;
                    let status = tonic::Status::aborted(
                        "the watch fell behind and missed events; list again and watch again",
                    );
                    return Some((Err(status), w));
                }
            };
            if let Some(message) = (w.to_message)(&event) {
                return Some((Ok(message), w));
            }
        }
    }))
}

/// In-process bus: one broadcast channel per stream for watchers (events
/// of a stream nobody watches are dropped) and one queue per consumer
/// group, which `publish` waits on until the group acknowledged.
#[derive(Default)]
pub struct MemoryBus {
    streams: Senders,
    groups: Mutex<HashMap<String, Vec<Member>>>,
    fanout: Fanout,
}

/// A consumer group of a stream: its name and its queue.
type Member = (String, mpsc::Sender<Delivery>);

/// A published batch handed to one consumer group, and how the group says
/// it is done with it.
struct Delivery {
    events: Vec<Arc<Event>>,
    done: oneshot::Sender<()>,
}

/// A reader of an in-process consumer group.
struct MemoryReader {
    stream: String,
    queue: mpsc::Receiver<Delivery>,
    pending: Option<Delivery>,
}

#[async_trait]
impl GroupReader for MemoryReader {
    async fn read(&mut self) -> anyhow::Result<Vec<Arc<Event>>> {
        if self.pending.is_none() {
            match tokio::time::timeout(READ_WAIT, self.queue.recv()).await {
                Ok(Some(delivery)) => self.pending = Some(delivery),
                Ok(None) => anyhow::bail!("the event bus is gone"),
                Err(_) => return Ok(Vec::new()),
            }
        }
        Ok(self
            .pending
            .as_ref()
            .map(|d| d.events.clone())
            .unwrap_or_default())
    }

    async fn ack(&mut self) -> anyhow::Result<()> {
        if let Some(delivery) = self.pending.take() {
            // A publisher that gave up waiting is fine: it publishes again.
            let _ = delivery.done.send(());
        }
        Ok(())
    }

    fn stream(&self) -> &str {
        &self.stream
    }
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
        let events: Vec<Arc<Event>> = events.iter().cloned().map(Arc::new).collect();
        let tx = {
            let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            streams.get(stream).cloned()
        };
        if let Some(tx) = tx {
            for event in &events {
                // No receivers is fine: nobody is watching right now.
                let _ = tx.send(event.clone());
            }
        }
        let groups = {
            let groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
            groups.get(stream).cloned().unwrap_or_default()
        };
        // Every group gets the batch at once; publishing ends when all have
        // acknowledged it (a group that stopped fails the publish, so the
        // events stay in the outbox for the next start).
        let acks = groups.into_iter().map(|(group, queue)| {
            let events = events.clone();
            async move {
                let (done, acked) = oneshot::channel();
                queue
                    .send(Delivery { events, done })
                    .await
                    .map_err(|_| anyhow::anyhow!("consumer group {group} has stopped"))?;
                acked.await.map_err(|_| {
                    anyhow::anyhow!("consumer group {group} stopped before acknowledging")
                })
            }
        });
        futures::future::try_join_all(acks).await?;
        Ok(())
    }

    fn subscribe(&self, stream: &str) -> broadcast::Receiver<Arc<Event>> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = streams.entry(stream.to_owned());
        tx.or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    fn group(&self, stream: &str, group: &str, _start: Start) -> Box<dyn GroupReader> {
        // In process a group always starts now: nothing is kept before it.
        let (queue, rx) = mpsc::channel(GROUP_QUEUE);
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let members = groups.entry(stream.to_owned()).or_default();
        // One reader per group in a process: a second joins in its place.
        members.retain(|(name, _)| name != group);
        members.push((group.to_owned(), queue));
        Box::new(MemoryReader {
            stream: stream.to_owned(),
            queue: rx,
            pending: None,
        })
    }

    fn fanout(&self) -> &Fanout {
        &self.fanout
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
    /// Prefix of every stream key (`staging:`), or empty.
    prefix: String,
    fanout: Fanout,
}

impl RedisBus {
    /// Keeps this bus's streams under `namespace` (keys `namespace:stream`),
    /// so deployments or test runs sharing one Redis never see each other's
    /// events or consumer groups.
    #[must_use]
    pub fn with_namespace(mut self, namespace: Option<&str>) -> Self {
        self.prefix = namespace.map(|n| format!("{n}:")).unwrap_or_default();
        self
    }

    /// The Redis key of `stream`.
    fn key(&self, stream: &str) -> String {
        format!("{}{stream}", self.prefix)
    }

    /// Connects (fails fast if Redis is unreachable).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().context("no Tokio runtime")?;
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let mut conn = connect_manager(client.clone()).await?;
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
            prefix: String::new(),
            fanout: Fanout::default(),
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
        let key = self.key(stream);
        loop {
            let reply: Value = redis::cmd("XRANGE")
                .arg(&[key.as_str(), start.as_str(), "+", "COUNT"])
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
        let key = self.key(stream);
        for e in events {
            let fields: [&str; 8] = [
                "*", "id", &e.id, "type", &e.kind, "user", &e.user_id, "payload",
            ];
            let xadd = pipe.cmd("XADD").arg(&key).arg(&["MAXLEN", "~", "1000000"]);
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
        let reader = read_loop(client, self.key(stream), start, tx.clone(), stop);
        self.runtime.spawn(reader);
        streams.insert(stream.to_owned(), tx);
        rx
    }

    fn group(&self, stream: &str, group: &str, start: Start) -> Box<dyn GroupReader> {
        Box::new(RedisReader {
            start,
            client: self.client.clone(),
            shared: self.conn.clone(),
            stream: stream.to_owned(),
            conn: None,
            key: self.key(stream),
            group: group.to_owned(),
            consumer: consumer_name(),
            held: Vec::new(),
            own_pending: true,
            claim_cursor: "0-0".to_owned(),
            last_claim: None,
        })
    }

    fn fanout(&self) -> &Fanout {
        &self.fanout
    }
}

/// A Redis connection manager that gives up within seconds when Redis
/// does not answer at start-up (each attempt bounded by
/// `CONNECT_TIMEOUT`, two retries, and the whole within twice that), instead
/// of retrying silently for minutes; once connected it reconnects by
/// itself.
///
/// While Redis is down, commands fail within a second instead of waiting
/// for it: the waits between reconnection attempts are capped at
/// [`RECONNECT_MAX_DELAY_MS`] (the crate's backoff, `backon`, starts at one
/// second and multiplies by the factor, so its defaults wait a minute and
/// more), and an answer is awaited at most [`RESPONSE_TIMEOUT`].
pub(crate) async fn connect_manager(client: redis::Client) -> anyhow::Result<ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_number_of_retries(2)
        .set_factor(2)
        .set_max_delay(RECONNECT_MAX_DELAY_MS)
        .set_response_timeout(RESPONSE_TIMEOUT);
    tokio::time::timeout(
        CONNECT_TIMEOUT * 2,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "connecting to Redis: no answer within {} s",
            (CONNECT_TIMEOUT * 2).as_secs()
        )
    })?
    .context("connecting to Redis")
}

/// The longest wait between two reconnection attempts, in milliseconds.
const RECONNECT_MAX_DELAY_MS: u64 = 200;

/// How long a command of the shared connection waits for its answer (the
/// blocking stream reads have connections of their own).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// This reader's name in its group: the host's name, the same across
/// restarts of a container or pod, so a restarted reader takes back at once
/// what it held when it died. (Readers on one host share the name: they
/// may both handle an entry one of them holds, which consumers tolerate,
/// being idempotent.) A random name when the host's is unknown.
fn consumer_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A reader of a Redis Streams consumer group, on a connection of its own
/// (its blocking reads would stall a shared one). It first re-reads what
/// it holds unacknowledged, takes over entries other consumers of the
/// group have held for [`CLAIM_IDLE`] (they died), and reads new entries
/// otherwise. A new group starts where its [`Start`] says.
struct RedisReader {
    /// Where the group starts if it does not exist yet.
    start: Start,
    client: redis::Client,
    /// The bus's shared connection, for the lag probe.
    shared: ConnectionManager,
    /// The stream as named to the bus.
    stream: String,
    conn: Option<redis::aio::MultiplexedConnection>,
    /// The stream's key (with the bus's namespace).
    key: String,
    group: String,
    /// The host's name (see [`consumer_name`]).
    consumer: String,
    /// Entry ids the last read returned, acknowledged by `ack`.
    held: Vec<String>,
    /// Whether to read this consumer's pending entries before new ones.
    own_pending: bool,
    /// Where the next `XAUTOCLAIM` scan of the pending list resumes.
    claim_cursor: String,
    last_claim: Option<tokio::time::Instant>,
}

impl RedisReader {
    /// The reader's connection, connecting (and creating the group) first
    /// if it has none.
    async fn connection(&mut self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        if let Some(conn) = &self.conn {
            return Ok(conn.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(READ_TIMEOUT);
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .context("connecting to Redis")?;
        let from = match self.start {
            Start::Beginning => "0",
            Start::Latest => "$",
        };
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg(&["CREATE", &self.key, &self.group, from, "MKSTREAM"])
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e).context("creating the consumer group"),
        }
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Keeps the ids of `entries` for `ack` and returns their events.
    fn hold(&mut self, entries: Vec<Entry>) -> Vec<Arc<Event>> {
        let mut events = Vec::with_capacity(entries.len());
        for (id, event) in entries {
            self.held.push(id);
            // Malformed entries are acknowledged with the rest: skipped.
            events.extend(event.map(Arc::new));
        }
        events
    }

    async fn read_group(
        &mut self,
        conn: &mut redis::aio::MultiplexedConnection,
        from: &str,
        block: bool,
    ) -> anyhow::Result<Vec<Entry>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg(&["GROUP", &self.group, &self.consumer, "COUNT"])
            .arg(GROUP_BATCH);
        if block {
            cmd.arg("BLOCK").arg(READ_WAIT.as_millis() as u64);
        }
        cmd.arg(&["STREAMS", &self.key, from]);
        let reply: Value = cmd.query_async(conn).await.context("XREADGROUP")?;
        let streams: Vec<(Value, Value)> =
            redis::from_owned_redis_value(reply).context("XREADGROUP reply")?;
        let mut entries = Vec::new();
        for (_, list) in streams {
            entries.extend(decode_entries(list)?);
        }
        Ok(entries)
    }

    /// Takes over entries idle for [`CLAIM_IDLE`] in other consumers.
    async fn claim_abandoned(
        &mut self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> anyhow::Result<Vec<Entry>> {
        let idle = CLAIM_IDLE.as_millis() as u64;
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&[&self.key, &self.group, &self.consumer])
            .arg(idle)
            .arg(&self.claim_cursor)
            .arg("COUNT")
            .arg(GROUP_BATCH)
            .query_async(conn)
            .await
            .context("XAUTOCLAIM")?;
        // [next cursor, entries, deleted ids] (Redis 7; 6.2 has two items).
        let mut parts: Vec<Value> =
            redis::from_owned_redis_value(reply).context("XAUTOCLAIM reply")?;
        anyhow::ensure!(
            parts.len() >= 2,
            "XAUTOCLAIM reply has {} parts",
            parts.len()
        );
        let entries = parts.swap_remove(1);
        self.claim_cursor =
            redis::from_owned_redis_value(parts.swap_remove(0)).context("XAUTOCLAIM cursor")?;
        decode_entries(entries)
    }
}

#[async_trait]
impl GroupReader for RedisReader {
    async fn read(&mut self) -> anyhow::Result<Vec<Arc<Event>>> {
        let result = self.read_next().await;
        if result.is_err() {
            // Reconnect next time.
            self.conn = None;
        }
        result
    }

    async fn ack(&mut self) -> anyhow::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let mut conn = self.connection().await?;
        let _: i64 = redis::cmd("XACK")
            .arg(&[&self.key, &self.group])
            .arg(&self.held)
            .query_async(&mut conn)
            .await
            .context("XACK")?;
        self.held.clear();
        Ok(())
    }

    fn stream(&self) -> &str {
        &self.stream
    }

    fn lag_probe(&self) -> Option<Arc<dyn LagProbe>> {
        Some(Arc::new(RedisLag {
            conn: self.shared.clone(),
            key: self.key.clone(),
            group: self.group.clone(),
        }))
    }
}

/// The lag of a Redis consumer group, from the stream ids' millisecond
/// times (Redis's clock, read in the same round trip): the older of the
/// group's oldest pending entry (`XPENDING`) and the first entry after its
/// last-delivered id (`XINFO GROUPS`, then `XRANGE`).
struct RedisLag {
    conn: ConnectionManager,
    /// The stream's key.
    key: String,
    group: String,
}

#[async_trait]
impl LagProbe for RedisLag {
    async fn lag(&self) -> anyhow::Result<Duration> {
        let mut conn = self.conn.clone();
        let ((secs, micros), pending, groups): ((i64, i64), Value, Value) = redis::pipe()
            .cmd("TIME")
            .cmd("XPENDING")
            .arg(&[&self.key, &self.group])
            .cmd("XINFO")
            .arg(&["GROUPS", &self.key])
            .query_async(&mut conn)
            .await
            .context("XPENDING, XINFO GROUPS")?;
        let now_ms = secs * 1000 + micros / 1000;
        // [count, smallest id, largest id, consumers]; nil ids when none.
        let (_, oldest_pending, _, _): (i64, Option<String>, Option<String>, Value) =
            redis::from_owned_redis_value(pending).context("XPENDING reply")?;
        let groups: Vec<HashMap<String, Value>> =
            redis::from_owned_redis_value(groups).context("XINFO GROUPS reply")?;
        let delivered = groups
            .into_iter()
            .find(|g| {
                g.get("name")
                    .and_then(|n| redis::from_redis_value::<String>(n).ok())
                    .is_some_and(|n| n == self.group)
            })
            .and_then(|mut g| g.remove("last-delivered-id"))
            .context("the consumer group does not exist yet")?;
        let delivered: String =
            redis::from_owned_redis_value(delivered).context("last-delivered-id")?;
        let next: Vec<(String, Value)> = redis::cmd("XRANGE")
            .arg(&[
                self.key.as_str(),
                &format!("({delivered}"),
                "+",
                "COUNT",
                "1",
            ])
            .query_async(&mut conn)
            .await
            .context("XRANGE")?;
        let first_undelivered = next.into_iter().next().map(|(id, _)| id);
        Ok(lag(
            now_ms,
            oldest_pending.as_deref(),
            first_undelivered.as_deref(),
        ))
    }
}

/// How long ago the older of two stream entries was added, by their ids'
/// millisecond part; zero for none (or ids ahead of `now_ms`).
fn lag(now_ms: i64, oldest_pending: Option<&str>, first_undelivered: Option<&str>) -> Duration {
    let millis = |id: &str| {
        id.split_once('-')
            .map_or(id, |(ms, _)| ms)
            .parse::<i64>()
            .ok()
    };
    [oldest_pending, first_undelivered]
        .into_iter()
        .flatten()
        .filter_map(millis)
        .min()
        .map_or(Duration::ZERO, |oldest| {
            Duration::from_millis(u64::try_from(now_ms.saturating_sub(oldest)).unwrap_or(0))
        })
}

impl RedisReader {
    async fn read_next(&mut self) -> anyhow::Result<Vec<Arc<Event>>> {
        let mut conn = self.connection().await?;
        if !self.held.is_empty() {
            // Not acknowledged: they are still ours, read them again.
            self.held.clear();
            self.own_pending = true;
        }
        if self.own_pending {
            let entries = self.read_group(&mut conn, "0", false).await?;
            if !entries.is_empty() {
                return Ok(self.hold(entries));
            }
            self.own_pending = false;
        }
        let claim_due = self.last_claim.is_none_or(|at| at.elapsed() >= CLAIM_EVERY);
        if claim_due {
            let entries = self.claim_abandoned(&mut conn).await?;
            if self.claim_cursor == "0-0" {
                self.last_claim = Some(tokio::time::Instant::now());
            }
            if !entries.is_empty() {
                return Ok(self.hold(entries));
            }
        }
        let entries = self.read_group(&mut conn, ">", true).await?;
        Ok(self.hold(entries))
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

    #[test]
    fn lag_is_the_age_of_the_older_entry() {
        assert_eq!(lag(10_000, None, None), Duration::ZERO);
        assert_eq!(lag(10_000, Some("7000-3"), None), Duration::from_secs(3));
        assert_eq!(
            lag(10_000, Some("7000-0"), Some("4000-12")),
            Duration::from_secs(6)
        );
        assert_eq!(
            lag(10_000, None, Some("9500-0")),
            Duration::from_millis(500)
        );
        // Ahead of the clock (another server's), or unreadable: no lag.
        assert_eq!(lag(10_000, Some("12000-0"), None), Duration::ZERO);
        assert_eq!(lag(10_000, Some("garbage"), None), Duration::ZERO);
    }

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

    #[tokio::test]
    async fn memory_groups_get_every_event_and_publish_waits_for_their_ack() {
        let bus = Arc::new(MemoryBus::new());
        let mut reader = bus.group("a", "budget", Start::Beginning);
        let events = sample(3);
        let publisher = {
            let (bus, events) = (bus.clone(), events.clone());
            tokio::spawn(async move { bus.publish("a", &events).await })
        };
        let first = reader.read().await.expect("read");
        assert_eq!(first.len(), 3);
        // Not acknowledged: the same events again, and the publisher waits.
        let again = reader.read().await.expect("read");
        assert_eq!(again, first);
        tokio::task::yield_now().await;
        assert!(!publisher.is_finished());
        reader.ack().await.expect("ack");
        publisher.await.expect("join").expect("published");
        let delivered: Vec<Event> = first.iter().map(|e| (**e).clone()).collect();
        assert_eq!(delivered, events);
    }

    #[tokio::test]
    async fn publishing_to_a_stopped_group_fails_so_the_outbox_keeps_the_events() {
        let bus = MemoryBus::new();
        let reader = bus.group("a", "budget", Start::Beginning);
        drop(reader);
        let err = bus.publish("a", &sample(1)).await.expect_err("no reader");
        assert!(err.to_string().contains("budget"), "{err}");
        // Other streams are not affected.
        bus.publish("b", &sample(1)).await.expect("no group on b");
    }

    #[tokio::test]
    async fn run_group_redelivers_what_the_handler_failed() {
        struct FailOnce(Mutex<Vec<usize>>);
        #[async_trait]
        impl Handler for FailOnce {
            async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
                let mut seen = self.0.lock().expect("lock");
                seen.push(events.len());
                anyhow::ensure!(seen.len() > 1, "first attempt fails");
                Ok(())
            }
        }
        let bus = Arc::new(MemoryBus::new());
        let handler = Arc::new(FailOnce(Mutex::new(Vec::new())));
        let stop = crate::Shutdown::new();
        let runner = tokio::spawn(run_group(
            "test",
            bus.group("a", "g", Start::Beginning),
            handler.clone(),
            stop.clone(),
        ));
        bus.publish("a", &sample(2))
            .await
            .expect("acknowledged after a retry");
        assert_eq!(*handler.0.lock().expect("lock"), [2, 2]);
        stop.trigger();
        runner.await.expect("stops");
    }

    #[tokio::test]
    async fn an_event_that_fails_for_good_is_set_aside_and_the_rest_go_through() {
        struct Picky(Mutex<Vec<String>>);
        #[async_trait]
        impl Handler for Picky {
            async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
                if events.iter().any(|e| e.id == "e2") {
                    return Err(Permanent(anyhow::anyhow!("e2 is corrupt")).into());
                }
                let mut handled = self.0.lock().expect("lock");
                handled.extend(events.iter().map(|e| e.id.clone()));
                Ok(())
            }
        }
        let bus = Arc::new(MemoryBus::new());
        let handler = Arc::new(Picky(Mutex::new(Vec::new())));
        let stop = crate::Shutdown::new();
        let runner = tokio::spawn(run_group(
            "test",
            bus.group("a", "g", Start::Beginning),
            handler.clone(),
            stop.clone(),
        ));
        bus.publish("a", &sample(5)).await.expect("acknowledged");
        let mut handled = handler.0.lock().expect("lock").clone();
        handled.sort();
        assert_eq!(handled, ["e0", "e1", "e3", "e4"]);
        stop.trigger();
        runner.await.expect("stops");
    }
}
