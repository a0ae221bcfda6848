//! The `worker-recurring` target: records due occurrences of recurring
//! rules. Each occurrence is claimed by moving its rule on in the same
//! database transaction that records it, so several workers (or a worker
//! restarted mid-run) record every occurrence exactly once.

use std::sync::Arc;
use std::time::Duration;

use freedumb_kit::Shutdown;
use tokio::sync::Notify;

use crate::outbox;
use crate::store::LedgerSystemStore;

/// Rules looked at per pass.
const RULES_PER_PASS: u32 = 500;

/// Occurrences one rule may catch up on per pass (a daily rule after a
/// long outage finishes on later passes).
const OCCURRENCES_PER_RULE: usize = 1000;

/// The recurring worker.
pub struct RecurringWorker {
    store: Arc<dyn LedgerSystemStore>,
    wake: Arc<Notify>,
    poll: Duration,
}

impl RecurringWorker {
    /// A worker that looks for due occurrences every `poll` and wakes the
    /// relay after recording.
    pub fn new(store: Arc<dyn LedgerSystemStore>, wake: Arc<Notify>, poll: Duration) -> Self {
        Self { store, wake, poll }
    }

    /// Runs passes until `shutdown`, reporting the backlog beside them.
    pub async fn run(self, shutdown: Shutdown) {
        let backlog =
            freedumb_kit::metrics::report_backlog("worker-recurring", shutdown.clone(), || {
                self.backlog(chrono::Utc::now())
            });
        tokio::join!(self.passes(shutdown), backlog);
    }

    /// Rules with an occurrence due and not recorded at `now`, and when the
    /// earliest fell due (an occurrence falls due at the start of its day,
    /// UTC).
    pub async fn backlog(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<freedumb_kit::metrics::Backlog> {
        let (items, earliest) = self.store.due_backlog(now.date_naive()).await?;
        Ok(freedumb_kit::metrics::Backlog {
            items,
            oldest_due_ms: earliest.map(|day| {
                day.and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_millis()
            }),
        })
    }

    async fn passes(&self, shutdown: Shutdown) {
        loop {
            match self.pass(chrono::Utc::now().date_naive()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(recorded = n, "recurring occurrences recorded"),
                Err(e) => tracing::warn!(error = ?e, "recurring pass failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll) => {}
                () = shutdown.wait() => return,
            }
        }
    }

    /// Records every occurrence due on or before `today`; returns how many.
    pub async fn pass(&self, today: chrono::NaiveDate) -> anyhow::Result<usize> {
        let mut recorded = 0;
        for rule_id in self.store.list_due_rules(today, RULES_PER_PASS).await? {
            for _ in 0..OCCURRENCES_PER_RULE {
                let now = freedumb_kit::time::now();
                match self
                    .store
                    .record_next_occurrence(rule_id, today, now, &outbox::build)
                    .await?
                {
                    Some(_) => recorded += 1,
                    None => break,
                }
            }
            self.wake.notify_one();
        }
        metrics::counter!("ledger_recurring_recorded_total").increment(recorded as u64);
        Ok(recorded)
    }
}
