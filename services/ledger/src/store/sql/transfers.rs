//! Transfers: two transactions, one per account, recorded and deleted
//! together with the transfer row that pairs them.

use chrono::{DateTime, Utc};
use freedumb_kit::storage::begin_write;
use sqlx::FromRow;
use uuid::Uuid;

use crate::store::{
    Change, Created, EventBuilder, Idempotency, StoreError, TransactionRecord, TransferRecord,
    TransferStore,
};

#[derive(FromRow)]
struct TransferRow {
    id: Uuid,
    user_id: Uuid,
    from_transaction_id: Uuid,
    to_transaction_id: Uuid,
    exchange_rate: String,
    description: String,
    create_time: DateTime<Utc>,
}

sql_store!(
    use TransferStore;

    #[tracing::instrument(skip_all)]
    async fn create_transfer(
        &self,
        transfer: &TransferRecord,
        idempotency: Option<&Idempotency>,
        events: EventBuilder<'_>,
    ) -> Result<Created, StoreError> {
        let (from, to) = (&transfer.from, &transfer.to);
        let mut tx = begin_write(&self.pool).await?;
        if let Some(replay) =
            Self::claim_request(&mut tx, transfer.user_id, idempotency, transfer.create_time)
                .await?
        {
            return Ok(replay);
        }
        Self::insert_transactions(&mut tx, &[from, to]).await?;
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
        // Lock the two accounts in id order, so opposite transfers never
        // wait on each other in a cycle.
        let mut legs = [from, to];
        legs.sort_by_key(|leg| leg.account_id);
        let mut balances = Vec::with_capacity(2);
        for leg in legs {
            balances.push(
                Self::apply_balance(
                    &mut tx,
                    leg.user_id,
                    leg.account_id,
                    leg.amount_minor,
                    transfer.create_time,
                )
                .await?,
            );
        }
        let event = events(&Change::TransferCreated(transfer), &balances);
        Self::insert_event(&mut tx, event, transfer.create_time).await?;
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
        let mut tx = begin_write(&self.pool).await?;
        let transfer = Self::fetch_transfer(&mut tx, user_id, id)
            .await?
            .ok_or(StoreError::NotFound("transfer"))?;
        let now = freedumb_kit::time::now();
        // The same lock order as `create_transfer`: accounts by id.
        let mut legs = [&transfer.from, &transfer.to];
        legs.sort_by_key(|leg| leg.account_id);
        let mut balances = Vec::with_capacity(2);
        for leg in legs {
            balances.push(
                Self::apply_balance(&mut tx, user_id, leg.account_id, -leg.amount_minor, now)
                    .await?,
            );
        }
        sqlx::query("DELETE FROM transfers WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        Self::remove_transaction(&mut tx, transfer.from.id).await?;
        Self::remove_transaction(&mut tx, transfer.to.id).await?;
        let event = events(&Change::TransferDeleted(&transfer), &balances);
        Self::insert_event(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(())
    }
);

sql_store!(
    async fn fetch_transfer(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TransferRecord>, StoreError> {
        let row: Option<TransferRow> = sqlx::query_as(
            "SELECT id, user_id, from_transaction_id, to_transaction_id, exchange_rate, \
             description, create_time FROM transfers WHERE id = $1 AND user_id = $2",
        )
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
);
