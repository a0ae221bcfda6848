//! The feed (list, count, mark read) and preferences.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::SqlStore;
use crate::domain::{Kind, Preferences};
use crate::store::{NotificationRecord, NotificationStore, StoreError};

#[derive(FromRow)]
pub(super) struct NotificationRow {
    id: Uuid,
    user_id: Uuid,
    kind: String,
    title: String,
    body: String,
    attributes: String,
    event_id: Uuid,
    create_time: DateTime<Utc>,
    read_time: Option<DateTime<Utc>>,
}

impl TryFrom<NotificationRow> for NotificationRecord {
    type Error = StoreError;

    fn try_from(r: NotificationRow) -> Result<Self, StoreError> {
        let kind = Kind::from_stored(&r.kind).ok_or_else(|| {
            StoreError::Corrupt(format!("notification {}: kind {}", r.id, r.kind))
        })?;
        let attributes: BTreeMap<String, String> = serde_json::from_str(&r.attributes)
            .map_err(|e| StoreError::Corrupt(format!("notification {}: attributes: {e}", r.id)))?;
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            kind,
            title: r.title,
            body: r.body,
            attributes,
            event_id: r.event_id,
            create_time: r.create_time,
            read_time: r.read_time,
        })
    }
}

const COLUMNS: &str =
    "id, user_id, kind, title, body, attributes, event_id, create_time, read_time";

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> NotificationStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn list_notifications(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM notifications WHERE user_id = "));
        query.push_bind(user_id).push(" AND in_feed = ").push_bind(true);
        if let Some(before) = before {
            query.push(" AND id < ").push_bind(before);
        }
        if unread_only {
            query.push(" AND read_time IS NULL");
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<NotificationRow> = query.fetch_all(&mut conn).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn count_unread(&self, user_id: Uuid) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND in_feed = $2 AND read_time IS NULL",
        )
        .bind(user_id)
        .bind(true)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    #[tracing::instrument(skip_all)]
    async fn mark_read(&self, user_id: Uuid, ids: &[Uuid], now: DateTime<Utc>) -> Result<i64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = begin_write(&self.pool).await?;
        let mut owned = QueryBuilder::<DB>::new("SELECT id FROM notifications WHERE user_id = ");
        owned
            .push_bind(user_id)
            .push(" AND in_feed = ")
            .push_bind(true)
            .push(" AND id IN (");
        let mut list = owned.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        owned.push(")");
        let found: Vec<(Uuid,)> = owned.fetch_all(&mut tx).await?;
        let distinct: std::collections::HashSet<&Uuid> = ids.iter().collect();
        if found.len() < distinct.len() {
            return Err(StoreError::NotFound("notification"));
        }
        let mut update = QueryBuilder::<DB>::new("UPDATE notifications SET read_time = ");
        update
            .push_bind(now)
            .push(" WHERE user_id = ")
            .push_bind(user_id)
            .push(" AND read_time IS NULL AND id IN (");
        let mut list = update.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        update.push(") RETURNING id");
        let marked: Vec<(Uuid,)> = update.fetch_all(&mut tx).await?;
        tx.commit().await?;
        Ok(marked.len() as i64)
    }

    #[tracing::instrument(skip_all)]
    async fn mark_all_read(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let marked: Vec<(Uuid,)> = sqlx::query_as(
            "UPDATE notifications SET read_time = $1 \
             WHERE user_id = $2 AND in_feed = $3 AND read_time IS NULL RETURNING id",
        )
        .bind(now)
        .bind(user_id)
        .bind(true)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(marked.len() as i64)
    }

    #[tracing::instrument(skip_all)]
    async fn get_preferences(&self, user_id: Uuid) -> Result<Option<Preferences>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT body FROM preferences WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(body,)| {
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("preferences of {user_id}: {e}")))
        })
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn put_preferences(
        &self,
        user_id: Uuid,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(preferences).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO preferences (user_id, body, update_time) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET body = excluded.body, update_time = excluded.update_time",
        )
        .bind(user_id)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn create_endpoint(&self, e: &crate::store::EndpointRecord) -> Result<(), StoreError> {
        Self::insert_endpoint(&self.pool, e).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_endpoints(&self, user_id: Uuid) -> Result<Vec<crate::store::EndpointRecord>, StoreError> {
        Self::endpoints_of(&self.pool, &[user_id]).await
    }

    #[tracing::instrument(skip_all)]
    async fn delete_endpoint(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let deleted: Option<(Uuid,)> =
            sqlx::query_as("DELETE FROM webhook_endpoints WHERE id = $1 AND user_id = $2 RETURNING id")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if deleted.is_none() {
            return Err(StoreError::NotFound("webhook endpoint"));
        }
        sqlx::query("DELETE FROM deliveries WHERE endpoint_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list_deliveries(
        &self,
        user_id: Uuid,
        endpoint_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<crate::store::DeliveryRecord>, StoreError> {
        Self::deliveries_of(&self.pool, user_id, endpoint_id, before, limit).await
    }

    #[tracing::instrument(skip_all)]
    async fn redeliver(&self, user_id: Uuid, id: Uuid, now_ms: i64) -> Result<crate::store::DeliveryRecord, StoreError> {
        Self::make_due(&self.pool, user_id, id, now_ms).await
    }
);
