//! Auth's errors and their one mapping to `tonic::Status`.

use std::time::Duration;

use freedumb_kit::FieldViolations;
use freedumb_kit::error;
use freedumb_proto::common::ErrorReason;
use tonic::{Code, Status};

use crate::store::StoreError;

/// Everything an auth RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad input, field by field.
    #[error("invalid request")]
    InvalidArgument(FieldViolations),
    /// The email is registered already.
    #[error("email already registered")]
    EmailTaken,
    /// Wrong email or password (deliberately not saying which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Unknown, expired, revoked or reused refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The access token's session has ended, or its user is gone.
    #[error("session has ended")]
    SessionEnded,
    /// Too many failed attempts; retry after the delay.
    #[error("too many attempts")]
    Throttled(Duration),
    /// The database gave up for now (a lost race, or no connection in
    /// time); retrying is safe.
    #[error("transient database failure: {0:?}")]
    Transient(freedumb_kit::storage::Transient),
    /// The shared state (Redis: throttles, revocations) did not answer;
    /// retrying shortly is safe.
    #[error(transparent)]
    StateUnavailable(#[from] freedumb_kit::state::StateUnavailable),
    /// Anything unexpected: logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl AuthError {
    /// A single field violation.
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        let mut v = FieldViolations::new();
        v.add(field, description);
        Self::InvalidArgument(v)
    }
}

impl From<FieldViolations> for AuthError {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Database(db) => match freedumb_kit::storage::transient(db) {
                Some(kind) => {
                    tracing::warn!(error = %db, "transient database failure");
                    Self::Transient(kind)
                }
                None => Self::Unexpected(e.into()),
            },
            StoreError::Duplicate { .. } => Self::Unexpected(e.into()),
        }
    }
}

impl From<AuthError> for Status {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidArgument(v) => error::invalid_argument(v),
            AuthError::EmailTaken => error::status(
                Code::AlreadyExists,
                ErrorReason::EmailTaken,
                "an account with this email already exists",
            ),
            AuthError::InvalidCredentials => error::status(
                Code::Unauthenticated,
                ErrorReason::InvalidCredentials,
                "invalid email or password",
            ),
            AuthError::InvalidRefreshToken => error::status(
                Code::Unauthenticated,
                ErrorReason::InvalidRefreshToken,
                "the refresh token is invalid, expired or already used; sign in again",
            ),
            AuthError::SessionEnded => error::status(
                Code::Unauthenticated,
                ErrorReason::InvalidToken,
                "the session has ended; sign in again",
            ),
            AuthError::Throttled(wait) => error::rate_limited(
                format!(
                    "too many failed attempts; try again in {} s",
                    wait.as_secs().max(1)
                ),
                wait,
            ),
            AuthError::Transient(kind) => error::transient(kind),
            AuthError::StateUnavailable(cause) => {
                tracing::warn!(error = %cause, "shared state unavailable");
                error::unavailable(
                    "the service is briefly unavailable; retry the request shortly",
                    Duration::from_secs(1),
                )
            }
            AuthError::Unexpected(cause) => error::internal(&cause),
        }
    }
}
