//! Auth's persistence: one trait, methods named by intent and key and
//! scoped by the user they concern; one implementation, generic over the
//! sqlx backend, instantiated for Postgres and SQLite.

mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{ConfirmationTokenHash, Email, RefreshTokenHash};

pub use self::sql::SqlStore;

/// Builds the store for a kit database.
pub fn for_database(db: &freedumb_kit::Database) -> Arc<dyn AuthStore> {
    db.with_pool(
        |pool| -> Arc<dyn AuthStore> { Arc::new(SqlStore::new(pool)) },
        |pool| -> Arc<dyn AuthStore> { Arc::new(SqlStore::new(pool)) },
    )
}

/// The client a session starts from.
pub struct ClientSighting<'a> {
    /// SHA-256 of the client's network and user agent.
    pub key: [u8; 32],
    /// The event announcing a sign-in from a new client.
    pub announce: &'a (dyn Fn() -> freedumb_kit::outbox::OutboxEvent + Send + Sync),
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken.
    #[error("duplicate {entity}")]
    Duplicate {
        /// What kind of row.
        entity: &'static str,
    },
    /// Anything else the database reported.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether a unique key was taken.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate { .. })
    }
}

/// A user row.
#[derive(Clone)]
pub struct UserRecord {
    /// User id.
    pub id: Uuid,
    /// Normalized email.
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation instant.
    pub create_time: DateTime<Utc>,
}

/// A session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id (the `sid` claim).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Start.
    pub create_time: DateTime<Utc>,
    /// Absolute end.
    pub expire_time: DateTime<Utc>,
    /// When it was ended early, if it was.
    pub revoke_time: Option<DateTime<Utc>>,
}

impl SessionRecord {
    /// Whether the session may still be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoke_time.is_none() && now < self.expire_time
    }
}

/// A token-signing key row.
#[derive(Clone)]
pub struct SigningKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// PKCS#8 PEM private key.
    pub private_key_pem: String,
    /// JWK modulus.
    pub public_n: String,
    /// JWK exponent.
    pub public_e: String,
    /// Creation instant.
    pub create_time: DateTime<Utc>,
    /// Last instant it signs.
    pub retire_time: DateTime<Utc>,
    /// Last instant it verifies.
    pub expire_time: DateTime<Utc>,
}

// Hand-written so that a hash or a private key can never reach a log.
impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("create_time", &self.create_time)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("create_time", &self.create_time)
            .field("retire_time", &self.retire_time)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}

/// A `Register` call waiting for its confirmation by email.
pub struct RegistrationRequest {
    /// Request id.
    pub id: Uuid,
    /// The address to confirm.
    pub email: Email,
    /// The id the account gets (for a new address).
    pub user_id: Uuid,
    /// The confirmation token's hash.
    pub token: ConfirmationTokenHash,
    /// argon2id PHC string of the chosen password.
    pub password_hash: String,
    /// When it was made.
    pub create_time: DateTime<Utc>,
    /// When its token stops working.
    pub expire_time: DateTime<Utc>,
}

// Hand-written so that a hash can never reach a log.
impl std::fmt::Debug for RegistrationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationRequest")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("create_time", &self.create_time)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}

/// What recording a registration request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Recorded for a new address, with its message.
    Pending,
    /// The address has the account `user_id`: a request without a token
    /// was recorded, with a message saying so.
    AccountExists {
        /// The existing account.
        user_id: Uuid,
    },
    /// The address had as many live requests as allowed: nothing was
    /// recorded and no message goes out.
    Capped,
}

/// The message a registration request sends: the event for the outbox,
/// given the existing account of the address if it has one.
pub type RegistrationAnnouncement<'a> =
    &'a (dyn Fn(Option<Uuid>) -> freedumb_kit::outbox::OutboxEvent + Send + Sync);

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was current: it is now used up and `next` replaces it.
    Rotated(SessionRecord),
    /// It had been used within the grace period: `next` replaces the
    /// tokens that use issued.
    Repeated(SessionRecord),
    /// It had been used before: the session is now revoked.
    Reused(SessionRecord),
    /// Unknown token, or its session ended.
    Invalid,
}

/// Why sessions end early (stored for audits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The user logged out.
    Logout,
    /// The user ended their other sessions.
    LogoutAll,
    /// The password changed.
    PasswordChange,
    /// A used refresh token was presented again.
    RefreshTokenReuse,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::PasswordChange => "password_change",
            Self::RefreshTokenReuse => "refresh_token_reuse",
        }
    }
}

/// Auth's persistence.
#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Adds a user; [`StoreError::Duplicate`] when the email is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// The user with `email`.
    async fn get_user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;
    /// The user with `user_id`.
    async fn get_user(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces the password hash and revokes every session of the user but
    /// `keep`, atomically; returns the revoked session ids.
    async fn update_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError>;
    /// Starts a session with its first refresh token, and records the
    /// client it was started from: when the user had signed in before but
    /// never from this client, `client.announce()` goes to the outbox in
    /// the same transaction.
    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &RefreshTokenHash,
        client: Option<&ClientSighting<'_>>,
    ) -> Result<(), StoreError>;
    /// The session `session_id` of `user_id`.
    async fn get_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// The session `session_id` of `user_id` with its user, in one read
    /// (the hot path of `GetMe`).
    async fn get_session_user(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError>;
    /// Uses up `presented` and stores `next` in its place, atomically. A
    /// second use of `presented` within `grace` of the first supersedes the
    /// token the first use issued (still unused, its answer was lost) with
    /// `next`; a later one revokes the session.
    async fn rotate_refresh_token(
        &self,
        presented: &RefreshTokenHash,
        next: &RefreshTokenHash,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<Rotation, StoreError>;
    /// Revokes session `session_id` of `user_id`; false if it was not active.
    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Revokes every active session of `user_id` except `keep`; returns the
    /// revoked session ids.
    async fn revoke_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError>;
    /// The sessions revoked after `since`, with their revocation time: what
    /// the revocation list must hold while their access tokens live.
    async fn revoked_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError>;
    /// Records a registration of `request.email` (confirmed by email), in
    /// one transaction: expired requests go first; then, unless the address
    /// has `cap` live requests, either `request` itself (a new address) or
    /// a request without token or password for the account that has it,
    /// each with `announce`'s event in the outbox.
    async fn request_registration(
        &self,
        request: &RegistrationRequest,
        cap: u32,
        announce: RegistrationAnnouncement<'_>,
    ) -> Result<Requested, StoreError>;
    /// Creates the account of the live request with `token` and removes
    /// every request of its address, atomically. `None` when no live
    /// request has that token; [`StoreError::Duplicate`] when the address
    /// has an account already.
    async fn confirm_registration(
        &self,
        token: &ConfirmationTokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError>;
    /// Every signing key that has not expired at `now`, newest first.
    async fn list_signing_keys(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a signing key.
    async fn create_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Replaces the stored private key of `kid` by `new` if it is still
    /// `old`; false when it was not (another replica replaced it).
    async fn replace_signing_key_secret(
        &self,
        kid: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError>;
}
