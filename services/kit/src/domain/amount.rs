use freedumb_proto::common::Money;

use super::{Currency, truncate};

/// The largest magnitude of one amount, in minor units (10^15: ten
/// trillion dollars). Balances stay within [`MAX_BALANCE_MINOR`], so no sum
/// the ledger computes can overflow an `i64`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// The largest magnitude of a balance, in minor units (10^17).
pub const MAX_BALANCE_MINOR: i64 = 100_000_000_000_000_000;

/// A signed amount in minor units within ±[`MAX_AMOUNT_MINOR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmountMinor(i64);

impl AmountMinor {
    /// Checks an amount's magnitude.
    pub fn parse(minor: i64) -> Result<Self, String> {
        if minor.unsigned_abs() > MAX_AMOUNT_MINOR.unsigned_abs() {
            return Err(format!("must be within ±{MAX_AMOUNT_MINOR} minor units"));
        }
        Ok(Self(minor))
    }

    /// Checks an amount that must not be zero.
    pub fn nonzero(minor: i64) -> Result<Self, String> {
        match Self::parse(minor)? {
            Self(0) => Err("must not be zero".into()),
            amount => Ok(amount),
        }
    }

    /// The amount in minor units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Money as the client sent it: a currency code and an amount, not yet
/// checked against the currency of the account it is for (which the door
/// does not know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyInput {
    currency_code: String,
    amount_minor: i64,
}

impl MoneyInput {
    /// The request's money field, which must be present.
    pub fn required(money: Option<&Money>) -> Result<Self, String> {
        let money = money.ok_or("is required")?;
        Ok(Self {
            currency_code: money.currency_code.clone(),
            amount_minor: money.amount_minor,
        })
    }

    /// The amount as sent, unchecked: only for rules that compare with
    /// other parts of the same request (split signs) before the account's
    /// currency is known.
    pub fn raw_minor(&self) -> i64 {
        self.amount_minor
    }

    /// The amount, if it is in `currency` and within bounds.
    pub fn in_currency(&self, currency: Currency) -> Result<AmountMinor, String> {
        if self.currency_code != currency.code() {
            return Err(format!(
                "currency {} does not match the account's currency {currency}",
                if self.currency_code.is_empty() {
                    "(empty)"
                } else {
                    truncate(&self.currency_code, 8)
                }
            ));
        }
        AmountMinor::parse(self.amount_minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(code: &str, minor: i64) -> Money {
        Money {
            currency_code: code.to_owned(),
            amount_minor: minor,
        }
    }

    #[test]
    fn amounts_are_bounded() {
        assert!(AmountMinor::parse(MAX_AMOUNT_MINOR).is_ok());
        assert!(AmountMinor::parse(-MAX_AMOUNT_MINOR).is_ok());
        assert!(AmountMinor::parse(MAX_AMOUNT_MINOR + 1).is_err());
        assert!(AmountMinor::parse(i64::MIN).is_err());
        assert!(AmountMinor::nonzero(0).is_err());
        assert_eq!(AmountMinor::nonzero(-5).map(AmountMinor::get), Ok(-5));
    }

    #[test]
    fn no_sum_of_balances_and_amounts_overflows() {
        assert!(MAX_BALANCE_MINOR.checked_add(MAX_AMOUNT_MINOR).is_some());
        assert!((-MAX_BALANCE_MINOR).checked_sub(MAX_AMOUNT_MINOR).is_some());
    }

    #[test]
    fn money_must_match_the_currency() {
        let usd = Currency::parse("USD").expect("usd");
        let five = MoneyInput::required(Some(&money("USD", 5))).expect("present");
        assert_eq!(five.in_currency(usd).map(AmountMinor::get), Ok(5));
        let euros = MoneyInput::required(Some(&money("EUR", 5))).expect("present");
        let err = euros.in_currency(usd).expect_err("mismatch");
        assert!(err.contains("EUR"), "{err}");
        let empty = MoneyInput::required(Some(&money("", 5))).expect("present");
        assert!(
            empty
                .in_currency(usd)
                .expect_err("empty")
                .contains("(empty)")
        );
        assert!(MoneyInput::required(None).is_err());
    }

    #[test]
    fn money_out_of_bounds_is_refused_in_the_right_currency() {
        let usd = Currency::parse("USD").expect("usd");
        let huge = MoneyInput::required(Some(&money("USD", i64::MAX))).expect("present");
        assert_eq!(huge.raw_minor(), i64::MAX);
        assert!(huge.in_currency(usd).is_err());
    }
}
