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
