//! One import, whatever the format: what the file is ([`detect`]), how to
//! read it ([`Plan`]), and the reading itself ([`run`]), which turns the
//! format's entries into lines of the account (minor units, duplicate
//! keys) and hands them on in batches.
//!
//! Everything here is synchronous and streams the file: memory holds one
//! batch, not the file. Run it off the async runtime's threads.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use rust_decimal::Decimal;

use super::encoding::{self, TextEncoding};
use super::entry::{Entry, EntryError, Sink, StatementError};
use super::fingerprint::{self, Fingerprints};
use super::{
    FileError, ImportFormat, LineError, MAX_AMOUNT_MINOR, ParsedLine, camt, mt940, ofx, qif,
    read_csv,
};

/// The statement formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Separated values.
    Csv,
    /// OFX 1.x/2.x and QFX.
    Ofx,
    /// Quicken Interchange Format.
    Qif,
    /// ISO 20022 camt.053 (and .052, .054).
    Camt,
    /// SWIFT MT940.
    Mt940,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ofx => "ofx",
            Self::Qif => "qif",
            Self::Camt => "camt053",
            Self::Mt940 => "mt940",
        }
    }

    /// From the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Csv, Self::Ofx, Self::Qif, Self::Camt, Self::Mt940]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// How to read one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A CSV file in this encoding and layout.
    Csv {
        /// Its text encoding.
        encoding: TextEncoding,
        /// Its layout.
        format: ImportFormat,
    },
    /// One of the self-describing formats.
    Structured(Kind),
}

impl Plan {
    /// The format.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Csv { .. } => Kind::Csv,
            Self::Structured(kind) => *kind,
        }
    }
}

/// What the file is, from its first bytes; `None` when it is none of the
/// formats (binary, or XML that is neither OFX nor CAMT).
pub fn detect(sample: &[u8]) -> Option<Kind> {
    let text = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = text.get(start..).unwrap_or_default();
    if text.is_empty() {
        // An empty file is a CSV without rows, reported as such.
        return Some(Kind::Csv);
    }
    // Text formats have no control characters but tabs and line breaks.
    if text
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
    {
        return None;
    }
    let head = String::from_utf8_lossy(text.get(..4096).unwrap_or(text)).to_ascii_uppercase();
    if head.starts_with("OFXHEADER") || head.starts_with("<OFX>") {
        return Some(Kind::Ofx);
    }
    if head.starts_with('<') {
        return if head.contains("CAMT.05") {
            Some(Kind::Camt)
        } else if head.contains("<?OFX") || head.contains("<OFX>") {
            Some(Kind::Ofx)
        } else {
            None
        };
    }
    if head.starts_with("!TYPE:") || head.starts_with("!ACCOUNT") || head.starts_with("!OPTION") {
        return Some(Kind::Qif);
    }
    if head.starts_with("{1:")
        || (head.starts_with(":20:") || head.contains("\n:20:"))
            && (head.contains(":61:") || head.contains(":60F:"))
    {
        return Some(Kind::Mt940);
    }
    Some(Kind::Csv)
}

/// The account the lines go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its currency (ISO 4217).
    pub currency: String,
    /// The currency's decimal places.
    pub exponent: u32,
}

/// One line to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line in the file.
    pub line: u64,
    /// The booking date.
    pub date: chrono::NaiveDate,
    /// Signed, in minor units.
    pub amount_minor: i64,
    /// The description.
    pub description: String,
    /// The counterparty.
    pub merchant: String,
    /// The duplicate key.
    pub key: [u8; 32],
}

impl From<ParsedLine> for Line {
    fn from(p: ParsedLine) -> Self {
        Self {
            line: p.line,
            date: p.date,
            amount_minor: p.amount_minor,
            description: p.description,
            merchant: p.merchant,
            key: p.fingerprint,
        }
    }
}

/// What one batch read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Good lines, in file order.
    pub lines: Vec<Line>,
    /// Bad lines, in file order.
    pub errors: Vec<LineError>,
    /// Entries read (good, bad and pending).
    pub read: u64,
    /// Entries not yet booked, skipped.
    pub pending: u64,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.read == 0
    }
}

/// Collects entries into batches of `size` lines (errors and pending
/// entries count towards a batch too, so a file of bad lines still
/// reports progress).
struct Batcher<'a> {
    size: usize,
    batch: Batch,
    send: &'a mut dyn FnMut(Batch) -> ControlFlow<()>,
}

impl Batcher<'_> {
    fn push(&mut self, item: Result<Line, LineError>) -> ControlFlow<()> {
        self.batch.read += 1;
        match item {
            Ok(line) => self.batch.lines.push(line),
            Err(error) => self.batch.errors.push(error),
        }
        self.flush_if_full()
    }

    fn pending(&mut self) -> ControlFlow<()> {
        self.batch.read += 1;
        self.batch.pending += 1;
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> ControlFlow<()> {
        if self.batch.read >= self.size as u64 {
            self.flush()
        } else {
            ControlFlow::Continue(())
        }
    }

    fn flush(&mut self) -> ControlFlow<()> {
        if self.batch.is_empty() {
            return ControlFlow::Continue(());
        }
        (self.send)(std::mem::take(&mut self.batch))
    }
}

/// Reads `input` by `plan` into lines of `target`, handing them to `send`
/// in batches of `batch_size` entries (the last one smaller); `send`
/// answers `Break` to stop (the import was cancelled).
///
/// # Errors
///
/// [`FileError`] when the file as a whole cannot be read; batches handed
/// on before the error stay handed on (a structured file broken near its
/// end, say).
pub fn run<R: Read>(
    plan: &Plan,
    target: &Target,
    input: R,
    batch_size: usize,
    send: &mut dyn FnMut(Batch) -> ControlFlow<()>,
) -> Result<(), FileError> {
    let mut batcher = Batcher {
        size: batch_size.max(1),
        batch: Batch::default(),
        send,
    };
    let stopped = match plan {
        Plan::Csv { encoding, format } => {
            let mut stopped = false;
            // UTF-8 is read as it is: a cell that is not UTF-8 is that
            // line's error, not a replacement character.
            let input: Box<dyn Read + '_> = if *encoding == TextEncoding::Utf8 {
                Box::new(input)
            } else {
                Box::new(encoding::decoding_reader(input, *encoding))
            };
            read_csv(format, target.exponent, input, &mut |item| {
                let flow = batcher.push(item.map(Line::from));
                stopped = flow.is_break();
                flow
            })?;
            stopped
        }
        Plan::Structured(kind) => {
            let mut entries = Entries {
                target,
                fingerprints: Fingerprints::default(),
            };
            let mut stopped = false;
            let mut sink = |item: Result<Entry, EntryError>| {
                let flow = match item {
                    Ok(entry) if entry.pending => batcher.pending(),
                    Ok(entry) => batcher.push(entries.line(entry)),
                    Err(error) => batcher.push(Err(LineError {
                        line: error.line,
                        field: error.field,
                        message: error.message,
                    })),
                };
                stopped = flow.is_break();
                flow
            };
            read_structured(*kind, BufReader::new(input), &mut sink)
                .map_err(FileError::Unreadable)?;
            stopped
        }
    };
    if !stopped {
        let _ = batcher.flush();
    }
    Ok(())
}

/// Hands the entries of a self-describing file to `sink`.
fn read_structured<R: BufRead>(
    kind: Kind,
    input: R,
    sink: &mut Sink<'_>,
) -> Result<(), StatementError> {
    match kind {
        Kind::Ofx => ofx::read_ofx(input, sink),
        Kind::Qif => qif::read_qif(input, sink),
        Kind::Camt => camt::read_camt(input, sink),
        Kind::Mt940 => mt940::read_mt940(input, sink),
        Kind::Csv => Err(StatementError::Malformed(
            "a CSV file is read with its layout".into(),
        )),
    }
}

/// Turns entries into lines of the target account.
struct Entries<'t> {
    target: &'t Target,
    fingerprints: Fingerprints,
}

impl Entries<'_> {
    fn line(&mut self, entry: Entry) -> Result<Line, LineError> {
        let fail = |field: &str, message: String| LineError {
            line: entry.line,
            field: field.to_owned(),
            message,
        };
        if let Some(currency) = &entry.currency
            && !currency.eq_ignore_ascii_case(&self.target.currency)
        {
            return Err(fail(
                "currency",
                format!(
                    "the entry is in {currency}; the account is in {}",
                    self.target.currency
                ),
            ));
        }
        let amount_minor = minor_units(entry.amount, self.target.exponent)
            .map_err(|message| fail("amount", message))?;
        let key = match &entry.bank_id {
            Some(id) => fingerprint::of_bank_id(id),
            None => self.fingerprints.of_line(
                entry.date,
                amount_minor,
                &entry.description,
                &entry.merchant,
            ),
        };
        Ok(Line {
            line: entry.line,
            date: entry.date,
            amount_minor,
            description: entry.description,
            merchant: entry.merchant,
            key,
        })
    }
}

/// `amount` in minor units of a currency with `exponent` decimals.
fn minor_units(amount: Decimal, exponent: u32) -> Result<i64, String> {
    let amount = amount.normalize();
    if amount.is_zero() {
        return Err("amount is zero".into());
    }
    if amount.scale() > exponent {
        return Err(format!(
            "`{amount}` has more decimal places than the account's currency ({exponent})"
        ));
    }
    let scaled = amount
        .checked_mul(Decimal::from(10_i64.pow(exponent)))
        .and_then(|m| i64::try_from(m).ok())
        .filter(|m| m.abs() <= MAX_AMOUNT_MINOR);
    scaled.ok_or_else(|| format!("`{amount}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_by_their_first_bytes() {
        let cases: [(&[u8], Option<Kind>); 12] = [
            (b"OFXHEADER:100\r\nDATA:OFXSGML\r\n", Some(Kind::Ofx)),
            (
                b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<?OFX OFXHEADER=\"200\"?><OFX>",
                Some(Kind::Ofx),
            ),
            (
                b"<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">",
                Some(Kind::Camt),
            ),
            (b"<?xml version=\"1.0\"?><html></html>", None),
            (b"!Type:Bank\nD01/02/2024\n", Some(Kind::Qif)),
            (b"!Option:AutoSwitch\n!Account\n", Some(Kind::Qif)),
            (b"{1:F01BANKDEFFXXXX}{2:O940}{4:\n:20:X\n", Some(Kind::Mt940)),
            (b":20:STATEMENT\r\n:25:123\r\n:60F:C240101EUR1,00\r\n", Some(Kind::Mt940)),
            (b"Date,Amount\n2024-01-01,1.00\n", Some(Kind::Csv)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", None),
            (b"PK\x03\x04\x14\0\x06\0", None),
            (b"", Some(Kind::Csv)),
        ];
        for (sample, kind) in cases {
            assert_eq!(
                detect(sample),
                kind,
                "{:?}",
                String::from_utf8_lossy(sample)
            );
        }
    }

    #[test]
    fn decimal_amounts_become_minor_units_of_the_account() {
        let d = |s: &str| s.parse::<Decimal>().expect("a decimal");
        assert_eq!(minor_units(d("-12.50"), 2), Ok(-1250));
        assert_eq!(minor_units(d("12.500"), 2), Ok(1250));
        assert_eq!(minor_units(d("1200"), 0), Ok(1200));
        assert!(minor_units(d("1.005"), 2).is_err());
        assert!(minor_units(d("0.00"), 2).is_err());
        assert!(minor_units(d("99999999999999999999"), 2).is_err());
    }
}
