//! The request body limit: a `Content-Length` over the limit is refused
//! before the body is read; a body without one is cut off where it crosses
//! the limit, and whoever reads it gets a [`LengthLimitError`] that
//! [`is_too_large`] recognises. Either way the answer is the gateway's JSON
//! 413 (tower-http's `RequestBodyLimitLayer` answers in plain text).

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{LengthLimitError, Limited};

use crate::MAX_BODY_BYTES;
use crate::errors::GatewayError;

/// The middleware.
pub async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return GatewayError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        }
        .into_response();
    }
    next.run(request.map(|body| Body::new(Limited::new(body, MAX_BODY_BYTES))))
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
