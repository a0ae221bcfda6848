//! Savings goals: create, read, list, change, delete, and the targets they
//! reached.

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::SqlStore;
use crate::domain::GoalSource;
use crate::store::{GoalRecord, StoreError};

#[derive(FromRow)]
struct GoalRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    currency: String,
    target_minor: i64,
    target_date: NaiveDate,
    start_date: NaiveDate,
    account_id: Option<Uuid>,
    category_id: Option<Uuid>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl TryFrom<GoalRow> for GoalRecord {
    type Error = StoreError;

    fn try_from(r: GoalRow) -> Result<Self, StoreError> {
        let source = match (r.account_id, r.category_id) {
            (Some(account), None) => GoalSource::Account(account),
            (None, Some(category)) => GoalSource::Category(category),
            _ => return Err(StoreError::Corrupt(format!("goal {}: source", r.id))),
        };
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            currency: r.currency,
            target_minor: r.target_minor,
            target_date: r.target_date,
            start_date: r.start_date,
            source,
            create_time: r.create_time,
            update_time: r.update_time,
        })
    }
}

const COLUMNS: &str = "id, user_id, name, currency, target_minor, target_date, start_date, \
     account_id, category_id, create_time, update_time";

fn decode(rows: Vec<GoalRow>) -> Result<Vec<GoalRecord>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    pub(super) async fn insert_goal(
        pool: &sqlx::Pool<DB>,
        g: &GoalRecord,
        reached: Option<i64>,
    ) -> Result<(), StoreError> {
        let (account, category) = match g.source {
            GoalSource::Account(id) => (Some(id), None),
            GoalSource::Category(id) => (None, Some(id)),
        };
        let mut tx = begin_write(pool).await?;
        sqlx::query(
            "INSERT INTO goals (id, user_id, name, currency, target_minor, target_date, start_date, \
             account_id, category_id, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(g.id)
        .bind(g.user_id)
        .bind(&g.name)
        .bind(&g.currency)
        .bind(g.target_minor)
        .bind(g.target_date)
        .bind(g.start_date)
        .bind(account)
        .bind(category)
        .bind(g.create_time)
        .bind(g.update_time)
        .execute(&mut *tx)
        .await?;
        if let Some(saved) = reached {
            Self::record_reached(&mut tx, g, saved, false, g.update_time).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that `goal` reached its target with `saved`; whether this is
    /// the first time for this target (`announced`: an event goes out).
    pub(super) async fn record_reached(
        conn: &mut DB::Connection,
        goal: &GoalRecord,
        saved: i64,
        announced: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let new: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO goals_reached (goal_id, target_minor, saved_minor, announced, create_time) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (goal_id, target_minor) DO NOTHING \
             RETURNING goal_id",
        )
        .bind(goal.id)
        .bind(goal.target_minor)
        .bind(saved)
        .bind(announced)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(new.is_some())
    }

    pub(super) async fn select_goals(
        pool: &sqlx::Pool<DB>,
        user_id: Uuid,
        id: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<GoalRecord>, StoreError> {
        let mut conn = pool.acquire().await?;
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM goals WHERE user_id = "));
        query.push_bind(user_id);
        if let Some(id) = id {
            query.push(" AND id = ").push_bind(id);
        }
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<GoalRow> = query.fetch_all(&mut conn).await?;
        decode(rows)
    }

    pub(super) async fn change_goal(
        pool: &sqlx::Pool<DB>,
        g: &GoalRecord,
        reached: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(pool).await?;
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE goals SET name = $1, target_minor = $2, target_date = $3, update_time = $4 \
             WHERE id = $5 AND user_id = $6 RETURNING id",
        )
        .bind(&g.name)
        .bind(g.target_minor)
        .bind(g.target_date)
        .bind(g.update_time)
        .bind(g.id)
        .bind(g.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(StoreError::NotFound("goal"));
        }
        if let Some(saved) = reached {
            Self::record_reached(&mut tx, g, saved, false, g.update_time).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn remove_goal(pool: &sqlx::Pool<DB>, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let mut tx = begin_write(pool).await?;
        let deleted: Option<(Uuid,)> =
            sqlx::query_as("DELETE FROM goals WHERE id = $1 AND user_id = $2 RETURNING id")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if deleted.is_none() {
            return Err(StoreError::NotFound("goal"));
        }
        sqlx::query("DELETE FROM goals_reached WHERE goal_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user's goals on `accounts` or `categories`.
    pub(super) async fn goals_on(
        conn: &mut DB::Connection,
        user_id: Uuid,
        accounts: &[Uuid],
        categories: &[Uuid],
    ) -> Result<Vec<GoalRecord>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM goals WHERE user_id = "));
        query.push_bind(user_id).push(" AND (");
        let mut any = false;
        for (column, ids) in [("account_id", accounts), ("category_id", categories)] {
            if ids.is_empty() {
                continue;
            }
            if any {
                query.push(" OR ");
            }
            any = true;
            query.push(format!("{column} IN ("));
            let mut list = query.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            query.push(")");
        }
        if !any {
            return Ok(Vec::new());
        }
        query.push(") ORDER BY id");
        let rows: Vec<GoalRow> = query.fetch_all(&mut *conn).await?;
        decode(rows)
    }
);
