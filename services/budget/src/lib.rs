//! FREEDUMB budgets: spending limits per category and period, their status
//! as a projection of the ledger's events, and alerts when spending crosses
//! a threshold, announced through a transactional outbox.
#![forbid(unsafe_code)]

pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod outbox;
pub mod peer;
pub mod projection;
pub mod service;
pub mod store;
pub mod watch;

use std::sync::Arc;

use freedumb_kit::events::{EventBus, GroupReader, Start};
use freedumb_kit::{Config, Database, Migrations, Shutdown};
use freedumb_proto::budget::budget_service_server::BudgetServiceServer;
use sqlx::migrate::Migrator;
use tokio::sync::Notify;

pub use self::config::BudgetConfig;
pub use self::service::{BudgetApi, BudgetDeps};

/// The service's name: its Postgres schema and SQLite file.
pub const NAME: &str = "budget";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The budget's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The budget's parts for one process.
pub struct Budget {
    stores: store::Stores,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    config: BudgetConfig,
}

impl Budget {
    /// The budget on a migrated `db`, reading and publishing through
    /// `bus`, configured by the `[budget]` section of `config`.
    pub fn new(config: &Config, db: &Database, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        Ok(Self {
            stores: store::for_database(db),
            bus,
            wake: Arc::new(Notify::new()),
            config: config.section()?,
        })
    }

    /// The gRPC service, calling the ledger at `ledger_url` (the
    /// configured one wins).
    pub fn service(
        &self,
        ledger_url: &str,
        shutdown: Shutdown,
    ) -> anyhow::Result<BudgetServiceServer<BudgetApi>> {
        let url = self.config.ledger_url.as_deref().unwrap_or(ledger_url);
        Ok(BudgetServiceServer::new(BudgetApi::new(BudgetDeps {
            store: self.stores.user.clone(),
            ledger: peer::LedgerPeer::new(url)?,
            bus: self.bus.clone(),
            shutdown,
            watch_refresh: self.config.watch_refresh(),
        })))
    }

    /// Whether the ledger's address is configured (otherwise the service
    /// calls its own process's listener).
    pub fn ledger_configured(&self) -> bool {
        self.config.ledger_url.is_some()
    }

    /// The projection's consumer: a reader of the group `budget` on the
    /// ledger's stream (join it while wiring, before tasks start) and the
    /// handler applying what it reads.
    pub fn projection(&self) -> (Box<dyn GroupReader>, Arc<projection::Projection>) {
        // A projection needs the history the stream still holds.
        let reader = self
            .bus
            .group(LEDGER_STREAM, projection::GROUP, Start::Beginning);
        let handler = projection::Projection::new(
            self.stores.projection.clone(),
            self.bus.clone(),
            self.wake.clone(),
        );
        (reader, Arc::new(handler))
    }

    /// The outbox relay of budget events.
    pub fn relay(&self) -> freedumb_kit::outbox::Relay {
        freedumb_kit::outbox::Relay::new(
            self.stores.outbox.clone(),
            self.bus.clone(),
            outbox::STREAM,
            self.wake.clone(),
            self.config.relay_poll(),
        )
    }
}

/// The ledger's event stream (`freedumb.ledger.v1.LedgerEvent`s).
pub const LEDGER_STREAM: &str = "freedumb.ledger.v1.events";
