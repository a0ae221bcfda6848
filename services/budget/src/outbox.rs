//! Budget events: built inside the transaction that records an alert (the
//! outbox), then moved to the stream by the kit's relay.

use freedumb_kit::domain::{date, money};
use freedumb_kit::outbox::OutboxEvent;
use freedumb_kit::time;
use freedumb_proto::budget as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::store::Alert;

/// The stream budget events are published on.
pub const STREAM: &str = "freedumb.budget.v1.events";

/// The outbox event announcing `alert`.
pub fn build(alert: &Alert<'_>) -> OutboxEvent {
    let budget = alert.budget;
    let event_id = Uuid::now_v7();
    let event = pb::BudgetEvent {
        event_id: event_id.to_string(),
        user_id: budget.user_id.to_string(),
        create_time: Some(time::timestamp(time::now())),
        change: Some(pb::budget_event::Change::ThresholdCrossed(
            pb::ThresholdCrossed {
                budget_id: budget.id.to_string(),
                budget_name: budget.name.clone(),
                period_start: Some(date(alert.period.start)),
                period_end: Some(date(alert.period.end)),
                threshold_percent: alert.threshold,
                budgeted: Some(money(&budget.currency, budget.amount_minor)),
                spent: Some(money(&budget.currency, alert.spent_minor)),
            },
        )),
    };
    OutboxEvent {
        event_id,
        user_id: budget.user_id,
        kind: "threshold_crossed".to_owned(),
        payload: event.encode_to_vec(),
    }
}
