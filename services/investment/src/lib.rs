//! FREEDUMB investments: portfolios of the caller's instruments, the
//! activities recorded in them, and what follows from those and from daily
//! closes: holdings (FIFO or average cost), valuation in the portfolio's
//! base currency, and performance (time- and money-weighted returns). A
//! price worker fetches the closes and exchange rates from a provider.
#![forbid(unsafe_code)]
// Unit tests unwrap what they have just built.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod outbox;
pub mod prices;
pub mod service;
pub mod store;
pub mod worker;

use std::sync::Arc;

use freedumb_kit::events::EventBus;
use freedumb_kit::{Config, Database, Migrations};
use freedumb_proto::investment::investment_service_server::InvestmentServiceServer;
use sqlx::migrate::Migrator;
use tokio::sync::Notify;

pub use self::config::InvestmentConfig;
pub use self::service::{InvestmentApi, InvestmentDeps};

/// The service's name: its Postgres schema and SQLite file.
pub const NAME: &str = "investment";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The investment service's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The investment domain's parts for one process.
pub struct Investment {
    stores: store::Stores,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    config: InvestmentConfig,
    data_dir: std::path::PathBuf,
    closes: Arc<service::CloseCache>,
}

impl Investment {
    /// The investment domain on a migrated `db`, publishing through `bus`,
    /// configured by the `[investment]` section of `config`.
    pub fn new(config: &Config, db: &Database, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        Ok(Self {
            stores: store::for_database(db),
            bus,
            wake: Arc::new(Notify::new()),
            config: config.section()?,
            data_dir: config.data_dir.clone(),
            closes: Arc::default(),
        })
    }

    /// The gRPC service, calling the ledger at `ledger_url` (the configured
    /// one wins) to check the accounts activities name.
    pub fn service(
        &self,
        ledger_url: &str,
    ) -> anyhow::Result<InvestmentServiceServer<InvestmentApi>> {
        let url = self.config.ledger_url.as_deref().unwrap_or(ledger_url);
        Ok(InvestmentServiceServer::new(InvestmentApi::new(
            InvestmentDeps {
                store: self.stores.user.clone(),
                ledger: freedumb_kit::peer::LedgerPeer::new(url)?,
                wake: self.wake.clone(),
                closes: self.closes.clone(),
            },
        )))
    }

    /// Whether the ledger's address is configured (otherwise the service
    /// calls its own process's listener).
    pub fn ledger_configured(&self) -> bool {
        self.config.ledger_url.is_some()
    }

    /// The outbox relay of investment events.
    pub fn relay(&self) -> freedumb_kit::outbox::Relay {
        freedumb_kit::outbox::Relay::new(
            self.stores.outbox.clone(),
            self.bus.clone(),
            outbox::STREAM,
            self.wake.clone(),
            self.config.relay_poll(),
        )
    }

    /// The price worker, on the configured provider.
    pub fn price_worker(&self) -> anyhow::Result<worker::PriceWorker> {
        let provider = prices::from_config(&self.config, &self.data_dir)?;
        Ok(worker::PriceWorker::new(
            self.stores.prices.clone(),
            provider,
            self.config.worker_settings(),
        )
        .invalidating(self.closes.clone()))
    }
}
