//! Records to their API form.

use freedumb_kit::domain::{date, money};
use freedumb_kit::time::timestamp;
use freedumb_proto::budget as pb;

use crate::domain::Period;
use crate::store::BudgetRecord;

/// The API period of a stored one.
pub fn period(p: Period) -> pb::BudgetPeriod {
    match p {
        Period::Weekly => pb::BudgetPeriod::Weekly,
        Period::Monthly => pb::BudgetPeriod::Monthly,
        Period::Yearly => pb::BudgetPeriod::Yearly,
        Period::Custom => pb::BudgetPeriod::Custom,
    }
}

/// The API form of a budget.
pub fn budget(b: &BudgetRecord) -> pb::Budget {
    pb::Budget {
        id: b.id.to_string(),
        name: b.name.clone(),
        category_ids: b.category_ids.iter().map(ToString::to_string).collect(),
        amount: Some(money(&b.currency, b.amount_minor)),
        period: period(b.schedule.period) as i32,
        start_date: Some(date(b.schedule.start)),
        end_date: b.schedule.end.map(date),
        alert_thresholds_percent: b.thresholds.get().to_vec(),
        create_time: Some(timestamp(b.create_time)),
        update_time: Some(timestamp(b.update_time)),
    }
}

/// The API form of a goal.
pub fn goal(g: &crate::store::GoalRecord) -> pb::Goal {
    use crate::domain::GoalSource;
    let source = match g.source {
        GoalSource::Account(id) => pb::goal::Source::AccountId(id.to_string()),
        GoalSource::Category(id) => pb::goal::Source::CategoryId(id.to_string()),
    };
    pb::Goal {
        id: g.id.to_string(),
        name: g.name.clone(),
        target: Some(money(&g.currency, g.target_minor)),
        target_date: Some(date(g.target_date)),
        start_date: Some(date(g.start_date)),
        source: Some(source),
        create_time: Some(timestamp(g.create_time)),
        update_time: Some(timestamp(g.update_time)),
    }
}

/// The API form of a goal's progress.
pub fn progress(p: &crate::domain::Progress, currency: &str) -> pb::GoalProgress {
    pb::GoalProgress {
        saved: Some(money(currency, p.saved)),
        remaining: Some(money(currency, p.remaining)),
        percent: p.percent,
        reached: p.reached,
        expected_by_now: Some(money(currency, p.expected_by_now)),
        on_track: p.on_track,
        months_left: p.months_left,
        monthly_needed: Some(money(currency, p.monthly_needed)),
    }
}
