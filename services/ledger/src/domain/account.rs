use chrono::NaiveDate;
use freedumb_kit::{FieldViolations, UpdateMask};
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{
    AmountMinor, Currency, IdempotencyKey, MoneyInput, Name, PageSize, RequestId, required_date,
    required_id, validated, violation,
};
use crate::store::AccountRecord;
use freedumb_kit::page;

/// Accounts per page unless the client asks otherwise.
const DEFAULT_PAGE_SIZE: u32 = 100;

/// The longest balance history, in days.
const MAX_HISTORY_DAYS: i64 = 3660;

/// The fields `UpdateAccount` may change.
const UPDATABLE: [&str; 3] = ["name", "kind", "opening_balance"];

/// What an account holds (its stored name: `checking`, `credit_card`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountKind(&'static str);

impl AccountKind {
    /// Parses the request's `AccountKind` (not UNSPECIFIED).
    pub fn parse(raw: i32) -> Result<Self, String> {
        let name = match pb::AccountKind::try_from(raw) {
            Ok(pb::AccountKind::Checking) => "checking",
            Ok(pb::AccountKind::Savings) => "savings",
            Ok(pb::AccountKind::CreditCard) => "credit_card",
            Ok(pb::AccountKind::Cash) => "cash",
            Ok(pb::AccountKind::Loan) => "loan",
            Ok(pb::AccountKind::Investment) => "investment",
            Ok(pb::AccountKind::Unspecified) | Err(_) => {
                return Err("must be a known account kind (CHECKING, SAVINGS, ...)".into());
            }
        };
        Ok(Self(name))
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// A validated `CreateAccountRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// The client's idempotency key, if it sent one.
    pub key: Option<IdempotencyKey>,
    /// Display name.
    pub name: Name,
    /// What the account holds.
    pub kind: AccountKind,
    /// Its currency, fixed for life.
    pub currency: Currency,
    /// The balance before any transaction.
    pub opening_balance: AmountMinor,
}

impl TryFrom<pb::CreateAccountRequest> for NewAccount {
    type Error = FieldViolations;

    fn try_from(req: pb::CreateAccountRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let request_id = v.check("request_id", RequestId::parse(&req.request_id));
        let input = req.account.clone().unwrap_or_default();
        let name = v.check("account.name", Name::parse(&input.name));
        let kind = v.check("account.kind", AccountKind::parse(input.kind));
        let opening = input.opening_balance.as_ref();
        let currency = v.check(
            "account.opening_balance.currency_code",
            opening
                .ok_or_else(|| "is required".to_owned())
                .and_then(|m| Currency::parse(&m.currency_code)),
        );
        let opening_balance = v.check(
            "account.opening_balance.amount_minor",
            AmountMinor::parse(opening.map_or(0, |m| m.amount_minor)),
        );
        validated(v, || {
            Some(Self {
                key: request_id?.map(|id| id.for_request(&req)),
                name: name?,
                kind: kind?,
                currency: currency?,
                opening_balance: opening_balance?,
            })
        })
    }
}

/// A validated `UpdateAccountRequest`: the account and the masked fields'
/// new values (`None` where the mask leaves a field alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    /// The account.
    pub id: Uuid,
    /// New name.
    pub name: Option<Name>,
    /// New kind.
    pub kind: Option<AccountKind>,
    /// New opening balance; its currency is checked against the account's
    /// once the account is read.
    pub opening_balance: Option<MoneyInput>,
}

impl TryFrom<pb::UpdateAccountRequest> for AccountUpdate {
    type Error = FieldViolations;

    fn try_from(req: pb::UpdateAccountRequest) -> Result<Self, Self::Error> {
        let mask = UpdateMask::parse(req.update_mask.as_ref(), &UPDATABLE)?;
        let input = req.account.unwrap_or_default();
        let id = required_id(&input.id).map_err(|e| violation("account.id", e))?;
        let mut v = FieldViolations::new();
        let mut update = Self {
            id,
            name: None,
            kind: None,
            opening_balance: None,
        };
        for path in mask.paths() {
            match path.as_str() {
                "name" => update.name = v.check("account.name", Name::parse(&input.name)),
                "kind" => update.kind = v.check("account.kind", AccountKind::parse(input.kind)),
                _ => {
                    update.opening_balance = v.check(
                        "account.opening_balance",
                        MoneyInput::required(input.opening_balance.as_ref()),
                    );
                }
            }
        }
        if v.is_empty() { Ok(update) } else { Err(v) }
    }
}

/// A validated `ListAccountsRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountListing {
    /// Accounts per page.
    pub page_size: PageSize,
    /// The last account of the previous page.
    pub after: Option<Uuid>,
    /// Whether archived accounts are listed too.
    pub show_archived: bool,
    /// The fingerprint of the filters, for the next page's token.
    filters: String,
}

impl TryFrom<pb::ListAccountsRequest> for AccountListing {
    type Error = FieldViolations;

    fn try_from(req: pb::ListAccountsRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let page_size = v.check(
            "page_size",
            PageSize::parse(req.page_size, DEFAULT_PAGE_SIZE),
        );
        let filters = page::Filters::new("accounts")
            .flag(req.show_archived)
            .fingerprint();
        let after = v.check("page_token", page::resume(&req.page_token, &filters));
        validated(v, || {
            Some(Self {
                page_size: page_size?,
                after: after?,
                show_archived: req.show_archived,
                filters,
            })
        })
    }
}

impl AccountListing {
    /// Cuts `rows` (fetched with [`PageSize::fetch_limit`]) to the page and
    /// returns the next page's token (empty on the last page).
    pub fn next_page_token(&self, rows: &mut Vec<AccountRecord>) -> String {
        page::next_token(rows, self.page_size, |a| a.id, &self.filters)
    }
}

/// A validated `GetBalanceHistoryRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceHistoryQuery {
    /// The account.
    pub account_id: Uuid,
    /// The first day, inclusive.
    pub start: NaiveDate,
    /// The last day, inclusive (at most [`MAX_HISTORY_DAYS`] after `start`).
    pub end: NaiveDate,
}

impl TryFrom<pb::GetBalanceHistoryRequest> for BalanceHistoryQuery {
    type Error = FieldViolations;

    fn try_from(req: pb::GetBalanceHistoryRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let account_id = v.check("account_id", required_id(&req.account_id));
        let start = v.check("start_date", required_date(req.start_date.as_ref()));
        let end = v.check("end_date", required_date(req.end_date.as_ref()));
        if let (Some(start), Some(end)) = (start, end) {
            let days = (end - start).num_days();
            if days < 0 {
                v.add("end_date", "must not be before start_date");
            } else if days >= MAX_HISTORY_DAYS {
                v.add(
                    "end_date",
                    format!("the range is at most {MAX_HISTORY_DAYS} days"),
                );
            }
        }
        validated(v, || {
            Some(Self {
                account_id: account_id?,
                start: start?,
                end: end?,
            })
        })
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

    fn create(code: &str, minor: i64) -> pb::CreateAccountRequest {
        pb::CreateAccountRequest {
            account: Some(pb::Account {
                name: " Savings ".into(),
                kind: pb::AccountKind::Savings.into(),
                opening_balance: Some(Money {
                    currency_code: code.into(),
                    amount_minor: minor,
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        }
    }

    #[test]
    fn kinds_are_the_known_ones() {
        assert_eq!(
            AccountKind::parse(pb::AccountKind::CreditCard.into()).map(AccountKind::as_str),
            Ok("credit_card")
        );
        assert!(AccountKind::parse(pb::AccountKind::Unspecified.into()).is_err());
        assert!(AccountKind::parse(99).is_err());
    }

    #[test]
    fn a_new_account_is_parsed_at_the_door() {
        let account = NewAccount::try_from(create("USD", 500)).expect("valid");
        assert_eq!(account.name.as_str(), "Savings");
        assert_eq!(account.currency.code(), "USD");
        assert_eq!(account.opening_balance.get(), 500);
        assert_eq!(account.key, None);
    }

    #[test]
    fn a_bad_opening_balance_names_its_field() {
        let err = NewAccount::try_from(create("ZZZ", 0)).expect_err("currency");
        assert_eq!(fields(&err), ["account.opening_balance.currency_code"]);
        let err = NewAccount::try_from(create("USD", i64::MAX)).expect_err("amount");
        assert_eq!(fields(&err), ["account.opening_balance.amount_minor"]);
        let err = NewAccount::try_from(pb::CreateAccountRequest::default()).expect_err("empty");
        assert_eq!(
            fields(&err),
            [
                "account.name",
                "account.kind",
                "account.opening_balance.currency_code"
            ]
        );
    }

    #[test]
    fn an_update_needs_a_mask_of_updatable_fields_then_an_id() {
        let update = |paths: &[&str], id: &str| {
            AccountUpdate::try_from(pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    id: id.into(),
                    name: "New".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                }),
            })
        };
        let id = Uuid::now_v7().to_string();
        assert_eq!(
            fields(&update(&["currency"], "x").expect_err("mask")),
            ["update_mask"]
        );
        assert_eq!(
            fields(&update(&["name"], "x").expect_err("id")),
            ["account.id"]
        );
        let err = update(&["name", "kind", "opening_balance"], &id).expect_err("fields");
        assert_eq!(fields(&err), ["account.kind", "account.opening_balance"]);
        let ok = update(&["name"], &id).expect("valid");
        assert_eq!(ok.name.map(Name::into_string).as_deref(), Some("New"));
        assert_eq!(ok.kind, None);
    }

    #[test]
    fn a_history_is_at_most_ten_years_and_not_backwards() {
        let query = |start: Date, end: Date| {
            BalanceHistoryQuery::try_from(pb::GetBalanceHistoryRequest {
                account_id: Uuid::now_v7().to_string(),
                start_date: Some(start),
                end_date: Some(end),
            })
        };
        let d = |year, month, day| Date { year, month, day };
        assert!(query(d(2026, 1, 1), d(2026, 1, 1)).is_ok());
        let err = query(d(2026, 1, 2), d(2026, 1, 1)).expect_err("backwards");
        assert_eq!(fields(&err), ["end_date"]);
        let err = query(d(2000, 1, 1), d(2026, 1, 1)).expect_err("too long");
        assert_eq!(fields(&err), ["end_date"]);
    }
}
