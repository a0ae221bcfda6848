//! Decimal quantities and prices as clients send them (decimal strings),
//! and money between decimals and integer minor units.

use freedumb_kit::domain::{Currency, truncate};
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::{Decimal, RoundingStrategy};

/// The most decimal places a quantity, price or ratio may carry.
pub const MAX_SCALE: u32 = 18;
/// Quantities and prices stay below this (10^12), so that any product
/// of the two fits in money's minor units.
const MAX_MAGNITUDE: i64 = 1_000_000_000_000;

/// A decimal string as written: digits with an optional sign and point,
/// no exponent, no grouping.
fn decimal(raw: &str) -> Result<Decimal, String> {
    if raw.is_empty() {
        return Err("is required (a decimal string such as \"12.5\")".into());
    }
    let body = raw.strip_prefix('-').unwrap_or(raw);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let plain = !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac);
    if !plain {
        return Err(format!(
            "`{}` is not a decimal number (digits, an optional point; no exponent)",
            truncate(raw, 40)
        ));
    }
    let value: Decimal = raw
        .parse()
        .map_err(|_| format!("`{}` is out of range", truncate(raw, 40)))?;
    if value.scale() > MAX_SCALE {
        return Err(format!("has more than {MAX_SCALE} decimal places"));
    }
    if value.abs() >= Decimal::from(MAX_MAGNITUDE) {
        return Err(format!("must be below {MAX_MAGNITUDE}"));
    }
    Ok(value.normalize())
}

/// A positive number of units (shares, coins, fund units).
pub fn quantity(raw: &str) -> Result<Decimal, String> {
    let q = decimal(raw)?;
    if q <= Decimal::ZERO {
        return Err(format!("must be positive, got {q}"));
    }
    Ok(q)
}

/// A price per unit: zero or more.
pub fn price(raw: &str) -> Result<Decimal, String> {
    let p = decimal(raw)?;
    if p < Decimal::ZERO {
        return Err(format!("must not be negative, got {p}"));
    }
    Ok(p)
}

/// A split's new units per old unit: positive and not 1.
pub fn split_ratio(raw: &str) -> Result<Decimal, String> {
    let r = decimal(raw)?;
    if r <= Decimal::ZERO || r == Decimal::ONE {
        return Err(format!("must be positive and not 1, got {r}"));
    }
    Ok(r)
}

/// A close: positive.
pub fn close(raw: &str) -> Result<Decimal, String> {
    let c = decimal(raw)?;
    if c <= Decimal::ZERO {
        return Err(format!("must be positive, got {c}"));
    }
    Ok(c)
}

/// `minor` minor units of `currency` as a decimal amount.
pub fn from_minor(minor: i64, currency: Currency) -> Decimal {
    Decimal::new(minor, currency.exponent())
}

/// `amount` in minor units of `currency`, half away from zero (saturating
/// at the bounds of `i64`, which inputs within their limits never reach).
pub fn to_minor(amount: Decimal, currency: Currency) -> i64 {
    let scaled = amount
        .round_dp_with_strategy(currency.exponent(), RoundingStrategy::MidpointAwayFromZero)
        .checked_mul(Decimal::from(10_i64.pow(currency.exponent())))
        .and_then(|d| d.to_i64());
    scaled.unwrap_or(if amount.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The API form of an amount.
pub fn money(amount: Decimal, currency: Currency) -> freedumb_proto::common::Money {
    freedumb_kit::domain::money(currency.code(), to_minor(amount, currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn decimal_strings_parse_exactly() {
        assert_eq!(quantity("12").unwrap(), Decimal::from(12));
        assert_eq!(quantity("0.00012345").unwrap().to_string(), "0.00012345");
        assert_eq!(quantity(".5").unwrap().to_string(), "0.5");
        assert_eq!(price("0").unwrap(), Decimal::ZERO);
        assert_eq!(price("187.4200").unwrap().to_string(), "187.42");
    }

    #[test]
    fn what_is_not_a_plain_decimal_is_refused_with_the_reason() {
        for raw in [
            "", "abc", "1e5", "1,5", " 1", "1.2.3", "+1", "NaN", "-", ".",
        ] {
            assert!(quantity(raw).is_err(), "{raw:?}");
        }
        assert!(quantity("-1").unwrap_err().contains("positive"));
        assert!(quantity("0").unwrap_err().contains("positive"));
        assert!(price("-0.01").unwrap_err().contains("negative"));
        assert!(quantity("1000000000000").unwrap_err().contains("below"));
        assert!(
            quantity("0.0000000000000000001")
                .unwrap_err()
                .contains("decimal places")
        );
        assert!(split_ratio("1").unwrap_err().contains("not 1"));
        assert!(close("0").is_err());
    }

    #[test]
    fn money_rounds_half_away_from_zero_in_minor_units() {
        assert_eq!(to_minor("12.345".parse().unwrap(), usd()), 1235);
        assert_eq!(to_minor("-12.345".parse().unwrap(), usd()), -1235);
        assert_eq!(to_minor("12.344".parse().unwrap(), usd()), 1234);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(to_minor("1500.5".parse().unwrap(), jpy), 1501);
        assert_eq!(from_minor(1234, usd()).to_string(), "12.34");
    }
}
