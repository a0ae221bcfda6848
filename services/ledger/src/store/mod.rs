//! The ledger's persistence: one trait per resource, and one
//! implementation of them all.
//!
//! [`LedgerStore`] gathers what a request may do: every method takes the
//! caller's user id (as an argument or inside the record it writes) and
//! touches only that user's rows. [`LedgerSystemStore`] gathers the work
//! nobody asked for: the recurring worker's claims, the outbox relay's, the
//! query planner's statistics. [`SqlStore`] implements every trait, generic
//! over the sqlx backend and instantiated for Postgres and SQLite; each
//! method is one database transaction.
//!
//! Every write that changes money updates the account balance in the same
//! transaction, guarded so a balance never leaves ±[`MAX_BALANCE_MINOR`],
//! and writes its event to the outbox in that transaction too.
//!
//! [`MAX_BALANCE_MINOR`]: crate::domain::MAX_BALANCE_MINOR

mod accounts;
mod categories;
mod import;
mod outbox;
mod rules;
mod sql;
mod transactions;
mod transfers;

use std::sync::Arc;

use freedumb_kit::outbox::Outbox;
use uuid::Uuid;

pub use self::accounts::{AccountPatch, AccountRecord, AccountStore};
pub use self::categories::{CategoryRecord, CategoryStore};
pub use self::import::{
    ImportBatch, ImportCounts, ImportErrorRecord, ImportRecord, ImportStore, MAX_STORED_ERRORS,
    StatisticsStore,
};
pub use self::outbox::{Balance, Change, EventBuilder, OutboxEvent};
pub use self::rules::{RecurringStore, RuleRecord, RuleStore};
pub use self::sql::SqlStore;
pub use self::transactions::{
    AiCategory, SplitRecord, TransactionCursor, TransactionFilter, TransactionRecord,
    TransactionStore,
};
pub use self::transfers::{TransferRecord, TransferStore};

/// What a request may do: each method reads or writes only the rows of
/// the user it names. Call its methods on `dyn LedgerStore` directly (the
/// resource traits need not be imported).
pub trait LedgerStore:
    AccountStore + CategoryStore + TransactionStore + TransferStore + RuleStore + ImportStore
{
}

impl<S> LedgerStore for S where
    S: AccountStore + CategoryStore + TransactionStore + TransferStore + RuleStore + ImportStore
{
}

/// The system-wide work of the recurring worker and bulk imports, across
/// every user.
pub trait LedgerSystemStore: RecurringStore + StatisticsStore {}

impl<S> LedgerSystemStore for S where S: RecurringStore + StatisticsStore {}

/// The ledger's stores on one database: both are the same [`SqlStore`].
#[derive(Clone)]
pub struct Stores {
    /// What requests use: every method scoped by the caller's user id.
    pub user: Arc<dyn LedgerStore>,
    /// What the recurring worker and bulk imports use.
    pub system: Arc<dyn LedgerSystemStore>,
    /// What the outbox relay uses.
    pub outbox: Arc<dyn Outbox>,
}

impl Stores {
    fn on<S: LedgerStore + LedgerSystemStore>(store: S, outbox: Arc<dyn Outbox>) -> Self {
        let store = Arc::new(store);
        Self {
            user: store.clone(),
            system: store,
            outbox,
        }
    }
}

/// Builds the stores for a kit database (already migrated).
pub fn for_database(db: &freedumb_kit::Database) -> Stores {
    let outbox = freedumb_kit::outbox::for_database(db);
    db.with_pool(
        |pool| Stores::on(SqlStore::new(pool), outbox.clone()),
        |pool| Stores::on(SqlStore::new(pool), outbox.clone()),
    )
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist for this user.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique key is taken.
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// The request id was used for a different request.
    #[error("request id reused")]
    RequestIdReused,
    /// The account takes no new transactions.
    #[error("account is archived")]
    AccountArchived,
    /// The change would take a balance out of range.
    #[error("balance out of range")]
    BalanceOutOfRange,
    /// A category id is not one of the user's.
    #[error("unknown category {0}")]
    UnknownCategory(Uuid),
    /// The object changed meanwhile; read it again.
    #[error("concurrent change")]
    Conflict,
    /// The object's state forbids the change.
    #[error("{0}")]
    Precondition(String),
    /// Anything else the database reported.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A create's idempotency record: the request's fingerprint and the
/// response to repeat.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The RPC, so one id can serve different methods.
    pub method: &'static str,
    /// The client's key.
    pub request_id: String,
    /// SHA-256 of the encoded request.
    pub request_hash: Vec<u8>,
    /// The encoded response of the first call.
    pub response: Vec<u8>,
}

/// The result of an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Written now.
    New,
    /// Written before: the first call's encoded response.
    Replay(Vec<u8>),
}
