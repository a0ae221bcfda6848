//! The learner: the ledger's events, read as the consumer group `ai`,
//! become the caller's merchant history. Every categorized create and
//! every correction (an update that changes the category) counts, as the
//! user made it; transfer legs and categories the ai service applied do
//! not.
//!
//! It also categorizes: for each transaction recorded without a category,
//! the cascade runs (the user's rules, their history, the global model),
//! and a category at or above the auto-apply confidence is proposed on the
//! ai stream, in the same database transaction that marks the ledger event
//! handled, so a replayed event proposes nothing twice. The ledger applies
//! the proposal (see `freedumb_ledger::categorizer`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use freedumb_kit::events::{Event, Handler};
use freedumb_kit::inbox::Pruning;
use freedumb_kit::time;
use freedumb_proto::ai as ai_pb;
use freedumb_proto::ledger as ledger_pb;
use prost::Message as _;
use uuid::Uuid;

use crate::domain::{CompiledRule, Input, Source, decide_known, merchant_of};
use crate::model::GlobalModel;
use crate::store::{AiStore, LearnEvent, LearnerStore, Observation, StoreError};
use crate::{convert, outbox};

/// The consumer group the learner reads the ledger's stream as.
pub const GROUP: &str = "ai";

/// How the learner categorizes new transactions.
#[derive(Clone)]
pub struct AutoApply {
    /// The user's rules and history.
    pub store: Arc<dyn AiStore>,
    /// The global model.
    pub model: &'static GlobalModel,
    /// The cascade's abstention threshold.
    pub min_confidence: f64,
    /// Proposals below this confidence are not made.
    pub confidence: f64,
    /// Woken when proposals were written (the outbox relay).
    pub wake: Arc<tokio::sync::Notify>,
}

/// Learns from batches of ledger events.
pub struct Learner {
    store: Arc<dyn LearnerStore>,
    auto: Option<AutoApply>,
    pruning: Pruning,
}

impl Learner {
    /// A learner writing to `store`, categorizing new transactions with
    /// `auto` when given.
    pub fn new(store: Arc<dyn LearnerStore>, auto: Option<AutoApply>) -> Self {
        Self {
            store,
            auto,
            pruning: Pruning::default(),
        }
    }
}

#[async_trait]
impl Handler for Learner {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let mut batch = Vec::with_capacity(events.len());
        let mut pending = Vec::new();
        for (learn, new) in events.iter().filter_map(|e| decode(e)) {
            if let Some(new) = new {
                pending.push((batch.len(), new));
            }
            batch.push(learn);
        }
        if let Some(auto) = &self.auto {
            auto.propose(&mut batch, pending)
                .await
                .map_err(StoreError::into_failure)?;
        }
        let now = time::now();
        let learned = self
            .store
            .learn(&batch, now)
            .await
            .map_err(StoreError::into_failure)?;
        metrics::counter!("ai_learned_events_total").increment(learned as u64);
        if let Some(auto) = &self.auto
            && batch.iter().any(|e| !e.proposals.is_empty())
        {
            auto.wake.notify_one();
        }
        if let Some(before) = self.pruning.due(now.timestamp_millis()) {
            self.store
                .prune_handled_events(before)
                .await
                .map_err(StoreError::into_failure)?;
        }
        Ok(())
    }
}

/// A transaction recorded without a category.
#[derive(Debug, Clone)]
pub struct Uncategorized {
    /// Its owner.
    pub user_id: Uuid,
    /// Its id.
    pub transaction_id: Uuid,
    /// Its `update_time`, which the proposal names.
    pub version: prost_types::Timestamp,
    /// What the cascade reads.
    pub input: Input,
}

impl AutoApply {
    /// Adds to `batch` the proposals for `pending` (each with the index of
    /// its event): one query for the rules and one for the history per
    /// user.
    pub async fn propose(
        &self,
        batch: &mut [LearnEvent],
        pending: Vec<(usize, Uncategorized)>,
    ) -> Result<(), StoreError> {
        let mut by_user: BTreeMap<Uuid, Vec<(usize, Uncategorized)>> = BTreeMap::new();
        for (at, new) in pending {
            by_user.entry(new.user_id).or_default().push((at, new));
        }
        for (user_id, pending) in by_user {
            let rules = self.rules(user_id).await?;
            let keys: Vec<String> = pending
                .iter()
                .filter_map(|(_, n)| n.input.merchant.as_ref().map(|m| m.key.clone()))
                .collect();
            let history = self.store.history(user_id, &keys).await?;
            for (at, new) in pending {
                let seen = new
                    .input
                    .merchant
                    .as_ref()
                    .and_then(|m| history.get(&m.key))
                    .map_or(&[][..], Vec::as_slice);
                // The model reads the description only when the rules and
                // the history leave the transaction undecided.
                let input = &new.input;
                let d = decide_known(input, &rules, seen, self.min_confidence).finish(
                    || {
                        self.model
                            .guess_as_class(&input.description, input.amount_minor)
                    },
                    self.min_confidence,
                );
                let Some(category) = d.category_id.filter(|_| d.confidence >= self.confidence)
                else {
                    continue;
                };
                // The model's stand-in id is a default category's name,
                // resolved by the ledger; the others are the user's ids.
                let (category_id, category_name) = match d.source {
                    Source::Model => (
                        String::new(),
                        self.model.class_of(category).unwrap_or_default().to_owned(),
                    ),
                    _ => (category.to_string(), String::new()),
                };
                let proposal = ai_pb::CategoryProposed {
                    transaction_id: new.transaction_id.to_string(),
                    transaction_update_time: Some(new.version),
                    category_id,
                    category_name,
                    confidence: d.confidence,
                    source: convert::source(d.source).into(),
                };
                if let Some(event) = batch.get_mut(at) {
                    event.proposals.push(outbox::proposed(user_id, proposal));
                    metrics::counter!("ai_proposed_total").increment(1);
                }
            }
        }
        Ok(())
    }

    async fn rules(&self, user_id: Uuid) -> Result<Vec<CompiledRule>, StoreError> {
        let records = self.store.list_rules(user_id).await?;
        Ok(records
            .iter()
            .filter_map(|r| match r.compile() {
                Ok(rule) => Some(rule),
                Err(why) => {
                    tracing::warn!(rule = %r.id, %why, "skipping a stored rule that does not compile");
                    None
                }
            })
            .collect())
    }
}

/// What one ledger event teaches, and the transaction it recorded without
/// a category; `None` (logged) for a payload that is not a `LedgerEvent`.
/// Unknown kinds of change teach nothing.
pub fn decode(event: &Event) -> Option<(LearnEvent, Option<Uncategorized>)> {
    let decoded = ledger_pb::LedgerEvent::decode(event.payload.as_ref())
        .map_err(anyhow::Error::from)
        .and_then(|e| {
            let observations = observations(&e)?;
            let new = uncategorized(&e)?;
            Ok((e.event_id, observations, new))
        });
    match decoded {
        Ok((id, observations, new)) => match Uuid::try_parse(&id) {
            Ok(event_id) => Some((
                LearnEvent {
                    event_id,
                    observations,
                    proposals: Vec::new(),
                },
                new,
            )),
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

/// The transaction a `TransactionCreated` recorded with no category, no
/// splits and not as a transfer leg.
fn uncategorized(event: &ledger_pb::LedgerEvent) -> anyhow::Result<Option<Uncategorized>> {
    use ledger_pb::ledger_event::Change as C;
    let Some(C::TransactionCreated(c)) = &event.change else {
        return Ok(None);
    };
    let t = c
        .transaction
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the event lacks its transaction"))?;
    if !t.category_id.is_empty() || !t.splits.is_empty() || !t.transfer_id.is_empty() {
        return Ok(None);
    }
    let input = Input::parse(
        &ai_pb::TransactionInput {
            description: t.description.clone(),
            merchant: t.merchant.clone(),
            amount: t.amount.clone(),
            account_id: t.account_id.clone(),
        },
        "",
    );
    // A line the cascade cannot read (no description) is left alone.
    let (Ok(input), Some(version)) = (input, t.update_time) else {
        return Ok(None);
    };
    Ok(Some(Uncategorized {
        user_id: Uuid::try_parse(&event.user_id)?,
        transaction_id: Uuid::try_parse(&t.id)?,
        version,
        input,
    }))
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
    // The ai service's own choices are not the user's.
    if !t.transfer_id.is_empty() || t.categorized_by == ledger_pb::CategorizedBy::Ai as i32 {
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
        let (learned, new) = decode(&event(created)).expect("decodes");
        assert!(new.is_none(), "categorized: nothing to propose");
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
        let (learned, new) = decode(&event(transfer)).expect("decodes");
        assert!(learned.observations.is_empty() && new.is_none());

        // The ai service's own choice teaches nothing.
        let mut applied = transaction("SQ *BLUE BOTTLE 0042 OAKLAND CA", &food.to_string());
        applied.categorized_by = ledger_pb::CategorizedBy::Ai.into();
        let updated = C::TransactionUpdated(ledger_pb::TransactionUpdated {
            before: None,
            after: Some(applied),
        });
        let (learned, _) = decode(&event(updated)).expect("decodes");
        assert!(learned.observations.is_empty());

        // An uncategorized create is to be categorized.
        let mut bare = transaction("NETFLIX.COM 866-579-7172 CA", "");
        bare.amount = Some(freedumb_kit::domain::money("USD", -1_549));
        let created = C::TransactionCreated(ledger_pb::TransactionCreated {
            transaction: Some(bare.clone()),
        });
        let (_, new) = decode(&event(created)).expect("decodes");
        let new = new.expect("to categorize");
        assert_eq!(new.transaction_id.to_string(), bare.id);
        assert_eq!(new.input.amount_minor, -1_549);
        let junk = Event {
            payload: vec![0xff, 0xff].into(),
            ..event(C::TransactionCreated(
                ledger_pb::TransactionCreated::default(),
            ))
        };
        assert!(decode(&junk).is_none());
    }
}
