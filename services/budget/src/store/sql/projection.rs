//! The spending projection: ledger changes applied by version, handled
//! event ids, the alerts of the budgets a batch touched and the goals it
//! made reach their target.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::inbox::Inbox;
use freedumb_kit::outbox::SqlOutbox;
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::SqlStore;
use super::budgets::{BudgetRow, COLUMNS};
use crate::domain::GoalSource;
use crate::domain::Span;
use crate::store::{
    Alert, Announcement, Announcements, Applied, Entry, LedgerChange, LedgerEventChanges,
    ProjectionStore, StoreError,
};

/// The balances a batch showed per account of one user: the account's
/// currency, and each balance with when it committed (microseconds).
type Balances = BTreeMap<Uuid, (String, Vec<(i64, i64)>)>;

/// The category deletions of the users a batch touches: read once per
/// batch, and kept current as the batch's own deletions apply.
#[derive(Debug, Default)]
pub(super) struct Tombstones(HashMap<(Uuid, Uuid), (Option<Uuid>, i64)>);

impl Tombstones {
    /// `entries` of a transaction's state at `version`, as the ledger has
    /// them after the category deletions that came later: moved to where
    /// the deleted category's transactions went, or dropped (all of a
    /// split's, when one split was in a category deleted without a target).
    fn after_deletions(&self, user_id: Uuid, version: i64, entries: &[Entry]) -> Vec<Entry> {
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            match self.0.get(&(user_id, e.category_id)) {
                Some((target, deleted)) if *deleted > version => match target {
                    Some(target) => out.push(Entry {
                        category_id: *target,
                        ..e.clone()
                    }),
                    None if e.split => return Vec::new(),
                    None => {}
                },
                _ => out.push(e.clone()),
            }
        }
        out
    }
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    /// The sum of the user's entries per category in `currency` and `span`.
    pub(super) async fn sums(
        conn: &mut DB::Connection,
        user_id: Uuid,
        currency: &str,
        categories: &[Uuid],
        span: Span,
    ) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
        let mut query = Self::sum_query(user_id, currency, categories, span, false);
        match query.as_mut() {
            Some(query) => query.fetch_all(conn).await,
            None => Ok(Vec::new()),
        }
    }

    /// `SELECT category_id[, day], SUM(amount_minor)` of the user's entries
    /// in `currency`, `span` and `categories`, grouped by category (and
    /// day); `None` when there are no categories.
    pub(super) fn sum_query<'a>(
        user_id: Uuid,
        currency: &str,
        categories: &[Uuid],
        span: Span,
        by_day: bool,
    ) -> Option<QueryBuilder<'a, DB>> {
        if categories.is_empty() {
            return None;
        }
        let day = if by_day { ", day" } else { "" };
        let mut query = QueryBuilder::<DB>::new(format!(
            "SELECT category_id{day}, CAST(SUM(amount_minor) AS BIGINT) FROM spending_entries WHERE user_id = "
        ));
        query
            .push_bind(user_id)
            .push(" AND currency = ")
            .push_bind(currency.to_owned())
            .push(" AND day >= ")
            .push_bind(span.start)
            .push(" AND day <= ")
            .push_bind(span.end)
            .push(" AND category_id IN (");
        let mut ids = query.separated(", ");
        for id in categories {
            ids.push_bind(*id);
        }
        query.push(format!(") GROUP BY category_id{day}"));
        Some(query)
    }

    /// Applies one change if it is newer than what is tracked (`now`: this
    /// service's clock, in microseconds); returns the categories whose
    /// spending it changed.
    pub(super) async fn apply_change(
        conn: &mut DB::Connection,
        change: &LedgerChange,
        now: i64,
        tombstones: &mut Tombstones,
    ) -> Result<Vec<Uuid>, StoreError> {
        match change {
            LedgerChange::Upsert { user_id, transaction_id, version, entries } => {
                if !Self::track(conn, *user_id, *transaction_id, *version, false, now).await? {
                    return Ok(Vec::new());
                }
                let mut touched = Self::clear_entries(conn, *user_id, *transaction_id).await?;
                let entries = &tombstones.after_deletions(*user_id, *version, entries);
                if !entries.is_empty() {
                    let mut insert = QueryBuilder::<DB>::new(
                        "INSERT INTO spending_entries \
                         (user_id, transaction_id, category_id, currency, day, amount_minor, split) ",
                    );
                    insert.push_values(entries, |mut row, e| {
                        row.push_bind(*user_id)
                            .push_bind(*transaction_id)
                            .push_bind(e.category_id)
                            .push_bind(e.currency.clone())
                            .push_bind(e.day)
                            .push_bind(e.amount_minor)
                            .push_bind(e.split);
                    });
                    insert.execute(&mut *conn).await?;
                    touched.extend(entries.iter().map(|e| e.category_id));
                }
                Ok(touched)
            }
            LedgerChange::Delete { user_id, transaction_id, version } => {
                if !Self::track(conn, *user_id, *transaction_id, *version, true, now).await? {
                    return Ok(Vec::new());
                }
                Self::clear_entries(conn, *user_id, *transaction_id).await
            }
            LedgerChange::CategoryDeleted { user_id, category_id, reassigned_to, version } => {
                sqlx::query(
                    "INSERT INTO deleted_categories (user_id, category_id, reassigned_to, version) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, category_id) DO NOTHING",
                )
                .bind(*user_id)
                .bind(*category_id)
                .bind(*reassigned_to)
                .bind(*version)
                .execute(&mut *conn)
                .await?;
                tombstones
                    .0
                    .entry((*user_id, *category_id))
                    .or_insert((*reassigned_to, *version));
                let mut touched = vec![*category_id];
                match reassigned_to {
                    Some(target) => {
                        sqlx::query(
                            "UPDATE spending_entries SET category_id = $1 \
                             WHERE user_id = $2 AND category_id = $3",
                        )
                        .bind(*target)
                        .bind(*user_id)
                        .bind(*category_id)
                        .execute(&mut *conn)
                        .await?;
                        touched.push(*target);
                    }
                    None => {
                        // A split transaction with a split here lost all its
                        // splits in the ledger.
                        let dropped: Vec<(Uuid,)> = sqlx::query_as(
                            "DELETE FROM spending_entries WHERE user_id = $1 AND transaction_id IN \
                             (SELECT transaction_id FROM spending_entries \
                              WHERE user_id = $1 AND category_id = $2 AND split = $3) \
                             RETURNING category_id",
                        )
                        .bind(*user_id)
                        .bind(*category_id)
                        .bind(true)
                        .fetch_all(&mut *conn)
                        .await?;
                        touched.extend(dropped.into_iter().map(|(c,)| c));
                        sqlx::query(
                            "DELETE FROM spending_entries WHERE user_id = $1 AND category_id = $2",
                        )
                        .bind(*user_id)
                        .bind(*category_id)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                Ok(touched)
            }
            // Not spending: the batch collects balances for the goals.
            LedgerChange::Balance { .. } => Ok(Vec::new()),
        }
    }

    /// Records `version` of a transaction if it is newer than the one
    /// tracked; whether it was.
    async fn track(
        conn: &mut DB::Connection,
        user_id: Uuid,
        transaction_id: Uuid,
        version: i64,
        deleted: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let newer: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO tracked_transactions (user_id, transaction_id, version, deleted, applied_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, transaction_id) DO UPDATE \
             SET version = excluded.version, deleted = excluded.deleted, applied_at = excluded.applied_at \
             WHERE tracked_transactions.version < excluded.version \
             RETURNING transaction_id",
        )
        .bind(user_id)
        .bind(transaction_id)
        .bind(version)
        .bind(deleted)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(newer.is_some())
    }

    /// The category deletions of `users`, in one read.
    pub(super) async fn load_tombstones(
        conn: &mut DB::Connection,
        users: &[Uuid],
    ) -> Result<Tombstones, StoreError> {
        let mut tombstones = Tombstones::default();
        if users.is_empty() {
            return Ok(tombstones);
        }
        let mut query = QueryBuilder::<DB>::new(
            "SELECT user_id, category_id, reassigned_to, version FROM deleted_categories WHERE user_id IN (",
        );
        let mut ids = query.separated(", ");
        for user in users {
            ids.push_bind(*user);
        }
        query.push(")");
        let rows: Vec<(Uuid, Uuid, Option<Uuid>, i64)> = query.fetch_all(&mut *conn).await?;
        for (user, category, target, version) in rows {
            tombstones.0.insert((user, category), (target, version));
        }
        Ok(tombstones)
    }

    /// Deletes a transaction's entries; returns their categories.
    async fn clear_entries(
        conn: &mut DB::Connection,
        user_id: Uuid,
        transaction_id: Uuid,
    ) -> Result<Vec<Uuid>, StoreError> {
        let cleared: Vec<(Uuid,)> = sqlx::query_as(
            "DELETE FROM spending_entries WHERE user_id = $1 AND transaction_id = $2 \
             RETURNING category_id",
        )
        .bind(user_id)
        .bind(transaction_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(cleared.into_iter().map(|(c,)| c).collect())
    }

    /// Raises the alerts of the user's budgets over `categories` whose
    /// period containing `today` crossed a threshold not raised before.
    async fn raise_alerts(
        conn: &mut DB::Connection,
        user_id: Uuid,
        categories: &BTreeSet<Uuid>,
        today: NaiveDate,
        now: DateTime<Utc>,
        announce: Announcements<'_>,
    ) -> Result<usize, StoreError> {
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM budgets WHERE user_id = "));
        query
            .push_bind(user_id)
            .push(" AND id IN (SELECT budget_id FROM budget_categories WHERE user_id = ")
            .push_bind(user_id)
            .push(" AND category_id IN (");
        let mut ids = query.separated(", ");
        for id in categories {
            ids.push_bind(*id);
        }
        // On Postgres, lock the budgets before summing: of two batches for
        // one user applied at once (two replicas), the later then sums the
        // earlier's committed entries too, so no crossing falls between.
        // (SQLite has one writer at a time.)
        query.push("))");
        if DB::NAME == "PostgreSQL" {
            query.push(" ORDER BY id FOR UPDATE");
        }
        let rows: Vec<BudgetRow> = query.fetch_all(&mut *conn).await?;
        let budgets = Self::with_categories(conn, rows).await?;
        let mut raised = 0;
        for budget in &budgets {
            let Some(period) = budget.schedule.period_of(today) else {
                continue;
            };
            let sums = Self::sums(conn, user_id, &budget.currency, &budget.category_ids, period).await?;
            let spent = crate::service::clamp(-sums.iter().map(|(_, s)| i128::from(*s)).sum::<i128>());
            for threshold in budget.thresholds.reached(budget.amount_minor, spent) {
                let new: Option<(i32,)> = sqlx::query_as(
                    "INSERT INTO budget_alerts \
                     (budget_id, period_start, threshold, spent_minor, create_time) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (budget_id, period_start, threshold) DO NOTHING \
                     RETURNING threshold",
                )
                .bind(budget.id)
                .bind(period.start)
                .bind(threshold)
                .bind(spent)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                if new.is_some() {
                    let alert = Announcement::Alert(Alert { budget, period, threshold, spent_minor: spent });
                    SqlOutbox::<DB>::insert(conn, &[(announce(&alert), now)]).await?;
                    raised += 1;
                }
            }
        }
        Ok(raised)
    }

    /// Announces the user's goals on `accounts` (at the highest balance
    /// the batch showed since the goal was last saved) and `categories` (at
    /// what was put in since the start date, up to `today`) that reached a
    /// target not reached before.
    async fn reach_goals(
        conn: &mut DB::Connection,
        user_id: Uuid,
        accounts: &Balances,
        categories: &BTreeSet<Uuid>,
        today: NaiveDate,
        now: DateTime<Utc>,
        announce: Announcements<'_>,
    ) -> Result<usize, StoreError> {
        let account_ids: Vec<Uuid> = accounts.keys().copied().collect();
        let category_ids: Vec<Uuid> = categories.iter().copied().collect();
        let goals = Self::goals_on(conn, user_id, &account_ids, &category_ids).await?;
        let mut reached = 0;
        for goal in &goals {
            let saved = match goal.source {
                GoalSource::Account(id) => {
                    let saved_at = goal.update_time.timestamp_micros();
                    let highest = accounts
                        .get(&id)
                        .filter(|(currency, _)| *currency == goal.currency)
                        .and_then(|(_, seen)| {
                            seen.iter().filter(|(at, _)| *at >= saved_at).map(|(_, b)| *b).max()
                        });
                    match highest {
                        Some(balance) => balance,
                        None => continue,
                    }
                }
                GoalSource::Category(id) if today >= goal.start_date => {
                    let span = Span { start: goal.start_date, end: today };
                    let sums = Self::sums(conn, user_id, &goal.currency, &[id], span).await?;
                    crate::service::clamp(sums.iter().map(|(_, s)| i128::from(*s)).sum())
                }
                GoalSource::Category(_) => continue,
            };
            if saved >= goal.target_minor && Self::record_reached(conn, goal, saved, true, now).await? {
                let event = announce(&Announcement::GoalReached { goal, saved_minor: saved });
                SqlOutbox::<DB>::insert(conn, &[(event, now)]).await?;
                reached += 1;
            }
        }
        Ok(reached)
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> ProjectionStore for SqlStore<DB>]
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn apply_events(
        &self,
        events: &[LedgerEventChanges],
        today: NaiveDate,
        now: DateTime<Utc>,
        announce: Announcements<'_>,
    ) -> Result<Applied, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let mut fresh = Inbox::<DB>::first_seen(&mut tx, &ids, now.timestamp_millis()).await?;
        let mut touched: BTreeMap<Uuid, BTreeSet<Uuid>> = BTreeMap::new();
        let mut applied = Applied::default();
        let mut users: Vec<Uuid> = events.iter().flat_map(|e| e.changes.iter().map(LedgerChange::user_id)).collect();
        users.sort_unstable();
        users.dedup();
        let mut tombstones = Self::load_tombstones(&mut tx, &users).await?;
        let mut balances: BTreeMap<Uuid, Balances> = BTreeMap::new();
        for event in events {
            // Once each, even when a batch carries an event twice.
            if !fresh.remove(&event.event_id) {
                continue;
            }
            applied.events += 1;
            for change in &event.changes {
                if let LedgerChange::Balance { user_id, account_id, currency, balance_minor, at } = change {
                    balances
                        .entry(*user_id)
                        .or_default()
                        .entry(*account_id)
                        .or_insert_with(|| (currency.clone(), Vec::new()))
                        .1
                        .push((*at, *balance_minor));
                    continue;
                }
                let categories =
                    Self::apply_change(&mut tx, change, now.timestamp_micros(), &mut tombstones).await?;
                if !categories.is_empty() {
                    touched.entry(change.user_id()).or_default().extend(categories);
                }
            }
        }
        for (user_id, categories) in &touched {
            applied.alerts += Self::raise_alerts(&mut tx, *user_id, categories, today, now, announce).await?;
        }
        let no_accounts = Balances::new();
        let no_categories = BTreeSet::new();
        let goal_users: BTreeSet<Uuid> = touched.keys().chain(balances.keys()).copied().collect();
        for user_id in goal_users {
            let accounts = balances.get(&user_id).unwrap_or(&no_accounts);
            let categories = touched.get(&user_id).unwrap_or(&no_categories);
            applied.goals_reached +=
                Self::reach_goals(&mut tx, user_id, accounts, categories, today, now, announce).await?;
        }
        tx.commit().await?;
        applied.users = touched.into_keys().collect();
        Ok(applied)
    }

    #[tracing::instrument(skip_all)]
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError> {
        Ok(Inbox::<DB>::prune(&self.pool, before_ms).await?)
    }
);
