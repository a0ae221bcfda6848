//! Auto-categorization, applied: the ai service's proposals
//! (`freedumb.ai.v1.AiEvent`, read as the consumer group `ledger`) set the
//! category of a transaction that is still uncategorized and unchanged
//! since the ai service decided, marked as the ai's (`CATEGORIZED_BY_AI`).
//! A user's choice always wins: a transaction categorized, split or edited
//! in the meantime is left alone, and so is a proposal naming a category
//! the user does not have (any more). Applying a proposal twice changes
//! nothing the second time, so replays are harmless.

use std::sync::Arc;

use async_trait::async_trait;
use freedumb_kit::events::{Event, Handler};
use freedumb_kit::time;
use freedumb_proto::ai as ai_pb;
use prost::Message as _;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::outbox;
use crate::store::{AiCategory, CategoryRecord, LedgerStore};

/// The stream the ai service publishes its proposals on.
pub const AI_STREAM: &str = "freedumb.ai.v1.events";
/// The consumer group the ledger reads it as.
pub const GROUP: &str = "ledger";

/// Applies the ai service's proposals.
pub struct Categorizer {
    store: Arc<dyn LedgerStore>,
    wake: Arc<Notify>,
}

impl Categorizer {
    /// Applies proposals through `store`, waking the outbox relay (`wake`)
    /// after each batch that changed something.
    pub fn new(store: Arc<dyn LedgerStore>, wake: Arc<Notify>) -> Self {
        Self { store, wake }
    }

    /// Applies one user's proposals in one store transaction; returns how
    /// many were applied.
    async fn apply(
        &self,
        user_id: Uuid,
        proposals: &[ai_pb::CategoryProposed],
    ) -> anyhow::Result<usize> {
        let categories = self.store.list_categories(user_id).await?;
        let mut items = Vec::with_capacity(proposals.len());
        for p in proposals {
            let (Ok(transaction_id), Ok(decided_on_micros)) = (
                Uuid::try_parse(&p.transaction_id),
                time::micros(p.transaction_update_time.as_ref()),
            ) else {
                tracing::warn!(transaction = %p.transaction_id, "skipping a malformed proposal");
                continue;
            };
            let (expense, income) = (
                resolve(&categories, p, "expense"),
                resolve(&categories, p, "income"),
            );
            if expense.is_none() && income.is_none() {
                metrics::counter!("ledger_ai_categorized_total", "outcome" => "no_category")
                    .increment(1);
                continue;
            }
            items.push(AiCategory {
                transaction_id,
                decided_on_micros,
                expense,
                income,
            });
        }
        if items.is_empty() {
            return Ok(0);
        }
        let applied = self
            .store
            .apply_ai_categories(user_id, &items, time::now(), &outbox::build)
            .await?
            .len();
        metrics::counter!("ledger_ai_categorized_total", "outcome" => "applied")
            .increment(applied as u64);
        // Categorized, split, edited or deleted by the user meanwhile.
        metrics::counter!("ledger_ai_categorized_total", "outcome" => "stale")
            .increment((items.len() - applied) as u64);
        Ok(applied)
    }
}

/// The user's category of `kind` the proposal names: by id, or by a name
/// exactly one category of that kind has (ignoring case).
fn resolve(
    categories: &[CategoryRecord],
    proposal: &ai_pb::CategoryProposed,
    kind: &str,
) -> Option<Uuid> {
    let mut of_kind = categories.iter().filter(|c| c.kind == kind);
    if !proposal.category_id.is_empty() {
        let id = Uuid::try_parse(&proposal.category_id).ok()?;
        return of_kind.map(|c| c.id).find(|c| *c == id);
    }
    let name = proposal.category_name.trim().to_lowercase();
    if name.is_empty() {
        return None;
    }
    let mut named = of_kind.by_ref().filter(|c| c.name.to_lowercase() == name);
    match (named.next(), named.next()) {
        (Some(only), None) => Some(only.id),
        _ => None,
    }
}

#[async_trait]
impl Handler for Categorizer {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        // Per user, in the order they came.
        let mut by_user: Vec<(Uuid, Vec<ai_pb::CategoryProposed>)> = Vec::new();
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
            match by_user.iter_mut().find(|(u, _)| *u == user_id) {
                Some((_, proposals)) => proposals.push(proposal),
                None => by_user.push((user_id, vec![proposal])),
            }
        }
        let mut applied = 0;
        for (user_id, proposals) in &by_user {
            applied += self.apply(*user_id, proposals).await?;
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
        assert_eq!(
            resolve(&mine, &by_name("coffee"), "expense"),
            Some(coffee.id)
        );
        assert_eq!(
            resolve(&mine, &by_name("Coffee"), "income"),
            None,
            "wrong kind"
        );
        assert_eq!(
            resolve(&mine, &by_name("Refunds"), "income"),
            Some(refunds.id)
        );
        assert_eq!(
            resolve(&mine, &by_name("Gifts"), "expense"),
            None,
            "ambiguous"
        );
        assert_eq!(resolve(&mine, &by_name("Travel"), "expense"), None);
        assert_eq!(resolve(&mine, &by_name(" "), "expense"), None);
        let by_id = ai_pb::CategoryProposed {
            category_id: coffee.id.to_string(),
            ..Default::default()
        };
        assert_eq!(resolve(&mine, &by_id, "expense"), Some(coffee.id));
        assert_eq!(resolve(&mine, &by_id, "income"), None);
        let foreign = ai_pb::CategoryProposed {
            category_id: Uuid::now_v7().to_string(),
            ..Default::default()
        };
        assert_eq!(resolve(&mine, &foreign, "expense"), None);
    }
}
