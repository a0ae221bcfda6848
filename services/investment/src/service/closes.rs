//! Closes as the service reads them: each series whole, parsed once and
//! kept in memory for [`TTL`], so a valuation over ten years of daily
//! closes reads no rows. The price worker of this process drops a series
//! when it records closes for it; one in another process shows within
//! [`TTL`] (closes change once a day).

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::store::{InvestmentStore, StoreError};

/// How long a series is kept.
pub const TTL: Duration = Duration::from_secs(300);
/// Series kept at most.
const CAPACITY: u64 = 20_000;

/// A series' closes, oldest first.
pub type Series = Arc<Vec<(NaiveDate, Decimal)>>;

/// The closes of recently read series.
pub struct CloseCache(moka::sync::Cache<String, Series>);

impl Default for CloseCache {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
        )
    }
}

impl CloseCache {
    /// Every close of `series`.
    pub async fn series(
        &self,
        store: &dyn InvestmentStore,
        series: &str,
    ) -> Result<Series, StoreError> {
        if let Some(hit) = self.0.get(series) {
            return Ok(hit);
        }
        let (first, last) = (
            NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default(),
        );
        let closes: Series = Arc::new(store.list_closes(series, first, last).await?);
        self.0.insert(series.to_owned(), closes.clone());
        Ok(closes)
    }

    /// Forgets `series` (its closes changed).
    pub fn invalidate(&self, series: &str) {
        self.0.invalidate(series);
    }
}
