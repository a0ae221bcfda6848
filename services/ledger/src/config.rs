//! The ledger's configuration: the `[ledger]` section (`FREEDUMB_LEDGER__*`).

use std::time::Duration;

use freedumb_kit::config::{Section, setting};
use serde::{Deserialize, Serialize};

/// Ledger background work: the outbox relay and the recurring worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerConfig {
    /// How often the relay looks for events other processes committed
    /// (it wakes at once for this process's own).
    pub relay_poll_ms: u64,
    /// How often the recurring worker looks for due occurrences.
    pub recurring_poll_secs: u64,
    /// The largest statement an import takes, in bytes (also the largest
    /// gRPC message the ledger reads: `CreateImport` carries the file).
    pub import_max_bytes: u64,
    /// Statement entries written per database transaction.
    pub import_batch_lines: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            relay_poll_ms: 1000,
            recurring_poll_secs: 60,
            import_max_bytes: 64 << 20,
            import_batch_lines: 5000,
        }
    }
}

impl LedgerConfig {
    /// The relay's polling interval.
    pub fn relay_poll(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms)
    }

    /// The recurring worker's polling interval.
    pub fn recurring_poll(&self) -> Duration {
        Duration::from_secs(self.recurring_poll_secs)
    }

    /// The import limits.
    pub fn imports(&self) -> crate::service::ImportLimits {
        crate::service::ImportLimits {
            max_bytes: self.import_max_bytes,
            batch_lines: self.import_batch_lines,
        }
    }
}

impl Section for LedgerConfig {
    const NAME: &'static str = "ledger";

    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(10..=60_000).contains(&self.relay_poll_ms) {
            problems.push(setting(
                Self::NAME,
                "relay_poll_ms",
                "must be between 10 and 60000",
            ));
        }
        if !(1..=86_400).contains(&self.recurring_poll_secs) {
            problems.push(setting(
                Self::NAME,
                "recurring_poll_secs",
                "must be between 1 and 86400",
            ));
        }
        if !(1024..=(1 << 30)).contains(&self.import_max_bytes) {
            problems.push(setting(
                Self::NAME,
                "import_max_bytes",
                "must be between 1024 and 1073741824 (1 GiB)",
            ));
        }
        if !(1..=50_000).contains(&self.import_batch_lines) {
            problems.push(setting(
                Self::NAME,
                "import_batch_lines",
                "must be between 1 and 50000",
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
        assert!(LedgerConfig::default().validate().is_empty());
        let problems = LedgerConfig {
            relay_poll_ms: 1,
            recurring_poll_secs: 0,
            import_max_bytes: 10,
            import_batch_lines: 0,
        }
        .validate();
        assert_eq!(problems.len(), 4);
        assert!(problems[0].contains("FREEDUMB_LEDGER__RELAY_POLL_MS"));
    }
}
