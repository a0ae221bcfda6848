//! Value types every domain parses its requests into, at the door, so the
//! rest of a crate trusts them: currencies, bounded amounts, calendar dates,
//! ids, bounded text and page sizes. Each parser returns the reason a value
//! is refused, for a field violation.

mod amount;
mod currency;
mod date;
mod id;
mod page_size;
mod text;

pub use self::amount::{AmountMinor, MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR, MoneyInput};
pub use self::currency::Currency;
pub use self::date::{optional_date, required_date};
pub use self::id::{optional_id, request_id, required_id};
pub use self::page_size::PageSize;
pub use self::text::{Name, RequiredText, Text};

/// The API form of an amount.
pub fn money(currency: &str, minor: i64) -> freedumb_proto::common::Money {
    freedumb_proto::common::Money {
        currency_code: currency.to_owned(),
        amount_minor: minor,
    }
}

/// The API form of a date.
pub fn date(d: chrono::NaiveDate) -> freedumb_proto::google::r#type::Date {
    use chrono::Datelike as _;
    freedumb_proto::google::r#type::Date {
        year: d.year(),
        // Months and days are below 32: the conversions cannot fail.
        month: i32::try_from(d.month()).unwrap_or_default(),
        day: i32::try_from(d.day()).unwrap_or_default(),
    }
}

/// At most `max` characters of `s`, for quoting client input in messages.
pub fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
