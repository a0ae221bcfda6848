//! Accounts: open, read, list, change, archive, and the daily sums a
//! balance history is drawn from. Transactions move balances through
//! `SqlStore::apply_balance` (in `mod.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::map_duplicate;
use crate::domain::MAX_BALANCE_MINOR;
use crate::store::{
    AccountPatch, AccountRecord, AccountStore, Balance, Change, Created, EventBuilder, Idempotency,
    StoreError,
};
use freedumb_kit::sql::RunBuilt as _;

#[derive(FromRow)]
struct AccountRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    kind: String,
    currency_code: String,
    opening_balance_minor: i64,
    balance_minor: i64,
    archived: bool,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl From<AccountRow> for AccountRecord {
    fn from(r: AccountRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            kind: r.kind,
            currency: r.currency_code,
            opening_balance_minor: r.opening_balance_minor,
            balance_minor: r.balance_minor,
            archived: r.archived,
            create_time: r.create_time,
            update_time: r.update_time,
        }
    }
}

const COLUMNS: &str = "id, user_id, name, kind, currency_code, opening_balance_minor, \
     balance_minor, archived, create_time, update_time";

sql_store!(
    use AccountStore;

    #[tracing::instrument(skip_all)]
    async fn create_account(
        &self,
        a: &AccountRecord,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        if let Some(replay) =
            Self::claim_request(&mut tx, a.user_id, idempotency, a.create_time).await?
        {
            return Ok(replay);
        }
        sqlx::query(&format!(
            "INSERT INTO accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(a.id)
        .bind(a.user_id)
        .bind(a.name.clone())
        .bind(a.kind.clone())
        .bind(a.currency.clone())
        .bind(a.opening_balance_minor)
        .bind(a.balance_minor)
        .bind(a.archived)
        .bind(a.create_time)
        .bind(a.update_time)
        .execute(&mut *tx)
        .await
        .map_err(map_duplicate("account"))?;
        tx.commit().await?;
        Ok(Created::New)
    }

    #[tracing::instrument(skip_all)]
    async fn get_account(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::fetch_account(&mut conn, user_id, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_accounts(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
        show_archived: bool,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM accounts"));
        query.push(" WHERE user_id = ").push_bind(user_id);
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after);
        }
        if !show_archived {
            query.push(" AND archived = ").push_bind(false);
        }
        query
            .push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(limit));
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<AccountRow> = query.fetch_all(&mut conn).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn update_account(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &AccountPatch,
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<AccountRecord, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        if DB::NAME == "PostgreSQL" {
            // Two updates at once: the second reads the first's result, so
            // each event's `before` is what it changed. (SQLite has one
            // writer at a time.)
            sqlx::query("SELECT id FROM accounts WHERE id = $1 AND user_id = $2 FOR UPDATE")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let current = Self::fetch_account(&mut tx, user_id, id)
            .await?
            .ok_or(StoreError::NotFound("account"))?;
        if current.archived {
            return Err(StoreError::AccountArchived);
        }
        let opening = patch
            .opening_balance_minor
            .unwrap_or(current.opening_balance_minor);
        let delta = opening - current.opening_balance_minor;
        // The opening balance read above must still hold: the balance moves
        // by the difference.
        let updated: Option<AccountRow> = sqlx::query_as(&format!(
            "UPDATE accounts SET name = $1, kind = $2, opening_balance_minor = $3, \
             balance_minor = balance_minor + $4, update_time = $5 \
             WHERE id = $6 AND user_id = $7 AND opening_balance_minor = $8 \
             AND balance_minor + $4 BETWEEN $9 AND $10 RETURNING {COLUMNS}"
        ))
        .bind(patch.name.clone().unwrap_or_else(|| current.name.clone()))
        .bind(patch.kind.clone().unwrap_or_else(|| current.kind.clone()))
        .bind(opening)
        .bind(delta)
        .bind(now)
        .bind(id)
        .bind(user_id)
        .bind(current.opening_balance_minor)
        .bind(-MAX_BALANCE_MINOR)
        .bind(MAX_BALANCE_MINOR)
        .fetch_optional(&mut *tx)
        .await?;
        let updated: AccountRecord = updated.ok_or(StoreError::BalanceOutOfRange)?.into();
        let balances = if delta == 0 {
            Vec::new()
        } else {
            vec![Balance {
                account_id: id,
                balance_minor: updated.balance_minor,
                currency: updated.currency.clone(),
            }]
        };
        let change = Change::AccountUpdated {
            before: &current,
            after: &updated,
        };
        Self::insert_event(&mut tx, events(&change, &balances), now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all)]
    async fn archive_account(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<AccountRecord, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "UPDATE accounts SET archived = $1, update_time = $2 \
             WHERE id = $3 AND user_id = $4 AND archived = $5",
        )
        .bind(true)
        .bind(now)
        .bind(id)
        .bind(user_id)
        .bind(false)
        .execute(&mut *tx)
        .await?;
        let account = Self::fetch_account(&mut tx, user_id, id)
            .await?
            .ok_or(StoreError::NotFound("account"))?;
        tx.commit().await?;
        Ok(account)
    }

    #[tracing::instrument(skip_all)]
    async fn list_daily_sums(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(i64, Vec<(NaiveDate, i64)>), StoreError> {
        // One snapshot for both sums (a SQLite transaction is one).
        let mut tx = if DB::NAME == "SQLite" {
            self.pool.begin().await?
        } else {
            self.pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?
        };
        let (before,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM transactions \
             WHERE user_id = $1 AND account_id = $2 AND booking_date < $3",
        )
        .bind(user_id)
        .bind(account_id)
        .bind(start)
        .fetch_one(&mut *tx)
        .await?;
        let days: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT booking_date, CAST(SUM(amount_minor) AS BIGINT) FROM transactions \
             WHERE user_id = $1 AND account_id = $2 AND booking_date >= $3 AND booking_date <= $4 \
             GROUP BY booking_date ORDER BY booking_date",
        )
        .bind(user_id)
        .bind(account_id)
        .bind(start)
        .bind(end)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((before, days))
    }
);

sql_store!(
    /// One account, on the connection (or in the transaction) given.
    pub(super) async fn fetch_account(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM accounts WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
        Ok(row.map(Into::into))
    }
);
