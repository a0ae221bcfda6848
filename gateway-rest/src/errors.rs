//! Every error the gateway answers with, in one place. Whether the gateway
//! refused a call itself or a service did, the body is the
//! `google.rpc.Status` as JSON (`{code, message, details}`, details with
//! `@type`) and the HTTP status comes from one table. Gateway errors carry
//! an `ErrorInfo` with a stable reason where one fits. Unexpected failures
//! are logged here with the trace id; the client gets only the trace id.

use std::sync::LazyLock;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use freedumb_kit::error::ERROR_DOMAIN;
use freedumb_proto::common::ErrorReason;
use http::{HeaderValue, Method, StatusCode, header};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::{BadRequest, ErrorDetail, ErrorInfo, RetryInfo, StatusExt as _};

use crate::transcode;

/// `google.rpc.Status` from the embedded descriptors, which name every
/// detail type a body can carry. `None` only if those descriptors are
/// broken, which [`crate::Gateway::new`] refuses before serving.
static STATUS_MESSAGE: LazyLock<Option<MessageDescriptor>> = LazyLock::new(|| {
    DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET)
        .ok()?
        .get_message_by_name("google.rpc.Status")
});

/// Whether error details can be rendered (checked once at start).
pub(crate) fn renderable() -> bool {
    STATUS_MESSAGE.is_some()
}

/// Why the gateway did not answer with the service's reply.
#[derive(Debug)]
pub(crate) enum GatewayError {
    /// No route has this path.
    NoRoute { method: Method, path: String },
    /// Routes have this path, but for other methods.
    MethodNotAllowed {
        method: Method,
        path: String,
        allowed: Vec<Method>,
    },
    /// An authenticated route called without a bearer token (checked
    /// before the request is read, as the document's `security` says; the
    /// service verifies the token itself).
    MissingToken,
    /// The request cannot become the RPC's message.
    InvalidRequest(transcode::BadRequest),
    /// The body is longer than `limit` bytes.
    BodyTooLarge { limit: usize },
    /// The caller spent the `limit` calls of its window.
    RateLimited { limit: u64, retry_after: Duration },
    /// The services cannot be reached.
    Unavailable,
    /// The service's reply is not the RPC's response message.
    BadReply { rpc: String, cause: anyhow::Error },
    /// A failure of the gateway itself.
    Internal(anyhow::Error),
    /// The service refused the call.
    Upstream(tonic::Status),
}

impl From<tonic::Status> for GatewayError {
    fn from(status: tonic::Status) -> Self {
        Self::Upstream(status)
    }
}

impl GatewayError {
    /// The HTTP status the client sees.
    fn http_status(&self) -> StatusCode {
        match self {
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingToken => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadReply { .. } => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Upstream(status) => http_status(status.code()),
        }
    }

    /// The `google.rpc.Status` of the body; logs unexpected causes.
    fn into_status(self) -> tonic::Status {
        match self {
            Self::NoRoute { method, path } => with_reason(
                Code::NotFound,
                format!("no route for {method} {path}"),
                ErrorReason::NotFound,
                [],
            ),
            // No ErrorReason fits a client calling a route wrongly, and
            // there is no condition for it to branch on: no ErrorInfo.
            Self::MethodNotAllowed {
                method,
                path,
                allowed,
            } => tonic::Status::new(
                Code::Unimplemented,
                format!("{method} is not allowed on {path}; use {}", join(&allowed)),
            ),
            Self::MissingToken => with_reason(
                Code::Unauthenticated,
                "missing bearer token in the authorization header".to_owned(),
                ErrorReason::InvalidToken,
                [],
            ),
            Self::InvalidRequest(bad) => {
                let message = format!("invalid {}: {}", bad.field, bad.description);
                let violation = BadRequest::with_violation(bad.field, bad.description);
                invalid_argument(message, violation, [])
            }
            Self::BodyTooLarge { limit } => invalid_argument(
                format!("the request body is larger than the limit of {limit} bytes"),
                BadRequest::with_violation("body", format!("must be at most {limit} bytes")),
                [("limit_bytes".to_owned(), limit.to_string())],
            ),
            Self::RateLimited { limit, retry_after } => tonic::Status::with_error_details_vec(
                Code::ResourceExhausted,
                format!(
                    "rate limit of {limit} calls per minute exceeded; retry in {} s",
                    retry_after.as_secs()
                ),
                [
                    error_info(
                        ErrorReason::RateLimited,
                        [("limit_per_minute".to_owned(), limit.to_string())],
                    ),
                    ErrorDetail::RetryInfo(RetryInfo::new(Some(retry_after))),
                ],
            ),
            Self::Unavailable => with_reason(
                Code::Unavailable,
                "the service is unavailable".to_owned(),
                ErrorReason::Unavailable,
                [],
            ),
            Self::BadReply { rpc, cause } => unexpected(
                "the service's reply could not be read",
                &cause.context(format!("decoding the reply of {rpc}")),
            ),
            Self::Internal(cause) => unexpected("internal error", &cause),
            Self::Upstream(status) => status,
        }
    }
}

impl GatewayError {
    /// The body alone, for the `error` of a failed line in a
    /// newline-delimited stream.
    pub(crate) fn into_json(self) -> Value {
        status_json(&self.into_status())
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let http = self.http_status();
        let allow = match &self {
            Self::MethodNotAllowed { allowed, .. } => HeaderValue::from_str(&join(allowed)).ok(),
            _ => None,
        };
        let status = self.into_status();
        let mut response = (http, axum::Json(status_json(&status))).into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Some(wait) = retry_after(&status) {
            response.headers_mut().insert(header::RETRY_AFTER, wait);
        }
        response
    }
}

/// `status` as the JSON of `google.rpc.Status`.
fn status_json(status: &tonic::Status) -> Value {
    let decoded = STATUS_MESSAGE.as_ref().and_then(|desc| {
        if status.details().is_empty() {
            return None;
        }
        let message = DynamicMessage::decode(desc.clone(), status.details()).ok()?;
        serde_json::to_value(&message).ok()
    });
    let mut body = match decoded {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    // Defaults are left out of proto3 JSON; the shape is always complete.
    body.entry("code").or_insert(json!(status.code() as i32));
    body.entry("message").or_insert(json!(status.message()));
    body.entry("details").or_insert(json!([]));
    Value::Object(body)
}

/// The HTTP status a gRPC code maps to (google.rpc.Code's documented mapping).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `Retry-After` seconds (rounded up, at least 1) from the `RetryInfo` of
/// a RESOURCE_EXHAUSTED (429) or UNAVAILABLE (503) status: HTTP clients and
/// proxies read the header, not the body's details.
fn retry_after(status: &tonic::Status) -> Option<HeaderValue> {
    if !matches!(status.code(), Code::ResourceExhausted | Code::Unavailable) {
        return None;
    }
    let delay = status.get_details_retry_info()?.retry_delay?;
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    HeaderValue::from_str(&secs.max(1).to_string()).ok()
}

/// INTERNAL for a failure the client cannot act on: the cause goes to the
/// log with the trace id, the client gets only the trace id.
fn unexpected(what: &str, cause: &anyhow::Error) -> tonic::Status {
    let trace_id = freedumb_kit::trace::current_trace_id();
    tracing::error!(error = ?cause, %trace_id, "{what}");
    with_reason(
        Code::Internal,
        format!("{what} (trace id {trace_id})"),
        ErrorReason::Internal,
        [("trace_id".to_owned(), trace_id)],
    )
}

/// INVALID_ARGUMENT: the `BadRequest` first (clients read `details[0]`),
/// then the `ErrorInfo`.
fn invalid_argument<const N: usize>(
    message: String,
    violation: BadRequest,
    metadata: [(String, String); N],
) -> tonic::Status {
    tonic::Status::with_error_details_vec(
        Code::InvalidArgument,
        message,
        [
            ErrorDetail::BadRequest(violation),
            error_info(ErrorReason::InvalidArgument, metadata),
        ],
    )
}

fn with_reason<const N: usize>(
    code: Code,
    message: String,
    reason: ErrorReason,
    metadata: [(String, String); N],
) -> tonic::Status {
    tonic::Status::with_error_details_vec(code, message, [error_info(reason, metadata)])
}

fn error_info<const N: usize>(reason: ErrorReason, metadata: [(String, String); N]) -> ErrorDetail {
    ErrorDetail::ErrorInfo(ErrorInfo::new(
        reason.reason(),
        ERROR_DOMAIN,
        std::collections::HashMap::from(metadata),
    ))
}

fn join(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
