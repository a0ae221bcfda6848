//! `freedumb-bench`: load-tests a real `freedumb serve` and, in the same run,
//! a bare tonic unary service (the ceiling). Prints throughput and
//! p50/p95/p99 per scenario and concurrency as a Markdown table.
//!
//! ```text
//! cargo run --release -p freedumb-mesh --bin freedumb-bench -- --seconds 5
//! cargo run --release -p freedumb-mesh --bin freedumb-bench -- \\
//!     --ledger-database-url postgres://postgres@127.0.0.1:5432/bench
//! ```
#![forbid(unsafe_code)]

#[path = "bench/edge.rs"]
mod edge;
#[path = "bench/ledger.rs"]
mod ledger;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use freedumb_proto::auth::auth_service_client::AuthServiceClient;
use freedumb_proto::auth::auth_service_server::{AuthService, AuthServiceServer};
use freedumb_proto::auth::*;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

#[derive(Parser)]
#[command(about = "Benchmarks freedumb serve against a bare tonic service")]
struct Args {
    /// Seconds of measurement per scenario and concurrency (after 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrency levels (clients, each on its own connection).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Internal: run the bare tonic server and print its address.
    #[arg(long, hide = true)]
    bare_server: bool,
    /// Benchmark the ledger instead, on this Postgres database (emptied
    /// first: use a scratch database).
    #[arg(long)]
    ledger_database_url: Option<String>,
    /// Benchmark the edge instead: GetMe over REST and gRPC-web via the
    /// gateway, over gRPC via Envoy (mTLS to the service), and direct.
    #[arg(long)]
    edge: bool,
    /// Transactions stored for the measuring user before the ledger runs.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
}

const PASSWORD: &str = "benchmark passphrase 42";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    if args.bare_server {
        return runtime.block_on(bare_server());
    }
    if args.edge {
        return runtime.block_on(edge::run(args));
    }
    if let Some(url) = args.ledger_database_url.clone() {
        return runtime.block_on(ledger::run(args, url));
    }
    runtime.block_on(run(args))
}

/// A tonic server whose GetMe returns a constant: no auth, no storage.
struct Bare;

#[tonic::async_trait]
impl AuthService for Bare {
    async fn register(
        &self,
        _: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn login(&self, _: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn refresh(
        &self,
        _: Request<RefreshRequest>,
    ) -> Result<Response<RefreshResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn logout(&self, _: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn logout_all(
        &self,
        _: Request<LogoutAllRequest>,
    ) -> Result<Response<LogoutAllResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn get_me(&self, _: Request<GetMeRequest>) -> Result<Response<GetMeResponse>, Status> {
        Ok(Response::new(GetMeResponse {
            user: Some(User {
                id: "01a207c5-df92-7666-8681-fc61e2a39282".into(),
                email: "bench@example.com".into(),
                create_time: Some(prost_types::Timestamp {
                    seconds: 1_795_426_738,
                    nanos: 66_228_739,
                }),
            }),
        }))
    }
    async fn change_password(
        &self,
        _: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
    async fn get_jwks(
        &self,
        _: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Err(Status::unimplemented("bare"))
    }
}

async fn bare_server() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "{}",
        serde_json::json!({ "message": "serving", "grpc_addr": listener.local_addr()?.to_string() })
    );
    tonic::transport::Server::builder()
        .add_service(AuthServiceServer::new(Bare))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}

/// A child process reporting `{"message":"serving","grpc_addr":…}` on stdout.
struct Server(Child);

impl Server {
    fn spawn(cmd: Command) -> anyhow::Result<(Self, SocketAddr)> {
        let (server, serving) = Self::spawn_serving(cmd)?;
        let addr = serving["grpc_addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .context("no gRPC address reported")?;
        Ok((server, addr))
    }

    /// Starts `cmd` and returns its `serving` log line.
    fn spawn_serving(mut cmd: Command) -> anyhow::Result<(Self, serde_json::Value)> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning")?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "serving"
                {
                    let _ = tx.send(v);
                }
            }
        });
        let serving = rx.recv_timeout(Duration::from_secs(60))?;
        Ok((Self(child), serving))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Results of one scenario at one concurrency.
struct Sample {
    calls: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Sample {
    fn throughput(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i =
            ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[i]
    }
}

/// Runs `call` (given the client's index) from `clients` connections for
/// `seconds` after a warm-up.
async fn measure<F, Fut>(
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
async fn measure_clients<C, F, Fut, E>(
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

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// `freedumb serve` (the release build beside this binary) on `data`, every
/// listener on a free port.
fn freedumb_serve(data: &std::path::Path) -> anyhow::Result<Command> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("bench binary has no directory")?;
    let mut cmd = Command::new(dir.join("freedumb"));
    cmd.arg("serve")
        .env("FREEDUMB_DATA_DIR", data)
        .env("FREEDUMB_GRPC_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_ADMIN_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_GATEWAY_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_LOG_FILTER", "warn,freedumb_mesh=info");
    Ok(cmd)
}

/// `message` with `authorization: Bearer token`.
fn authed<T>(message: T, token: &str) -> Result<Request<T>, Status> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("header"))?,
    );
    Ok(request)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let data = tempfile::tempdir()?;
    let (_freedumb, freedumb_addr) =
        Server::spawn(freedumb_serve(data.path())?).context("starting freedumb serve")?;
    let mut bare = Command::new(&exe);
    bare.arg("--bare-server");
    let (_bare, bare_addr) = Server::spawn(bare).context("starting the bare server")?;

    let mut setup = AuthServiceClient::connect(format!("http://{freedumb_addr}")).await?;
    // One account per client, as real sign-ins are: concurrent attempts on
    // one account from one address are throttled as guessing.
    let mut emails = Vec::new();
    let mut token = String::new();
    for _ in 0..args.clients.iter().copied().max().unwrap_or(1) {
        let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
        let registered = setup
            .register(RegisterRequest {
                email: email.clone(),
                password: PASSWORD.into(),
            })
            .await?
            .into_inner();
        token = registered.tokens.context("tokens")?.access_token;
        emails.push(email);
    }
    let emails = std::sync::Arc::new(emails);

    println!("| scenario | clients | calls/s | p50 ms | p95 ms | p99 ms | errors | vs bare |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &clients in &args.clients {
        let bare = measure(bare_addr, clients, args.seconds, |_, ch| async move {
            let mut c = AuthServiceClient::new(ch);
            c.get_me(GetMeRequest {}).await.map(|_| ())
        })
        .await?;
        let get_me = {
            let token = token.clone();
            measure(freedumb_addr, clients, args.seconds, move |_, ch| {
                let request = authed(GetMeRequest {}, &token);
                let mut c = AuthServiceClient::new(ch);
                async move { c.get_me(request?).await.map(|_| ()) }
            })
            .await?
        };
        let login = {
            let emails = emails.clone();
            measure(freedumb_addr, clients, args.seconds, move |index, ch| {
                let mut c = AuthServiceClient::new(ch);
                // One account per client, as real sign-ins are: concurrent
                // attempts on one account are throttled as guessing.
                let email = emails[index].clone();
                async move {
                    c.login(LoginRequest {
                        email,
                        password: PASSWORD.into(),
                    })
                    .await
                    .map(|_| ())
                }
            })
            .await?
        };
        let ceiling = bare.throughput();
        for (name, s) in [
            ("bare tonic GetMe", &bare),
            ("GetMe", &get_me),
            ("Login", &login),
        ] {
            println!(
                "| {name} | {clients} | {:.0} | {} | {} | {} | {} | {:.2} |",
                s.throughput(),
                ms(s.percentile(0.50)),
                ms(s.percentile(0.95)),
                ms(s.percentile(0.99)),
                s.errors,
                s.throughput() / ceiling,
            );
        }
    }
    verify_cost();
    Ok(())
}

/// Why access tokens are RS256: the cost of one signature verification.
fn verify_cost() {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

    const N: u32 = 20_000;
    let claims = serde_json::json!({ "sub": "x", "exp": 4_000_000_000u64 });
    let time = |token: &str, key: &DecodingKey, alg: Algorithm| {
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        let started = Instant::now();
        for _ in 0..N {
            let ok = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation).is_ok();
            assert!(ok, "verification must succeed");
        }
        started.elapsed() / N
    };
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let rsa_pem = pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        rsa.as_der().expect("der").as_ref(),
    ));
    let rsa_token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(rsa_pem.as_bytes()).expect("pem"),
    )
    .expect("sign");
    let public = rsa.public_key();
    let rsa_key = DecodingKey::from_rsa_raw_components(
        public.modulus().big_endian_without_leading_zero(),
        public.exponent().big_endian_without_leading_zero(),
    );
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().expect("ed25519");
    let ed_token = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_der(ed.to_pkcs8().expect("pkcs8").as_ref()),
    )
    .expect("sign");
    let ed_key = DecodingKey::from_ed_der(ed.public_key().as_ref());
    let rs = time(&rsa_token, &rsa_key, Algorithm::RS256);
    let eddsa = time(&ed_token, &ed_key, Algorithm::EdDSA);
    println!();
    println!("| JWT verification (jsonwebtoken + aws-lc-rs, one core) | µs per token |");
    println!("|---|---:|");
    println!("| RS256 (RSA-2048) | {:.1} |", rs.as_secs_f64() * 1e6);
    println!("| EdDSA (Ed25519) | {:.1} |", eddsa.as_secs_f64() * 1e6);
}
