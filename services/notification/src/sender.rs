//! Sending: signed webhook posts through a client that checks every
//! address it connects to (so a name that resolves to a private address
//! after registration, DNS rebinding, is refused at connection time), and
//! email over SMTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook::{self, AddressPolicy};
use crate::render::Email;

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx (the status), or the server took the mail.
    Accepted(i32),
    /// It did not: the status (0 when nothing answered) and why.
    Failed(i32, String),
}

/// Resolves names and refuses any address the policy refuses.
struct CheckedResolver(AddressPolicy);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            for address in &addresses {
                policy.check_ip(address.ip()).map_err(|why| {
                    Box::new(std::io::Error::other(why)) as Box<dyn std::error::Error + Send + Sync>
                })?;
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// Posts signed webhooks.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl WebhookSender {
    /// A sender under `policy`, each attempt bounded by `timeout`.
    pub fn new(policy: AddressPolicy, timeout: Duration) -> anyhow::Result<Self> {
        let tls = freedumb_kit::tls::public_client_config()?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .user_agent(concat!("FREEDUMB-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, policy })
    }

    /// Posts `body` to `url`, signed with `secret` as message `id`.
    pub async fn post(&self, url: &str, secret: &str, id: &str, body: &str) -> Attempt {
        let url = match self.policy.check_url(url) {
            Ok(url) => url,
            Err(why) => return Attempt::Failed(0, format!("the endpoint's URL is refused: {why}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match webhook::sign(secret, id, timestamp, body.as_bytes()) {
            Ok(signature) => signature,
            Err(error) => return Attempt::Failed(0, format!("signing failed: {error}")),
        };
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                Attempt::Accepted(i32::from(response.status().as_u16()))
            }
            Ok(response) => {
                let status = response.status();
                Attempt::Failed(
                    i32::from(status.as_u16()),
                    format!("the endpoint answered {status}"),
                )
            }
            Err(error) => Attempt::Failed(0, describe(&error)),
        }
    }
}

/// The chain of causes of a failed request, in one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sends email through the configured SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `url` (`smtp://…`, `smtps://…`) sending as `from`.
    pub fn new(url: &str, from: &str, timeout: Duration) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            transport,
            from: from.parse()?,
        })
    }

    /// Sends `email`.
    pub async fn send(&self, email: &Email) -> Attempt {
        let message = email
            .to
            .parse::<Mailbox>()
            .map_err(anyhow::Error::from)
            .and_then(|to| {
                Ok(Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(&email.subject)
                    .multipart(MultiPart::alternative_plain_html(
                        email.text.clone(),
                        email.html.clone(),
                    ))?)
            });
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                return Attempt::Failed(0, format!("building the message failed: {error}"));
            }
        };
        match self.transport.send(message).await {
            Ok(response) => Attempt::Accepted(response.code().to_string().parse().unwrap_or(250)),
            Err(error) => Attempt::Failed(0, format!("SMTP: {error}")),
        }
    }
}
