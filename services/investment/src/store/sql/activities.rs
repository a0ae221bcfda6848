//! Activities: recorded and deleted under the portfolio's lock, so that
//! the check that no sale sells more than is held sees every other change
//! to the portfolio committed before it; read in pages and in replay order.

use std::str::FromStr as _;

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::outbox::SqlOutbox;
use freedumb_kit::sql::RunBuilt as _;
use freedumb_kit::storage::begin_write;
use rust_decimal::Decimal;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::{SqlStore, currency};
use crate::domain::activity::{ActivityKind, Cash, Detail, Trade};
use crate::store::{
    ActivityRecord, ActivityStore, Announce, Check, Created, IdempotencyKey, StoreError,
};

#[derive(FromRow)]
struct ActivityRow {
    id: Uuid,
    user_id: Uuid,
    portfolio_id: Uuid,
    kind: String,
    activity_date: NaiveDate,
    instrument_id: Option<Uuid>,
    quantity: Option<String>,
    price: Option<String>,
    amount_currency: Option<String>,
    amount_minor: Option<i64>,
    fee_currency: Option<String>,
    fee_minor: Option<i64>,
    split_ratio: Option<String>,
    cash_account_id: Option<Uuid>,
    note: String,
    create_time: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, portfolio_id, kind, activity_date, instrument_id, quantity, \
     price, amount_currency, amount_minor, fee_currency, fee_minor, split_ratio, cash_account_id, \
     note, create_time";

/// The columns of a detail: instrument, quantity, price, amount, fee,
/// split ratio.
type Columns = (
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<Cash>,
    Option<Cash>,
    Option<String>,
);

fn columns(detail: &Detail) -> Columns {
    let instrument = detail.instrument_id();
    match detail {
        Detail::Buy(t) | Detail::Sell(t) => (
            instrument,
            Some(t.quantity.to_string()),
            Some(t.price.to_string()),
            None,
            t.fee,
            None,
        ),
        Detail::Split { ratio, .. } => {
            (instrument, None, None, None, None, Some(ratio.to_string()))
        }
        _ => (instrument, None, None, detail.amount(), None, None),
    }
}

impl TryFrom<ActivityRow> for ActivityRecord {
    type Error = StoreError;

    fn try_from(r: ActivityRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("activity {}: {what}", r.id));
        let decimal = |raw: &Option<String>, what: &str| {
            raw.as_deref()
                .and_then(|s| Decimal::from_str(s).ok())
                .ok_or_else(|| corrupt(what))
        };
        let cash =
            |code: &Option<String>, minor: Option<i64>| -> Result<Option<Cash>, StoreError> {
                match (code, minor) {
                    (Some(code), Some(minor)) => Ok(Some(Cash {
                        currency: currency(code, "activity currency")?,
                        minor,
                    })),
                    (None, None) => Ok(None),
                    _ => Err(corrupt("money")),
                }
            };
        let amount = cash(&r.amount_currency, r.amount_minor)?;
        let fee = cash(&r.fee_currency, r.fee_minor)?;
        let kind = ActivityKind::from_stored(&r.kind).ok_or_else(|| corrupt("kind"))?;
        let instrument = || r.instrument_id.ok_or_else(|| corrupt("instrument"));
        let amount = || amount.ok_or_else(|| corrupt("amount"));
        let trade = || -> Result<Trade, StoreError> {
            Ok(Trade {
                instrument_id: instrument()?,
                quantity: decimal(&r.quantity, "quantity")?,
                price: decimal(&r.price, "price")?,
                fee,
            })
        };
        let detail = match kind {
            ActivityKind::Buy => Detail::Buy(trade()?),
            ActivityKind::Sell => Detail::Sell(trade()?),
            ActivityKind::Dividend => Detail::Dividend {
                instrument_id: instrument()?,
                amount: amount()?,
            },
            ActivityKind::Interest => Detail::Interest {
                instrument_id: r.instrument_id,
                amount: amount()?,
            },
            ActivityKind::Fee => Detail::Fee {
                instrument_id: r.instrument_id,
                amount: amount()?,
            },
            ActivityKind::Deposit => Detail::Deposit(amount()?),
            ActivityKind::Withdrawal => Detail::Withdrawal(amount()?),
            ActivityKind::Split => Detail::Split {
                instrument_id: instrument()?,
                ratio: decimal(&r.split_ratio, "split ratio")?,
            },
        };
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            portfolio_id: r.portfolio_id,
            date: r.activity_date,
            detail,
            cash_account_id: r.cash_account_id,
            note: r.note,
            create_time: r.create_time,
        })
    }
}

fn decode(rows: Vec<ActivityRow>) -> Result<Vec<ActivityRecord>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Whether `detail` changes the units held (and so needs the check).
fn moves_units(detail: &Detail) -> bool {
    matches!(
        detail,
        Detail::Buy(_) | Detail::Sell(_) | Detail::Split { .. }
    )
}

freedumb_kit::sql_impl!([impl<DB> SqlStore<DB>]
    async fn select_activity(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ActivityRecord>, StoreError> {
        let row: Option<ActivityRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM activities WHERE user_id = $1 AND id = $2"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Every activity of a portfolio, in replay order.
    pub(super) async fn select_replay(
        conn: &mut DB::Connection,
        user_id: Uuid,
        portfolio_id: Uuid,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        let rows: Vec<ActivityRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM activities WHERE user_id = $1 AND portfolio_id = $2 \
             ORDER BY activity_date, id"
        ))
        .bind(user_id)
        .bind(portfolio_id)
        .fetch_all(&mut *conn)
        .await?;
        decode(rows)
    }

    /// Locks the portfolio against other activity changes until the
    /// transaction ends (`NotFound` if the user has no such portfolio).
    async fn lock_portfolio(
        conn: &mut DB::Connection,
        user_id: Uuid,
        portfolio_id: Uuid,
    ) -> Result<(), StoreError> {
        let locked: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE portfolios SET update_time = update_time WHERE user_id = $1 AND id = $2 \
             RETURNING id",
        )
        .bind(user_id)
        .bind(portfolio_id)
        .fetch_optional(&mut *conn)
        .await?;
        locked.map(|_| ()).ok_or(StoreError::NotFound("portfolio"))
    }

    /// Runs `check` over the portfolio's activities of `instrument_id`,
    /// in replay order, without `leave_out` and with `add`.
    async fn check_instrument(
        conn: &mut DB::Connection,
        activity: &ActivityRecord,
        leave_out: Option<Uuid>,
        add: Option<&ActivityRecord>,
        check: Check<'_>,
    ) -> Result<(), StoreError> {
        let Some(instrument_id) = activity.detail.instrument_id() else {
            return Ok(());
        };
        let rows: Vec<ActivityRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM activities \
             WHERE user_id = $1 AND portfolio_id = $2 AND instrument_id = $3"
        ))
        .bind(activity.user_id)
        .bind(activity.portfolio_id)
        .bind(instrument_id)
        .fetch_all(&mut *conn)
        .await?;
        let stored = decode(rows)?;
        let mut all: Vec<&ActivityRecord> = stored
            .iter()
            .filter(|a| Some(a.id) != leave_out)
            .chain(add)
            .collect();
        all.sort_by_key(|a| (a.date, a.id));
        check(&all).map_err(StoreError::Rejected)
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> ActivityStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn create_activity(
        &self,
        a: &ActivityRecord,
        key: Option<&IdempotencyKey>,
        check: Check<'_>,
        announce: Announce<'_>,
    ) -> Result<Created<ActivityRecord>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        if let Some(existing) =
            Self::claim_request(&mut tx, a.user_id, key, a.id, a.create_time).await?
        {
            return Self::select_activity(&mut tx, a.user_id, existing)
                .await?
                .map(Created::Replayed)
                .ok_or(StoreError::NotFound("activity"));
        }
        Self::lock_portfolio(&mut tx, a.user_id, a.portfolio_id).await?;
        if moves_units(&a.detail) {
            Self::check_instrument(&mut tx, a, None, Some(a), check).await?;
        }
        let (instrument, quantity, price, amount, fee, ratio) = columns(&a.detail);
        sqlx::query(
            "INSERT INTO activities (id, user_id, portfolio_id, kind, activity_date, instrument_id, \
             quantity, price, amount_currency, amount_minor, fee_currency, fee_minor, split_ratio, \
             cash_account_id, note, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(a.id)
        .bind(a.user_id)
        .bind(a.portfolio_id)
        .bind(a.detail.kind().as_str().to_owned())
        .bind(a.date)
        .bind(instrument)
        .bind(quantity)
        .bind(price)
        .bind(amount.map(|c| c.currency.code().to_owned()))
        .bind(amount.map(|c| c.minor))
        .bind(fee.map(|c| c.currency.code().to_owned()))
        .bind(fee.map(|c| c.minor))
        .bind(ratio)
        .bind(a.cash_account_id)
        .bind(a.note.clone())
        .bind(a.create_time)
        .execute(&mut *tx)
        .await?;
        if let Some(event) = announce(a) {
            SqlOutbox::<DB>::insert(&mut tx, &[(event, a.create_time)]).await?;
        }
        tx.commit().await?;
        Ok(Created::New(a.clone()))
    }

    #[tracing::instrument(skip_all)]
    async fn get_activity(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ActivityRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::select_activity(&mut conn, user_id, id).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_activities(
        &self,
        user_id: Uuid,
        portfolio_id: Uuid,
        instrument_id: Option<Uuid>,
        after: Option<(NaiveDate, Uuid)>,
        limit: u32,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut query =
            QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM activities WHERE user_id = "));
        query.push_bind(user_id);
        query.push(" AND portfolio_id = ").push_bind(portfolio_id);
        if let Some(instrument_id) = instrument_id {
            query.push(" AND instrument_id = ").push_bind(instrument_id);
        }
        if let Some((date, id)) = after {
            query
                .push(" AND (activity_date < ")
                .push_bind(date)
                .push(" OR (activity_date = ")
                .push_bind(date)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        query
            .push(" ORDER BY activity_date DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<ActivityRow> = query.fetch_all(&mut conn).await?;
        decode(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn replay_activities(
        &self,
        user_id: Uuid,
        portfolio_id: Uuid,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::select_replay(&mut conn, user_id, portfolio_id).await
    }

    #[tracing::instrument(skip_all)]
    async fn delete_activity(
        &self,
        user_id: Uuid,
        id: Uuid,
        check: Check<'_>,
        announce: Announce<'_>,
    ) -> Result<ActivityRecord, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let a = Self::select_activity(&mut tx, user_id, id)
            .await?
            .ok_or(StoreError::NotFound("activity"))?;
        Self::lock_portfolio(&mut tx, user_id, a.portfolio_id).await?;
        if moves_units(&a.detail) {
            Self::check_instrument(&mut tx, &a, Some(a.id), None, check).await?;
        }
        sqlx::query("DELETE FROM activities WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(event) = announce(&a) {
            SqlOutbox::<DB>::insert(&mut tx, &[(event, Utc::now())]).await?;
        }
        tx.commit().await?;
        Ok(a)
    }
);
