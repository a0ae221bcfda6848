//! Imports: a batch of statement lines into one account, each line at most
//! once (by its `import_key`), with one multi-row insert per table per
//! batch instead of one statement per line; and the planner statistics a
//! large import makes stale.

use freedumb_kit::storage::begin_write;
use uuid::Uuid;

use super::transactions::ImportedBefore;
use crate::store::{
    Change, EventBuilder, ImportCounts, ImportStore, StatisticsStore, StoreError, TransactionRecord,
};

sql_store!(
    use ImportStore;

    #[tracing::instrument(skip_all)]
    async fn import_transactions(
        &self,
        transactions: &[TransactionRecord],
        events: EventBuilder<'_>,
    ) -> Result<ImportCounts, StoreError> {
        let Some(first) = transactions.first() else {
            return Ok(ImportCounts::default());
        };
        let mut tx = begin_write(&self.pool).await?;
        let mut categories: Vec<Uuid> = transactions.iter().filter_map(|t| t.category_id).collect();
        categories.sort();
        categories.dedup();
        Self::check_categories(&mut tx, first.user_id, &categories).await?;
        let lines: Vec<&TransactionRecord> = transactions.iter().collect();
        let inserted = Self::insert_rows(&mut tx, &lines, ImportedBefore::IsSkipped).await?;
        // In line order: the events go out in the order of the file.
        let new: Vec<&TransactionRecord> = lines
            .into_iter()
            .filter(|t| inserted.contains(&t.id))
            .collect();
        Self::insert_tags(&mut tx, &new).await?;
        // The account row stays locked from here to the commit.
        let total: i64 = new.iter().map(|t| t.amount_minor).sum();
        let balance = Self::apply_balance(
            &mut tx,
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
        Self::insert_events(&mut tx, &new_events).await?;
        tx.commit().await?;
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
