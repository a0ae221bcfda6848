use freedumb_kit::FieldViolations;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{
    AmountMinor, Currency, Description, IdempotencyKey, Merchant, MoneyInput, PageSize, RequestId,
    Tags, optional_date, optional_id, required_date, required_id, validated, violation,
};
use crate::recurrence::{Frequency, Schedule};
use crate::store::RuleRecord;
use freedumb_kit::page;

/// Rules per page unless the client asks otherwise.
const DEFAULT_PAGE_SIZE: u32 = 100;

/// The most units between two occurrences.
const MAX_INTERVAL: u32 = 1000;

/// A validated `CreateRecurringRuleRequest`. The amount is checked against
/// the account's currency once the account is read ([`NewRule::amount_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRule {
    /// The client's idempotency key, if it sent one.
    pub key: Option<IdempotencyKey>,
    /// The account each occurrence is recorded in.
    pub account_id: Uuid,
    /// The amount of each occurrence, as sent.
    pub amount: MoneyInput,
    /// Description of each occurrence.
    pub description: Description,
    /// Merchant of each occurrence.
    pub merchant: Merchant,
    /// Category of each occurrence.
    pub category_id: Option<Uuid>,
    /// Tags of each occurrence.
    pub tags: Tags,
    /// When it falls due.
    pub schedule: Schedule,
}

fn frequency(raw: i32) -> Result<Frequency, String> {
    match pb::Frequency::try_from(raw) {
        Ok(pb::Frequency::Daily) => Ok(Frequency::Daily),
        Ok(pb::Frequency::Weekly) => Ok(Frequency::Weekly),
        Ok(pb::Frequency::Monthly) => Ok(Frequency::Monthly),
        Ok(pb::Frequency::Yearly) => Ok(Frequency::Yearly),
        _ => Err("must be DAILY, WEEKLY, MONTHLY or YEARLY".into()),
    }
}

fn interval(raw: i32) -> Result<u32, String> {
    match u32::try_from(raw) {
        Ok(0) => Ok(1),
        Ok(n) if n <= MAX_INTERVAL => Ok(n),
        _ => Err(format!("must be 1 to {MAX_INTERVAL} (0 means 1)")),
    }
}

impl TryFrom<pb::CreateRecurringRuleRequest> for NewRule {
    type Error = FieldViolations;

    fn try_from(req: pb::CreateRecurringRuleRequest) -> Result<Self, Self::Error> {
        let input = req.rule.clone().unwrap_or_default();
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", RequestId::parse(&req.request_id));
        let account_id = v.check("rule.account_id", required_id(&input.account_id));
        let description = v.check("rule.description", Description::parse(&input.description));
        let merchant = v.check("rule.merchant", Merchant::parse(&input.merchant));
        let category_id = v.check("rule.category_id", optional_id(&input.category_id));
        let tags = v.check("rule.tags", Tags::parse(&input.tags));
        let frequency = v.check("rule.frequency", frequency(input.frequency));
        let interval = v.check("rule.interval", interval(input.interval));
        let start = v.check("rule.start_date", required_date(input.start_date.as_ref()));
        let end = v.check("rule.end_date", optional_date(input.end_date.as_ref()));
        if let (Some(start), Some(Some(end))) = (start, end)
            && end < start
        {
            v.add("rule.end_date", "must not be before start_date");
        }
        let amount = v.check("rule.amount", MoneyInput::required(input.amount.as_ref()));
        validated(v, || {
            Some(Self {
                key: request_id?.map(|id| id.for_request(&req)),
                account_id: account_id?,
                amount: amount?,
                description: description?,
                merchant: merchant?,
                category_id: category_id?,
                tags: tags?,
                schedule: Schedule {
                    frequency: frequency?,
                    interval: interval?,
                    start: start?,
                    end: end?,
                },
            })
        })
    }
}

impl NewRule {
    /// The amount of each occurrence in the account's `currency`, which
    /// must not be zero.
    pub fn amount_in(&self, currency: Currency) -> Result<AmountMinor, FieldViolations> {
        self.amount
            .in_currency(currency)
            .and_then(|a| AmountMinor::nonzero(a.get()))
            .map_err(|e| violation("rule.amount", e))
    }
}

/// A validated `ListRecurringRulesRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleListing {
    /// Rules per page.
    pub page_size: PageSize,
    /// The last rule of the previous page.
    pub after: Option<Uuid>,
    /// The fingerprint of the listing, for the next page's token.
    filters: String,
}

impl TryFrom<pb::ListRecurringRulesRequest> for RuleListing {
    type Error = FieldViolations;

    fn try_from(req: pb::ListRecurringRulesRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let page_size = v.check(
            "page_size",
            PageSize::parse(req.page_size, DEFAULT_PAGE_SIZE),
        );
        let filters = page::Filters::new("recurring_rules").fingerprint();
        let after = v.check("page_token", page::resume(&req.page_token, &filters));
        validated(v, || {
            Some(Self {
                page_size: page_size?,
                after: after?,
                filters,
            })
        })
    }
}

impl RuleListing {
    /// Cuts `rows` (fetched with [`PageSize::fetch_limit`]) to the page and
    /// returns the next page's token (empty on the last page).
    pub fn next_page_token(&self, rows: &mut Vec<RuleRecord>) -> String {
        page::next_token(rows, self.page_size, |r| r.id, &self.filters)
    }
}

#[cfg(test)]
mod tests {
    use freedumb_proto::common::Money;
    use freedumb_proto::google::r#type::Date;

    use super::*;

    fn fields(v: &FieldViolations) -> Vec<&str> {
        v.iter().map(|(f, _)| f.as_str()).collect()
    }

    fn rule(frequency: pb::Frequency, interval: i32) -> pb::CreateRecurringRuleRequest {
        pb::CreateRecurringRuleRequest {
            rule: Some(pb::RecurringRule {
                account_id: Uuid::now_v7().to_string(),
                amount: Some(Money {
                    currency_code: "USD".into(),
                    amount_minor: -1500,
                }),
                frequency: frequency.into(),
                interval,
                start_date: Some(Date {
                    year: 2026,
                    month: 1,
                    day: 31,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        }
    }

    #[test]
    fn an_interval_of_zero_means_one() {
        let r = NewRule::try_from(rule(pb::Frequency::Monthly, 0)).expect("valid");
        assert_eq!(r.schedule.interval, 1);
        assert_eq!(r.schedule.frequency, Frequency::Monthly);
        let err = NewRule::try_from(rule(pb::Frequency::Monthly, 1001)).expect_err("interval");
        assert_eq!(fields(&err), ["rule.interval"]);
        let err = NewRule::try_from(rule(pb::Frequency::Unspecified, -1)).expect_err("both");
        assert_eq!(fields(&err), ["rule.frequency", "rule.interval"]);
    }

    #[test]
    fn the_amount_is_nonzero_in_the_accounts_currency() {
        let r = NewRule::try_from(rule(pb::Frequency::Daily, 1)).expect("valid");
        let usd = Currency::parse("USD").expect("usd");
        let eur = Currency::parse("EUR").expect("eur");
        assert_eq!(r.amount_in(usd).map(AmountMinor::get), Ok(-1500));
        assert_eq!(
            fields(&r.amount_in(eur).expect_err("currency")),
            ["rule.amount"]
        );
    }

    #[test]
    fn the_end_is_not_before_the_start() {
        let mut req = rule(pb::Frequency::Daily, 1);
        if let Some(r) = req.rule.as_mut() {
            r.end_date = Some(Date {
                year: 2026,
                month: 1,
                day: 30,
            });
        }
        let err = NewRule::try_from(req).expect_err("backwards");
        assert_eq!(fields(&err), ["rule.end_date"]);
    }
}
