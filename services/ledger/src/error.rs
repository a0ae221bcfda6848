//! The ledger's errors and their one mapping to `tonic::Status`.

use freedumb_kit::FieldViolations;
use freedumb_kit::error;
use freedumb_proto::common::ErrorReason;
use tonic::{Code, Status};

use crate::domain::MAX_BALANCE_MINOR;
use crate::store::StoreError;

/// Everything a ledger RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Bad input, field by field.
    #[error("invalid request")]
    InvalidArgument(FieldViolations),
    /// No such object for this caller (whether or not someone else has it).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique name is taken.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The request id was used for a different request.
    #[error("request id reused")]
    RequestIdReused,
    /// The object's state forbids the change.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A concurrent change won; retrying is safe.
    #[error("concurrent change")]
    Aborted,
    /// Anything unexpected: logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl LedgerError {
    /// A single field violation.
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        let mut v = FieldViolations::new();
        v.add(field, description);
        Self::InvalidArgument(v)
    }
}

impl From<FieldViolations> for LedgerError {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

/// Whether the database gave up on a transaction that may succeed when
/// retried (serialization failure, deadlock, lock timeout).
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // Postgres: serialization_failure, deadlock_detected; SQLite:
            // SQLITE_BUSY and its extended codes.
            Some("40001" | "40P01" | "5" | "261" | "517")
        ),
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Duplicate(what) => Self::AlreadyExists(what),
            StoreError::RequestIdReused => Self::RequestIdReused,
            StoreError::AccountArchived => {
                Self::FailedPrecondition("the account is archived and takes no changes".into())
            }
            StoreError::BalanceOutOfRange => Self::field(
                "amount.amount_minor",
                format!("would take the account balance beyond ±{MAX_BALANCE_MINOR} minor units"),
            ),
            StoreError::UnknownCategory(id) => {
                Self::field("category_id", format!("no category {id}"))
            }
            StoreError::Conflict => Self::Aborted,
            StoreError::Precondition(why) => Self::FailedPrecondition(why),
            StoreError::Database(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "transient database failure");
                Self::Aborted
            }
            StoreError::Database(e) => Self::Unexpected(e.into()),
        }
    }
}

impl From<LedgerError> for Status {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InvalidArgument(v) => error::invalid_argument(v),
            LedgerError::NotFound(what) => error::status(
                Code::NotFound,
                ErrorReason::NotFound,
                format!("{what} not found"),
            ),
            LedgerError::AlreadyExists(what) => error::status(
                Code::AlreadyExists,
                ErrorReason::AlreadyExists,
                format!("a {what} with this name already exists"),
            ),
            LedgerError::RequestIdReused => {
                let mut v = FieldViolations::new();
                v.add(
                    "request_id",
                    "was used before for a different request; use a new request id",
                );
                error::invalid_argument_because(ErrorReason::RequestIdReused, v)
            }
            LedgerError::FailedPrecondition(why) => error::status(
                Code::FailedPrecondition,
                ErrorReason::FailedPrecondition,
                why,
            ),
            LedgerError::Aborted => error::status(
                Code::Aborted,
                ErrorReason::Unavailable,
                "the object changed concurrently; retry the request",
            ),
            LedgerError::Unexpected(cause) => error::internal(&cause),
        }
    }
}
