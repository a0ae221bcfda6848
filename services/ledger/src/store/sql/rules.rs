//! Recurring rules: a user's rules, and the recurring worker's claim of
//! each due occurrence. An occurrence is claimed by moving its rule on
//! (`next_index` compare-and-set) in the transaction that records it, so
//! of two workers exactly one records it.

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::json;
use crate::recurrence::{Frequency, Schedule};
use crate::store::{
    Change, Created, EventBuilder, Idempotency, RecurringStore, RuleRecord, RuleStore, StoreError,
    TransactionRecord,
};
use freedumb_kit::sql::RunBuilt as _;

#[derive(FromRow)]
struct RuleRow {
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

const COLUMNS: &str = "id, user_id, account_id, currency_code, amount_minor, description, \
     merchant, category_id, tags, frequency, interval_count, start_date, end_date, next_index, \
     next_date, create_time";

/// The transaction a rule records on `date`.
fn occurrence(rule: &RuleRecord, date: NaiveDate, now: DateTime<Utc>) -> TransactionRecord {
    TransactionRecord {
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
        ai_categorized: false,
        revision: 0,
        create_time: now,
        update_time: now,
    }
}

sql_store!(
    use RuleStore;

    #[tracing::instrument(skip_all)]
    async fn create_rule(
        &self,
        r: &RuleRecord,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
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
        sqlx::query(&format!(
            "INSERT INTO recurring_rules ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
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
        let row: Option<RuleRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM recurring_rules WHERE id = $1 AND user_id = $2"
        ))
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
        let mut query = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM recurring_rules"));
        query.push(" WHERE user_id = ").push_bind(user_id);
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after);
        }
        query
            .push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(limit));
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<RuleRow> = query.fetch_all(&mut conn).await?;
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
);

sql_store!(
    use RecurringStore;

    #[tracing::instrument(skip_all)]
    async fn list_due_rules(&self, today: NaiveDate, limit: u32) -> Result<Vec<Uuid>, StoreError> {
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

    #[tracing::instrument(skip_all, level = "debug")]
    async fn due_backlog(&self, today: NaiveDate) -> Result<(u64, Option<NaiveDate>), StoreError> {
        let (count, earliest): (i64, Option<NaiveDate>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(next_date) FROM recurring_rules \
             WHERE next_date IS NOT NULL AND next_date <= $1",
        )
        .bind(today)
        .fetch_one(&self.pool)
        .await?;
        Ok((u64::try_from(count).unwrap_or(0), earliest))
    }

    #[tracing::instrument(skip_all)]
    async fn record_next_occurrence(
        &self,
        rule_id: Uuid,
        today: NaiveDate,
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let row: Option<RuleRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM recurring_rules WHERE id = $1"
        ))
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
        let t = occurrence(&rule, date, now);
        let balance = match Self::apply_balance(
            &mut tx,
            t.user_id,
            t.account_id,
            t.amount_minor,
            now,
        )
        .await
        {
            Ok(balance) => balance,
            Err(StoreError::BalanceOutOfRange) => {
                // The claim commits: the occurrence is skipped, not retried.
                tracing::warn!(%rule_id, %date, "recurring occurrence skipped: balance out of range");
                tx.commit().await?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        Self::insert_transactions(&mut tx, &[&t]).await?;
        let event = events(&Change::TransactionCreated(&t), &[balance]);
        Self::insert_event(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(Some(t))
    }
);
