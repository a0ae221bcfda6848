use freedumb_kit::FieldViolations;
use freedumb_proto::ledger as pb;

use super::{AmountMinor, required_id};
use crate::store::SplitRecord;

/// The most categories one transaction is split into.
const MAX_SPLITS: usize = 50;

/// How a transaction's amount is shared among categories: none, or 2 to 50
/// distinct categories, each with a nonzero share within bounds.
///
/// Whether the shares add up to the amount is checked separately
/// ([`Splits::check_against`]): an update may split the amount already
/// stored, which the door does not know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Splits(Vec<SplitRecord>);

impl Splits {
    /// Parses the request's splits. Field paths are relative to the
    /// message holding them: `splits`, `splits[1].category_id`, …
    pub fn parse(raw: &[pb::Split]) -> Result<Self, FieldViolations> {
        Self::parse_inner(raw, None)
    }

    /// Parses the request's splits of `amount` (a create, where the amount
    /// comes with them): every problem at once, the structure, each
    /// share's sign and, when every share parsed, their sum.
    pub fn parse_against(raw: &[pb::Split], amount: i64) -> Result<Self, FieldViolations> {
        Self::parse_inner(raw, Some(amount))
    }

    fn parse_inner(raw: &[pb::Split], amount: Option<i64>) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        if raw.is_empty() {
            return Ok(Self::default());
        }
        if raw.len() == 1 {
            v.add(
                "splits",
                "a split needs two or more categories; use category_id for one",
            );
        }
        if raw.len() > MAX_SPLITS {
            v.add("splits", format!("at most {MAX_SPLITS} splits"));
        }
        let mut splits: Vec<SplitRecord> = Vec::with_capacity(raw.len());
        // At most 50 shares of at most 10^15 each: no overflow.
        let mut sum: i64 = 0;
        for (i, s) in raw.iter().enumerate() {
            let id = v.check(
                &format!("splits[{i}].category_id"),
                required_id(&s.category_id),
            );
            let share = v.check(
                &format!("splits[{i}].amount_minor"),
                AmountMinor::nonzero(s.amount_minor),
            );
            if let Some(share) = share {
                if let Some(amount) = amount
                    && amount != 0
                    && share.get().signum() != amount.signum()
                {
                    v.add(
                        format!("splits[{i}].amount_minor"),
                        "must have the sign of the amount",
                    );
                }
                sum += share.get();
            }
            if let (Some(category_id), Some(share)) = (id, share) {
                if splits.iter().any(|s| s.category_id == category_id) {
                    v.add(format!("splits[{i}].category_id"), "appears twice");
                }
                splits.push(SplitRecord {
                    category_id,
                    amount_minor: share.get(),
                });
            }
        }
        if let Some(amount) = amount
            && splits.len() == raw.len()
            && sum != amount
        {
            v.add(
                "splits",
                format!("split amounts add up to {sum}, not to the amount {amount}"),
            );
        }
        if v.is_empty() {
            Ok(Self(splits))
        } else {
            Err(v)
        }
    }

    /// Checks that every share has the sign of `amount` and that the
    /// shares add up to it.
    pub fn check_against(&self, amount: i64) -> Result<(), FieldViolations> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut v = FieldViolations::new();
        for (i, s) in self.0.iter().enumerate() {
            if amount != 0 && s.amount_minor.signum() != amount.signum() {
                v.add(
                    format!("splits[{i}].amount_minor"),
                    "must have the sign of the amount",
                );
            }
        }
        // At most 50 shares of at most 10^15 each: no overflow.
        let sum: i64 = self.0.iter().map(|s| s.amount_minor).sum();
        if sum != amount {
            v.add(
                "splits",
                format!("split amounts add up to {sum}, not to the amount {amount}"),
            );
        }
        if v.is_empty() { Ok(()) } else { Err(v) }
    }

    /// Whether the amount is not split.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The shares, for a record.
    pub fn into_records(self) -> Vec<SplitRecord> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn split(id: &str, amount: i64) -> pb::Split {
        pb::Split {
            category_id: id.to_owned(),
            amount_minor: amount,
        }
    }

    fn fields(v: &FieldViolations) -> Vec<&str> {
        v.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn splits_must_add_up_and_match_the_sign() {
        let a = Uuid::now_v7().to_string();
        let b = Uuid::now_v7().to_string();
        let ok = Splits::parse(&[split(&a, -100), split(&b, -200)]).expect("valid");
        assert_eq!(ok.check_against(-300), Ok(()));
        assert_eq!(ok.into_records().len(), 2);

        let short = Splits::parse(&[split(&a, -100), split(&b, -100)]).expect("valid");
        let err = short.check_against(-300).expect_err("sum");
        assert_eq!(fields(&err), ["splits"]);

        let signs = Splits::parse(&[split(&a, 100), split(&b, -400)]).expect("valid");
        let err = signs.check_against(-300).expect_err("sign");
        assert_eq!(fields(&err), ["splits[0].amount_minor"]);
    }

    #[test]
    fn splits_need_two_distinct_valid_categories() {
        let a = Uuid::now_v7().to_string();
        assert!(Splits::parse(&[]).expect("none").is_empty());
        let err = Splits::parse(&[split(&a, -300)]).expect_err("one");
        assert_eq!(fields(&err), ["splits"]);
        let err = Splits::parse(&[split(&a, -100), split(&a, -200)]).expect_err("twice");
        assert_eq!(fields(&err), ["splits[1].category_id"]);
        let err = Splits::parse(&[split("x", -100), split(&a, 0)]).expect_err("bad");
        assert_eq!(
            fields(&err),
            ["splits[0].category_id", "splits[1].amount_minor"]
        );
        let many: Vec<_> = (0..51)
            .map(|_| split(&Uuid::now_v7().to_string(), -1))
            .collect();
        assert_eq!(fields(&Splits::parse(&many).expect_err("51")), ["splits"]);
    }

    #[test]
    fn a_create_reports_signs_and_sums_with_other_problems() {
        let a = Uuid::now_v7().to_string();
        // One share: also a wrong sign and a wrong sum, all reported.
        let err = Splits::parse_against(&[split(&a, 100)], -300).expect_err("one");
        assert_eq!(fields(&err), ["splits", "splits[0].amount_minor", "splits"]);
        // A bad id: the sign of the other share is still checked, the sum
        // (of shares that did not all parse) is not.
        let err = Splits::parse_against(&[split("x", -100), split(&a, 50)], -300).expect_err("bad");
        assert_eq!(
            fields(&err),
            ["splits[0].category_id", "splits[1].amount_minor"]
        );
        assert!(Splits::parse_against(&[], -300).expect("none").is_empty());
    }
}
