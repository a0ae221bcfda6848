//! Ledger events: built from a change inside its database transaction
//! (the outbox), then moved to the event stream by the relay. Delivery is
//! at least once: a relay that dies after publishing and before deleting
//! leaves the rows for the next claim.

use std::sync::Arc;
use std::time::Duration;

use freedumb_kit::Shutdown;
use freedumb_kit::events::{Event, EventBus};
use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use prost::Message as _;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::convert;
use crate::store::{Change, LedgerSystemStore, OutboxEvent};

/// The stream ledger events are published on.
pub const STREAM: &str = "freedumb.ledger.v1.events";

/// How long a relay holds claimed rows before another may take them.
const CLAIM: Duration = Duration::from_secs(30);

/// Rows per claim.
const BATCH: u32 = 500;

/// The outbox row announcing `change`.
pub fn build(change: &Change<'_>) -> OutboxEvent {
    use pb::ledger_event::Change as C;
    let (user_id, kind, payload) = match *change {
        Change::TransactionCreated(t) => (
            t.user_id,
            "transaction_created",
            C::TransactionCreated(pb::TransactionCreated {
                transaction: Some(convert::transaction(t)),
            }),
        ),
        Change::TransactionUpdated { before, after } => (
            after.user_id,
            "transaction_updated",
            C::TransactionUpdated(pb::TransactionUpdated {
                before: Some(convert::transaction(before)),
                after: Some(convert::transaction(after)),
            }),
        ),
        Change::TransactionDeleted(t) => (
            t.user_id,
            "transaction_deleted",
            C::TransactionDeleted(pb::TransactionDeleted {
                transaction: Some(convert::transaction(t)),
            }),
        ),
        Change::TransferCreated(t) => (
            t.user_id,
            "transfer_created",
            C::TransferCreated(pb::TransferCreated {
                transfer: Some(convert::transfer(t)),
                from_transaction: Some(convert::transaction(&t.from)),
                to_transaction: Some(convert::transaction(&t.to)),
            }),
        ),
        Change::TransferDeleted(t) => (
            t.user_id,
            "transfer_deleted",
            C::TransferDeleted(pb::TransferDeleted {
                transfer: Some(convert::transfer(t)),
                from_transaction: Some(convert::transaction(&t.from)),
                to_transaction: Some(convert::transaction(&t.to)),
            }),
        ),
    };
    let event_id = Uuid::now_v7();
    let event = pb::LedgerEvent {
        event_id: event_id.to_string(),
        user_id: user_id.to_string(),
        create_time: Some(time::timestamp(time::now())),
        change: Some(payload),
    };
    OutboxEvent {
        event_id,
        user_id,
        kind: kind.to_owned(),
        payload: event.encode_to_vec(),
    }
}

/// Moves outbox rows to the event bus.
pub struct Relay {
    store: Arc<dyn LedgerSystemStore>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    poll: Duration,
}

impl Relay {
    /// A relay woken by `wake` after local commits and every `poll`
    /// otherwise (for rows other processes wrote).
    pub fn new(
        store: Arc<dyn LedgerSystemStore>,
        bus: Arc<dyn EventBus>,
        wake: Arc<Notify>,
        poll: Duration,
    ) -> Self {
        Self {
            store,
            bus,
            wake,
            poll,
        }
    }

    /// Publishes until `shutdown`, then drains what is left once.
    pub async fn run(self, shutdown: Shutdown) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.publish_batch().await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = ?e, retry_in = ?backoff, "outbox relay failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.wait() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
                () = shutdown.wait() => break,
            }
        }
        // Whatever committed before shutdown goes out now if it can; the
        // rest stays in the outbox for the next start.
        while let Ok(n) = self.publish_batch().await {
            if n < BATCH as usize {
                break;
            }
        }
    }

    /// Claims, publishes and deletes one batch; returns its size.
    pub async fn publish_batch(&self) -> anyhow::Result<usize> {
        let token = Uuid::new_v4();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let claim_ms = i64::try_from(CLAIM.as_millis()).unwrap_or(i64::MAX);
        let rows = self
            .store
            .claim_outbox(token, now_ms, now_ms.saturating_add(claim_ms), BATCH)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let events: Vec<Event> = rows
            .iter()
            .map(|r| Event {
                id: r.event.event_id.to_string(),
                kind: r.event.kind.clone(),
                user_id: r.event.user_id.to_string(),
                payload: r.event.payload.clone().into(),
            })
            .collect();
        self.bus.publish(STREAM, &events).await?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        self.store.delete_outbox(token, &seqs).await?;
        metrics::counter!("ledger_events_published_total").increment(rows.len() as u64);
        Ok(rows.len())
    }
}
