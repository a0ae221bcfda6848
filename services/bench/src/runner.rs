//! Drives a scenario from N clients for a fixed time and summarises the
//! latencies.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Request, Status};

/// Results of one scenario at one concurrency.
pub struct Sample {
    calls: usize,
    pub errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Sample {
    pub fn throughput(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// The `p` quantile (nearest rank) of `sorted` latencies; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// Runs `call` (given the client's index) from `clients` connections for
/// `seconds` after a warm-up.
pub async fn measure<F, Fut>(
    addr: SocketAddr,
    clients: usize,
    seconds: u64,
    call: F,
) -> anyhow::Result<Sample>
where
    F: Fn(usize, Channel) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Status>> + Send,
{
    let mut channels = Vec::with_capacity(clients);
    for _ in 0..clients {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    measure_clients(channels, seconds, call).await
}

/// Runs `call` from each of `clients` (one connection each) for `seconds`
/// after a 1 s warm-up.
pub async fn measure_clients<C, F, Fut, E>(
    clients: Vec<C>,
    seconds: u64,
    call: F,
) -> anyhow::Result<Sample>
where
    C: Clone + Send + 'static,
    F: Fn(usize, C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
{
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + Duration::from_secs(seconds);
    let mut tasks = Vec::with_capacity(clients.len());
    for (index, client) in clients.into_iter().enumerate() {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let ok = call(index, client.clone()).await.is_ok();
                if started >= warmup {
                    latencies.push(started.elapsed());
                    errors += usize::from(!ok);
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    Ok(Sample {
        calls: latencies.len(),
        errors,
        elapsed: Duration::from_secs(seconds),
        latencies,
    })
}

/// A table row's measured cells: calls/s, p50, p95 and p99 in ms, and
/// the errors if there were any.
pub fn cells(sample: &Sample) -> String {
    format!(
        "{:.1} | {} | {} | {} |{}",
        sample.throughput(),
        ms(sample.percentile(0.50)),
        ms(sample.percentile(0.95)),
        ms(sample.percentile(0.99)),
        if sample.errors > 0 {
            format!(" {} errors", sample.errors)
        } else {
            String::new()
        }
    )
}

/// Milliseconds with two decimals, for the tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// `message` with `authorization: Bearer token`.
pub fn authed<T>(message: T, token: &str) -> Result<Request<T>, Status> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("header"))?,
    );
    Ok(request)
}

/// Registers a fresh user on the service at `endpoint` (`http://host:port`)
/// and returns its access token.
pub async fn register_user(endpoint: String) -> anyhow::Result<String> {
    register_user_on(Channel::from_shared(endpoint)?.connect().await?).await
}

/// Registers a fresh user over `channel` and returns its access token.
pub async fn register_user_on(channel: Channel) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use freedumb_proto::auth::RegisterRequest;
    use freedumb_proto::auth::auth_service_client::AuthServiceClient;
    Ok(AuthServiceClient::new(channel)
        .register(RegisterRequest {
            email: format!("bench-{}@example.com", uuid::Uuid::new_v4().simple()),
            password: crate::PASSWORD.into(),
        })
        .await?
        .into_inner()
        .tokens
        .context("tokens")?
        .access_token)
}
