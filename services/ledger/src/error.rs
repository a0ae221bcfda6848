//! The ledger's errors and their one mapping to `tonic::Status`.

use freedumb_kit::FieldViolations;
use freedumb_kit::error;
use freedumb_kit::storage::{self, Transient};
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
    /// The database failed in a way that may pass when retried (a lost
    /// race, or no connection in time).
    #[error("transient database failure: {0:?}")]
    Transient(Transient),
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

    /// The store's error, with an unknown category reported on `field`
    /// (the request field that named it).
    pub fn unknown_category_on(field: &'static str) -> impl Fn(StoreError) -> Self {
        move |e| match e {
            StoreError::UnknownCategory(id) => Self::field(field, format!("no category {id}")),
            e => e.into(),
        }
    }
}

impl From<FieldViolations> for LedgerError {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
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
            StoreError::Database(e) => storage::classify(e, Self::Transient, Self::Unexpected),
        }
    }
}

/// The kit's stores (operations) fail in fewer ways.
impl From<freedumb_kit::storage::StoreError> for LedgerError {
    fn from(e: freedumb_kit::storage::StoreError) -> Self {
        use freedumb_kit::storage::StoreError as Kit;
        match e {
            Kit::NotFound(what) => Self::NotFound(what),
            Kit::Corrupt(why) => Self::Unexpected(anyhow::anyhow!("corrupt row: {why}")),
            Kit::Database(e) => storage::classify(e, Self::Transient, Self::Unexpected),
        }
    }
}

impl From<LedgerError> for Status {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InvalidArgument(v) => error::invalid_argument(v),
            LedgerError::NotFound(what) => error::not_found(what),
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
            LedgerError::FailedPrecondition(why) => error::failed_precondition(why),
            LedgerError::Aborted => error::status(
                Code::Aborted,
                ErrorReason::Unavailable,
                "the object changed concurrently; retry the request",
            ),
            LedgerError::Transient(kind) => error::transient(kind),
            LedgerError::Unexpected(cause) => error::internal(&cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use freedumb_kit::storage::Transient;
    use tonic_types::StatusExt as _;

    use super::*;

    fn reason(status: &Status) -> String {
        status
            .get_error_details()
            .error_info()
            .map(|i| i.reason.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_lost_race_is_aborted_and_an_unreachable_database_unavailable() {
        let timed_out = Status::from(LedgerError::from(StoreError::Database(
            sqlx::Error::PoolTimedOut,
        )));
        assert_eq!(timed_out.code(), Code::Unavailable);
        assert_eq!(reason(&timed_out), "UNAVAILABLE");
        let conflict = Status::from(LedgerError::Transient(Transient::Conflict));
        assert_eq!(conflict.code(), Code::Aborted);
        assert_eq!(reason(&conflict), "UNAVAILABLE");
    }

    #[test]
    fn a_concurrent_update_stays_aborted() {
        let status = Status::from(LedgerError::from(StoreError::Conflict));
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(reason(&status), "UNAVAILABLE");
    }

    #[test]
    fn an_unknown_category_is_reported_on_the_field_that_named_it() {
        let id = uuid::Uuid::nil();
        let e =
            LedgerError::unknown_category_on("rule.category_id")(StoreError::UnknownCategory(id));
        let LedgerError::InvalidArgument(v) = e else {
            panic!("not a violation: {e:?}");
        };
        let fields: Vec<_> = v.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["rule.category_id"]);
    }

    #[test]
    fn other_database_errors_are_internal() {
        let e = LedgerError::from(StoreError::Database(sqlx::Error::RowNotFound));
        assert!(matches!(e, LedgerError::Unexpected(_)));
    }
}
