//! Auto-categorization, applied: the ai service's proposals
//! (`freedumb.ai.v1.AiEvent`, read as the consumer group `ledger`) set the
//! category of a transaction that is still uncategorized and unchanged
//! since the ai service decided, marked as the ai's (`CATEGORIZED_BY_AI`).
//! A user's choice always wins: a transaction categorized, split or edited
//! in the meantime is left alone, and so is a proposal naming a category
//! the user does not have (any more). Applying a proposal twice changes
//! nothing the second time, so replays are harmless.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use async_trait::async_trait;
use freedumb_kit::events::{Event, Handler};
use freedumb_kit::time;
use freedumb_proto::ai as ai_pb;
use prost::Message as _;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::outbox;
use crate::store::{CategoryRecord, LedgerStore, StoreError, TransactionRecord};

/// The stream the ai service publishes its proposals on.
pub const AI_STREAM: &str = "freedumb.ai.v1.events";
/// The consumer group the ledger reads it as.
pub const GROUP: &str = "ledger";

/// Applies the ai service's proposals.
pub struct Categorizer {
    store: Arc<dyn LedgerStore>,
    wake: Arc<Notify>,
}

/// What became of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The category was set.
    Applied,
    /// The transaction is gone, categorized or changed since.
    Stale,
    /// The proposal names no category of the user's of the right kind.
    NoCategory,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::NoCategory => "no_category",
        }
    }
}

impl Categorizer {
    /// Applies proposals through `store`, waking the outbox relay (`wake`)
    /// after each batch that changed something.
    pub fn new(store: Arc<dyn LedgerStore>, wake: Arc<Notify>) -> Self {
        Self { store, wake }
    }

    /// Applies one proposal for `user_id`; `categories` caches the user's
    /// categories for the batch.
    pub async fn apply(
        &self,
        user_id: Uuid,
        proposal: &ai_pb::CategoryProposed,
        categories: &mut HashMap<Uuid, Vec<CategoryRecord>>,
    ) -> anyhow::Result<Outcome> {
        let id = Uuid::try_parse(&proposal.transaction_id)?;
        let decided_on = time::micros(proposal.transaction_update_time.as_ref())?;
        let Some(before) = self.store.get_transaction(user_id, id).await? else {
            return Ok(Outcome::Stale);
        };
        if !uncategorized(&before) || before.update_time.timestamp_micros() != decided_on {
            return Ok(Outcome::Stale);
        }
        let mine = match categories.entry(user_id) {
            Entry::Occupied(listed) => listed.into_mut(),
            Entry::Vacant(slot) => slot.insert(self.store.list_categories(user_id).await?),
        };
        let Some(category_id) = resolve(mine, proposal, before.amount_minor) else {
            return Ok(Outcome::NoCategory);
        };
        let mut after = before.clone();
        after.category_id = Some(category_id);
        after.ai_categorized = true;
        after.revision = before.revision + 1;
        after.update_time = time::now();
        match self
            .store
            .update_transaction(&before, &after, &outbox::build)
            .await
        {
            Ok(()) => Ok(Outcome::Applied),
            // Changed by the user in between, or the category deleted.
            Err(StoreError::Conflict | StoreError::NotFound(_)) => Ok(Outcome::Stale),
            Err(e) => Err(anyhow::Error::from(e)),
        }
    }
}

/// Whether nobody has categorized `t` (and it can be: not a transfer leg).
fn uncategorized(t: &TransactionRecord) -> bool {
    t.category_id.is_none() && t.splits.is_empty() && t.transfer_id.is_none()
}

/// The user's category the proposal names, of the kind the amount needs
/// (income for money in, expense for money out): by id, or by a name
/// exactly one of those categories has (ignoring case).
fn resolve(
    categories: &[CategoryRecord],
    proposal: &ai_pb::CategoryProposed,
    amount_minor: i64,
) -> Option<Uuid> {
    let kind = if amount_minor > 0 {
        "income"
    } else {
        "expense"
    };
    let of_kind = categories.iter().filter(|c| c.kind == kind);
    if !proposal.category_id.is_empty() {
        let id = Uuid::try_parse(&proposal.category_id).ok()?;
        return of_kind.map(|c| c.id).find(|c| *c == id);
    }
    let name = proposal.category_name.trim();
    if name.is_empty() {
        return None;
    }
    let name = name.to_lowercase();
    let mut named = of_kind.filter(|c| c.name.to_lowercase() == name);
    match (named.next(), named.next()) {
        (Some(only), None) => Some(only.id),
        _ => None,
    }
}

#[async_trait]
impl Handler for Categorizer {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let mut categories = HashMap::new();
        let mut applied = 0;
        for event in events {
            let decoded = ai_pb::AiEvent::decode(event.payload.as_ref())
                .map_err(anyhow::Error::from)
                .and_then(|e| Ok((Uuid::try_parse(&e.user_id)?, e.change)));
            let (user_id, change) = match decoded {
                Ok(decoded) => decoded,
                Err(error) => {
                    tracing::warn!(event = %event.id, error = ?error, "skipping an undecodable ai event");
                    continue;
                }
            };
            let Some(ai_pb::ai_event::Change::CategoryProposed(proposal)) = change else {
                continue;
            };
            let outcome = match self.apply(user_id, &proposal, &mut categories).await {
                Ok(outcome) => outcome,
                Err(error) if error.downcast_ref::<StoreError>().is_some() => return Err(error),
                Err(error) => {
                    tracing::warn!(event = %event.id, error = ?error, "skipping a malformed proposal");
                    continue;
                }
            };
            applied += usize::from(outcome == Outcome::Applied);
            metrics::counter!("ledger_ai_categorized_total", "outcome" => outcome.label())
                .increment(1);
        }
        if applied > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(name: &str, kind: &str) -> CategoryRecord {
        CategoryRecord {
            id: Uuid::now_v7(),
            user_id: Uuid::nil(),
            name: name.into(),
            kind: kind.into(),
            parent_id: None,
            create_time: time::now(),
        }
    }

    fn by_name(name: &str) -> ai_pb::CategoryProposed {
        ai_pb::CategoryProposed {
            category_name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn names_resolve_to_one_category_of_the_right_kind() {
        let coffee = category("Coffee", "expense");
        let refunds = category("Refunds", "income");
        let twice = [category("Gifts", "expense"), category("gifts", "expense")];
        let mine = [
            coffee.clone(),
            refunds.clone(),
            twice[0].clone(),
            twice[1].clone(),
        ];
        assert_eq!(resolve(&mine, &by_name("coffee"), -450), Some(coffee.id));
        assert_eq!(resolve(&mine, &by_name("Coffee"), 450), None, "wrong kind");
        assert_eq!(resolve(&mine, &by_name("Refunds"), 1_000), Some(refunds.id));
        assert_eq!(resolve(&mine, &by_name("Gifts"), -1), None, "ambiguous");
        assert_eq!(resolve(&mine, &by_name("Travel"), -1), None);
        let by_id = ai_pb::CategoryProposed {
            category_id: coffee.id.to_string(),
            ..Default::default()
        };
        assert_eq!(resolve(&mine, &by_id, -1), Some(coffee.id));
        let foreign = ai_pb::CategoryProposed {
            category_id: Uuid::now_v7().to_string(),
            ..Default::default()
        };
        assert_eq!(resolve(&mine, &foreign, -1), None);
    }
}
