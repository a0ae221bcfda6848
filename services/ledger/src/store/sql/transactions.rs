//! Transactions: record, read, list (newest first, by cursor), update
//! under optimistic concurrency, delete; and the row, split and tag
//! inserts that transfers, recurring occurrences and imports share.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::pgcopy::CopyRows;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::{json, map_duplicate, search};
use crate::store::{
    AiCategory, Balance, Change, Created, EventBuilder, Idempotency, SplitRecord, StoreError,
    TransactionCursor, TransactionFilter, TransactionRecord, TransactionStore,
};
use freedumb_kit::sql::{RunBuilt as _, rows_per_statement};

#[derive(FromRow)]
pub(super) struct TransactionRow {
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
    ai_categorized: bool,
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
            ai_categorized: self.ai_categorized,
            revision: self.revision,
            create_time: self.create_time,
            update_time: self.update_time,
        })
    }
}

#[derive(FromRow)]
struct SplitRow {
    transaction_id: Uuid,
    category_id: Uuid,
    amount_minor: i64,
}

const SELECT: &str = "SELECT t.id, t.user_id, t.account_id, t.currency_code, \
     t.amount_minor, t.booking_date, t.description, t.merchant, t.category_id, t.has_splits, \
     t.tags, t.notes, t.transfer_id, t.recurring_rule_id, t.occurrence_date, t.import_key, \
     t.ai_categorized, t.revision, t.create_time, t.update_time FROM transactions t";

/// The columns a new row sets, in the order its values are given.
const COLUMNS: &str = "id, user_id, account_id, currency_code, amount_minor, booking_date, \
     description, merchant, search_text, category_id, has_splits, tags, notes, transfer_id, \
     recurring_rule_id, occurrence_date, import_key, revision, create_time, update_time";
const INSERT_COLUMNS: usize = 20;
/// From this many rows, Postgres gets them through `COPY`.
const COPY_FROM: usize = 64;

/// The clause that skips a line its account imported before.
const SKIP_IMPORTED: &str =
    " ON CONFLICT (account_id, import_key) WHERE import_key IS NOT NULL DO NOTHING";

/// What a row insert does with a line its account imported before (the
/// same `import_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ImportedBefore {
    /// Fail as a duplicate.
    Fails,
    /// Leave it out.
    IsSkipped,
}

/// [`SqlStore::insert_rows`] on Postgres: the rows are copied into a
/// temporary table (no indexes, no WAL), then inserted from it in one
/// statement, which checks duplicates as a multi-row insert does.
async fn copy_rows(
    pg: &mut sqlx::PgConnection,
    transactions: &[&TransactionRecord],
    imported_before: ImportedBefore,
) -> Result<HashSet<Uuid>, StoreError> {
    let mut rows = CopyRows::new();
    for t in transactions {
        rows.uuid(t.id)
            .uuid(t.user_id)
            .uuid(t.account_id)
            .text(&t.currency)
            .int(t.amount_minor)
            .date(t.date)
            .text(&t.description)
            .text(&t.merchant)
            .text(&search_text(t))
            .opt_uuid(t.category_id)
            .bool(!t.splits.is_empty())
            .text(&json(&t.tags)?)
            .text(&t.notes)
            .opt_uuid(t.transfer_id)
            .opt_uuid(t.recurring.map(|(rule, _)| rule))
            .opt_date(t.recurring.map(|(_, date)| date))
            .opt_bytes(t.import_key.as_deref())
            .int(t.revision)
            .time(t.create_time)
            .time(t.update_time)
            .end_row();
    }
    // Dropped below, and at the commit or rollback in any case.
    sqlx::query(
        "CREATE TEMPORARY TABLE transactions_stage \
         (LIKE transactions INCLUDING DEFAULTS) ON COMMIT DROP",
    )
    .execute(&mut *pg)
    .await?;
    rows.copy_into(pg, &format!("transactions_stage ({COLUMNS})"))
        .await?;
    let skip = match imported_before {
        ImportedBefore::IsSkipped => SKIP_IMPORTED,
        ImportedBefore::Fails => "",
    };
    let ids: Vec<(Uuid,)> = sqlx::query_as(&format!(
        "INSERT INTO transactions ({COLUMNS}) SELECT {COLUMNS} FROM transactions_stage\
         {skip} RETURNING id"
    ))
    .fetch_all(&mut *pg)
    .await
    .map_err(map_duplicate("transaction"))?;
    sqlx::query("DROP TABLE transactions_stage")
        .execute(&mut *pg)
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// The lower-case text the `text` filter searches ([`search`](super::search)).
fn search_text(t: &TransactionRecord) -> String {
    format!("{}\n{}", t.description, t.merchant).to_lowercase()
}

sql_store!(
    use TransactionStore;

    #[tracing::instrument(skip_all)]
    async fn create_transaction(
        &self,
        t: &TransactionRecord,
        idempotency: Option<&Idempotency>,
        events: EventBuilder<'_>,
    ) -> Result<Created, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        if let Some(replay) =
            Self::claim_request(&mut tx, t.user_id, idempotency, t.create_time).await?
        {
            return Ok(replay);
        }
        Self::check_categories(&mut tx, t.user_id, &t.category_ids()).await?;
        Self::insert_transactions(&mut tx, &[t]).await?;
        // The account row stays locked from here to the commit: keep it short.
        let balance = Self::apply_balance(
            &mut tx,
            t.user_id,
            t.account_id,
            t.amount_minor,
            t.create_time,
        )
        .await?;
        let event = events(&Change::TransactionCreated(t), &[balance]);
        Self::insert_event(&mut tx, event, t.create_time).await?;
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
        let mut query = QueryBuilder::<DB>::new(SELECT);
        query.push(" WHERE t.user_id = ").push_bind(user_id);
        if let Some(account) = filter.account_id {
            query.push(" AND t.account_id = ").push_bind(account);
        }
        if let Some(category) = filter.category_id {
            query.push(" AND (t.category_id = ").push_bind(category);
            query.push(" OR (t.has_splits = ").push_bind(true);
            query
                .push(
                    " AND EXISTS (SELECT 1 FROM transaction_splits s \
                     WHERE s.transaction_id = t.id AND s.category_id = ",
                )
                .push_bind(category)
                .push(")))");
        }
        if let Some(start) = filter.start_date {
            query.push(" AND t.booking_date >= ").push_bind(start);
        }
        if let Some(end) = filter.end_date {
            query.push(" AND t.booking_date <= ").push_bind(end);
        }
        if let Some(min) = filter.min_amount_minor {
            query.push(" AND t.amount_minor >= ").push_bind(min);
        }
        if let Some(max) = filter.max_amount_minor {
            query.push(" AND t.amount_minor <= ").push_bind(max);
        }
        let words = match &filter.text {
            Some(text) if DB::NAME == "PostgreSQL" => search::word_query(text),
            _ => None,
        };
        match (&filter.text, words) {
            (Some(text), Some(words)) => {
                query
                    .push(" AND to_tsvector('simple', t.search_text) @@ ")
                    .push_bind(words)
                    .push("::tsquery AND strpos(t.search_text, ")
                    .push_bind(text.clone())
                    .push(") > 0");
            }
            (Some(text), None) => {
                query
                    .push(" AND t.search_text LIKE ")
                    .push_bind(search::like_pattern(text))
                    .push(" ESCAPE '\\'");
            }
            (None, _) => {}
        }
        for tag in &filter.tags {
            query
                .push(
                    " AND EXISTS (SELECT 1 FROM transaction_tags g \
                     WHERE g.transaction_id = t.id AND g.tag = ",
                )
                .push_bind(tag.clone())
                .push(")");
        }
        if let Some(c) = cursor {
            query.push(" AND (t.booking_date < ").push_bind(c.date);
            query.push(" OR (t.booking_date = ").push_bind(c.date);
            query.push(" AND t.id < ").push_bind(c.id).push("))");
        }
        query
            .push(" ORDER BY t.booking_date DESC, t.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<TransactionRow> = if filter.text.is_some() {
            query.fetch_all_replanned(&mut conn).await?
        } else {
            query.fetch_all(&mut conn).await?
        };
        Self::with_splits(&mut conn, rows).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_transaction(
        &self,
        before: &TransactionRecord,
        after: &TransactionRecord,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        Self::check_categories(&mut tx, after.user_id, &after.category_ids()).await?;
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE transactions SET amount_minor = $1, booking_date = $2, description = $3, \
             merchant = $4, search_text = $5, category_id = $6, has_splits = $7, tags = $8, \
             notes = $9, revision = $10, update_time = $11, ai_categorized = $12 \
             WHERE id = $13 AND user_id = $14 AND revision = $15 RETURNING id",
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
        .bind(after.ai_categorized)
        .bind(before.id)
        .bind(before.user_id)
        .bind(before.revision)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(StoreError::Conflict);
        }
        let balance = Self::apply_balance(
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
            Self::insert_tags(&mut tx, &[after]).await?;
        }
        let event = events(&Change::TransactionUpdated { before, after }, &[balance]);
        Self::insert_event(&mut tx, event, after.update_time).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn apply_ai_categories(
        &self,
        user_id: Uuid,
        proposals: &[AiCategory],
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        // The transactions and the categories, read in a few statements.
        let ids: Vec<Uuid> = proposals.iter().map(|p| p.transaction_id).collect();
        let mut found: HashMap<Uuid, TransactionRecord> = HashMap::new();
        for chunk in ids.chunks(rows_per_statement::<DB>(1) - 1) {
            let mut query = QueryBuilder::<DB>::new(SELECT);
            query
                .push(" WHERE t.user_id = ")
                .push_bind(user_id)
                .push(" AND t.id IN (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(")");
            let rows: Vec<TransactionRow> = query.fetch_all(&mut tx).await?;
            found.extend(
                Self::with_splits(&mut tx, rows)
                    .await?
                    .into_iter()
                    .map(|t| (t.id, t)),
            );
        }
        let wanted: Vec<Uuid> = proposals
            .iter()
            .flat_map(|p| [p.expense, p.income])
            .flatten()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let existing = Self::existing_categories(&mut tx, user_id, &wanted).await?;
        let mut changed: Vec<(TransactionRecord, TransactionRecord)> = Vec::new();
        for p in proposals {
            let Some(before) = found.remove(&p.transaction_id) else {
                continue;
            };
            let category = if before.amount_minor > 0 {
                p.income
            } else {
                p.expense
            };
            let (Some(category), true) = (
                category.filter(|c| existing.contains(c)),
                before.category_id.is_none()
                    && before.splits.is_empty()
                    && before.transfer_id.is_none()
                    && before.update_time.timestamp_micros() == p.decided_on_micros,
            ) else {
                continue;
            };
            let mut after = before.clone();
            after.category_id = Some(category);
            after.ai_categorized = true;
            after.revision = before.revision + 1;
            after.update_time = now;
            sqlx::query(
                "UPDATE transactions SET category_id = $1, ai_categorized = $2, revision = $3, \
                 update_time = $4 WHERE id = $5 AND user_id = $6 AND revision = $7",
            )
            .bind(category)
            .bind(true)
            .bind(after.revision)
            .bind(now)
            .bind(before.id)
            .bind(user_id)
            .bind(before.revision)
            .execute(&mut *tx)
            .await?;
            changed.push((before, after));
        }
        // Each event carries its account's balance (which did not move).
        let mut balances: HashMap<Uuid, Balance> = HashMap::new();
        let mut out = Vec::with_capacity(changed.len());
        for (before, after) in &changed {
            let balance = match balances.entry(before.account_id) {
                Entry::Occupied(known) => known.get().clone(),
                Entry::Vacant(slot) => {
                    let (balance_minor, currency): (i64, String) = sqlx::query_as(
                        "SELECT balance_minor, currency_code FROM accounts \
                         WHERE id = $1 AND user_id = $2",
                    )
                    .bind(before.account_id)
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    slot.insert(Balance {
                        account_id: before.account_id,
                        balance_minor,
                        currency,
                    })
                    .clone()
                }
            };
            out.push((
                events(&Change::TransactionUpdated { before, after }, &[balance]),
                now,
            ));
        }
        Self::insert_events(&mut tx, &out).await?;
        tx.commit().await?;
        Ok(changed.into_iter().map(|(before, _)| before.id).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_transaction(
        &self,
        user_id: Uuid,
        id: Uuid,
        events: EventBuilder<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let t = Self::fetch_transaction(&mut tx, user_id, id)
            .await?
            .ok_or(StoreError::NotFound("transaction"))?;
        if let Some(transfer) = t.transfer_id {
            return Err(StoreError::Precondition(format!(
                "the transaction is a leg of transfer {transfer}; delete the transfer"
            )));
        }
        let now = freedumb_kit::time::now();
        let balance =
            Self::apply_balance(&mut tx, user_id, t.account_id, -t.amount_minor, now).await?;
        Self::remove_transaction(&mut tx, id).await?;
        let event = events(&Change::TransactionDeleted(&t), &[balance]);
        Self::insert_event(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(())
    }
);

sql_store!(
    /// Inserts whole transactions: rows, splits and tags.
    pub(super) async fn insert_transactions(
        conn: &mut DB::Connection,
        transactions: &[&TransactionRecord],
    ) -> Result<(), StoreError> {
        Self::insert_rows(conn, transactions, ImportedBefore::Fails).await?;
        for t in transactions {
            Self::insert_splits(conn, t).await?;
        }
        Self::insert_tags(conn, transactions).await
    }

    /// Inserts the transactions' rows (not their splits or tags), one
    /// statement per batch; returns the ids inserted, which are all of them
    /// unless lines imported before are skipped.
    pub(super) async fn insert_rows(
        conn: &mut DB::Connection,
        transactions: &[&TransactionRecord],
        imported_before: ImportedBefore,
    ) -> Result<HashSet<Uuid>, StoreError> {
        if transactions.len() >= COPY_FROM
            && let Some(pg) = freedumb_kit::pgcopy::postgres(conn)
        {
            return copy_rows(pg, transactions, imported_before).await;
        }
        let mut inserted = HashSet::with_capacity(transactions.len());
        for batch in transactions.chunks(rows_per_statement::<DB>(INSERT_COLUMNS)) {
            let tags = batch
                .iter()
                .map(|t| json(&t.tags))
                .collect::<Result<Vec<String>, StoreError>>()?;
            let mut insert =
                QueryBuilder::<DB>::new(format!("INSERT INTO transactions ({COLUMNS}) "));
            insert.push_values(batch.iter().zip(tags), |mut row, (t, tags)| {
                row.push_bind(t.id)
                    .push_bind(t.user_id)
                    .push_bind(t.account_id)
                    .push_bind(t.currency.clone())
                    .push_bind(t.amount_minor)
                    .push_bind(t.date)
                    .push_bind(t.description.clone())
                    .push_bind(t.merchant.clone())
                    .push_bind(search_text(t))
                    .push_bind(t.category_id)
                    .push_bind(!t.splits.is_empty())
                    .push_bind(tags)
                    .push_bind(t.notes.clone())
                    .push_bind(t.transfer_id)
                    .push_bind(t.recurring.map(|(rule, _)| rule))
                    .push_bind(t.recurring.map(|(_, date)| date))
                    .push_bind(t.import_key.clone())
                    .push_bind(t.revision)
                    .push_bind(t.create_time)
                    .push_bind(t.update_time);
            });
            if imported_before == ImportedBefore::IsSkipped {
                insert.push(SKIP_IMPORTED);
            }
            insert.push(" RETURNING id");
            let ids: Vec<(Uuid,)> = insert
                .fetch_all(&mut *conn)
                .await
                .map_err(map_duplicate("transaction"))?;
            inserted.extend(ids.into_iter().map(|(id,)| id));
        }
        Ok(inserted)
    }

    async fn insert_splits(
        conn: &mut DB::Connection,
        t: &TransactionRecord,
    ) -> Result<(), StoreError> {
        if t.splits.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::<DB>::new(
            "INSERT INTO transaction_splits \
             (transaction_id, position, user_id, category_id, amount_minor) ",
        );
        // A transaction has a handful of splits (the domain bounds them).
        insert.push_values((0i32..).zip(&t.splits), |mut row, (position, split)| {
            row.push_bind(t.id)
                .push_bind(position)
                .push_bind(t.user_id)
                .push_bind(split.category_id)
                .push_bind(split.amount_minor);
        });
        insert.execute(&mut *conn).await?;
        Ok(())
    }

    /// Inserts the tags of several transactions, one statement per batch.
    pub(super) async fn insert_tags(
        conn: &mut DB::Connection,
        transactions: &[&TransactionRecord],
    ) -> Result<(), StoreError> {
        const COLUMNS: usize = 3;
        let tags: Vec<(&TransactionRecord, &String)> = transactions
            .iter()
            .flat_map(|t| t.tags.iter().map(move |tag| (*t, tag)))
            .collect();
        for batch in tags.chunks(rows_per_statement::<DB>(COLUMNS)) {
            let mut insert = QueryBuilder::<DB>::new(
                "INSERT INTO transaction_tags (transaction_id, tag, user_id) ",
            );
            insert.push_values(batch, |mut row, (t, tag)| {
                row.push_bind(t.id)
                    .push_bind((*tag).clone())
                    .push_bind(t.user_id);
            });
            insert.execute(&mut *conn).await?;
        }
        Ok(())
    }

    pub(super) async fn remove_transaction(
        conn: &mut DB::Connection,
        id: Uuid,
    ) -> Result<(), StoreError> {
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

    pub(super) async fn fetch_transaction(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        let row: Option<TransactionRow> =
            sqlx::query_as(&format!("{SELECT} WHERE t.id = $1 AND t.user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            Some(row) => Ok(Self::with_splits(conn, vec![row]).await?.pop()),
            None => Ok(None),
        }
    }

    /// Completes rows with their splits (one query for the whole page).
    async fn with_splits(
        conn: &mut DB::Connection,
        rows: Vec<TransactionRow>,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        let split_ids: Vec<Uuid> = rows.iter().filter(|r| r.has_splits).map(|r| r.id).collect();
        let mut splits: HashMap<Uuid, Vec<SplitRecord>> = HashMap::new();
        for batch in split_ids.chunks(rows_per_statement::<DB>(1)) {
            let mut query = QueryBuilder::<DB>::new(
                "SELECT transaction_id, category_id, amount_minor FROM transaction_splits \
                 WHERE transaction_id IN (",
            );
            let mut list = query.separated(", ");
            for id in batch {
                list.push_bind(*id);
            }
            query.push(") ORDER BY transaction_id, position");
            let found: Vec<SplitRow> = query.fetch_all(&mut *conn).await?;
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
);
