//! Auth's configuration: the `[auth]` section (`FREEDUMB_AUTH__*`).

use freedumb_kit::config::{Section, TokenConfig, setting};
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Token lifetimes, key rotation and password hashing costs. The token
/// fields (issuer, audience, access TTL, leeway) are shared with every
/// verifier and validated by the kit; the rest are auth's alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// What issuer and verifiers agree on.
    #[serde(flatten)]
    pub token: TokenConfig,
    /// Absolute lifetime of a session (its refresh tokens).
    pub refresh_ttl_secs: u64,
    /// How long after its use a refresh token may be presented again
    /// without revoking its session: a retry after a lost response (or a
    /// second tab refreshing at the same moment) gets the same new pair
    /// from the auth replica that answered, a fresh one from another.
    /// 0 turns the grace off; at most 60.
    pub refresh_reuse_grace_secs: u64,
    /// How often a new signing key is made.
    pub key_rotation_secs: u64,
    /// argon2id memory cost in KiB (at least 19 MiB).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (at least 2).
    pub argon2_iterations: u32,
    /// argon2id parallelism (at least 1).
    pub argon2_parallelism: u32,
    /// The key encryption key that seals the signing keys at rest: base64
    /// of 32 random bytes (`openssl rand -base64 32`). Unset: stored as PEM.
    #[serde(serialize_with = "freedumb_kit::config::ser_secret_opt")]
    pub key_encryption_key: Option<SecretString>,
    /// The same, read from a file (a mounted secret).
    pub key_encryption_key_file: Option<PathBuf>,
    /// The key encryption key being rotated out: keys sealed with it still
    /// open, and are sealed again with the current one at start.
    #[serde(serialize_with = "freedumb_kit::config::ser_secret_opt")]
    pub previous_key_encryption_key: Option<SecretString>,
    /// The same, read from a file.
    pub previous_key_encryption_key_file: Option<PathBuf>,
    /// Confirm registrations by email, so that `Register` tells nobody
    /// whether an address has an account: it answers the same either way,
    /// and the account exists once the link sent to the address is used
    /// (`ConfirmRegistration`). Needs the notification service's email
    /// (`notification.smtp_url`).
    pub confirm_registration_by_email: bool,
    /// How long a confirmation token works.
    pub registration_token_ttl_secs: u64,
    /// The link the confirmation email carries: a page of your app that
    /// calls `ConfirmRegistration`, with `{token}` where the token goes
    /// (e.g. `https://app.example.com/confirm?token={token}`). Unset: the
    /// email carries the token alone.
    pub confirm_registration_url: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token: TokenConfig::default(),
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_reuse_grace_secs: 10,
            key_rotation_secs: 7 * 24 * 3600,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            key_encryption_key: None,
            key_encryption_key_file: None,
            previous_key_encryption_key: None,
            previous_key_encryption_key_file: None,
            confirm_registration_by_email: false,
            registration_token_ttl_secs: 24 * 3600,
            confirm_registration_url: None,
        }
    }
}

impl Section for AuthConfig {
    const NAME: &'static str = "auth";

    fn validate(&self) -> Vec<String> {
        let at = |key: &str, message: &str| setting(Self::NAME, key, message);
        let mut problems = Vec::new();
        if self.refresh_ttl_secs <= self.token.access_ttl_secs {
            problems.push(at(
                "refresh_ttl_secs",
                "must be longer than auth.access_ttl_secs",
            ));
        }
        if self.key_rotation_secs < 2 * self.token.access_ttl_secs {
            problems.push(at(
                "key_rotation_secs",
                "must be at least twice auth.access_ttl_secs",
            ));
        }
        if self.refresh_reuse_grace_secs > 60 {
            problems.push(at(
                "refresh_reuse_grace_secs",
                "must be at most 60 (a stolen token used within it is honoured)",
            ));
        }
        if self.argon2_memory_kib < 19 * 1024 {
            problems.push(at("argon2_memory_kib", "must be at least 19456 (19 MiB)"));
        }
        if self.argon2_iterations < 2 {
            problems.push(at("argon2_iterations", "must be at least 2"));
        }
        if self.argon2_parallelism < 1 {
            problems.push(at("argon2_parallelism", "must be at least 1"));
        }
        if !(300..=7 * 24 * 3600).contains(&self.registration_token_ttl_secs) {
            problems.push(at(
                "registration_token_ttl_secs",
                "must be between 300 (5 minutes) and 604800 (7 days)",
            ));
        }
        if let Some(url) = &self.confirm_registration_url
            && !(url.contains("{token}")
                && (url.starts_with("https://") || url.starts_with("http://")))
        {
            problems.push(at(
                "confirm_registration_url",
                "must be an http(s) URL with {token} where the token goes",
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
        assert!(AuthConfig::default().validate().is_empty());
    }

    #[test]
    fn weak_hashing_costs_are_refused_with_their_variable() {
        let config = AuthConfig {
            argon2_memory_kib: 8,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        let problems = config.validate().join("\n");
        assert!(
            problems.contains("FREEDUMB_AUTH__ARGON2_MEMORY_KIB"),
            "{problems}"
        );
        assert!(
            problems.contains("FREEDUMB_AUTH__ARGON2_ITERATIONS"),
            "{problems}"
        );
    }

    #[test]
    fn a_confirmation_link_must_say_where_the_token_goes() {
        let config = |url: &str| AuthConfig {
            confirm_registration_url: Some(url.into()),
            ..AuthConfig::default()
        };
        assert!(
            config("https://app.example.com/confirm?token={token}")
                .validate()
                .is_empty()
        );
        for bad in ["https://app.example.com/confirm", "javascript:{token}"] {
            let problems = config(bad).validate().join("\n");
            assert!(
                problems.contains("FREEDUMB_AUTH__CONFIRM_REGISTRATION_URL"),
                "{bad}: {problems}"
            );
        }
    }
}
