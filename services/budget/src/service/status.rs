//! A budget's figures for a period, streamed as they change, and the
//! rebuild of the caller's spending from the ledger.

use std::pin::Pin;

use chrono::NaiveDate;
use freedumb_kit::domain::{date, money};
use freedumb_kit::time;
use freedumb_proto::budget as pb;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tonic::Status;
use uuid::Uuid;

use super::{BudgetApi, Result};
use crate::error::BudgetError;
use crate::peer::Credentials;
use crate::store::{BudgetRecord, BudgetStore, LedgerChange};

/// Statuses buffered per watcher.
const WATCH_BUFFER: usize = 16;

/// The stream `WatchBudgetStatus` answers with.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchBudgetStatusResponse, Status>> + Send>>;

/// `n` within the range of an `i64`.
pub fn clamp(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// The figures of `budget` for the period containing `day`.
pub async fn compute(
    store: &dyn BudgetStore,
    budget: &BudgetRecord,
    day: NaiveDate,
) -> Result<pb::BudgetStatus> {
    let span = budget.schedule.period_of(day).ok_or_else(|| {
        let until = budget
            .schedule
            .end
            .map(|end| format!(" to {end}"))
            .unwrap_or_default();
        BudgetError::FailedPrecondition(format!(
            "{day} is outside the budget's periods (from {}{until})",
            budget.schedule.start
        ))
    })?;
    let sums = store
        .sum_spending(budget.user_id, &budget.currency, &budget.category_ids, span)
        .await?;
    // Spending is the negated sum; in i128 and then clamped, so that no
    // sum of stored amounts can overflow.
    let spent_in = |category: &Uuid| -> i64 {
        clamp(
            -sums
                .iter()
                .filter(|(c, _)| c == category)
                .map(|(_, sum)| i128::from(*sum))
                .sum::<i128>(),
        )
    };
    let categories: Vec<pb::CategorySpending> = budget
        .category_ids
        .iter()
        .map(|c| pb::CategorySpending {
            category_id: c.to_string(),
            spent: Some(money(&budget.currency, spent_in(c))),
        })
        .collect();
    let spent = clamp(
        budget
            .category_ids
            .iter()
            .map(|c| i128::from(spent_in(c)))
            .sum(),
    );
    let percent = (i128::from(spent) * 100).div_euclid(i128::from(budget.amount_minor));
    let crossed = store.list_alerts(budget.id, span.start).await?;
    Ok(pb::BudgetStatus {
        budget_id: budget.id.to_string(),
        period_start: Some(date(span.start)),
        period_end: Some(date(span.end)),
        budgeted: Some(money(&budget.currency, budget.amount_minor)),
        spent: Some(money(&budget.currency, spent)),
        remaining: Some(money(
            &budget.currency,
            clamp(i128::from(budget.amount_minor) - i128::from(spent)),
        )),
        percent_used: i64::try_from(percent).unwrap_or(i64::MAX),
        categories,
        crossed_thresholds_percent: crossed,
    })
}

impl BudgetApi {
    pub(super) async fn watch(&self, user_id: Uuid, id: Uuid) -> Result<WatchStream> {
        let budget = self.budget(user_id, id).await?;
        // Subscribe before the first read, so no change falls in between.
        let mut hints = self.deps.bus.subscribe(crate::watch::CHANGES);
        let first = compute(self.deps.store.as_ref(), &budget, time::now().date_naive()).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_BUFFER);
        let deps = self.deps.clone();
        let user = user_id.to_string();
        tokio::spawn(async move {
            let mut last = first.clone();
            if tx
                .send(Ok(pb::WatchBudgetStatusResponse {
                    status: Some(first),
                }))
                .await
                .is_err()
            {
                return;
            }
            let mut refresh = tokio::time::interval(deps.watch_refresh);
            refresh.reset();
            loop {
                tokio::select! {
                    hint = hints.recv() => match hint {
                        Ok(hint) if hint.user_id != user => continue,
                        // A missed hint only means looking now.
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    },
                    _ = refresh.tick() => {}
                    () = deps.shutdown.wait() => {
                        let _ = tx.send(Err(Status::unavailable("the server is shutting down; watch again"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                }
                let next = match deps.store.get_budget(user_id, id).await {
                    Ok(Some(budget)) => {
                        compute(deps.store.as_ref(), &budget, time::now().date_naive()).await
                    }
                    Ok(None) => Err(BudgetError::NotFound("budget")),
                    Err(e) => Err(e.into()),
                };
                match next {
                    Ok(status) if status == last => {}
                    Ok(status) => {
                        last = status.clone();
                        let message = pb::WatchBudgetStatusResponse {
                            status: Some(status),
                        };
                        if tx.send(Ok(message)).await.is_err() {
                            return;
                        }
                    }
                    // Deleted, or past its last period: the watch ends.
                    Err(e @ (BudgetError::NotFound(_) | BudgetError::FailedPrecondition(_))) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                    // The database failing: try again at the next change.
                    Err(e) => {
                        tracing::warn!(error = ?e, budget = %id, "refreshing a watched budget failed")
                    }
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    pub(super) async fn rebuild(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
    ) -> Result<pb::RebuildSpendingResponse> {
        // Versions at or after this instant come from events applied while
        // the ledger was read, and stand.
        let started = time::now().timestamp_micros();
        let transactions = self.deps.ledger.transactions(credentials).await?;
        let changes: Vec<LedgerChange> = transactions
            .iter()
            .map(|t| crate::projection::upsert(user_id, t))
            .collect::<anyhow::Result<_>>()?;
        self.deps
            .store
            .rebuild_spending(user_id, &changes, started)
            .await?;
        metrics::counter!("budget_rebuilds_total").increment(1);
        crate::watch::spending_changed(self.deps.bus.as_ref(), &[user_id]).await;
        Ok(pb::RebuildSpendingResponse {
            transactions_read: i64::try_from(transactions.len()).unwrap_or(i64::MAX),
        })
    }
}
