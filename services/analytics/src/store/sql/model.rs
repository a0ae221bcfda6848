//! Applying ledger changes to the read model, and rebuilding a user's.
//!
//! A batch runs in one transaction: the events not seen before (the
//! inbox), then each change in order. A change reads the transaction's
//! version and facts, skips when what was applied is as new, and replaces
//! the facts; the sums' changes collect in memory and are written once per
//! key at the end of the batch (an import's thousand lines on one day and
//! category become one statement).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use freedumb_kit::inbox::Inbox;
use freedumb_kit::sql::{RunBuilt as _, rows_per_statement};
use freedumb_kit::storage::begin_write;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::SqlStore;
use crate::domain::Fact;
use crate::store::{Applied, Change, EventChanges, ModelStore, StoreError};

/// A fact as stored: the category is the nil id when there is none.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct StoredFact {
    account_id: Uuid,
    currency: String,
    day: NaiveDate,
    category_id: Uuid,
    merchant: String,
    amount_minor: i64,
    transfer: bool,
}

/// Category deletions of one user: where the category's facts went, and
/// when (microseconds).
type Moves = HashMap<Uuid, (Option<Uuid>, i64)>;

/// Changes of the sums, per key: [inflow, outflow, count] for categories
/// and merchants, [net, count] for accounts.
#[derive(Default)]
struct Deltas {
    categories: HashMap<(Uuid, String, NaiveDate, Uuid), [i64; 3]>,
    merchants: HashMap<(Uuid, String, NaiveDate, String), [i64; 3]>,
    accounts: HashMap<(Uuid, Uuid, NaiveDate), [i64; 2]>,
}

impl Deltas {
    /// Adds (`sign` 1) or subtracts (-1) a fact of `user_id`.
    fn add(&mut self, user_id: Uuid, f: &StoredFact, sign: i64) {
        let (inflow, outflow) = if f.amount_minor >= 0 {
            (f.amount_minor, 0)
        } else {
            (0, -f.amount_minor)
        };
        if !f.transfer {
            let c = self
                .categories
                .entry((user_id, f.currency.clone(), f.day, f.category_id))
                .or_default();
            c[0] += sign * inflow;
            c[1] += sign * outflow;
            c[2] += sign;
            let m = self
                .merchants
                .entry((user_id, f.currency.clone(), f.day, f.merchant.clone()))
                .or_default();
            m[0] += sign * inflow;
            m[1] += sign * outflow;
            m[2] += sign;
        }
        let a = self
            .accounts
            .entry((user_id, f.account_id, f.day))
            .or_default();
        a[0] += sign * f.amount_minor;
        a[1] += sign;
    }
}

/// `facts` of a transaction's state at `version`, as the ledger has them
/// after the category deletions that came later: moved to where the
/// deleted category's transactions went, or uncategorized (a split with a
/// part in a category deleted without a target loses all its splits).
fn resolve(facts: &[Fact], version: i64, moves: &Moves) -> Vec<StoredFact> {
    let mut collapse = false;
    let mut out: Vec<StoredFact> = facts
        .iter()
        .map(|f| {
            let mut category = f.category_id;
            // A chain of deletions (A moved to B, B deleted later) is
            // followed to its end.
            for _ in 0..16 {
                let Some(c) = category else { break };
                match moves.get(&c) {
                    Some((target, at)) if *at > version => {
                        collapse |= target.is_none() && facts.len() > 1;
                        category = *target;
                    }
                    _ => break,
                }
            }
            StoredFact {
                account_id: f.account_id,
                currency: f.currency.clone(),
                day: f.day,
                category_id: category.unwrap_or_else(Uuid::nil),
                merchant: f.merchant.clone(),
                amount_minor: f.amount_minor,
                transfer: f.transfer,
            }
        })
        .collect();
    if collapse {
        out = vec![uncategorized(&out)];
    }
    out
}

/// The one uncategorized fact a split becomes: its parts summed.
fn uncategorized(parts: &[StoredFact]) -> StoredFact {
    let mut whole = parts[0].clone();
    whole.category_id = Uuid::nil();
    whole.amount_minor = parts.iter().map(|p| p.amount_minor).sum();
    whole
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    async fn tracked(
        conn: &mut DB::Connection,
        user_id: Uuid,
        transaction_id: Uuid,
    ) -> Result<Option<(i64, bool)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, deleted FROM tracked WHERE user_id = $1 AND transaction_id = $2",
        )
        .bind(user_id)
        .bind(transaction_id)
        .fetch_optional(&mut *conn)
        .await?)
    }

    async fn facts(
        conn: &mut DB::Connection,
        user_id: Uuid,
        transaction_id: Uuid,
    ) -> Result<Vec<StoredFact>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT account_id, currency, day, category_id, merchant, amount_minor, transfer \
             FROM facts WHERE user_id = $1 AND transaction_id = $2 ORDER BY part",
        )
        .bind(user_id)
        .bind(transaction_id)
        .fetch_all(&mut *conn)
        .await?)
    }

    /// Replaces a transaction's facts `old` by `new`, with their sums.
    async fn replace_facts(
        conn: &mut DB::Connection,
        user_id: Uuid,
        transaction_id: Uuid,
        old: &[StoredFact],
        new: &[StoredFact],
        deltas: &mut Deltas,
    ) -> Result<(), StoreError> {
        if !old.is_empty() {
            sqlx::query("DELETE FROM facts WHERE user_id = $1 AND transaction_id = $2")
                .bind(user_id)
                .bind(transaction_id)
                .execute(&mut *conn)
                .await?;
        }
        for f in old {
            deltas.add(user_id, f, -1);
        }
        if new.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::<DB>::new(
            "INSERT INTO facts (transaction_id, part, user_id, account_id, currency, day, \
             category_id, merchant, amount_minor, transfer) ",
        );
        insert.push_values(new.iter().enumerate(), |mut row, (part, f)| {
            row.push_bind(transaction_id)
                .push_bind(i32::try_from(part).unwrap_or(i32::MAX))
                .push_bind(user_id)
                .push_bind(f.account_id)
                .push_bind(f.currency.clone())
                .push_bind(f.day)
                .push_bind(f.category_id)
                .push_bind(f.merchant.clone())
                .push_bind(f.amount_minor)
                .push_bind(f.transfer);
        });
        insert.execute(&mut *conn).await?;
        for f in new {
            deltas.add(user_id, f, 1);
        }
        Ok(())
    }

    async fn track(
        conn: &mut DB::Connection,
        user_id: Uuid,
        transaction_id: Uuid,
        version: i64,
        deleted: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tracked (transaction_id, user_id, version, deleted, touched_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (transaction_id) DO UPDATE SET \
             version = excluded.version, deleted = excluded.deleted, touched_ms = excluded.touched_ms",
        )
        .bind(transaction_id)
        .bind(user_id)
        .bind(version)
        .bind(deleted)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn moves(conn: &mut DB::Connection, user_id: Uuid) -> Result<Moves, StoreError> {
        let rows: Vec<(Uuid, Option<Uuid>, i64)> = sqlx::query_as(
            "SELECT category_id, reassigned_to, version FROM category_moves WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(|(c, t, v)| (c, (t, v))).collect())
    }

    /// Applies one change; whether it changed anything. `replace_equal`
    /// re-applies an upsert whose version equals the applied one (a
    /// rebuild repairing the model).
    #[allow(clippy::too_many_arguments)]
    async fn apply_change(
        conn: &mut DB::Connection,
        change: &Change,
        replace_equal: bool,
        moves: &mut HashMap<Uuid, Moves>,
        deltas: &mut Deltas,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        match change {
            Change::Upsert {
                user_id,
                transaction_id,
                version,
                facts,
            } => {
                let (user_id, id) = (*user_id, *transaction_id);
                let tracked = Self::tracked(conn, user_id, id).await?;
                if tracked.is_some_and(|(v, _)| v > *version || (v == *version && !replace_equal)) {
                    return Ok(false);
                }
                let old = match tracked {
                    Some((_, false)) => Self::facts(conn, user_id, id).await?,
                    _ => Vec::new(),
                };
                if let std::collections::hash_map::Entry::Vacant(slot) = moves.entry(user_id) {
                    slot.insert(Self::moves(conn, user_id).await?);
                }
                let new = resolve(facts, *version, &moves[&user_id]);
                Self::replace_facts(conn, user_id, id, &old, &new, deltas).await?;
                Self::track(conn, user_id, id, *version, false, now_ms).await?;
                Ok(true)
            }
            Change::Delete {
                user_id,
                transaction_id,
                version,
            } => {
                let (user_id, id) = (*user_id, *transaction_id);
                let tracked = Self::tracked(conn, user_id, id).await?;
                if tracked.is_some_and(|(v, _)| v >= *version) {
                    return Ok(false);
                }
                let old = match tracked {
                    Some((_, false)) => Self::facts(conn, user_id, id).await?,
                    _ => Vec::new(),
                };
                Self::replace_facts(conn, user_id, id, &old, &[], deltas).await?;
                Self::track(conn, user_id, id, *version, true, now_ms).await?;
                Ok(true)
            }
            Change::CategoryDeleted {
                user_id,
                category_id,
                reassigned_to,
                version,
            } => {
                let user_id = *user_id;
                sqlx::query(
                    "INSERT INTO category_moves (user_id, category_id, reassigned_to, version) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, category_id) DO UPDATE SET \
                     reassigned_to = excluded.reassigned_to, version = excluded.version \
                     WHERE category_moves.version < excluded.version",
                )
                .bind(user_id)
                .bind(*category_id)
                .bind(*reassigned_to)
                .bind(*version)
                .execute(&mut *conn)
                .await?;
                moves.remove(&user_id);
                let touched: Vec<(Uuid,)> = sqlx::query_as(
                    "SELECT DISTINCT transaction_id FROM facts WHERE user_id = $1 AND category_id = $2",
                )
                .bind(user_id)
                .bind(*category_id)
                .fetch_all(&mut *conn)
                .await?;
                for (id,) in &touched {
                    let old = Self::facts(conn, user_id, *id).await?;
                    let new = match reassigned_to {
                        None if old.len() > 1 => vec![uncategorized(&old)],
                        target => old
                            .iter()
                            .map(|f| StoredFact {
                                category_id: if f.category_id == *category_id {
                                    target.unwrap_or_else(Uuid::nil)
                                } else {
                                    f.category_id
                                },
                                ..f.clone()
                            })
                            .collect(),
                    };
                    Self::replace_facts(conn, user_id, *id, &old, &new, deltas).await?;
                }
                Ok(!touched.is_empty())
            }
        }
    }

    /// Writes the sums' changes, and drops the sums left at nothing.
    async fn flush(conn: &mut DB::Connection, deltas: Deltas) -> Result<(), StoreError> {
        let categories: Vec<_> = deltas.categories.into_iter().filter(|(_, d)| *d != [0; 3]).collect();
        for batch in categories.chunks(rows_per_statement::<DB>(7)) {
            let mut q = QueryBuilder::<DB>::new(
                "INSERT INTO category_days (user_id, currency, day, category_id, inflow_minor, \
                 outflow_minor, count) ",
            );
            q.push_values(batch, |mut row, ((user, currency, day, category), d)| {
                row.push_bind(*user)
                    .push_bind(currency.clone())
                    .push_bind(*day)
                    .push_bind(*category)
                    .push_bind(d[0])
                    .push_bind(d[1])
                    .push_bind(d[2]);
            });
            q.push(
                " ON CONFLICT (user_id, currency, day, category_id) DO UPDATE SET \
                 inflow_minor = category_days.inflow_minor + excluded.inflow_minor, \
                 outflow_minor = category_days.outflow_minor + excluded.outflow_minor, \
                 count = category_days.count + excluded.count",
            );
            q.execute(&mut *conn).await?;
        }
        let merchants: Vec<_> = deltas.merchants.into_iter().filter(|(_, d)| *d != [0; 3]).collect();
        for batch in merchants.chunks(rows_per_statement::<DB>(7)) {
            let mut q = QueryBuilder::<DB>::new(
                "INSERT INTO merchant_days (user_id, currency, day, merchant, inflow_minor, \
                 outflow_minor, count) ",
            );
            q.push_values(batch, |mut row, ((user, currency, day, merchant), d)| {
                row.push_bind(*user)
                    .push_bind(currency.clone())
                    .push_bind(*day)
                    .push_bind(merchant.clone())
                    .push_bind(d[0])
                    .push_bind(d[1])
                    .push_bind(d[2]);
            });
            q.push(
                " ON CONFLICT (user_id, currency, day, merchant) DO UPDATE SET \
                 inflow_minor = merchant_days.inflow_minor + excluded.inflow_minor, \
                 outflow_minor = merchant_days.outflow_minor + excluded.outflow_minor, \
                 count = merchant_days.count + excluded.count",
            );
            q.execute(&mut *conn).await?;
        }
        let accounts: Vec<_> = deltas.accounts.into_iter().filter(|(_, d)| *d != [0; 2]).collect();
        for batch in accounts.chunks(rows_per_statement::<DB>(5)) {
            let mut q = QueryBuilder::<DB>::new(
                "INSERT INTO account_days (user_id, account_id, day, net_minor, count) ",
            );
            q.push_values(batch, |mut row, ((user, account, day), d)| {
                row.push_bind(*user)
                    .push_bind(*account)
                    .push_bind(*day)
                    .push_bind(d[0])
                    .push_bind(d[1]);
            });
            q.push(
                " ON CONFLICT (user_id, account_id, day) DO UPDATE SET \
                 net_minor = account_days.net_minor + excluded.net_minor, \
                 count = account_days.count + excluded.count",
            );
            q.execute(&mut *conn).await?;
        }
        // Sums a batch took away from may be left at nothing: drop those
        // rows (by key: a scan of the user's rows would grow with them).
        for ((user, currency, day, category), _) in categories.iter().filter(|(_, d)| d[2] < 0) {
            sqlx::query(
                "DELETE FROM category_days WHERE user_id = $1 AND currency = $2 AND day = $3 \
                 AND category_id = $4 AND count = 0",
            )
            .bind(*user)
            .bind(currency.clone())
            .bind(*day)
            .bind(*category)
            .execute(&mut *conn)
            .await?;
        }
        for ((user, currency, day, merchant), _) in merchants.iter().filter(|(_, d)| d[2] < 0) {
            sqlx::query(
                "DELETE FROM merchant_days WHERE user_id = $1 AND currency = $2 AND day = $3 \
                 AND merchant = $4 AND count = 0",
            )
            .bind(*user)
            .bind(currency.clone())
            .bind(*day)
            .bind(merchant.clone())
            .execute(&mut *conn)
            .await?;
        }
        for ((user, account, day), _) in accounts.iter().filter(|(_, d)| d[1] < 0) {
            sqlx::query(
                "DELETE FROM account_days WHERE user_id = $1 AND account_id = $2 AND day = $3 \
                 AND count = 0",
            )
            .bind(*user)
            .bind(*account)
            .bind(*day)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub(super) async fn rebuild_user(
        pool: &sqlx::Pool<DB>,
        user_id: Uuid,
        transactions: &[(Uuid, i64, Vec<Fact>)],
        started_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(pool).await?;
        let (mut moves, mut deltas) = (HashMap::new(), Deltas::default());
        let now_ms = freedumb_kit::time::now().timestamp_millis();
        let mut seen = HashSet::with_capacity(transactions.len());
        for (id, version, facts) in transactions {
            seen.insert(*id);
            let change = Change::Upsert {
                user_id,
                transaction_id: *id,
                version: *version,
                facts: facts.clone(),
            };
            Self::apply_change(&mut tx, &change, true, &mut moves, &mut deltas, now_ms).await?;
        }
        // Tracked and alive, not in the ledger, untouched since the rebuild
        // started: deleted while no event said so (or the event was lost).
        let stale: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT transaction_id, version FROM tracked \
             WHERE user_id = $1 AND deleted = $2 AND touched_ms < $3",
        )
        .bind(user_id)
        .bind(false)
        .bind(started_ms)
        .fetch_all(&mut *tx)
        .await?;
        for (id, version) in stale.into_iter().filter(|(id, _)| !seen.contains(id)) {
            let change = Change::Delete {
                user_id,
                transaction_id: id,
                version: version + 1,
            };
            Self::apply_change(&mut tx, &change, true, &mut moves, &mut deltas, now_ms).await?;
        }
        Self::flush(&mut tx, deltas).await?;
        tx.commit().await?;
        Ok(())
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> ModelStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn apply_events(
        &self,
        events: &[EventChanges],
        now_ms: i64,
    ) -> Result<Applied, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let mut fresh = Inbox::<DB>::first_seen(&mut tx, &ids, now_ms).await?;
        let (mut moves, mut deltas) = (HashMap::new(), Deltas::default());
        let mut applied = Applied::default();
        for event in events {
            // A batch may hold an event twice: the first applies.
            if !fresh.remove(&event.event_id) {
                continue;
            }
            applied.events += 1;
            for change in &event.changes {
                if Self::apply_change(&mut tx, change, false, &mut moves, &mut deltas, now_ms).await? {
                    applied.transactions += 1;
                }
            }
        }
        Self::flush(&mut tx, deltas).await?;
        tx.commit().await?;
        Ok(applied)
    }

    #[tracing::instrument(skip_all)]
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError> {
        Inbox::<DB>::prune(&self.pool, before_ms).await?;
        Ok(())
    }
);
