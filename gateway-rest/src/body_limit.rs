//! The request body limit: a `Content-Length` over the limit is refused
//! before the body is read; a body without one is cut off where it crosses
//! the limit, and whoever reads it gets a [`LengthLimitError`] that
//! [`is_too_large`] recognises. Either way the answer is the gateway's JSON
//! 413 (tower-http's `RequestBodyLimitLayer` answers in plain text).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{LengthLimitError, Limited};

use crate::Gateway;
use crate::errors::GatewayError;

/// The middleware: the limit of the request's route
/// ([`Gateway::body_limit`]).
pub async fn limit_body(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = gateway.body_limit(request.method(), request.uri().path());
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return GatewayError::BodyTooLarge { limit }.into_response();
    }
    next.run(request.map(|body| Body::new(Limited::new(body, limit))))
        .await
}

/// Whether `error` (or one of its causes) is the body crossing the limit.
pub fn is_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}
