//! One configuration for every target: defaults < optional TOML file <
//! `FREEDUMB_*` environment variables (plus the conventional `DATABASE_URL`,
//! `REDIS_URL` and `OTEL_EXPORTER_OTLP_ENDPOINT`). [`Config::load`] validates
//! everything once and reports every wrong value, not just the first.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Longest clock-skew allowance accepted for token validation.
pub const MAX_LEEWAY_SECS: u64 = 30;

/// Everything a `freedumb` process needs, for any set of targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where embedded data (SQLite files) lives.
    pub data_dir: PathBuf,
    /// The gRPC (and gRPC-web) listener.
    pub grpc_addr: SocketAddr,
    /// The admin HTTP listener: `/metrics`, `/health`, `/ready`.
    pub admin_addr: SocketAddr,
    /// The REST/gRPC-web gateway listener.
    pub gateway_addr: SocketAddr,
    /// Postgres URL; SQLite under `data_dir` when absent.
    #[serde(serialize_with = "ser_secret_opt")]
    pub database_url: Option<SecretString>,
    /// Redis URL; in-process cache, limiter and revocations when absent.
    #[serde(serialize_with = "ser_secret_opt")]
    pub redis_url: Option<SecretString>,
    /// Base URL of the auth service, for services that verify tokens but do
    /// not host auth in the same process (e.g. `http://auth:50051`).
    pub auth_url: Option<String>,
    /// Proxies (the gateway, Envoy, a load balancer) whose
    /// `X-Forwarded-For` names the client, for rate limits and login
    /// throttling; from anyone else the peer address is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Where the gateway sends calls when no gRPC service runs in its
    /// process (an Envoy or service address).
    pub gateway_upstream_url: Option<String>,
    /// OTLP/gRPC collector endpoint; traces are exported only when set.
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// `tracing` filter directives, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// `json` (default, for machines) or `pretty` (for humans).
    pub log_format: LogFormat,
    /// Pool size per service database.
    pub db_max_connections: u32,
    /// How long a request may run before DEADLINE_EXCEEDED.
    pub request_timeout_secs: u64,
    /// Requests served at once per process before callers queue.
    pub concurrency_limit: usize,
    /// On shutdown, how long to keep serving with health NOT_SERVING so that
    /// load balancers stop sending traffic first.
    pub shutdown_delay_secs: u64,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Token settings shared by the issuer and every verifier.
    pub auth: AuthConfig,
    /// Ledger background work.
    pub ledger: LedgerConfig,
    /// The REST/gRPC-web edge.
    pub gateway: GatewayConfig,
    /// TLS of the gRPC listener.
    pub tls: TlsConfig,
}

/// TLS of the gRPC listener: off unless a certificate is configured; with
/// a client CA, callers must present a certificate it signed (mTLS), so
/// nothing but the mesh's proxy (Envoy) can call the services.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of this server.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA whose client certificates are required.
    pub client_ca_file: Option<PathBuf>,
}

/// The edge's limits and browser rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Calls per minute to auth routes per client address.
    pub auth_per_minute: u64,
    /// Calls per minute to other routes per user (per client address
    /// without a token).
    pub user_per_minute: u64,
    /// Browser origins allowed by CORS (`https://app.example.com`); empty
    /// allows none.
    pub cors_allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (set when clients reach the
    /// gateway over TLS, e.g. behind Envoy).
    pub hsts: bool,
    /// A directory of static files (a web app) served under `/app/`.
    pub static_dir: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            auth_per_minute: 10,
            user_per_minute: 100,
            cors_allowed_origins: Vec::new(),
            hsts: false,
            static_dir: None,
        }
    }
}

/// Ledger background work: the outbox relay and the recurring worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// How often the relay looks for events other processes committed
    /// (it wakes at once for this process's own).
    pub relay_poll_ms: u64,
    /// How often the recurring worker looks for due occurrences.
    pub recurring_poll_secs: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            relay_poll_ms: 1000,
            recurring_poll_secs: 60,
        }
    }
}

/// Token and password settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Lifetime of an access token.
    pub access_ttl_secs: u64,
    /// Absolute lifetime of a session (its refresh tokens).
    pub refresh_ttl_secs: u64,
    /// How often a new signing key is made.
    pub key_rotation_secs: u64,
    /// Clock-skew allowance for `exp`/`nbf`, at most 30 s.
    pub leeway_secs: u64,
    /// argon2id memory cost in KiB (at least 19 MiB).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (at least 2).
    pub argon2_iterations: u32,
    /// argon2id parallelism (at least 1).
    pub argon2_parallelism: u32,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, coloured.
    Pretty,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            grpc_addr: ([127, 0, 0, 1], 50051).into(),
            admin_addr: ([127, 0, 0, 1], 9090).into(),
            gateway_addr: ([127, 0, 0, 1], 8080).into(),
            database_url: None,
            redis_url: None,
            auth_url: None,
            trusted_proxies: Vec::new(),
            gateway_upstream_url: None,
            otel_exporter_otlp_endpoint: None,
            log_filter: "info".into(),
            log_format: LogFormat::Json,
            db_max_connections: 10,
            request_timeout_secs: 30,
            concurrency_limit: 1024,
            shutdown_delay_secs: 0,
            shutdown_grace_secs: 25,
            auth: AuthConfig::default(),
            ledger: LedgerConfig::default(),
            gateway: GatewayConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "freedumb".into(),
            audience: "freedumb".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            key_rotation_secs: 7 * 24 * 3600,
            leeway_secs: MAX_LEEWAY_SECS,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

/// Why configuration could not be loaded: every problem, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// Environment variables read without the `FREEDUMB_` prefix, by convention.
const UNPREFIXED: [&str; 3] = ["DATABASE_URL", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"];

impl Config {
    /// Loads defaults, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        // FREEDUMB_CONFIG_FILE and FREEDUMB_TARGET are read by the command
        // line, not the configuration.
        let env = Env::prefixed("FREEDUMB_")
            .ignore(&["config_file", "target"])
            .split("__");
        Self::from_figment(Self::figment(file, env))
    }

    /// The layered sources; `env` is injectable so tests need not touch the
    /// process environment.
    fn figment(file: Option<&Path>, env: Env) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(
                Env::raw()
                    .only(&UNPREFIXED)
                    .map(|k| k.as_str().to_lowercase().into()),
            )
            .merge(env)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                problems.push(msg.to_owned());
            }
        };
        check(
            (10..=60_000).contains(&self.ledger.relay_poll_ms),
            "ledger.relay_poll_ms (FREEDUMB_LEDGER__RELAY_POLL_MS): must be between 10 and 60000",
        );
        check(
            (1..=86_400).contains(&self.ledger.recurring_poll_secs),
            "ledger.recurring_poll_secs (FREEDUMB_LEDGER__RECURRING_POLL_SECS): must be between 1 and 86400",
        );
        check(
            self.gateway.auth_per_minute >= 1 && self.gateway.user_per_minute >= 1,
            "gateway.auth_per_minute / gateway.user_per_minute (FREEDUMB_GATEWAY__*): must be at least 1",
        );
        for origin in &self.gateway.cors_allowed_origins {
            check(
                origin.starts_with("http://") || origin.starts_with("https://"),
                "gateway.cors_allowed_origins (FREEDUMB_GATEWAY__CORS_ALLOWED_ORIGINS): origins start with http:// or https://",
            );
        }
        check(
            self.tls.cert_file.is_some() == self.tls.key_file.is_some(),
            "tls.cert_file / tls.key_file (FREEDUMB_TLS__CERT_FILE, FREEDUMB_TLS__KEY_FILE): give both or neither",
        );
        check(
            self.tls.client_ca_file.is_none() || self.tls.cert_file.is_some(),
            "tls.client_ca_file (FREEDUMB_TLS__CLIENT_CA_FILE): requires tls.cert_file and tls.key_file",
        );
        let a = &self.auth;
        check(
            a.leeway_secs <= MAX_LEEWAY_SECS,
            "auth.leeway_secs (FREEDUMB_AUTH__LEEWAY_SECS): must be at most 30",
        );
        check(
            (60..=3600).contains(&a.access_ttl_secs),
            "auth.access_ttl_secs (FREEDUMB_AUTH__ACCESS_TTL_SECS): must be between 60 and 3600",
        );
        check(
            a.refresh_ttl_secs > a.access_ttl_secs,
            "auth.refresh_ttl_secs (FREEDUMB_AUTH__REFRESH_TTL_SECS): must be longer than auth.access_ttl_secs",
        );
        check(
            a.key_rotation_secs >= 2 * a.access_ttl_secs,
            "auth.key_rotation_secs (FREEDUMB_AUTH__KEY_ROTATION_SECS): must be at least twice auth.access_ttl_secs",
        );
        check(
            a.argon2_memory_kib >= 19 * 1024,
            "auth.argon2_memory_kib (FREEDUMB_AUTH__ARGON2_MEMORY_KIB): must be at least 19456 (19 MiB)",
        );
        check(
            a.argon2_iterations >= 2,
            "auth.argon2_iterations (FREEDUMB_AUTH__ARGON2_ITERATIONS): must be at least 2",
        );
        check(
            a.argon2_parallelism >= 1,
            "auth.argon2_parallelism (FREEDUMB_AUTH__ARGON2_PARALLELISM): must be at least 1",
        );
        check(
            !a.issuer.is_empty(),
            "auth.issuer (FREEDUMB_AUTH__ISSUER): must not be empty",
        );
        check(
            !a.audience.is_empty(),
            "auth.audience (FREEDUMB_AUTH__AUDIENCE): must not be empty",
        );
        check(
            self.db_max_connections >= 1,
            "db_max_connections (FREEDUMB_DB_MAX_CONNECTIONS): must be at least 1",
        );
        check(
            self.request_timeout_secs >= 1,
            "request_timeout_secs (FREEDUMB_REQUEST_TIMEOUT_SECS): must be at least 1",
        );
        check(
            self.concurrency_limit >= 1,
            "concurrency_limit (FREEDUMB_CONCURRENCY_LIMIT): must be at least 1",
        );
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            check(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "database_url (DATABASE_URL): must start with postgres:// (leave it unset for embedded SQLite)",
            );
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            check(
                url.starts_with("redis://") || url.starts_with("rediss://"),
                "redis_url (REDIS_URL): must start with redis:// or rediss://",
            );
        }
        if let Some(url) = &self.gateway_upstream_url {
            check(
                url.starts_with("http://") || url.starts_with("https://"),
                "gateway_upstream_url (FREEDUMB_GATEWAY_UPSTREAM_URL): must start with http:// or https://",
            );
        }
        if let Some(url) = &self.auth_url {
            check(
                url.starts_with("http://") || url.starts_with("https://"),
                "auth_url (FREEDUMB_AUTH_URL): must start with http:// or https://",
            );
        }
        if let Ok(filter) = tracing_subscriber::EnvFilter::try_new(&self.log_filter) {
            drop(filter);
        } else {
            problems.push(format!(
                "log_filter (FREEDUMB_LOG_FILTER): `{}` is not a valid tracing filter",
                self.log_filter
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// The request timeout as a [`Duration`].
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The shutdown delay as a [`Duration`].
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }

    /// The shutdown grace period as a [`Duration`].
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

fn ser_secret_opt<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    // Only the defaults are ever serialized (and they hold no secret); a
    // configured secret must never end up in a dump or a log.
    match v {
        Some(_) => s.serialize_some("[redacted]"),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own error
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut loaded = None;
        figment::Jail::expect_with(|jail| {
            jail.create_file("freedumb.toml", toml)?;
            for (k, v) in env {
                jail.set_env(k, v);
            }
            loaded = Some(Config::load(Some(Path::new("freedumb.toml"))));
            Ok(())
        });
        loaded.expect("the jail ran")
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::default();
        config.validate().expect("defaults must validate");
        assert_eq!(config.grpc_addr.to_string(), "127.0.0.1:50051");
        assert!(config.database_url.is_none());
    }

    #[test]
    fn env_overrides_file_which_overrides_defaults() {
        let config = load(
            "grpc_addr = \"127.0.0.1:6000\"\nadmin_addr = \"127.0.0.1:6001\"\n",
            &[
                ("FREEDUMB_GRPC_ADDR", "127.0.0.1:7000"),
                ("DATABASE_URL", "postgres://x@h/db"),
            ],
        )
        .expect("valid");
        assert_eq!(config.grpc_addr.to_string(), "127.0.0.1:7000");
        assert_eq!(config.admin_addr.to_string(), "127.0.0.1:6001");
        assert_eq!(
            config
                .database_url
                .as_ref()
                .map(|u| u.expose_secret().to_owned())
                .as_deref(),
            Some("postgres://x@h/db")
        );
    }

    #[test]
    fn nested_values_come_from_double_underscore_env() {
        let config = load("", &[("FREEDUMB_AUTH__ACCESS_TTL_SECS", "600")]).expect("valid");
        assert_eq!(config.auth.access_ttl_secs, 600);
    }

    #[test]
    fn every_invalid_value_is_reported_at_once() {
        let err = load(
            "",
            &[
                ("FREEDUMB_AUTH__LEEWAY_SECS", "120"),
                ("FREEDUMB_AUTH__ARGON2_MEMORY_KIB", "1024"),
                ("REDIS_URL", "http://nope"),
            ],
        )
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("leeway_secs"), "{text}");
        assert!(text.contains("argon2_memory_kib"), "{text}");
        assert!(text.contains("redis_url"), "{text}");
    }

    #[test]
    fn unparsable_address_names_the_key() {
        let err = load("", &[("FREEDUMB_GRPC_ADDR", "not-an-address")]).expect_err("invalid");
        assert!(
            err.to_string().to_lowercase().contains("grpc_addr"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let config = load("", &[("DATABASE_URL", "postgres://user:hunter2@h/db")]).expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
