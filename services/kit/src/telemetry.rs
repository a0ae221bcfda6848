//! Logs and traces: JSON (or pretty) logs through `tracing`, every request
//! span carrying its trace id; spans exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is configured. W3C trace context is the
//! propagation format.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{Config, LogFormat};

/// Flushes pending spans when dropped (at the end of `main`).
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("trace export shutdown failed: {e}");
        }
    }
}

/// What the trace exporter takes, whatever the log filter says.
const TRACE_FILTER: &str = "info";

/// Installs the global subscriber, tracer provider and propagator. Must be
/// called once, inside the Tokio runtime.
pub fn init(config: &Config, service_name: &str) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otel_exporter_otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .context("building the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    // Without an exporter the provider still assigns trace ids, so logs and
    // error replies carry them either way.
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("freedumb"));

    // The log filter is the logs' alone: quieter logs (`warn`) must not
    // turn tracing off. Traces take the spans at info and above (requests,
    // store calls; the pollers' spans are at debug).
    let log_filter = EnvFilter::try_new(&config.log_filter).context("log_filter")?;
    let registry =
        tracing_subscriber::registry().with(otel.with_filter(EnvFilter::new(TRACE_FILTER)));
    match config.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .flatten_event(true)
                    .with_filter(log_filter),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_filter(log_filter))
            .try_init(),
    }
    .context("installing the tracing subscriber")?;
    Ok(TelemetryGuard { provider })
}
