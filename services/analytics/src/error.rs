//! The analytics errors and their one mapping to `tonic::Status`.

use freedumb_kit::FieldViolations;
use freedumb_kit::error;
use freedumb_kit::peer::PeerError;
use freedumb_kit::storage::{self, Transient};
use tonic::Status;

use crate::store::StoreError;

/// Everything an analytics RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// Bad input, field by field.
    #[error("invalid request")]
    InvalidArgument(FieldViolations),
    /// No such object for this caller (whether or not someone else has it).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The object's state forbids the request.
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

impl AnalyticsError {
    /// A single field violation.
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        let mut v = FieldViolations::new();
        v.add(field, description);
        Self::InvalidArgument(v)
    }
}

impl From<FieldViolations> for AnalyticsError {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<PeerError> for AnalyticsError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::InvalidArgument(v) => Self::InvalidArgument(v),
            PeerError::Unavailable => Self::LedgerUnavailable,
            PeerError::SessionEnded => Self::SessionEnded,
            PeerError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<StoreError> for AnalyticsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Corrupt(why) => Self::Unexpected(anyhow::anyhow!("corrupt row: {why}")),
            StoreError::Database(e) => storage::classify(e, Self::Transient, Self::Unexpected),
        }
    }
}

impl From<AnalyticsError> for Status {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::InvalidArgument(v) => error::invalid_argument(v),
            AnalyticsError::NotFound(what) => error::not_found(what),
            AnalyticsError::FailedPrecondition(why) => error::failed_precondition(why),
            AnalyticsError::LedgerUnavailable => error::peer_unavailable("the ledger"),
            AnalyticsError::SessionEnded => freedumb_kit::peer::session_ended(),
            AnalyticsError::Transient(kind) => error::transient(kind),
            AnalyticsError::Unexpected(cause) => error::internal(&cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_error_has_its_code_and_internal_causes_are_hidden() {
        for (error, code) in [
            (
                AnalyticsError::field("end_date", "before"),
                Code::InvalidArgument,
            ),
            (AnalyticsError::LedgerUnavailable, Code::Unavailable),
            (AnalyticsError::NotFound("report"), Code::NotFound),
            (
                AnalyticsError::FailedPrecondition("not ready".into()),
                Code::FailedPrecondition,
            ),
            (
                AnalyticsError::Unexpected(anyhow::anyhow!("secret detail")),
                Code::Internal,
            ),
        ] {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("secret"));
        }
    }
}
