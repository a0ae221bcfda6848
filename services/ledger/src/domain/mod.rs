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
mod amount;
mod category;
mod currency;
mod date;
mod exchange;
#[cfg(test)]
pub(crate) mod fixtures;
mod id;
mod import_options;
mod page_size;
mod request_id;
mod rule;
mod splits;
mod tags;
mod text;
mod transaction;
mod transfer;

pub use self::account::{
    AccountKind, AccountListing, AccountUpdate, BalanceHistoryQuery, NewAccount,
};
pub use self::amount::{AmountMinor, MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR, MoneyInput};
pub use self::category::{CategoryDeletion, CategoryKind, CategoryUpdate, NewCategory};
pub use self::currency::Currency;
pub use self::date::{optional_date, required_date};
pub use self::exchange::ExchangeRate;
pub use self::id::{optional_id, required_id};
pub use self::import_options::ImportOptions;
pub use self::page_size::PageSize;
pub use self::request_id::{IdempotencyKey, RequestId};
pub use self::rule::{NewRule, RuleListing};
pub use self::splits::Splits;
pub use self::tags::Tags;
pub use self::text::{Description, Merchant, Name, Notes, RequiredText, SearchText, Text};
pub use self::transaction::{NewTransaction, TransactionPatch, TransactionQuery};
pub use self::transfer::{NewTransfer, TransferAmounts};

/// At most `max` characters of `s`, for quoting client input in messages.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

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
