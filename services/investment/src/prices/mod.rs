//! Where daily closes and exchange rates come from: a [`PriceProvider`],
//! either CSV files in a directory (the embedded default) or an HTTP
//! endpoint answering CSV or JSON. Every answer is checked as a whole
//! before anything is stored: one unreadable row refuses the answer.

mod files;
mod http;
mod parse;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

pub use self::files::FileProvider;
pub use self::http::HttpProvider;
pub use self::parse::parse_closes;
use crate::config::{InvestmentConfig, ProviderKind};

/// A series a provider is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Series<'a> {
    /// An instrument's closes, by symbol.
    Symbol(&'a str),
    /// Units of `quote` per unit of `base`.
    Fx {
        /// The currency priced.
        base: &'a str,
        /// The currency it is priced in.
        quote: &'a str,
    },
}

impl<'a> Series<'a> {
    /// The series of a stored key (`AAPL`, `EUR/USD`).
    pub fn of(key: &'a str) -> Self {
        match key.split_once('/') {
            Some((base, quote)) => Self::Fx { base, quote },
            None => Self::Symbol(key),
        }
    }
}

/// Why a provider gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider has nothing for the series (not retried before the
    /// next round).
    #[error("the provider has no data for {0}")]
    Unknown(String),
    /// The provider could not be reached or answered with an error.
    #[error("the provider failed: {0}")]
    Unavailable(String),
    /// The answer is not closes.
    #[error("the provider's answer is not usable: {0}")]
    Garbage(String),
}

/// A source of daily closes.
#[async_trait]
pub trait PriceProvider: Send + Sync + 'static {
    /// The provider's name, recorded with each close.
    fn name(&self) -> &'static str;

    /// The closes of `series` from `from` to `to` (both included), in any
    /// order; each positive.
    async fn closes(
        &self,
        series: &Series<'_>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Decimal)>, ProviderError>;
}

/// The configured provider; files in `<data_dir>/prices` by default.
pub fn from_config(
    config: &InvestmentConfig,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn PriceProvider>> {
    Ok(match config.provider_kind() {
        ProviderKind::Files => Arc::new(FileProvider::new(
            config
                .prices_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("prices")),
        )),
        ProviderKind::Http => Arc::new(HttpProvider::new(
            config.price_url.clone().unwrap_or_default(),
            config.fx_url.clone().unwrap_or_default(),
            config.price_timeout(),
        )?),
    })
}
