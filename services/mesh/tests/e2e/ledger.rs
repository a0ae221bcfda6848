//! The ledger on the embedded defaults (SQLite, in-process events), one
//! file per topic. The shared helpers are in `ledger_support`.

mod authorization;
mod bad_input;
mod flow;
mod idempotency;
mod import;
mod recurring;
mod statements;
mod transfers;
mod watch;

// The same scenarios run on Postgres and Redis in `ledger_backends`.
pub use idempotency::replay_100_times;
pub use transfers::random_transfers;
