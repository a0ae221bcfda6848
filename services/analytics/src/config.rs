//! The analytics configuration: the `[analytics]` section
//! (`FREEDUMB_ANALYTICS__*`).

use freedumb_kit::config::{Section, url_problem};
use serde::{Deserialize, Serialize};

/// Where the ledger and the investment service are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyticsConfig {
    /// The ledger's gRPC address, for balances and rebuilds. Unset: this
    /// process's own listener, which must then host the ledger.
    pub ledger_url: Option<String>,
    /// The investment service's gRPC address, for portfolios in net worth.
    /// Unset: this process's own listener.
    pub investment_url: Option<String>,
}

impl Section for AnalyticsConfig {
    const NAME: &'static str = "analytics";

    fn validate(&self) -> Vec<String> {
        [
            url_problem(Self::NAME, "ledger_url", self.ledger_url.as_deref()),
            url_problem(Self::NAME, "investment_url", self.investment_url.as_deref()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_named() {
        assert!(AnalyticsConfig::default().validate().is_empty());
        let problems = AnalyticsConfig {
            ledger_url: Some("ledger:50051".into()),
            investment_url: Some("ftp://x".into()),
        }
        .validate();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[1].contains("FREEDUMB_ANALYTICS__INVESTMENT_URL"),
            "{problems:?}"
        );
    }
}
