//! Closes from an HTTP endpoint: a URL template per kind of series
//! (`{symbol}`, or `{base}` and `{quote}`, and `{from}`, `{to}` as ISO
//! dates), answering CSV or JSON (see [`parse_closes`]). A 404 means the
//! series is unknown; other errors, timeouts and unreadable answers are
//! failures the worker retries with backoff.

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{PriceProvider, ProviderError, Series, parse_closes};

/// The largest answer read.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// An HTTP price endpoint.
pub struct HttpProvider {
    price_url: String,
    fx_url: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl HttpProvider {
    /// A provider on the two URL templates, each request bounded by
    /// `timeout`.
    pub fn new(price_url: String, fx_url: String, timeout: Duration) -> anyhow::Result<Self> {
        let tls = freedumb_kit::tls::public_client_config()?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(concat!("FREEDUMB-prices/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            price_url,
            fx_url,
            timeout,
            client,
        })
    }

    fn url(&self, series: &Series<'_>, from: NaiveDate, to: NaiveDate) -> String {
        let url = match series {
            Series::Symbol(symbol) => self.price_url.replace("{symbol}", &encode(symbol)),
            Series::Fx { base, quote } => self
                .fx_url
                .replace("{base}", &encode(base))
                .replace("{quote}", &encode(quote)),
        };
        url.replace("{from}", &from.to_string())
            .replace("{to}", &to.to_string())
    }
}

/// Percent-encodes what a symbol may hold beyond URL-safe characters
/// (`^`, `=`, `:`).
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[async_trait]
impl PriceProvider for HttpProvider {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn closes(
        &self,
        series: &Series<'_>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Decimal)>, ProviderError> {
        let url = self.url(series, from, to);
        let unavailable =
            |e: reqwest::Error| ProviderError::Unavailable(e.without_url().to_string());
        let response = self
            .client
            .get(&url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ProviderError::Unknown(format!("{series:?}")));
        }
        if !status.is_success() {
            return Err(ProviderError::Unavailable(format!("HTTP {status}")));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(ProviderError::Garbage(format!(
                "an answer over {MAX_BODY_BYTES} bytes"
            )));
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ProviderError::Garbage(format!(
                    "an answer over {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let closes = tokio::task::spawn_blocking(move || parse_closes(&body))
            .await
            .map_err(|e| ProviderError::Unavailable(format!("parsing: {e}")))??;
        Ok(closes
            .into_iter()
            .filter(|(day, _)| (from..=to).contains(day))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_the_series_and_the_dates() {
        let p = HttpProvider::new(
            "https://p.example/{symbol}?from={from}&to={to}".into(),
            "https://p.example/fx/{base}{quote}.csv".into(),
            Duration::from_secs(1),
        )
        .unwrap();
        let (from, to) = (
            NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(),
        );
        assert_eq!(
            p.url(&Series::Symbol("^GSPC"), from, to),
            "https://p.example/%5EGSPC?from=2024-01-02&to=2024-02-01"
        );
        assert_eq!(
            p.url(
                &Series::Fx {
                    base: "EUR",
                    quote: "USD"
                },
                from,
                to
            ),
            "https://p.example/fx/EURUSD.csv"
        );
    }
}
