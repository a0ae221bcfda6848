//! The gateway's configuration: the `[gateway]` section
//! (`FREEDUMB_GATEWAY__*`).

use std::path::PathBuf;

use freedumb_kit::config::{Section, setting};
use serde::{Deserialize, Serialize};

/// The edge's limits and browser rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Calls per minute to auth routes per client address.
    pub auth_per_minute: u64,
    /// Calls per minute to other routes per verified user (per client
    /// address without a token the gateway could verify).
    pub user_per_minute: u64,
    /// Browser origins allowed by CORS (`https://app.example.com`); empty
    /// allows none.
    pub cors_allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (set when clients reach the
    /// gateway over TLS, e.g. behind Envoy).
    pub hsts: bool,
    /// A directory of static files (a web app) served under `/app/`.
    pub static_dir: Option<PathBuf>,
    /// The largest file an upload route (a statement import) takes, in
    /// bytes, over REST and gRPC-web; other requests keep the 10 MiB body
    /// limit. Keep it equal to the ledger's `import_max_bytes`.
    pub upload_max_bytes: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            auth_per_minute: 10,
            user_per_minute: 100,
            cors_allowed_origins: Vec::new(),
            hsts: false,
            static_dir: None,
            upload_max_bytes: 64 << 20,
        }
    }
}

impl Section for GatewayConfig {
    const NAME: &'static str = "gateway";

    fn validate(&self) -> Vec<String> {
        let at = |key: &str, message: &str| setting(Self::NAME, key, message);
        let mut problems = Vec::new();
        if self.auth_per_minute < 1 {
            problems.push(at("auth_per_minute", "must be at least 1"));
        }
        if self.user_per_minute < 1 {
            problems.push(at("user_per_minute", "must be at least 1"));
        }
        if !(1024..=(1 << 30)).contains(&self.upload_max_bytes) {
            problems.push(at(
                "upload_max_bytes",
                "must be between 1024 and 1073741824 (1 GiB)",
            ));
        }
        if self
            .cors_allowed_origins
            .iter()
            .any(|o| !(o.starts_with("http://") || o.starts_with("https://")))
        {
            problems.push(at(
                "cors_allowed_origins",
                "origins start with http:// or https://",
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(GatewayConfig::default().validate().is_empty());
    }

    #[test]
    fn zero_limits_and_bare_origins_are_refused_with_their_variable() {
        let config = GatewayConfig {
            user_per_minute: 0,
            cors_allowed_origins: vec!["app.example.com".into()],
            ..GatewayConfig::default()
        };
        let problems = config.validate().join("\n");
        assert!(
            problems.contains("FREEDUMB_GATEWAY__USER_PER_MINUTE"),
            "{problems}"
        );
        assert!(
            problems.contains("FREEDUMB_GATEWAY__CORS_ALLOWED_ORIGINS"),
            "{problems}"
        );
    }
}
