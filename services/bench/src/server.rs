//! Child processes under test: `freedumb serve` and the bare server, each
//! reporting `{"message":"serving","grpc_addr":…}` on stdout.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

/// A child process, killed when dropped.
pub struct Server(Child);

impl Server {
    /// Starts `cmd` and returns it with the gRPC address it reports.
    pub fn spawn(cmd: Command) -> anyhow::Result<(Self, SocketAddr)> {
        let (server, serving) = Self::spawn_serving(cmd)?;
        let addr = serving["grpc_addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .context("no gRPC address reported")?;
        Ok((server, addr))
    }

    /// Starts `cmd` and returns its `serving` log line.
    pub fn spawn_serving(mut cmd: Command) -> anyhow::Result<(Self, serde_json::Value)> {
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

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `freedumb` binary to measure: `given`, or the one beside this binary
/// (both land in the same target directory when built together).
pub fn freedumb_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => {
            let exe = std::env::current_exe()?;
            let dir = exe.parent().context("bench binary has no directory")?;
            dir.join(format!("freedumb{}", std::env::consts::EXE_SUFFIX))
        }
    };
    anyhow::ensure!(
        path.is_file(),
        "{} not found: build it with `cargo build --release -p freedumb-mesh -p freedumb-bench` \
         or name it with --freedumb",
        path.display()
    );
    Ok(path)
}

/// `freedumb serve` on a scratch Postgres database beside `database_url`
/// (SQLite without one) and on Redis when `redis_url` is given (in an
/// event namespace of its own); the command and the backend's name.
pub async fn freedumb_serve_on(
    binary: &Path,
    data: &Path,
    database_url: Option<&str>,
    redis_url: Option<&str>,
) -> anyhow::Result<(Command, &'static str)> {
    let mut cmd = freedumb_serve(binary, data);
    let backend = match database_url {
        Some(url) => {
            let scratch = crate::ledger::scratch_database(url).await?;
            cmd.env("DATABASE_URL", &scratch);
            "Postgres"
        }
        None => "SQLite",
    };
    if let Some(redis) = redis_url {
        cmd.env("REDIS_URL", redis);
        cmd.env(
            "FREEDUMB_EVENT_NAMESPACE",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        );
    }
    Ok((cmd, backend))
}

/// `freedumb serve` (`binary`) on `data`, every listener on a free port.
pub fn freedumb_serve(binary: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("serve")
        .env("FREEDUMB_DATA_DIR", data)
        .env("FREEDUMB_GRPC_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_ADMIN_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_GATEWAY_ADDR", "127.0.0.1:0")
        .env("FREEDUMB_LOG_FILTER", "warn,freedumb_mesh=info");
    cmd
}
