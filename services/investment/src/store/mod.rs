//! The investment service's persistence: [`InvestmentStore`] for what a
//! request may do (every method scoped by the caller's user id) and
//! [`PriceStore`] for the price worker's work across users. [`SqlStore`]
//! implements both, generic over the sqlx backend.
//!
//! Closes and exchange rates are market data, not anyone's: one table
//! keyed by series (an instrument's symbol, or `BASE/QUOTE` for a rate)
//! and day. A close that changes is updated only together with a row in
//! `close_revisions` recording the old and new value.

mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::domain::Currency;
use freedumb_kit::outbox::{Outbox, OutboxEvent};
use rust_decimal::Decimal;
use uuid::Uuid;

pub use self::sql::SqlStore;
pub use crate::domain::activity::Activity as ActivityRecord;
use crate::domain::{CostBasisMethod, InstrumentKind};
use crate::error::InvestmentError;

/// A stored portfolio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioRecord {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its ledger account, if any.
    pub account_id: Option<Uuid>,
    /// Its base currency.
    pub base_currency: Currency,
    /// Its cost basis method.
    pub method: CostBasisMethod,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// A stored instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRecord {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its ticker (upper-case).
    pub symbol: String,
    /// Its ISIN, if known.
    pub isin: Option<String>,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: InstrumentKind,
    /// Its currency.
    pub currency: Currency,
    /// Created.
    pub create_time: DateTime<Utc>,
}

/// A create's idempotency key: the client's request id and the
/// fingerprint of the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The RPC.
    pub method: &'static str,
    /// The client's request id.
    pub request_id: String,
    /// SHA-256 of the encoded request.
    pub request_hash: Vec<u8>,
}

/// What a create did: made the object, or found the one an earlier
/// request with the same key made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// Made now.
    New(T),
    /// Made before, by the same request.
    Replayed(T),
}

impl<T> Created<T> {
    /// The object either way.
    pub fn into_inner(self) -> T {
        match self {
            Self::New(t) | Self::Replayed(t) => t,
        }
    }
}

/// Checks a portfolio's activities of one instrument, in replay order, as
/// they would stand after a change (inside the change's transaction).
pub type Check<'a> = &'a (dyn Fn(&[&ActivityRecord]) -> Result<(), InvestmentError> + Send + Sync);

/// Builds the outbox event announcing an activity recorded or deleted, if
/// it is announced.
pub type Announce<'a> = &'a (dyn Fn(&ActivityRecord) -> Option<OutboxEvent> + Send + Sync);

/// What requests may do, each for the user it names.
pub trait InvestmentStore: PortfolioStore + InstrumentStore + ActivityStore + MarketStore {}

impl<T: PortfolioStore + InstrumentStore + ActivityStore + MarketStore> InvestmentStore for T {}

/// Portfolios, for the user each method names.
#[async_trait]
pub trait PortfolioStore: Send + Sync + 'static {
    /// Adds a portfolio (or finds the one `key` made).
    async fn create_portfolio(
        &self,
        portfolio: &PortfolioRecord,
        key: Option<&IdempotencyKey>,
    ) -> Result<Created<PortfolioRecord>, StoreError>;

    /// One portfolio of the user.
    async fn get_portfolio(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<PortfolioRecord>, StoreError>;

    /// The user's portfolios after `after` (by id, so by creation), at most
    /// `limit`.
    async fn list_portfolios(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<PortfolioRecord>, StoreError>;

    /// Replaces a portfolio's name, account and method (`NotFound` if the
    /// user has no such portfolio).
    async fn update_portfolio(&self, portfolio: &PortfolioRecord) -> Result<(), StoreError>;

    /// Deletes a portfolio and its activities, announcing each deleted
    /// activity `announce` builds an event for.
    async fn delete_portfolio(
        &self,
        user_id: Uuid,
        id: Uuid,
        announce: Announce<'_>,
    ) -> Result<(), StoreError>;
}

/// Instruments, for the user each method names.
#[async_trait]
pub trait InstrumentStore: Send + Sync + 'static {
    /// Adds an instrument (`Duplicate` when the user has its symbol).
    async fn create_instrument(&self, instrument: &InstrumentRecord) -> Result<(), StoreError>;

    /// One instrument of the user.
    async fn get_instrument(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<InstrumentRecord>, StoreError>;

    /// The user's instruments by symbol after `after`, at most `limit`.
    async fn list_instruments(
        &self,
        user_id: Uuid,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<InstrumentRecord>, StoreError>;

    /// The user's instruments that activities of `portfolio_id` name.
    async fn list_portfolio_instruments(
        &self,
        user_id: Uuid,
        portfolio_id: Uuid,
    ) -> Result<Vec<InstrumentRecord>, StoreError>;

    /// Replaces an instrument's name, ISIN and kind.
    async fn update_instrument(&self, instrument: &InstrumentRecord) -> Result<(), StoreError>;

    /// Deletes an instrument no activity names (`Rejected` with
    /// FAILED_PRECONDITION otherwise).
    async fn delete_instrument(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;
}

/// Activities, for the user each method names.
#[async_trait]
pub trait ActivityStore: Send + Sync + 'static {
    /// Records an activity (or finds the one `key` made): locks the
    /// portfolio, runs `check` over its activities of the same instrument
    /// with this one among them, and commits the activity with the event
    /// `announce` builds.
    async fn create_activity(
        &self,
        activity: &ActivityRecord,
        key: Option<&IdempotencyKey>,
        check: Check<'_>,
        announce: Announce<'_>,
    ) -> Result<Created<ActivityRecord>, StoreError>;

    /// One activity of the user.
    async fn get_activity(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ActivityRecord>, StoreError>;

    /// A portfolio's activities, newest date first, after `after` (a date
    /// and id), optionally of one instrument, at most `limit`.
    async fn list_activities(
        &self,
        user_id: Uuid,
        portfolio_id: Uuid,
        instrument_id: Option<Uuid>,
        after: Option<(NaiveDate, Uuid)>,
        limit: u32,
    ) -> Result<Vec<ActivityRecord>, StoreError>;

    /// Every activity of a portfolio, in replay order.
    async fn replay_activities(
        &self,
        user_id: Uuid,
        portfolio_id: Uuid,
    ) -> Result<Vec<ActivityRecord>, StoreError>;

    /// Deletes an activity: locks its portfolio, runs `check` over the
    /// activities of its instrument without it, deletes it with the event
    /// `announce` builds, and returns it.
    async fn delete_activity(
        &self,
        user_id: Uuid,
        id: Uuid,
        check: Check<'_>,
        announce: Announce<'_>,
    ) -> Result<ActivityRecord, StoreError>;
}

/// Closes and exchange rates, as requests read them.
#[async_trait]
pub trait MarketStore: Send + Sync + 'static {
    /// The closes of `series` from `from` to `to`, oldest first, led by the
    /// latest close before `from` if there is one.
    async fn list_closes(
        &self,
        series: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Decimal)>, StoreError>;
}

/// A series the worker should keep: an instrument's symbol or an exchange
/// rate, from the first day anyone needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    /// The series key (`AAPL`, `EUR/USD`).
    pub series: String,
    /// The earliest activity date that needs it.
    pub since: NaiveDate,
}

/// What recording a batch of closes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Days not known before.
    pub inserted: usize,
    /// Days known with the same close.
    pub unchanged: usize,
    /// Days whose close changed (each with a revision row).
    pub revised: usize,
}

/// The price worker's work, across users.
#[async_trait]
pub trait PriceStore: Send + Sync + 'static {
    /// Every series some activity needs, with the first day it needs.
    async fn list_wanted_series(&self) -> Result<Vec<Wanted>, StoreError>;

    /// The latest day `series` has a close for.
    async fn latest_close_day(&self, series: &str) -> Result<Option<NaiveDate>, StoreError>;

    /// Records closes of `series` from `source`: new days are inserted,
    /// equal ones left, changed ones updated with a revision; one
    /// transaction, safe against another worker recording at once.
    async fn record_closes(
        &self,
        series: &str,
        closes: &[(NaiveDate, Decimal)],
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError>;

    /// The revisions of `series` on `day`: (old, new), oldest first.
    async fn list_close_revisions(
        &self,
        series: &str,
        day: NaiveDate,
    ) -> Result<Vec<(Decimal, Decimal)>, StoreError>;
}

/// The investment stores on one database.
#[derive(Clone)]
pub struct Stores {
    /// Scoped by the caller.
    pub user: Arc<dyn InvestmentStore>,
    /// The price worker's.
    pub prices: Arc<dyn PriceStore>,
    /// The outbox relay's.
    pub outbox: Arc<dyn Outbox>,
}

impl Stores {
    fn on<S: InvestmentStore + PriceStore>(store: S, outbox: Arc<dyn Outbox>) -> Self {
        let store = Arc::new(store);
        Self {
            user: store.clone(),
            prices: store,
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
    #[error("{0}")]
    Duplicate(&'static str),
    /// The request id was used for a different request.
    #[error("request id reused")]
    RequestIdReused,
    /// A check inside the transaction refused the change.
    #[error("refused: {0}")]
    Rejected(InvestmentError),
    /// A stored row does not decode (a bug or a hand edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else the database reported.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
