//! The gateway's own span continues the caller's trace (the kit's
//! `TraceLayer` in the router); calls to the services continue that span,
//! so the trace id the gateway logs is the one the services log.

use http::HeaderMap;
use tonic::service::Interceptor as _;

/// Writes the current trace context (`traceparent`, `tracestate`) into
/// `headers`, replacing what the caller sent; leaves them alone when there
/// is no current trace (no OpenTelemetry layer installed).
pub fn inject(headers: &mut HeaderMap) {
    let Ok(carrier) = freedumb_kit::trace::TraceContextInjector.call(tonic::Request::new(()))
    else {
        return;
    };
    for (name, value) in &carrier.metadata().clone().into_headers() {
        headers.insert(name.clone(), value.clone());
    }
}
