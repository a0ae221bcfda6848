//! The ledger's value types and validated requests, parsed at the door so
//! the rest of the crate trusts them: currencies, bounded amounts, booking
//! dates, bounded text, tags, request ids, page sizes, and one validated
//! struct per request (`NewAccount`, `TransactionPatch`, …) built with
//! `TryFrom<pb::…Request>`.
//!
//! Field paths in [`FieldViolations`](freedumb_kit::FieldViolations) are the
//! request's proto paths (`account.opening_balance.amount_minor`,
//! `splits[1].category_id`); clients and tests rely on them.

mod account;
mod category;
mod exchange;
#[cfg(test)]
pub(crate) mod fixtures;
mod import_options;
mod request_id;
mod rule;
mod splits;
mod tags;
mod transaction;
mod transfer;

pub use self::account::{
    AccountKind, AccountListing, AccountUpdate, BalanceHistoryQuery, NewAccount,
};
pub use self::category::{CategoryDeletion, CategoryKind, CategoryUpdate, NewCategory};
pub use self::exchange::ExchangeRate;
pub use self::import_options::{ImportFields, ImportOptions, ImportRequest};
pub use self::request_id::{IdempotencyKey, RequestId};
pub use self::rule::{NewRule, RuleListing};
pub use self::splits::Splits;
pub use self::tags::Tags;
pub use self::transaction::{NewTransaction, TransactionPatch, TransactionQuery};
pub use self::transfer::{NewTransfer, TransferAmounts};
pub use freedumb_kit::domain::{
    AmountMinor, Currency, MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR, MoneyInput, Name, PageSize,
    RequiredText, Text, optional_date, optional_id, required_date, required_id,
};

/// What a transaction, transfer or rule is for.
pub type Description = Text<500>;
/// Who was paid or paid.
pub type Merchant = Text<200>;
/// The owner's notes on a transaction.
pub type Notes = Text<2000>;
/// A substring searched for in descriptions and merchants.
pub type SearchText = Text<200>;

/// Copies the violations of `inner` into `v`, each field under `prefix`
/// (`splits[0].amount_minor` becomes `transaction.splits[0].amount_minor`
/// under `transaction.`).
pub(crate) fn merge_violations(
    v: &mut freedumb_kit::FieldViolations,
    prefix: &str,
    inner: &freedumb_kit::FieldViolations,
) {
    for (field, why) in inner.iter() {
        v.add(format!("{prefix}{field}"), why.clone());
    }
}

/// The value `build` makes from a request's parsed fields, or every
/// violation recorded in `v` while parsing them. `build` uses `?` on each
/// field: a field is `None` only when parsing it recorded why in `v`, so
/// no validated request is ever re-checked.
fn validated<T>(
    v: freedumb_kit::FieldViolations,
    build: impl FnOnce() -> Option<T>,
) -> Result<T, freedumb_kit::FieldViolations> {
    match build() {
        Some(value) if v.is_empty() => Ok(value),
        _ => Err(v),
    }
}

/// Violations holding the one problem `why` with `field`.
fn violation(field: &str, why: impl Into<String>) -> freedumb_kit::FieldViolations {
    let mut v = freedumb_kit::FieldViolations::new();
    v.add(field, why);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_limits_are_the_api_limits() {
        assert!(Description::parse(&"x".repeat(500)).is_ok());
        assert!(Description::parse(&"x".repeat(501)).is_err());
        assert!(Merchant::parse(&"x".repeat(201)).is_err());
        assert!(Notes::parse(&"x".repeat(2000)).is_ok());
        assert!(SearchText::parse(&"x".repeat(201)).is_err());
    }
}
