//! Expiry of idempotency keys. Services that take a client `request_id` on
//! creates keep the first answer in their own `idempotency_keys` table
//! (`user_id, method, request_id, …, create_time`); a [`KeyPurger`] per
//! service deletes the keys older than the retention
//! (`FREEDUMB_IDEMPOTENCY_RETENTION_SECS`, 24 h by default), so the table
//! stays bounded and an id is free again once it has expired.

use std::time::Duration;

use crate::shutdown::Shutdown;
use crate::storage::Database;

/// Deletes one service's expired idempotency keys, periodically.
pub struct KeyPurger {
    db: Database,
    service: &'static str,
    retention: Duration,
}

impl KeyPurger {
    /// Purges the `idempotency_keys` of `service` (in its own `db`) older
    /// than `retention`.
    pub fn new(db: Database, service: &'static str, retention: Duration) -> Self {
        Self {
            db,
            service,
            retention,
        }
    }

    /// How often keys are purged: a quarter of the retention, between one
    /// second and one minute, so a key outlives its retention by at most
    /// that.
    pub fn interval(&self) -> Duration {
        (self.retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// Deletes the expired keys now; returns how many.
    pub async fn purge(&self) -> Result<u64, sqlx::Error> {
        let retention = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let cutoff = crate::time::now()
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        // SQLite keeps instants as RFC 3339 text in UTC, whose order is the
        // instants' order.
        const DELETE: &str = "DELETE FROM idempotency_keys WHERE create_time < $1";
        let deleted = match &self.db {
            Database::Postgres(pool) => sqlx::query(DELETE)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected(),
            Database::Sqlite(pool) => sqlx::query(DELETE)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(deleted)
    }

    /// Purges every [`KeyPurger::interval`] until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) {
        let every = self.interval();
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(every) => {}
            }
            match self.purge().await {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("idempotency_keys_expired_total", "service" => self.service)
                        .increment(n);
                    tracing::debug!(
                        service = self.service,
                        keys = n,
                        "expired idempotency keys deleted"
                    );
                }
                Err(e) => {
                    tracing::warn!(service = self.service, error = %e, "purging idempotency keys failed; retrying");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_purged_often_enough_for_their_retention() {
        let purger = |secs| KeyPurger {
            db: Database::Sqlite(sqlx::SqlitePool::connect_lazy("sqlite::memory:").expect("pool")),
            service: "test",
            retention: Duration::from_secs(secs),
        };
        assert_eq!(purger(2).interval(), Duration::from_secs(1));
        assert_eq!(purger(40).interval(), Duration::from_secs(10));
        assert_eq!(purger(86_400).interval(), Duration::from_secs(60));
    }
}
