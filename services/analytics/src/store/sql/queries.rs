//! The reads: sums per day and category, merchants over a span, and
//! accounts' daily changes.

use chrono::NaiveDate;
use uuid::Uuid;

use super::SqlStore;
use crate::domain::Span;
use crate::store::{AccountDay, CategoryDay, MerchantSum, StoreError};

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    pub(super) async fn category_days(
        conn: &mut DB::Connection,
        user_id: Uuid,
        currency: &str,
        span: Span,
    ) -> Result<Vec<CategoryDay>, StoreError> {
        let rows: Vec<(NaiveDate, Uuid, i64, i64, i64)> = sqlx::query_as(
            "SELECT day, category_id, inflow_minor, outflow_minor, count FROM category_days \
             WHERE user_id = $1 AND currency = $2 AND day >= $3 AND day <= $4 AND count <> 0 \
             ORDER BY day, category_id",
        )
        .bind(user_id)
        .bind(currency.to_owned())
        .bind(span.start)
        .bind(span.end)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(day, category, inflow_minor, outflow_minor, count)| CategoryDay {
                day,
                category_id: (!category.is_nil()).then_some(category),
                inflow_minor,
                outflow_minor,
                count,
            })
            .collect())
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> crate::store::AnalyticsStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn list_category_days(
        &self,
        user_id: Uuid,
        currency: &str,
        span: Span,
    ) -> Result<Vec<CategoryDay>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::category_days(&mut conn, user_id, currency, span).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_top_merchants(
        &self,
        user_id: Uuid,
        currency: &str,
        span: Span,
        limit: u32,
    ) -> Result<Vec<MerchantSum>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT merchant, CAST(SUM(outflow_minor) - SUM(inflow_minor) AS BIGINT) AS spent, \
             CAST(SUM(count) AS BIGINT) FROM merchant_days \
             WHERE user_id = $1 AND currency = $2 AND day >= $3 AND day <= $4 \
             GROUP BY merchant HAVING SUM(outflow_minor) - SUM(inflow_minor) > 0 \
             ORDER BY spent DESC, merchant LIMIT $5",
        )
        .bind(user_id)
        .bind(currency.to_owned())
        .bind(span.start)
        .bind(span.end)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(merchant, spent_minor, count)| MerchantSum {
                merchant,
                spent_minor,
                count,
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn list_account_days_after(
        &self,
        user_id: Uuid,
        after: NaiveDate,
    ) -> Result<Vec<AccountDay>, StoreError> {
        let rows: Vec<(Uuid, NaiveDate, i64)> = sqlx::query_as(
            "SELECT account_id, day, net_minor FROM account_days \
             WHERE user_id = $1 AND day > $2 AND count <> 0 ORDER BY account_id, day",
        )
        .bind(user_id)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(account_id, day, net_minor)| AccountDay {
                account_id,
                day,
                net_minor,
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn rebuild(
        &self,
        user_id: Uuid,
        transactions: &[(Uuid, i64, Vec<crate::domain::Fact>)],
        started_ms: i64,
    ) -> Result<(), StoreError> {
        Self::rebuild_user(&self.pool, user_id, transactions, started_ms).await
    }
);
