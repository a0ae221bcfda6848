//! One configuration for every target: defaults < optional TOML file <
//! `FREEDUMB_*` environment variables (plus the conventional `DATABASE_URL`,
//! `REDIS_URL` and `OTEL_EXPORTER_OTLP_ENDPOINT`). [`Config::load`] validates
//! everything once and reports every wrong value, not just the first.
//!
//! The kit owns the platform's settings (addresses, database, Redis,
//! telemetry, TLS, token verification). Each domain owns its own section
//! (`[ledger]` in the file, `FREEDUMB_LEDGER__*` in the environment) as a
//! [`Section`], read with [`Config::section`].

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest clock-skew allowance accepted for token validation.
pub const MAX_LEEWAY_SECS: u64 = 30;

/// The platform settings of a `freedumb` process, for any set of targets,
/// and the sources that domain sections are read from.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// A prefix for the event streams in Redis (`staging` makes
    /// `staging:freedumb.ledger.v1.events`), for deployments sharing one
    /// Redis: letters, digits, `-` and `_`, at most 64.
    pub event_namespace: Option<String>,
    /// Base URL of the auth service, for services that verify tokens but do
    /// not host auth in the same process (e.g. `http://auth:50051`).
    pub auth_url: Option<String>,
    /// Proxies (the gateway, Envoy, a load balancer) whose
    /// `X-Forwarded-For` names the client, for rate limits and login
    /// throttling; from anyone else the peer address is the client. Each is
    /// an address or a network (`10.0.0.5`, `10.244.0.0/16`: the pod
    /// network, where Envoy's addresses are not known in advance).
    #[serde(deserialize_with = "de_networks")]
    pub trusted_proxies: Vec<IpNet>,
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
    /// How long a create's `request_id` is remembered: a repeat within it
    /// gets the first answer; after it the id is free again.
    pub idempotency_retention_secs: u64,
    /// TLS of the gRPC listener.
    pub tls: TlsConfig,
    /// Token settings shared by the issuer and every verifier (the token
    /// fields of the `[auth]` section).
    #[serde(skip)]
    pub tokens: TokenConfig,
    /// The layered sources domain sections are read from.
    #[serde(skip)]
    pub sources: Sources,
}

/// The layered sources of a loaded configuration, opaque outside the kit:
/// domains read them through [`Config::section`].
#[derive(Clone, Default)]
pub struct Sources(Figment);

// The sources hold every raw value, secrets included: never print them.
impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sources(..)")
    }
}

/// A domain's own configuration section: a serde struct with defaults,
/// read from `[NAME]` in the file and `FREEDUMB_<NAME>__*` variables.
pub trait Section: Serialize + DeserializeOwned + Default {
    /// The section's key, e.g. `ledger`.
    const NAME: &'static str;

    /// Every value that parses but makes no sense, each naming its key and
    /// variable (see [`setting`]).
    fn validate(&self) -> Vec<String>;
}

/// The problem with an optional peer URL setting (a service's address),
/// if it is set and not an `http://` or `https://` URL.
pub fn url_problem(section: &str, key: &str, url: Option<&str>) -> Option<String> {
    url.filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        .map(|_| setting(section, key, "must be an http:// or https:// URL"))
}

/// `key (FREEDUMB_SECTION__KEY): message`, the form of every problem.
pub fn setting(section: &str, key: &str, message: &str) -> String {
    let var = if section.is_empty() {
        format!("FREEDUMB_{}", key.to_uppercase())
    } else {
        format!(
            "FREEDUMB_{}__{}",
            section.to_uppercase(),
            key.to_uppercase()
        )
    };
    let path = if section.is_empty() {
        key.to_owned()
    } else {
        format!("{section}.{key}")
    };
    format!("{path} ({var}): {message}")
}

/// What issuer and verifiers agree on about access tokens. These are the
/// token fields of the `[auth]` section (`FREEDUMB_AUTH__ISSUER`, …): the
/// auth service reads the whole section, every verifier these fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Lifetime of an access token.
    pub access_ttl_secs: u64,
    /// Clock-skew allowance for `exp`/`nbf`, at most 30 s.
    pub leeway_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            issuer: "freedumb".into(),
            audience: "freedumb".into(),
            access_ttl_secs: 15 * 60,
            leeway_secs: MAX_LEEWAY_SECS,
        }
    }
}

impl TokenConfig {
    /// The section the token fields live in.
    pub const SECTION: &'static str = "auth";

    /// Problems with the token fields.
    pub fn validate(&self) -> Vec<String> {
        let at = |key: &str, message: &str| setting(Self::SECTION, key, message);
        let mut problems = Vec::new();
        if self.leeway_secs > MAX_LEEWAY_SECS {
            problems.push(at("leeway_secs", "must be at most 30"));
        }
        if !(60..=3600).contains(&self.access_ttl_secs) {
            problems.push(at("access_ttl_secs", "must be between 60 and 3600"));
        }
        if self.issuer.is_empty() {
            problems.push(at("issuer", "must not be empty"));
        }
        if self.audience.is_empty() {
            problems.push(at("audience", "must not be empty"));
        }
        problems
    }
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
            event_namespace: None,
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
            idempotency_retention_secs: 24 * 3600,
            tls: TlsConfig::default(),
            tokens: TokenConfig::default(),
            sources: Sources::default(),
        }
    }
}

/// Why configuration could not be loaded: every problem, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        Self(e.into_iter().map(|e| e.to_string()).collect())
    }
}

/// Section `name` of `sources` over the section's defaults.
fn extract_section<S: Serialize + DeserializeOwned + Default>(
    sources: &Figment,
    name: &str,
) -> Result<S, ConfigError> {
    Figment::from(Serialized::default(name, S::default()))
        .merge(sources.clone())
        .extract_inner(name)
        .map_err(ConfigError::from)
}

/// Keys under `name` in `sources` that `defaults` does not have.
fn unknown_keys<S: Serialize>(sources: &Figment, name: &str, defaults: &S) -> Vec<String> {
    let known = match Value::serialize(defaults) {
        Ok(Value::Dict(_, known)) => known,
        _ => return Vec::new(),
    };
    let given: Dict = sources.extract_inner(name).unwrap_or_default();
    given
        .keys()
        .filter(|k| !known.contains_key(*k))
        .map(|k| setting(name, k, "unknown setting"))
        .collect()
}

/// Environment variables read without the `FREEDUMB_` prefix, by convention.
const UNPREFIXED: [&str; 3] = ["DATABASE_URL", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"];

impl Config {
    /// Loads defaults, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_checked(file, |_| Vec::new())
    }

    /// Loads as [`Config::load`] does, and reports the problems `sections`
    /// finds (the domains' sections) together with the platform's, so that
    /// every wrong value is named at once.
    pub fn load_checked(
        file: Option<&Path>,
        sections: impl FnOnce(&Config) -> Vec<String>,
    ) -> Result<Self, ConfigError> {
        // FREEDUMB_CONFIG_FILE and FREEDUMB_TARGET are read by the command
        // line, not the configuration.
        let env = Env::prefixed("FREEDUMB_")
            .ignore(&["config_file", "target"])
            .split("__");
        Self::from_figment(Self::figment(file, env), sections)
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

    fn from_figment(
        figment: Figment,
        sections: impl FnOnce(&Config) -> Vec<String>,
    ) -> Result<Self, ConfigError> {
        let mut config: Config = figment.extract().map_err(ConfigError::from)?;
        config.tokens = extract_section(&figment, TokenConfig::SECTION)?;
        config.sources = Sources(figment);
        let mut problems = config.validate().err().map(|e| e.0).unwrap_or_default();
        problems.extend(sections(&config));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }

    /// The domain section `S`, its defaults overridden by the sources;
    /// an unknown key or an invalid value is an error naming it.
    pub fn section<S: Section>(&self) -> Result<S, ConfigError> {
        let section: S = extract_section(&self.sources.0, S::NAME)?;
        let mut problems = unknown_keys(&self.sources.0, S::NAME, &S::default());
        problems.extend(section.validate());
        if problems.is_empty() {
            Ok(section)
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Top-level keys that are neither platform settings nor one of
    /// `sections` (catches misspelt `FREEDUMB_*` variables).
    pub fn unknown_sections(&self, sections: &[&str]) -> Vec<String> {
        let Ok(Value::Dict(_, platform)) = Value::serialize(Config::default()) else {
            return Vec::new();
        };
        let given: Dict = self.sources.0.extract().unwrap_or_default();
        given
            .keys()
            .filter(|k| !platform.contains_key(*k) && !sections.contains(&k.as_str()))
            .map(|k| setting("", k, "unknown setting"))
            .collect()
    }

    /// Checks the values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = self.tokens.validate();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                problems.push(msg.to_owned());
            }
        };
        check(
            self.tls.cert_file.is_some() == self.tls.key_file.is_some(),
            "tls.cert_file / tls.key_file (FREEDUMB_TLS__CERT_FILE, FREEDUMB_TLS__KEY_FILE): give both or neither",
        );
        check(
            self.tls.client_ca_file.is_none() || self.tls.cert_file.is_some(),
            "tls.client_ca_file (FREEDUMB_TLS__CLIENT_CA_FILE): requires tls.cert_file and tls.key_file",
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
            self.idempotency_retention_secs >= 1,
            "idempotency_retention_secs (FREEDUMB_IDEMPOTENCY_RETENTION_SECS): must be at least 1",
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
        if let Some(ns) = &self.event_namespace {
            check(
                !ns.is_empty()
                    && ns.len() <= 64
                    && ns
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "event_namespace (FREEDUMB_EVENT_NAMESPACE): letters, digits, - and _, 1 to 64 of them",
            );
        }
        problems.extend(url_problem(
            "",
            "gateway_upstream_url",
            self.gateway_upstream_url.as_deref(),
        ));
        problems.extend(url_problem("", "auth_url", self.auth_url.as_deref()));
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

    /// The idempotency-key retention as a [`Duration`].
    pub fn idempotency_retention(&self) -> Duration {
        Duration::from_secs(self.idempotency_retention_secs)
    }
}

/// Addresses (a network of one) or networks in CIDR form.
fn de_networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|raw| {
            let raw = raw.trim();
            raw.parse::<IpNet>()
                .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{raw}` is not an IP address or network (e.g. 10.0.0.5 or 10.244.0.0/16)"
                    ))
                })
        })
        .collect()
}

/// Serializes an optional secret as `[redacted]` (for `serialize_with` in
/// domain sections holding secrets).
pub fn ser_secret_opt<S: serde::Serializer>(
    v: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
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
        assert_eq!(config.tokens.access_ttl_secs, 600);
    }

    #[test]
    fn every_invalid_value_is_reported_at_once() {
        let err = load(
            "",
            &[
                ("FREEDUMB_AUTH__LEEWAY_SECS", "120"),
                ("FREEDUMB_AUTH__ACCESS_TTL_SECS", "5"),
                ("REDIS_URL", "http://nope"),
            ],
        )
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("leeway_secs"), "{text}");
        assert!(text.contains("access_ttl_secs"), "{text}");
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
    fn trusted_proxies_are_addresses_or_networks() {
        let config = load(
            "",
            &[(
                "FREEDUMB_TRUSTED_PROXIES",
                "[10.0.0.5, 10.244.0.0/16, \"fd00::/8\"]",
            )],
        )
        .expect("valid");
        let nets: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.0.0.5/32", "10.244.0.0/16", "fd00::/8"]);
        let err = load("", &[("FREEDUMB_TRUSTED_PROXIES", "[10.0.0.0/33]")]).expect_err("invalid");
        let message = err.to_string();
        assert!(
            message.contains("10.0.0.0/33") && message.to_lowercase().contains("trusted_proxies"),
            "{message}"
        );
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let config = load("", &[("DATABASE_URL", "postgres://user:hunter2@h/db")]).expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Demo {
        poll_ms: u64,
        name: String,
    }

    impl Section for Demo {
        const NAME: &'static str = "demo";
        fn validate(&self) -> Vec<String> {
            if self.poll_ms > 10 {
                vec![setting(Self::NAME, "poll_ms", "must be at most 10")]
            } else {
                Vec::new()
            }
        }
    }

    #[test]
    fn sections_read_their_defaults_file_and_environment() {
        let config =
            load("[demo]\nname = \"x\"\n", &[("FREEDUMB_DEMO__POLL_MS", "7")]).expect("valid");
        let demo: Demo = config.section().expect("valid section");
        assert_eq!((demo.poll_ms, demo.name.as_str()), (7, "x"));
        let absent = load("", &[]).expect("valid");
        assert_eq!(absent.section::<Demo>().expect("defaults").poll_ms, 0);
    }

    #[test]
    fn sections_report_unknown_keys_and_bad_values_with_their_variable() {
        let config = load(
            "",
            &[
                ("FREEDUMB_DEMO__POLL_MS", "70"),
                ("FREEDUMB_DEMO__NAEM", "x"),
            ],
        )
        .expect("platform settings are valid");
        let text = config.section::<Demo>().expect_err("invalid").to_string();
        assert!(
            text.contains("demo.naem (FREEDUMB_DEMO__NAEM): unknown setting"),
            "{text}"
        );
        assert!(
            text.contains("demo.poll_ms (FREEDUMB_DEMO__POLL_MS): must be at most 10"),
            "{text}"
        );
    }

    #[test]
    fn unknown_top_level_keys_are_reported() {
        let config = load(
            "",
            &[("FREEDUMB_GRPC_ADRR", "x"), ("FREEDUMB_DEMO__POLL_MS", "1")],
        )
        .expect("platform settings are valid");
        assert_eq!(
            config.unknown_sections(&["demo"]),
            ["grpc_adrr (FREEDUMB_GRPC_ADRR): unknown setting"]
        );
    }
}
