//! Prometheus metrics: a process-wide recorder rendered on the admin port,
//! and [`MetricsLayer`], which counts every gRPC call with its final status
//! code, times it and tracks how many are in flight.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use anyhow::Context as _;
use http_body::{Body, Frame};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use prost::Message as _;
use tower::{Layer, Service};

/// Seconds buckets for RPC latency: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Installs the global recorder (once per process) and returns the handle
/// that renders the exposition text.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    // Callers racing here (tests starting apps in parallel) must not both
    // try to install the global recorder: the second would fail.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .context("latency buckets")?
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    let collector = PROCESS.get_or_init(metrics_process::Collector::default);
    collector.describe();
    metrics::describe_counter!(
        "grpc_server_handled_total",
        "gRPC calls completed, by method and code"
    );
    metrics::describe_histogram!(
        "grpc_server_handling_seconds",
        metrics::Unit::Seconds,
        "gRPC call latency until the last byte of the response"
    );
    metrics::describe_gauge!("grpc_server_in_flight", "gRPC calls being served now");
    metrics::describe_gauge!(
        "db_pool_connections",
        "Database pool connections, by service and state"
    );
    metrics::describe_gauge!(
        "db_pool_max_connections",
        "The most connections a service's pool may open"
    );
    metrics::describe_gauge!(
        "freedumb_build_info",
        "Always 1: the version and git revision of this binary"
    );
    metrics::describe_gauge!(
        "grpc_server_concurrency_limit",
        "gRPC calls this process serves at once (FREEDUMB_CONCURRENCY_LIMIT)"
    );
    metrics::describe_gauge!(
        "freedumb_cpu_limit_cores",
        "CPU cores this process may use (cgroup quota, else the CPUs it may run on)"
    );
    metrics::describe_gauge!(
        "freedumb_memory_limit_bytes",
        metrics::Unit::Bytes,
        "Memory this process may use (cgroup limit, else the machine's memory)"
    );
    metrics::describe_gauge!(
        "outbox_pending_events",
        "Rows in the outbox feeding a stream, counted by its relay"
    );
    metrics::describe_gauge!(
        "outbox_oldest_event_age_seconds",
        metrics::Unit::Seconds,
        "Age of the oldest row in the outbox feeding a stream (0 when empty)"
    );
    metrics::describe_counter!(
        "events_published_total",
        "Events the outbox relays published, by stream and kind"
    );
    metrics::describe_gauge!(
        "ratelimit_shared_up",
        "1 while the shared rate limiter (Redis) answers, 0 while limits are kept in process"
    );
    metrics::describe_counter!(
        "ratelimit_fallback_total",
        "Rate-limit decisions made in process because Redis did not answer, by reason"
    );
    metrics::describe_counter!(
        "idempotency_keys_expired_total",
        "Idempotency keys deleted after their retention, by service"
    );
    metrics::describe_gauge!(
        "dependency_up",
        "1 when the dependency answered its check on this scrape (SELECT 1, PING), else 0"
    );
    metrics::describe_gauge!(
        "worker_due_items",
        "Items due and not done, by worker (measured every 15 s by the process running it)"
    );
    metrics::describe_gauge!(
        "worker_oldest_due_seconds",
        metrics::Unit::Seconds,
        "How long the oldest item due and not done has been due, by worker (0 when none)"
    );
    metrics::describe_gauge!(
        "tls_certificate_expiry_timestamp_seconds",
        "notAfter (Unix seconds) of the certificates the gRPC listener loaded"
    );
    metrics::describe_gauge!(
        "events_consumer_lag_seconds",
        metrics::Unit::Seconds,
        "Age of the oldest event a consumer group has not acknowledged (0 when caught up)"
    );
    metrics::describe_counter!(
        "auth_revocation_restores_total",
        "Times auth put the sessions revoked lately back on the revocation list"
    );
    Ok(handle)
}

/// Records, once at start-up, what this process is and what it may use:
/// `freedumb_build_info{version,revision}` (the revision is
/// `FREEDUMB_REVISION` at build time, as the image build sets it),
/// `grpc_server_concurrency_limit`, `freedumb_cpu_limit_cores` and
/// `freedumb_memory_limit_bytes` (the cgroup v2 limits when there are
/// some, else the machine's).
pub fn record_process(version: &str, concurrency_limit: usize) {
    let revision = option_env!("FREEDUMB_REVISION").unwrap_or("unknown");
    metrics::gauge!("freedumb_build_info", "version" => version.to_owned(), "revision" => revision)
        .set(1.0);
    metrics::gauge!("grpc_server_concurrency_limit").set(concurrency_limit as f64);
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    let quota = std::fs::read_to_string("/sys/fs/cgroup/cpu.max")
        .ok()
        .and_then(|text| cpu_quota(&text));
    metrics::gauge!("freedumb_cpu_limit_cores").set(quota.map_or(cpus, |q| q.min(cpus)));
    let memory = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .or_else(|| {
            std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| mem_total(&text))
        });
    if let Some(bytes) = memory {
        metrics::gauge!("freedumb_memory_limit_bytes").set(bytes as f64);
    }
}

/// Cores a cgroup v2 `cpu.max` (`<quota> <period>`, or `max <period>`)
/// allows, if it sets a quota.
fn cpu_quota(text: &str) -> Option<f64> {
    let mut fields = text.split_whitespace();
    let quota: f64 = fields.next()?.parse().ok()?;
    let period: f64 = fields.next()?.parse().ok()?;
    (period > 0.0).then(|| quota / period)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Renders the current metrics in Prometheus text format.
pub fn render(handle: &PrometheusHandle) -> String {
    if let Some(collector) = PROCESS.get() {
        collector.collect();
    }
    handle.run_upkeep();
    handle.render()
}

/// Counts, times and tracks every gRPC call. Calls are labelled with their
/// method only when it is one of the contracts' methods; any other path is
/// `unknown`, so clients cannot create series at will.
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    methods: Arc<Methods>,
}

/// Every method a call can be labelled with, and its series once made.
#[derive(Debug, Default)]
struct Methods {
    known: HashMap<String, OnceLock<Arc<MethodSeries>>>,
    unknown: OnceLock<Arc<MethodSeries>>,
}

impl Methods {
    /// Labels calls to `method` (`package.Service/Method`) with its name.
    fn know(&mut self, method: String) {
        self.known.insert(method, OnceLock::new());
    }

    /// The series of the method at `path` (`unknown` for any other path).
    fn series(&self, path: &str) -> Arc<MethodSeries> {
        let (method, slot) = self
            .known
            .get_key_value(path.trim_start_matches('/'))
            .map_or((UNKNOWN_METHOD, &self.unknown), |(method, slot)| {
                (method.as_str(), slot)
            });
        slot.get_or_init(|| Arc::new(MethodSeries::new(method)))
            .clone()
    }
}

/// The label of calls to a path that is no contract's method.
const UNKNOWN_METHOD: &str = "unknown";

/// The series of one method, made on its first call and kept: a call then
/// formats no label and looks nothing up in the recorder's registry.
#[derive(Debug)]
struct MethodSeries {
    method: String,
    in_flight: metrics::Gauge,
    handling: metrics::Histogram,
    /// `grpc_server_handled_total` by status code (0 to 16), each made on
    /// the code's first use, so no series exists for a code never answered.
    handled: [OnceLock<metrics::Counter>; 17],
}

impl MethodSeries {
    fn new(method: &str) -> Self {
        Self {
            method: method.to_owned(),
            in_flight: metrics::gauge!("grpc_server_in_flight", "method" => method.to_owned()),
            handling: metrics::histogram!(
                "grpc_server_handling_seconds",
                "method" => method.to_owned()
            ),
            handled: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    fn handled(&self, code: tonic::Code) -> &metrics::Counter {
        // `tonic::Code` is 0 to 16; an out-of-range value cannot be built.
        let slot = (code as usize).min(self.handled.len() - 1);
        self.handled[slot].get_or_init(|| {
            metrics::counter!(
                "grpc_server_handled_total",
                "method" => self.method.clone(),
                "code" => format!("{code:?}")
            )
        })
    }
}

impl MetricsLayer {
    /// A layer that knows every method of the contracts, health and
    /// reflection.
    pub fn new() -> Self {
        let mut methods = Methods::default();
        for reflection in [
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            methods.know(reflection.to_owned());
        }
        for encoded in [
            freedumb_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else {
                continue;
            };
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        methods.know(format!(
                            "{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        Self {
            methods: Arc::new(methods),
        }
    }
}

impl Default for MetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            methods: self.methods.clone(),
        }
    }
}

/// See [`MetricsLayer`].
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    methods: Arc<Methods>,
}

impl<S, ReqB, ResB> Service<http::Request<ReqB>> for MetricsService<S>
where
    S: Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResB: Body,
{
    type Response = http::Response<MeteredBody<ResB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        let mut call = Call::start(self.methods.series(req.uri().path()));
        let future = self.inner.call(req);
        Box::pin(async move {
            // The request's `grpc.request` span (this runs inside it).
            call.span = tracing::Span::current();
            match future.await {
                Ok(response) => {
                    // A trailers-only response (how tonic answers every unary
                    // error) carries its status in the headers.
                    call.code = grpc_status(response.headers());
                    Ok(response.map(|inner| MeteredBody {
                        inner,
                        call: Some(call),
                    }))
                }
                Err(e) => {
                    call.finish(tonic::Code::Internal);
                    Err(e)
                }
            }
        })
    }
}

/// One call being measured; records itself exactly once, when dropped. A
/// call dropped before its status is known was cancelled by the client.
struct Call {
    series: Arc<MethodSeries>,
    started: Instant,
    code: Option<tonic::Code>,
    /// Where the status is recorded for the trace.
    span: tracing::Span,
}

impl Call {
    fn start(series: Arc<MethodSeries>) -> Self {
        series.in_flight.increment(1.0);
        Self {
            series,
            started: Instant::now(),
            code: None,
            span: tracing::Span::none(),
        }
    }

    /// Records the call now; a code already read from the headers wins.
    fn finish(mut self, code: tonic::Code) {
        self.code = self.code.or(Some(code));
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let code = self.code.unwrap_or(tonic::Code::Cancelled);
        self.series.handled(code).increment(1);
        self.series
            .handling
            .record(self.started.elapsed().as_secs_f64());
        self.series.in_flight.decrement(1.0);
        self.span.record("rpc.grpc.status_code", code as i32);
        if is_server_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

/// Whether `code` marks a server span as failed (OpenTelemetry's gRPC
/// conventions): the server's faults, not the client's (an
/// INVALID_ARGUMENT or NOT_FOUND is a correct answer).
fn is_server_error(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unknown
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unimplemented
            | tonic::Code::Internal
            | tonic::Code::Unavailable
            | tonic::Code::DataLoss
    )
}

pin_project_lite::pin_project! {
    /// A response body that finishes the call's measurement when the
    /// trailers (with the final status) or the end of the body go by.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let finished = match &frame {
            Some(Ok(f)) => f
                .trailers_ref()
                .map(|t| grpc_status(t).unwrap_or(tonic::Code::Unknown)),
            Some(Err(_)) => Some(tonic::Code::Internal),
            None => Some(tonic::Code::Unknown),
        };
        if let Some(code) = finished
            && let Some(call) = this.call.take()
        {
            call.finish(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

/// Sets `dependency_up{dependency, service}`; called on every scrape.
pub fn record_dependency(dependency: &'static str, service: &str, up: bool) {
    metrics::gauge!("dependency_up", "dependency" => dependency, "service" => service.to_owned())
        .set(if up { 1.0 } else { 0.0 });
}

/// What a worker has due and not done, as `worker_due_items` and
/// `worker_oldest_due_seconds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Items due and not done.
    pub items: u64,
    /// When the oldest of them fell due (Unix milliseconds), if any.
    pub oldest_due_ms: Option<i64>,
}

impl Backlog {
    /// Seconds the oldest item has been due at `now_ms` (0 when none is).
    pub fn oldest_due_seconds(&self, now_ms: i64) -> f64 {
        self.oldest_due_ms.map_or(0.0, |due| {
            (now_ms.saturating_sub(due)).max(0) as f64 / 1000.0
        })
    }
}

/// How often [`report_backlog`] measures.
pub const BACKLOG_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Measures `worker`'s backlog with `measure` every [`BACKLOG_EVERY`] until
/// `stop`, beside the worker (run it joined with the worker's loop, so a
/// worker stuck in a call still has its backlog reported). A measurement
/// that fails or takes longer than the period leaves the gauges as they
/// were (`dependency_up` says why).
pub async fn report_backlog<F, Fut>(worker: &'static str, stop: crate::Shutdown, measure: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Backlog>>,
{
    measure_every(worker, BACKLOG_EVERY, stop, measure, |backlog: Backlog| {
        let now_ms = chrono::Utc::now().timestamp_millis();
        metrics::gauge!("worker_due_items", "worker" => worker).set(backlog.items as f64);
        metrics::gauge!("worker_oldest_due_seconds", "worker" => worker)
            .set(backlog.oldest_due_seconds(now_ms));
    })
    .await;
}

/// Runs `measure` every `period` until `stop` and hands each value to
/// `record`. A measurement that fails or outlasts the period is logged at
/// debug (naming `what`) and records nothing, so gauges keep their last
/// value.
pub async fn measure_every<T, F, Fut>(
    what: &str,
    period: std::time::Duration,
    stop: crate::Shutdown,
    measure: F,
    record: impl Fn(T),
) where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.wait() => return,
            _ = tick.tick() => {}
        }
        match tokio::time::timeout(period, measure()).await {
            Ok(Ok(value)) => record(value),
            Ok(Err(error)) => {
                tracing::debug!(
                    what,
                    error = format!("{error:#}"),
                    "a periodic measurement failed"
                );
            }
            Err(_) => tracing::debug!(what, "a periodic measurement timed out"),
        }
    }
}

/// Publishes database pool gauges; called on every scrape.
pub fn record_pool(service: &str, size: u32, idle: usize, max: u32) {
    metrics::gauge!("db_pool_max_connections", "service" => service.to_owned()).set(f64::from(max));
    let idle = idle as f64;
    let size = f64::from(size);
    metrics::gauge!("db_pool_connections", "service" => service.to_owned(), "state" => "idle")
        .set(idle);
    metrics::gauge!("db_pool_connections", "service" => service.to_owned(), "state" => "active")
        .set((size - idle).max(0.0));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Backlog, MetricsLayer, cpu_quota, mem_total};

    #[test]
    fn calls_are_labelled_with_a_contract_method_or_unknown() {
        let layer = MetricsLayer::new();
        let get_me = layer.methods.series("/freedumb.auth.v1.AuthService/GetMe");
        assert_eq!(get_me.method, "freedumb.auth.v1.AuthService/GetMe");
        // The second call reuses the series made by the first.
        let again = layer.methods.series("/freedumb.auth.v1.AuthService/GetMe");
        assert!(Arc::ptr_eq(&get_me, &again));
        let health = layer.methods.series("/grpc.health.v1.Health/Check");
        assert_eq!(health.method, "grpc.health.v1.Health/Check");
        for path in [
            "/made.up.Service/Method",
            "/",
            "/freedumb.auth.v1.AuthService/",
        ] {
            assert_eq!(layer.methods.series(path).method, "unknown", "{path}");
        }
    }

    #[test]
    fn the_oldest_due_item_is_timed_from_when_it_fell_due() {
        let none = Backlog::default();
        assert_eq!(none.oldest_due_seconds(10_000), 0.0);
        let late = Backlog {
            items: 3,
            oldest_due_ms: Some(4_500),
        };
        assert_eq!(late.oldest_due_seconds(10_000), 5.5);
        // Due in the future by the clock of whoever measured it: not late.
        assert_eq!(late.oldest_due_seconds(1_000), 0.0);
    }

    #[test]
    fn cgroup_and_meminfo_limits_are_read() {
        assert_eq!(cpu_quota("150000 100000\n"), Some(1.5));
        assert_eq!(cpu_quota("max 100000\n"), None);
        assert_eq!(cpu_quota("garbage"), None);
        assert_eq!(
            mem_total("MemTotal:       24587420 kB\nMemFree: 1 kB\n"),
            Some(24_587_420 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    }
}
