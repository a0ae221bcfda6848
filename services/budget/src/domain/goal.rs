//! Savings goals: a goal as a request describes it, and its progress.

use chrono::{Datelike as _, NaiveDate};
use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{
    Currency, MAX_AMOUNT_MINOR, Name, optional_date, required_date, required_id,
};
use freedumb_proto::budget as pb;
use uuid::Uuid;

/// Where a goal's money is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalSource {
    /// An account's balance.
    Account(Uuid),
    /// What was put into a category since the start date.
    Category(Uuid),
}

/// A goal's content, valid as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalSpec {
    /// Its name.
    pub name: Name,
    /// Its currency.
    pub currency: Currency,
    /// What to reach (positive).
    pub target_minor: i64,
    /// By when.
    pub target_date: NaiveDate,
    /// Counted from.
    pub start_date: NaiveDate,
    /// Where.
    pub source: GoalSource,
}

/// The fields `UpdateGoal` may change.
pub const GOAL_UPDATABLE: &[&str] = &["name", "target", "target_date"];

impl GoalSpec {
    /// Checks `goal` (its start date `today` when unset), naming fields
    /// under `goal.`.
    pub fn parse(goal: &pb::Goal, today: NaiveDate) -> Result<Self, FieldViolations> {
        use pb::goal::Source;
        let mut v = FieldViolations::new();
        let name = v.check("goal.name", Name::parse(&goal.name));
        let (currency, target) = match &goal.target {
            None => {
                v.add("goal.target", "is required");
                (None, None)
            }
            Some(money) => (
                v.check(
                    "goal.target.currency_code",
                    Currency::parse(&money.currency_code),
                ),
                v.check("goal.target.amount_minor", positive(money.amount_minor)),
            ),
        };
        let target_date = v.check("goal.target_date", required_date(goal.target_date.as_ref()));
        let start_date = v
            .check("goal.start_date", optional_date(goal.start_date.as_ref()))
            .map(|d| d.unwrap_or(today));
        if let (Some(start), Some(end)) = (start_date, target_date)
            && end <= start
        {
            v.add(
                "goal.target_date",
                format!("{end} is not after the start date {start}"),
            );
        }
        let source = match &goal.source {
            Some(Source::AccountId(id)) => v
                .check("goal.account_id", required_id(id))
                .map(GoalSource::Account),
            Some(Source::CategoryId(id)) => v
                .check("goal.category_id", required_id(id))
                .map(GoalSource::Category),
            None => {
                v.add(
                    "goal.account_id",
                    "an account_id or a category_id is required",
                );
                None
            }
        };
        match (name, currency, target, target_date, start_date, source) {
            (
                Some(name),
                Some(currency),
                Some(target_minor),
                Some(target_date),
                Some(start_date),
                Some(source),
            ) if v.is_empty() => Ok(Self {
                name,
                currency,
                target_minor,
                target_date,
                start_date,
                source,
            }),
            _ => Err(v),
        }
    }
}

fn positive(minor: i64) -> Result<i64, String> {
    if minor <= 0 || minor > MAX_AMOUNT_MINOR {
        return Err(format!(
            "must be 1 to {MAX_AMOUNT_MINOR} minor units, got {minor}"
        ));
    }
    Ok(minor)
}

/// `current` with the fields of `mask` taken from `patch` (the target's
/// currency stays).
pub fn merge_goal(
    current: &pb::Goal,
    patch: &pb::Goal,
    mask: &freedumb_kit::UpdateMask,
) -> Result<pb::Goal, FieldViolations> {
    let mut merged = current.clone();
    let mut v = FieldViolations::new();
    for path in mask.paths() {
        match path.as_str() {
            "name" => merged.name.clone_from(&patch.name),
            "target_date" => merged.target_date = patch.target_date,
            "target" => {
                let currency = current
                    .target
                    .as_ref()
                    .map(|m| m.currency_code.clone())
                    .unwrap_or_default();
                match &patch.target {
                    Some(new) if new.currency_code.is_empty() || new.currency_code == currency => {
                        merged.target =
                            Some(freedumb_kit::domain::money(&currency, new.amount_minor));
                    }
                    Some(_) => v.add(
                        "goal.target.currency_code",
                        "a goal's currency cannot change",
                    ),
                    None => v.add("goal.target", "is required"),
                }
            }
            _ => {}
        }
    }
    if v.is_empty() { Ok(merged) } else { Err(v) }
}

/// Where a goal stands on `today` with `saved` (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Saved so far.
    pub saved: i64,
    /// Still missing (zero once reached).
    pub remaining: i64,
    /// Saved as a percentage of the target, rounded down.
    pub percent: i64,
    /// Whether the target is reached.
    pub reached: bool,
    /// Where a steady plan would be today.
    pub expected_by_now: i64,
    /// Saved at least as much as the plan.
    pub on_track: bool,
    /// Months left, counting the current one.
    pub months_left: i32,
    /// What to save each month from now.
    pub monthly_needed: i64,
}

impl Progress {
    /// The progress of a goal of `target` from `start` to `end` on `today`.
    pub fn of(target: i64, start: NaiveDate, end: NaiveDate, today: NaiveDate, saved: i64) -> Self {
        let remaining = target.saturating_sub(saved).max(0);
        let total_days = (end - start).num_days().max(1);
        let elapsed = (today - start).num_days().clamp(0, total_days);
        let expected = i128::from(target) * i128::from(elapsed) / i128::from(total_days);
        let expected_by_now = i64::try_from(expected).unwrap_or(target);
        let months_left = if today > end {
            0
        } else {
            (end.year() - today.year()) * 12 + end.month() as i32 - today.month() as i32 + 1
        };
        let monthly_needed = match months_left {
            0 => remaining,
            // `remaining` is not negative: a ceiling division that cannot
            // overflow.
            months => {
                let months = i64::from(months);
                remaining / months + i64::from(remaining % months != 0)
            }
        };
        Self {
            saved,
            remaining,
            percent: i64::try_from((i128::from(saved) * 100).div_euclid(i128::from(target)))
                .unwrap_or(i64::MAX),
            reached: saved >= target,
            expected_by_now,
            on_track: saved >= expected_by_now,
            months_left,
            monthly_needed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::domain::{date, money};

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn progress_follows_a_steady_plan() {
        // 1,200 over a year from January: 100 a month.
        let p = Progress::of(
            1_200,
            d("2026-01-01"),
            d("2026-12-31"),
            d("2026-07-01"),
            500,
        );
        assert_eq!((p.remaining, p.percent, p.reached), (700, 41, false));
        assert_eq!(p.expected_by_now, 1_200 * 181 / 364);
        assert!(!p.on_track, "500 is behind the plan's 596");
        assert_eq!((p.months_left, p.monthly_needed), (6, 117));
        let done = Progress::of(
            1_200,
            d("2026-01-01"),
            d("2026-12-31"),
            d("2026-03-01"),
            1_500,
        );
        assert!(done.reached && done.on_track && done.remaining == 0 && done.monthly_needed == 0);
        let late = Progress::of(
            1_200,
            d("2026-01-01"),
            d("2026-12-31"),
            d("2027-02-01"),
            100,
        );
        assert_eq!(
            (late.months_left, late.monthly_needed, late.expected_by_now),
            (0, 1_100, 1_200)
        );
    }

    #[test]
    fn negative_savings_round_down_and_extreme_ones_do_not_overflow() {
        let (start, end, today) = (d("2026-01-01"), d("2026-12-31"), d("2026-06-01"));
        assert_eq!(Progress::of(1_000, start, end, today, -5).percent, -1);
        let extreme = Progress::of(1_000, start, end, today, i64::MIN);
        assert_eq!(extreme.remaining, i64::MAX);
        assert!(extreme.monthly_needed > 0 && !extreme.on_track);
    }

    #[test]
    fn each_bad_field_is_named() {
        let today = d("2026-11-30");
        let fields = |g: pb::Goal| -> Vec<String> {
            GoalSpec::parse(&g, today)
                .expect_err("invalid")
                .iter()
                .map(|(f, _)| f.clone())
                .collect()
        };
        let good = pb::Goal {
            name: "Holiday".into(),
            target: Some(money("EUR", 150_000)),
            target_date: Some(date(d("2027-07-01"))),
            source: Some(pb::goal::Source::CategoryId(Uuid::now_v7().to_string())),
            ..Default::default()
        };
        let spec = GoalSpec::parse(&good, today).expect("valid");
        assert_eq!(spec.start_date, today);
        assert_eq!(
            fields(pb::Goal {
                target: Some(money("EUR", -1)),
                ..good.clone()
            }),
            ["goal.target.amount_minor"]
        );
        assert_eq!(
            fields(pb::Goal {
                target_date: Some(date(d("2026-11-30"))),
                ..good.clone()
            }),
            ["goal.target_date"]
        );
        assert_eq!(
            fields(pb::Goal {
                source: None,
                ..good.clone()
            }),
            ["goal.account_id"]
        );
        assert_eq!(
            fields(pb::Goal {
                source: Some(pb::goal::Source::AccountId("x".into())),
                ..good
            }),
            ["goal.account_id"]
        );
    }
}
