//! The ledger store in SQL both Postgres and SQLite accept. Writes run in
//! one transaction each: on SQLite `BEGIN IMMEDIATE` (the write lock up
//! front, so two writers never deadlock upgrading), on Postgres row locks
//! taken in a fixed order (accounts by id). "Rows affected" is read through
//! `RETURNING`, which both backends support.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use uuid::Uuid;

use super::{
    AccountPatch, AccountRecord, CategoryRecord, Change, Created, EventBuilder, Idempotency,
    ImportCounts, LedgerStore, OutboxEvent, OutboxRow, RuleRecord, SplitRecord, StoreError,
    TransactionCursor, TransactionFilter, TransactionRecord, TransferRecord,
};
use crate::domain::MAX_BALANCE_MINOR;
use crate::recurrence::{Frequency, Schedule};

/// [`LedgerStore`] over a sqlx pool of either backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    fn is_sqlite() -> bool {
        DB::NAME == "SQLite"
    }

    /// A write transaction.
    async fn write(&self) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
        if Self::is_sqlite() {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        }
    }
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct AccountRow {
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

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct CategoryRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    kind: String,
    parent_id: Option<Uuid>,
    create_time: DateTime<Utc>,
}

impl From<CategoryRow> for CategoryRecord {
    fn from(r: CategoryRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            kind: r.kind,
            parent_id: r.parent_id,
            create_time: r.create_time,
        }
    }
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct TransactionRow {
    id: Uuid,
    user_id: Uuid,
    account_id: Uuid,
    currency_code: String,
    amount_minor: i64,
    booking_date: NaiveDate,
    description: String,
    merchant: String,
    category_id: Option<Uuid>,
    has_splits: bool,
    tags: String,
    notes: String,
    transfer_id: Option<Uuid>,
    recurring_rule_id: Option<Uuid>,
    occurrence_date: Option<NaiveDate>,
    import_key: Option<Vec<u8>>,
    revision: i64,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl TransactionRow {
    fn into_record(self, splits: Vec<SplitRecord>) -> Result<TransactionRecord, StoreError> {
        let tags: Vec<String> = serde_json::from_str(&self.tags)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?;
        Ok(TransactionRecord {
            id: self.id,
            user_id: self.user_id,
            account_id: self.account_id,
            currency: self.currency_code,
            amount_minor: self.amount_minor,
            date: self.booking_date,
            description: self.description,
            merchant: self.merchant,
            category_id: self.category_id,
            splits,
            tags,
            notes: self.notes,
            transfer_id: self.transfer_id,
            recurring: self.recurring_rule_id.zip(self.occurrence_date),
            import_key: self.import_key,
            revision: self.revision,
            create_time: self.create_time,
            update_time: self.update_time,
        })
    }
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct SplitRow {
    transaction_id: Uuid,
    category_id: Uuid,
    amount_minor: i64,
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct TransferRow {
    id: Uuid,
    user_id: Uuid,
    from_transaction_id: Uuid,
    to_transaction_id: Uuid,
    exchange_rate: String,
    description: String,
    create_time: DateTime<Utc>,
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct RuleRow {
    id: Uuid,
    user_id: Uuid,
    account_id: Uuid,
    currency_code: String,
    amount_minor: i64,
    description: String,
    merchant: String,
    category_id: Option<Uuid>,
    tags: String,
    frequency: String,
    interval_count: i32,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    next_index: i64,
    next_date: Option<NaiveDate>,
    create_time: DateTime<Utc>,
}

impl TryFrom<RuleRow> for RuleRecord {
    type Error = StoreError;

    fn try_from(r: RuleRow) -> Result<Self, StoreError> {
        let decode = |what: &str| {
            StoreError::Database(sqlx::Error::Decode(
                format!("recurring rule {}: bad {what}", r.id).into(),
            ))
        };
        let frequency =
            Frequency::from_str_name(&r.frequency).ok_or_else(|| decode("frequency"))?;
        let interval = u32::try_from(r.interval_count).map_err(|_| decode("interval"))?;
        let tags = serde_json::from_str(&r.tags).map_err(|_| decode("tags"))?;
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            account_id: r.account_id,
            currency: r.currency_code,
            amount_minor: r.amount_minor,
            description: r.description,
            merchant: r.merchant,
            category_id: r.category_id,
            tags,
            schedule: Schedule {
                frequency,
                interval,
                start: r.start_date,
                end: r.end_date,
            },
            next_index: r.next_index,
            next_date: r.next_date,
            create_time: r.create_time,
        })
    }
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct IdempotencyRow {
    request_hash: Vec<u8>,
    response: Vec<u8>,
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct OutboxDbRow {
    seq: i64,
    event_id: Uuid,
    user_id: Uuid,
    kind: String,
    payload: Vec<u8>,
}

const ACCOUNT_COLUMNS: &str = "SELECT id, user_id, name, kind, currency_code, \
     opening_balance_minor, balance_minor, archived, create_time, update_time FROM accounts";
const CATEGORY_COLUMNS: &str =
    "SELECT id, user_id, name, kind, parent_id, create_time FROM categories";
const TRANSACTION_COLUMNS: &str = "SELECT t.id, t.user_id, t.account_id, t.currency_code, \
     t.amount_minor, t.booking_date, t.description, t.merchant, t.category_id, t.has_splits, \
     t.tags, t.notes, t.transfer_id, t.recurring_rule_id, t.occurrence_date, t.import_key, \
     t.revision, t.create_time, t.update_time FROM transactions t";
const RULE_COLUMNS: &str = "SELECT id, user_id, account_id, currency_code, amount_minor, \
     description, merchant, category_id, tags, frequency, interval_count, start_date, end_date, \
     next_index, next_date, create_time FROM recurring_rules";
const TRANSFER_COLUMNS: &str = "SELECT id, user_id, from_transaction_id, to_transaction_id, \
     exchange_rate, description, create_time FROM transfers";

fn map_duplicate(entity: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(entity),
        _ => StoreError::Database(e),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

/// The lower-case text the `text` filter searches.
fn search_text(t: &TransactionRecord) -> String {
    format!("{}\n{}", t.description, t.merchant).to_lowercase()
}

/// `text` as a LIKE pattern matching it anywhere (with `\` escaping).
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A bind value of a query built at run time.
enum Arg {
    Uuid(Uuid),
    Date(NaiveDate),
    Int(i64),
    Text(String),
    Bool(bool),
}

/// A query built at run time: text with `$n` placeholders (which both
/// backends accept) and the values for them.
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn new(text: String) -> Self {
        Self {
            text,
            args: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    async fn fetch_all<DB, O>(self, pool: &Pool<DB>) -> Result<Vec<O>, sqlx::Error>
    where
        DB: Database,
        for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> Uuid: Encode<'q, DB> + Type<DB>,
        for<'q> String: Encode<'q, DB> + Type<DB>,
        for<'q> i64: Encode<'q, DB> + Type<DB>,
        for<'q> bool: Encode<'q, DB> + Type<DB>,
        for<'q> NaiveDate: Encode<'q, DB> + Type<DB>,
        O: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let mut query = sqlx::query_as::<DB, O>(&self.text);
        for arg in self.args {
            query = match arg {
                Arg::Uuid(v) => query.bind(v),
                Arg::Date(v) => query.bind(v),
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bool(v) => query.bind(v),
            };
        }
        query.fetch_all(pool).await
    }
}

#[async_trait]
impl<DB> LedgerStore for SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> NaiveDate: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB>,
    for<'q> Option<NaiveDate>: Encode<'q, DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB>,
    for<'r> AccountRow: FromRow<'r, DB::Row>,
    for<'r> CategoryRow: FromRow<'r, DB::Row>,
    for<'r> TransactionRow: FromRow<'r, DB::Row>,
    for<'r> SplitRow: FromRow<'r, DB::Row>,
    for<'r> TransferRow: FromRow<'r, DB::Row>,
    for<'r> RuleRow: FromRow<'r, DB::Row>,
    for<'r> IdempotencyRow: FromRow<'r, DB::Row>,
    for<'r> OutboxDbRow: FromRow<'r, DB::Row>,
    for<'r> (Uuid,): FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (bool,): FromRow<'r, DB::Row>,
    for<'r> (NaiveDate, i64): FromRow<'r, DB::Row>,
{
    #[tracing::instrument(skip_all)]
    async fn ensure_profile(
        &self,
        user_id: Uuid,
        defaults: &[CategoryRecord],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let created: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO profiles (user_id, create_time) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_none() {
            return Ok(false);
        }
        for category in defaults {
            Self::insert_category(&mut tx, category).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn create_account(
        &self,
        a: &AccountRecord,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StoreError> {
        let mut tx = self.write().await?;
        if let Some(replay) =
            Self::claim_request(&mut tx, a.user_id, idempotency, a.create_time).await?
        {
            return Ok(replay);
        }
        sqlx::query(
            "INSERT INTO accounts (id, user_id, name, kind, currency_code, opening_balance_minor, \
             balance_minor, archived, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
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
        let row: Option<AccountRow> =
            sqlx::query_as(&format!("{ACCOUNT_COLUMNS} WHERE id = $1 AND user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    #[tracing::instrument(skip_all)]
    async fn list_accounts(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
        show_archived: bool,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let mut q = Sql::new(format!("{ACCOUNT_COLUMNS} WHERE user_id = "));
        q.bind(Arg::Uuid(user_id));
        if let Some(after) = after {
            q.push(" AND id > ").bind(Arg::Uuid(after));
        }
        if !show_archived {
            q.push(" AND archived = ").bind(Arg::Bool(false));
        }
        q.push(" ORDER BY id LIMIT ")
            .bind(Arg::Int(i64::from(limit)));
        let rows: Vec<AccountRow> = q.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn update_account(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &AccountPatch,
        now: DateTime<Utc>,
    ) -> Result<AccountRecord, StoreError> {
        let mut tx = self.write().await?;
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
        let updated: Option<AccountRow> = sqlx::query_as(
            "UPDATE accounts SET name = $1, kind = $2, opening_balance_minor = $3, \
             balance_minor = balance_minor + $4, update_time = $5 \
             WHERE id = $6 AND user_id = $7 AND opening_balance_minor = $8 \
             AND balance_minor + $4 BETWEEN $9 AND $10 \
             RETURNING id, user_id, name, kind, currency_code, opening_balance_minor, \
             balance_minor, archived, create_time, update_time",
        )
        .bind(patch.name.clone().unwrap_or(current.name))
        .bind(patch.kind.clone().unwrap_or(current.kind))
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
        let updated = updated.ok_or(StoreError::BalanceOutOfRange)?;
        tx.commit().await?;
        Ok(updated.into())
    }

    #[tracing::instrument(skip_all)]
    async fn archive_account(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<AccountRecord, StoreError> {
        let mut tx = self.write().await?;
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
    async fn daily_sums(
        &self,
        user_id: Uuid,
        account_id: Uuid,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(i64, Vec<(NaiveDate, i64)>), StoreError> {
        // One snapshot for both sums.
        let mut tx = if Self::is_sqlite() {
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

    #[tracing::instrument(skip_all)]
    async fn list_categories(&self, user_id: Uuid) -> Result<Vec<CategoryRecord>, StoreError> {
        let rows: Vec<CategoryRow> = sqlx::query_as(&format!(
            "{CATEGORY_COLUMNS} WHERE user_id = $1 ORDER BY id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn create_category(&self, category: &CategoryRecord) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        Self::check_parent(&mut tx, category).await?;
        Self::insert_category(&mut tx, category).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn update_category(&self, category: &CategoryRecord) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        Self::check_parent(&mut tx, category).await?;
        if category.parent_id.is_some() {
            let children: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM categories WHERE user_id = $1 AND parent_id = $2",
            )
            .bind(category.user_id)
            .bind(category.id)
            .fetch_one(&mut *tx)
            .await?;
            if children.0 > 0 {
                return Err(StoreError::Precondition(
                    "a category with subcategories cannot become a subcategory".into(),
                ));
            }
        }
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE categories SET name = $1, parent_id = $2 WHERE id = $3 AND user_id = $4 \
             RETURNING id",
        )
        .bind(category.name.clone())
        .bind(category.parent_id)
        .bind(category.id)
        .bind(category.user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_duplicate("category"))?;
        if updated.is_none() {
            return Err(StoreError::NotFound("category"));
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_category(
        &self,
        user_id: Uuid,
        id: Uuid,
        reassign_to: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        if Self::fetch_category(&mut tx, user_id, id).await?.is_none() {
            return Err(StoreError::NotFound("category"));
        }
        if let Some(target) = reassign_to
            && (target == id
                || Self::fetch_category(&mut tx, user_id, target)
                    .await?
                    .is_none())
        {
            return Err(StoreError::UnknownCategory(target));
        }
        let (children,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM categories WHERE user_id = $1 AND parent_id = $2")
                .bind(user_id)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if children > 0 {
            return Err(StoreError::Precondition(
                "the category has subcategories; delete or move them first".into(),
            ));
        }
        let moved: Vec<(Uuid,)> = sqlx::query_as(
            "UPDATE transactions SET category_id = $1, update_time = $2, revision = revision + 1 \
             WHERE user_id = $3 AND category_id = $4 RETURNING id",
        )
        .bind(reassign_to)
        .bind(now)
        .bind(user_id)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut moved: Vec<Uuid> = moved.into_iter().map(|(id,)| id).collect();
        // Split transactions: the split moves (or, without a target, the
        // transaction loses its categories: a split needs a category each).
        let split: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT DISTINCT transaction_id FROM transaction_splits \
             WHERE user_id = $1 AND category_id = $2",
        )
        .bind(user_id)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for (transaction_id,) in split {
            match reassign_to {
                Some(target) => {
                    sqlx::query(
                        "UPDATE transaction_splits SET category_id = $1 \
                         WHERE transaction_id = $2 AND category_id = $3",
                    )
                    .bind(target)
                    .bind(transaction_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM transaction_splits WHERE transaction_id = $1")
                        .bind(transaction_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE transactions SET has_splits = $1 WHERE id = $2")
                        .bind(false)
                        .bind(transaction_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query(
                "UPDATE transactions SET update_time = $1, revision = revision + 1 WHERE id = $2",
            )
            .bind(now)
            .bind(transaction_id)
            .execute(&mut *tx)
            .await?;
            moved.push(transaction_id);
        }
        sqlx::query(
            "UPDATE recurring_rules SET category_id = $1 WHERE user_id = $2 AND category_id = $3",
        )
        .bind(reassign_to)
        .bind(user_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM categories WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        moved.sort();
        moved.dedup();
        Ok(moved.len() as u64)
    }

    #[tracing::instrument(skip_all)]
    async fn create_transaction(
        &self,
        t: &TransactionRecord,
        idempotency: Option<&Idempotency>,
        events: EventBuilder<'_>,
    ) -> Result<Created, StoreError> {
        let mut tx = self.write().await?;
        if let Some(replay) =
            Self::claim_request(&mut tx, t.user_id, idempotency, t.create_time).await?
        {
            return Ok(replay);
        }
        Self::check_categories(&mut tx, t.user_id, &t.category_ids()).await?;
        Self::insert_transaction(&mut tx, t).await?;
        Self::insert_event(
            &mut tx,
            &events(&Change::TransactionCreated(t)),
            t.create_time,
        )
        .await?;
        // The account row stays locked from here to the commit: keep it short.
        Self::apply_balance(
            &mut tx,
            t.user_id,
            t.account_id,
            t.amount_minor,
            t.create_time,
        )
        .await?;
        tx.commit().await?;
        Ok(Created::New)
    }

    #[tracing::instrument(skip_all)]
    async fn get_transaction(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::fetch_transaction(&mut conn, user_id, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_transactions(
        &self,
        user_id: Uuid,
        filter: &TransactionFilter,
        cursor: Option<TransactionCursor>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        let mut q = Sql::new(format!("{TRANSACTION_COLUMNS} WHERE t.user_id = "));
        q.bind(Arg::Uuid(user_id));
        if let Some(account) = filter.account_id {
            q.push(" AND t.account_id = ").bind(Arg::Uuid(account));
        }
        if let Some(category) = filter.category_id {
            q.push(" AND (t.category_id = ").bind(Arg::Uuid(category));
            q.push(" OR (t.has_splits = ").bind(Arg::Bool(true));
            q.push(
                " AND EXISTS (SELECT 1 FROM transaction_splits s \
                 WHERE s.transaction_id = t.id AND s.category_id = ",
            )
            .bind(Arg::Uuid(category))
            .push(")))");
        }
        if let Some(start) = filter.start_date {
            q.push(" AND t.booking_date >= ").bind(Arg::Date(start));
        }
        if let Some(end) = filter.end_date {
            q.push(" AND t.booking_date <= ").bind(Arg::Date(end));
        }
        if let Some(min) = filter.min_amount_minor {
            q.push(" AND t.amount_minor >= ").bind(Arg::Int(min));
        }
        if let Some(max) = filter.max_amount_minor {
            q.push(" AND t.amount_minor <= ").bind(Arg::Int(max));
        }
        if let Some(text) = &filter.text {
            q.push(" AND t.search_text LIKE ")
                .bind(Arg::Text(like_pattern(text)))
                .push(" ESCAPE '\\'");
        }
        for tag in &filter.tags {
            q.push(
                " AND EXISTS (SELECT 1 FROM transaction_tags g \
                 WHERE g.transaction_id = t.id AND g.tag = ",
            )
            .bind(Arg::Text(tag.clone()))
            .push(")");
        }
        if let Some(c) = cursor {
            q.push(" AND (t.booking_date < ").bind(Arg::Date(c.date));
            q.push(" OR (t.booking_date = ").bind(Arg::Date(c.date));
            q.push(" AND t.id < ").bind(Arg::Uuid(c.id)).push("))");
        }
        q.push(" ORDER BY t.booking_date DESC, t.id DESC LIMIT ")
            .bind(Arg::Int(i64::from(limit)));
        let rows: Vec<TransactionRow> = q.fetch_all(&self.pool).await?;
        let mut conn = self.pool.acquire().await?;
        Self::with_splits(&mut conn, rows).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_transaction(
        &self,
        before: &TransactionRecord,
        after: &TransactionRecord,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        Self::check_categories(&mut tx, after.user_id, &after.category_ids()).await?;
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE transactions SET amount_minor = $1, booking_date = $2, description = $3, \
             merchant = $4, search_text = $5, category_id = $6, has_splits = $7, tags = $8, \
             notes = $9, revision = $10, update_time = $11 \
             WHERE id = $12 AND user_id = $13 AND revision = $14 RETURNING id",
        )
        .bind(after.amount_minor)
        .bind(after.date)
        .bind(after.description.clone())
        .bind(after.merchant.clone())
        .bind(search_text(after))
        .bind(after.category_id)
        .bind(!after.splits.is_empty())
        .bind(json(&after.tags)?)
        .bind(after.notes.clone())
        .bind(after.revision)
        .bind(after.update_time)
        .bind(before.id)
        .bind(before.user_id)
        .bind(before.revision)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(StoreError::Conflict);
        }
        Self::apply_balance(
            &mut tx,
            before.user_id,
            before.account_id,
            after.amount_minor - before.amount_minor,
            after.update_time,
        )
        .await?;
        if before.splits != after.splits {
            sqlx::query("DELETE FROM transaction_splits WHERE transaction_id = $1")
                .bind(before.id)
                .execute(&mut *tx)
                .await?;
            Self::insert_splits(&mut tx, after).await?;
        }
        if before.tags != after.tags {
            sqlx::query("DELETE FROM transaction_tags WHERE transaction_id = $1")
                .bind(before.id)
                .execute(&mut *tx)
                .await?;
            Self::insert_tags(&mut tx, after).await?;
        }
        Self::insert_event(
            &mut tx,
            &events(&Change::TransactionUpdated { before, after }),
            after.update_time,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_transaction(
        &self,
        user_id: Uuid,
        id: Uuid,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let t = Self::fetch_transaction(&mut tx, user_id, id)
            .await?
            .ok_or(StoreError::NotFound("transaction"))?;
        if let Some(transfer) = t.transfer_id {
            return Err(StoreError::Precondition(format!(
                "the transaction is a leg of transfer {transfer}; delete the transfer"
            )));
        }
        let now = super::now();
        Self::apply_balance(&mut tx, user_id, t.account_id, -t.amount_minor, now).await?;
        Self::remove_transaction(&mut tx, id).await?;
        Self::insert_event(&mut tx, &events(&Change::TransactionDeleted(&t)), now).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn create_transfer(
        &self,
        transfer: &TransferRecord,
        idempotency: Option<&Idempotency>,
        events: EventBuilder<'_>,
    ) -> Result<Created, StoreError> {
        let (from, to) = (&transfer.from, &transfer.to);
        let mut tx = self.write().await?;
        if let Some(replay) =
            Self::claim_request(&mut tx, transfer.user_id, idempotency, transfer.create_time)
                .await?
        {
            return Ok(replay);
        }
        Self::insert_transaction(&mut tx, from).await?;
        Self::insert_transaction(&mut tx, to).await?;
        sqlx::query(
            "INSERT INTO transfers (id, user_id, from_account_id, to_account_id, \
             from_transaction_id, to_transaction_id, amount_minor, received_minor, exchange_rate, \
             booking_date, description, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(transfer.id)
        .bind(transfer.user_id)
        .bind(from.account_id)
        .bind(to.account_id)
        .bind(from.id)
        .bind(to.id)
        .bind(-from.amount_minor)
        .bind(to.amount_minor)
        .bind(transfer.exchange_rate.clone())
        .bind(from.date)
        .bind(transfer.description.clone())
        .bind(transfer.create_time)
        .execute(&mut *tx)
        .await?;
        Self::insert_event(
            &mut tx,
            &events(&Change::TransferCreated(transfer)),
            transfer.create_time,
        )
        .await?;
        // Lock the two accounts in id order, so opposite transfers never
        // wait on each other in a cycle.
        let mut legs = [from, to];
        legs.sort_by_key(|leg| leg.account_id);
        for leg in legs {
            Self::apply_balance(
                &mut tx,
                leg.user_id,
                leg.account_id,
                leg.amount_minor,
                transfer.create_time,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Created::New)
    }

    #[tracing::instrument(skip_all)]
    async fn get_transfer(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransferRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::fetch_transfer(&mut conn, user_id, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn delete_transfer(
        &self,
        user_id: Uuid,
        id: Uuid,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let transfer = Self::fetch_transfer(&mut tx, user_id, id)
            .await?
            .ok_or(StoreError::NotFound("transfer"))?;
        let now = super::now();
        let mut legs = [&transfer.from, &transfer.to];
        legs.sort_by_key(|leg| leg.account_id);
        for leg in legs {
            Self::apply_balance(&mut tx, user_id, leg.account_id, -leg.amount_minor, now).await?;
        }
        sqlx::query("DELETE FROM transfers WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        Self::remove_transaction(&mut tx, transfer.from.id).await?;
        Self::remove_transaction(&mut tx, transfer.to.id).await?;
        Self::insert_event(&mut tx, &events(&Change::TransferDeleted(&transfer)), now).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn create_rule(
        &self,
        r: &RuleRecord,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StoreError> {
        let mut tx = self.write().await?;
        if let Some(replay) =
            Self::claim_request(&mut tx, r.user_id, idempotency, r.create_time).await?
        {
            return Ok(replay);
        }
        let account = Self::fetch_account(&mut tx, r.user_id, r.account_id)
            .await?
            .ok_or(StoreError::NotFound("account"))?;
        if account.archived {
            return Err(StoreError::AccountArchived);
        }
        let categories: Vec<Uuid> = r.category_id.into_iter().collect();
        Self::check_categories(&mut tx, r.user_id, &categories).await?;
        sqlx::query(
            "INSERT INTO recurring_rules (id, user_id, account_id, currency_code, amount_minor, \
             description, merchant, category_id, tags, frequency, interval_count, start_date, \
             end_date, next_index, next_date, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(r.id)
        .bind(r.user_id)
        .bind(r.account_id)
        .bind(r.currency.clone())
        .bind(r.amount_minor)
        .bind(r.description.clone())
        .bind(r.merchant.clone())
        .bind(r.category_id)
        .bind(json(&r.tags)?)
        .bind(r.schedule.frequency.as_str().to_owned())
        .bind(i32::try_from(r.schedule.interval).unwrap_or(i32::MAX))
        .bind(r.schedule.start)
        .bind(r.schedule.end)
        .bind(r.next_index)
        .bind(r.next_date)
        .bind(r.create_time)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Created::New)
    }

    #[tracing::instrument(skip_all)]
    async fn get_rule(&self, user_id: Uuid, id: Uuid) -> Result<Option<RuleRecord>, StoreError> {
        let row: Option<RuleRow> =
            sqlx::query_as(&format!("{RULE_COLUMNS} WHERE id = $1 AND user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(TryInto::try_into).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_rules(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RuleRecord>, StoreError> {
        let mut q = Sql::new(format!("{RULE_COLUMNS} WHERE user_id = "));
        q.bind(Arg::Uuid(user_id));
        if let Some(after) = after {
            q.push(" AND id > ").bind(Arg::Uuid(after));
        }
        q.push(" ORDER BY id LIMIT ")
            .bind(Arg::Int(i64::from(limit)));
        let rows: Vec<RuleRow> = q.fetch_all(&self.pool).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete_rule(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let deleted: Option<(Uuid,)> = sqlx::query_as(
            "DELETE FROM recurring_rules WHERE id = $1 AND user_id = $2 RETURNING id",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        deleted
            .map(|_| ())
            .ok_or(StoreError::NotFound("recurring rule"))
    }

    #[tracing::instrument(skip_all)]
    async fn due_rules(&self, today: NaiveDate, limit: u32) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM recurring_rules WHERE next_date IS NOT NULL AND next_date <= $1 \
             ORDER BY next_date LIMIT $2",
        )
        .bind(today)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn record_next_occurrence(
        &self,
        rule_id: Uuid,
        today: NaiveDate,
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        let mut tx = self.write().await?;
        let row: Option<RuleRow> = sqlx::query_as(&format!("{RULE_COLUMNS} WHERE id = $1"))
            .bind(rule_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(rule) = row.map(RuleRecord::try_from).transpose()? else {
            return Ok(None);
        };
        let Some(date) = rule.next_date.filter(|d| *d <= today) else {
            return Ok(None);
        };
        let next_index = rule.next_index + 1;
        let next_date = u64::try_from(next_index)
            .ok()
            .and_then(|n| rule.schedule.occurrence(n));
        // Claim the occurrence: of two workers, one moves the rule on.
        let claimed: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE recurring_rules SET next_index = $1, next_date = $2 \
             WHERE id = $3 AND next_index = $4 RETURNING id",
        )
        .bind(next_index)
        .bind(next_date)
        .bind(rule_id)
        .bind(rule.next_index)
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            return Ok(None);
        }
        let account = Self::fetch_account(&mut tx, rule.user_id, rule.account_id).await?;
        if account.is_none_or(|a| a.archived) {
            // The account takes no new transactions: the rule ends.
            sqlx::query("UPDATE recurring_rules SET next_date = NULL WHERE id = $1")
                .bind(rule_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(%rule_id, "recurring rule ended: its account is archived");
            return Ok(None);
        }
        let t = TransactionRecord {
            id: Uuid::now_v7(),
            user_id: rule.user_id,
            account_id: rule.account_id,
            currency: rule.currency.clone(),
            amount_minor: rule.amount_minor,
            date,
            description: rule.description.clone(),
            merchant: rule.merchant.clone(),
            category_id: rule.category_id,
            splits: Vec::new(),
            tags: rule.tags.clone(),
            notes: String::new(),
            transfer_id: None,
            recurring: Some((rule.id, date)),
            import_key: None,
            revision: 0,
            create_time: now,
            update_time: now,
        };
        match Self::apply_balance(&mut tx, t.user_id, t.account_id, t.amount_minor, now).await {
            Ok(()) => {}
            Err(StoreError::BalanceOutOfRange) => {
                tracing::warn!(%rule_id, %date, "recurring occurrence skipped: balance out of range");
                tx.commit().await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        Self::insert_transaction(&mut tx, &t).await?;
        Self::insert_event(&mut tx, &events(&Change::TransactionCreated(&t)), now).await?;
        tx.commit().await?;
        Ok(Some(t))
    }

    #[tracing::instrument(skip_all)]
    async fn import_transactions(
        &self,
        transactions: &[TransactionRecord],
        events: EventBuilder<'_>,
    ) -> Result<ImportCounts, StoreError> {
        let Some(first) = transactions.first() else {
            return Ok(ImportCounts::default());
        };
        let mut tx = self.write().await?;
        let mut counts = ImportCounts::default();
        let mut total: i64 = 0;
        let mut categories: Vec<Uuid> = transactions.iter().filter_map(|t| t.category_id).collect();
        categories.sort();
        categories.dedup();
        Self::check_categories(&mut tx, first.user_id, &categories).await?;
        for t in transactions {
            if !Self::insert_row(&mut tx, t, true).await? {
                counts.skipped += 1;
                continue;
            }
            counts.imported += 1;
            total += t.amount_minor;
            Self::insert_tags(&mut tx, t).await?;
            Self::insert_event(
                &mut tx,
                &events(&Change::TransactionCreated(t)),
                t.create_time,
            )
            .await?;
        }
        Self::apply_balance(
            &mut tx,
            first.user_id,
            first.account_id,
            total,
            first.create_time,
        )
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    #[tracing::instrument(skip_all)]
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE transactions")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn claim_outbox(
        &self,
        token: Uuid,
        now_ms: i64,
        claim_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        // The outer condition is checked again on Postgres after waiting for
        // a row another relay is claiming, so no row is claimed twice.
        let mut rows: Vec<OutboxDbRow> = sqlx::query_as(
            "UPDATE outbox SET claim_token = $1, claim_until_ms = $2 \
             WHERE claim_until_ms < $3 AND seq IN \
             (SELECT seq FROM outbox WHERE claim_until_ms < $3 ORDER BY seq LIMIT $4) \
             RETURNING seq, event_id, user_id, kind, payload",
        )
        .bind(token)
        .bind(claim_until_ms)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.sort_by_key(|r| r.seq);
        Ok(rows
            .into_iter()
            .map(|r| OutboxRow {
                seq: r.seq,
                event: OutboxEvent {
                    event_id: r.event_id,
                    user_id: r.user_id,
                    kind: r.kind,
                    payload: r.payload,
                },
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_outbox(&self, token: Uuid, seqs: &[i64]) -> Result<(), StoreError> {
        for chunk in seqs.chunks(500) {
            let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM outbox WHERE claim_token = $1 AND seq IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(token);
            for seq in chunk {
                query = query.bind(*seq);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn outbox_len(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }
}

const INSERT_TRANSACTION: &str = "INSERT INTO transactions (id, user_id, account_id, \
     currency_code, amount_minor, booking_date, description, merchant, search_text, category_id, \
     has_splits, tags, notes, transfer_id, recurring_rule_id, occurrence_date, import_key, \
     revision, create_time, update_time) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20)";

/// Steps shared by several store methods, run on one connection (inside
/// the method's transaction).
impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> NaiveDate: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB>,
    for<'q> Option<NaiveDate>: Encode<'q, DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB>,
    for<'r> AccountRow: FromRow<'r, DB::Row>,
    for<'r> CategoryRow: FromRow<'r, DB::Row>,
    for<'r> TransactionRow: FromRow<'r, DB::Row>,
    for<'r> SplitRow: FromRow<'r, DB::Row>,
    for<'r> TransferRow: FromRow<'r, DB::Row>,
    for<'r> IdempotencyRow: FromRow<'r, DB::Row>,
    for<'r> (Uuid,): FromRow<'r, DB::Row>,
    for<'r> (bool,): FromRow<'r, DB::Row>,
{
    /// Records the request id, or returns the first call's response (or
    /// [`StoreError::RequestIdReused`]) when it was seen before.
    async fn claim_request(
        conn: &mut DB::Connection,
        user_id: Uuid,
        idempotency: Option<&Idempotency>,
        now: DateTime<Utc>,
    ) -> Result<Option<Created>, StoreError> {
        let Some(idem) = idempotency else {
            return Ok(None);
        };
        // On Postgres a concurrent insert of the same key waits here for
        // the other transaction, then finds its row.
        let inserted: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO idempotency_keys (user_id, method, request_id, request_hash, response, \
             create_time) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, method, request_id) DO NOTHING RETURNING user_id",
        )
        .bind(user_id)
        .bind(idem.method.to_owned())
        .bind(idem.request_id.clone())
        .bind(idem.request_hash.clone())
        .bind(idem.response.clone())
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if inserted.is_some() {
            return Ok(None);
        }
        let first: IdempotencyRow = sqlx::query_as(
            "SELECT request_hash, response FROM idempotency_keys \
             WHERE user_id = $1 AND method = $2 AND request_id = $3",
        )
        .bind(user_id)
        .bind(idem.method.to_owned())
        .bind(idem.request_id.clone())
        .fetch_one(&mut *conn)
        .await?;
        if first.request_hash == idem.request_hash {
            Ok(Some(Created::Replay(first.response)))
        } else {
            Err(StoreError::RequestIdReused)
        }
    }

    /// Moves an account's balance by `delta`, refusing archived accounts
    /// and balances beyond ±[`MAX_BALANCE_MINOR`].
    async fn apply_balance(
        conn: &mut DB::Connection,
        user_id: Uuid,
        account_id: Uuid,
        delta: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let moved: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE accounts SET balance_minor = balance_minor + $1, update_time = $2 \
             WHERE id = $3 AND user_id = $4 AND archived = $5 \
             AND balance_minor + $1 BETWEEN $6 AND $7 RETURNING id",
        )
        .bind(delta)
        .bind(now)
        .bind(account_id)
        .bind(user_id)
        .bind(false)
        .bind(-MAX_BALANCE_MINOR)
        .bind(MAX_BALANCE_MINOR)
        .fetch_optional(&mut *conn)
        .await?;
        if moved.is_some() {
            return Ok(());
        }
        let archived: Option<(bool,)> =
            sqlx::query_as("SELECT archived FROM accounts WHERE id = $1 AND user_id = $2")
                .bind(account_id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
        Err(match archived {
            None => StoreError::NotFound("account"),
            Some((true,)) => StoreError::AccountArchived,
            Some((false,)) => StoreError::BalanceOutOfRange,
        })
    }

    async fn fetch_account(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let row: Option<AccountRow> =
            sqlx::query_as(&format!("{ACCOUNT_COLUMNS} WHERE id = $1 AND user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(conn)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn fetch_category(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<CategoryRecord>, StoreError> {
        let row: Option<CategoryRow> = sqlx::query_as(&format!(
            "{CATEGORY_COLUMNS} WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
        Ok(row.map(Into::into))
    }

    /// A subcategory's parent must be a top-level category of the same
    /// kind, other than itself.
    async fn check_parent(
        conn: &mut DB::Connection,
        category: &CategoryRecord,
    ) -> Result<(), StoreError> {
        let Some(parent_id) = category.parent_id else {
            return Ok(());
        };
        let parent = Self::fetch_category(conn, category.user_id, parent_id)
            .await?
            .filter(|p| p.id != category.id)
            .ok_or(StoreError::UnknownCategory(parent_id))?;
        if parent.parent_id.is_some() {
            return Err(StoreError::Precondition(
                "the parent is itself a subcategory; categories nest one level deep".into(),
            ));
        }
        if parent.kind != category.kind {
            return Err(StoreError::Precondition(format!(
                "the parent is an {} category; a subcategory has its parent's kind",
                parent.kind
            )));
        }
        Ok(())
    }

    async fn insert_category(
        conn: &mut DB::Connection,
        c: &CategoryRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO categories (id, user_id, name, kind, parent_id, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id)
        .bind(c.user_id)
        .bind(c.name.clone())
        .bind(c.kind.clone())
        .bind(c.parent_id)
        .bind(c.create_time)
        .execute(conn)
        .await
        .map_err(map_duplicate("category"))?;
        Ok(())
    }

    /// Every id must be one of the user's categories.
    async fn check_categories(
        conn: &mut DB::Connection,
        user_id: Uuid,
        ids: &[Uuid],
    ) -> Result<(), StoreError> {
        for id in ids {
            let found: Option<(Uuid,)> =
                sqlx::query_as("SELECT id FROM categories WHERE id = $1 AND user_id = $2")
                    .bind(*id)
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if found.is_none() {
                return Err(StoreError::UnknownCategory(*id));
            }
        }
        Ok(())
    }

    async fn insert_transaction(
        conn: &mut DB::Connection,
        t: &TransactionRecord,
    ) -> Result<(), StoreError> {
        Self::insert_row(conn, t, false).await?;
        Self::insert_splits(conn, t).await?;
        Self::insert_tags(conn, t).await
    }

    /// Inserts the transaction's row (not its splits or tags). With
    /// `skip_imported`, a line the account imported before is skipped:
    /// `Ok(false)`.
    async fn insert_row(
        conn: &mut DB::Connection,
        t: &TransactionRecord,
        skip_imported: bool,
    ) -> Result<bool, StoreError> {
        let on_conflict = if skip_imported {
            " ON CONFLICT (account_id, import_key) WHERE import_key IS NOT NULL DO NOTHING"
        } else {
            ""
        };
        let inserted: Option<(Uuid,)> =
            sqlx::query_as(&format!("{INSERT_TRANSACTION}{on_conflict} RETURNING id"))
                .bind(t.id)
                .bind(t.user_id)
                .bind(t.account_id)
                .bind(t.currency.clone())
                .bind(t.amount_minor)
                .bind(t.date)
                .bind(t.description.clone())
                .bind(t.merchant.clone())
                .bind(search_text(t))
                .bind(t.category_id)
                .bind(!t.splits.is_empty())
                .bind(json(&t.tags)?)
                .bind(t.notes.clone())
                .bind(t.transfer_id)
                .bind(t.recurring.map(|(rule, _)| rule))
                .bind(t.recurring.map(|(_, date)| date))
                .bind(t.import_key.clone())
                .bind(t.revision)
                .bind(t.create_time)
                .bind(t.update_time)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_duplicate("transaction"))?;
        Ok(inserted.is_some())
    }

    async fn insert_splits(
        conn: &mut DB::Connection,
        t: &TransactionRecord,
    ) -> Result<(), StoreError> {
        for (position, split) in (0i32..).zip(&t.splits) {
            sqlx::query(
                "INSERT INTO transaction_splits \
                 (transaction_id, position, user_id, category_id, amount_minor) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(t.id)
            .bind(position)
            .bind(t.user_id)
            .bind(split.category_id)
            .bind(split.amount_minor)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn insert_tags(
        conn: &mut DB::Connection,
        t: &TransactionRecord,
    ) -> Result<(), StoreError> {
        for tag in &t.tags {
            sqlx::query(
                "INSERT INTO transaction_tags (transaction_id, tag, user_id) VALUES ($1, $2, $3)",
            )
            .bind(t.id)
            .bind(tag.clone())
            .bind(t.user_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn remove_transaction(conn: &mut DB::Connection, id: Uuid) -> Result<(), StoreError> {
        for table in ["transaction_splits", "transaction_tags"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE transaction_id = $1"))
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("DELETE FROM transactions WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn insert_event(
        conn: &mut DB::Connection,
        event: &OutboxEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (event_id, user_id, kind, payload, create_time) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(event.event_id)
        .bind(event.user_id)
        .bind(event.kind.clone())
        .bind(event.payload.clone())
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn fetch_transaction(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        let row: Option<TransactionRow> = sqlx::query_as(&format!(
            "{TRANSACTION_COLUMNS} WHERE t.id = $1 AND t.user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => Ok(Self::with_splits(conn, vec![row]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn fetch_transfer(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransferRecord>, StoreError> {
        let row: Option<TransferRow> = sqlx::query_as(&format!(
            "{TRANSFER_COLUMNS} WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let leg = |t: Option<TransactionRecord>| {
            t.ok_or_else(|| {
                StoreError::Database(sqlx::Error::Decode(
                    format!("transfer {id} lost a leg").into(),
                ))
            })
        };
        let from = leg(Self::fetch_transaction(conn, user_id, row.from_transaction_id).await?)?;
        let to = leg(Self::fetch_transaction(conn, user_id, row.to_transaction_id).await?)?;
        Ok(Some(TransferRecord {
            id: row.id,
            user_id: row.user_id,
            exchange_rate: row.exchange_rate,
            description: row.description,
            create_time: row.create_time,
            from,
            to,
        }))
    }

    /// Completes rows with their splits (one query for the whole page).
    async fn with_splits(
        conn: &mut DB::Connection,
        rows: Vec<TransactionRow>,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        let split_ids: Vec<Uuid> = rows.iter().filter(|r| r.has_splits).map(|r| r.id).collect();
        let mut splits: HashMap<Uuid, Vec<SplitRecord>> = HashMap::new();
        if !split_ids.is_empty() {
            let list: Vec<String> = (1..=split_ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT transaction_id, category_id, amount_minor FROM transaction_splits \
                 WHERE transaction_id IN ({}) ORDER BY transaction_id, position",
                list.join(", ")
            );
            let mut query = sqlx::query_as::<DB, SplitRow>(&sql);
            for id in &split_ids {
                query = query.bind(*id);
            }
            let found = query.fetch_all(&mut *conn).await?;
            for s in found {
                splits
                    .entry(s.transaction_id)
                    .or_default()
                    .push(SplitRecord {
                        category_id: s.category_id,
                        amount_minor: s.amount_minor,
                    });
            }
        }
        rows.into_iter()
            .map(|row| {
                let own = splits.remove(&row.id).unwrap_or_default();
                row.into_record(own)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
