//! The FREEDUMB ledger: accounts, categories, transactions, transfers,
//! recurring rules and CSV import, with every change announced as an event
//! through a transactional outbox.
#![forbid(unsafe_code)]

pub mod convert;
pub mod domain;
pub mod error;
pub mod import;
pub mod outbox;
pub mod page;
pub mod recurrence;
pub mod service;
pub mod store;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use freedumb_kit::events::EventBus;
use freedumb_kit::{Config, Database, Migrations, Shutdown};
use freedumb_proto::ledger::ledger_service_server::LedgerServiceServer;
use sqlx::migrate::Migrator;
use tokio::sync::Notify;

pub use self::service::{LedgerApi, LedgerDeps};

/// The service's name: its Postgres schema and SQLite file.
pub const NAME: &str = "ledger";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The ledger's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The ledger's parts for one process: the store, and the wake-up the
/// relay listens for.
pub struct Ledger {
    store: Arc<dyn store::LedgerStore>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    config: Config,
}

impl Ledger {
    /// The ledger on a migrated `db`, publishing to `bus`.
    pub fn new(config: &Config, db: &Database, bus: Arc<dyn EventBus>) -> Self {
        Self {
            store: store::for_database(db),
            bus,
            wake: Arc::new(Notify::new()),
            config: config.clone(),
        }
    }

    /// The gRPC service.
    pub fn service(&self, shutdown: Shutdown) -> LedgerServiceServer<LedgerApi> {
        LedgerServiceServer::new(LedgerApi::new(LedgerDeps {
            store: self.store.clone(),
            bus: self.bus.clone(),
            wake: self.wake.clone(),
            shutdown,
        }))
    }

    /// The outbox relay (one per process that writes to the ledger).
    pub fn relay(&self) -> outbox::Relay {
        outbox::Relay::new(
            self.store.clone(),
            self.bus.clone(),
            self.wake.clone(),
            Duration::from_millis(self.config.ledger.relay_poll_ms),
        )
    }

    /// The recurring worker.
    pub fn recurring_worker(&self) -> worker::RecurringWorker {
        worker::RecurringWorker::new(
            self.store.clone(),
            self.wake.clone(),
            Duration::from_secs(self.config.ledger.recurring_poll_secs),
        )
    }
}
