//! `worker-notification`: claims due deliveries (any number of workers may
//! run), sends them, and records each attempt: delivered, due again after
//! an exponential backoff with jitter, or dead after the last attempt.
//! Delivery is at least once: a worker killed after sending and before
//! recording sends again after its claim expires, with the same
//! `webhook-id`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use freedumb_kit::Shutdown;
use rand::Rng as _;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::NotificationConfig;
use crate::render::{self, Email};
use crate::sender::{Attempt, Mailer, WebhookSender};
use crate::store::{Channel, Claimed, DeliveryStore, Outcome};

/// Deliveries claimed per round, all sent at once: a round takes about one
/// attempt's time limit (plus one more for digests), well within a claim.
const BATCH: u32 = 16;

/// The retry schedule.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Attempts before a delivery is dead.
    pub max_attempts: i32,
}

impl Backoff {
    /// The delay after attempt number `attempt` (1-based) failed: base ×
    /// 2^(attempt − 1), at most `max`, then ±20% jitter so that retries of
    /// many deliveries spread out.
    pub fn delay(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let delay = self.base.saturating_mul(1 << doublings).min(self.max);
        delay.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
    }

    /// What a failed or successful attempt leads to.
    pub fn outcome(&self, attempts_before: i32, attempt: Attempt, now_ms: i64) -> Outcome {
        match attempt {
            Attempt::Accepted(status) => Outcome::Delivered { status },
            Attempt::Failed(status, error) => {
                let made = attempts_before + 1;
                if made >= self.max_attempts {
                    Outcome::Dead { status, error }
                } else {
                    let delay = i64::try_from(self.delay(made).as_millis()).unwrap_or(i64::MAX);
                    Outcome::Retry {
                        status,
                        error,
                        next_attempt_ms: now_ms.saturating_add(delay),
                    }
                }
            }
        }
    }
}

/// The delivery worker.
pub struct Worker {
    store: Arc<dyn DeliveryStore>,
    webhooks: WebhookSender,
    mailer: Option<Mailer>,
    backoff: Backoff,
    wake: Arc<Notify>,
    poll: Duration,
    claim: Duration,
}

impl Worker {
    /// A worker on `store`, configured by `config`, woken by `wake`.
    pub fn new(
        store: Arc<dyn DeliveryStore>,
        config: &NotificationConfig,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(config.webhook_timeout_secs);
        let mailer = config
            .smtp_url
            .as_deref()
            .map(|url| Mailer::new(url, &config.smtp_from, timeout))
            .transpose()?;
        Ok(Self {
            store,
            webhooks: WebhookSender::new(config.address_policy(), timeout)?,
            mailer,
            backoff: Backoff {
                base: Duration::from_millis(config.retry_base_ms),
                max: Duration::from_millis(config.retry_max_ms),
                max_attempts: config.max_attempts,
            },
            wake,
            poll: config.worker_poll(),
            claim: Duration::from_secs(config.worker_claim_secs),
        })
    }

    /// Delivers until `stop`, reporting the backlog beside it.
    pub async fn run(self, stop: Shutdown) {
        let backlog =
            freedumb_kit::metrics::report_backlog("worker-notification", stop.clone(), || {
                self.backlog(chrono::Utc::now().timestamp_millis())
            });
        tokio::join!(self.deliver_until(stop), backlog);
    }

    /// Deliveries due at `now_ms` and not claimed.
    pub async fn backlog(&self, now_ms: i64) -> anyhow::Result<freedumb_kit::metrics::Backlog> {
        let (items, oldest_due_ms) = self.store.due_backlog(now_ms).await?;
        Ok(freedumb_kit::metrics::Backlog {
            items,
            oldest_due_ms,
        })
    }

    async fn deliver_until(&self, stop: Shutdown) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let round = tokio::select! {
                () = stop.wait() => return,
                round = self.round() => round,
            };
            match round {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(error = ?error, retry_in = ?backoff, "the delivery worker failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.wait() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
                () = stop.wait() => return,
            }
        }
    }

    /// Claims and sends one batch; how many were claimed.
    pub async fn round(&self) -> anyhow::Result<usize> {
        let token = Uuid::new_v4();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let claim_ms = i64::try_from(self.claim.as_millis()).unwrap_or(i64::MAX);
        let claimed = self
            .store
            .claim_deliveries(token, now_ms, now_ms.saturating_add(claim_ms), BATCH)
            .await?;
        let count = claimed.len();
        let (digests, single): (Vec<Claimed>, Vec<Claimed>) =
            claimed.into_iter().partition(|c| c.delivery.digest);
        let single = futures::future::join_all(single.iter().map(|c| self.deliver(token, c)));
        futures::join!(single, self.send_digests(token, digests));
        Ok(count)
    }

    async fn send_webhook(&self, c: &Claimed) -> Attempt {
        let Some(endpoint) = &c.endpoint else {
            return Attempt::Failed(0, "the endpoint was deleted".into());
        };
        let id = format!("msg_{}", c.delivery.id);
        self.webhooks
            .post(&endpoint.url, &endpoint.secret, &id, &c.delivery.payload)
            .await
    }

    /// Sends one webhook or email and records the attempt.
    async fn deliver(&self, token: Uuid, c: &Claimed) {
        let attempt = match c.delivery.channel {
            Channel::Webhook(_) => self.send_webhook(c).await,
            Channel::Email => match serde_json::from_str::<Email>(&c.delivery.payload) {
                Ok(email) => self.send_email(&email).await,
                Err(error) => Attempt::Failed(0, format!("unreadable email: {error}")),
            },
        };
        self.finish(token, c, attempt).await;
    }

    /// Sends each recipient's digest deliveries as one email, and records
    /// one outcome for all of them (so a retry keeps them together).
    async fn send_digests(&self, token: Uuid, digests: Vec<Claimed>) {
        let mut groups: BTreeMap<String, Vec<(Claimed, Email)>> = BTreeMap::new();
        for c in digests {
            match serde_json::from_str::<Email>(&c.delivery.payload) {
                Ok(email) => groups.entry(email.to.clone()).or_default().push((c, email)),
                Err(error) => {
                    let attempt = Attempt::Failed(0, format!("unreadable email: {error}"));
                    self.finish(token, &c, attempt).await;
                }
            }
        }
        let sends = groups.into_values().map(|group| async move {
            let emails: Vec<Email> = group.iter().map(|(_, e)| e.clone()).collect();
            let attempt = match render::digest(&emails, chrono::Utc::now()) {
                Ok(Some(digest)) => self.send_email(&digest).await,
                Ok(None) => return,
                Err(error) => Attempt::Failed(0, format!("rendering the digest failed: {error}")),
            };
            let attempts = group
                .iter()
                .map(|(c, _)| c.delivery.attempts)
                .max()
                .unwrap_or(0);
            let now = freedumb_kit::time::now();
            let outcome = self
                .backoff
                .outcome(attempts, attempt, now.timestamp_millis());
            for (c, _) in &group {
                self.record(token, c, &outcome, now).await;
            }
        });
        futures::future::join_all(sends).await;
    }

    async fn send_email(&self, email: &Email) -> Attempt {
        match &self.mailer {
            Some(mailer) => mailer.send(email).await,
            None => Attempt::Failed(0, "no SMTP server is configured".into()),
        }
    }

    async fn finish(&self, token: Uuid, c: &Claimed, attempt: Attempt) {
        let now = freedumb_kit::time::now();
        let outcome = self
            .backoff
            .outcome(c.delivery.attempts, attempt, now.timestamp_millis());
        self.record(token, c, &outcome, now).await;
    }

    async fn record(
        &self,
        token: Uuid,
        c: &Claimed,
        outcome: &Outcome,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let label = match outcome {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
        };
        let channel = match c.delivery.channel {
            Channel::Email => "email",
            Channel::Webhook(_) => "webhook",
        };
        metrics::counter!("notification_deliveries_total", "channel" => channel, "outcome" => label).increment(1);
        if let Err(error) = self
            .store
            .complete_delivery(token, c.delivery.id, outcome, now)
            .await
        {
            // The claim expires and the delivery is sent again: at least once.
            tracing::warn!(error = ?error, delivery = %c.delivery.id, "recording a delivery attempt failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_up_to_the_cap_and_the_last_attempt_is_dead() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
            max_attempts: 4,
        };
        for (attempt, nominal) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (9, 60.0)] {
            let d = backoff.delay(attempt).as_secs_f64();
            assert!(
                d >= nominal * 0.8 && d <= nominal * 1.2,
                "attempt {attempt}: {d}"
            );
        }
        let failed = || Attempt::Failed(500, "HTTP 500".into());
        assert!(
            matches!(backoff.outcome(0, failed(), 0), Outcome::Retry { next_attempt_ms, .. } if next_attempt_ms >= 8_000)
        );
        assert!(matches!(
            backoff.outcome(3, failed(), 0),
            Outcome::Dead { status: 500, .. }
        ));
        assert_eq!(
            backoff.outcome(3, Attempt::Accepted(204), 0),
            Outcome::Delivered { status: 204 }
        );
    }
}
