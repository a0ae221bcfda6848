//! Long-running operations (`freedumb.common.v1.Operation`): one store for
//! every domain that runs work longer than a request (reports, imports),
//! scoped by owner, in an `operations` table of the domain's database:
//!
//! ```sql
//! CREATE TABLE operations (
//!     id            UUID PRIMARY KEY,       -- BLOB on SQLite
//!     user_id       UUID NOT NULL,
//!     kind          TEXT NOT NULL,
//!     state         TEXT NOT NULL,          -- running, succeeded, failed, cancelled
//!     percent       INTEGER NOT NULL,
//!     message       TEXT NOT NULL,
//!     error_reason  TEXT,
//!     error_message TEXT,
//!     create_time   TIMESTAMPTZ NOT NULL,   -- TEXT on SQLite
//!     update_time   TIMESTAMPTZ NOT NULL
//! );
//! CREATE INDEX operations_by_user ON operations (user_id, id);
//! ```
//!
//! The work reports progress through [`Operations::progress`], which also
//! tells it whether it was cancelled; it ends with [`Operations::finish`].
//! A running operation whose work stopped reporting for
//! [`STALL`] (its process died) reads as failed.
//! [`watch`] streams an operation's states until it ends.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use freedumb_proto::common as pb;
use futures::Stream;
use sqlx::{FromRow, Pool, QueryBuilder};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::sql::RunBuilt as _;
use crate::storage::{StoreError, begin_write};

/// A running operation that has not reported for this long is taken for
/// dead: its process stopped.
pub const STALL: Duration = Duration::from_secs(120);

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Working.
    Running,
    /// Done; the result can be fetched.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    fn to_proto(self) -> pb::OperationState {
        match self {
            Self::Running => pb::OperationState::Running,
            Self::Succeeded => pb::OperationState::Succeeded,
            Self::Failed => pb::OperationState::Failed,
            Self::Cancelled => pb::OperationState::Cancelled,
        }
    }
}

/// A stored operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRecord {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// What the work is.
    pub kind: String,
    /// Where it is.
    pub state: State,
    /// Progress, 0 to 100.
    pub percent: i32,
    /// What it is doing.
    pub message: String,
    /// Why it failed: a reason and a message.
    pub error: Option<(String, String)>,
    /// Started.
    pub create_time: DateTime<Utc>,
    /// Last changed (or reported progress).
    pub update_time: DateTime<Utc>,
}

impl OperationRecord {
    /// A new running operation of `user_id`.
    pub fn start(user_id: Uuid, kind: &str, message: &str) -> Self {
        let now = crate::time::now();
        Self {
            id: Uuid::now_v7(),
            user_id,
            kind: kind.to_owned(),
            state: State::Running,
            percent: 0,
            message: message.to_owned(),
            error: None,
            create_time: now,
            update_time: now,
        }
    }

    /// As it reads at `now`: a running operation that stopped reporting
    /// for [`STALL`] has failed.
    pub fn as_of(mut self, now: DateTime<Utc>) -> Self {
        let stalled = chrono::Duration::from_std(STALL).unwrap_or_default();
        if self.state == State::Running && now - self.update_time > stalled {
            self.state = State::Failed;
            self.error = Some((
                "INTERRUPTED".into(),
                "the work stopped (its process ended); start it again".into(),
            ));
        }
        self
    }

    /// Whether it has ended.
    pub fn done(&self) -> bool {
        self.state != State::Running
    }

    /// The API form.
    pub fn to_proto(&self) -> pb::Operation {
        pb::Operation {
            id: self.id.to_string(),
            kind: self.kind.clone(),
            state: self.state.to_proto().into(),
            percent: self.percent,
            message: self.message.clone(),
            create_time: Some(crate::time::timestamp(self.create_time)),
            update_time: Some(crate::time::timestamp(self.update_time)),
            error: self
                .error
                .as_ref()
                .map(|(reason, message)| pb::OperationError {
                    reason: reason.clone(),
                    message: message.clone(),
                }),
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Succeeded,
    /// Failed: a stable reason and a message.
    Failed(String, String),
}

/// The operations of one domain.
#[async_trait]
pub trait Operations: Send + Sync + 'static {
    /// Records a new operation.
    async fn create(&self, op: &OperationRecord) -> Result<(), StoreError>;

    /// One operation of the user, as it reads now.
    async fn get(&self, user_id: Uuid, id: Uuid) -> Result<Option<OperationRecord>, StoreError>;

    /// The user's operations after `after` (oldest first), at most `limit`.
    async fn list(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<OperationRecord>, StoreError>;

    /// Reports progress of a running operation; `false` when it is no
    /// longer running (cancelled): the work should stop.
    async fn progress(&self, id: Uuid, percent: i32, message: &str) -> Result<bool, StoreError>;

    /// Ends a running operation (a cancelled one stays cancelled).
    async fn finish(&self, id: Uuid, outcome: Outcome) -> Result<(), StoreError>;

    /// Cancels a running operation of the user; returns it as it now is
    /// (`NotFound` when the user has no such operation).
    async fn cancel(&self, user_id: Uuid, id: Uuid) -> Result<OperationRecord, StoreError>;

    /// Wakes watchers after each change made through this store.
    fn changed(&self) -> Arc<Notify>;
}

/// [`Operations`] in a domain's database.
pub struct SqlOperations<DB: sqlx::Database> {
    pool: Pool<DB>,
    changed: Arc<Notify>,
}

impl<DB: sqlx::Database> SqlOperations<DB> {
    /// The operations on `pool` (migrated with the `operations` table).
    pub fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            changed: Arc::new(Notify::new()),
        }
    }
}

/// The operations of a kit database.
pub fn for_database(db: &crate::Database) -> Arc<dyn Operations> {
    db.with_pool(
        |pool| Arc::new(SqlOperations::new(pool)) as Arc<dyn Operations>,
        |pool| Arc::new(SqlOperations::new(pool)) as Arc<dyn Operations>,
    )
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    kind: String,
    state: String,
    percent: i32,
    message: String,
    error_reason: Option<String>,
    error_message: Option<String>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
}

impl TryFrom<Row> for OperationRecord {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Self {
            state: State::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("operation {}: {}", r.id, r.state)))?,
            error: r.error_reason.zip(r.error_message),
            id: r.id,
            user_id: r.user_id,
            kind: r.kind,
            percent: r.percent,
            message: r.message,
            create_time: r.create_time,
            update_time: r.update_time,
        }
        .as_of(crate::time::now()))
    }
}

const COLUMNS: &str = "id, user_id, kind, state, percent, message, error_reason, error_message, \
     create_time, update_time";

crate::sql_impl!([#[async_trait] impl<DB> Operations for SqlOperations<DB>]
    #[tracing::instrument(skip_all)]
    async fn create(&self, op: &OperationRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO operations (id, user_id, kind, state, percent, message, create_time, \
             update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(op.id)
        .bind(op.user_id)
        .bind(op.kind.clone())
        .bind(op.state.as_str().to_owned())
        .bind(op.percent)
        .bind(op.message.clone())
        .bind(op.create_time)
        .bind(op.update_time)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn get(&self, user_id: Uuid, id: Uuid) -> Result<Option<OperationRecord>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM operations WHERE user_id = $1 AND id = $2"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        user_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<OperationRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut query =
            QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM operations WHERE user_id = "));
        query.push_bind(user_id);
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<Row> = query.fetch_all(&mut conn).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn progress(&self, id: Uuid, percent: i32, message: &str) -> Result<bool, StoreError> {
        let _gate = crate::storage::write_gate(&self.pool).await;
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE operations SET percent = $2, message = $3, update_time = $4 \
             WHERE id = $1 AND state = 'running' RETURNING id",
        )
        .bind(id)
        .bind(percent.clamp(0, 100))
        .bind(message.to_owned())
        .bind(crate::time::now())
        .fetch_optional(&self.pool)
        .await?;
        self.changed.notify_waiters();
        Ok(updated.is_some())
    }

    #[tracing::instrument(skip_all)]
    async fn finish(&self, id: Uuid, outcome: Outcome) -> Result<(), StoreError> {
        let (state, reason, message, percent) = match outcome {
            Outcome::Succeeded => (State::Succeeded, None, "done".to_owned(), 100),
            Outcome::Failed(reason, message) => (State::Failed, Some(reason), message, 100),
        };
        let _gate = crate::storage::write_gate(&self.pool).await;
        sqlx::query(
            "UPDATE operations SET state = $2, error_reason = $3, error_message = $4, \
             message = $5, percent = $6, update_time = $7 WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .bind(state.as_str().to_owned())
        .bind(reason)
        .bind((state == State::Failed).then(|| message.clone()))
        .bind(message)
        .bind(percent)
        .bind(crate::time::now())
        .execute(&self.pool)
        .await?;
        self.changed.notify_waiters();
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn cancel(&self, user_id: Uuid, id: Uuid) -> Result<OperationRecord, StoreError> {
        {
            let _gate = crate::storage::write_gate(&self.pool).await;
            sqlx::query(
                "UPDATE operations SET state = 'cancelled', message = 'cancelled', \
                 update_time = $3 WHERE user_id = $1 AND id = $2 AND state = 'running'",
            )
            .bind(user_id)
            .bind(id)
            .bind(crate::time::now())
            .execute(&self.pool)
            .await?;
        }
        self.changed.notify_waiters();
        self.get(user_id, id)
            .await?
            .ok_or(StoreError::NotFound("operation"))
    }

    fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }
);

/// How often a watch looks again without a change in this process
/// (another replica may run the work).
const WATCH_POLL: Duration = Duration::from_millis(500);

/// The states of one operation of `user_id`: now, then each change, until
/// it ends (or `stop`). An operation the user does not have ends the stream
/// with NOT_FOUND.
pub fn watch(
    operations: Arc<dyn Operations>,
    user_id: Uuid,
    id: Uuid,
    stop: crate::Shutdown,
) -> impl Stream<Item = Result<pb::Operation, tonic::Status>> + Send + 'static {
    // State: the store, the last state sent, whether the stream ended.
    futures::stream::unfold(
        (operations, None::<OperationRecord>, false),
        move |(operations, last, ended)| {
            let stop = stop.clone();
            async move {
                if ended {
                    return None;
                }
                loop {
                    let changed = operations.changed();
                    let notified = changed.notified();
                    let current = match operations.get(user_id, id).await {
                        Ok(Some(op)) => op,
                        Ok(None) => {
                            return Some((
                                Err(crate::error::not_found("operation")),
                                (operations, last, true),
                            ));
                        }
                        Err(e) => {
                            return Some((
                                Err(crate::error::internal(&anyhow::Error::new(e))),
                                (operations, last, true),
                            ));
                        }
                    };
                    if last.as_ref() != Some(&current) {
                        let done = current.done();
                        return Some((Ok(current.to_proto()), (operations, Some(current), done)));
                    }
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(WATCH_POLL) => {}
                        () = stop.wait() => return None,
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_operation_that_stopped_reporting_reads_as_failed() {
        let op = OperationRecord::start(Uuid::now_v7(), "report", "starting");
        let later = op.update_time + chrono::Duration::seconds(121);
        let read = op.clone().as_of(later);
        assert_eq!(read.state, State::Failed);
        assert_eq!(read.error.map(|e| e.0), Some("INTERRUPTED".to_owned()));
        assert_eq!(op.clone().as_of(op.update_time).state, State::Running);
        assert_eq!(op.to_proto().state, pb::OperationState::Running as i32);
    }
}
