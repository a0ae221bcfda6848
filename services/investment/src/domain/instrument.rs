//! Instruments: a ticker symbol, an optional ISIN, a name, a kind and a
//! currency.

use std::fmt;

use freedumb_kit::domain::{Currency, RequiredText, truncate};
use freedumb_kit::{FieldViolations, UpdateMask};
use freedumb_proto::investment as pb;

/// A ticker as the price provider knows it: 1 to 32 of letters, digits
/// and `.-:^=_`, upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

impl Symbol {
    /// Parses a symbol, upper-casing it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("is required (the ticker, e.g. \"AAPL\")".into());
        }
        if raw.len() > 32 {
            return Err("must be at most 32 characters".into());
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".-:^=_".contains(*c)))
        {
            return Err(format!(
                "`{}` has `{bad}`; use letters, digits and .-:^=_",
                truncate(raw, 32)
            ));
        }
        Ok(Self(raw.to_ascii_uppercase()))
    }

    /// The symbol.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 6166 International Securities Identification Number: two
/// letters, nine letters or digits, and a check digit that matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isin(String);

impl Isin {
    /// Parses an ISIN, upper-casing it; empty means none.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        if raw.is_empty() {
            return Ok(None);
        }
        let isin = raw.to_ascii_uppercase();
        let b = isin.as_bytes();
        let shape = b.len() == 12
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..11].iter().all(u8::is_ascii_alphanumeric)
            && b[11].is_ascii_digit();
        if !shape {
            return Err(format!(
                "`{}` is not an ISIN (2 letters, 9 letters or digits, a check digit)",
                truncate(raw, 16)
            ));
        }
        if check_digit(&b[..11]) != b[11] - b'0' {
            return Err(format!("`{isin}` has a wrong check digit"));
        }
        Ok(Some(Self(isin)))
    }

    /// The ISIN.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The ISIN check digit of the first eleven characters: letters become
/// two digits (A = 10), then the Luhn algorithm over the digit string.
fn check_digit(body: &[u8]) -> u8 {
    let mut digits = Vec::with_capacity(22);
    for &c in body {
        if c.is_ascii_digit() {
            digits.push(c - b'0');
        } else {
            let n = c - b'A' + 10;
            digits.extend([n / 10, n % 10]);
        }
    }
    // Luhn: double every second digit from the right (the check digit's
    // position counts as the first).
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    // The remainder is below 10: the cast cannot truncate.
    ((10 - sum % 10) % 10) as u8
}

/// What kind of thing an instrument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentKind {
    /// A share.
    Stock,
    /// An exchange-traded fund.
    Etf,
    /// A mutual fund.
    Fund,
    /// A bond.
    Bond,
    /// A crypto currency.
    Crypto,
    /// Cash or a money-market position.
    Cash,
}

impl InstrumentKind {
    /// From the API enum.
    pub fn from_proto(raw: i32) -> Result<Self, String> {
        use pb::InstrumentKind as K;
        match K::try_from(raw) {
            Ok(K::Stock) => Ok(Self::Stock),
            Ok(K::Etf) => Ok(Self::Etf),
            Ok(K::Fund) => Ok(Self::Fund),
            Ok(K::Bond) => Ok(Self::Bond),
            Ok(K::Crypto) => Ok(Self::Crypto),
            Ok(K::Cash) => Ok(Self::Cash),
            _ => Err("is required: STOCK, ETF, FUND, BOND, CRYPTO or CASH".into()),
        }
    }

    /// The API enum.
    pub fn to_proto(self) -> pb::InstrumentKind {
        use pb::InstrumentKind as K;
        match self {
            Self::Stock => K::Stock,
            Self::Etf => K::Etf,
            Self::Fund => K::Fund,
            Self::Bond => K::Bond,
            Self::Crypto => K::Crypto,
            Self::Cash => K::Cash,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stock => "stock",
            Self::Etf => "etf",
            Self::Fund => "fund",
            Self::Bond => "bond",
            Self::Crypto => "crypto",
            Self::Cash => "cash",
        }
    }

    /// From the stored name.
    pub fn from_stored(raw: &str) -> Option<Self> {
        [
            Self::Stock,
            Self::Etf,
            Self::Fund,
            Self::Bond,
            Self::Crypto,
            Self::Cash,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// An instrument's content, valid as a whole.
#[derive(Debug, Clone)]
pub struct InstrumentSpec {
    /// Its ticker.
    pub symbol: Symbol,
    /// Its ISIN, where known.
    pub isin: Option<Isin>,
    /// Its name.
    pub name: RequiredText<200>,
    /// Its kind.
    pub kind: InstrumentKind,
    /// Its currency.
    pub currency: Currency,
}

/// The fields `UpdateInstrument` may change.
pub const INSTRUMENT_UPDATABLE: &[&str] = &["name", "isin", "kind"];

impl InstrumentSpec {
    /// Checks `instrument`, naming fields under `instrument.`.
    pub fn parse(instrument: &pb::Instrument) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let symbol = v.check("instrument.symbol", Symbol::parse(&instrument.symbol));
        let isin = v.check("instrument.isin", Isin::parse(&instrument.isin));
        let name = v.check("instrument.name", RequiredText::parse(&instrument.name));
        let kind = v.check(
            "instrument.kind",
            InstrumentKind::from_proto(instrument.kind),
        );
        let currency = v.check(
            "instrument.currency_code",
            Currency::parse(&instrument.currency_code),
        );
        match (symbol, isin, name, kind, currency) {
            (Some(symbol), Some(isin), Some(name), Some(kind), Some(currency)) if v.is_empty() => {
                Ok(Self {
                    symbol,
                    isin,
                    name,
                    kind,
                    currency,
                })
            }
            _ => Err(v),
        }
    }
}

/// `current` with the fields of `mask` taken from `patch`.
pub fn merge_instrument(
    current: &pb::Instrument,
    patch: &pb::Instrument,
    mask: &UpdateMask,
) -> pb::Instrument {
    let mut merged = current.clone();
    if mask.contains("name") {
        merged.name.clone_from(&patch.name);
    }
    if mask.contains("isin") {
        merged.isin.clone_from(&patch.isin);
    }
    if mask.contains("kind") {
        merged.kind = patch.kind;
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_upper_cased_and_bounded() {
        assert_eq!(Symbol::parse("vwce.de").unwrap().as_str(), "VWCE.DE");
        assert_eq!(Symbol::parse("BTC-USD").unwrap().as_str(), "BTC-USD");
        assert!(Symbol::parse("").is_err());
        assert!(Symbol::parse("A B").unwrap_err().contains('`'));
        assert!(Symbol::parse("EUR/USD").is_err());
        assert!(Symbol::parse(&"A".repeat(33)).is_err());
    }

    #[test]
    fn isins_are_checked_by_their_check_digit() {
        // Apple, Microsoft, the iShares Core MSCI World (Ireland), and
        // the BAE Systems example of ISO 6166 (GB0002634946).
        for good in [
            "US0378331005",
            "US5949181045",
            "IE00B4L5Y983",
            "gb0002634946",
        ] {
            assert!(Isin::parse(good).unwrap().is_some(), "{good}");
        }
        assert!(
            Isin::parse("US0378331006")
                .unwrap_err()
                .contains("check digit")
        );
        assert!(
            Isin::parse("US037833100")
                .unwrap_err()
                .contains("not an ISIN")
        );
        assert_eq!(Isin::parse("").unwrap(), None);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let err = InstrumentSpec::parse(&pb::Instrument {
            symbol: "A B".into(),
            isin: "X".into(),
            name: String::new(),
            kind: 0,
            currency_code: "usd".into(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = err.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "instrument.symbol",
                "instrument.isin",
                "instrument.name",
                "instrument.kind",
                "instrument.currency_code"
            ]
        );
    }
}
