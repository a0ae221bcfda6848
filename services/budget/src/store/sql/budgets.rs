//! Budgets: create, read, list, replace, delete; the spending sums their
//! status is made of; the alerts raised; and the projection's rebuild.

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::SqlStore;
use crate::domain::{Period, Schedule, Span, Thresholds};
use crate::store::{BudgetRecord, BudgetStore, LedgerChange, StoreError};

#[derive(FromRow)]
pub(super) struct BudgetRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    currency: String,
    amount_minor: i64,
    period: String,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    thresholds: String,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl BudgetRow {
    /// The record, with its categories (in their stored order).
    pub(super) fn into_record(self, category_ids: Vec<Uuid>) -> Result<BudgetRecord, StoreError> {
        let period = Period::from_stored(&self.period).ok_or_else(|| {
            StoreError::Corrupt(format!("budget {}: period {}", self.id, self.period))
        })?;
        let thresholds = Thresholds::from_stored(&self.thresholds).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "budget {}: thresholds {}",
                self.id, self.thresholds
            ))
        })?;
        Ok(BudgetRecord {
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            category_ids,
            currency: self.currency,
            amount_minor: self.amount_minor,
            schedule: Schedule {
                period,
                start: self.start_date,
                end: self.end_date,
            },
            thresholds,
            create_time: self.create_time,
            update_time: self.update_time,
        })
    }
}

pub(super) const COLUMNS: &str = "id, user_id, name, currency, amount_minor, period, start_date, \
     end_date, thresholds, create_time, update_time";

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    /// Reads `rows`' categories and makes them records.
    pub(super) async fn with_categories(
        conn: &mut DB::Connection,
        rows: Vec<BudgetRow>,
    ) -> Result<Vec<BudgetRecord>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<DB>::new(
            "SELECT budget_id, category_id FROM budget_categories WHERE budget_id IN (",
        );
        let mut ids = query.separated(", ");
        for row in &rows {
            ids.push_bind(row.id);
        }
        query.push(") ORDER BY budget_id, position");
        let links: Vec<(Uuid, Uuid)> = query.fetch_all(&mut *conn).await?;
        rows.into_iter()
            .map(|row| {
                let categories = links
                    .iter()
                    .filter(|(budget, _)| *budget == row.id)
                    .map(|(_, category)| *category)
                    .collect();
                row.into_record(categories)
            })
            .collect()
    }

    async fn write_categories(
        conn: &mut DB::Connection,
        budget: &BudgetRecord,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM budget_categories WHERE budget_id = $1")
            .bind(budget.id)
            .execute(&mut *conn)
            .await?;
        let mut insert = QueryBuilder::<DB>::new(
            "INSERT INTO budget_categories (budget_id, user_id, category_id, position) ",
        );
        let positions = (0_i32..).zip(&budget.category_ids);
        insert.push_values(positions, |mut row, (position, category)| {
            row.push_bind(budget.id)
                .push_bind(budget.user_id)
                .push_bind(*category)
                .push_bind(position);
        });
        insert.execute(&mut *conn).await?;
        Ok(())
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> BudgetStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn create_budget(&self, b: &BudgetRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO budgets (id, user_id, name, currency, amount_minor, period, start_date, \
             end_date, thresholds, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(b.id)
        .bind(b.user_id)
        .bind(&b.name)
        .bind(&b.currency)
        .bind(b.amount_minor)
        .bind(b.schedule.period.as_str().to_owned())
        .bind(b.schedule.start)
        .bind(b.schedule.end)
        .bind(b.thresholds.to_stored())
        .bind(b.create_time)
        .bind(b.update_time)
        .execute(&mut *tx)
        .await?;
        Self::write_categories(&mut tx, b).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn get_budget(&self, user_id: Uuid, id: Uuid) -> Result<Option<BudgetRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<BudgetRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM budgets WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
        let records = Self::with_categories(&mut conn, row.into_iter().collect()).await?;
        Ok(records.into_iter().next())
    }

    #[tracing::instrument(skip_all)]
    async fn list_budgets(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<BudgetRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM budgets WHERE user_id = "));
        query.push_bind(user_id);
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<BudgetRow> = query.fetch_all(&mut conn).await?;
        Self::with_categories(&mut conn, rows).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_budget(&self, b: &BudgetRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE budgets SET name = $1, amount_minor = $2, period = $3, start_date = $4, \
             end_date = $5, thresholds = $6, update_time = $7 \
             WHERE id = $8 AND user_id = $9 RETURNING id",
        )
        .bind(&b.name)
        .bind(b.amount_minor)
        .bind(b.schedule.period.as_str().to_owned())
        .bind(b.schedule.start)
        .bind(b.schedule.end)
        .bind(b.thresholds.to_stored())
        .bind(b.update_time)
        .bind(b.id)
        .bind(b.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(StoreError::NotFound("budget"));
        }
        Self::write_categories(&mut tx, b).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_budget(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let deleted: Option<(Uuid,)> =
            sqlx::query_as("DELETE FROM budgets WHERE id = $1 AND user_id = $2 RETURNING id")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if deleted.is_none() {
            return Err(StoreError::NotFound("budget"));
        }
        for table in ["budget_categories", "budget_alerts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE budget_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn sum_spending(
        &self,
        user_id: Uuid,
        currency: &str,
        categories: &[Uuid],
        span: Span,
    ) -> Result<Vec<(Uuid, i64)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(Self::sums(&mut conn, user_id, currency, categories, span).await?)
    }

    #[tracing::instrument(skip_all)]
    async fn create_goal(&self, goal: &crate::store::GoalRecord, reached: Option<i64>) -> Result<(), StoreError> {
        Self::insert_goal(&self.pool, goal, reached).await
    }

    #[tracing::instrument(skip_all)]
    async fn get_goal(&self, user_id: Uuid, id: Uuid) -> Result<Option<crate::store::GoalRecord>, StoreError> {
        Ok(Self::select_goals(&self.pool, user_id, Some(id), None, 1).await?.into_iter().next())
    }

    #[tracing::instrument(skip_all)]
    async fn list_goals(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<crate::store::GoalRecord>, StoreError> {
        Self::select_goals(&self.pool, user_id, None, after, limit).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_goal(&self, goal: &crate::store::GoalRecord, reached: Option<i64>) -> Result<(), StoreError> {
        Self::change_goal(&self.pool, goal, reached).await
    }

    #[tracing::instrument(skip_all)]
    async fn delete_goal(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        Self::remove_goal(&self.pool, user_id, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn create_plan(&self, plan: &crate::store::PlanRecord) -> Result<(), StoreError> {
        Self::insert_plan(&self.pool, plan).await
    }

    #[tracing::instrument(skip_all)]
    async fn get_plan(&self, user_id: Uuid, id: Uuid) -> Result<Option<crate::store::PlanRecord>, StoreError> {
        Ok(Self::select_plans(&self.pool, user_id, Some(id)).await?.into_iter().next())
    }

    #[tracing::instrument(skip_all)]
    async fn list_plans(&self, user_id: Uuid) -> Result<Vec<crate::store::PlanRecord>, StoreError> {
        Self::select_plans(&self.pool, user_id, None).await
    }

    #[tracing::instrument(skip_all)]
    async fn delete_plan(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        Self::remove_plan(&self.pool, user_id, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn set_assignment(
        &self,
        user_id: Uuid,
        plan_id: Uuid,
        month: crate::domain::envelope::YearMonth,
        category: Uuid,
        amount_minor: i64,
    ) -> Result<(), StoreError> {
        Self::upsert_assignment(&self.pool, user_id, plan_id, month, category, amount_minor).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_assignments(
        &self,
        plan_id: Uuid,
        through: crate::domain::envelope::YearMonth,
    ) -> Result<Vec<(crate::domain::envelope::YearMonth, Uuid, i64)>, StoreError> {
        Self::select_assignments(&self.pool, plan_id, through).await
    }

    #[tracing::instrument(skip_all)]
    async fn sum_spending_by_day(
        &self,
        user_id: Uuid,
        currency: &str,
        categories: &[Uuid],
        span: Span,
    ) -> Result<Vec<(Uuid, NaiveDate, i64)>, StoreError> {
        Self::daily_sums(&self.pool, user_id, currency, categories, span).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_alerts(&self, budget_id: Uuid, start: NaiveDate) -> Result<Vec<i32>, StoreError> {
        let rows: Vec<(i32,)> = sqlx::query_as(
            "SELECT threshold FROM budget_alerts WHERE budget_id = $1 AND period_start = $2 \
             ORDER BY threshold",
        )
        .bind(budget_id)
        .bind(start)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    #[tracing::instrument(skip_all, fields(transactions = transactions.len()))]
    async fn rebuild_spending(
        &self,
        user_id: Uuid,
        transactions: &[LedgerChange],
        started: i64,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let now = freedumb_kit::time::now().timestamp_micros();
        let mut tombstones = Self::load_tombstones(&mut tx, &[user_id]).await?;
        let mut listed = std::collections::HashSet::with_capacity(transactions.len());
        for change in transactions {
            if let LedgerChange::Upsert { user_id: owner, transaction_id, .. } = change
                && *owner == user_id
            {
                listed.insert(*transaction_id);
                Self::apply_change(&mut tx, change, now, &mut tombstones).await?;
            }
        }
        // Tracked, not in the ledger any more, and not changed by an event
        // since the rebuild started (both on this service's clock): deleted
        // while no event said so.
        let stale: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT transaction_id FROM tracked_transactions \
             WHERE user_id = $1 AND deleted = $2 AND applied_at < $3",
        )
        .bind(user_id)
        .bind(false)
        .bind(started)
        .fetch_all(&mut *tx)
        .await?;
        for (transaction_id,) in stale.into_iter().filter(|(id,)| !listed.contains(id)) {
            // Ids are never reused: this deletion outranks every version.
            let gone = LedgerChange::Delete {
                user_id,
                transaction_id,
                version: i64::MAX,
            };
            Self::apply_change(&mut tx, &gone, now, &mut tombstones).await?;
        }
        tx.commit().await?;
        Ok(())
    }
);
