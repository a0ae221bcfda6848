//! The outbox relay's side of the outbox: claim the oldest events for a
//! while, delete them once published. Events are written by the change
//! they announce (`SqlStore::insert_events`, in `mod.rs`).

use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use crate::store::{OutboxEvent, OutboxRow, OutboxStore, StoreError};
use freedumb_kit::sql::RunBuilt as _;

#[derive(FromRow)]
struct OutboxDbRow {
    seq: i64,
    event_id: Uuid,
    user_id: Uuid,
    kind: String,
    payload: Vec<u8>,
}

impl From<OutboxDbRow> for OutboxRow {
    fn from(r: OutboxDbRow) -> Self {
        Self {
            seq: r.seq,
            event: OutboxEvent {
                event_id: r.event_id,
                user_id: r.user_id,
                kind: r.kind,
                payload: r.payload,
            },
        }
    }
}

/// Sequence numbers per delete statement.
const DELETE_BATCH: usize = 500;

sql_store!(
    use OutboxStore;

    #[tracing::instrument(skip_all)]
    async fn claim_outbox(
        &self,
        token: Uuid,
        now_ms: i64,
        claim_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        // The outer condition is checked again on Postgres after waiting for
        // a row another relay is claiming, so no row is claimed twice.
        let mut rows: Vec<OutboxDbRow> = sqlx::query_as(
            "UPDATE outbox SET claim_token = $1, claim_until_ms = $2 \
             WHERE claim_until_ms < $3 AND seq IN \
             (SELECT seq FROM outbox WHERE claim_until_ms < $3 ORDER BY seq LIMIT $4) \
             RETURNING seq, event_id, user_id, kind, payload",
        )
        .bind(token)
        .bind(claim_until_ms)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.sort_by_key(|r| r.seq);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_outbox(&self, token: Uuid, seqs: &[i64]) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        for batch in seqs.chunks(DELETE_BATCH) {
            let mut delete = QueryBuilder::<DB>::new("DELETE FROM outbox WHERE claim_token = ");
            delete.push_bind(token).push(" AND seq IN (");
            let mut list = delete.separated(", ");
            for seq in batch {
                list.push_bind(*seq);
            }
            delete.push(")");
            delete.execute(&mut conn).await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn count_outbox(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }
);
