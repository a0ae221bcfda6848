//! The ledger's value types, parsed at the edge so the rest trusts them:
//! currencies, amounts within bounds, booking dates, bounded text, tags,
//! request ids and page sizes.

use std::fmt;

use chrono::{Datelike as _, NaiveDate};
use freedumb_proto::google::r#type::Date;

/// The largest magnitude of one amount, in minor units (10^15: ten
/// trillion dollars). Balances stay within [`MAX_BALANCE_MINOR`], so no sum
/// the ledger computes can overflow an `i64`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// The largest magnitude of a balance, in minor units (10^17).
pub const MAX_BALANCE_MINOR: i64 = 100_000_000_000_000_000;

/// An ISO 4217 currency with minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: iso_currency::Currency,
    exponent: u32,
}

impl Currency {
    /// Parses an upper-case ISO 4217 code of a currency with minor units
    /// (`USD`, `JPY`, `BHD`; not `XAU`).
    pub fn parse(code: &str) -> Result<Self, String> {
        if code.is_empty() {
            return Err("is required (an ISO 4217 code such as USD)".into());
        }
        let currency = iso_currency::Currency::from_code(code)
            .ok_or_else(|| format!("`{}` is not an ISO 4217 currency code", truncate(code, 8)))?;
        let exponent = currency
            .exponent()
            .ok_or_else(|| format!("{code} is not a currency with minor units"))?;
        Ok(Self {
            code: currency,
            exponent: u32::from(exponent),
        })
    }

    /// The three-letter code.
    pub fn code(self) -> &'static str {
        self.code.code()
    }

    /// Decimal places of the minor unit (2 for USD, 0 for JPY).
    pub fn exponent(self) -> u32 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Checks an amount's magnitude.
pub fn amount(minor: i64) -> Result<i64, String> {
    if minor.unsigned_abs() > MAX_AMOUNT_MINOR.unsigned_abs() {
        return Err(format!("must be within ±{MAX_AMOUNT_MINOR} minor units"));
    }
    Ok(minor)
}

/// Checks an amount that must not be zero.
pub fn nonzero_amount(minor: i64) -> Result<i64, String> {
    match amount(minor)? {
        0 => Err("must not be zero".into()),
        v => Ok(v),
    }
}

/// Money as the API carries it, checked against the expected currency.
pub fn money_in(
    money: Option<&freedumb_proto::common::Money>,
    currency: Currency,
) -> Result<i64, String> {
    let money = money.ok_or("is required")?;
    if money.currency_code != currency.code() {
        return Err(format!(
            "currency {} does not match the account's currency {currency}",
            if money.currency_code.is_empty() {
                "(empty)"
            } else {
                truncate(&money.currency_code, 8)
            }
        ));
    }
    amount(money.amount_minor)
}

/// The API form of an amount.
pub fn money(currency: &str, minor: i64) -> freedumb_proto::common::Money {
    freedumb_proto::common::Money {
        currency_code: currency.to_owned(),
        amount_minor: minor,
    }
}

/// A `google.type.Date` as a full calendar date (year 1 to 9999).
pub fn date(date: Option<&Date>) -> Result<NaiveDate, String> {
    let d = date.ok_or("is required")?;
    if !(1..=9999).contains(&d.year) {
        return Err(format!("year {} is outside 1 to 9999", d.year));
    }
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .ok_or_else(|| {
            format!(
                "{}-{:02}-{:02} is not a calendar date",
                d.year, d.month, d.day
            )
        })
}

/// An optional date: absent, or a full calendar date.
pub fn optional_date(d: Option<&Date>) -> Result<Option<NaiveDate>, String> {
    d.map(|d| date(Some(d))).transpose()
}

/// The API form of a date.
pub fn to_date(d: NaiveDate) -> Date {
    Date {
        year: d.year(),
        month: i32::try_from(d.month()).unwrap_or_default(),
        day: i32::try_from(d.day()).unwrap_or_default(),
    }
}

/// Trimmed text of at most `max` characters; `required` rejects empty.
pub fn text(value: &str, max: usize, required: bool) -> Result<String, String> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}

/// At most 20 distinct tags of 1 to 50 characters, trimmed, lower-cased,
/// sorted.
pub fn tags(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > 20 {
        return Err("at most 20 tags".into());
    }
    let mut out = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > 50 {
            return Err("each tag must be 1 to 50 characters".into());
        }
        if tag.chars().any(char::is_control) {
            return Err("tags must not contain control characters".into());
        }
        out.push(tag);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A create's idempotency key: absent, or 1 to 128 printable characters.
pub fn request_id(raw: &str) -> Result<Option<String>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > 128 || raw.chars().any(char::is_control) {
        return Err("must be 1 to 128 printable characters".into());
    }
    Ok(Some(raw.to_owned()))
}

/// A UUID id of the API (any version; the ledger issues UUIDv7).
pub fn id(raw: &str) -> Result<uuid::Uuid, String> {
    if raw.is_empty() {
        return Err("is required".into());
    }
    uuid::Uuid::try_parse(raw).map_err(|_| format!("`{}` is not a valid id", truncate(raw, 40)))
}

/// An optional id: empty means absent.
pub fn optional_id(raw: &str) -> Result<Option<uuid::Uuid>, String> {
    if raw.is_empty() {
        Ok(None)
    } else {
        id(raw).map(Some)
    }
}

/// A page size: 0 means `default`, otherwise 1 to 1000.
pub fn page_size(raw: i32, default: u32) -> Result<u32, String> {
    match raw {
        0 => Ok(default),
        1..=1000 => Ok(raw.unsigned_abs()),
        _ => Err(format!("must be 1 to 1000 (or 0 for {default}), got {raw}")),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_need_minor_units() {
        assert_eq!(Currency::parse("USD").expect("usd").exponent(), 2);
        assert_eq!(Currency::parse("JPY").expect("jpy").exponent(), 0);
        assert_eq!(Currency::parse("BHD").expect("bhd").exponent(), 3);
        assert!(Currency::parse("XAU").is_err());
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("ABC").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn amounts_are_bounded() {
        assert!(amount(MAX_AMOUNT_MINOR).is_ok());
        assert!(amount(-MAX_AMOUNT_MINOR).is_ok());
        assert!(amount(MAX_AMOUNT_MINOR + 1).is_err());
        assert!(amount(i64::MIN).is_err());
        assert!(nonzero_amount(0).is_err());
    }

    #[test]
    fn money_must_match_the_currency() {
        let usd = Currency::parse("USD").expect("usd");
        assert_eq!(money_in(Some(&money("USD", 5)), usd), Ok(5));
        let err = money_in(Some(&money("EUR", 5)), usd).expect_err("mismatch");
        assert!(err.contains("EUR"), "{err}");
        assert!(money_in(None, usd).is_err());
    }

    #[test]
    fn dates_are_calendar_dates() {
        let ok = Date {
            year: 2024,
            month: 2,
            day: 29,
        };
        assert_eq!(
            date(Some(&ok)),
            Ok(NaiveDate::from_ymd_opt(2024, 2, 29).expect("date"))
        );
        assert!(
            date(Some(&Date {
                year: 2023,
                month: 2,
                day: 29
            }))
            .is_err()
        );
        assert!(
            date(Some(&Date {
                year: 0,
                month: 1,
                day: 1
            }))
            .is_err()
        );
        assert!(
            date(Some(&Date {
                year: 10000,
                month: 1,
                day: 1
            }))
            .is_err()
        );
        assert!(
            date(Some(&Date {
                year: 2024,
                month: -1,
                day: 1
            }))
            .is_err()
        );
        assert!(date(None).is_err());
        let round = to_date(NaiveDate::from_ymd_opt(1999, 12, 31).expect("date"));
        assert_eq!((round.year, round.month, round.day), (1999, 12, 31));
    }

    #[test]
    fn tags_are_normalized() {
        let raw = vec![" Food ".to_owned(), "food".to_owned(), "trip".to_owned()];
        assert_eq!(tags(&raw), Ok(vec!["food".to_owned(), "trip".to_owned()]));
        assert!(tags(&[String::new()]).is_err());
        assert!(tags(&vec!["x".to_owned(); 21]).is_err());
    }

    #[test]
    fn page_sizes_and_ids() {
        assert_eq!(page_size(0, 50), Ok(50));
        assert_eq!(page_size(1000, 50), Ok(1000));
        assert!(page_size(1001, 50).is_err());
        assert!(page_size(-1, 50).is_err());
        assert!(id("nope").is_err());
        assert!(id("").is_err());
        assert_eq!(optional_id(""), Ok(None));
        assert!(request_id(&"x".repeat(129)).is_err());
        assert_eq!(request_id(""), Ok(None));
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("  hi ", 10, true), Ok("hi".to_owned()));
        assert!(text("   ", 10, true).is_err());
        assert!(text(&"é".repeat(11), 10, false).is_err());
        assert!(text("a\u{0}b", 10, false).is_err());
    }
}
