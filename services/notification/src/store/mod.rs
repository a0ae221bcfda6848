//! The notification service's persistence: [`NotificationStore`] for what a
//! request may do (every method scoped by the caller's user id),
//! [`InboxStore`] for the event consumer, [`DeliveryStore`] for the delivery
//! worker. [`SqlStore`] implements them all, generic over the sqlx backend.
//!
//! A notification and its deliveries commit in one transaction with the id
//! of the event that made them, so an event delivered twice makes them once,
//! and a delivery is never lost between the consumer and the worker.

mod sql;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use self::sql::SqlStore;
use crate::domain::{Kind, Preferences};

/// One entry of a user's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Its id (UUIDv7: newest last).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// What it is about.
    pub kind: Kind,
    /// One line.
    pub title: String,
    /// Plain text.
    pub body: String,
    /// The ids it is about.
    pub attributes: BTreeMap<String, String>,
    /// The event that made it.
    pub event_id: Uuid,
    /// Made.
    pub create_time: DateTime<Utc>,
    /// Read, if it was.
    pub read_time: Option<DateTime<Utc>>,
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// Its id.
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Where to post.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// The kinds it receives (empty: all).
    pub kinds: Vec<Kind>,
    /// The signing secret (`whsec_…`).
    pub secret: String,
    /// Registered.
    pub create_time: DateTime<Utc>,
}

impl EndpointRecord {
    /// Whether it receives `kind`.
    pub fn receives(&self, kind: Kind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// Where a delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// An email to the user's address.
    Email,
    /// A post to an endpoint.
    Webhook(Uuid),
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for an attempt.
    Pending,
    /// Done.
    Delivered,
    /// Every attempt failed.
    Dead,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// A stored name back.
    pub fn from_stored(name: &str) -> Option<Self> {
        Some(match name {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// One notification's delivery to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its id (the webhook-id of every attempt).
    pub id: Uuid,
    /// The notification's owner.
    pub user_id: Uuid,
    /// Where it goes.
    pub channel: Channel,
    /// The notification.
    pub notification_id: Uuid,
    /// Its kind.
    pub kind: Kind,
    /// What is sent (the webhook body, or the email as JSON).
    pub payload: String,
    /// Part of the daily digest (email).
    pub digest: bool,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (Unix ms).
    pub next_attempt_ms: i64,
    /// The last attempt's HTTP status (0: none).
    pub last_status: i32,
    /// Why the last attempt failed.
    pub last_error: String,
    /// Made.
    pub create_time: DateTime<Utc>,
    /// Delivered.
    pub deliver_time: Option<DateTime<Utc>>,
}

/// A claimed webhook delivery with its endpoint.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery.
    pub delivery: DeliveryRecord,
    /// Its endpoint (`None` for email).
    pub endpoint: Option<EndpointRecord>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (with the HTTP status; 0 for email).
    Delivered {
        /// Status.
        status: i32,
    },
    /// Failed; try again at `next_attempt_ms`.
    Retry {
        /// Status (0: none).
        status: i32,
        /// Why.
        error: String,
        /// When.
        next_attempt_ms: i64,
    },
    /// Failed for the last time.
    Dead {
        /// Status (0: none).
        status: i32,
        /// Why.
        error: String,
    },
}

/// What one event makes.
#[derive(Debug, Clone, Default)]
pub struct Made {
    /// The event.
    pub event_id: Uuid,
    /// The notification, if the event notifies (recorded even when it is
    /// not shown in the feed: its deliveries and their log name it).
    pub notification: Option<NotificationRecord>,
    /// Whether the feed shows it.
    pub in_feed: bool,
    /// Its deliveries.
    pub deliveries: Vec<DeliveryRecord>,
}

/// What a user's notifications go by.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    /// Their preferences (the defaults if never set).
    pub preferences: Preferences,
    /// Their endpoints.
    pub endpoints: Vec<EndpointRecord>,
}

/// What requests may do, each for the user it names.
#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// The user's feed, newest first, before `before`.
    async fn list_notifications(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    /// How many are unread.
    async fn count_unread(&self, user_id: Uuid) -> Result<i64, StoreError>;

    /// Marks `ids` read; how many were unread. `NotFound` (and nothing
    /// marked) if any is not one of the user's.
    async fn mark_read(
        &self,
        user_id: Uuid,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Marks every unread one read; how many.
    async fn mark_all_read(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<i64, StoreError>;

    /// The user's preferences, if they set any.
    async fn get_preferences(&self, user_id: Uuid) -> Result<Option<Preferences>, StoreError>;

    /// Replaces the user's preferences.
    async fn put_preferences(
        &self,
        user_id: Uuid,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Adds an endpoint.
    async fn create_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), StoreError>;

    /// The user's endpoints, oldest first.
    async fn list_endpoints(&self, user_id: Uuid) -> Result<Vec<EndpointRecord>, StoreError>;

    /// Removes an endpoint and its deliveries.
    async fn delete_endpoint(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;

    /// One endpoint's deliveries, newest first, before `before`
    /// (`NotFound` if the endpoint is not the user's).
    async fn list_deliveries(
        &self,
        user_id: Uuid,
        endpoint_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Makes a delivery of the user's due now (a dead one with fresh
    /// attempts); the delivery as it is then.
    async fn redeliver(
        &self,
        user_id: Uuid,
        id: Uuid,
        now_ms: i64,
    ) -> Result<DeliveryRecord, StoreError>;
}

/// The event consumer's work, across users.
#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// The preferences and endpoints of `users`.
    async fn recipients(&self, users: &[Uuid]) -> Result<HashMap<Uuid, Recipient>, StoreError>;

    /// Records what the events not handled before made, with their ids,
    /// in one transaction; returns the notifications recorded for the feed.
    async fn record(
        &self,
        made: &[Made],
        now_ms: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    /// Forgets handled event ids recorded before `before_ms`.
    async fn prune_handled_events(&self, before_ms: i64) -> Result<(), StoreError>;
}

/// The delivery worker's work, across users.
#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// How many deliveries are due at `now_ms` and not claimed, and the
    /// earliest time one of them fell due (Unix milliseconds).
    async fn due_backlog(&self, now_ms: i64) -> Result<(u64, Option<i64>), StoreError>;

    /// Claims up to `limit` due deliveries until `claim_until_ms`.
    async fn claim_deliveries(
        &self,
        token: Uuid,
        now_ms: i64,
        claim_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Records an attempt's outcome, if `token` still holds the delivery.
    async fn complete_delivery(
        &self,
        token: Uuid,
        id: Uuid,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The stores on one database.
#[derive(Clone)]
pub struct Stores {
    /// Scoped by the caller.
    pub user: Arc<dyn NotificationStore>,
    /// The consumer's.
    pub inbox: Arc<dyn InboxStore>,
    /// The worker's.
    pub deliveries: Arc<dyn DeliveryStore>,
}

impl Stores {
    fn on<S: NotificationStore + InboxStore + DeliveryStore>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            user: store.clone(),
            inbox: store.clone(),
            deliveries: store,
        }
    }
}

/// Builds the stores for a kit database (already migrated).
pub fn for_database(db: &freedumb_kit::Database) -> Stores {
    db.with_pool(
        |pool| Stores::on(SqlStore::new(pool)),
        |pool| Stores::on(SqlStore::new(pool)),
    )
}

/// A store failure: the kit's, shared by the domains whose stores fail in
/// no other way.
pub use freedumb_kit::storage::StoreError;
