//! FREEDUMB notifications: the in-app feed, preferences per kind and
//! channel, email over SMTP and signed webhooks, made from the other
//! domains' events once per event and delivered at least once by
//! `worker-notification`.
#![forbid(unsafe_code)]

pub mod config;
pub mod consumer;
pub mod convert;
pub mod domain;
pub mod error;
pub mod render;
pub mod sender;
pub mod service;
pub mod store;
pub mod worker;

use std::sync::Arc;

use freedumb_kit::events::{EventBus, GroupReader, Start};
use freedumb_kit::{Config, Database, Migrations, Shutdown};
use freedumb_proto::notification::notification_service_server::NotificationServiceServer;
use sqlx::migrate::Migrator;
use tokio::sync::Notify;

pub use self::config::NotificationConfig;
pub use self::service::{NotificationApi, NotificationDeps};

/// The service's name: its Postgres schema and SQLite file.
pub const NAME: &str = "notification";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The notification service's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES_MIGRATIONS,
    sqlite: &SQLITE_MIGRATIONS,
};

/// The notification service's parts for one process.
pub struct Notifications {
    stores: store::Stores,
    bus: Arc<dyn EventBus>,
    wake_worker: Arc<Notify>,
    config: NotificationConfig,
}

impl Notifications {
    /// The parts on a migrated `db`, configured by `[notification]`.
    pub fn new(config: &Config, db: &Database, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        Ok(Self {
            stores: store::for_database(db),
            bus,
            wake_worker: Arc::new(Notify::new()),
            config: config.section()?,
        })
    }

    /// The gRPC service.
    pub fn service(&self, shutdown: Shutdown) -> NotificationServiceServer<NotificationApi> {
        NotificationServiceServer::new(NotificationApi::new(NotificationDeps {
            store: self.stores.user.clone(),
            bus: self.bus.clone(),
            policy: self.config.address_policy(),
            wake_worker: self.wake_worker.clone(),
            shutdown,
        }))
    }

    /// The consumers: one group reader per stream the feed is made from,
    /// with its handler (join them while wiring, before tasks start).
    pub fn consumers(&self) -> Vec<(&'static str, Box<dyn GroupReader>, Arc<consumer::Consumer>)> {
        [
            consumer::Source::Ledger,
            consumer::Source::Budget,
            consumer::Source::Auth,
        ]
        .into_iter()
        .map(|source| {
            // Old events must not notify again on a first start.
            let reader = self
                .bus
                .group(source.stream(), consumer::GROUP, Start::Latest);
            let handler = consumer::Consumer::new(
                source,
                self.stores.inbox.clone(),
                self.bus.clone(),
                self.wake_worker.clone(),
                self.config.smtp_url.is_some(),
            );
            (source.name(), reader, Arc::new(handler))
        })
        .collect()
    }

    /// The delivery worker.
    pub fn worker(&self) -> anyhow::Result<worker::Worker> {
        worker::Worker::new(
            self.stores.deliveries.clone(),
            &self.config,
            self.wake_worker.clone(),
        )
    }
}
