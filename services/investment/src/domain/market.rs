//! Daily closes and exchange rates as the arithmetic reads them: the
//! latest close on or before a day.

use std::collections::HashMap;

use chrono::NaiveDate;
use freedumb_kit::domain::Currency;
use rust_decimal::Decimal;
use uuid::Uuid;

/// One series of daily closes, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closes(Vec<(NaiveDate, Decimal)>);

impl Closes {
    /// The closes, sorted by day (the last of a day wins).
    pub fn new(mut closes: Vec<(NaiveDate, Decimal)>) -> Self {
        closes.sort_by_key(|(day, _)| *day);
        closes.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = later.1;
            }
            same
        });
        Self(closes)
    }

    /// The latest close on or before `day`, with its day.
    pub fn at(&self, day: NaiveDate) -> Option<(NaiveDate, Decimal)> {
        let after = self.0.partition_point(|(d, _)| *d <= day);
        after.checked_sub(1).map(|i| self.0[i])
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The series of the rate from `from` to `to` (units of `to` per unit of
/// `from`): `EUR/USD`.
pub fn fx_series(from: &str, to: &str) -> String {
    format!("{from}/{to}")
}

/// Exchange rates between currencies.
pub trait Rates {
    /// Units of `to` per unit of `from` on `day` (1 when they are the
    /// same), if known.
    fn rate(&self, from: Currency, to: Currency, day: NaiveDate) -> Option<Decimal>;
}

/// A rate that is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {from}/{to} exchange rate on or before {day}; the price worker has not fetched it yet")]
pub struct MissingRate {
    /// From this currency.
    pub from: &'static str,
    /// To this one.
    pub to: &'static str,
    /// On this day.
    pub day: NaiveDate,
}

/// `amount` of `from` in `to` on `day`.
pub fn convert(
    rates: &dyn Rates,
    amount: Decimal,
    from: Currency,
    to: Currency,
    day: NaiveDate,
) -> Result<Decimal, MissingRate> {
    if amount.is_zero() || from == to {
        return Ok(amount);
    }
    rates
        .rate(from, to, day)
        .map(|r| amount * r)
        .ok_or(MissingRate {
            from: from.code(),
            to: to.code(),
            day,
        })
}

/// The closes of a portfolio's instruments and the exchange rates between
/// their currencies, as loaded for one computation.
#[derive(Debug, Clone, Default)]
pub struct Market {
    closes: HashMap<Uuid, Closes>,
    fx: HashMap<(&'static str, &'static str), Closes>,
}

impl Market {
    /// An empty market.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an instrument's closes.
    pub fn add_closes(&mut self, instrument_id: Uuid, closes: Closes) {
        self.closes.insert(instrument_id, closes);
    }

    /// Adds the rates of `base`/`quote` (units of quote per unit of base).
    pub fn add_rates(&mut self, base: Currency, quote: Currency, closes: Closes) {
        self.fx.insert((base.code(), quote.code()), closes);
    }

    /// The instrument's latest close on or before `day`.
    pub fn close(&self, instrument_id: Uuid, day: NaiveDate) -> Option<(NaiveDate, Decimal)> {
        self.closes.get(&instrument_id)?.at(day)
    }
}

impl Rates for Market {
    fn rate(&self, from: Currency, to: Currency, day: NaiveDate) -> Option<Decimal> {
        if from == to {
            return Some(Decimal::ONE);
        }
        if let Some((_, r)) = self
            .fx
            .get(&(from.code(), to.code()))
            .and_then(|c| c.at(day))
        {
            return Some(r);
        }
        let (_, inverse) = self.fx.get(&(to.code(), from.code()))?.at(day)?;
        Decimal::ONE.checked_div(inverse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, d).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_close_is_the_latest_on_or_before_the_day() {
        let closes = Closes::new(vec![(day(5), dec("11")), (day(2), dec("10"))]);
        assert_eq!(closes.at(day(1)), None);
        assert_eq!(closes.at(day(2)), Some((day(2), dec("10"))));
        assert_eq!(closes.at(day(4)), Some((day(2), dec("10"))));
        assert_eq!(closes.at(day(9)), Some((day(5), dec("11"))));
    }

    #[test]
    fn rates_are_read_both_ways() {
        let (eur, usd, gbp) = (
            Currency::parse("EUR").unwrap(),
            Currency::parse("USD").unwrap(),
            Currency::parse("GBP").unwrap(),
        );
        let mut m = Market::new();
        m.add_rates(eur, usd, Closes::new(vec![(day(1), dec("1.25"))]));
        assert_eq!(m.rate(eur, usd, day(3)), Some(dec("1.25")));
        assert_eq!(m.rate(usd, eur, day(3)), Some(dec("0.8")));
        assert_eq!(m.rate(usd, usd, day(3)), Some(Decimal::ONE));
        assert_eq!(m.rate(gbp, usd, day(3)), None);
        let err = convert(&m, dec("5"), gbp, usd, day(3)).unwrap_err();
        assert!(err.to_string().contains("GBP/USD"), "{err}");
        assert_eq!(
            convert(&m, dec("10"), eur, usd, day(1)).unwrap(),
            dec("12.5")
        );
    }
}
