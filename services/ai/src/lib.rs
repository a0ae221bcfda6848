//! FREEDUMB ai: categorization the user can follow. A cascade of the
//! user's rules and of their own history with each merchant (learned from
//! the ledger's events), explainable step by step, running in the process
//! with no network.
#![forbid(unsafe_code)]

pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod learner;
pub mod llm;
pub mod model;
pub mod outbox;
pub mod service;
pub mod store;

use std::sync::Arc;

use freedumb_kit::events::{EventBus, GroupReader, Start};
use freedumb_kit::peer::LedgerPeer;
use freedumb_kit::{Config, Database, Migrations};
use freedumb_proto::ai::ai_service_server::AiServiceServer;
use sqlx::migrate::Migrator;

pub use self::config::AiConfig;
pub use self::service::{AiApi, AiDeps};

/// The service's name: its Postgres schema and SQLite file.
pub const NAME: &str = "ai";

/// The ledger's event stream (`freedumb.ledger.v1.LedgerEvent`s).
pub const LEDGER_STREAM: &str = "freedumb.ledger.v1.events";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The ai service's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The ai service's parts for one process.
pub struct Ai {
    stores: store::Stores,
    bus: Arc<dyn EventBus>,
    /// Wakes the outbox relay after the learner proposed categories.
    wake: Arc<tokio::sync::Notify>,
    config: AiConfig,
}

impl Ai {
    /// The ai service on a migrated `db`, reading the ledger's events
    /// through `bus`, configured by the `[ai]` section of `config`.
    pub fn new(config: &Config, db: &Database, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        Ok(Self {
            stores: store::for_database(db),
            bus,
            wake: Arc::new(tokio::sync::Notify::new()),
            config: config.section()?,
        })
    }

    /// The gRPC service, calling the ledger at `ledger_url` (the
    /// configured one wins).
    pub fn service(&self, ledger_url: &str) -> anyhow::Result<AiServiceServer<AiApi>> {
        let url = self.config.ledger_url.as_deref().unwrap_or(ledger_url);
        Ok(AiServiceServer::new(AiApi::new(AiDeps {
            store: self.stores.user.clone(),
            ledger: LedgerPeer::new(url)?,
            min_confidence: self.config.min_confidence(),
            model: model::GlobalModel::shipped(),
            llm: self
                .config
                .llm()?
                .map(|settings| llm::LlmClient::new(settings).map(Arc::new))
                .transpose()?,
        })))
    }

    /// Whether the ledger's address is configured (otherwise the service
    /// calls its own process's listener).
    pub fn ledger_configured(&self) -> bool {
        self.config.ledger_url.is_some()
    }

    /// The learner: a reader of the group `ai` on the ledger's stream (join
    /// it while wiring, before tasks start) and the handler applying what
    /// it reads.
    pub fn learner(&self) -> (Box<dyn GroupReader>, Arc<learner::Learner>) {
        // The history is learned from everything the stream still holds.
        let reader = self
            .bus
            .group(LEDGER_STREAM, learner::GROUP, Start::Beginning);
        let auto = self
            .config
            .auto_apply_confidence()
            .map(|confidence| learner::AutoApply {
                store: self.stores.user.clone(),
                model: model::GlobalModel::shipped(),
                min_confidence: self.config.min_confidence(),
                confidence,
                wake: Arc::clone(&self.wake),
            });
        (
            reader,
            Arc::new(learner::Learner::new(self.stores.learner.clone(), auto)),
        )
    }

    /// The outbox relay of ai events.
    pub fn relay(&self) -> freedumb_kit::outbox::Relay {
        freedumb_kit::outbox::Relay::new(
            self.stores.outbox.clone(),
            self.bus.clone(),
            outbox::STREAM,
            Arc::clone(&self.wake),
            std::time::Duration::from_millis(500),
        )
    }
}
