//! The spending projection's consumer: ledger events, read through the
//! kit's consumer group `budget` on the ledger's stream, become versioned
//! changes of the budget's store (one transaction per batch), which also
//! raises the alerts of the budgets they touched and announces the goals
//! they made reach their target. Watchers of the users whose spending
//! changed are told through the bus.

use std::sync::Arc;

use async_trait::async_trait;
use freedumb_kit::events::{Event, EventBus, Handler};
use freedumb_kit::inbox::Pruning;
use freedumb_kit::time;
use freedumb_proto::ledger as ledger_pb;
use prost::Message as _;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::outbox;
use crate::store::{Entry, LedgerChange, LedgerEventChanges, ProjectionStore, StoreError};

/// The consumer group the projection reads the ledger's stream as.
pub const GROUP: &str = "budget";

/// Applies batches of ledger events to the projection.
pub struct Projection {
    store: Arc<dyn ProjectionStore>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    pruning: Pruning,
}

impl Projection {
    /// A consumer writing to `store`, waking the relay with `wake` after
    /// alerts and telling watchers through `bus`.
    pub fn new(store: Arc<dyn ProjectionStore>, bus: Arc<dyn EventBus>, wake: Arc<Notify>) -> Self {
        Self {
            store,
            bus,
            wake,
            pruning: Pruning::default(),
        }
    }
}

#[async_trait]
impl Handler for Projection {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let batch: Vec<LedgerEventChanges> = events.iter().filter_map(|e| decode(e)).collect();
        let now = time::now();
        let applied = self
            .store
            .apply_events(&batch, now.date_naive(), now, &outbox::build)
            .await
            .map_err(StoreError::into_failure)?;
        metrics::counter!("budget_projection_events_total").increment(applied.events as u64);
        if applied.alerts > 0 {
            metrics::counter!("budget_alerts_total").increment(applied.alerts as u64);
        }
        if applied.goals_reached > 0 {
            metrics::counter!("budget_goals_reached_total").increment(applied.goals_reached as u64);
        }
        if applied.alerts + applied.goals_reached > 0 {
            self.wake.notify_one();
        }
        crate::watch::spending_changed(self.bus.as_ref(), &applied.users).await;
        if let Some(before) = self.pruning.due(now.timestamp_millis()) {
            self.store.prune_handled_events(before).await?;
        }
        Ok(())
    }
}

/// The changes of one ledger event; `None` (logged) for a payload that is
/// not a `LedgerEvent`. Unknown kinds of change (a newer ledger) change
/// nothing.
pub fn decode(event: &Event) -> Option<LedgerEventChanges> {
    let decoded = ledger_pb::LedgerEvent::decode(event.payload.as_ref())
        .map_err(anyhow::Error::from)
        .and_then(|e| changes(&e).map(|c| (e, c)));
    match decoded {
        Ok((e, changes)) => match Uuid::try_parse(&e.event_id) {
            Ok(event_id) => Some(LedgerEventChanges { event_id, changes }),
            Err(_) => {
                tracing::warn!(event = %event.id, "skipping a ledger event without a valid id");
                None
            }
        },
        Err(error) => {
            metrics::counter!("budget_projection_skipped_total").increment(1);
            tracing::warn!(event = %event.id, error = ?error, "skipping an undecodable ledger event");
            None
        }
    }
}

fn changes(event: &ledger_pb::LedgerEvent) -> anyhow::Result<Vec<LedgerChange>> {
    use ledger_pb::ledger_event::Change as C;
    let user_id = Uuid::try_parse(&event.user_id)?;
    let mut changes = match &event.change {
        Some(C::TransactionCreated(c)) => vec![upsert(user_id, required(c.transaction.as_ref())?)?],
        Some(C::TransactionUpdated(u)) => vec![upsert(user_id, required(u.after.as_ref())?)?],
        Some(C::TransactionDeleted(d)) => {
            let t = required(d.transaction.as_ref())?;
            vec![LedgerChange::Delete {
                user_id,
                transaction_id: Uuid::try_parse(&t.id)?,
                version: time::micros(event.create_time.as_ref())?,
            }]
        }
        Some(C::CategoryDeleted(d)) => {
            let category = required(d.category.as_ref())?;
            let reassigned_to = match d.reassigned_to_category_id.as_str() {
                "" => None,
                id => Some(Uuid::try_parse(id)?),
            };
            vec![LedgerChange::CategoryDeleted {
                user_id,
                category_id: Uuid::try_parse(&category.id)?,
                reassigned_to,
                version: time::micros(event.create_time.as_ref())?,
            }]
        }
        // Transfers move money between the user's accounts: not spending;
        // an account's change moves only its balance (below).
        Some(C::TransferCreated(_) | C::TransferDeleted(_) | C::AccountUpdated(_)) | None => {
            Vec::new()
        }
    };
    if !event.balances.is_empty() {
        let at = time::micros(event.create_time.as_ref())?;
        for b in &event.balances {
            let money = b
                .balance
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("a balance without an amount"))?;
            changes.push(LedgerChange::Balance {
                user_id,
                account_id: Uuid::try_parse(&b.account_id)?,
                currency: money.currency_code.clone(),
                balance_minor: money.amount_minor,
                at,
            });
        }
    }
    Ok(changes)
}

fn required<T>(part: Option<&T>) -> anyhow::Result<&T> {
    part.ok_or_else(|| anyhow::anyhow!("the event lacks its transaction"))
}

/// A transaction's state as an upsert: its entries per category (none for
/// a transfer leg or an uncategorized transaction), versioned by its
/// update time.
pub fn upsert(user_id: Uuid, t: &ledger_pb::Transaction) -> anyhow::Result<LedgerChange> {
    let transaction_id = Uuid::try_parse(&t.id)?;
    let version = time::micros(t.update_time.as_ref())?;
    let money = t
        .amount
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no amount"))?;
    let day = freedumb_kit::domain::required_date(t.date.as_ref()).map_err(anyhow::Error::msg)?;
    let entry = |category: &str, amount_minor: i64, split: bool| -> anyhow::Result<Entry> {
        Ok(Entry {
            category_id: Uuid::try_parse(category)?,
            currency: money.currency_code.clone(),
            day,
            amount_minor,
            split,
        })
    };
    let entries = if !t.transfer_id.is_empty() {
        Vec::new()
    } else if !t.splits.is_empty() {
        t.splits
            .iter()
            .map(|s| entry(&s.category_id, s.amount_minor, true))
            .collect::<anyhow::Result<_>>()?
    } else if t.category_id.is_empty() {
        Vec::new()
    } else {
        vec![entry(&t.category_id, money.amount_minor, false)?]
    };
    Ok(LedgerChange::Upsert {
        user_id,
        transaction_id,
        version,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use freedumb_kit::domain::{date, money};

    use super::*;

    fn transaction(category: &str, splits: &[(&str, i64)]) -> ledger_pb::Transaction {
        ledger_pb::Transaction {
            id: Uuid::now_v7().to_string(),
            amount: Some(money("EUR", -1500)),
            date: Some(date("2024-05-02".parse().expect("date"))),
            category_id: category.into(),
            splits: splits
                .iter()
                .map(|(c, a)| ledger_pb::Split {
                    category_id: (*c).into(),
                    amount_minor: *a,
                })
                .collect(),
            update_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_000,
            }),
            ..ledger_pb::Transaction::default()
        }
    }

    fn entries(change: &LedgerChange) -> Vec<(Uuid, i64, bool)> {
        match change {
            LedgerChange::Upsert { entries, .. } => entries
                .iter()
                .map(|e| (e.category_id, e.amount_minor, e.split))
                .collect(),
            other => panic!("not an upsert: {other:?}"),
        }
    }

    #[test]
    fn splits_count_in_their_own_categories_and_transfers_not_at_all() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let user = Uuid::now_v7();
        let plain = upsert(user, &transaction(&a.to_string(), &[])).expect("valid");
        assert_eq!(entries(&plain), [(a, -1500, false)]);
        let split = transaction("", &[(&a.to_string(), -1000), (&b.to_string(), -500)]);
        assert_eq!(
            entries(&upsert(user, &split).expect("valid")),
            [(a, -1000, true), (b, -500, true)]
        );
        let mut leg = transaction(&a.to_string(), &[]);
        leg.transfer_id = Uuid::now_v7().to_string();
        assert!(entries(&upsert(user, &leg).expect("valid")).is_empty());
        let LedgerChange::Upsert { version, .. } = plain else {
            unreachable!()
        };
        assert_eq!(version, 1_700_000_000_123_456);
    }

    #[test]
    fn balances_become_balance_changes() {
        let (user, account) = (Uuid::now_v7(), Uuid::now_v7());
        let event = ledger_pb::LedgerEvent {
            event_id: Uuid::now_v7().to_string(),
            user_id: user.to_string(),
            create_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            balances: vec![ledger_pb::AccountBalance {
                account_id: account.to_string(),
                balance: Some(money("EUR", 12_345)),
            }],
            change: Some(ledger_pb::ledger_event::Change::TransferCreated(
                ledger_pb::TransferCreated::default(),
            )),
        };
        let event = Event {
            id: "1".into(),
            kind: "transfer_created".into(),
            user_id: user.to_string(),
            payload: bytes_of(&event.encode_to_vec()),
        };
        assert_eq!(
            decode(&event).map(|c| c.changes),
            Some(vec![LedgerChange::Balance {
                user_id: user,
                account_id: account,
                currency: "EUR".into(),
                balance_minor: 12_345,
                at: 1_700_000_000_000_000,
            }])
        );
    }

    #[test]
    fn undecodable_events_are_skipped_and_transfers_change_nothing() {
        let junk = Event {
            id: "1".into(),
            kind: "transaction_created".into(),
            user_id: "u".into(),
            payload: bytes_of(&[0xff, 0xff]),
        };
        assert!(decode(&junk).is_none());
        let transfer = ledger_pb::LedgerEvent {
            event_id: Uuid::now_v7().to_string(),
            user_id: Uuid::now_v7().to_string(),
            change: Some(ledger_pb::ledger_event::Change::TransferCreated(
                ledger_pb::TransferCreated::default(),
            )),
            ..ledger_pb::LedgerEvent::default()
        };
        let event = Event {
            payload: bytes_of(&transfer.encode_to_vec()),
            ..junk
        };
        assert_eq!(decode(&event).map(|c| c.changes.len()), Some(0));
    }

    fn bytes_of(b: &[u8]) -> prost::bytes::Bytes {
        prost::bytes::Bytes::copy_from_slice(b)
    }
}
