//! Instruments: create (one per symbol and user), read, list by symbol,
//! change, delete while unused.

use chrono::{DateTime, Utc};
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::{SqlStore, currency, duplicate};
use crate::domain::InstrumentKind;
use crate::error::InvestmentError;
use crate::store::{InstrumentRecord, InstrumentStore, StoreError};

#[derive(FromRow)]
struct InstrumentRow {
    id: Uuid,
    user_id: Uuid,
    symbol: String,
    isin: Option<String>,
    name: String,
    kind: String,
    currency: String,
    create_time: DateTime<Utc>,
}

impl TryFrom<InstrumentRow> for InstrumentRecord {
    type Error = StoreError;

    fn try_from(r: InstrumentRow) -> Result<Self, StoreError> {
        Ok(Self {
            kind: InstrumentKind::from_stored(&r.kind).ok_or_else(|| {
                StoreError::Corrupt(format!("instrument {}: kind {}", r.id, r.kind))
            })?,
            currency: currency(&r.currency, "instrument currency")?,
            id: r.id,
            user_id: r.user_id,
            symbol: r.symbol,
            isin: r.isin,
            name: r.name,
            create_time: r.create_time,
        })
    }
}

const COLUMNS: &str = "id, user_id, symbol, isin, name, kind, currency, create_time";

fn decode(rows: Vec<InstrumentRow>) -> Result<Vec<InstrumentRecord>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> InstrumentStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn create_instrument(&self, i: &InstrumentRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO instruments (id, user_id, symbol, isin, name, kind, currency, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(i.id)
        .bind(i.user_id)
        .bind(i.symbol.clone())
        .bind(i.isin.clone())
        .bind(i.name.clone())
        .bind(i.kind.as_str().to_owned())
        .bind(i.currency.code().to_owned())
        .bind(i.create_time)
        .execute(&mut *tx)
        .await
        .map_err(|e| duplicate(e, "instrument"))?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn get_instrument(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<InstrumentRecord>, StoreError> {
        let row: Option<InstrumentRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM instruments WHERE user_id = $1 AND id = $2"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_instruments(
        &self,
        user_id: Uuid,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<InstrumentRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut query =
            QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM instruments WHERE user_id = "));
        query.push_bind(user_id);
        if let Some(after) = after {
            query.push(" AND symbol > ").push_bind(after);
        }
        query.push(" ORDER BY symbol LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<InstrumentRow> = query.fetch_all(&mut conn).await?;
        decode(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn list_portfolio_instruments(
        &self,
        user_id: Uuid,
        portfolio_id: Uuid,
    ) -> Result<Vec<InstrumentRecord>, StoreError> {
        let rows: Vec<InstrumentRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM instruments WHERE user_id = $1 AND id IN \
             (SELECT instrument_id FROM activities WHERE user_id = $1 AND portfolio_id = $2) \
             ORDER BY symbol"
        ))
        .bind(user_id)
        .bind(portfolio_id)
        .fetch_all(&self.pool)
        .await?;
        decode(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn update_instrument(&self, i: &InstrumentRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let done: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE instruments SET name = $3, isin = $4, kind = $5 WHERE user_id = $1 AND id = $2 \
             RETURNING id",
        )
        .bind(i.user_id)
        .bind(i.id)
        .bind(i.name.clone())
        .bind(i.isin.clone())
        .bind(i.kind.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        if done.is_none() {
            return Err(StoreError::NotFound("instrument"));
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_instrument(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let used: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM activities WHERE user_id = $1 AND instrument_id = $2 LIMIT 1")
                .bind(user_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if used.is_some() {
            return Err(StoreError::Rejected(InvestmentError::FailedPrecondition(
                "activities name this instrument; delete them first".into(),
            )));
        }
        let done: Option<(Uuid,)> =
            sqlx::query_as("DELETE FROM instruments WHERE user_id = $1 AND id = $2 RETURNING id")
                .bind(user_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_none() {
            return Err(StoreError::NotFound("instrument"));
        }
        tx.commit().await?;
        Ok(())
    }
);
