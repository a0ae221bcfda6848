//! The ai store in SQL both Postgres and SQLite accept.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use freedumb_kit::inbox::Inbox;
use freedumb_kit::outbox::SqlOutbox;
use freedumb_kit::sql::{RunBuilt as _, rows_per_statement};
use freedumb_kit::storage::begin_write;
use sqlx::{Database, FromRow, Pool, QueryBuilder};
use uuid::Uuid;

use super::{
    AiStore, HISTORY_DEPTH, LearnEvent, LearnerStore, MAX_RULES, MerchantHistory, Observation,
    RuleRecord, StoreError,
};

/// [`AiStore`] and [`LearnerStore`] over a sqlx pool of either backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

#[derive(FromRow)]
struct RuleRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    conditions: String,
    category_id: Uuid,
    stage: i32,
    stop: bool,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl TryFrom<RuleRow> for RuleRecord {
    type Error = StoreError;

    fn try_from(r: RuleRow) -> Result<Self, StoreError> {
        let conditions = serde_json::from_str(&r.conditions)
            .map_err(|e| StoreError::Corrupt(format!("rule {}: conditions: {e}", r.id)))?;
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            conditions,
            category_id: r.category_id,
            stage: r.stage,
            stop: r.stop,
            create_time: r.create_time,
            update_time: r.update_time,
        })
    }
}

const COLUMNS: &str =
    "id, user_id, name, conditions, category_id, stage, stop, create_time, update_time";

fn conditions_json(rule: &RuleRecord) -> Result<String, StoreError> {
    serde_json::to_string(&rule.conditions)
        .map_err(|e| StoreError::Corrupt(format!("rule {}: conditions: {e}", rule.id)))
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    async fn select_rules(
        &self,
        user_id: Uuid,
        id: Option<Uuid>,
    ) -> Result<Vec<RuleRecord>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM rules WHERE user_id = "));
        query.push_bind(user_id);
        if let Some(id) = id {
            query.push(" AND id = ").push_bind(id);
        }
        query.push(" ORDER BY stage, id");
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<RuleRow> = query.fetch_all(&mut conn).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Applies one observation if it is newer than what is kept.
    /// Writes the categorized sightings of `pending` (one per transaction)
    /// in multi-row statements, and empties it.
    async fn record_categorized(
        conn: &mut DB::Connection,
        pending: &mut HashMap<(Uuid, Uuid), &Observation>,
    ) -> Result<(), StoreError> {
        let rows: Vec<&Observation> = pending.drain().map(|(_, o)| o).collect();
        for chunk in rows.chunks(rows_per_statement::<DB>(6)) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO merchant_history \
                 (user_id, transaction_id, merchant_key, merchant_name, category_id, version) ",
            );
            insert.push_values(chunk, |mut row, o| {
                if let Observation::Categorized {
                    user_id,
                    transaction_id,
                    merchant_key,
                    merchant_name,
                    category_id,
                    version,
                } = o
                {
                    row.push_bind(*user_id)
                        .push_bind(*transaction_id)
                        .push_bind(merchant_key.clone())
                        .push_bind(merchant_name.clone())
                        .push_bind(*category_id)
                        .push_bind(*version);
                }
            });
            insert.push(
                " ON CONFLICT (user_id, transaction_id) DO UPDATE \
                 SET merchant_key = excluded.merchant_key, merchant_name = excluded.merchant_name, \
                 category_id = excluded.category_id, version = excluded.version \
                 WHERE merchant_history.version < excluded.version",
            );
            insert.execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn observe(conn: &mut DB::Connection, o: &Observation) -> Result<(), StoreError> {
        match o {
            Observation::Categorized {
                user_id,
                transaction_id,
                ..
            } => {
                let mut one = HashMap::from([((*user_id, *transaction_id), o)]);
                Self::record_categorized(conn, &mut one).await?;
            }
            Observation::Deleted { user_id, transaction_id, version } => {
                // Kept as a tombstone, so an older update arriving later
                // does not bring it back.
                sqlx::query(
                    "INSERT INTO merchant_history \
                     (user_id, transaction_id, merchant_key, merchant_name, category_id, version) \
                     VALUES ($1, $2, $3, $3, $4, $5) \
                     ON CONFLICT (user_id, transaction_id) DO UPDATE \
                     SET category_id = NULL, version = excluded.version \
                     WHERE merchant_history.version < excluded.version",
                )
                .bind(*user_id)
                .bind(*transaction_id)
                .bind(String::new())
                .bind(None::<Uuid>)
                .bind(*version)
                .execute(&mut *conn)
                .await?;
            }
            Observation::CategoryDeleted { user_id, category_id, reassigned_to } => {
                sqlx::query(
                    "UPDATE merchant_history SET category_id = $1 \
                     WHERE user_id = $2 AND category_id = $3",
                )
                .bind(*reassigned_to)
                .bind(*user_id)
                .bind(*category_id)
                .execute(&mut *conn)
                .await?;
                // Rules follow the ledger: into the category that took the
                // transactions, or gone with the category.
                match reassigned_to {
                    Some(target) => {
                        sqlx::query(
                            "UPDATE rules SET category_id = $1 WHERE user_id = $2 AND category_id = $3",
                        )
                        .bind(*target)
                        .bind(*user_id)
                        .bind(*category_id)
                        .execute(&mut *conn)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM rules WHERE user_id = $1 AND category_id = $2")
                            .bind(*user_id)
                            .bind(*category_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> AiStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn create_rule(&self, rule: &RuleRecord) -> Result<bool, StoreError> {
        let conditions = conditions_json(rule)?;
        let mut tx = begin_write(&self.pool).await?;
        if DB::NAME == "PostgreSQL" {
            // Two creates at once must not both count 499 (SQLite has one
            // writer at a time).
            let (high, _) = rule.user_id.as_u64_pair();
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(i64::from_ne_bytes(high.to_ne_bytes()))
                .execute(&mut *tx)
                .await?;
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM rules WHERE user_id = $1")
            .bind(rule.user_id)
            .fetch_one(&mut *tx)
            .await?;
        if count >= MAX_RULES as i64 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO rules (id, user_id, name, conditions, category_id, stage, stop, \
             create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(rule.id)
        .bind(rule.user_id)
        .bind(rule.name.clone())
        .bind(conditions)
        .bind(rule.category_id)
        .bind(rule.stage)
        .bind(rule.stop)
        .bind(rule.create_time)
        .bind(rule.update_time)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn get_rule(&self, user_id: Uuid, id: Uuid) -> Result<Option<RuleRecord>, StoreError> {
        Ok(self.select_rules(user_id, Some(id)).await?.into_iter().next())
    }

    #[tracing::instrument(skip_all)]
    async fn list_rules(&self, user_id: Uuid) -> Result<Vec<RuleRecord>, StoreError> {
        self.select_rules(user_id, None).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_rule(&self, rule: &RuleRecord) -> Result<(), StoreError> {
        let conditions = conditions_json(rule)?;
        let mut tx = begin_write(&self.pool).await?;
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE rules SET name = $1, conditions = $2, category_id = $3, stage = $4, stop = $5, \
             update_time = $6 WHERE id = $7 AND user_id = $8 RETURNING id",
        )
        .bind(rule.name.clone())
        .bind(conditions)
        .bind(rule.category_id)
        .bind(rule.stage)
        .bind(rule.stop)
        .bind(rule.update_time)
        .bind(rule.id)
        .bind(rule.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(StoreError::NotFound("rule"));
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_rule(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let deleted: Option<(Uuid,)> =
            sqlx::query_as("DELETE FROM rules WHERE id = $1 AND user_id = $2 RETURNING id")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if deleted.is_none() {
            return Err(StoreError::NotFound("rule"));
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(merchants = merchant_keys.len()))]
    async fn history(
        &self,
        user_id: Uuid,
        merchant_keys: &[String],
    ) -> Result<HashMap<String, Vec<Uuid>>, StoreError> {
        let mut out: HashMap<String, Vec<Uuid>> = HashMap::new();
        let mut conn = self.pool.acquire().await?;
        for keys in merchant_keys.chunks(500) {
            let mut query = QueryBuilder::<DB>::new(
                "SELECT merchant_key, category_id FROM (SELECT merchant_key, category_id, \
                 ROW_NUMBER() OVER (PARTITION BY merchant_key ORDER BY version DESC) AS n \
                 FROM merchant_history WHERE user_id = ",
            );
            query
                .push_bind(user_id)
                .push(" AND category_id IS NOT NULL AND merchant_key IN (");
            let mut list = query.separated(", ");
            for key in keys {
                list.push_bind(key.clone());
            }
            query
                .push(")) AS recent WHERE n <= ")
                .push_bind(HISTORY_DEPTH as i64)
                .push(" ORDER BY merchant_key, n");
            let rows: Vec<(String, Uuid)> = query.fetch_all(&mut conn).await?;
            for (key, category) in rows {
                out.entry(key).or_default().push(category);
            }
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all)]
    async fn merchants(&self, user_id: Uuid) -> Result<Vec<MerchantHistory>, StoreError> {
        let rows: Vec<(String, String, Uuid)> = sqlx::query_as(
            "SELECT merchant_key, merchant_name, category_id FROM (SELECT merchant_key, \
             merchant_name, category_id, \
             ROW_NUMBER() OVER (PARTITION BY merchant_key ORDER BY version DESC) AS n \
             FROM merchant_history WHERE user_id = $1 AND category_id IS NOT NULL) AS recent \
             WHERE n <= $2 ORDER BY merchant_key, n",
        )
        .bind(user_id)
        .bind(HISTORY_DEPTH as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<MerchantHistory> = Vec::new();
        for (key, name, category) in rows {
            match out.last_mut() {
                Some(last) if last.key == key => last.categories.push(category),
                // The first row of a key is its newest: its name.
                _ => out.push(MerchantHistory {
                    key,
                    name,
                    categories: vec![category],
                }),
            }
        }
        Ok(out)
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> LearnerStore for SqlStore<DB>]
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn learn(&self, events: &[LearnEvent], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let mut fresh = Inbox::<DB>::first_seen(&mut tx, &ids, now.timestamp_millis()).await?;
        let mut learned = 0;
        let mut categorized: HashMap<(Uuid, Uuid), &Observation> = HashMap::new();
        let mut proposals = Vec::new();
        for event in events {
            // Once each, even when a batch carries an event twice.
            if !fresh.remove(&event.event_id) {
                continue;
            }
            learned += 1;
            for o in &event.observations {
                match o {
                    // Categorized sightings are written together (the
                    // newest version of each transaction wins either way).
                    Observation::Categorized { user_id, transaction_id, version, .. } => {
                        let seen = categorized.entry((*user_id, *transaction_id)).or_insert(o);
                        if let Observation::Categorized { version: kept, .. } = seen
                            && *kept < *version
                        {
                            *seen = o;
                        }
                    }
                    // The others are few, and a deleted category must see
                    // every sighting before it.
                    _ => {
                        Self::record_categorized(&mut tx, &mut categorized).await?;
                        Self::observe(&mut tx, o).await?;
                    }
                }
            }
            proposals.extend(event.proposals.iter().map(|p| (p.clone(), now)));
        }
        Self::record_categorized(&mut tx, &mut categorized).await?;
        SqlOutbox::<DB>::insert(&mut tx, &proposals).await?;
        tx.commit().await?;
        Ok(learned)
    }

    #[tracing::instrument(skip_all)]
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError> {
        Ok(Inbox::<DB>::prune(&self.pool, before_ms).await?)
    }
);
