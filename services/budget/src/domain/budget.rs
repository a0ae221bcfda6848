//! A budget as a request describes it, checked field by field.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use freedumb_kit::FieldViolations;
use freedumb_kit::domain::{
    Currency, MAX_AMOUNT_MINOR, Name, optional_date, required_date, required_id,
};
use freedumb_proto::budget as pb;
use uuid::Uuid;

use super::{Period, Schedule};

/// Categories one budget may cover.
pub const MAX_CATEGORIES: usize = 50;
/// Thresholds one budget may have.
pub const MAX_THRESHOLDS: usize = 10;
/// The thresholds of a budget created without any.
pub const DEFAULT_THRESHOLDS: [i32; 2] = [80, 100];

/// Alert thresholds: distinct percentages of the budget, 1 to 1000,
/// ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds(Vec<i32>);

impl Thresholds {
    /// Parses the request's list; empty means the defaults.
    pub fn parse(raw: &[i32]) -> Result<Self, String> {
        if raw.is_empty() {
            return Ok(Self(DEFAULT_THRESHOLDS.to_vec()));
        }
        if raw.len() > MAX_THRESHOLDS {
            return Err(format!(
                "at most {MAX_THRESHOLDS} thresholds, got {}",
                raw.len()
            ));
        }
        if let Some(bad) = raw.iter().find(|t| !(1..=1000).contains(*t)) {
            return Err(format!(
                "each threshold must be 1 to 1000 percent, got {bad}"
            ));
        }
        let set: BTreeSet<i32> = raw.iter().copied().collect();
        if set.len() != raw.len() {
            return Err("thresholds must be distinct".into());
        }
        Ok(Self(set.into_iter().collect()))
    }

    /// Stored thresholds back ("80,100").
    pub fn from_stored(text: &str) -> Option<Self> {
        let values: Option<Vec<i32>> = text.split(',').map(|t| t.parse().ok()).collect();
        Self::parse(&values?).ok()
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(i32::to_string).collect();
        parts.join(",")
    }

    /// The percentages, ascending.
    pub fn get(&self) -> &[i32] {
        &self.0
    }

    /// The thresholds that `spent` reaches of `budgeted` (positive).
    pub fn reached(&self, budgeted: i64, spent: i64) -> Vec<i32> {
        self.0
            .iter()
            .copied()
            .filter(|t| i128::from(spent) * 100 >= i128::from(budgeted) * i128::from(*t))
            .collect()
    }
}

/// A budget's content, valid as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpec {
    /// Its name.
    pub name: Name,
    /// The categories it covers, in the order given, distinct.
    pub category_ids: Vec<Uuid>,
    /// Its currency.
    pub currency: Currency,
    /// What may be spent per period (positive).
    pub amount_minor: i64,
    /// Its periods.
    pub schedule: Schedule,
    /// Its alert thresholds.
    pub thresholds: Thresholds,
}

impl BudgetSpec {
    /// Checks `budget`, naming fields under `prefix` (`budget.`).
    pub fn parse(budget: &pb::Budget, prefix: &str) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let field = |name: &str| format!("{prefix}{name}");
        let name = v.check(&field("name"), Name::parse(&budget.name));
        let category_ids = categories(&budget.category_ids, &field("category_ids"), &mut v);
        let (currency, amount_minor) = match &budget.amount {
            None => {
                v.add(field("amount"), "is required");
                (None, None)
            }
            Some(money) => (
                v.check(
                    &field("amount.currency_code"),
                    Currency::parse(&money.currency_code),
                ),
                v.check(
                    &field("amount.amount_minor"),
                    positive_amount(money.amount_minor),
                ),
            ),
        };
        let period = v.check(&field("period"), period(budget.period));
        let start = v.check(
            &field("start_date"),
            required_date(budget.start_date.as_ref()),
        );
        let end = v.check(&field("end_date"), optional_date(budget.end_date.as_ref()));
        if let (Some(start), Some(Some(end))) = (start, end)
            && end < start
        {
            v.add(
                field("end_date"),
                format!("{end} is before the start date {start}"),
            );
        }
        if period == Some(Period::Custom) && end == Some(None) {
            v.add(field("end_date"), "is required for a custom period");
        }
        let thresholds = v.check(
            &field("alert_thresholds_percent"),
            Thresholds::parse(&budget.alert_thresholds_percent),
        );
        match (
            name,
            category_ids,
            currency,
            amount_minor,
            period,
            start,
            end,
            thresholds,
        ) {
            (
                Some(name),
                Some(category_ids),
                Some(currency),
                Some(amount_minor),
                Some(period),
                Some(start),
                Some(end),
                Some(thresholds),
            ) if v.is_empty() => Ok(Self {
                name,
                category_ids,
                currency,
                amount_minor,
                schedule: Schedule { period, start, end },
                thresholds,
            }),
            _ => Err(v),
        }
    }
}

fn categories(raw: &[String], field: &str, v: &mut FieldViolations) -> Option<Vec<Uuid>> {
    if raw.is_empty() {
        v.add(field, "at least one category is required");
        return None;
    }
    if raw.len() > MAX_CATEGORIES {
        v.add(
            field,
            format!("at most {MAX_CATEGORIES} categories, got {}", raw.len()),
        );
        return None;
    }
    let mut ids = Vec::with_capacity(raw.len());
    for (i, id) in raw.iter().enumerate() {
        match required_id(id) {
            Ok(id) if ids.contains(&id) => v.add(format!("{field}[{i}]"), "is listed twice"),
            Ok(id) => ids.push(id),
            Err(e) => v.add(format!("{field}[{i}]"), e),
        }
    }
    (ids.len() == raw.len()).then_some(ids)
}

fn positive_amount(minor: i64) -> Result<i64, String> {
    if minor <= 0 {
        return Err(format!("must be positive, got {minor}"));
    }
    if minor > MAX_AMOUNT_MINOR {
        return Err(format!("must be at most {MAX_AMOUNT_MINOR} minor units"));
    }
    Ok(minor)
}

fn period(raw: i32) -> Result<Period, String> {
    match pb::BudgetPeriod::try_from(raw) {
        Ok(pb::BudgetPeriod::Weekly) => Ok(Period::Weekly),
        Ok(pb::BudgetPeriod::Monthly) => Ok(Period::Monthly),
        Ok(pb::BudgetPeriod::Yearly) => Ok(Period::Yearly),
        Ok(pb::BudgetPeriod::Custom) => Ok(Period::Custom),
        Ok(pb::BudgetPeriod::Unspecified) => {
            Err("is required: WEEKLY, MONTHLY, YEARLY or CUSTOM".into())
        }
        Err(_) => Err(format!("{raw} is not a budget period")),
    }
}

/// The fields `UpdateBudget` may change.
pub const UPDATABLE: &[&str] = &[
    "name",
    "category_ids",
    "amount",
    "period",
    "start_date",
    "end_date",
    "alert_thresholds_percent",
];

/// `current` with the fields of `mask` taken from `patch` (the amount's
/// currency stays the budget's: a different one is refused).
pub fn merge(
    current: &pb::Budget,
    patch: &pb::Budget,
    mask: &freedumb_kit::UpdateMask,
) -> Result<pb::Budget, FieldViolations> {
    let mut merged = current.clone();
    let mut v = FieldViolations::new();
    for path in mask.paths() {
        match path.as_str() {
            "name" => merged.name.clone_from(&patch.name),
            "category_ids" => merged.category_ids.clone_from(&patch.category_ids),
            "amount" => {
                let currency = current.amount.as_ref().map(|m| m.currency_code.clone());
                match (&patch.amount, currency) {
                    (Some(new), Some(currency))
                        if new.currency_code.is_empty() || new.currency_code == currency =>
                    {
                        merged.amount =
                            Some(freedumb_kit::domain::money(&currency, new.amount_minor));
                    }
                    (Some(_), _) => v.add(
                        "budget.amount.currency_code",
                        "a budget's currency cannot change; create another budget",
                    ),
                    (None, _) => v.add("budget.amount", "is required"),
                }
            }
            "period" => merged.period = patch.period,
            "start_date" => merged.start_date = patch.start_date,
            "end_date" => merged.end_date = patch.end_date,
            "alert_thresholds_percent" => {
                merged
                    .alert_thresholds_percent
                    .clone_from(&patch.alert_thresholds_percent);
            }
            _ => {}
        }
    }
    if v.is_empty() { Ok(merged) } else { Err(v) }
}

/// A day of the period wanted, or today.
pub fn status_day(
    raw: Option<&freedumb_proto::google::r#type::Date>,
    today: NaiveDate,
) -> Result<NaiveDate, String> {
    Ok(optional_date(raw)?.unwrap_or(today))
}

#[cfg(test)]
mod tests {
    use super::*;
    use freedumb_kit::domain::{date, money};

    fn budget() -> pb::Budget {
        pb::Budget {
            name: "Groceries".into(),
            category_ids: vec![Uuid::now_v7().to_string()],
            amount: Some(money("EUR", 40_000)),
            period: pb::BudgetPeriod::Monthly as i32,
            start_date: Some(date("2024-01-01".parse().expect("date"))),
            ..pb::Budget::default()
        }
    }

    fn fields(b: &pb::Budget) -> Vec<String> {
        let err = BudgetSpec::parse(b, "budget.").expect_err("invalid");
        err.iter().map(|(f, _)| f.clone()).collect()
    }

    #[test]
    fn a_valid_budget_gets_the_default_thresholds() {
        let spec = BudgetSpec::parse(&budget(), "budget.").expect("valid");
        assert_eq!(spec.thresholds.get(), [80, 100]);
        assert_eq!(spec.currency.code(), "EUR");
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut b = budget();
        b.amount = Some(money("EUR", -5));
        assert_eq!(fields(&b), ["budget.amount.amount_minor"]);
        let mut b = budget();
        b.end_date = Some(date("2023-12-31".parse().expect("date")));
        assert_eq!(fields(&b), ["budget.end_date"]);
        let mut b = budget();
        b.alert_thresholds_percent = vec![0, 1001];
        assert_eq!(fields(&b), ["budget.alert_thresholds_percent"]);
        let mut b = budget();
        b.category_ids.push("nope".into());
        b.category_ids.push(b.category_ids[0].clone());
        assert_eq!(
            fields(&b),
            ["budget.category_ids[1]", "budget.category_ids[2]"]
        );
        let mut b = budget();
        b.period = pb::BudgetPeriod::Custom as i32;
        assert_eq!(fields(&b), ["budget.end_date"]);
        let mut b = budget();
        b.period = 0;
        b.category_ids.clear();
        b.amount = None;
        assert_eq!(
            fields(&b),
            ["budget.category_ids", "budget.amount", "budget.period"]
        );
    }

    #[test]
    fn thresholds_are_reached_at_their_percentage() {
        let t = Thresholds::parse(&[100, 80]).expect("valid");
        assert_eq!(t.get(), [80, 100]);
        assert_eq!(t.reached(1000, 799), Vec::<i32>::new());
        assert_eq!(t.reached(1000, 800), [80]);
        assert_eq!(t.reached(1000, 5000), [80, 100]);
        assert_eq!(Thresholds::from_stored(&t.to_stored()), Some(t));
        assert!(Thresholds::parse(&[50, 50]).is_err());
        assert!(Thresholds::parse(&[1; 11]).is_err());
    }

    #[test]
    fn an_update_keeps_the_currency() {
        let current = budget();
        let paths = prost_types::FieldMask {
            paths: vec!["amount".into()],
        };
        let mask = freedumb_kit::UpdateMask::parse(Some(&paths), UPDATABLE).expect("mask");
        let mut patch = pb::Budget {
            amount: Some(money("", 10)),
            ..pb::Budget::default()
        };
        let merged = merge(&current, &patch, &mask).expect("same currency");
        assert_eq!(merged.amount, Some(money("EUR", 10)));
        patch.amount = Some(money("USD", 10));
        assert!(merge(&current, &patch, &mask).is_err());
    }
}
