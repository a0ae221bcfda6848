//! Helpers for the notification tests: a real local webhook receiver, the
//! Standard Webhooks reference library (PyPI `standardwebhooks`) to check
//! signatures, a real SMTP server (PyPI `aiosmtpd`), and clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use freedumb_proto::notification as npb;
use freedumb_proto::notification::notification_service_client::NotificationServiceClient;
use tonic::transport::Channel;

use crate::helpers::{TestApp, authed};
use crate::ledger_support::{mask, money};

pub type Notifications = NotificationServiceClient<Channel>;

pub async fn notifications(app: &TestApp) -> Notifications {
    NotificationServiceClient::connect(app.url())
        .await
        .expect("connect")
}

/// The environment that lets webhooks reach a receiver on loopback, with
/// fast retries.
pub const WEBHOOK_ENV: &[(&str, &str)] = &[
    ("FREEDUMB_NOTIFICATION__WEBHOOK_ALLOW_HTTP", "true"),
    (
        "FREEDUMB_NOTIFICATION__WEBHOOK_ALLOWED_NETWORKS",
        "[127.0.0.0/8]",
    ),
    ("FREEDUMB_NOTIFICATION__RETRY_BASE_MS", "200"),
    ("FREEDUMB_NOTIFICATION__RETRY_MAX_MS", "2000"),
    ("FREEDUMB_NOTIFICATION__MAX_ATTEMPTS", "4"),
    ("FREEDUMB_NOTIFICATION__WORKER_POLL_MS", "20"),
];

/// Makes every transaction of `minor` or more (EUR) notify.
pub async fn notify_large(client: &mut Notifications, token: &str, minor: i64, email: &str) {
    client
        .update_preferences(authed(
            npb::UpdatePreferencesRequest {
                preferences: Some(npb::Preferences {
                    large_transaction_threshold: money("EUR", minor),
                    email: email.into(),
                    ..Default::default()
                }),
                update_mask: mask(&["large_transaction_threshold", "email"]),
            },
            token,
        ))
        .await
        .expect("preferences");
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub at: Instant,
    pub answered: u16,
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 500 to the first `n` attempts of each message, then 200.
    FailFirst(usize),
    /// 500 always.
    AlwaysFail,
}

#[derive(Clone)]
struct ReceiverState {
    behaviour: Arc<Mutex<Behaviour>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// A webhook receiver on a free loopback port.
pub struct Receiver {
    pub addr: SocketAddr,
    state: ReceiverState,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let state = ReceiverState {
            behaviour: Arc::new(Mutex::new(behaviour)),
            received: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().expect("lock") = behaviour;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {} received",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let mut received = state.received.lock().expect("lock");
    let earlier = received.iter().filter(|r| r.id == id).count();
    let status = match *state.behaviour.lock().expect("lock") {
        Behaviour::FailFirst(n) if earlier < n => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::FailFirst(_) => StatusCode::OK,
        Behaviour::AlwaysFail => StatusCode::INTERNAL_SERVER_ERROR,
    };
    received.push(Received {
        id,
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        at: Instant::now(),
        answered: status.as_u16(),
    });
    status
}

/// Checks every request's signature with the specification's reference
/// library (required in CI; skipped with a note elsewhere when missing).
pub fn verify_signatures(secret: &str, received: &[Received]) {
    let available = std::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "the PyPI package standardwebhooks must be installed in CI"
        );
        eprintln!("skipping the signature check: pip install standardwebhooks");
        return;
    }
    let messages: Vec<BTreeMap<&str, &str>> = received
        .iter()
        .map(|r| {
            BTreeMap::from([
                ("id", r.id.as_str()),
                ("timestamp", r.timestamp.as_str()),
                ("signature", r.signature.as_str()),
                ("body", r.body.as_str()),
            ])
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("messages.json");
    std::fs::write(
        &file,
        serde_json::json!({ "secret": secret, "messages": messages }).to_string(),
    )
    .expect("write");
    let script = r#"
import json, sys
from standardwebhooks import Webhook
data = json.load(open(sys.argv[1]))
hook = Webhook(data["secret"])
for m in data["messages"]:
    hook.verify(m["body"], {"webhook-id": m["id"], "webhook-timestamp": m["timestamp"], "webhook-signature": m["signature"]})
print(len(data["messages"]))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "standardwebhooks refused a signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        received.len().to_string()
    );
}

/// A real SMTP server (aiosmtpd) saving what it receives in a maildir.
pub struct SmtpServer {
    pub port: u16,
    pub maildir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpServer {
    /// Starts aiosmtpd, or `None` (outside CI) when it is not installed.
    pub async fn start() -> Option<Self> {
        let available = std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var_os("CI").is_none(),
                "the PyPI package aiosmtpd must be installed in CI"
            );
            eprintln!("skipping: pip install aiosmtpd");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let maildir = tempfile::tempdir().expect("maildir");
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .spawn()
            .expect("aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(Self {
            port,
            maildir,
            child,
        })
    }

    /// The messages received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail").join("new");
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The messages to `to`, with quoted-printable soft line breaks
    /// joined, once `count` of them have arrived (at most 30 s).
    pub async fn wait_for_mail(&self, to: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mails: Vec<String> = self
                .messages()
                .into_iter()
                .filter(|m| m.contains(&format!("To: {to}")))
                .map(|m| {
                    m.replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("=3D", "=")
                })
                .collect();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{count} message(s) to {to} did not arrive: {mails:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
