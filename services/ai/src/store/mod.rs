//! The ai service's persistence: [`AiStore`] for what a request may do
//! (every method scoped by the caller's user id) and [`LearnerStore`] for
//! the consumer of ledger events. [`SqlStore`] implements both, generic
//! over the sqlx backend.
//!
//! The history keeps, per ledger transaction, its merchant key, its
//! category and the version it was seen at (its update time in
//! microseconds, or its deletion's): a change applies only if it is newer,
//! so events that arrive twice or out of order end in the same history.

mod sql;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use freedumb_kit::outbox::{Outbox, OutboxEvent};
use uuid::Uuid;

pub use self::sql::SqlStore;
use crate::domain::CompiledRule;
use crate::domain::rule::ConditionRecord;

/// How many of a merchant's categorized transactions the history keeps
/// looking at.
pub const HISTORY_DEPTH: usize = 5;
/// The most rules a user may have.
pub const MAX_RULES: usize = 500;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    /// Its id (UUIDv7: creation order).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its name.
    pub name: String,
    /// All must hold.
    pub conditions: Vec<ConditionRecord>,
    /// Where matching transactions go.
    pub category_id: Uuid,
    /// When it runs.
    pub stage: i32,
    /// Whether a match ends the run.
    pub stop: bool,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

/// What one ledger event teaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A transaction of `merchant_key` is (now) in `category_id`, or
    /// uncategorized.
    Categorized {
        /// Its owner.
        user_id: Uuid,
        /// The transaction.
        transaction_id: Uuid,
        /// Its normalized merchant's key.
        merchant_key: String,
        /// Its normalized merchant's name.
        merchant_name: String,
        /// Its category (none: uncategorized or split).
        category_id: Option<Uuid>,
        /// Its update time, in microseconds.
        version: i64,
    },
    /// A transaction was deleted.
    Deleted {
        /// Its owner.
        user_id: Uuid,
        /// The transaction.
        transaction_id: Uuid,
        /// When, in microseconds.
        version: i64,
    },
    /// A category was deleted; its transactions moved to `reassigned_to`
    /// or lost their category. Rules into it move the same way, or are
    /// deleted with it.
    CategoryDeleted {
        /// Its owner.
        user_id: Uuid,
        /// The category.
        category_id: Uuid,
        /// Where its transactions went.
        reassigned_to: Option<Uuid>,
    },
}

/// One ledger event: its id (learned from once) and what it teaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnEvent {
    /// The event's id.
    pub event_id: Uuid,
    /// What it teaches (nothing for transfers).
    pub observations: Vec<Observation>,
    /// The categories it makes the service propose (outbox events),
    /// written with what it teaches.
    pub proposals: Vec<OutboxEvent>,
}

impl RuleRecord {
    /// The rule, ready to run.
    pub fn compile(&self) -> Result<CompiledRule, String> {
        CompiledRule::compile(self.id, self.category_id, self.stop, &self.conditions)
    }
}

/// A merchant's recent history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantHistory {
    /// Its key.
    pub key: String,
    /// Its name, as last seen.
    pub name: String,
    /// The categories of its last [`HISTORY_DEPTH`] categorized
    /// transactions, newest first.
    pub categories: Vec<Uuid>,
}

/// What requests may do, each for the user it names.
#[async_trait]
pub trait AiStore: Send + Sync + 'static {
    /// Adds a rule unless the user has [`MAX_RULES`] already (`false`).
    async fn create_rule(&self, rule: &RuleRecord) -> Result<bool, StoreError>;

    /// One rule of the user.
    async fn get_rule(&self, user_id: Uuid, id: Uuid) -> Result<Option<RuleRecord>, StoreError>;

    /// The user's rules in the order they run: stage, then creation.
    async fn list_rules(&self, user_id: Uuid) -> Result<Vec<RuleRecord>, StoreError>;

    /// Replaces a rule's content (`NotFound` if the user has no such rule).
    async fn update_rule(&self, rule: &RuleRecord) -> Result<(), StoreError>;

    /// Deletes a rule.
    async fn delete_rule(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;

    /// The categories of the last [`HISTORY_DEPTH`] categorized
    /// transactions of each of `merchant_keys`, newest first (keys without
    /// any are left out).
    async fn history(
        &self,
        user_id: Uuid,
        merchant_keys: &[String],
    ) -> Result<HashMap<String, Vec<Uuid>>, StoreError>;

    /// Every merchant of the user with categorized transactions, by key.
    async fn merchants(&self, user_id: Uuid) -> Result<Vec<MerchantHistory>, StoreError>;
}

/// The learner's work, across users.
#[async_trait]
pub trait LearnerStore: Send + Sync + 'static {
    /// Applies the events not applied before, in one transaction; returns
    /// how many were new.
    async fn learn(&self, events: &[LearnEvent], now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// Forgets handled event ids recorded before `before_ms` (Unix ms).
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError>;
}

/// The ai service's stores on one database.
#[derive(Clone)]
pub struct Stores {
    /// Scoped by the caller.
    pub user: Arc<dyn AiStore>,
    /// The learner's.
    pub learner: Arc<dyn LearnerStore>,
    /// The outbox relay's.
    pub outbox: Arc<dyn Outbox>,
}

impl Stores {
    fn on<S: AiStore + LearnerStore>(store: S, outbox: Arc<dyn Outbox>) -> Self {
        let store = Arc::new(store);
        Self {
            user: store.clone(),
            learner: store,
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

/// A store failure: the kit's.
pub use freedumb_kit::storage::StoreError;
