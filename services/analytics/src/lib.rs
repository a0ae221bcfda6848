//! FREEDUMB analytics: a read model of the ledger's events, summed per day
//! by category, merchant and account as they happen, and what it answers:
//! totals per category and period, cash flow with its changes, top
//! merchants, and net worth over time (with the investment service's
//! portfolios at market value).
#![forbid(unsafe_code)]
// Unit tests unwrap what they have just built.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod domain;
pub mod error;
pub mod model;
pub mod report;
pub mod service;
pub mod store;

use std::sync::Arc;

use freedumb_kit::events::{EventBus, GroupReader, Start};
use freedumb_kit::{Config, Database, Migrations};
use freedumb_proto::analytics::analytics_service_server::AnalyticsServiceServer;
use sqlx::migrate::Migrator;

pub use self::config::AnalyticsConfig;
pub use self::service::{AnalyticsApi, AnalyticsDeps};

/// The service's name: its Postgres schema and SQLite file.
pub const NAME: &str = "analytics";

/// The ledger's event stream (`freedumb.ledger.v1.LedgerEvent`s).
pub const LEDGER_STREAM: &str = "freedumb.ledger.v1.events";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The analytics schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The analytics domain's parts for one process.
pub struct Analytics {
    stores: store::Stores,
    bus: Arc<dyn EventBus>,
    config: AnalyticsConfig,
}

impl Analytics {
    /// Analytics on a migrated `db`, reading events through `bus`,
    /// configured by the `[analytics]` section of `config`.
    pub fn new(config: &Config, db: &Database, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        Ok(Self {
            stores: store::for_database(db),
            bus,
            config: config.section()?,
        })
    }

    /// The gRPC service (ending watches on `shutdown`), calling the ledger
    /// and the investment service at
    /// `own_url` unless their addresses are configured.
    pub fn service(
        &self,
        own_url: &str,
        shutdown: freedumb_kit::Shutdown,
    ) -> anyhow::Result<AnalyticsServiceServer<AnalyticsApi>> {
        let ledger = self.config.ledger_url.as_deref().unwrap_or(own_url);
        let investment = self.config.investment_url.as_deref().unwrap_or(own_url);
        Ok(AnalyticsServiceServer::new(AnalyticsApi::new(
            AnalyticsDeps {
                store: self.stores.user.clone(),
                ledger: freedumb_kit::peer::LedgerPeer::new(ledger)?,
                investment: service::InvestmentPeer::new(investment)?,
                reports: self.stores.reports.clone(),
                operations: self.stores.operations.clone(),
                shutdown,
            },
        )))
    }

    /// Whether the ledger's address is configured.
    pub fn ledger_configured(&self) -> bool {
        self.config.ledger_url.is_some()
    }

    /// The read model's consumer: a reader of the group `analytics` on the
    /// ledger's stream (join it while wiring, before tasks start) and the
    /// handler applying what it reads.
    pub fn model(&self) -> (Box<dyn GroupReader>, Arc<model::Model>) {
        // The read model needs the history the stream still holds.
        let reader = self
            .bus
            .group(LEDGER_STREAM, model::GROUP, Start::Beginning);
        (
            reader,
            Arc::new(model::Model::new(self.stores.model.clone())),
        )
    }
}
