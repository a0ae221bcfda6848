//! Closes from CSV files in a directory: `<SYMBOL>.csv` for an
//! instrument, `fx/<BASE>_<QUOTE>.csv` for an exchange rate, each with a
//! `date,close` header. A missing file means the series is unknown.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{PriceProvider, ProviderError, Series, parse_closes};

/// The largest file read (a century of daily closes is about 1.5 MB).
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A directory of close files.
pub struct FileProvider {
    dir: PathBuf,
}

impl FileProvider {
    /// Files under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, series: &Series<'_>) -> PathBuf {
        match series {
            Series::Symbol(symbol) => self.dir.join(format!("{symbol}.csv")),
            Series::Fx { base, quote } => self.dir.join("fx").join(format!("{base}_{quote}.csv")),
        }
    }
}

#[async_trait]
impl PriceProvider for FileProvider {
    fn name(&self) -> &'static str {
        "files"
    }

    async fn closes(
        &self,
        series: &Series<'_>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Decimal)>, ProviderError> {
        let path = self.path(series);
        let shown = path.display().to_string();
        let size = match tokio::fs::metadata(&path).await {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ProviderError::Unknown(shown));
            }
            Err(e) => return Err(ProviderError::Unavailable(format!("{shown}: {e}"))),
        };
        if size > MAX_FILE_BYTES {
            return Err(ProviderError::Garbage(format!(
                "{shown} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        let body = tokio::fs::read(&path)
            .await
            .map_err(|e| ProviderError::Unavailable(format!("{shown}: {e}")))?;
        let closes = tokio::task::spawn_blocking(move || parse_closes(&body))
            .await
            .map_err(|e| ProviderError::Unavailable(format!("parsing {shown}: {e}")))?
            .map_err(|e| ProviderError::Garbage(format!("{shown}: {e}")))?;
        Ok(closes
            .into_iter()
            .filter(|(day, _)| (from..=to).contains(day))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FileProvider {
        FileProvider::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prices"))
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn the_shipped_sample_reads_by_symbol_and_pair_within_the_range() {
        let closes = sample()
            .closes(&Series::Symbol("AAPL"), d("2024-03-01"), d("2024-03-31"))
            .await
            .unwrap();
        assert_eq!(closes.len(), 21);
        assert!(
            closes
                .iter()
                .all(|(day, c)| day.to_string().starts_with("2024-03") && c.is_sign_positive())
        );
        let fx = sample()
            .closes(&Series::of("EUR/USD"), d("2024-01-01"), d("2024-12-31"))
            .await
            .unwrap();
        assert_eq!(fx.len(), 262);
        assert!(matches!(
            sample()
                .closes(&Series::Symbol("NOPE"), d("2024-01-01"), d("2024-01-02"))
                .await,
            Err(ProviderError::Unknown(_))
        ));
    }
}
