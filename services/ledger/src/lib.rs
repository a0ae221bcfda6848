//! The FREEDUMB ledger: accounts, categories, transactions, transfers,
//! recurring rules and CSV import, with every change announced as an event
//! through a transactional outbox.
#![forbid(unsafe_code)]

pub mod categorizer;
pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod import;
pub mod investments;
pub mod outbox;
pub mod recurrence;
pub mod service;
pub mod store;
pub mod worker;

use std::sync::Arc;

use freedumb_kit::events::EventBus;
use freedumb_kit::{Config, Database, Migrations, Shutdown};
use freedumb_proto::ledger::ledger_service_server::LedgerServiceServer;
use sqlx::migrate::Migrator;
use tokio::sync::Notify;

pub use self::config::LedgerConfig;
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

/// The ledger's parts for one process: the stores, the event bus, and the
/// wake-up the relay listens for.
pub struct Ledger {
    stores: store::Stores,
    operations: Arc<dyn freedumb_kit::operations::Operations>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    config: LedgerConfig,
}

impl Ledger {
    /// The ledger on a migrated `db`, publishing to `bus`, configured by
    /// the `[ledger]` section of `config`.
    pub fn new(config: &Config, db: &Database, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        Ok(Self {
            stores: store::for_database(db),
            operations: freedumb_kit::operations::for_database(db),
            bus,
            wake: Arc::new(Notify::new()),
            config: config.section()?,
        })
    }

    /// The gRPC service.
    pub fn service(&self, shutdown: Shutdown) -> LedgerServiceServer<LedgerApi> {
        let imports = self.config.imports();
        // `CreateImport` carries a whole statement; the protobuf framing
        // around it is a few bytes.
        let max_message = usize::try_from(imports.max_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(64 * 1024);
        LedgerServiceServer::new(LedgerApi::new(LedgerDeps {
            store: self.stores.user.clone(),
            system: self.stores.system.clone(),
            bus: self.bus.clone(),
            wake: self.wake.clone(),
            shutdown,
            operations: self.operations.clone(),
            imports,
        }))
        .max_decoding_message_size(max_message)
    }

    /// The outbox relay (one per process that writes to the ledger).
    pub fn relay(&self) -> freedumb_kit::outbox::Relay {
        freedumb_kit::outbox::Relay::new(
            self.stores.outbox.clone(),
            self.bus.clone(),
            outbox::STREAM,
            self.wake.clone(),
            self.config.relay_poll(),
        )
    }

    /// The categorizer: a reader of the group `ledger` on the ai service's
    /// stream (join it while wiring, before tasks start) and the handler
    /// applying the proposals it reads.
    pub fn categorizer(
        &self,
    ) -> (
        Box<dyn freedumb_kit::events::GroupReader>,
        Arc<categorizer::Categorizer>,
    ) {
        let reader = self.bus.group(
            categorizer::AI_STREAM,
            categorizer::GROUP,
            freedumb_kit::events::Start::Beginning,
        );
        (
            reader,
            Arc::new(categorizer::Categorizer::new(
                self.stores.user.clone(),
                self.wake.clone(),
            )),
        )
    }

    /// The investment link: a reader of the group `ledger` on the
    /// investment service's stream and the handler recording the
    /// transfers of its activities.
    pub fn investment_link(
        &self,
    ) -> (
        Box<dyn freedumb_kit::events::GroupReader>,
        Arc<investments::InvestmentLink>,
    ) {
        let reader = self.bus.group(
            investments::INVESTMENT_STREAM,
            investments::GROUP,
            freedumb_kit::events::Start::Beginning,
        );
        (
            reader,
            Arc::new(investments::InvestmentLink::new(
                self.stores.user.clone(),
                self.wake.clone(),
            )),
        )
    }

    /// The recurring worker.
    pub fn recurring_worker(&self) -> worker::RecurringWorker {
        worker::RecurringWorker::new(
            self.stores.system.clone(),
            self.wake.clone(),
            self.config.recurring_poll(),
        )
    }
}
