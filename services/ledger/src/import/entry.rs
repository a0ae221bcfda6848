//! What every statement reader produces: entries as the bank wrote them,
//! or the error of one entry; the caller converts amounts to minor units,
//! checks currencies, computes duplicate keys and writes in batches.
//!
//! Readers take `impl BufRead` and never hold the whole file: they hand
//! each entry to `sink` as soon as it is complete. `sink` returns
//! `ControlFlow::Break(())` when the caller wants to stop (a cancelled
//! import); the reader then returns `Ok(())` at once.

use std::ops::ControlFlow;

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// One transaction of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line of the file where the entry starts (for messages).
    pub line: u64,
    /// The booking (posted) date.
    pub date: NaiveDate,
    /// Signed: negative is money out of the account.
    pub amount: Decimal,
    /// ISO 4217 code when the file states one for this entry or the
    /// whole statement (upper case), else `None`.
    pub currency: Option<String>,
    /// What the bank says the entry is (memo, remittance information,
    /// narrative), trimmed, whitespace runs collapsed to one space.
    pub description: String,
    /// The payee or counterparty name, trimmed; empty when none.
    pub merchant: String,
    /// The bank's own id of the entry when the format has one (OFX
    /// `FITID`, CAMT `AcctSvcrRef`, MT940 bank reference): the
    /// duplicate key. `None` when absent or empty.
    pub bank_id: Option<String>,
    /// Not yet booked (CAMT `Sts` PDNG, ...): the caller skips it.
    pub pending: bool,
}

/// Why one entry was not read. The reader goes on with the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// 1-based line where the entry starts.
    pub line: u64,
    /// The format's own name of the offending field ("DTPOSTED", "TRNAMT",
    /// ":61:", "Amt", "D"), empty for the entry as a whole.
    pub field: String,
    /// What is wrong, quoting the value (cut to 40 chars) where that helps.
    pub message: String,
}

/// The file as a whole cannot be read: nothing of it is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not this format at all, or broken beyond one entry (unclosed
    /// element, missing header, wrong root element). The message says
    /// where (line) and what.
    #[error("{0}")]
    Malformed(String),
    /// Something a statement must not contain: a DOCTYPE or entity
    /// declaration in XML (entity expansion is refused, not performed),
    /// a line or element longer than the limit.
    #[error("{0}")]
    Refused(String),
    /// Reading the input failed.
    #[error("reading the file: {0}")]
    Io(String),
}

/// Where readers send what they read.
pub type Sink<'a> = dyn FnMut(Result<Entry, EntryError>) -> ControlFlow<()> + 'a;

/// The longest physical line (or XML text node) a reader accepts, in
/// bytes; longer is `StatementError::Refused`.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest description kept, in characters (longer is cut, not an error).
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The longest merchant kept, in characters (longer is cut, not an error).
pub const MAX_MERCHANT_CHARS: usize = 200;

/// `text` trimmed, whitespace runs collapsed, control characters dropped,
/// cut to `max` characters: what the ledger's `Text` fields hold.
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for word in text.split_whitespace() {
        let mut chars = word.chars().filter(|c| !c.is_control()).peekable();
        if chars.peek().is_none() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(chars);
    }
    if out.chars().count() > max {
        out = out.chars().take(max).collect();
        // A cut between two words must not leave the space.
        out.truncate(out.trim_end().len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn clean_text_is_what_a_text_field_holds() {
        assert_eq!(clean("  Coffee \t shop\r\n", 500), "Coffee shop");
        assert_eq!(clean("a\u{0}b \u{1} c\u{85}d", 500), "ab c d");
        assert_eq!(clean("one two three", 7), "one two");
        let cleaned = clean("x\u{7f}y \u{9b} z", 500);
        assert_eq!(cleaned, "xy z");
        assert!(freedumb_kit::domain::Text::<500>::parse(&cleaned).is_ok());
    }
}
