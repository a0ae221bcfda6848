//! The budget's configuration: the `[budget]` section (`FREEDUMB_BUDGET__*`).

use std::time::Duration;

use freedumb_kit::config::{Section, setting, url_problem};
use serde::{Deserialize, Serialize};

/// Where the ledger is, and the budget's background work.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetConfig {
    /// The ledger's gRPC address (`http://ledger:50051`), for checking
    /// categories and rebuilding spending. Unset: this process's own
    /// listener, which must then host the ledger.
    pub ledger_url: Option<String>,
    /// How often the relay looks for alerts other processes committed (it
    /// wakes at once for this process's own).
    pub relay_poll_ms: Option<u64>,
    /// How often a watch stream looks at its budget even without a change
    /// (a new period starts, a hint was missed).
    pub watch_refresh_secs: Option<u64>,
}

impl BudgetConfig {
    /// The relay's polling interval (default 1 s).
    pub fn relay_poll(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms.unwrap_or(1000))
    }

    /// A watch stream's refresh interval (default 30 s).
    pub fn watch_refresh(&self) -> Duration {
        Duration::from_secs(self.watch_refresh_secs.unwrap_or(30))
    }
}

impl Section for BudgetConfig {
    const NAME: &'static str = "budget";

    fn validate(&self) -> Vec<String> {
        let mut problems: Vec<String> =
            url_problem(Self::NAME, "ledger_url", self.ledger_url.as_deref())
                .into_iter()
                .collect();
        if self
            .relay_poll_ms
            .is_some_and(|ms| !(10..=60_000).contains(&ms))
        {
            problems.push(setting(
                Self::NAME,
                "relay_poll_ms",
                "must be between 10 and 60000",
            ));
        }
        if self
            .watch_refresh_secs
            .is_some_and(|s| !(1..=3600).contains(&s))
        {
            problems.push(setting(
                Self::NAME,
                "watch_refresh_secs",
                "must be between 1 and 3600",
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_named() {
        assert!(BudgetConfig::default().validate().is_empty());
        let problems = BudgetConfig {
            ledger_url: Some("ledger:50051".into()),
            relay_poll_ms: Some(1),
            watch_refresh_secs: Some(0),
        }
        .validate();
        assert_eq!(problems.len(), 3);
        assert!(
            problems[0].contains("FREEDUMB_BUDGET__LEDGER_URL"),
            "{problems:?}"
        );
    }
}
