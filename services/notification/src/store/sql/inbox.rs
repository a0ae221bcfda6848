//! The consumer's side: recipients' preferences and endpoints, and what
//! events made, recorded once per event id.

use std::collections::HashMap;

use freedumb_kit::inbox::Inbox;
use freedumb_kit::sql::{RunBuilt as _, rows_per_statement};
use freedumb_kit::storage::begin_write;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::SqlStore;
use crate::domain::Preferences;
use crate::store::{InboxStore, Made, NotificationRecord, Recipient, StoreError};

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> InboxStore for SqlStore<DB>]
    #[tracing::instrument(skip_all, fields(users = users.len()))]
    async fn recipients(&self, users: &[Uuid]) -> Result<HashMap<Uuid, Recipient>, StoreError> {
        let mut out: HashMap<Uuid, Recipient> = users.iter().map(|u| (*u, Recipient::default())).collect();
        if users.is_empty() {
            return Ok(out);
        }
        let mut conn = self.pool.acquire().await?;
        let mut query = QueryBuilder::<DB>::new("SELECT user_id, body FROM preferences WHERE user_id IN (");
        let mut list = query.separated(", ");
        for user in users {
            list.push_bind(*user);
        }
        query.push(")");
        let rows: Vec<(Uuid, String)> = query.fetch_all(&mut conn).await?;
        drop(conn);
        for (user, body) in rows {
            let preferences: Preferences = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("preferences of {user}: {e}")))?;
            out.entry(user).or_default().preferences = preferences;
        }
        for endpoint in Self::endpoints_of(&self.pool, users).await? {
            out.entry(endpoint.user_id).or_default().endpoints.push(endpoint);
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(events = made.len()))]
    async fn record(&self, made: &[Made], now_ms: i64) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let ids: Vec<Uuid> = made.iter().map(|m| m.event_id).collect();
        let mut fresh = Inbox::<DB>::first_seen(&mut tx, &ids, now_ms).await?;
        let fresh: Vec<&Made> = made.iter().filter(|m| fresh.remove(&m.event_id)).collect();
        let notifications: Vec<(&NotificationRecord, bool)> = fresh
            .iter()
            .filter_map(|m| m.notification.as_ref().map(|n| (n, m.in_feed)))
            .collect();
        const COLUMNS: usize = 10;
        for batch in notifications.chunks(rows_per_statement::<DB>(COLUMNS)) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO notifications (id, user_id, kind, title, body, attributes, event_id, create_time, \
                 read_time, in_feed) ",
            );
            insert.push_values(batch, |mut row, (n, in_feed)| {
                row.push_bind(n.id)
                    .push_bind(n.user_id)
                    .push_bind(n.kind.as_str().to_owned())
                    .push_bind(n.title.clone())
                    .push_bind(n.body.clone())
                    .push_bind(serde_json::to_string(&n.attributes).unwrap_or_else(|_| "{}".into()))
                    .push_bind(n.event_id)
                    .push_bind(n.create_time)
                    .push_bind(n.read_time)
                    .push_bind(*in_feed);
            });
            insert.execute(&mut *tx).await?;
        }
        let deliveries: Vec<_> = fresh.iter().flat_map(|m| m.deliveries.iter().cloned()).collect();
        Self::insert_deliveries(&mut tx, &deliveries).await?;
        tx.commit().await?;
        Ok(notifications
            .into_iter()
            .filter(|(_, in_feed)| *in_feed)
            .map(|(n, _)| n.clone())
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError> {
        Ok(Inbox::<DB>::prune(&self.pool, before_ms).await?)
    }
);
