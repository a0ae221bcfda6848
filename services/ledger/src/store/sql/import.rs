//! Imports: a batch of statement lines into one account, each line at most
//! once (by its `import_key`), with one multi-row insert per table per
//! batch instead of one statement per line; and the planner statistics a
//! large import makes stale.

use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::map_duplicate;
use super::transactions::ImportedBefore;
use crate::store::{
    Change, EventBuilder, ImportBatch, ImportCounts, ImportErrorRecord, ImportRecord, ImportStore,
    StatisticsStore, StoreError, TransactionRecord,
};

#[derive(FromRow)]
struct ImportRow {
    operation_id: Uuid,
    user_id: Uuid,
    account_id: Uuid,
    format: String,
    file_bytes: i64,
    request_id: Option<String>,
    lines_read: i64,
    imported: i64,
    skipped_duplicates: i64,
    skipped_pending: i64,
    error_count: i64,
}

#[derive(FromRow)]
struct ErrorRow {
    line: i64,
    field: String,
    message: String,
}

/// A count as stored.
fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

sql_store!(
    use ImportStore;

    #[tracing::instrument(skip_all)]
    async fn create_import(&self, import: &ImportRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO imports (operation_id, user_id, account_id, format, file_bytes, \
             request_id) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(import.operation_id)
        .bind(import.user_id)
        .bind(import.account_id)
        .bind(import.format.clone())
        .bind(stored(import.file_bytes))
        .bind(import.request_id.clone())
        .execute(&self.pool)
        .await
        .map_err(map_duplicate("import"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn find_import(
        &self,
        user_id: Uuid,
        request_id: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let found: Option<(Uuid,)> = sqlx::query_as(
            "SELECT operation_id FROM imports WHERE user_id = $1 AND request_id = $2",
        )
        .bind(user_id)
        .bind(request_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(|(id,)| id))
    }

    #[tracing::instrument(skip_all)]
    async fn get_import(
        &self,
        user_id: Uuid,
        operation_id: Uuid,
    ) -> Result<Option<ImportRecord>, StoreError> {
        let row: Option<ImportRow> = sqlx::query_as(
            "SELECT operation_id, user_id, account_id, format, file_bytes, request_id, \
             lines_read, imported, skipped_duplicates, skipped_pending, error_count \
             FROM imports WHERE operation_id = $1 AND user_id = $2",
        )
        .bind(operation_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let errors: Vec<ErrorRow> = sqlx::query_as(
            "SELECT line, field, message FROM import_errors \
             WHERE operation_id = $1 ORDER BY seq",
        )
        .bind(operation_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(ImportRecord {
            operation_id: row.operation_id,
            user_id: row.user_id,
            account_id: row.account_id,
            format: row.format,
            file_bytes: count(row.file_bytes),
            request_id: row.request_id,
            lines_read: count(row.lines_read),
            imported: count(row.imported),
            skipped_duplicates: count(row.skipped_duplicates),
            skipped_pending: count(row.skipped_pending),
            error_count: count(row.error_count),
            errors: errors
                .into_iter()
                .map(|e| ImportErrorRecord {
                    line: count(e.line),
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn import_transactions(
        &self,
        transactions: &[TransactionRecord],
        events: EventBuilder<'_>,
        batch: Option<&ImportBatch<'_>>,
    ) -> Result<ImportCounts, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let counts = match transactions.first() {
            Some(first) => Self::import_lines(&mut tx, first, transactions, events).await?,
            None => ImportCounts::default(),
        };
        if let Some(batch) = batch {
            Self::record_batch(&mut tx, batch, counts).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
);

sql_store!(
    /// Adds what a batch read and wrote to its import's record.
    async fn record_batch(
        conn: &mut DB::Connection,
        batch: &ImportBatch<'_>,
        counts: ImportCounts,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE imports SET lines_read = lines_read + $1, imported = imported + $2, \
             skipped_duplicates = skipped_duplicates + $3, \
             skipped_pending = skipped_pending + $4, error_count = error_count + $5 \
             WHERE operation_id = $6",
        )
        .bind(stored(batch.read))
        .bind(stored(counts.imported))
        .bind(stored(counts.skipped))
        .bind(stored(batch.pending))
        .bind(stored(batch.error_count))
        .bind(batch.operation_id)
        .execute(&mut *conn)
        .await?;
        if batch.errors.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::<DB>::new(
            "INSERT INTO import_errors (operation_id, seq, line, field, message) ",
        );
        insert.push_values(
            (batch.first_error_seq..).zip(batch.errors),
            |mut row, (seq, error)| {
                row.push_bind(batch.operation_id)
                    .push_bind(stored(seq))
                    .push_bind(stored(error.line))
                    .push_bind(error.field.clone())
                    .push_bind(error.message.clone());
            },
        );
        insert.execute(&mut *conn).await?;
        Ok(())
    }

    /// Writes a batch of lines, skipping those imported before.
    async fn import_lines(
        tx: &mut DB::Connection,
        first: &TransactionRecord,
        transactions: &[TransactionRecord],
        events: EventBuilder<'_>,
    ) -> Result<ImportCounts, StoreError> {
        let mut categories: Vec<Uuid> = transactions.iter().filter_map(|t| t.category_id).collect();
        categories.sort();
        categories.dedup();
        Self::check_categories(tx, first.user_id, &categories).await?;
        let lines: Vec<&TransactionRecord> = transactions.iter().collect();
        let inserted = Self::insert_rows(tx, &lines, ImportedBefore::IsSkipped).await?;
        // In line order: the events go out in the order of the file.
        let new: Vec<&TransactionRecord> = lines
            .into_iter()
            .filter(|t| inserted.contains(&t.id))
            .collect();
        Self::insert_tags(tx, &new).await?;
        // The account row stays locked from here to the commit.
        let total: i64 = new.iter().map(|t| t.amount_minor).sum();
        let balance = Self::apply_balance(
            tx,
            first.user_id,
            first.account_id,
            total,
            first.create_time,
        )
        .await?;
        // Every line's event carries the balance after the whole import:
        // they commit together.
        let balances = [balance];
        let new_events: Vec<_> = new
            .iter()
            .map(|t| {
                (
                    events(&Change::TransactionCreated(t), &balances),
                    t.create_time,
                )
            })
            .collect();
        Self::insert_events(tx, &new_events).await?;
        let imported = new.len() as u64;
        Ok(ImportCounts {
            imported,
            skipped: transactions.len() as u64 - imported,
        })
    }
);

sql_store!(
    use StatisticsStore;

    #[tracing::instrument(skip_all)]
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE transactions")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
);
