//! The FREEDUMB platform kit: what every service shares — configuration,
//! telemetry, metrics, errors, token verification, storage, shared state and
//! the gRPC server with health, reflection, gRPC-web and graceful shutdown.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod client;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod events;
pub mod field_mask;
pub mod idempotency;
pub mod inbox;
pub mod metrics;
pub mod operations;
pub mod outbox;
pub mod page;
pub mod peer;
pub mod pgcopy;
pub mod ratelimit;
pub mod server;
pub mod shutdown;
pub mod sql;
pub mod state;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod tls;
pub mod trace;

pub use self::config::Config;
pub use self::error::FieldViolations;
pub use self::field_mask::UpdateMask;
pub use self::server::GrpcServer;
pub use self::shutdown::Shutdown;
pub use self::storage::{Database, Migrations};
