//! Keeps the shared revocation list complete. The database is where a
//! session's end is recorded; the list (Redis, or in process) is what every
//! verifier reads. Two things can make the list miss an ended session:
//!
//! - Redis failing after the database committed a Logout, LogoutAll,
//!   ChangePassword or a refresh-token reuse: the RPC still succeeds (the
//!   session has ended) and asks for a restore ([`RevocationSync::wake`]);
//! - Redis restarting empty (it keeps nothing on disk): the list is then
//!   marked incomplete, and verifiers refuse every token (UNAVAILABLE) rather
//!   than trust it.
//!
//! A restore puts back every session revoked within the life of an access
//! token and marks the list complete. It runs before auth serves, every
//! second while one is wanted or the list is incomplete, and is idempotent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use freedumb_kit::shutdown::Shutdown;
use freedumb_kit::state::Revocations;
use freedumb_kit::time;

use crate::store::AuthStore;

/// How often the list's completeness is checked.
const EVERY: Duration = Duration::from_secs(1);

/// Restores the revocation list from the database.
#[derive(Clone)]
pub struct RevocationSync {
    store: Arc<dyn AuthStore>,
    revocations: Arc<dyn Revocations>,
    /// How long an ended session stays on the list: as long as one of its
    /// access tokens can pass verification.
    ttl: Duration,
    wanted: Arc<AtomicBool>,
}

impl RevocationSync {
    /// A sync of `revocations` from `store`, keeping entries for `ttl`.
    pub fn new(
        store: Arc<dyn AuthStore>,
        revocations: Arc<dyn Revocations>,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            revocations,
            ttl,
            wanted: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Asks for a restore: an announcement did not reach the list.
    pub fn wake(&self) {
        self.wanted.store(true, Ordering::Relaxed);
    }

    /// Puts every session revoked within `ttl` back on the list and marks
    /// it complete; returns how many were put back.
    pub async fn restore(&self) -> anyhow::Result<usize> {
        let now = time::now();
        let since = now - chrono::Duration::from_std(self.ttl)?;
        let revoked = self.store.revoked_since(since).await?;
        for (session, at) in &revoked {
            let left = (*at - since).to_std().unwrap_or(Duration::ZERO);
            self.revocations
                .revoke(*session, left.max(Duration::from_secs(1)))
                .await?;
        }
        self.revocations.mark_complete().await?;
        Ok(revoked.len())
    }

    /// Restores whenever wanted or the list is incomplete, until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(EVERY) => {}
            }
            let wanted = self.wanted.swap(false, Ordering::Relaxed);
            let complete = match self.revocations.is_complete().await {
                Ok(complete) => complete,
                // Redis is down: nothing to restore into yet.
                Err(_) => {
                    self.wanted.store(wanted, Ordering::Relaxed);
                    continue;
                }
            };
            if complete && !wanted {
                continue;
            }
            match self.restore().await {
                Ok(n) => {
                    metrics::counter!("auth_revocation_restores_total").increment(1);
                    tracing::info!(sessions = n, "revocation list restored");
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "restoring the revocation list failed; retrying");
                    self.wanted.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}
