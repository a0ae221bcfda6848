//! The price worker (`worker-investment-price`): keeps the closes of every
//! symbol and exchange rate some activity needs, from the first day it is
//! needed to today. Each series is fetched once per interval, from a week
//! before its latest close (late corrections are caught and recorded as
//! revisions); a series whose provider fails waits before the next try,
//! doubling from the configured retry up to an hour. Two workers at once
//! record each close once (see the store's `record_closes`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{Days, NaiveDate};
use freedumb_kit::Shutdown;
use tokio::time::Instant;

use crate::config::WorkerSettings;
use crate::prices::{PriceProvider, ProviderError, Series};
use crate::store::{PriceStore, Wanted};

/// Days before the latest close fetched again each round.
const REFETCH_DAYS: u64 = 7;

/// When a series is due again, and how often it failed in a row.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    due: Instant,
    failures: u32,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Series fetched and recorded.
    pub fetched: usize,
    /// Series whose provider failed.
    pub failed: usize,
    /// Closes new, unchanged and revised.
    pub recorded: crate::store::Recorded,
}

/// Fetches closes on a schedule.
pub struct PriceWorker {
    store: Arc<dyn PriceStore>,
    provider: Arc<dyn PriceProvider>,
    settings: WorkerSettings,
    /// Shared with the backlog report, which runs beside the rounds and
    /// only reads it.
    schedule: Mutex<HashMap<String, Schedule>>,
    /// When the backlog report first saw each series no round has
    /// scheduled yet (the report's own; the rounds never read it).
    first_seen: Mutex<HashMap<String, Instant>>,
    cache: Option<Arc<crate::service::CloseCache>>,
}

impl PriceWorker {
    /// A worker recording what `provider` gives into `store`.
    pub fn new(
        store: Arc<dyn PriceStore>,
        provider: Arc<dyn PriceProvider>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            store,
            provider,
            settings,
            schedule: Mutex::default(),
            first_seen: Mutex::default(),
            cache: None,
        }
    }

    /// Also drops each series it records from `cache` (this process's
    /// service reads it).
    #[must_use]
    pub fn invalidating(mut self, cache: Arc<crate::service::CloseCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Runs rounds until `stop`, reporting the backlog beside them.
    pub async fn run(self, stop: Shutdown) {
        let backlog =
            freedumb_kit::metrics::report_backlog("worker-investment-price", stop.clone(), || {
                self.backlog(Instant::now(), chrono::Utc::now().timestamp_millis())
            });
        tokio::join!(self.rounds(stop), backlog);
    }

    /// The series due for a fetch at `now` (`now_ms` on the wall clock),
    /// and when the first of them fell due. A series no round has fetched
    /// yet is due from the first time it is seen here.
    pub async fn backlog(
        &self,
        now: Instant,
        now_ms: i64,
    ) -> anyhow::Result<freedumb_kit::metrics::Backlog> {
        let wanted = self.store.list_wanted_series().await?;
        let schedule = self.schedule();
        let mut first_seen = self
            .first_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        first_seen.retain(|series, _| !schedule.contains_key(series));
        let (mut items, mut oldest) = (0, None::<Instant>);
        for wanted in wanted {
            let due = match schedule.get(&wanted.series) {
                Some(s) => s.due,
                None => *first_seen.entry(wanted.series).or_insert(now),
            };
            if due <= now {
                items += 1;
                oldest = Some(oldest.map_or(due, |o| o.min(due)));
            }
        }
        let late_ms = |due: Instant| i64::try_from((now - due).as_millis()).unwrap_or(i64::MAX);
        Ok(freedumb_kit::metrics::Backlog {
            items,
            oldest_due_ms: oldest.map(|due| now_ms.saturating_sub(late_ms(due))),
        })
    }

    fn schedule(&self) -> std::sync::MutexGuard<'_, HashMap<String, Schedule>> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn rounds(&self, stop: Shutdown) {
        // Rounds run often enough to honour the shortest wait; a series is
        // fetched only when it is due.
        let tick = self.settings.interval.min(self.settings.retry);
        loop {
            let today = freedumb_kit::time::now().date_naive();
            match self.round(today, Instant::now()).await {
                Ok(r) if r.fetched + r.failed > 0 => tracing::info!(
                    fetched = r.fetched,
                    failed = r.failed,
                    new = r.recorded.inserted,
                    revised = r.recorded.revised,
                    "price round"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "price round failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                () = stop.wait() => return,
            }
        }
    }

    /// Fetches every series due at `now`, up to `today`.
    pub async fn round(&self, today: NaiveDate, now: Instant) -> anyhow::Result<Round> {
        let mut round = Round::default();
        for wanted in self.store.list_wanted_series().await? {
            if self
                .schedule()
                .get(&wanted.series)
                .is_some_and(|s| s.due > now)
            {
                continue;
            }
            match self.fetch(&wanted, today).await {
                Ok(recorded) => {
                    round.fetched += 1;
                    round.recorded.inserted += recorded.inserted;
                    round.recorded.unchanged += recorded.unchanged;
                    round.recorded.revised += recorded.revised;
                    self.schedule().insert(
                        wanted.series,
                        Schedule {
                            due: now + self.settings.interval,
                            failures: 0,
                        },
                    );
                }
                Err(e) => {
                    round.failed += 1;
                    let failures = self
                        .schedule()
                        .get(&wanted.series)
                        .map_or(0, |s| s.failures)
                        .saturating_add(1);
                    let wait = self
                        .settings
                        .retry
                        .saturating_mul(1 << (failures - 1).min(16))
                        .min(self.settings.retry_max);
                    metrics::counter!("freedumb_investment_price_fetch_failures_total")
                        .increment(1);
                    match &e {
                        FetchError::Provider(ProviderError::Unknown(_)) => tracing::info!(
                            series = %wanted.series, error = %e, retry_in_secs = wait.as_secs(),
                            "no closes for a series"
                        ),
                        _ => tracing::warn!(
                            series = %wanted.series, error = %e, retry_in_secs = wait.as_secs(),
                            "fetching closes failed"
                        ),
                    }
                    self.schedule().insert(
                        wanted.series,
                        Schedule {
                            due: now + wait,
                            failures,
                        },
                    );
                }
            }
        }
        Ok(round)
    }

    async fn fetch(
        &self,
        wanted: &Wanted,
        today: NaiveDate,
    ) -> Result<crate::store::Recorded, FetchError> {
        // A week before the first activity, so its day has a close before
        // it; a week before the latest close, for late corrections.
        let from = match self.store.latest_close_day(&wanted.series).await? {
            Some(latest) => latest.min(today),
            None => wanted.since,
        }
        .checked_sub_days(Days::new(REFETCH_DAYS))
        .unwrap_or(wanted.since);
        let closes = self
            .provider
            .closes(&Series::of(&wanted.series), from, today)
            .await?;
        let recorded = self
            .store
            .record_closes(
                &wanted.series,
                &closes,
                self.provider.name(),
                freedumb_kit::time::now(),
            )
            .await?;
        if recorded.inserted + recorded.revised > 0
            && let Some(cache) = &self.cache
        {
            cache.invalidate(&wanted.series);
        }
        for (outcome, n) in [
            ("new", recorded.inserted),
            ("unchanged", recorded.unchanged),
            ("revised", recorded.revised),
        ] {
            metrics::counter!("freedumb_investment_closes_recorded_total", "outcome" => outcome)
                .increment(n as u64);
        }
        Ok(recorded)
    }
}

/// Why one series could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("storing closes: {0}")]
    Store(#[from] crate::store::StoreError),
}
