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
    /// An OpenAI-compatible API base (`https://api.example.com/v1`) that
    /// `Ask` tries first; unset: answers are offline only.
    pub llm_url: Option<String>,
    /// The model name sent to it (required with `llm_url`).
    pub llm_model: Option<String>,
    /// A file holding its bearer key (none sent without it).
    pub llm_key_file: Option<std::path::PathBuf>,
    /// Its budget per question, all retries included (100 to 1,800 ms,
    /// default 1,200: the offline answer must still fit in 2 s).
    pub llm_timeout_ms: Option<u64>,
    /// Retries of one call on transport errors, 429 and 5xx (0 to 5,
    /// default 2).
    pub llm_retries: Option<u32>,
}

impl AiConfig {
    /// The abstention threshold.
    pub fn min_confidence(&self) -> f64 {
        self.min_confidence.unwrap_or(0.5)
    }

    /// The language model's settings, when one is configured; its key read
    /// from its file.
    pub fn llm(&self) -> anyhow::Result<Option<crate::llm::LlmSettings>> {
        let Some(url) = &self.llm_url else {
            return Ok(None);
        };
        let key = match &self.llm_key_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("reading FREEDUMB_AI__LLM_KEY_FILE {}: {e}", path.display())
                })?;
                Some(secrecy::SecretString::from(text.trim().to_owned()))
            }
            None => None,
        };
        Ok(Some(crate::llm::LlmSettings {
            url: url.clone(),
            model: self.llm_model.clone().unwrap_or_default(),
            key,
            timeout: std::time::Duration::from_millis(self.llm_timeout_ms.unwrap_or(1_200)),
            retries: self.llm_retries.unwrap_or(2),
        }))
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
        problems.extend(url_problem(Self::NAME, "llm_url", self.llm_url.as_deref()));
        if self.llm_url.is_some()
            && self
                .llm_model
                .as_deref()
                .is_none_or(|m| m.trim().is_empty())
        {
            problems.push(setting(Self::NAME, "llm_model", "is required with llm_url"));
        }
        if self
            .llm_timeout_ms
            .is_some_and(|t| !(100..=1_800).contains(&t))
        {
            problems.push(setting(
                Self::NAME,
                "llm_timeout_ms",
                "must be between 100 and 1800",
            ));
        }
        if self.llm_retries.is_some_and(|r| r > 5) {
            problems.push(setting(Self::NAME, "llm_retries", "must be at most 5"));
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
            llm_url: Some("http://llm.internal/v1".into()),
            llm_timeout_ms: Some(5_000),
            ..AiConfig::default()
        }
        .validate();
        assert_eq!(problems.len(), 5, "{problems:?}");
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
