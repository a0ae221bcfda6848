//! Telling watchers that a user's budget figures changed: a hint on the
//! bus (every replica's watchers hear it, whichever replica's consumer
//! applied the events). Hints are not durable; a watcher that misses one
//! catches up at its next periodic look.

use freedumb_kit::events::{Event, EventBus};
use uuid::Uuid;

/// The stream of hints.
pub const CHANGES: &str = "freedumb.budget.v1.changes";

/// Tells watchers that the figures of `users` changed (failures are
/// logged: the figures themselves are committed).
pub async fn spending_changed(bus: &dyn EventBus, users: &[Uuid]) {
    if users.is_empty() {
        return;
    }
    let hints: Vec<Event> = users
        .iter()
        .map(|user| Event {
            id: Uuid::now_v7().to_string(),
            kind: "spending_changed".to_owned(),
            user_id: user.to_string(),
            payload: prost::bytes::Bytes::new(),
        })
        .collect();
    if let Err(error) = bus.publish(CHANGES, &hints).await {
        tracing::warn!(error = ?error, "telling budget watchers failed");
    }
}
