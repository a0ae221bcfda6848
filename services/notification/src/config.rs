//! The notification service's configuration: the `[notification]` section
//! (`FREEDUMB_NOTIFICATION__*`).

use std::time::Duration;

use freedumb_kit::config::{Section, setting};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::domain::webhook::AddressPolicy;

/// SMTP, webhook policy and the delivery worker's pacing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationConfig {
    /// The SMTP server (`smtp://host:587` with STARTTLS when offered,
    /// `smtp://host:587?tls=required`, `smtps://host:465`; credentials as
    /// `smtp://user:password@host`). No email without it.
    pub smtp_url: Option<String>,
    /// The sender of every email.
    pub smtp_from: String,
    /// Whether endpoints may be plain `http://`.
    pub webhook_allow_http: bool,
    /// Networks endpoints may resolve to although they are not public
    /// (CIDR, e.g. `10.20.0.0/16`).
    pub webhook_allowed_networks: Vec<String>,
    /// How long one webhook attempt may take.
    pub webhook_timeout_secs: u64,
    /// The first retry's delay; each next one doubles, with jitter.
    pub retry_base_ms: u64,
    /// The longest delay between attempts.
    pub retry_max_ms: u64,
    /// Attempts before a delivery is dead.
    pub max_attempts: i32,
    /// How often the worker looks for due deliveries (it wakes at once for
    /// this process's own).
    pub worker_poll_ms: u64,
    /// How long a worker holds the deliveries it claimed: a worker that
    /// dies leaves them to others after this.
    pub worker_claim_secs: u64,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_from: "FREEDUMB <notifications@freedumb.invalid>".into(),
            webhook_allow_http: false,
            webhook_allowed_networks: Vec::new(),
            webhook_timeout_secs: 10,
            retry_base_ms: 10_000,
            retry_max_ms: 3_600_000,
            max_attempts: 8,
            worker_poll_ms: 1000,
            worker_claim_secs: 120,
        }
    }
}

impl NotificationConfig {
    /// Where webhooks may go.
    pub fn address_policy(&self) -> AddressPolicy {
        AddressPolicy {
            allow_http: self.webhook_allow_http,
            allowed: self
                .webhook_allowed_networks
                .iter()
                .filter_map(|n| n.parse::<IpNet>().ok())
                .collect(),
        }
    }

    /// The worker's polling interval.
    pub fn worker_poll(&self) -> Duration {
        Duration::from_millis(self.worker_poll_ms)
    }
}

impl Section for NotificationConfig {
    const NAME: &'static str = "notification";

    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(setting(Self::NAME, key, message));
            }
        };
        if let Some(url) = &self.smtp_url {
            check(
                url.starts_with("smtp://") || url.starts_with("smtps://"),
                "smtp_url",
                "must start with smtp:// or smtps://",
            );
        }
        check(
            self.smtp_from.parse::<lettre::message::Mailbox>().is_ok(),
            "smtp_from",
            "must be a mailbox such as `FREEDUMB <notifications@example.com>`",
        );
        for network in &self.webhook_allowed_networks {
            check(
                network.parse::<IpNet>().is_ok(),
                "webhook_allowed_networks",
                "each must be a CIDR network such as 10.20.0.0/16",
            );
        }
        check(
            (1..=60).contains(&self.webhook_timeout_secs),
            "webhook_timeout_secs",
            "must be between 1 and 60",
        );
        check(
            (10..=3_600_000).contains(&self.retry_base_ms),
            "retry_base_ms",
            "must be between 10 and 3600000",
        );
        check(
            self.retry_max_ms >= self.retry_base_ms && self.retry_max_ms <= 86_400_000,
            "retry_max_ms",
            "must be at least retry_base_ms and at most 86400000",
        );
        check(
            (1..=50).contains(&self.max_attempts),
            "max_attempts",
            "must be between 1 and 50",
        );
        check(
            (10..=60_000).contains(&self.worker_poll_ms),
            "worker_poll_ms",
            "must be between 10 and 60000",
        );
        // A round sends everything it claimed at once, then the digests:
        // two attempts' time at most, and a margin.
        check(
            self.worker_claim_secs >= 3 * self.webhook_timeout_secs
                && self.worker_claim_secs <= 3600,
            "worker_claim_secs",
            "must be at least three times webhook_timeout_secs, and at most 3600",
        );
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(NotificationConfig::default().validate().is_empty());
        let bad = NotificationConfig {
            smtp_url: Some("mail.example.com".into()),
            smtp_from: "nobody".into(),
            webhook_allowed_networks: vec!["10.0.0.0/33".into()],
            max_attempts: 0,
            ..NotificationConfig::default()
        };
        let problems = bad.validate();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].contains("FREEDUMB_NOTIFICATION__SMTP_URL"),
            "{problems:?}"
        );
    }
}
