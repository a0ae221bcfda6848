//! The investment service's configuration: the `[investment]` section
//! (`FREEDUMB_INVESTMENT__*`).

use std::path::PathBuf;
use std::time::Duration;

use freedumb_kit::config::{Section, setting, url_problem};
use serde::{Deserialize, Serialize};

/// Where the ledger is, where closes come from, and the price worker's
/// pace.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InvestmentConfig {
    /// The ledger's gRPC address, for checking the accounts portfolios and
    /// activities name. Unset: this process's own listener, which must then
    /// host the ledger.
    pub ledger_url: Option<String>,
    /// How often the relay looks for events other processes committed.
    pub relay_poll_ms: Option<u64>,
    /// `files` (the default: CSV files in `prices_dir`) or `http`
    /// (`price_url` and `fx_url`).
    pub price_provider: Option<String>,
    /// The directory of close files: `<SYMBOL>.csv` and `fx/<BASE>_<QUOTE>.csv`,
    /// each `date,close` lines. Default `<data_dir>/prices`.
    pub prices_dir: Option<PathBuf>,
    /// The HTTP provider's URL for an instrument's closes, with `{symbol}`,
    /// `{from}` and `{to}` (ISO dates) replaced.
    pub price_url: Option<String>,
    /// The HTTP provider's URL for an exchange rate's closes, with `{base}`,
    /// `{quote}`, `{from}` and `{to}` replaced (the rate is units of quote
    /// per unit of base).
    pub fx_url: Option<String>,
    /// How often the worker fetches (default 3600 s).
    pub price_interval_secs: Option<u64>,
    /// How long one provider request may take (default 10000 ms).
    pub price_timeout_ms: Option<u64>,
    /// The first wait after a provider error, doubled per failure up to an
    /// hour (default 30 s).
    pub price_retry_secs: Option<u64>,
}

/// The price worker's pace.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Between rounds.
    pub interval: Duration,
    /// The first wait after a failure.
    pub retry: Duration,
    /// The longest wait after failures.
    pub retry_max: Duration,
}

/// The kinds of price provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// CSV files in a directory.
    Files,
    /// An HTTP endpoint answering CSV or JSON.
    Http,
}

impl InvestmentConfig {
    /// The relay's polling interval (default 1 s).
    pub fn relay_poll(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms.unwrap_or(1000))
    }

    /// The configured provider kind (validated: files when unknown).
    pub fn provider_kind(&self) -> ProviderKind {
        match self.price_provider.as_deref() {
            Some("http") => ProviderKind::Http,
            _ => ProviderKind::Files,
        }
    }

    /// One provider request's time limit.
    pub fn price_timeout(&self) -> Duration {
        Duration::from_millis(self.price_timeout_ms.unwrap_or(10_000))
    }

    /// The worker's pace.
    pub fn worker_settings(&self) -> WorkerSettings {
        WorkerSettings {
            interval: Duration::from_secs(self.price_interval_secs.unwrap_or(3600)),
            retry: Duration::from_secs(self.price_retry_secs.unwrap_or(30)),
            retry_max: Duration::from_secs(3600),
        }
    }
}

impl Section for InvestmentConfig {
    const NAME: &'static str = "investment";

    fn validate(&self) -> Vec<String> {
        let mut problems: Vec<String> = [
            url_problem(Self::NAME, "ledger_url", self.ledger_url.as_deref()),
            url_problem(Self::NAME, "price_url", self.price_url.as_deref()),
            url_problem(Self::NAME, "fx_url", self.fx_url.as_deref()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut bound = |key: &str, value: Option<u64>, range: std::ops::RangeInclusive<u64>| {
            if value.is_some_and(|v| !range.contains(&v)) {
                problems.push(setting(
                    Self::NAME,
                    key,
                    &format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        };
        bound("relay_poll_ms", self.relay_poll_ms, 10..=60_000);
        bound("price_interval_secs", self.price_interval_secs, 1..=86_400);
        bound("price_timeout_ms", self.price_timeout_ms, 100..=120_000);
        bound("price_retry_secs", self.price_retry_secs, 1..=3600);
        match self.price_provider.as_deref() {
            None | Some("files") => {}
            Some("http") => {
                for (key, url) in [("price_url", &self.price_url), ("fx_url", &self.fx_url)] {
                    if url.is_none() {
                        problems.push(setting(
                            Self::NAME,
                            key,
                            "is required when price_provider is http",
                        ));
                    }
                }
                if self
                    .price_url
                    .as_deref()
                    .is_some_and(|u| !u.contains("{symbol}"))
                {
                    problems.push(setting(Self::NAME, "price_url", "must contain {symbol}"));
                }
                if self
                    .fx_url
                    .as_deref()
                    .is_some_and(|u| !(u.contains("{base}") && u.contains("{quote}")))
                {
                    problems.push(setting(
                        Self::NAME,
                        "fx_url",
                        "must contain {base} and {quote}",
                    ));
                }
            }
            Some(_) => problems.push(setting(
                Self::NAME,
                "price_provider",
                "must be files or http",
            )),
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_every_problem_is_named() {
        assert!(InvestmentConfig::default().validate().is_empty());
        let problems = InvestmentConfig {
            ledger_url: Some("ledger:50051".into()),
            price_provider: Some("http".into()),
            price_url: Some("https://prices.example/daily".into()),
            price_interval_secs: Some(0),
            ..Default::default()
        }
        .validate();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("FREEDUMB_INVESTMENT__LEDGER_URL"));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("price_url") && p.contains("{symbol}"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("fx_url") && p.contains("required"))
        );
    }

    #[test]
    fn an_unknown_provider_is_refused() {
        let problems = InvestmentConfig {
            price_provider: Some("yahoo".into()),
            ..Default::default()
        }
        .validate();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("FREEDUMB_INVESTMENT__PRICE_PROVIDER"));
    }
}
