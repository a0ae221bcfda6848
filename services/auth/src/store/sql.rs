//! The auth store in SQL both Postgres and SQLite accept. Instants are
//! compared in Rust, never in SQL, because SQLite keeps them as text.
//! Writes of more than one statement run in one transaction each, begun
//! with [`freedumb_kit::storage::begin_write`] (`BEGIN IMMEDIATE` on SQLite,
//! so two concurrent rotations queue instead of failing with SQLITE_BUSY).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, FromRow, Pool};
use uuid::Uuid;

use super::{
    AuthStore, ClientSighting, RegistrationAnnouncement, RegistrationRequest, Requested,
    RevokeReason, Rotation, SessionRecord, SigningKeyRecord, StoreError, UserRecord,
};
use crate::domain::{ConfirmationTokenHash, Email, RefreshTokenHash};

/// [`AuthStore`] over a sqlx pool of either backend.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool` (already migrated).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    create_time: DateTime<Utc>,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            email: Email::from_trusted(r.email),
            password_hash: r.password_hash,
            create_time: r.create_time,
        }
    }
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    create_time: DateTime<Utc>,
    expire_time: DateTime<Utc>,
    revoke_time: Option<DateTime<Utc>>,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            create_time: r.create_time,
            expire_time: r.expire_time,
            revoke_time: r.revoke_time,
        }
    }
}

/// A session joined with its user.
#[derive(FromRow)]
pub struct SessionUserRow {
    session_id: Uuid,
    session_create_time: DateTime<Utc>,
    expire_time: DateTime<Utc>,
    revoke_time: Option<DateTime<Utc>>,
    user_id: Uuid,
    email: String,
    password_hash: String,
    user_create_time: DateTime<Utc>,
}

impl SessionUserRow {
    fn into_records(self) -> (SessionRecord, UserRecord) {
        let session = SessionRow {
            id: self.session_id,
            user_id: self.user_id,
            create_time: self.session_create_time,
            expire_time: self.expire_time,
            revoke_time: self.revoke_time,
        };
        let user = UserRow {
            id: self.user_id,
            email: self.email,
            password_hash: self.password_hash,
            create_time: self.user_create_time,
        };
        (session.into(), user.into())
    }
}

/// A row as the database returns it (named in the store's generic bounds).
#[derive(FromRow)]
pub struct SigningKeyRow {
    kid: String,
    private_key_pem: String,
    public_n: String,
    public_e: String,
    create_time: DateTime<Utc>,
    retire_time: DateTime<Utc>,
    expire_time: DateTime<Utc>,
}

const USER_COLUMNS: &str = "SELECT id, email, password_hash, create_time FROM users";
const SESSION_COLUMNS: &str =
    "SELECT id, user_id, create_time, expire_time, revoke_time FROM sessions";

fn map_duplicate(entity: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate { entity },
        _ => StoreError::Database(e),
    }
}

freedumb_kit::sql_impl!(
    [#[async_trait] impl<DB> AuthStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::insert_user(&mut *conn, user).await
    }

    #[tracing::instrument(skip_all)]
    async fn request_registration(
        &self,
        request: &RegistrationRequest,
        cap: u32,
        announce: RegistrationAnnouncement<'_>,
    ) -> Result<Requested, StoreError> {
        let now_ms = request.create_time.timestamp_millis();
        let email = request.email.as_str().to_owned();
        let mut tx = freedumb_kit::storage::begin_write(&self.pool).await?;
        sqlx::query("DELETE FROM registration_requests WHERE expire_ms <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let (live,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM registration_requests WHERE email = $1")
                .bind(email.clone())
                .fetch_one(&mut *tx)
                .await?;
        if live >= i64::from(cap) {
            return Ok(Requested::Capped);
        }
        let existing: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE email = $1")
            .bind(email.clone())
            .fetch_optional(&mut *tx)
            .await?;
        let (user_id, token, password_hash) = match existing {
            Some((user_id,)) => (user_id, None, None),
            None => (
                request.user_id,
                Some(request.token.0.to_vec()),
                Some(request.password_hash.clone()),
            ),
        };
        sqlx::query(
            "INSERT INTO registration_requests \
             (id, email, user_id, token_hash, password_hash, create_time, expire_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(request.id)
        .bind(email)
        .bind(user_id)
        .bind(token)
        .bind(password_hash)
        .bind(request.create_time)
        .bind(request.expire_time.timestamp_millis())
        .execute(&mut *tx)
        .await
        .map_err(map_duplicate("registration request"))?;
        let existing = existing.map(|(id,)| id);
        let event = announce(existing);
        freedumb_kit::outbox::SqlOutbox::<DB>::insert(&mut tx, &[(event, request.create_time)])
            .await?;
        tx.commit().await?;
        Ok(match existing {
            Some(user_id) => Requested::AccountExists { user_id },
            None => Requested::Pending,
        })
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_registration(
        &self,
        token: &ConfirmationTokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let mut tx = freedumb_kit::storage::begin_write(&self.pool).await?;
        let found: Option<(Uuid, String, Option<String>)> = sqlx::query_as(
            "SELECT user_id, email, password_hash FROM registration_requests \
             WHERE token_hash = $1 AND expire_ms > $2",
        )
        .bind(token.0.to_vec())
        .bind(now.timestamp_millis())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, email, Some(password_hash))) = found else {
            return Ok(None);
        };
        let user = UserRecord {
            id: user_id,
            email: Email::from_trusted(email),
            password_hash,
            create_time: now,
        };
        Self::insert_user(&mut tx, &user).await?;
        sqlx::query("DELETE FROM registration_requests WHERE email = $1")
            .bind(user.email.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    #[tracing::instrument(skip_all)]
    async fn get_user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(&format!("{USER_COLUMNS} WHERE email = $1"))
            .bind(email.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    #[tracing::instrument(skip_all)]
    async fn get_user(&self, user_id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(&format!("{USER_COLUMNS} WHERE id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    #[tracing::instrument(skip_all)]
    async fn update_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        keep: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = freedumb_kit::storage::begin_write(&self.pool).await?;
        sqlx::query("UPDATE users SET password_hash = $2, update_time = $3 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let revoked =
            Self::revoke_others(&mut tx, user_id, keep, RevokeReason::PasswordChange, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    #[tracing::instrument(skip_all)]
    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &RefreshTokenHash,
        client: Option<&ClientSighting<'_>>,
    ) -> Result<(), StoreError> {
        let mut tx = freedumb_kit::storage::begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, create_time, expire_time) VALUES ($1, $2, $3, $4)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(session.create_time)
        .bind(session.expire_time)
        .execute(&mut *tx)
        .await?;
        Self::insert_refresh_token(&mut tx, token, session.id, session.create_time).await?;
        if let Some(client) = client {
            let (seen_before,): (bool,) =
                sqlx::query_as("SELECT EXISTS (SELECT 1 FROM known_clients WHERE user_id = $1)")
                    .bind(session.user_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let new: Option<(Uuid,)> = sqlx::query_as(
                "INSERT INTO known_clients (user_id, client_key, first_seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, client_key) DO NOTHING RETURNING user_id",
            )
            .bind(session.user_id)
            .bind(client.key.to_vec())
            .bind(session.create_time)
            .fetch_optional(&mut *tx)
            .await?;
            if new.is_some() && seen_before {
                let event = (client.announce)();
                freedumb_kit::outbox::SqlOutbox::<DB>::insert(&mut tx, &[(event, session.create_time)])
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn get_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> =
            sqlx::query_as(&format!("{SESSION_COLUMNS} WHERE id = $1 AND user_id = $2"))
                .bind(session_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    #[tracing::instrument(skip_all)]
    async fn get_session_user(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError> {
        let row: Option<SessionUserRow> = sqlx::query_as(
            "SELECT s.id AS session_id, s.create_time AS session_create_time, s.expire_time, \
             s.revoke_time, u.id AS user_id, u.email, u.password_hash, \
             u.create_time AS user_create_time \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(SessionUserRow::into_records))
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_refresh_token(
        &self,
        presented: &RefreshTokenHash,
        next: &RefreshTokenHash,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<Rotation, StoreError> {
        let mut tx = freedumb_kit::storage::begin_write(&self.pool).await?;
        // Writing first takes the row (Postgres) or database (SQLite) lock,
        // so of two concurrent uses exactly one finds the token unused.
        let fresh: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE refresh_tokens SET use_time = $2 \
             WHERE token_hash = $1 AND use_time IS NULL RETURNING session_id",
        )
        .bind(presented.0.to_vec())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let session_id = match fresh {
            Some((id,)) => id,
            None => {
                let used: Option<(Uuid, Option<DateTime<Utc>>)> = sqlx::query_as(
                    "SELECT session_id, use_time FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(presented.0.to_vec())
                .fetch_optional(&mut *tx)
                .await?;
                let Some((session_id, use_time)) = used else {
                    return Ok(Rotation::Invalid);
                };
                let session = Self::find_session(&mut tx, session_id).await?;
                let within_grace = use_time.is_some_and(|used| now - used <= grace);
                if let Some(session) = session.as_ref().filter(|s| within_grace && s.is_active(now)) {
                    // Whatever the first use issued is superseded, so the
                    // session keeps a single live refresh token.
                    sqlx::query(
                        "UPDATE refresh_tokens SET use_time = $2 \
                         WHERE session_id = $1 AND use_time IS NULL",
                    )
                    .bind(session_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    Self::insert_refresh_token(&mut tx, next, session_id, now).await?;
                    tx.commit().await?;
                    return Ok(Rotation::Repeated(session.clone()));
                }
                Self::revoke(&mut tx, session_id, RevokeReason::RefreshTokenReuse, now).await?;
                tx.commit().await?;
                return Ok(session.map_or(Rotation::Invalid, Rotation::Reused));
            }
        };
        match Self::find_session(&mut tx, session_id).await? {
            Some(session) if session.is_active(now) => {
                Self::insert_refresh_token(&mut tx, next, session_id, now).await?;
                tx.commit().await?;
                Ok(Rotation::Rotated(session))
            }
            // Dropping the transaction rolls the use back; the session is
            // over anyway.
            _ => Ok(Rotation::Invalid),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let revoked: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE sessions SET revoke_time = $3, revoke_reason = $4 \
             WHERE id = $1 AND user_id = $2 AND revoke_time IS NULL RETURNING id",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .bind(reason.as_str().to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(revoked.is_some())
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = freedumb_kit::storage::begin_write(&self.pool).await?;
        let revoked = Self::revoke_others(&mut tx, user_id, keep, reason, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    #[tracing::instrument(skip_all)]
    async fn revoked_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        // The one comparison of instants in SQL, to use the index: SQLite
        // keeps them as RFC 3339 text in UTC, whose order is the instants'
        // (fractions of a second included). Rust checks again.
        let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, revoke_time FROM sessions \
             WHERE revoke_time IS NOT NULL AND revoke_time >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().filter(|(_, at)| *at > since).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn list_signing_keys(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, private_key_pem, public_n, public_e, create_time, retire_time, expire_time \
             FROM signing_keys",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut keys: Vec<SigningKeyRecord> = rows
            .into_iter()
            .filter(|r| r.expire_time > now)
            .map(|r| SigningKeyRecord {
                kid: r.kid,
                private_key_pem: r.private_key_pem,
                public_n: r.public_n,
                public_e: r.public_e,
                create_time: r.create_time,
                retire_time: r.retire_time,
                expire_time: r.expire_time,
            })
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.create_time));
        Ok(keys)
    }

    #[tracing::instrument(skip_all)]
    async fn create_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys \
             (kid, private_key_pem, public_n, public_e, create_time, retire_time, expire_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.kid.clone())
        .bind(key.private_key_pem.clone())
        .bind(key.public_n.clone())
        .bind(key.public_e.clone())
        .bind(key.create_time)
        .bind(key.retire_time)
        .bind(key.expire_time)
        .execute(&self.pool)
        .await
        .map_err(map_duplicate("signing key"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn replace_signing_key_secret(
        &self,
        kid: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let replaced: Option<(String,)> = sqlx::query_as(
            "UPDATE signing_keys SET private_key_pem = $3 \
             WHERE kid = $1 AND private_key_pem = $2 RETURNING kid",
        )
        .bind(kid.to_owned())
        .bind(old.to_owned())
        .bind(new.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(replaced.is_some())
    }
);

// Steps shared by several store methods, run on one connection (usually
// inside a transaction).
freedumb_kit::sql_impl!(
    [impl<DB> SqlStore<DB>]
    async fn insert_user(conn: &mut DB::Connection, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(user.id)
        .bind(user.email.as_str().to_owned())
        .bind(user.password_hash.clone())
        .bind(user.create_time)
        .execute(conn)
        .await
        .map_err(map_duplicate("user"))?;
        Ok(())
    }

    async fn insert_refresh_token(
        conn: &mut DB::Connection,
        token: &RefreshTokenHash,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, create_time) VALUES ($1, $2, $3)",
        )
        .bind(token.0.to_vec())
        .bind(session_id)
        .bind(now)
        .execute(conn)
        .await
        .map_err(map_duplicate("refresh token"))?;
        Ok(())
    }

    async fn find_session(
        conn: &mut DB::Connection,
        session_id: Uuid,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(&format!("{SESSION_COLUMNS} WHERE id = $1"))
            .bind(session_id)
            .fetch_optional(conn)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn revoke(
        conn: &mut DB::Connection,
        session_id: Uuid,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET revoke_time = $2, revoke_reason = $3 WHERE id = $1 AND revoke_time IS NULL",
        )
        .bind(session_id)
        .bind(now)
        .bind(reason.as_str().to_owned())
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn revoke_others(
        conn: &mut DB::Connection,
        user_id: Uuid,
        keep: Uuid,
        reason: RevokeReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "UPDATE sessions SET revoke_time = $3, revoke_reason = $4 \
             WHERE user_id = $1 AND id <> $2 AND revoke_time IS NULL RETURNING id",
        )
        .bind(user_id)
        .bind(keep)
        .bind(now)
        .bind(reason.as_str().to_owned())
        .fetch_all(conn)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
);
