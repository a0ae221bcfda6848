//! The learner: the ledger's events, read as the consumer group `ai`,
//! become the caller's merchant history. Every categorized create and
//! every correction (an update that changes the category) counts, as the
//! user made it; transfer legs do not.

use std::sync::Arc;

use async_trait::async_trait;
use freedumb_kit::events::{Event, Handler};
use freedumb_kit::inbox::Pruning;
use freedumb_kit::time;
use freedumb_proto::ledger as ledger_pb;
use prost::Message as _;
use uuid::Uuid;

use crate::domain::merchant_of;
use crate::store::{LearnEvent, LearnerStore, Observation, StoreError};

/// The consumer group the learner reads the ledger's stream as.
pub const GROUP: &str = "ai";

/// Learns from batches of ledger events.
pub struct Learner {
    store: Arc<dyn LearnerStore>,
    pruning: Pruning,
}

impl Learner {
    /// A learner writing to `store`.
    pub fn new(store: Arc<dyn LearnerStore>) -> Self {
        Self {
            store,
            pruning: Pruning::default(),
        }
    }
}

#[async_trait]
impl Handler for Learner {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let batch: Vec<LearnEvent> = events.iter().filter_map(|e| decode(e)).collect();
        let now = time::now();
        let learned = self
            .store
            .learn(&batch, now)
            .await
            .map_err(StoreError::into_failure)?;
        metrics::counter!("ai_learned_events_total").increment(learned as u64);
        if let Some(before) = self.pruning.due(now.timestamp_millis()) {
            self.store
                .prune_handled_events(before)
                .await
                .map_err(StoreError::into_failure)?;
        }
        Ok(())
    }
}

/// What one ledger event teaches; `None` (logged) for a payload that is
/// not a `LedgerEvent`. Unknown kinds of change teach nothing.
pub fn decode(event: &Event) -> Option<LearnEvent> {
    let decoded = ledger_pb::LedgerEvent::decode(event.payload.as_ref())
        .map_err(anyhow::Error::from)
        .and_then(|e| observations(&e).map(|o| (e.event_id, o)));
    match decoded {
        Ok((id, observations)) => match Uuid::try_parse(&id) {
            Ok(event_id) => Some(LearnEvent {
                event_id,
                observations,
            }),
            Err(_) => {
                tracing::warn!(event = %event.id, "skipping a ledger event without a valid id");
                None
            }
        },
        Err(error) => {
            metrics::counter!("ai_learner_skipped_total").increment(1);
            tracing::warn!(event = %event.id, error = ?error, "skipping an undecodable ledger event");
            None
        }
    }
}

fn observations(event: &ledger_pb::LedgerEvent) -> anyhow::Result<Vec<Observation>> {
    use ledger_pb::ledger_event::Change as C;
    let user_id = Uuid::try_parse(&event.user_id)?;
    Ok(match &event.change {
        Some(C::TransactionCreated(c)) => categorized(user_id, c.transaction.as_ref())?,
        Some(C::TransactionUpdated(u)) => categorized(user_id, u.after.as_ref())?,
        Some(C::TransactionDeleted(d)) => {
            let t = d
                .transaction
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("the event lacks its transaction"))?;
            vec![Observation::Deleted {
                user_id,
                transaction_id: Uuid::try_parse(&t.id)?,
                version: time::micros(event.create_time.as_ref())?,
            }]
        }
        Some(C::CategoryDeleted(d)) => {
            let category = d
                .category
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("the event lacks its category"))?;
            let reassigned_to = match d.reassigned_to_category_id.as_str() {
                "" => None,
                id => Some(Uuid::try_parse(id)?),
            };
            vec![Observation::CategoryDeleted {
                user_id,
                category_id: Uuid::try_parse(&category.id)?,
                reassigned_to,
            }]
        }
        Some(C::TransferCreated(_) | C::TransferDeleted(_) | C::AccountUpdated(_)) | None => {
            Vec::new()
        }
    })
}

/// A transaction's merchant and category as an observation (none for a
/// transfer leg or a transaction that names no merchant).
fn categorized(
    user_id: Uuid,
    t: Option<&ledger_pb::Transaction>,
) -> anyhow::Result<Vec<Observation>> {
    let t = t.ok_or_else(|| anyhow::anyhow!("the event lacks its transaction"))?;
    if !t.transfer_id.is_empty() {
        return Ok(Vec::new());
    }
    let Some(merchant) = merchant_of(&t.merchant, &t.description) else {
        return Ok(Vec::new());
    };
    // A split transaction is in several categories: it says nothing about
    // where the merchant belongs.
    let category_id = match (t.category_id.as_str(), t.splits.is_empty()) {
        ("", _) | (_, false) => None,
        (id, true) => Some(Uuid::try_parse(id)?),
    };
    Ok(vec![Observation::Categorized {
        user_id,
        transaction_id: Uuid::try_parse(&t.id)?,
        merchant_key: merchant.key,
        merchant_name: merchant.name,
        category_id,
        version: time::micros(t.update_time.as_ref())?,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(change: ledger_pb::ledger_event::Change) -> Event {
        let e = ledger_pb::LedgerEvent {
            event_id: Uuid::now_v7().to_string(),
            user_id: Uuid::now_v7().to_string(),
            create_time: Some(prost_types::Timestamp::default()),
            balances: Vec::new(),
            change: Some(change),
        };
        Event {
            id: "1".into(),
            kind: "k".into(),
            user_id: e.user_id.clone(),
            payload: e.encode_to_vec().into(),
        }
    }

    fn transaction(description: &str, category: &str) -> ledger_pb::Transaction {
        ledger_pb::Transaction {
            id: Uuid::now_v7().to_string(),
            description: description.into(),
            category_id: category.into(),
            update_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5_000,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_categorized_transaction_teaches_its_merchant_and_a_transfer_nothing() {
        use ledger_pb::ledger_event::Change as C;
        let food = Uuid::now_v7();
        let created = C::TransactionCreated(ledger_pb::TransactionCreated {
            transaction: Some(transaction(
                "SQ *BLUE BOTTLE 0042 OAKLAND CA",
                &food.to_string(),
            )),
        });
        let learned = decode(&event(created)).expect("decodes");
        match learned.observations.as_slice() {
            [
                Observation::Categorized {
                    merchant_key,
                    category_id,
                    version,
                    ..
                },
            ] => {
                assert_eq!(merchant_key, "blue bottle");
                assert_eq!(*category_id, Some(food));
                assert_eq!(*version, 1_700_000_000_000_005);
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut leg = transaction("Savings", &food.to_string());
        leg.transfer_id = Uuid::now_v7().to_string();
        let transfer = C::TransactionCreated(ledger_pb::TransactionCreated {
            transaction: Some(leg),
        });
        assert!(
            decode(&event(transfer))
                .expect("decodes")
                .observations
                .is_empty()
        );
        let junk = Event {
            payload: vec![0xff, 0xff].into(),
            ..event(C::TransactionCreated(
                ledger_pb::TransactionCreated::default(),
            ))
        };
        assert!(decode(&junk).is_none());
    }
}
