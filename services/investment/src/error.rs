//! The investment service's errors and their one mapping to `tonic::Status`.

use freedumb_kit::FieldViolations;
use freedumb_kit::error;
use freedumb_kit::peer::PeerError;
use freedumb_kit::storage::{self, Transient};
use freedumb_proto::common::ErrorReason;
use tonic::{Code, Status};

use crate::store::StoreError;

/// Everything an investment RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum InvestmentError {
    /// Bad input, field by field.
    #[error("invalid request")]
    InvalidArgument(FieldViolations),
    /// No such object for this caller (whether or not someone else has it).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique key is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request id was used before for a different request.
    #[error("request id reused")]
    RequestIdReused,
    /// The objects' state forbids the request.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The ledger could not be reached; retrying may pass.
    #[error("the ledger is unavailable")]
    LedgerUnavailable,
    /// The ledger refused the caller's token: the session ended meanwhile.
    #[error("the session has ended")]
    SessionEnded,
    /// The database failed in a way that may pass when retried.
    #[error("transient database failure: {0:?}")]
    Transient(Transient),
    /// Anything unexpected: logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl InvestmentError {
    /// A single field violation.
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        let mut v = FieldViolations::new();
        v.add(field, description);
        Self::InvalidArgument(v)
    }
}

impl From<FieldViolations> for InvestmentError {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<PeerError> for InvestmentError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::InvalidArgument(v) => Self::InvalidArgument(v),
            PeerError::Unavailable => Self::LedgerUnavailable,
            PeerError::SessionEnded => Self::SessionEnded,
            PeerError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<StoreError> for InvestmentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Duplicate(what) => Self::AlreadyExists(what.to_owned()),
            StoreError::RequestIdReused => Self::RequestIdReused,
            StoreError::Rejected(e) => e,
            StoreError::Corrupt(why) => Self::Unexpected(anyhow::anyhow!("corrupt row: {why}")),
            StoreError::Database(e) => storage::classify(e, Self::Transient, Self::Unexpected),
        }
    }
}

impl From<InvestmentError> for Status {
    fn from(e: InvestmentError) -> Self {
        match e {
            InvestmentError::InvalidArgument(v) => error::invalid_argument(v),
            InvestmentError::NotFound(what) => error::not_found(what),
            InvestmentError::AlreadyExists(what) => {
                error::status(Code::AlreadyExists, ErrorReason::AlreadyExists, what)
            }
            InvestmentError::RequestIdReused => {
                let mut v = FieldViolations::new();
                v.add(
                    "request_id",
                    "was used before for a different request; use a new request id",
                );
                error::invalid_argument_because(ErrorReason::RequestIdReused, v)
            }
            InvestmentError::FailedPrecondition(why) => error::failed_precondition(why),
            InvestmentError::LedgerUnavailable => error::peer_unavailable("the ledger"),
            InvestmentError::SessionEnded => freedumb_kit::peer::session_ended(),
            InvestmentError::Transient(kind) => error::transient(kind),
            InvestmentError::Unexpected(cause) => error::internal(&cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code_and_internal_causes_are_hidden() {
        let cases = [
            (
                InvestmentError::field("activity.quantity", "must be positive"),
                Code::InvalidArgument,
            ),
            (InvestmentError::NotFound("portfolio"), Code::NotFound),
            (
                InvestmentError::AlreadyExists("an instrument with symbol AAPL exists".into()),
                Code::AlreadyExists,
            ),
            (InvestmentError::RequestIdReused, Code::InvalidArgument),
            (
                InvestmentError::FailedPrecondition("no".into()),
                Code::FailedPrecondition,
            ),
            (InvestmentError::LedgerUnavailable, Code::Unavailable),
            (
                InvestmentError::Unexpected(anyhow::anyhow!("secret detail")),
                Code::Internal,
            ),
        ];
        for (error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("secret"), "{}", status.message());
        }
    }
}
