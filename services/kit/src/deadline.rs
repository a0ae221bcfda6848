//! Every call has a deadline: the server's request timeout, or the
//! caller's `grpc-timeout` when that is shorter. A call still without an
//! answer then ends with DEADLINE_EXCEEDED, as the gRPC specification says
//! (tonic's own timeout answers CANCELLED, which clients and the gateway
//! read as "the client gave up"). The deadline covers the wait for a
//! concurrency slot and the handler up to the response headers; a stream's
//! body, once started, is not cut.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::Status;
use tower::{Layer, Service};

/// Answers before tonic's own `grpc-timeout` handling would, which fires at
/// the same instant and answers CANCELLED.
const AHEAD_OF_TONIC: Duration = Duration::from_millis(1);

/// Adds the deadline to every call.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    default: Duration,
}

impl DeadlineLayer {
    /// Calls get `default` unless the caller asks for less.
    pub fn new(default: Duration) -> Self {
        Self { default }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            default: self.default,
        }
    }
}

/// See [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    default: Duration,
}

impl<S, B, ResB> Service<http::Request<B>> for DeadlineService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResB>>,
    S::Future: Send + 'static,
    ResB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let budget = match grpc_timeout(req.headers()) {
            Some(asked) => asked.saturating_sub(AHEAD_OF_TONIC).min(self.default),
            None => self.default,
        };
        let call = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(budget, call).await {
                Ok(answered) => answered,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "no answer within the deadline of {} ms",
                    budget.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

/// The caller's deadline from `grpc-timeout` (`<1 to 8 digits><H|M|S|m|u|n>`);
/// a malformed value is ignored, as tonic ignores it.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt as _;

    use super::*;

    /// The `grpc-status` of a call taking `delay` under a `default`
    /// deadline, with the caller's `grpc-timeout` if given.
    async fn status_of(default: Duration, delay: Duration, asked: Option<&str>) -> String {
        let slow = tower::service_fn(move |_req: http::Request<()>| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, std::convert::Infallible>(Status::ok("").into_http::<tonic::body::Body>())
        });
        let mut request = http::Request::builder();
        if let Some(asked) = asked {
            request = request.header("grpc-timeout", asked);
        }
        let response = DeadlineLayer::new(default)
            .layer(slow)
            .oneshot(request.body(()).expect("request"))
            .await
            .expect("answer");
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_the_server_deadline_is_deadline_exceeded() {
        let secs = Duration::from_secs;
        assert_eq!(status_of(secs(1), secs(5), None).await, "4");
    }

    #[tokio::test(start_paused = true)]
    async fn the_callers_shorter_deadline_wins_and_a_fast_call_is_untouched() {
        let started = tokio::time::Instant::now();
        let status = status_of(
            Duration::from_secs(30),
            Duration::from_secs(1),
            Some("200m"),
        )
        .await;
        assert_eq!(status, "4");
        assert!(started.elapsed() < Duration::from_millis(250));
        let fast = status_of(Duration::from_secs(1), Duration::from_millis(10), None).await;
        assert_eq!(fast, "0");
    }

    #[test]
    fn grpc_timeouts_parse_and_garbage_is_ignored() {
        let parse = |v: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                "grpc-timeout",
                http::HeaderValue::from_str(v).expect("header"),
            );
            grpc_timeout(&headers)
        };
        assert_eq!(parse("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("123456789S"), None);
        assert_eq!(parse("S"), None);
        assert_eq!(parse("5x"), None);
        assert_eq!(parse("-5S"), None);
    }
}
