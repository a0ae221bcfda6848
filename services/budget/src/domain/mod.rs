//! The budget's value types and validated requests, parsed at the door:
//! periods and their spans, alert thresholds, and budgets as requests
//! describe them. Field paths in violations are the request's proto paths
//! (`budget.amount.amount_minor`, `budget.category_ids[2]`).

mod budget;
pub mod envelope;
mod goal;
mod listing;
mod period;

pub use self::budget::{
    BudgetSpec, DEFAULT_THRESHOLDS, MAX_CATEGORIES, MAX_THRESHOLDS, Thresholds, UPDATABLE, merge,
    status_day,
};
pub use self::goal::{GOAL_UPDATABLE, GoalSource, GoalSpec, Progress, merge_goal};
pub use self::listing::{BudgetListing, budget_listing};
pub use self::period::{Period, Schedule, Span};
