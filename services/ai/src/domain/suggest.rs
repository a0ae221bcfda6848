//! Rule suggestions from the history, as Actual Budget makes them: a
//! merchant put in the same category at least three of its last five
//! categorized times deserves a rule, unless a rule already names it.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::merchant::Merchant;
use super::rule::{CompiledRule, MAX_VALUE};

/// How many of the last transactions must agree.
pub const MIN_SUPPORT: usize = 3;

/// A merchant's recent categories, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The merchant.
    pub merchant: Merchant,
    /// Its last categories, newest first.
    pub categories: Vec<Uuid>,
}

/// A rule the history supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The merchant.
    pub merchant: Merchant,
    /// Where its transactions went.
    pub category_id: Uuid,
    /// How many of the last went there.
    pub support: usize,
    /// How many were looked at.
    pub considered: usize,
}

/// The suggestions for `seen`, skipping merchants a rule of `rules`
/// already names; most supported first (then by name), at most `max`.
pub fn suggest(seen: &[Seen], rules: &[CompiledRule], max: usize) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = seen
        .iter()
        .filter_map(|s| {
            let mut counts: BTreeMap<Uuid, usize> = BTreeMap::new();
            for c in &s.categories {
                *counts.entry(*c).or_default() += 1;
            }
            let (category_id, support) = counts.into_iter().max_by_key(|(_, k)| *k)?;
            // A key longer than a condition's value could not make a rule.
            if support < MIN_SUPPORT
                || s.merchant.key.chars().count() > MAX_VALUE
                || rules.iter().any(|r| r.names(&s.merchant))
            {
                return None;
            }
            Some(Suggestion {
                merchant: s.merchant.clone(),
                category_id,
                support,
                considered: s.categories.len(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.support
            .cmp(&a.support)
            .then_with(|| a.merchant.name.cmp(&b.merchant.name))
    });
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use freedumb_proto::ai as pb;

    use super::*;
    use crate::domain::normalize;
    use crate::domain::rule::Condition;

    fn seen(descriptor: &str, categories: &[Uuid]) -> Seen {
        Seen {
            merchant: normalize(descriptor).expect("a merchant"),
            categories: categories.to_vec(),
        }
    }

    #[test]
    fn three_of_five_make_a_suggestion_unless_a_rule_names_the_merchant() {
        let (food, fun) = (Uuid::now_v7(), Uuid::now_v7());
        let history = [
            seen(
                "SQ *BLUE BOTTLE 0042 OAKLAND CA",
                &[food, fun, food, fun, food],
            ),
            seen("NETFLIX.COM 866-579-7172 CA", &[fun, fun, fun, fun]),
            seen("TST* JOE'S PIZZA #12", &[food, food, fun]),
        ];
        let got = suggest(&history, &[], 10);
        let names: Vec<(&str, usize)> = got
            .iter()
            .map(|s| (s.merchant.name.as_str(), s.support))
            .collect();
        assert_eq!(names, [("Netflix", 4), ("Blue Bottle", 3)]);
        assert_eq!(got[1].category_id, food);
        assert_eq!(suggest(&history, &[], 1).len(), 1);

        let (netflix, _) = Condition::compile(&pb::RuleCondition {
            field: pb::RuleField::Merchant.into(),
            operator: pb::RuleOperator::Is.into(),
            value: "netflix".into(),
        })
        .expect("valid");
        let (negative, _) = Condition::compile(&pb::RuleCondition {
            field: pb::RuleField::Amount.into(),
            operator: pb::RuleOperator::LessThan.into(),
            value: "0".into(),
        })
        .expect("valid");
        let rule = CompiledRule {
            id: Uuid::now_v7(),
            category_id: fun,
            stop: false,
            conditions: vec![netflix, negative],
        };
        let left: Vec<String> = suggest(&history, &[rule], 10)
            .into_iter()
            .map(|s| s.merchant.name)
            .collect();
        assert_eq!(left, ["Blue Bottle"]);
    }
}
