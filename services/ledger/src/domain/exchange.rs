use std::str::FromStr as _;

use rust_decimal::{Decimal, RoundingStrategy};

use super::Currency;

/// The largest exchange rate taken (units of the destination per unit of
/// the source).
const MAX_RATE: i64 = 1_000_000_000;
/// The most decimal places of a rate.
const MAX_RATE_SCALE: u32 = 12;

/// Units of the destination currency per unit of the source currency, as
/// the client gave it; exactly 1 between two accounts of one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRate {
    rate: Decimal,
    from: Currency,
    to: Currency,
    text: String,
}

impl ExchangeRate {
    /// Parses `raw` (trimmed) as the rate from `from` to `to`: optional (and
    /// then 1) between two accounts of one currency, required otherwise.
    pub fn parse(raw: &str, from: Currency, to: Currency) -> Result<Self, String> {
        let rate = |rate: Decimal, text: &str| Self {
            rate,
            from,
            to,
            text: text.to_owned(),
        };
        if from == to {
            return match raw {
                "" => Ok(rate(Decimal::ONE, "1")),
                _ => match Decimal::from_str(raw) {
                    Ok(one) if one == Decimal::ONE => Ok(rate(one, "1")),
                    _ => Err(format!("must be empty or 1 between two {from} accounts")),
                },
            };
        }
        if raw.is_empty() {
            return Err(format!("is required to move {from} to {to}"));
        }
        let value =
            Decimal::from_str(raw).map_err(|_| format!("`{raw}` is not a decimal number"))?;
        if value <= Decimal::ZERO
            || value > Decimal::from(MAX_RATE)
            || value.scale() > MAX_RATE_SCALE
        {
            return Err("must be positive, at most 10^9, with at most 12 decimal places".into());
        }
        Ok(rate(value, raw))
    }

    /// The rate as recorded: as given, or `1` within one currency.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `amount` (source minor units) in destination minor units, rounded
    /// half away from zero; `None` when it does not fit an `i64`.
    pub fn convert(&self, amount: i64) -> Option<i64> {
        let shift = i64::from(self.to.exponent()) - i64::from(self.from.exponent());
        let scale = Decimal::from(10i64.checked_pow(u32::try_from(shift.unsigned_abs()).ok()?)?);
        let value = Decimal::from(amount).checked_mul(self.rate)?;
        let value = if shift >= 0 {
            value.checked_mul(scale)?
        } else {
            value.checked_div(scale)?
        };
        let rounded = value.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        i64::try_from(rounded).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).expect("currency")
    }

    fn convert(amount: i64, rate: &str, from: &str, to: &str) -> Option<i64> {
        ExchangeRate::parse(rate, c(from), c(to))
            .expect("rate")
            .convert(amount)
    }

    #[test]
    fn conversion_shifts_exponents_and_rounds_half_away() {
        // 10.00 USD at 150.5 JPY/USD = 1505 JPY.
        assert_eq!(convert(1000, "150.5", "USD", "JPY"), Some(1505));
        // 1505 JPY at 0.0066 = 9.933 USD -> 9.93.
        assert_eq!(convert(1505, "0.0066", "JPY", "USD"), Some(993));
        // 0.05 USD * 0.5 = 0.025 EUR -> 0.03 (half away from zero).
        assert_eq!(convert(5, "0.5", "USD", "EUR"), Some(3));
        // 1.000 BHD to USD at 2.65 = 2.65 USD.
        assert_eq!(convert(1000, "2.65", "BHD", "USD"), Some(265));
        assert_eq!(convert(i64::MAX, "1000000000", "USD", "JPY"), None);
    }

    #[test]
    fn rates_are_checked() {
        let rate = |raw: &str, from: &str, to: &str| ExchangeRate::parse(raw, c(from), c(to));
        assert_eq!(rate("", "USD", "USD").map(|r| r.rate), Ok(Decimal::ONE));
        assert_eq!(rate("1.0", "USD", "USD").expect("one").as_str(), "1");
        assert!(rate("1.5", "USD", "USD").is_err());
        assert!(rate("", "USD", "EUR").is_err());
        assert!(rate("-1", "USD", "EUR").is_err());
        assert!(rate("abc", "USD", "EUR").is_err());
        assert!(rate("1000000001", "USD", "EUR").is_err());
        assert!(rate("0.0000000000001", "USD", "EUR").is_err());
        assert_eq!(rate("0.9212", "USD", "EUR").expect("ok").as_str(), "0.9212");
    }
}
