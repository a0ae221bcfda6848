//! The read model's consumer: ledger events, read through the kit's
//! consumer group `analytics` on the ledger's stream, become versioned
//! changes of the store, one transaction per batch.

use std::sync::Arc;

use async_trait::async_trait;
use freedumb_kit::events::{Event, Handler};
use freedumb_kit::inbox::Pruning;
use freedumb_kit::time;
use freedumb_proto::ledger as ledger_pb;
use prost::Message as _;
use uuid::Uuid;

use crate::domain::facts_of;
use crate::store::{Change, EventChanges, ModelStore, StoreError};

/// The consumer group the model reads the ledger's stream as.
pub const GROUP: &str = "analytics";

/// Applies batches of ledger events to the read model.
pub struct Model {
    store: Arc<dyn ModelStore>,
    pruning: Pruning,
}

impl Model {
    /// A consumer writing to `store`.
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        Self {
            store,
            pruning: Pruning::default(),
        }
    }
}

#[async_trait]
impl Handler for Model {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let batch: Vec<EventChanges> = events.iter().filter_map(|e| decode(e)).collect();
        let now_ms = time::now().timestamp_millis();
        let applied = self
            .store
            .apply_events(&batch, now_ms)
            .await
            .map_err(StoreError::into_failure)?;
        metrics::counter!("analytics_model_events_total").increment(applied.events as u64);
        if let Some(before) = self.pruning.due(now_ms) {
            self.store.prune_handled_events(before).await?;
        }
        Ok(())
    }
}

/// The changes of one ledger event; `None` (logged) for a payload that is
/// not a `LedgerEvent`. Unknown kinds of change change nothing.
pub fn decode(event: &Event) -> Option<EventChanges> {
    let decoded = ledger_pb::LedgerEvent::decode(event.payload.as_ref())
        .map_err(anyhow::Error::from)
        .and_then(|e| Ok((Uuid::try_parse(&e.event_id)?, changes(&e)?)));
    match decoded {
        Ok((event_id, changes)) => Some(EventChanges { event_id, changes }),
        Err(error) => {
            metrics::counter!("analytics_model_skipped_total").increment(1);
            tracing::warn!(event = %event.id, error = ?error, "skipping an unreadable ledger event");
            None
        }
    }
}

/// A transaction as it now is.
pub fn upsert(user_id: Uuid, t: &ledger_pb::Transaction) -> anyhow::Result<Change> {
    Ok(Change::Upsert {
        user_id,
        transaction_id: Uuid::try_parse(&t.id)?,
        version: time::micros(t.update_time.as_ref())?,
        facts: facts_of(t)?,
    })
}

fn delete(user_id: Uuid, t: &ledger_pb::Transaction, version: i64) -> anyhow::Result<Change> {
    Ok(Change::Delete {
        user_id,
        transaction_id: Uuid::try_parse(&t.id)?,
        version,
    })
}

fn required<T>(t: Option<&T>) -> anyhow::Result<&T> {
    t.ok_or_else(|| anyhow::anyhow!("an event without its transaction"))
}

fn changes(event: &ledger_pb::LedgerEvent) -> anyhow::Result<Vec<Change>> {
    use ledger_pb::ledger_event::Change as C;
    let user_id = Uuid::try_parse(&event.user_id)?;
    let at = || time::micros(event.create_time.as_ref());
    Ok(match &event.change {
        Some(C::TransactionCreated(c)) => vec![upsert(user_id, required(c.transaction.as_ref())?)?],
        Some(C::TransactionUpdated(u)) => vec![upsert(user_id, required(u.after.as_ref())?)?],
        Some(C::TransactionDeleted(d)) => {
            vec![delete(user_id, required(d.transaction.as_ref())?, at()?)?]
        }
        Some(C::TransferCreated(t)) => vec![
            upsert(user_id, required(t.from_transaction.as_ref())?)?,
            upsert(user_id, required(t.to_transaction.as_ref())?)?,
        ],
        Some(C::TransferDeleted(t)) => vec![
            delete(user_id, required(t.from_transaction.as_ref())?, at()?)?,
            delete(user_id, required(t.to_transaction.as_ref())?, at()?)?,
        ],
        Some(C::CategoryDeleted(d)) => {
            let category = d
                .category
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("a category deletion without its category"))?;
            vec![Change::CategoryDeleted {
                user_id,
                category_id: Uuid::try_parse(&category.id)?,
                reassigned_to: match d.reassigned_to_category_id.as_str() {
                    "" => None,
                    id => Some(Uuid::try_parse(id)?),
                },
                version: at()?,
            }]
        }
        Some(C::AccountUpdated(_)) | None => Vec::new(),
    })
}
