//! Envelope plans, their categories and assignments, and the daily sums
//! their months are made of.

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::SqlStore;
use crate::domain::Span;
use crate::domain::envelope::{Overspending, YearMonth};
use crate::store::{PlanRecord, StoreError};

#[derive(FromRow)]
struct PlanRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    currency: String,
    start_month: String,
    overspending: String,
    create_time: DateTime<Utc>,
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    pub(super) async fn insert_plan(pool: &sqlx::Pool<DB>, p: &PlanRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(pool).await?;
        sqlx::query(
            "INSERT INTO budget_plans (id, user_id, name, currency, start_month, overspending, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.id)
        .bind(p.user_id)
        .bind(&p.name)
        .bind(&p.currency)
        .bind(p.start_month.to_string())
        .bind(p.overspending.as_str().to_owned())
        .bind(p.create_time)
        .execute(&mut *tx)
        .await?;
        let roles = p
            .categories
            .iter()
            .map(|c| (*c, "envelope"))
            .chain(p.income.iter().map(|c| (*c, "income")));
        let rows: Vec<(i32, (Uuid, &str))> = (0_i32..).zip(roles).collect();
        let mut insert = QueryBuilder::<DB>::new("INSERT INTO plan_categories (plan_id, category_id, role, position) ");
        insert.push_values(rows, |mut row, (position, (category, role))| {
            row.push_bind(p.id)
                .push_bind(category)
                .push_bind(role.to_owned())
                .push_bind(position);
        });
        insert.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn select_plans(
        pool: &sqlx::Pool<DB>,
        user_id: Uuid,
        id: Option<Uuid>,
    ) -> Result<Vec<PlanRecord>, StoreError> {
        let mut conn = pool.acquire().await?;
        let mut query = QueryBuilder::<DB>::new(
            "SELECT id, user_id, name, currency, start_month, overspending, create_time \
             FROM budget_plans WHERE user_id = ",
        );
        query.push_bind(user_id);
        if let Some(id) = id {
            query.push(" AND id = ").push_bind(id);
        }
        query.push(" ORDER BY id");
        let rows: Vec<PlanRow> = query.fetch_all(&mut conn).await?;
        let mut plans = Vec::with_capacity(rows.len());
        for r in rows {
            let links: Vec<(Uuid, String)> = sqlx::query_as(
                "SELECT category_id, role FROM plan_categories WHERE plan_id = $1 ORDER BY position",
            )
            .bind(r.id)
            .fetch_all(&mut *conn)
            .await?;
            let corrupt = |what: &str| StoreError::Corrupt(format!("plan {}: {what}", r.id));
            plans.push(PlanRecord {
                id: r.id,
                user_id: r.user_id,
                name: r.name.clone(),
                currency: r.currency.clone(),
                categories: links.iter().filter(|(_, role)| role == "envelope").map(|(c, _)| *c).collect(),
                income: links.iter().filter(|(_, role)| role == "income").map(|(c, _)| *c).collect(),
                start_month: YearMonth::parse(&r.start_month).map_err(|_| corrupt("start month"))?,
                overspending: Overspending::from_stored(&r.overspending).ok_or_else(|| corrupt("overspending"))?,
                create_time: r.create_time,
            });
        }
        Ok(plans)
    }

    pub(super) async fn remove_plan(pool: &sqlx::Pool<DB>, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let mut tx = begin_write(pool).await?;
        let deleted: Option<(Uuid,)> =
            sqlx::query_as("DELETE FROM budget_plans WHERE id = $1 AND user_id = $2 RETURNING id")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if deleted.is_none() {
            return Err(StoreError::NotFound("budget plan"));
        }
        for table in ["plan_categories", "plan_assignments"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE plan_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn upsert_assignment(
        pool: &sqlx::Pool<DB>,
        user_id: Uuid,
        plan_id: Uuid,
        month: YearMonth,
        category: Uuid,
        amount_minor: i64,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(pool).await?;
        let owned: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM budget_plans WHERE id = $1 AND user_id = $2")
                .bind(plan_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound("budget plan"));
        }
        sqlx::query(
            "INSERT INTO plan_assignments (plan_id, month, category_id, amount_minor) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (plan_id, month, category_id) DO UPDATE SET amount_minor = excluded.amount_minor",
        )
        .bind(plan_id)
        .bind(month.to_string())
        .bind(category)
        .bind(amount_minor)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn select_assignments(
        pool: &sqlx::Pool<DB>,
        plan_id: Uuid,
        through: YearMonth,
    ) -> Result<Vec<(YearMonth, Uuid, i64)>, StoreError> {
        // YYYY-MM sorts as text.
        let rows: Vec<(String, Uuid, i64)> = sqlx::query_as(
            "SELECT month, category_id, amount_minor FROM plan_assignments WHERE plan_id = $1 AND month <= $2",
        )
        .bind(plan_id)
        .bind(through.to_string())
        .fetch_all(pool)
        .await?;
        rows.into_iter()
            .map(|(m, c, a)| {
                let month = YearMonth::parse(&m)
                    .map_err(|_| StoreError::Corrupt(format!("plan {plan_id}: month {m}")))?;
                Ok((month, c, a))
            })
            .collect()
    }

    pub(super) async fn daily_sums(
        pool: &sqlx::Pool<DB>,
        user_id: Uuid,
        currency: &str,
        categories: &[Uuid],
        span: Span,
    ) -> Result<Vec<(Uuid, NaiveDate, i64)>, StoreError> {
        let Some(mut query) = Self::sum_query(user_id, currency, categories, span, true) else {
            return Ok(Vec::new());
        };
        let mut conn = pool.acquire().await?;
        Ok(query.fetch_all(&mut conn).await?)
    }
);
