//! The inbox of an event consumer: the ids of the events it applied, kept
//! in its own database (a `handled_events` table) and written in the
//! transaction that applies them, so an event delivered again (at least
//! once) is applied once.
//!
//! The table, in each consuming domain's migrations (`UUID` on Postgres,
//! `BLOB` on SQLite):
//!
//! ```sql
//! CREATE TABLE handled_events (
//!     event_id   UUID PRIMARY KEY,
//!     handled_ms BIGINT NOT NULL
//! );
//! CREATE INDEX handled_events_by_time ON handled_events (handled_ms);
//! ```

use std::collections::HashSet;
use std::marker::PhantomData;

use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::sql::{RunBuilt as _, rows_per_statement};

/// How long handled ids are kept: far beyond any redelivery.
pub const KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// How often a consumer prunes its handled ids.
const PRUNE_EVERY_MS: i64 = 3600 * 1000;

/// When a consumer next prunes its handled ids: at most once an hour.
#[derive(Debug, Default)]
pub struct Pruning(std::sync::atomic::AtomicI64);

impl Pruning {
    /// At `now_ms`, the cutoff to prune before (ids older than
    /// [`KEEP_MS`]) if an hour has passed since the last prune (or none was
    /// made yet); `None` otherwise.
    pub fn due(&self, now_ms: i64) -> Option<i64> {
        use std::sync::atomic::Ordering;
        if now_ms - self.0.load(Ordering::Relaxed) < PRUNE_EVERY_MS {
            return None;
        }
        self.0.store(now_ms, Ordering::Relaxed);
        Some(now_ms - KEEP_MS)
    }
}

/// The `handled_events` table of a backend `DB`.
pub struct Inbox<DB>(PhantomData<DB>);

crate::sql_impl!([impl<DB> Inbox<DB>]
    /// Records `ids` as handled at `now_ms`; returns those not handled
    /// before (each once, even if `ids` repeats one).
    pub async fn first_seen(
        conn: &mut DB::Connection,
        ids: &[Uuid],
        now_ms: i64,
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        let mut fresh = HashSet::with_capacity(ids.len());
        for batch in ids.chunks(rows_per_statement::<DB>(2)) {
            let mut insert =
                QueryBuilder::<DB>::new("INSERT INTO handled_events (event_id, handled_ms) ");
            insert.push_values(batch, |mut row, id| {
                row.push_bind(*id).push_bind(now_ms);
            });
            insert.push(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
            let rows: Vec<(Uuid,)> = insert.fetch_all(&mut *conn).await?;
            fresh.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(fresh)
    }

    /// Forgets ids handled before `before_ms`.
    pub async fn prune(pool: &sqlx::Pool<DB>, before_ms: i64) -> Result<(), sqlx::Error> {
        let _gate = crate::storage::write_gate(pool).await;
        sqlx::query("DELETE FROM handled_events WHERE handled_ms < $1")
            .bind(before_ms)
            .execute(pool)
            .await?;
        Ok(())
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_is_due_at_first_then_once_an_hour() {
        let pruning = Pruning::default();
        let start = 10 * PRUNE_EVERY_MS;
        assert_eq!(pruning.due(start), Some(start - KEEP_MS));
        assert_eq!(pruning.due(start + PRUNE_EVERY_MS - 1), None);
        assert_eq!(
            pruning.due(start + PRUNE_EVERY_MS),
            Some(start + PRUNE_EVERY_MS - KEEP_MS)
        );
    }
}
