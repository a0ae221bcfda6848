//! Building `tonic::Status` values with `google.rpc` details, the one way
//! every FREEDUMB service reports errors.
//!
//! Each service has its own `thiserror` enum and converts it with these
//! helpers, so clients always get the same shapes: `BadRequest` field
//! violations for bad input, an `ErrorInfo` with a stable reason in domain
//! [`ERROR_DOMAIN`], and for internal failures only a generic message plus
//! the trace id (the cause goes to the log).

use std::time::Duration;

use freedumb_proto::common::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every FREEDUMB error.
pub const ERROR_DOMAIN: &str = "freedumb.dev";

/// Field-level problems with a request, collected before answering.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldViolations(Vec<(String, String)>);

impl FieldViolations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` (a proto field path, e.g. `email`) is invalid.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// Records the error of `result` under `field`, returning its value.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        result.map_err(|e| self.add(field, e.to_string())).ok()
    }

    /// Adds every violation of `other`.
    pub fn extend(&mut self, other: FieldViolations) {
        self.0.extend(other.0);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded `(field, description)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = &(String, String)> {
        self.0.iter()
    }

    /// `Ok(())` when empty, otherwise the INVALID_ARGUMENT status.
    pub fn into_result(self) -> Result<(), Status> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(invalid_argument(self))
        }
    }
}

/// The most violations a `BadRequest` lists: its details travel in one
/// HTTP/2 header (`grpc-status-details-bin`), and a thousand of them (one
/// per item of a long list) outgrew the peers' header limit, so the call
/// failed with a protocol error instead of the violations.
pub const MAX_LISTED_VIOLATIONS: usize = 20;

/// INVALID_ARGUMENT with a `BadRequest` listing the violations (the first
/// [`MAX_LISTED_VIOLATIONS`]).
pub fn invalid_argument(violations: FieldViolations) -> Status {
    invalid_argument_because(ErrorReason::InvalidArgument, violations)
}

/// INVALID_ARGUMENT with a `BadRequest` and a more specific reason than
/// `INVALID_ARGUMENT` (e.g. `REQUEST_ID_REUSED`).
pub fn invalid_argument_because(reason: ErrorReason, violations: FieldViolations) -> Status {
    let message = match violations.0.as_slice() {
        [(field, why)] => format!("invalid {field}: {why}"),
        many if many.len() > MAX_LISTED_VIOLATIONS => format!(
            "{} invalid fields (the first {MAX_LISTED_VIOLATIONS} are listed)",
            many.len()
        ),
        many => format!("{} invalid fields", many.len()),
    };
    let mut details = ErrorDetails::new();
    for (field, why) in violations.0.into_iter().take(MAX_LISTED_VIOLATIONS) {
        details.add_bad_request_violation(field, why);
    }
    with_reason(Code::InvalidArgument, reason, message, details)
}

/// A status with an `ErrorInfo` carrying `reason`.
pub fn status(code: Code, reason: ErrorReason, message: impl Into<String>) -> Status {
    with_reason(code, reason, message.into(), ErrorDetails::new())
}

/// FAILED_PRECONDITION: the objects' state forbids the request, `why`.
pub fn failed_precondition(why: impl Into<String>) -> Status {
    status(
        Code::FailedPrecondition,
        ErrorReason::FailedPrecondition,
        why,
    )
}

/// UNAVAILABLE because the peer service `peer` ("the ledger") could not be
/// reached; the client may retry.
pub fn peer_unavailable(peer: &str) -> Status {
    unavailable(
        format!("{peer} is unavailable; retry the request"),
        Duration::from_secs(1),
    )
}

/// UNAVAILABLE with a `RetryInfo`: something the request needs did not
/// answer; the client may retry after `retry_after`.
pub fn unavailable(message: impl Into<String>, retry_after: Duration) -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(retry_after));
    with_reason(
        Code::Unavailable,
        ErrorReason::Unavailable,
        message.into(),
        details,
    )
}

/// NOT_FOUND for `what` (the same for another user's object as for one
/// that does not exist).
pub fn not_found(what: &str) -> Status {
    status(
        Code::NotFound,
        ErrorReason::NotFound,
        format!("{what} not found"),
    )
}

/// RESOURCE_EXHAUSTED with a `RetryInfo` saying when to try again.
pub fn rate_limited(message: impl Into<String>, retry_after: Duration) -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(retry_after));
    with_reason(
        Code::ResourceExhausted,
        ErrorReason::RateLimited,
        message.into(),
        details,
    )
}

/// The answer to a transient database failure, the same in every service:
/// ABORTED when the transaction lost a race (retry the request at once),
/// UNAVAILABLE when the database could not be reached in time (retry in a
/// second: it may be down); both with reason `UNAVAILABLE` and a
/// `RetryInfo`.
pub fn transient(kind: crate::storage::Transient) -> Status {
    let (code, message, retry) = match kind {
        crate::storage::Transient::Conflict => (
            Code::Aborted,
            "the request conflicted with a concurrent change; retry it",
            Duration::from_millis(100),
        ),
        crate::storage::Transient::Unavailable => (
            Code::Unavailable,
            "the database is unavailable; retry the request shortly",
            Duration::from_secs(1),
        ),
    };
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(retry));
    with_reason(code, ErrorReason::Unavailable, message.to_owned(), details)
}

/// INTERNAL for an unexpected failure. The cause is logged with the trace
/// id; the client gets only the trace id to quote in a support request.
#[track_caller]
pub fn internal(cause: &anyhow::Error) -> Status {
    let trace_id = crate::trace::current_trace_id();
    let location = std::panic::Location::caller();
    tracing::error!(error = ?cause, %trace_id, %location, "unexpected error");
    let mut details = ErrorDetails::new();
    details.set_error_info(
        ErrorReason::Internal.reason(),
        ERROR_DOMAIN,
        [("trace_id".to_owned(), trace_id.clone())],
    );
    Status::with_error_details(
        Code::Internal,
        format!("internal error (trace id {trace_id})"),
        details,
    )
}

fn with_reason(
    code: Code,
    reason: ErrorReason,
    message: String,
    mut details: ErrorDetails,
) -> Status {
    details.set_error_info(reason.reason(), ERROR_DOMAIN, []);
    Status::with_error_details(code, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_violations_list_the_first_twenty_in_a_small_header() {
        let mut v = FieldViolations::new();
        for i in 0..1000 {
            v.add(format!("notification_ids[{i}]"), "`` is not an id (a UUID)");
        }
        let status = v.into_result().expect_err("violations");
        assert_eq!(
            status.message(),
            "1000 invalid fields (the first 20 are listed)"
        );
        let listed = status
            .get_error_details()
            .bad_request()
            .map(|b| b.field_violations.len());
        assert_eq!(listed, Some(MAX_LISTED_VIOLATIONS));
        assert!(status.details().len() < 4096, "{}", status.details().len());
    }

    #[test]
    fn violations_become_bad_request_details() {
        let mut v = FieldViolations::new();
        v.add("email", "must contain @");
        v.add("password", "too short");
        let status = v.into_result().expect_err("two violations");
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("bad request detail")
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["email", "password"]);
        assert_eq!(
            details.error_info().expect("error info").reason,
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    fn no_violations_is_ok() {
        assert!(FieldViolations::new().into_result().is_ok());
    }

    #[test]
    fn internal_hides_the_cause() {
        let status = internal(&anyhow::anyhow!("connection refused to 10.0.0.7"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("10.0.0.7"));
    }
}
