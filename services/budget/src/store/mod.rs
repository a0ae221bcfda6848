//! The budget's persistence: [`BudgetStore`] for what a request may do
//! (every method scoped by the caller's user id) and [`ProjectionStore`]
//! for the event consumer's work across users. [`SqlStore`] implements both,
//! generic over the sqlx backend; each method is one database transaction.
//!
//! The spending projection keeps, per ledger transaction, the last version
//! seen (its update time in microseconds, or its deletion's) and what it
//! counts in each category. A change applies only if its version is newer,
//! so events that arrive twice or out of order, and a rebuild racing live
//! events, all end in the same figures.

mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use freedumb_kit::outbox::{Outbox, OutboxEvent};
use uuid::Uuid;

pub use self::sql::SqlStore;
use crate::domain::envelope::{Overspending, YearMonth};
use crate::domain::{GoalSource, Schedule, Span, Thresholds};

/// A stored budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRecord {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its categories, in the owner's order.
    pub category_ids: Vec<Uuid>,
    /// Its ISO 4217 currency code.
    pub currency: String,
    /// What may be spent per period.
    pub amount_minor: i64,
    /// Its periods.
    pub schedule: Schedule,
    /// Its alert thresholds.
    pub thresholds: Thresholds,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// A stored savings goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalRecord {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its currency.
    pub currency: String,
    /// What to reach.
    pub target_minor: i64,
    /// By when.
    pub target_date: NaiveDate,
    /// Counted from.
    pub start_date: NaiveDate,
    /// Where.
    pub source: GoalSource,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// A stored envelope plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its currency.
    pub currency: String,
    /// Its envelopes, in order.
    pub categories: Vec<Uuid>,
    /// Its income categories.
    pub income: Vec<Uuid>,
    /// Its first month.
    pub start_month: YearMonth,
    /// What becomes of overspending.
    pub overspending: Overspending,
    /// Created.
    pub create_time: DateTime<Utc>,
}

/// What one ledger transaction counts in one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The category.
    pub category_id: Uuid,
    /// The transaction's currency.
    pub currency: String,
    /// Its booking date.
    pub day: NaiveDate,
    /// The signed amount (negative for spending).
    pub amount_minor: i64,
    /// Whether it comes from a split.
    pub split: bool,
}

/// A change of the ledger, as the projection applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerChange {
    /// A transaction exists with these entries (none when it is
    /// uncategorized or a transfer leg).
    Upsert {
        /// Its owner.
        user_id: Uuid,
        /// The transaction.
        transaction_id: Uuid,
        /// Its update time, in microseconds.
        version: i64,
        /// What it counts where.
        entries: Vec<Entry>,
    },
    /// A transaction was deleted.
    Delete {
        /// Its owner.
        user_id: Uuid,
        /// The transaction.
        transaction_id: Uuid,
        /// When it was deleted, in microseconds.
        version: i64,
    },
    /// A category was deleted; its entries moved to `reassigned_to`, or
    /// were dropped (with every entry of a split that had one there).
    /// Changes older than `version` that arrive later move the same way.
    CategoryDeleted {
        /// Its owner.
        user_id: Uuid,
        /// The category.
        category_id: Uuid,
        /// Where its transactions went.
        reassigned_to: Option<Uuid>,
        /// When it was deleted, in microseconds.
        version: i64,
    },
    /// An account's balance as a change left it (for its goals).
    Balance {
        /// Its owner.
        user_id: Uuid,
        /// The account.
        account_id: Uuid,
        /// Its currency.
        currency: String,
        /// The balance, minor units.
        balance_minor: i64,
        /// When the change committed, in microseconds: a goal saved later
        /// is not reached by it.
        at: i64,
    },
}

impl LedgerChange {
    /// The user whose ledger changed.
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::Upsert { user_id, .. }
            | Self::Delete { user_id, .. }
            | Self::CategoryDeleted { user_id, .. }
            | Self::Balance { user_id, .. } => *user_id,
        }
    }
}

/// One ledger event: its id (applied once) and its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEventChanges {
    /// The event's id.
    pub event_id: Uuid,
    /// What it changes (nothing for transfers).
    pub changes: Vec<LedgerChange>,
}

/// A threshold a budget's spending crossed in a period.
#[derive(Debug, Clone, Copy)]
pub struct Alert<'a> {
    /// The budget.
    pub budget: &'a BudgetRecord,
    /// The period.
    pub period: Span,
    /// The percentage crossed.
    pub threshold: i32,
    /// Spending when it was seen.
    pub spent_minor: i64,
}

/// What the projection announces.
#[derive(Debug, Clone, Copy)]
pub enum Announcement<'a> {
    /// A budget crossed a threshold.
    Alert(Alert<'a>),
    /// A goal reached its target.
    GoalReached {
        /// The goal.
        goal: &'a GoalRecord,
        /// What was saved when it was seen.
        saved_minor: i64,
    },
}

/// Builds the outbox event of an announcement, in the transaction that
/// records it.
pub type Announcements<'a> = &'a (dyn Fn(&Announcement<'_>) -> OutboxEvent + Send + Sync);

/// What applying a batch of ledger events did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events applied now (not seen before).
    pub events: usize,
    /// Users whose spending changed.
    pub users: Vec<Uuid>,
    /// Alerts raised.
    pub alerts: usize,
    /// Goals that reached their target.
    pub goals_reached: usize,
}

/// What requests may do, each for the user it names.
#[async_trait]
pub trait BudgetStore: Send + Sync + 'static {
    /// Adds a budget.
    async fn create_budget(&self, budget: &BudgetRecord) -> Result<(), StoreError>;

    /// One budget of the user.
    async fn get_budget(&self, user_id: Uuid, id: Uuid)
    -> Result<Option<BudgetRecord>, StoreError>;

    /// The user's budgets after `after` (by id, so by creation), at most
    /// `limit`.
    async fn list_budgets(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<BudgetRecord>, StoreError>;

    /// Replaces a budget's content (`NotFound` if the user has no such
    /// budget).
    async fn update_budget(&self, budget: &BudgetRecord) -> Result<(), StoreError>;

    /// Deletes a budget and its alerts.
    async fn delete_budget(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;

    /// The sum of the user's entries per category of `categories`, in
    /// `currency` and `span` (categories without entries are left out).
    async fn sum_spending(
        &self,
        user_id: Uuid,
        currency: &str,
        categories: &[Uuid],
        span: Span,
    ) -> Result<Vec<(Uuid, i64)>, StoreError>;

    /// Adds a goal; with `reached` (what it has saved), it is recorded as
    /// having reached its target already, so reaching it raises nothing.
    async fn create_goal(&self, goal: &GoalRecord, reached: Option<i64>) -> Result<(), StoreError>;

    /// One goal of the user.
    async fn get_goal(&self, user_id: Uuid, id: Uuid) -> Result<Option<GoalRecord>, StoreError>;

    /// The user's goals after `after`, at most `limit`.
    async fn list_goals(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<GoalRecord>, StoreError>;

    /// Replaces a goal's name, target and target date (`NotFound` if the
    /// user has no such goal); `reached` as for [`Self::create_goal`], for
    /// the new target.
    async fn update_goal(&self, goal: &GoalRecord, reached: Option<i64>) -> Result<(), StoreError>;

    /// Deletes a goal (and the record of its reached targets).
    async fn delete_goal(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;

    /// Adds an envelope plan.
    async fn create_plan(&self, plan: &PlanRecord) -> Result<(), StoreError>;

    /// One plan of the user.
    async fn get_plan(&self, user_id: Uuid, id: Uuid) -> Result<Option<PlanRecord>, StoreError>;

    /// The user's plans, oldest first.
    async fn list_plans(&self, user_id: Uuid) -> Result<Vec<PlanRecord>, StoreError>;

    /// Deletes a plan and its assignments.
    async fn delete_plan(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;

    /// Sets what a plan of the user assigns to `category` in `month`.
    async fn set_assignment(
        &self,
        user_id: Uuid,
        plan_id: Uuid,
        month: YearMonth,
        category: Uuid,
        amount_minor: i64,
    ) -> Result<(), StoreError>;

    /// A plan's assignments up to `through` (month, category, amount).
    async fn list_assignments(
        &self,
        plan_id: Uuid,
        through: YearMonth,
    ) -> Result<Vec<(YearMonth, Uuid, i64)>, StoreError>;

    /// The user's entries summed per category and day, in `currency` and
    /// `span`.
    async fn sum_spending_by_day(
        &self,
        user_id: Uuid,
        currency: &str,
        categories: &[Uuid],
        span: Span,
    ) -> Result<Vec<(Uuid, chrono::NaiveDate, i64)>, StoreError>;

    /// The thresholds crossed by a budget in the period starting `start`.
    async fn list_alerts(&self, budget_id: Uuid, start: NaiveDate) -> Result<Vec<i32>, StoreError>;

    /// Applies the user's transactions as read from the ledger (upserts),
    /// and deletes the tracked ones not among them that no event touched
    /// since `started` (the rebuild's start on this service's clock, in
    /// microseconds): a rebuild.
    async fn rebuild_spending(
        &self,
        user_id: Uuid,
        transactions: &[LedgerChange],
        started: i64,
    ) -> Result<(), StoreError>;
}

/// The event consumer's work, across users.
#[async_trait]
pub trait ProjectionStore: Send + Sync + 'static {
    /// Applies the events not applied before, then raises the alerts of the
    /// budgets they touched whose current period (the one containing
    /// `today`) crossed a threshold, and announces the goals on the
    /// accounts and categories they touched that reached a target not
    /// reached before; one transaction.
    async fn apply_events(
        &self,
        events: &[LedgerEventChanges],
        today: NaiveDate,
        now: DateTime<Utc>,
        announce: Announcements<'_>,
    ) -> Result<Applied, StoreError>;

    /// Forgets handled event ids recorded before `before_ms` (Unix ms).
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError>;
}

/// The budget's stores on one database.
#[derive(Clone)]
pub struct Stores {
    /// Scoped by the caller.
    pub user: Arc<dyn BudgetStore>,
    /// The projection's.
    pub projection: Arc<dyn ProjectionStore>,
    /// The outbox relay's.
    pub outbox: Arc<dyn Outbox>,
}

impl Stores {
    fn on<S: BudgetStore + ProjectionStore>(store: S, outbox: Arc<dyn Outbox>) -> Self {
        let store = Arc::new(store);
        Self {
            user: store.clone(),
            projection: store,
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

/// A store failure: the kit's, shared by the domains whose stores fail in
/// no other way.
pub use freedumb_kit::storage::StoreError;
