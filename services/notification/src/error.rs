//! The notification service's errors and their one mapping to
//! `tonic::Status`.

use freedumb_kit::FieldViolations;
use freedumb_kit::error;
use freedumb_kit::storage::{self, Transient};
use tonic::Status;

use crate::store::StoreError;

/// Everything a notification RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// Bad input, field by field.
    #[error("invalid request")]
    InvalidArgument(FieldViolations),
    /// No such object for this caller.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed in a way that may pass when retried.
    #[error("transient database failure: {0:?}")]
    Transient(Transient),
    /// Anything unexpected: logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl NotificationError {
    /// A single field violation.
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        let mut v = FieldViolations::new();
        v.add(field, description);
        Self::InvalidArgument(v)
    }
}

impl From<FieldViolations> for NotificationError {
    fn from(v: FieldViolations) -> Self {
        Self::InvalidArgument(v)
    }
}

impl From<StoreError> for NotificationError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Corrupt(why) => Self::Unexpected(anyhow::anyhow!("corrupt row: {why}")),
            StoreError::Database(e) => storage::classify(e, Self::Transient, Self::Unexpected),
        }
    }
}

impl From<NotificationError> for Status {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::InvalidArgument(v) => error::invalid_argument(v),
            NotificationError::NotFound(what) => error::not_found(what),
            NotificationError::Transient(kind) => error::transient(kind),
            NotificationError::Unexpected(cause) => error::internal(&cause),
        }
    }
}
