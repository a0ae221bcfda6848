//! Webhook endpoints and deliveries: writing them, the delivery log, and
//! the worker's claims. A worker claims due deliveries for a while (claim
//! token and expiry, as the outbox relay does; on Postgres `FOR UPDATE SKIP
//! LOCKED`, so concurrent workers take different rows without waiting);
//! a worker that dies leaves its claims to expire.

use chrono::{DateTime, Utc};
use freedumb_kit::sql::{RunBuilt as _, rows_per_statement};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::SqlStore;
use crate::domain::Kind;
use crate::store::{
    Channel, Claimed, DeliveryRecord, DeliveryState, DeliveryStore, EndpointRecord, Outcome,
    StoreError,
};

#[derive(FromRow)]
struct EndpointRow {
    id: Uuid,
    user_id: Uuid,
    url: String,
    description: String,
    kinds: String,
    secret: String,
    create_time: DateTime<Utc>,
}

impl TryFrom<EndpointRow> for EndpointRecord {
    type Error = StoreError;

    fn try_from(r: EndpointRow) -> Result<Self, StoreError> {
        let kinds = r
            .kinds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(|k| {
                Kind::from_stored(k)
                    .ok_or_else(|| StoreError::Corrupt(format!("endpoint {}: kind {k}", r.id)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            url: r.url,
            description: r.description,
            kinds,
            secret: r.secret,
            create_time: r.create_time,
        })
    }
}

#[derive(FromRow)]
struct DeliveryRow {
    id: Uuid,
    user_id: Uuid,
    channel: String,
    endpoint_id: Option<Uuid>,
    notification_id: Uuid,
    kind: String,
    payload: String,
    digest: bool,
    state: String,
    attempts: i32,
    next_attempt_ms: i64,
    last_status: i32,
    last_error: String,
    create_time: DateTime<Utc>,
    deliver_time: Option<DateTime<Utc>>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("delivery {}: {what}", r.id));
        let channel = match (r.channel.as_str(), r.endpoint_id) {
            ("email", _) => Channel::Email,
            ("webhook", Some(endpoint)) => Channel::Webhook(endpoint),
            _ => return Err(corrupt("channel")),
        };
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            channel,
            notification_id: r.notification_id,
            kind: Kind::from_stored(&r.kind).ok_or_else(|| corrupt("kind"))?,
            payload: r.payload,
            digest: r.digest,
            state: DeliveryState::from_stored(&r.state).ok_or_else(|| corrupt("state"))?,
            attempts: r.attempts,
            next_attempt_ms: r.next_attempt_ms,
            last_status: r.last_status,
            last_error: r.last_error,
            create_time: r.create_time,
            deliver_time: r.deliver_time,
        })
    }
}

const ENDPOINT_COLUMNS: &str = "id, user_id, url, description, kinds, secret, create_time";
const DELIVERY_COLUMNS: &str = "id, user_id, channel, endpoint_id, notification_id, kind, payload, digest, \
     state, attempts, next_attempt_ms, last_status, last_error, create_time, deliver_time";

fn decode(rows: Vec<DeliveryRow>) -> Result<Vec<DeliveryRecord>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    pub(super) async fn insert_endpoint(pool: &sqlx::Pool<DB>, e: &EndpointRecord) -> Result<(), StoreError> {
        let kinds: Vec<&str> = e.kinds.iter().map(|k| k.as_str()).collect();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, user_id, url, description, kinds, secret, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.id)
        .bind(e.user_id)
        .bind(&e.url)
        .bind(&e.description)
        .bind(kinds.join(","))
        .bind(&e.secret)
        .bind(e.create_time)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The endpoints of `users`, oldest first.
    pub(super) async fn endpoints_of(pool: &sqlx::Pool<DB>, users: &[Uuid]) -> Result<Vec<EndpointRecord>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = pool.acquire().await?;
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE user_id IN ("));
        let mut list = query.separated(", ");
        for user in users {
            list.push_bind(*user);
        }
        query.push(") ORDER BY id");
        let rows: Vec<EndpointRow> = query.fetch_all(&mut conn).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub(super) async fn deliveries_of(
        pool: &sqlx::Pool<DB>,
        user_id: Uuid,
        endpoint_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut conn = pool.acquire().await?;
        let owned: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM webhook_endpoints WHERE id = $1 AND user_id = $2")
                .bind(endpoint_id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound("webhook endpoint"));
        }
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE endpoint_id = "));
        query.push_bind(endpoint_id).push(" AND user_id = ").push_bind(user_id);
        if let Some(before) = before {
            query.push(" AND id < ").push_bind(before);
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<DeliveryRow> = query.fetch_all(&mut conn).await?;
        decode(rows)
    }

    pub(super) async fn make_due(
        pool: &sqlx::Pool<DB>,
        user_id: Uuid,
        id: Uuid,
        now_ms: i64,
    ) -> Result<DeliveryRecord, StoreError> {
        // A dead delivery starts a fresh series of attempts; a pending one
        // is only brought forward. A delivered one is sent once more.
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "UPDATE deliveries SET state = $1, next_attempt_ms = $2, claim_until_ms = 0, \
             attempts = CASE WHEN state = $3 THEN 0 ELSE attempts END \
             WHERE id = $4 AND user_id = $5 AND channel = $6 RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(DeliveryState::Pending.as_str().to_owned())
        .bind(now_ms)
        .bind(DeliveryState::Dead.as_str().to_owned())
        .bind(id)
        .bind(user_id)
        .bind("webhook".to_owned())
        .fetch_all(pool)
        .await?;
        decode(rows)?.into_iter().next().ok_or(StoreError::NotFound("webhook delivery"))
    }

    /// Writes deliveries on `conn` (inside the notification's transaction).
    pub(super) async fn insert_deliveries(
        conn: &mut DB::Connection,
        deliveries: &[DeliveryRecord],
    ) -> Result<(), StoreError> {
        const COLUMNS: usize = 13;
        for batch in deliveries.chunks(rows_per_statement::<DB>(COLUMNS)) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO deliveries (id, user_id, channel, endpoint_id, notification_id, kind, payload, \
                 digest, state, attempts, next_attempt_ms, last_error, create_time) ",
            );
            insert.push_values(batch, |mut row, d| {
                let (channel, endpoint) = match d.channel {
                    Channel::Email => ("email", None),
                    Channel::Webhook(endpoint) => ("webhook", Some(endpoint)),
                };
                row.push_bind(d.id)
                    .push_bind(d.user_id)
                    .push_bind(channel.to_owned())
                    .push_bind(endpoint)
                    .push_bind(d.notification_id)
                    .push_bind(d.kind.as_str().to_owned())
                    .push_bind(d.payload.clone())
                    .push_bind(d.digest)
                    .push_bind(d.state.as_str().to_owned())
                    .push_bind(d.attempts)
                    .push_bind(d.next_attempt_ms)
                    .push_bind(d.last_error.clone())
                    .push_bind(d.create_time);
            });
            insert.execute(&mut *conn).await?;
        }
        Ok(())
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> DeliveryStore for SqlStore<DB>]
    #[tracing::instrument(level = "debug", skip_all)]
    async fn due_backlog(&self, now_ms: i64) -> Result<(u64, Option<i64>), StoreError> {
        let (count, earliest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(next_attempt_ms) FROM deliveries \
             WHERE state = $1 AND next_attempt_ms <= $2 AND claim_until_ms < $2",
        )
        .bind(DeliveryState::Pending.as_str().to_owned())
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok((u64::try_from(count).unwrap_or(0), earliest))
    }

    // Polled: a span at info would be a trace per poll.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn claim_deliveries(
        &self,
        token: Uuid,
        now_ms: i64,
        claim_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        // The worker polls all the time: on SQLite it queues with the
        // other writers rather than in the busy handler.
        let _gate = freedumb_kit::storage::write_gate(&self.pool).await;
        let mut conn = self.pool.acquire().await?;
        // Postgres skips rows another worker is claiming; SQLite has one
        // writer at a time. The outer condition is checked again either way.
        let skip_locked = if DB::NAME == "PostgreSQL" { " FOR UPDATE SKIP LOCKED" } else { "" };
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "UPDATE deliveries SET claim_token = $1, claim_until_ms = $2 \
             WHERE state = $3 AND next_attempt_ms <= $4 AND claim_until_ms < $4 AND id IN \
             (SELECT id FROM deliveries WHERE state = $3 AND next_attempt_ms <= $4 AND claim_until_ms < $4 \
              ORDER BY next_attempt_ms LIMIT $5{skip_locked}) \
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(token)
        .bind(claim_until_ms)
        .bind(DeliveryState::Pending.as_str().to_owned())
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        let mut deliveries = decode(rows)?;
        // A user's digest goes out as one email: claim all of their due
        // digest deliveries with any one of them.
        let mut digest_users: Vec<Uuid> = deliveries
            .iter()
            .filter(|d| d.digest)
            .map(|d| d.user_id)
            .collect();
        digest_users.sort_unstable();
        digest_users.dedup();
        if !digest_users.is_empty() {
            let mut more = QueryBuilder::<DB>::new("UPDATE deliveries SET claim_token = ");
            more.push_bind(token)
                .push(", claim_until_ms = ")
                .push_bind(claim_until_ms)
                .push(" WHERE state = ")
                .push_bind(DeliveryState::Pending.as_str().to_owned())
                .push(" AND digest = ")
                .push_bind(true)
                .push(" AND next_attempt_ms <= ")
                .push_bind(now_ms)
                .push(" AND claim_until_ms < ")
                .push_bind(now_ms)
                .push(" AND user_id IN (");
            let mut users = more.separated(", ");
            for user in &digest_users {
                users.push_bind(*user);
            }
            more.push(format!(") RETURNING {DELIVERY_COLUMNS}"));
            let rows: Vec<DeliveryRow> = more.fetch_all(&mut conn).await?;
            deliveries.extend(decode(rows)?);
        }
        let mut endpoint_ids: Vec<Uuid> = deliveries
            .iter()
            .filter_map(|d| match d.channel {
                Channel::Webhook(id) => Some(id),
                Channel::Email => None,
            })
            .collect();
        endpoint_ids.sort_unstable();
        endpoint_ids.dedup();
        let mut endpoints = Vec::new();
        if !endpoint_ids.is_empty() {
            let mut query = QueryBuilder::<DB>::new(format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id IN ("));
            let mut list = query.separated(", ");
            for id in &endpoint_ids {
                list.push_bind(*id);
            }
            query.push(")");
            let rows: Vec<EndpointRow> = query.fetch_all(&mut conn).await?;
            endpoints = rows.into_iter().map(TryInto::try_into).collect::<Result<Vec<EndpointRecord>, _>>()?;
        }
        Ok(deliveries
            .into_iter()
            .map(|delivery| {
                let endpoint = match delivery.channel {
                    Channel::Webhook(id) => endpoints.iter().find(|e| e.id == id).cloned(),
                    Channel::Email => None,
                };
                Claimed { delivery, endpoint }
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn complete_delivery(
        &self,
        token: Uuid,
        id: Uuid,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (state, status, error, next, delivered) = match outcome {
            Outcome::Delivered { status } => (DeliveryState::Delivered, *status, String::new(), 0, Some(now)),
            Outcome::Retry { status, error, next_attempt_ms } => {
                (DeliveryState::Pending, *status, error.clone(), *next_attempt_ms, None)
            }
            Outcome::Dead { status, error } => (DeliveryState::Dead, *status, error.clone(), 0, None),
        };
        let _gate = freedumb_kit::storage::write_gate(&self.pool).await;
        sqlx::query(
            "UPDATE deliveries SET state = $1, attempts = attempts + 1, last_status = $2, last_error = $3, \
             next_attempt_ms = CASE WHEN $4 > 0 THEN $4 ELSE next_attempt_ms END, deliver_time = $5, \
             claim_token = NULL, claim_until_ms = 0 \
             WHERE id = $6 AND claim_token = $7",
        )
        .bind(state.as_str().to_owned())
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(delivered)
        .bind(id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
);
