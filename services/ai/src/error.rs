//! The ai service's errors and their one mapping to `tonic::Status`.

use freedumb_kit::FieldViolations;
use freedumb_kit::error;
use freedumb_kit::peer::PeerError;
use freedumb_kit::storage::{self, Transient};
use freedumb_proto::common::ErrorReason;
use tonic::{Code, Status};

use crate::store::StoreError;

/// Everything an ai RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// Bad input, field by field.
    #[error("invalid request")]
    InvalidArgument(FieldViolations),
    /// No such object for this caller (whether or not someone else has it).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller has as many rules as a user may.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The ledger could not be reached; retrying may pass.
    #[error("the ledger is unavailable")]
    LedgerUnavailable,
    /// The ledger refused the caller's token: the session ended meanwhile.
    #[error("the session has ended")]
    SessionEnded,
    /// The answer took longer than it may.
    #[error("{0}")]
    DeadlineExceeded(&'static str),
    /// The database failed in a way that may pass when retried.
    #[error("transient database failure: {0:?}")]
    Transient(Transient),
    /// Anything unexpected: logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl AiError {
    /// A single field violation.
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        let mut v = FieldViolations::new();
        v.add(field, description);
        Self::InvalidArgument(v)
    }
}

impl From<FieldViolations> for AiError {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<PeerError> for AiError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::InvalidArgument(v) => Self::InvalidArgument(v),
            PeerError::Unavailable => Self::LedgerUnavailable,
            PeerError::SessionEnded => Self::SessionEnded,
            PeerError::Unexpected(cause) => Self::Unexpected(cause),
        }
    }
}

impl From<StoreError> for AiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Corrupt(why) => Self::Unexpected(anyhow::anyhow!("corrupt row: {why}")),
            StoreError::Database(e) => storage::classify(e, Self::Transient, Self::Unexpected),
        }
    }
}

impl From<AiError> for Status {
    fn from(e: AiError) -> Self {
        match e {
            AiError::InvalidArgument(v) => error::invalid_argument(v),
            AiError::NotFound(what) => error::not_found(what),
            AiError::ResourceExhausted(why) => {
                error::status(Code::ResourceExhausted, ErrorReason::LimitReached, why)
            }
            AiError::LedgerUnavailable => error::peer_unavailable("the ledger"),
            AiError::SessionEnded => freedumb_kit::peer::session_ended(),
            AiError::DeadlineExceeded(why) => {
                error::status(Code::DeadlineExceeded, ErrorReason::Unavailable, why)
            }
            AiError::Transient(kind) => error::transient(kind),
            AiError::Unexpected(cause) => error::internal(&cause),
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
                AiError::field("rule.name", "is required"),
                Code::InvalidArgument,
            ),
            (AiError::NotFound("rule"), Code::NotFound),
            (
                AiError::ResourceExhausted("full".into()),
                Code::ResourceExhausted,
            ),
            (AiError::LedgerUnavailable, Code::Unavailable),
            (AiError::DeadlineExceeded("slow"), Code::DeadlineExceeded),
            (
                AiError::Unexpected(anyhow::anyhow!("secret detail")),
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
