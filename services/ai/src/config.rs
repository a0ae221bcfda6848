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
    /// The confidence from which a new uncategorized transaction is
    /// categorized without asking (0 to 1, default 0.9; above 1 turns
    /// auto-categorization off).
    pub auto_apply_confidence: Option<f64>,
}

impl AiConfig {
    /// The abstention threshold.
    pub fn min_confidence(&self) -> f64 {
        self.min_confidence.unwrap_or(0.5)
    }

    /// The auto-apply threshold, or `None` when auto-categorization is off.
    pub fn auto_apply_confidence(&self) -> Option<f64> {
        Some(self.auto_apply_confidence.unwrap_or(0.9)).filter(|c| *c <= 1.0)
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
        if self
            .auto_apply_confidence
            .is_some_and(|c| !(c.is_finite() && c >= self.min_confidence()))
        {
            problems.push(setting(
                Self::NAME,
                "auto_apply_confidence",
                "must be at least min_confidence (above 1 turns auto-categorization off)",
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
            auto_apply_confidence: Some(0.2),
        }
        .validate();
        assert_eq!(problems.len(), 3);
        assert!(
            problems[1].contains("FREEDUMB_AI__MIN_CONFIDENCE"),
            "{problems:?}"
        );
        assert_eq!(AiConfig::default().auto_apply_confidence(), Some(0.9));
        let off = AiConfig {
            auto_apply_confidence: Some(1.01),
            ..AiConfig::default()
        };
        assert!(off.validate().is_empty());
        assert_eq!(off.auto_apply_confidence(), None);
    }
}
