//! The ledger's side of investment activities: an activity that moves
//! money between one of the user's accounts and their portfolio's account
//! (`freedumb.investment.v1.ActivityRecorded` with a `cash_amount`, read
//! as the consumer group `ledger`) is recorded as one transfer whose id is
//! the activity's, and deleted with it. A purchase or a deposit moves the
//! money from the cash account to the portfolio's; a sale or a withdrawal
//! moves it back.
//!
//! Recording is idempotent (keyed by the activity id), so a replayed event
//! changes nothing. An activity the ledger cannot record (an account gone,
//! archived, in another currency, a balance out of range) is logged and
//! counted, not retried: the investment service checked all of it when
//! the activity was recorded, so only a later change can cause it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use freedumb_kit::events::{Event, Handler};
use freedumb_kit::time;
use freedumb_proto::investment as ipb;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::outbox;
use crate::store::{Idempotency, LedgerStore, StoreError, TransferRecord};

/// The stream the investment service publishes its activities on.
pub const INVESTMENT_STREAM: &str = "freedumb.investment.v1.events";
/// The consumer group the ledger reads it as.
pub const GROUP: &str = "ledger";

/// What one event asks of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    /// Record a transfer.
    Record {
        user_id: Uuid,
        activity_id: Uuid,
        from: Uuid,
        to: Uuid,
        currency: String,
        amount_minor: i64,
        date: NaiveDate,
        summary: String,
    },
    /// Delete the transfer of an activity (if it has one).
    Delete { user_id: Uuid, activity_id: Uuid },
}

/// What `event` asks of the ledger, if anything.
fn link(event: &ipb::InvestmentEvent) -> anyhow::Result<Option<Link>> {
    use ipb::investment_event::Change;
    let user_id = Uuid::try_parse(&event.user_id)?;
    match &event.change {
        Some(Change::ActivityRecorded(recorded)) => {
            let (Some(activity), Some(amount)) = (&recorded.activity, &recorded.cash_amount) else {
                return Ok(None);
            };
            if activity.cash_account_id.is_empty() || recorded.portfolio_account_id.is_empty() {
                return Ok(None);
            }
            let cash = Uuid::try_parse(&activity.cash_account_id)?;
            let portfolio = Uuid::try_parse(&recorded.portfolio_account_id)?;
            let (from, to) = match ipb::ActivityKind::try_from(activity.kind) {
                Ok(ipb::ActivityKind::Buy | ipb::ActivityKind::Deposit) => (cash, portfolio),
                Ok(ipb::ActivityKind::Sell | ipb::ActivityKind::Withdrawal) => (portfolio, cash),
                _ => return Ok(None),
            };
            let date = freedumb_kit::domain::required_date(activity.date.as_ref())
                .map_err(|e| anyhow::anyhow!("an activity's date {e}"))?;
            Ok(Some(Link::Record {
                user_id,
                activity_id: Uuid::try_parse(&activity.id)?,
                from,
                to,
                currency: amount.currency_code.clone(),
                amount_minor: amount.amount_minor,
                date,
                summary: recorded.summary.clone(),
            }))
        }
        Some(Change::ActivityDeleted(deleted)) => {
            let Some(activity) = &deleted.activity else {
                return Ok(None);
            };
            if activity.cash_account_id.is_empty() {
                return Ok(None);
            }
            Ok(Some(Link::Delete {
                user_id,
                activity_id: Uuid::try_parse(&activity.id)?,
            }))
        }
        None => Ok(None),
    }
}

/// Records and deletes the transfers of investment activities.
pub struct InvestmentLink {
    store: Arc<dyn LedgerStore>,
    wake: Arc<Notify>,
}

impl InvestmentLink {
    /// Writes through `store`, waking the outbox relay (`wake`) after each
    /// change.
    pub fn new(store: Arc<dyn LedgerStore>, wake: Arc<Notify>) -> Self {
        Self { store, wake }
    }

    /// Applies one link; whether it changed the ledger.
    async fn apply(&self, link: Link) -> Result<bool, StoreError> {
        match link {
            Link::Record {
                user_id,
                activity_id,
                from,
                to,
                currency,
                amount_minor,
                date,
                summary,
            } => {
                let (Some(from), Some(to)) = (
                    self.store.get_account(user_id, from).await?,
                    self.store.get_account(user_id, to).await?,
                ) else {
                    return Err(StoreError::NotFound("account"));
                };
                if from.currency != currency || to.currency != currency || amount_minor <= 0 {
                    return Err(StoreError::Precondition(format!(
                        "the accounts are in {} and {}, the activity's money is {amount_minor} {currency}",
                        from.currency, to.currency
                    )));
                }
                let description = if summary.is_empty() {
                    "Investment activity".to_owned()
                } else {
                    summary
                };
                let record = TransferRecord::between(
                    activity_id,
                    (&from, amount_minor),
                    (&to, amount_minor),
                    "1".to_owned(),
                    date,
                    description,
                    time::now(),
                );
                let key = Idempotency {
                    method: "InvestmentActivity",
                    request_id: activity_id.to_string(),
                    request_hash: Sha256::digest(activity_id.as_bytes()).to_vec(),
                    response: Vec::new(),
                };
                let created = self
                    .store
                    .create_transfer(&record, Some(&key), &outbox::build)
                    .await?;
                Ok(matches!(created, crate::store::Created::New))
            }
            Link::Delete {
                user_id,
                activity_id,
            } => match self
                .store
                .delete_transfer(user_id, activity_id, &outbox::build)
                .await
            {
                Ok(()) => Ok(true),
                Err(StoreError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            },
        }
    }
}

#[async_trait]
impl Handler for InvestmentLink {
    async fn handle(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let mut changed = false;
        for event in events {
            let link = match ipb::InvestmentEvent::decode(event.payload.as_ref())
                .map_err(anyhow::Error::from)
                .and_then(|e| link(&e))
            {
                Ok(Some(link)) => link,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(event = %event.id, error = ?error, "skipping an unreadable investment event");
                    continue;
                }
            };
            match self.apply(link).await {
                Ok(applied) => {
                    changed |= applied;
                    metrics::counter!("ledger_investment_transfers_total", "outcome" => "applied")
                        .increment(1);
                }
                Err(StoreError::Database(e)) => return Err(e.into()),
                Err(refused) => {
                    metrics::counter!("ledger_investment_transfers_total", "outcome" => "refused")
                        .increment(1);
                    tracing::warn!(event = %event.id, error = %refused, "an investment activity's transfer was not recorded");
                }
            }
        }
        if changed {
            self.wake.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::domain::{date, money};

    fn recorded(kind: ipb::ActivityKind, cash: &str, portfolio: &str) -> ipb::InvestmentEvent {
        ipb::InvestmentEvent {
            user_id: Uuid::now_v7().to_string(),
            change: Some(ipb::investment_event::Change::ActivityRecorded(
                ipb::ActivityRecorded {
                    activity: Some(ipb::Activity {
                        id: Uuid::now_v7().to_string(),
                        kind: kind.into(),
                        date: Some(date(NaiveDate::from_ymd_opt(2024, 1, 2).expect("date"))),
                        cash_account_id: cash.into(),
                        ..Default::default()
                    }),
                    portfolio_account_id: portfolio.into(),
                    cash_amount: Some(money("USD", 100_100)),
                    summary: "Buy 10 AAPL at 100".into(),
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn a_purchase_moves_money_to_the_portfolio_and_a_sale_back() {
        let (cash, portfolio) = (Uuid::now_v7(), Uuid::now_v7());
        let (c, p) = (cash.to_string(), portfolio.to_string());
        let Some(Link::Record {
            from,
            to,
            amount_minor,
            ..
        }) = link(&recorded(ipb::ActivityKind::Buy, &c, &p)).expect("readable event")
        else {
            panic!("no transfer for a buy")
        };
        assert_eq!((from, to, amount_minor), (cash, portfolio, 100_100));
        let Some(Link::Record { from, to, .. }) =
            link(&recorded(ipb::ActivityKind::Sell, &c, &p)).expect("readable event")
        else {
            panic!("no transfer for a sale")
        };
        assert_eq!((from, to), (portfolio, cash));
    }

    #[test]
    fn activities_without_ledger_money_ask_nothing() {
        let p = Uuid::now_v7().to_string();
        assert_eq!(
            link(&recorded(ipb::ActivityKind::Buy, "", &p)).expect("readable event"),
            None
        );
        assert_eq!(
            link(&recorded(ipb::ActivityKind::Dividend, &p, &p)).expect("readable event"),
            None
        );
    }
}
