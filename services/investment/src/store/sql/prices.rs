//! Closes and exchange rates: read for valuations, recorded by the price
//! worker. Recording is safe with another worker recording at once: a
//! new day is inserted once (`ON CONFLICT DO NOTHING`), and a changed close
//! is updated only where it still holds the value read (compare and set),
//! with its revision row in the same transaction.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::storage::begin_write;
use rust_decimal::Decimal;

use super::SqlStore;
use crate::domain::market::fx_series as pair;
use crate::store::{MarketStore, PriceStore, Recorded, StoreError, Wanted};

fn decimal(raw: &str, series: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(raw).map_err(|_| StoreError::Corrupt(format!("close of {series}: {raw}")))
}

/// How many times a close that keeps changing under the worker is read
/// again before the batch gives up (and is retried as a whole).
const COMPARE_AND_SET_TRIES: usize = 5;

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> MarketStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn list_closes(
        &self,
        series: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Decimal)>, StoreError> {
        let rows: Vec<(NaiveDate, String)> = sqlx::query_as(
            "SELECT day, close FROM closes WHERE series = $1 AND day <= $3 AND day >= \
             COALESCE((SELECT MAX(day) FROM closes WHERE series = $1 AND day < $2), $2) \
             ORDER BY day",
        )
        .bind(series.to_owned())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(day, close)| Ok((day, decimal(&close, series)?)))
            .collect()
    }
);

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> PriceStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn list_wanted_series(&self) -> Result<Vec<Wanted>, StoreError> {
        let symbols: Vec<(String, NaiveDate)> = sqlx::query_as(
            "SELECT i.symbol, MIN(a.activity_date) FROM activities a \
             JOIN instruments i ON i.id = a.instrument_id GROUP BY i.symbol",
        )
        .fetch_all(&self.pool)
        .await?;
        type Currencies = (Option<String>, String, Option<String>, Option<String>, NaiveDate);
        let currencies: Vec<Currencies> = sqlx::query_as(
            "SELECT i.currency, p.base_currency, a.fee_currency, a.amount_currency, \
             MIN(a.activity_date) FROM activities a \
             JOIN portfolios p ON p.id = a.portfolio_id \
             LEFT JOIN instruments i ON i.id = a.instrument_id \
             GROUP BY i.currency, p.base_currency, a.fee_currency, a.amount_currency",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut wanted: BTreeMap<String, NaiveDate> = symbols.into_iter().collect();
        let mut want = |series: String, since: NaiveDate| {
            let day = wanted.entry(series).or_insert(since);
            *day = (*day).min(since);
        };
        for (instrument, base, fee, amount, since) in currencies {
            // The currency the activity's money counts in: the
            // instrument's, or its amount's.
            let Some(own) = instrument.or_else(|| amount.clone()) else {
                continue;
            };
            for (from, to) in [(Some(own.clone()), base), (fee, own.clone()), (amount, own)] {
                if let Some(from) = from
                    && from != to
                {
                    want(pair(&from, &to), since);
                }
            }
        }
        Ok(wanted
            .into_iter()
            .map(|(series, since)| Wanted { series, since })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn latest_close_day(&self, series: &str) -> Result<Option<NaiveDate>, StoreError> {
        let (day,): (Option<NaiveDate>,) =
            sqlx::query_as("SELECT MAX(day) FROM closes WHERE series = $1")
                .bind(series.to_owned())
                .fetch_one(&self.pool)
                .await?;
        Ok(day)
    }

    #[tracing::instrument(skip_all)]
    async fn record_closes(
        &self,
        series: &str,
        closes: &[(NaiveDate, Decimal)],
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let mut done = Recorded::default();
        let mut tx = begin_write(&self.pool).await?;
        for &(day, close) in closes {
            let inserted: Option<(String,)> = sqlx::query_as(
                "INSERT INTO closes (series, day, close, source, fetch_time) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (series, day) DO NOTHING RETURNING series",
            )
            .bind(series.to_owned())
            .bind(day)
            .bind(close.normalize().to_string())
            .bind(source.to_owned())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if inserted.is_some() {
                done.inserted += 1;
                continue;
            }
            let mut settled = false;
            for _ in 0..COMPARE_AND_SET_TRIES {
                let (old,): (String,) =
                    sqlx::query_as("SELECT close FROM closes WHERE series = $1 AND day = $2")
                        .bind(series.to_owned())
                        .bind(day)
                        .fetch_one(&mut *tx)
                        .await?;
                if decimal(&old, series)? == close {
                    done.unchanged += 1;
                    settled = true;
                    break;
                }
                let swapped: Option<(String,)> = sqlx::query_as(
                    "UPDATE closes SET close = $3, source = $4, fetch_time = $5 \
                     WHERE series = $1 AND day = $2 AND close = $6 RETURNING series",
                )
                .bind(series.to_owned())
                .bind(day)
                .bind(close.normalize().to_string())
                .bind(source.to_owned())
                .bind(now)
                .bind(old.clone())
                .fetch_optional(&mut *tx)
                .await?;
                if swapped.is_some() {
                    sqlx::query(
                        "INSERT INTO close_revisions (series, day, old_close, new_close, source, \
                         revise_time) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(series.to_owned())
                    .bind(day)
                    .bind(old)
                    .bind(close.normalize().to_string())
                    .bind(source.to_owned())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    done.revised += 1;
                    settled = true;
                    break;
                }
            }
            if !settled {
                return Err(StoreError::Corrupt(format!(
                    "the close of {series} on {day} kept changing while it was recorded"
                )));
            }
        }
        tx.commit().await?;
        Ok(done)
    }

    #[tracing::instrument(skip_all)]
    async fn list_close_revisions(
        &self,
        series: &str,
        day: NaiveDate,
    ) -> Result<Vec<(Decimal, Decimal)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT old_close, new_close FROM close_revisions WHERE series = $1 AND day = $2 \
             ORDER BY id",
        )
        .bind(series.to_owned())
        .bind(day)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(old, new)| Ok((decimal(&old, series)?, decimal(&new, series)?)))
            .collect()
    }
);
