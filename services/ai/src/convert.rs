//! Records and decisions in their API form.

use freedumb_kit::time;
use freedumb_proto::ai as pb;

use crate::domain::rule::condition_pb;
use freedumb_kit::domain::{date, money};

use crate::domain::insights::{Forecast, Period, Recurring, SpendingChange, Unusual};
use crate::domain::{Decision, Source, Step, Suggestion};
use crate::store::RuleRecord;

/// A rule for the API.
pub fn rule(r: &RuleRecord) -> pb::CategorizationRule {
    pb::CategorizationRule {
        id: r.id.to_string(),
        name: r.name.clone(),
        conditions: r.conditions.iter().map(condition_pb).collect(),
        category_id: r.category_id.to_string(),
        stage: r.stage,
        stop: r.stop,
        create_time: Some(time::timestamp(r.create_time)),
        update_time: Some(time::timestamp(r.update_time)),
    }
}

/// A cascade step for the API.
pub fn source(s: Source) -> pb::CategorizationSource {
    match s {
        Source::Rule => pb::CategorizationSource::Rule,
        Source::History => pb::CategorizationSource::History,
        Source::Model => pb::CategorizationSource::Model,
        Source::None => pb::CategorizationSource::None,
    }
}

/// A decision for the API.
pub fn categorization(d: &Decision) -> pb::Categorization {
    pb::Categorization {
        category_id: d.category_id.map(|c| c.to_string()).unwrap_or_default(),
        merchant: d
            .merchant
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        confidence: d.confidence,
        source: source(d.source).into(),
        rule_id: d.rule_id.map(|r| r.to_string()).unwrap_or_default(),
    }
}

/// A step for the API.
pub fn step(s: &Step) -> pb::ExplanationStep {
    pb::ExplanationStep {
        source: source(s.source).into(),
        decided: s.decided,
        category_id: s.category_id.map(|c| c.to_string()).unwrap_or_default(),
        confidence: s.confidence,
        reason: s.reason.clone(),
        matched_rule_ids: s.matched_rules.iter().map(ToString::to_string).collect(),
        history: s
            .history
            .iter()
            .map(|(category, count)| pb::CategoryCount {
                category_id: category.to_string(),
                count: i32::try_from(*count).unwrap_or(i32::MAX),
            })
            .collect(),
        features: s
            .features
            .iter()
            .map(|(feature, weight)| pb::FeatureWeight {
                feature: feature.clone(),
                weight: *weight,
            })
            .collect(),
    }
}

/// A suggestion for the API: the rule ready to create.
pub fn suggestion(s: &Suggestion) -> pb::RuleSuggestion {
    use crate::domain::rule::MAX_VALUE;
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    // Within the limits `CreateCategorizationRule` sets: a name of at most
    // 100 characters, and the key (which IS compares, at most 200: see
    // `suggest`) for a name longer than a value may be.
    let value = if s.merchant.name.chars().count() <= MAX_VALUE {
        s.merchant.name.clone()
    } else {
        s.merchant.key.clone()
    };
    pb::RuleSuggestion {
        rule: Some(pb::CategorizationRule {
            name: freedumb_kit::domain::truncate(&s.merchant.name, 100)
                .trim_end()
                .to_owned(),
            conditions: vec![pb::RuleCondition {
                field: pb::RuleField::Merchant.into(),
                operator: pb::RuleOperator::Is.into(),
                value,
            }],
            category_id: s.category_id.to_string(),
            ..Default::default()
        }),
        merchant: s.merchant.name.clone(),
        supporting_transactions: count(s.support),
        considered_transactions: count(s.considered),
    }
}

fn period(p: Period) -> pb::RecurrencePeriod {
    match p {
        Period::Weekly => pb::RecurrencePeriod::Weekly,
        Period::Biweekly => pb::RecurrencePeriod::Biweekly,
        Period::Monthly => pb::RecurrencePeriod::Monthly,
        Period::Quarterly => pb::RecurrencePeriod::Quarterly,
        Period::Yearly => pb::RecurrencePeriod::Yearly,
    }
}

/// A recurring payment for the API.
pub fn recurring(r: &Recurring) -> pb::RecurringPayment {
    pb::RecurringPayment {
        merchant: r.merchant.name.clone(),
        period: period(r.period).into(),
        amount: Some(money(&r.currency, r.amount_minor)),
        previous_amount: r.previous_amount_minor.map(|m| money(&r.currency, m)),
        last_date: Some(date(r.last_date)),
        next_expected_date: Some(date(r.next_date)),
        occurrences: i32::try_from(r.occurrences).unwrap_or(i32::MAX),
        category_id: r.category_id.clone(),
        account_id: r.account_id.clone(),
        transaction_ids: r.transaction_ids.clone(),
    }
}

/// An unusual transaction for the API.
pub fn unusual(u: &Unusual) -> pb::UnusualTransaction {
    let t = &u.transaction;
    pb::UnusualTransaction {
        transaction_id: t.id.clone(),
        merchant: t
            .merchant
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        amount: Some(money(&t.currency, t.amount_minor)),
        typical_amount: Some(money(&t.currency, u.typical_minor)),
        date: Some(date(t.date)),
        ratio: format!("{}.{}", u.ratio_tenths / 10, u.ratio_tenths % 10),
    }
}

/// A spending change for the API.
pub fn spending_change(c: &SpendingChange) -> pb::SpendingChange {
    pb::SpendingChange {
        category_id: c.category_id.clone(),
        month: Some(date(c.month)),
        spent: Some(money(&c.currency, c.spent_minor)),
        usual: Some(money(&c.currency, c.usual_minor)),
        change_percent: c.change_percent,
    }
}

/// A balance forecast for the API.
pub fn forecast(f: &Forecast) -> pb::BalanceForecast {
    pb::BalanceForecast {
        account_id: f.account_id.clone(),
        balance: Some(money(&f.currency, f.balance_minor)),
        date: Some(date(f.date)),
        expected: Some(money(&f.currency, f.expected_minor)),
        low: Some(money(&f.currency, f.low_minor)),
        high: Some(money(&f.currency, f.high_minor)),
    }
}
