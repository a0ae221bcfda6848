//! Fan-out of live events to watchers, routed by user.
//!
//! One dispatcher task per stream and process receives each event once and
//! hands it (an `Arc`, never a copy) to the watchers of the event's user
//! only, found by a hash lookup: the work per event does not grow with the
//! number of watchers, and an idle watcher is a channel and a map entry,
//! without a task of its own. The watcher's response stream decodes what
//! it receives when it is polled, so an event is decoded once per watcher
//! of its user and never for anyone else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use super::Event;

/// Events a watcher may have waiting before it is ended as too slow.
const WATCHER_BUFFER: usize = super::WATCHER_CAPACITY;

/// The watchers of every stream one bus fans out.
#[derive(Default)]
pub struct Fanout {
    streams: Mutex<HashMap<String, Arc<Routes>>>,
}

/// The watchers of one stream, by user.
#[derive(Default)]
struct Routes {
    users: Mutex<HashMap<String, Vec<Watcher>>>,
    next_id: AtomicU64,
}

struct Watcher {
    id: u64,
    events: mpsc::Sender<Arc<Event>>,
    ended: Arc<OnceLock<Ended>>,
}

/// Why the fan-out ended a watch before its client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// The watcher (or the process's dispatcher) fell too far behind and
    /// missed events: the client should list again and watch again.
    FellBehind,
}

/// One watcher's end of the fan-out: its events, why it was ended if it
/// was, and its registration (removed when this is dropped).
pub(super) struct Subscription {
    pub(super) events: mpsc::Receiver<Arc<Event>>,
    pub(super) ended: Arc<OnceLock<Ended>>,
    _registration: Registration,
}

struct Registration {
    routes: Arc<Routes>,
    user: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut users = self
            .routes
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(watchers) = users.get_mut(&self.user) {
            watchers.retain(|w| w.id != self.id);
            if watchers.is_empty() {
                users.remove(&self.user);
            }
        }
    }
}

impl Fanout {
    /// Registers a watcher of `user`'s events on `stream`. The first
    /// watcher of a stream starts its dispatcher on the receiver
    /// `subscribe` returns, before this returns: every event published
    /// after this call reaches the watcher.
    pub(super) fn watch(
        &self,
        stream: &str,
        user: &str,
        subscribe: impl FnOnce() -> broadcast::Receiver<Arc<Event>>,
    ) -> Subscription {
        let routes = {
            let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            match streams.get(stream) {
                Some(routes) => routes.clone(),
                None => {
                    let routes = Arc::new(Routes::default());
                    tokio::spawn(dispatch(subscribe(), routes.clone()));
                    streams.insert(stream.to_owned(), routes.clone());
                    routes
                }
            }
        };
        let (tx, rx) = mpsc::channel(WATCHER_BUFFER);
        let ended = Arc::new(OnceLock::new());
        let id = routes.next_id.fetch_add(1, Ordering::Relaxed);
        routes
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(user.to_owned())
            .or_default()
            .push(Watcher {
                id,
                events: tx,
                ended: ended.clone(),
            });
        Subscription {
            events: rx,
            ended,
            _registration: Registration {
                routes,
                user: user.to_owned(),
                id,
            },
        }
    }

    /// Watchers registered now, over every stream.
    pub fn watchers(&self) -> usize {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams
            .values()
            .map(|routes| {
                let users = routes.users.lock().unwrap_or_else(PoisonError::into_inner);
                users.values().map(Vec::len).sum::<usize>()
            })
            .sum()
    }
}

/// Hands each event of the stream to its user's watchers until the bus
/// closes the stream.
async fn dispatch(mut events: broadcast::Receiver<Arc<Event>>, routes: Arc<Routes>) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => {
                // Every watcher of the stream missed events.
                tracing::warn!(missed, "the watch fan-out fell behind its stream");
                let mut users = routes.users.lock().unwrap_or_else(PoisonError::into_inner);
                for watcher in users.drain().flat_map(|(_, watchers)| watchers) {
                    let _ = watcher.ended.set(Ended::FellBehind);
                }
                continue;
            }
            Err(RecvError::Closed) => {
                // The bus is gone: every watch ends (their senders drop).
                routes
                    .users
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                return;
            }
        };
        let mut users = routes.users.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(watchers) = users.get_mut(&event.user_id) else {
            continue;
        };
        watchers.retain(|watcher| match watcher.events.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let _ = watcher.ended.set(Ended::FellBehind);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if watchers.is_empty() {
            users.remove(&event.user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, n: usize) -> Arc<Event> {
        Arc::new(Event {
            id: format!("e{n}"),
            kind: "k".into(),
            user_id: user.into(),
            payload: bytes::Bytes::new(),
        })
    }

    #[tokio::test]
    async fn events_reach_only_their_users_watchers() {
        let (tx, _) = broadcast::channel(16);
        let fanout = Fanout::default();
        let mut a1 = fanout.watch("s", "a", || tx.subscribe());
        let mut a2 = fanout.watch("s", "a", || unreachable!("one dispatcher per stream"));
        let mut b = fanout.watch("s", "b", || unreachable!("one dispatcher per stream"));
        assert_eq!(fanout.watchers(), 3);
        tx.send(event("a", 1)).expect("sent");
        tx.send(event("c", 2)).expect("sent");
        tx.send(event("b", 3)).expect("sent");
        assert_eq!(a1.events.recv().await.expect("an event").id, "e1");
        assert_eq!(a2.events.recv().await.expect("an event").id, "e1");
        assert_eq!(b.events.recv().await.expect("an event").id, "e3");
        assert!(a1.events.try_recv().is_err(), "nothing else for a");
        drop(a2);
        drop(b);
        assert_eq!(fanout.watchers(), 1, "a dropped watch unregisters");
        let routes = fanout.streams.lock().expect("lock")["s"].clone();
        assert!(!routes.users.lock().expect("lock").contains_key("b"));
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_ended_and_others_go_on() {
        let (tx, _) = broadcast::channel(2 * WATCHER_BUFFER);
        let fanout = Fanout::default();
        let mut slow = fanout.watch("s", "a", || tx.subscribe());
        let mut other = fanout.watch("s", "b", || unreachable!());
        for n in 0..=WATCHER_BUFFER {
            tx.send(event("a", n)).expect("sent");
        }
        tx.send(event("b", 0)).expect("sent");
        assert_eq!(other.events.recv().await.expect("an event").user_id, "b");
        let mut received = 0;
        while slow.events.recv().await.is_some() {
            received += 1;
        }
        assert_eq!(received, WATCHER_BUFFER, "what fitted is delivered");
        assert_eq!(slow.ended.get(), Some(&Ended::FellBehind));
        assert_eq!(other.ended.get(), None);
    }

    #[tokio::test]
    async fn a_watch_stream_sees_its_users_events_and_ends_on_shutdown() {
        use futures::StreamExt as _;

        use crate::events::{EventBus as _, MemoryBus, watch_user};

        let bus = MemoryBus::new();
        let (me, someone) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let shutdown = crate::Shutdown::new();
        let watch = |user| {
            watch_user(&bus, "s", user, shutdown.clone(), |e: &Event| {
                (e.kind != "skipped").then(|| e.id.clone())
            })
        };
        let mut mine = watch(me);
        let gone = watch(someone);
        drop(gone);
        assert_eq!(bus.fanout().watchers(), 1, "a dropped stream unregisters");
        let at = |user: uuid::Uuid, id: &str, kind: &str| Event {
            id: id.into(),
            kind: kind.into(),
            user_id: user.to_string(),
            payload: bytes::Bytes::new(),
        };
        bus.publish(
            "s",
            &[
                at(someone, "theirs", "k"),
                at(me, "hidden", "skipped"),
                at(me, "first", "k"),
            ],
        )
        .await
        .expect("published");
        assert_eq!(mine.next().await.expect("a message").expect("ok"), "first");
        shutdown.trigger();
        let status = mine
            .next()
            .await
            .expect("the end")
            .expect_err("UNAVAILABLE");
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(mine.next().await.is_none());
        drop(mine);
        assert_eq!(bus.fanout().watchers(), 0);
    }
}
