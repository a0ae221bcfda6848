//! The FREEDUMB auth service: accounts, credentials, sessions, refresh
//! tokens and the keys that sign access tokens.
#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod error;
pub mod hashing;
pub mod kek;
pub mod keys;
pub mod outbox;
pub mod revocations;
pub mod service;
pub mod store;
pub mod throttle;

use std::sync::Arc;

use freedumb_kit::state::SharedState;
use freedumb_kit::{Config, Database, Migrations};
use freedumb_proto::auth::auth_service_server::AuthServiceServer;
use sqlx::migrate::Migrator;

pub use self::config::AuthConfig;
pub use self::keys::{LocalKeySource, SigningKeys};
pub use self::service::{AuthApi, AuthDeps};

/// The service's name: its Postgres schema and SQLite file.
pub const NAME: &str = "auth";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// Auth's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The methods callable without an access token.
pub use freedumb_proto::PUBLIC_METHODS;

/// A ready-to-serve auth service.
pub struct Auth {
    /// The tonic service to host.
    pub server: AuthServiceServer<AuthApi>,
    /// Its signing keys, for an in-process verifier.
    pub keys: Arc<SigningKeys>,
    /// The relay of its events (sign-ins from new clients).
    pub relay: freedumb_kit::outbox::Relay,
    /// Keeps the shared revocation list complete: restore it once before
    /// serving, then run it.
    pub revocation_sync: revocations::RevocationSync,
}

/// Builds the auth service on a migrated `db`, configured by the `[auth]`
/// section of `config`.
pub fn build(
    config: &Config,
    db: &Database,
    state: &SharedState,
    bus: Arc<dyn freedumb_kit::events::EventBus>,
) -> anyhow::Result<Auth> {
    let section: AuthConfig = config.section()?;
    let store = store::for_database(db);
    let wake = Arc::new(tokio::sync::Notify::new());
    let relay = freedumb_kit::outbox::Relay::new(
        freedumb_kit::outbox::for_database(db),
        bus,
        outbox::STREAM,
        wake.clone(),
        std::time::Duration::from_secs(1),
    );
    let keys = Arc::new(SigningKeys::new(store.clone(), &section)?);
    let revocation_sync = revocations::RevocationSync::new(
        store.clone(),
        state.revocations.clone(),
        std::time::Duration::from_secs(section.token.access_ttl_secs + section.token.leeway_secs),
    );
    let deps = AuthDeps {
        store,
        keys: keys.clone(),
        throttle: throttle::LoginThrottle::new(state.counters.clone()),
        revocations: state.revocations.clone(),
        revocation_sync: revocation_sync.clone(),
        proxies: freedumb_kit::client::TrustedProxies::new(config.trusted_proxies.iter().copied()),
        wake,
    };
    let api = AuthApi::new(deps, &section)?;
    Ok(Auth {
        server: AuthServiceServer::new(api),
        keys,
        relay,
        revocation_sync,
    })
}
