//! Envelope budgeting (the Actual Budget / YNAB model), as rules over
//! monthly figures:
//!
//! - Income (the plan's income categories) goes to *to be budgeted*.
//! - Money is *assigned* from it to the plan's categories, month by month.
//! - A category's *available* money in a month is what it carried in, plus
//!   what was assigned to it, plus its activity (its transactions' sum:
//!   spending negative, refunds positive).
//! - What is left at the end of a month rolls over to the next. A negative
//!   balance (overspending) either rolls over as a negative
//!   ([`Overspending::CarryNegative`]) or is covered by the next month's to
//!   be budgeted, and the category starts the next month at zero
//!   ([`Overspending::FromToBeBudgeted`]).
//! - To be budgeted in a month is last month's, plus this month's income,
//!   minus this month's assignments, minus last month's overspending when
//!   it is covered that way. It may go negative (more assigned than earned).

use std::collections::BTreeMap;

use uuid::Uuid;

/// What happens to a category's negative balance at the end of a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overspending {
    /// It rolls over: the category starts the next month below zero.
    CarryNegative,
    /// The next month's to be budgeted covers it; the category starts at 0.
    FromToBeBudgeted,
}

impl Overspending {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CarryNegative => "carry_negative",
            Self::FromToBeBudgeted => "from_to_be_budgeted",
        }
    }

    /// A stored name back.
    pub fn from_stored(name: &str) -> Option<Self> {
        match name {
            "carry_negative" => Some(Self::CarryNegative),
            "from_to_be_budgeted" => Some(Self::FromToBeBudgeted),
            _ => None,
        }
    }
}

/// One category in one month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Carried in from the month before.
    pub carried_in: i64,
    /// Assigned this month.
    pub assigned: i64,
    /// The month's transactions (spending negative).
    pub activity: i64,
    /// `carried_in + assigned + activity`.
    pub available: i64,
}

/// One month of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    /// Per category of the plan.
    pub envelopes: BTreeMap<Uuid, Envelope>,
    /// Income this month.
    pub income: i64,
    /// Assigned this month, all categories.
    pub assigned: i64,
    /// Last month's overspending this month's to be budgeted covers.
    pub overspending_covered: i64,
    /// To be budgeted at the end of this month.
    pub to_be_budgeted: i64,
}

/// A month's inputs: income, and per category its assignment and activity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthInputs {
    /// Income.
    pub income: i64,
    /// Assigned, per category.
    pub assigned: BTreeMap<Uuid, i64>,
    /// Activity, per category.
    pub activity: BTreeMap<Uuid, i64>,
}

/// The months of a plan over `categories`, from its first month, one per
/// element of `inputs` (in order). Sums are in `i128` and clamped, so no
/// stored amounts can overflow them.
pub fn months(
    categories: &[Uuid],
    overspending: Overspending,
    inputs: &[MonthInputs],
) -> Vec<Month> {
    let clamp = |n: i128| i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX });
    let mut out: Vec<Month> = Vec::with_capacity(inputs.len());
    let mut carry: BTreeMap<Uuid, i64> = BTreeMap::new();
    let (mut to_be_budgeted, mut uncovered) = (0_i128, 0_i128);
    for input in inputs {
        let mut envelopes = BTreeMap::new();
        let mut overspent = 0_i128;
        for category in categories {
            let carried_in = carry.get(category).copied().unwrap_or(0);
            let assigned = input.assigned.get(category).copied().unwrap_or(0);
            let activity = input.activity.get(category).copied().unwrap_or(0);
            let available =
                clamp(i128::from(carried_in) + i128::from(assigned) + i128::from(activity));
            let next = match overspending {
                _ if available >= 0 => available,
                Overspending::CarryNegative => available,
                Overspending::FromToBeBudgeted => {
                    overspent += -i128::from(available);
                    0
                }
            };
            carry.insert(*category, next);
            envelopes.insert(
                *category,
                Envelope {
                    carried_in,
                    assigned,
                    activity,
                    available,
                },
            );
        }
        let assigned: i128 = categories
            .iter()
            .map(|c| i128::from(input.assigned.get(c).copied().unwrap_or(0)))
            .sum();
        to_be_budgeted += i128::from(input.income) - assigned - uncovered;
        out.push(Month {
            envelopes,
            income: input.income,
            assigned: clamp(assigned),
            overspending_covered: clamp(uncovered),
            to_be_budgeted: clamp(to_be_budgeted),
        });
        uncovered = overspent;
    }
    out
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    year: i32,
    month: u32,
}

/// The furthest month a plan is computed to, from its first month.
pub const MAX_MONTHS: usize = 12 * 10;

impl YearMonth {
    /// Parses `YYYY-MM` (years 1 to 9999).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not a month as YYYY-MM",
                freedumb_kit::domain::truncate(raw, 12)
            )
        };
        let (y, m) = raw.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let (year, month): (i32, u32) =
            (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }

    /// The month of `day`.
    pub fn of(day: chrono::NaiveDate) -> Self {
        use chrono::Datelike as _;
        Self {
            year: day.year(),
            month: day.month(),
        }
    }

    /// Its first day.
    pub fn first_day(self) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(chrono::NaiveDate::MIN)
    }

    /// Its last day.
    pub fn last_day(self) -> chrono::NaiveDate {
        self.next()
            .first_day()
            .pred_opt()
            .unwrap_or(chrono::NaiveDate::MAX)
    }

    /// The month after.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Months from `self` to `later` (0 for the same month), if not before.
    pub fn months_to(self, later: Self) -> Option<usize> {
        let n = (later.year - self.year) * 12 + later.month as i32 - self.month as i32;
        usize::try_from(n).ok()
    }
}

impl std::fmt::Display for YearMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A plan's content, valid as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// Its name.
    pub name: freedumb_kit::domain::Name,
    /// Its envelopes.
    pub categories: Vec<Uuid>,
    /// Its income categories.
    pub income: Vec<Uuid>,
    /// Its currency.
    pub currency: freedumb_kit::domain::Currency,
    /// Its first month.
    pub start_month: YearMonth,
    /// What becomes of overspending.
    pub overspending: Overspending,
}

impl PlanSpec {
    /// Checks `plan`, naming fields under `plan.`.
    pub fn parse(
        plan: &freedumb_proto::budget::BudgetPlan,
    ) -> Result<Self, freedumb_kit::FieldViolations> {
        use freedumb_proto::budget as pb;
        let mut v = freedumb_kit::FieldViolations::new();
        let name = v.check("plan.name", freedumb_kit::domain::Name::parse(&plan.name));
        let categories = ids(&plan.category_ids, "plan.category_ids", 1, 100, &mut v);
        let income = ids(
            &plan.income_category_ids,
            "plan.income_category_ids",
            0,
            50,
            &mut v,
        );
        if let (Some(envelopes), Some(income)) = (&categories, &income) {
            for (i, id) in income.iter().enumerate() {
                if envelopes.contains(id) {
                    v.add(
                        format!("plan.income_category_ids[{i}]"),
                        "is also an envelope",
                    );
                }
            }
        }
        let currency = v.check(
            "plan.currency_code",
            freedumb_kit::domain::Currency::parse(&plan.currency_code),
        );
        let start_month = v.check("plan.start_month", YearMonth::parse(&plan.start_month));
        let overspending = match pb::OverspendingRule::try_from(plan.overspending) {
            Ok(pb::OverspendingRule::CarryNegative) => Some(Overspending::CarryNegative),
            Ok(pb::OverspendingRule::FromToBeBudgeted) => Some(Overspending::FromToBeBudgeted),
            _ => {
                v.add(
                    "plan.overspending",
                    "is required: CARRY_NEGATIVE or FROM_TO_BE_BUDGETED",
                );
                None
            }
        };
        match (
            name,
            categories,
            income,
            currency,
            start_month,
            overspending,
        ) {
            (
                Some(name),
                Some(categories),
                Some(income),
                Some(currency),
                Some(start_month),
                Some(overspending),
            ) if v.is_empty() => Ok(Self {
                name,
                categories,
                income,
                currency,
                start_month,
                overspending,
            }),
            _ => Err(v),
        }
    }
}

/// Distinct ids, `min` to `max` of them.
fn ids(
    raw: &[String],
    field: &str,
    min: usize,
    max: usize,
    v: &mut freedumb_kit::FieldViolations,
) -> Option<Vec<Uuid>> {
    if raw.len() < min || raw.len() > max {
        v.add(
            field,
            format!("must list {min} to {max} categories, got {}", raw.len()),
        );
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, id) in raw.iter().enumerate() {
        match freedumb_kit::domain::required_id(id) {
            Ok(id) if out.contains(&id) => v.add(format!("{field}[{i}]"), "is listed twice"),
            Ok(id) => out.push(id),
            Err(e) => v.add(format!("{field}[{i}]"), e),
        }
    }
    (out.len() == raw.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(income: i64, assigned: &[(Uuid, i64)], activity: &[(Uuid, i64)]) -> MonthInputs {
        MonthInputs {
            income,
            assigned: assigned.iter().copied().collect(),
            activity: activity.iter().copied().collect(),
        }
    }

    #[test]
    fn unspent_money_rolls_over_and_income_feeds_to_be_budgeted() {
        let (food, fun) = (Uuid::now_v7(), Uuid::now_v7());
        let months = months(
            &[food, fun],
            Overspending::CarryNegative,
            &[
                inputs(3_000, &[(food, 400), (fun, 100)], &[(food, -350)]),
                inputs(0, &[(food, 400)], &[(food, -420), (fun, -30)]),
            ],
        );
        assert_eq!(months[0].to_be_budgeted, 2_500);
        assert_eq!(months[0].envelopes[&food].available, 50);
        assert_eq!(
            months[1].envelopes[&food],
            Envelope {
                carried_in: 50,
                assigned: 400,
                activity: -420,
                available: 30
            }
        );
        assert_eq!(months[1].envelopes[&fun].available, 70);
        assert_eq!(months[1].to_be_budgeted, 2_100);
    }

    #[test]
    fn overspending_carries_as_a_negative_or_comes_out_of_next_months_to_be_budgeted() {
        let food = Uuid::now_v7();
        let plan = [
            inputs(1_000, &[(food, 100)], &[(food, -150)]),
            inputs(0, &[(food, 100)], &[]),
        ];
        let carried = months(&[food], Overspending::CarryNegative, &plan);
        assert_eq!(carried[0].envelopes[&food].available, -50);
        assert_eq!(carried[1].envelopes[&food].carried_in, -50);
        assert_eq!(carried[1].envelopes[&food].available, 50);
        assert_eq!(
            (carried[0].to_be_budgeted, carried[1].to_be_budgeted),
            (900, 800)
        );

        let covered = months(&[food], Overspending::FromToBeBudgeted, &plan);
        assert_eq!(covered[0].envelopes[&food].available, -50);
        assert_eq!(covered[1].envelopes[&food].carried_in, 0);
        assert_eq!(covered[1].envelopes[&food].available, 100);
        assert_eq!(covered[1].overspending_covered, 50);
        assert_eq!(
            (covered[0].to_be_budgeted, covered[1].to_be_budgeted),
            (900, 750)
        );
    }

    #[test]
    fn months_parse_and_count() {
        let nov = YearMonth::parse("2026-11").expect("valid");
        assert_eq!(nov.to_string(), "2026-11");
        assert_eq!(nov.next().next().to_string(), "2027-01");
        assert_eq!(nov.last_day().to_string(), "2026-11-30");
        assert_eq!(
            nov.months_to(YearMonth::parse("2027-02").expect("valid")),
            Some(3)
        );
        assert_eq!(nov.next().months_to(nov), None);
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", ""] {
            assert!(YearMonth::parse(bad).is_err(), "{bad}");
        }
    }
}
