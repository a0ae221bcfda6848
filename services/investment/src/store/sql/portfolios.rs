//! Portfolios: create (idempotent), read, list, change, delete with their
//! activities.

use chrono::{DateTime, Utc};
use freedumb_kit::outbox::SqlOutbox;
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::{SqlStore, currency};
use crate::domain::CostBasisMethod;
use crate::store::{
    Announce, Created, IdempotencyKey, PortfolioRecord, PortfolioStore, StoreError,
};

#[derive(FromRow)]
struct PortfolioRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    account_id: Option<Uuid>,
    base_currency: String,
    cost_basis_method: String,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl TryFrom<PortfolioRow> for PortfolioRecord {
    type Error = StoreError;

    fn try_from(r: PortfolioRow) -> Result<Self, StoreError> {
        Ok(Self {
            base_currency: currency(&r.base_currency, "portfolio base currency")?,
            method: CostBasisMethod::from_stored(&r.cost_basis_method).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "portfolio {}: method {}",
                    r.id, r.cost_basis_method
                ))
            })?,
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            account_id: r.account_id,
            create_time: r.create_time,
            update_time: r.update_time,
        })
    }
}

const COLUMNS: &str =
    "id, user_id, name, account_id, base_currency, cost_basis_method, create_time, update_time";

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    async fn select_portfolio(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<PortfolioRecord>, StoreError> {
        let row: Option<PortfolioRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM portfolios WHERE user_id = $1 AND id = $2"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(TryInto::try_into).transpose()
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> PortfolioStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn create_portfolio(
        &self,
        p: &PortfolioRecord,
        key: Option<&IdempotencyKey>,
    ) -> Result<Created<PortfolioRecord>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        if let Some(existing) =
            Self::claim_request(&mut tx, p.user_id, key, p.id, p.create_time).await?
        {
            let found = Self::select_portfolio(&mut tx, p.user_id, existing).await?;
            // The key's portfolio may have been deleted since: the request
            // is answered as it was, from what is left.
            return found
                .map(Created::Replayed)
                .ok_or(StoreError::NotFound("portfolio"));
        }
        sqlx::query(
            "INSERT INTO portfolios (id, user_id, name, account_id, base_currency, \
             cost_basis_method, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(p.id)
        .bind(p.user_id)
        .bind(p.name.clone())
        .bind(p.account_id)
        .bind(p.base_currency.code().to_owned())
        .bind(p.method.as_str().to_owned())
        .bind(p.create_time)
        .bind(p.update_time)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Created::New(p.clone()))
    }

    #[tracing::instrument(skip_all)]
    async fn get_portfolio(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<PortfolioRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::select_portfolio(&mut conn, user_id, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_portfolios(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<PortfolioRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut query =
            QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM portfolios WHERE user_id = "));
        query.push_bind(user_id);
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<PortfolioRow> = query.fetch_all(&mut conn).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn update_portfolio(&self, p: &PortfolioRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let done: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE portfolios SET name = $3, account_id = $4, cost_basis_method = $5, \
             update_time = $6 WHERE user_id = $1 AND id = $2 RETURNING id",
        )
        .bind(p.user_id)
        .bind(p.id)
        .bind(p.name.clone())
        .bind(p.account_id)
        .bind(p.method.as_str().to_owned())
        .bind(p.update_time)
        .fetch_optional(&mut *tx)
        .await?;
        if done.is_none() {
            return Err(StoreError::NotFound("portfolio"));
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_portfolio(
        &self,
        user_id: Uuid,
        id: Uuid,
        announce: Announce<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        if Self::select_portfolio(&mut tx, user_id, id).await?.is_none() {
            return Err(StoreError::NotFound("portfolio"));
        }
        let activities = Self::select_replay(&mut tx, user_id, id).await?;
        let now = Utc::now();
        let events: Vec<_> = activities
            .iter()
            .filter_map(announce)
            .map(|e| (e, now))
            .collect();
        SqlOutbox::<DB>::insert(&mut tx, &events).await?;
        sqlx::query("DELETE FROM activities WHERE user_id = $1 AND portfolio_id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM portfolios WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
);
