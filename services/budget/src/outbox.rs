//! Budget events: built inside the transaction that records an alert or a
//! goal reaching its target (the outbox), then moved to the stream by the
//! kit's relay.

use freedumb_kit::domain::{date, money};
use freedumb_kit::outbox::OutboxEvent;
use freedumb_kit::time;
use freedumb_proto::budget as pb;
use prost::Message as _;
use uuid::Uuid;

use crate::domain::GoalSource;
use crate::store::Announcement;

/// The stream budget events are published on.
pub const STREAM: &str = "freedumb.budget.v1.events";

/// The outbox event of `announcement`.
pub fn build(announcement: &Announcement<'_>) -> OutboxEvent {
    use pb::budget_event::Change;
    let (user_id, kind, change) = match *announcement {
        Announcement::Alert(alert) => {
            let budget = alert.budget;
            (
                budget.user_id,
                "threshold_crossed",
                Change::ThresholdCrossed(pb::ThresholdCrossed {
                    budget_id: budget.id.to_string(),
                    budget_name: budget.name.clone(),
                    period_start: Some(date(alert.period.start)),
                    period_end: Some(date(alert.period.end)),
                    threshold_percent: alert.threshold,
                    budgeted: Some(money(&budget.currency, budget.amount_minor)),
                    spent: Some(money(&budget.currency, alert.spent_minor)),
                }),
            )
        }
        Announcement::GoalReached { goal, saved_minor } => {
            let (account_id, category_id) = match goal.source {
                GoalSource::Account(id) => (id.to_string(), String::new()),
                GoalSource::Category(id) => (String::new(), id.to_string()),
            };
            (
                goal.user_id,
                "goal_reached",
                Change::GoalReached(pb::GoalReached {
                    goal_id: goal.id.to_string(),
                    goal_name: goal.name.clone(),
                    target: Some(money(&goal.currency, goal.target_minor)),
                    saved: Some(money(&goal.currency, saved_minor)),
                    target_date: Some(date(goal.target_date)),
                    account_id,
                    category_id,
                }),
            )
        }
    };
    let event_id = Uuid::now_v7();
    let event = pb::BudgetEvent {
        event_id: event_id.to_string(),
        user_id: user_id.to_string(),
        create_time: Some(time::timestamp(time::now())),
        change: Some(change),
    };
    OutboxEvent {
        event_id,
        user_id,
        kind: kind.to_owned(),
        payload: event.encode_to_vec(),
    }
}
