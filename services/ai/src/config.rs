//! The ai service's configuration: the `[ai]` section (`FREEDUMB_AI__*`).

use freedumb_kit::config::{Section, setting, url_problem};
use serde::{Deserialize, Serialize};

/// Where the ledger is, and how sure a proposal must be.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AiConfig {
    /// The ledger's gRPC address (`http://ledger:50051`), for checking a
    /// rule's category. Unset: this process's own listener, which must then
    /// host the ledger.
    pub ledger_url: Option<String>,
    /// The confidence below which no category is proposed (0 to 1,
    /// default 0.5).
    pub min_confidence: Option<f64>,
}

impl AiConfig {
    /// The abstention threshold.
    pub fn min_confidence(&self) -> f64 {
        self.min_confidence.unwrap_or(0.5)
    }
}

impl Section for AiConfig {
    const NAME: &'static str = "ai";

    fn validate(&self) -> Vec<String> {
        let mut problems: Vec<String> =
            url_problem(Self::NAME, "ledger_url", self.ledger_url.as_deref())
                .into_iter()
                .collect();
        if self
            .min_confidence
            .is_some_and(|c| !(0.0..=1.0).contains(&c))
        {
            problems.push(setting(
                Self::NAME,
                "min_confidence",
                "must be between 0 and 1",
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
        assert!(AiConfig::default().validate().is_empty());
        let problems = AiConfig {
            ledger_url: Some("ledger:50051".into()),
            min_confidence: Some(1.5),
        }
        .validate();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[1].contains("FREEDUMB_AI__MIN_CONFIDENCE"),
            "{problems:?}"
        );
    }
}
