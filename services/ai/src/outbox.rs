//! Ai events: a category proposed for a new transaction, built in the
//! transaction that learns from the ledger event (the outbox), then moved
//! to the stream by the kit's relay.

use freedumb_kit::outbox::OutboxEvent;
use freedumb_kit::time;
use freedumb_proto::ai as pb;
use prost::Message as _;
use uuid::Uuid;

/// The stream ai events are published on.
pub const STREAM: &str = "freedumb.ai.v1.events";

/// The outbox event proposing `proposal` for `user_id`'s transaction.
pub fn proposed(user_id: Uuid, proposal: pb::CategoryProposed) -> OutboxEvent {
    let event_id = Uuid::now_v7();
    let event = pb::AiEvent {
        event_id: event_id.to_string(),
        user_id: user_id.to_string(),
        create_time: Some(time::timestamp(time::now())),
        change: Some(pb::ai_event::Change::CategoryProposed(proposal)),
    };
    OutboxEvent {
        event_id,
        user_id,
        kind: "category_proposed".to_owned(),
        payload: event.encode_to_vec(),
    }
}
