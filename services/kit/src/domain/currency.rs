use std::fmt;

use super::truncate;

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
    fn a_long_unknown_code_is_quoted_truncated() {
        let err = Currency::parse("ABCDEFGHIJKLMNOP").expect_err("unknown");
        assert!(err.contains("`ABCDEFGH`"), "{err}");
    }
}
