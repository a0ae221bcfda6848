//! SWIFT MT940 customer statements, with or without the `{1:}{2:}{4:`
//! block headers, one or several messages per file (ended by `-}` or `-`).
//!
//! The file is read line by line (each line at most [`MAX_LINE_BYTES`]);
//! a line that is not UTF-8 is decoded as Windows-1252 (a superset of
//! ISO-8859-1, the usual encoding of bank exports). A field (a tag and its
//! continuation lines) is at most [`MAX_LINE_BYTES`] long in total.

use std::borrow::Cow;
use std::io::{BufRead, ErrorKind};
use std::ops::ControlFlow;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use encoding_rs::WINDOWS_1252;
use rust_decimal::Decimal;

use super::entry::{
    Entry, EntryError, MAX_DESCRIPTION_CHARS, MAX_LINE_BYTES, MAX_MERCHANT_CHARS, Sink,
    StatementError, clean,
};

/// Sub-field length of the German structured `:86:` (DFÜ-Abkommen): a
/// sub-field this long was probably cut in the middle of a word.
const SUBFIELD_CHARS: usize = 27;

/// Line length of an MT940 `:86:`: a line this long was probably cut in
/// the middle of a word.
const LINE_CHARS: usize = 65;

/// SEPA identifiers of the structured purpose (`SVWZ+` is the free text).
const SEPA_KEYS: [&str; 13] = [
    "EREF+", "KREF+", "MREF+", "CRED+", "DEBT+", "COAM+", "OAMT+", "SVWZ+", "ABWA+", "ABWE+",
    "IBAN+", "BIC+", "SQTP+",
];

/// Reads an MT940 statement and sends one [`Entry`] per `:61:` to `sink`.
///
/// * date: the entry (booking) date `MMDD` of the `:61:` (its year from
///   the value date, across New Year when that is nearer), else the value
///   date; `YY` 00-79 is 20YY, 80-99 is 19YY.
/// * amount: negative for `D` and `RC` (a reversed credit), positive for
///   `C` and `RD`; currency from the `:60F:`/`:60M:` before.
/// * bank_id: the bank reference after `//`, `None` when empty.
/// * description and merchant: from the `:86:` after the `:61:`. A German
///   structured `:86:` (`NNN?00...?20...?32...`) gives the purpose
///   `?20`-`?29`, `?60`-`?63` (the text after `SVWZ+` when there is one;
///   else without the SEPA keys; else the posting text `?00`) and the
///   merchant `?32`+`?33`. Any other `:86:` is the description as a whole
///   and the merchant is empty. Without `:86:`, the supplementary details
///   (second line) of the `:61:` are the description.
///
/// A `:61:` that cannot be read is sent as an [`EntryError`] for `:61:`
/// and reading goes on. A file without any `:20:`, `:60F:`/`:60M:` or
/// `:61:` is `StatementError::Malformed`; a line or field longer than
/// [`MAX_LINE_BYTES`] is `StatementError::Refused`.
pub fn read_mt940<R: BufRead>(mut input: R, sink: &mut Sink<'_>) -> Result<(), StatementError> {
    let mut raw = Vec::new();
    let mut number = 0_u64;
    let mut statement = Statement::default();
    while read_line(&mut input, &mut raw, number + 1)? {
        number += 1;
        let text = decode(&raw);
        let mut text: &str = &text;
        if number == 1 {
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        // A lone CR also ends a line (some exports use CR or CR CR LF).
        for piece in text.split('\r') {
            if statement.line(piece, number, sink)?.is_break() {
                return Ok(());
            }
        }
    }
    if statement.end_message(sink).is_break() {
        return Ok(());
    }
    if !statement.seen_tags {
        return Err(StatementError::Malformed(
            "no MT940 field :20:, :60F: or :61: found: not an MT940 statement".to_owned(),
        ));
    }
    Ok(())
}

/// Reads one line (without its LF) into `out`; `false` at the end of input.
fn read_line<R: BufRead>(
    input: &mut R,
    out: &mut Vec<u8>,
    number: u64,
) -> Result<bool, StatementError> {
    out.clear();
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(StatementError::Io(err.to_string())),
        };
        if available.is_empty() {
            return Ok(!out.is_empty());
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        // Room for the line, a CR and the LF.
        if out.len() + take > MAX_LINE_BYTES + 2 {
            return Err(too_long(number));
        }
        out.extend_from_slice(&available[..take]);
        input.consume(take);
        if done {
            out.pop();
            if out.last() == Some(&b'\r') {
                out.pop();
            }
            if out.len() > MAX_LINE_BYTES {
                return Err(too_long(number));
            }
            return Ok(true);
        }
    }
}

fn too_long(number: u64) -> StatementError {
    StatementError::Refused(format!("line {number}: longer than {MAX_LINE_BYTES} bytes"))
}

/// UTF-8 as is; anything else as Windows-1252 (ISO-8859-1).
fn decode(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => WINDOWS_1252.decode_without_bom_handling(raw).0,
    }
}

/// A tag with its lines (the first one after the tag).
struct Field {
    tag: String,
    line: u64,
    lines: Vec<String>,
    bytes: usize,
}

/// A `:61:` waiting for its `:86:`.
struct Pending {
    line: u64,
    parsed: Result<Line61, String>,
    supplementary: String,
}

/// What a `:61:` says.
struct Line61 {
    date: NaiveDate,
    amount: Decimal,
    bank_id: Option<String>,
}

/// The reading state.
#[derive(Default)]
struct Statement {
    field: Option<Field>,
    pending: Option<Pending>,
    currency: Option<String>,
    seen_tags: bool,
}

impl Statement {
    /// One physical line (without its line end).
    fn line(
        &mut self,
        text: &str,
        number: u64,
        sink: &mut Sink<'_>,
    ) -> Result<ControlFlow<()>, StatementError> {
        let text = text.trim_end();
        if text.is_empty() {
            return Ok(ControlFlow::Continue(()));
        }
        if text.starts_with('{') {
            // `{1:...}{2:...}{4:` starts a message, `{5:...}` trails one.
            let flow = self.end_message(sink);
            if flow.is_break() {
                return Ok(flow);
            }
            return match text.find("{4:") {
                Some(at) => self.line(text.get(at + 3..).unwrap_or_default(), number, sink),
                None => Ok(ControlFlow::Continue(())),
            };
        }
        if text == "-" || text.starts_with("-}") {
            return Ok(self.end_message(sink));
        }
        if let Some((tag, rest)) = split_tag(text) {
            let flow = self.end_field(sink);
            if flow.is_break() {
                return Ok(flow);
            }
            self.field = Some(Field {
                tag: tag.to_owned(),
                line: number,
                lines: vec![rest.to_owned()],
                bytes: rest.len(),
            });
            return Ok(ControlFlow::Continue(()));
        }
        if let Some(field) = &mut self.field {
            field.bytes += text.len();
            if field.bytes > MAX_LINE_BYTES {
                return Err(StatementError::Refused(format!(
                    "line {number}: the field :{}: is longer than {MAX_LINE_BYTES} bytes",
                    field.tag
                )));
            }
            field.lines.push(text.to_owned());
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The end of a message: the last field and `:61:` are complete.
    fn end_message(&mut self, sink: &mut Sink<'_>) -> ControlFlow<()> {
        let flow = self.end_field(sink);
        if flow.is_break() {
            return flow;
        }
        let flow = self.flush(sink, None);
        self.currency = None;
        flow
    }

    /// The current field is complete.
    fn end_field(&mut self, sink: &mut Sink<'_>) -> ControlFlow<()> {
        let Some(field) = self.field.take() else {
            return ControlFlow::Continue(());
        };
        let first = field.lines.first().map(String::as_str).unwrap_or_default();
        match field.tag.as_str() {
            "20" => {
                self.seen_tags = true;
                let flow = self.flush(sink, None);
                self.currency = None;
                flow
            }
            "60F" | "60M" => {
                self.seen_tags = true;
                self.currency = balance_currency(first);
                self.flush(sink, None)
            }
            "61" => {
                self.seen_tags = true;
                let flow = self.flush(sink, None);
                if flow.is_break() {
                    return flow;
                }
                let supplementary = field.lines.get(1..).unwrap_or_default().join(" ");
                self.pending = Some(Pending {
                    line: field.line,
                    parsed: parse_61(first),
                    supplementary,
                });
                ControlFlow::Continue(())
            }
            "86" => self.flush(sink, Some(&field.lines)),
            _ => self.flush(sink, None),
        }
    }

    /// Sends the pending `:61:` with the lines of its `:86:`, if any.
    fn flush(&mut self, sink: &mut Sink<'_>, details: Option<&[String]>) -> ControlFlow<()> {
        let Some(pending) = self.pending.take() else {
            return ControlFlow::Continue(());
        };
        let line = pending.line;
        let item = match pending.parsed {
            Err(message) => Err(EntryError {
                line,
                field: ":61:".to_owned(),
                message,
            }),
            Ok(parsed) => {
                let (description, merchant) = match details {
                    Some(lines) => parse_86(lines),
                    None => (pending.supplementary, String::new()),
                };
                Ok(Entry {
                    line,
                    date: parsed.date,
                    amount: parsed.amount,
                    currency: self.currency.clone(),
                    description: clean(&description, MAX_DESCRIPTION_CHARS),
                    merchant: clean(&merchant, MAX_MERCHANT_CHARS),
                    bank_id: parsed.bank_id,
                    pending: false,
                })
            }
        };
        sink(item)
    }
}

/// `:TAG:rest` with a tag of two digits and an optional letter (or two
/// or three alphanumerics, as in `:NS:`).
fn split_tag(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(':')?;
    let end = rest.find(':')?;
    let tag = rest.get(..end)?;
    let valid = (2..=3).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| (tag, rest.get(end + 1..).unwrap_or_default()))
}

/// The currency of a balance `C240101EUR1234,56`.
fn balance_currency(text: &str) -> Option<String> {
    let code = text.trim().get(7..10)?;
    code.bytes()
        .all(|b| b.is_ascii_alphabetic())
        .then(|| code.to_ascii_uppercase())
}

/// `text` cut to 40 characters, in quotes, for a message.
fn quote(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        short.push('…');
    }
    format!("'{short}'")
}

/// A `:61:` first line: `YYMMDD[MMDD](C|D|RC|RD)[funds]amount(N|F|S)xxx
/// customer-ref[//bank-ref]`.
fn parse_61(text: &str) -> Result<Line61, String> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let digits = |from: usize, count: usize| -> Option<&str> {
        let part = bytes.get(from..from + count)?;
        // ASCII digits only, so `from..from + count` are char boundaries.
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| text.get(from..from + count))
            .flatten()
    };
    let number = |s: &str| s.parse::<u32>().unwrap_or_default();

    let value_text = digits(0, 6)
        .ok_or_else(|| format!("no value date YYMMDD at the start of {}", quote(text)))?;
    let year = number(value_text.get(..2).unwrap_or_default());
    let year = if year < 80 { 2000 + year } else { 1900 + year };
    let value = NaiveDate::from_ymd_opt(
        year as i32,
        number(value_text.get(2..4).unwrap_or_default()),
        number(value_text.get(4..6).unwrap_or_default()),
    )
    .ok_or_else(|| format!("the value date {} is not a date", quote(value_text)))?;
    let mut at = 6;

    let mut date = value;
    if let Some(entry) = digits(at, 4) {
        let month = number(entry.get(..2).unwrap_or_default());
        let day = number(entry.get(2..).unwrap_or_default());
        date = booking_date(value, month, day)
            .ok_or_else(|| format!("the entry date {} is not a date", quote(entry)))?;
        at += 4;
    }

    let negative = match (bytes.get(at), bytes.get(at + 1)) {
        (Some(b'R'), Some(b'C')) => {
            at += 2;
            true
        }
        (Some(b'R'), Some(b'D')) => {
            at += 2;
            false
        }
        (Some(b'C'), _) => {
            at += 1;
            false
        }
        (Some(b'D'), _) => {
            at += 1;
            true
        }
        _ => {
            return Err(format!(
                "no debit/credit mark (C, D, RC, RD) in {}",
                quote(text)
            ));
        }
    };
    // The funds code: the third letter of the currency.
    if bytes.get(at).is_some_and(u8::is_ascii_alphabetic) {
        at += 1;
    }

    let amount_len = bytes
        .get(at..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b',' || **b == b'.')
        .count();
    let amount_text = text.get(at..at + amount_len).unwrap_or_default();
    let amount = parse_amount(amount_text)
        .ok_or_else(|| format!("no amount like 1234,56 in {}", quote(text)))?;
    at += amount_len;

    let kind = bytes.get(at..at + 4).unwrap_or_default();
    let valid_kind = kind.len() == 4
        && matches!(kind.first(), Some(b'N' | b'F' | b'S'))
        && kind.iter().all(u8::is_ascii_alphanumeric);
    if !valid_kind {
        return Err(format!(
            "no transaction type (like NTRF) after the amount in {}",
            quote(text)
        ));
    }
    at += 4;

    let references = text.get(at..).unwrap_or_default();
    let bank_id = references
        .find("//")
        .and_then(|at| references.get(at + 2..))
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    Ok(Line61 {
        date,
        amount: if negative { -amount } else { amount },
        bank_id,
    })
}

/// An MT940 amount: digits with a decimal comma (`1234,56`, `1234,`).
fn parse_amount(text: &str) -> Option<Decimal> {
    let (whole, fraction) = match text.split_once([',', '.']) {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.is_empty() {
        Decimal::from_str(whole).ok()
    } else {
        Decimal::from_str(&format!("{whole}.{fraction}")).ok()
    }
}

/// The booking date `MMDD` nearest to the value date, in the year of
/// the value date or the one before or after (value 231231 with entry
/// 0102 is 2024-01-02).
fn booking_date(value: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    let year = value.year();
    [year - 1, year, year + 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .min_by_key(|d| (*d - value).num_days().abs())
}

/// Description and merchant of a `:86:`.
fn parse_86(lines: &[String]) -> (String, String) {
    let first = lines.first().map(String::as_str).unwrap_or_default();
    let bytes = first.as_bytes();
    let structured = bytes.len() >= 4
        && bytes.iter().take(3).all(u8::is_ascii_digit)
        && bytes.get(3) == Some(&b'?');
    if !structured {
        return (
            join_wrapped(lines.iter().map(String::as_str), LINE_CHARS),
            String::new(),
        );
    }
    // The line breaks of a structured :86: carry no meaning.
    let joined = lines.concat();
    let subfields = subfields(joined.get(3..).unwrap_or_default());
    let pick = |wanted: &dyn Fn(u8) -> bool| {
        join_wrapped(
            subfields
                .iter()
                .filter(|(key, _)| wanted(*key))
                .map(|(_, text)| *text),
            SUBFIELD_CHARS,
        )
    };
    let purpose = pick(&|key| (20..=29).contains(&key) || (60..=63).contains(&key));
    let merchant = pick(&|key| key == 32 || key == 33);
    let mut description = sepa_purpose(&purpose);
    if description.trim().is_empty() {
        description = pick(&|key| key == 0);
    }
    (description, merchant)
}

/// The `?NN` sub-fields of a structured `:86:` (after the 3-digit code).
fn subfields(text: &str) -> Vec<(u8, &str)> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    for (at, window) in bytes.windows(3).enumerate() {
        if window[0] == b'?' && window[1].is_ascii_digit() && window[2].is_ascii_digit() {
            starts.push((at, (window[1] - b'0') * 10 + (window[2] - b'0')));
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (index, &(at, key)) in starts.iter().enumerate() {
        let end = starts.get(index + 1).map_or(text.len(), |next| next.0);
        // `?` and digits are ASCII, so these are char boundaries.
        if let Some(content) = text.get(at + 3..end) {
            out.push((key, content));
        }
    }
    out
}

/// Pieces joined with a space, or with nothing after a piece of `width`
/// characters or more (cut there by the bank, maybe inside a word).
fn join_wrapped<'a>(pieces: impl Iterator<Item = &'a str>, width: usize) -> String {
    let mut out = String::new();
    let mut glue = false;
    for piece in pieces {
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        out.push_str(piece);
        glue = piece.chars().count() >= width;
    }
    out
}

/// The SEPA purpose: the text after `SVWZ+` when there is one, else the
/// whole purpose without the SEPA keys (`EREF+`, `MREF+`, ...).
fn sepa_purpose(purpose: &str) -> String {
    let mut marks: Vec<(usize, &str)> = SEPA_KEYS
        .iter()
        .flat_map(|key| purpose.match_indices(key))
        .collect();
    if marks.is_empty() {
        return purpose.to_owned();
    }
    marks.sort_unstable();
    let mut segments = Vec::new();
    let mut end_of_previous = 0;
    if let Some(&(first, _)) = marks.first() {
        segments.push(("", purpose.get(..first).unwrap_or_default()));
    }
    for (index, &(at, key)) in marks.iter().enumerate() {
        if at < end_of_previous {
            continue;
        }
        let end = marks
            .get(index + 1..)
            .unwrap_or_default()
            .iter()
            .map(|(next, _)| *next)
            .find(|next| *next >= at + key.len())
            .unwrap_or(purpose.len());
        segments.push((key, purpose.get(at + key.len()..end).unwrap_or_default()));
        end_of_previous = at + key.len();
    }
    if let Some((_, text)) = segments.iter().find(|(key, _)| *key == "SVWZ+") {
        return (*text).to_owned();
    }
    segments
        .iter()
        .map(|(_, text)| text.trim())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The classic example of the SWIFT user handbook, with block headers:
    /// funds code `D` after the mark `C`, supplementary details, two
    /// statements in one block 4.
    const SWIFT: &str =
        "{1:F01AAAABB99BSMK3513951576}{2:O9400934081223BBBBAA33XXXX03592332770812230834N}{4:
:20:0112230000000890
:25:SAKG800030155USD
:28C:255/1
:60F:C011223USD175768,92
:61:0112201223CD110,92NCHGNONREF//08 IL053309
/GB/2542049/SHS/312,
:62F:C011021USD175879,84
:20:NONREF
:25:4001400010
:28C:58/1
:60F:C140327EUR6308,75
:61:1403270327C3519,76NTRF50RS201403240008//2014032100037666
ABC DO BRASIL LTDA
:86:INVOICE NR. 6000012801
ORDPRTY : ABC DO BRASIL LTDA RUA LIBERO BADARO,293-SAO
PAULO BRAZIL
:62F:C140327EUR9828,51
-}{5:{CHK:67D1B2F1A5C3}}
";

    /// A German bank export (Sparkasse / Deutsche Bank style): no block
    /// headers, messages ended by `-`, structured `:86:` wrapped at 65
    /// characters, New Year between value and entry date, reversals and a
    /// broken `:61:`. Encoded as ISO-8859-1 with CRLF by [`german`].
    const GERMAN: &str = ":20:STARTUMSE
:25:10020030/1234567890
:28C:00001/001
:60F:C231229EUR1234,56
:61:2312310102D1500,00NMSCNONREF
:86:166?00SEPA-UEBERWEISUNG?109310?20EREF+NOTPROVIDED?21SVWZ+Miete J
anuar?30DEUTDEFFXXX?31DE02100100109307118603?32Max Mustermann
:61:2401021231C2000,00NTRFNONREF//POS-4711
:86:153?00LOHN/GEHALT?20Gehalt Dezember?32Arbeitgeber Müller Verwaltu?33ngs GmbH
:62F:C240102EUR1734,56
-
:20:STARTUMSE
:25:10020030/1234567890
:28C:00002/001
:60F:C240102EUR1734,56
:61:240103D45,99NDDTKREF+123//BANKREF-2
:86:105?00FOLGELASTSCHRIFT?20EREF+ABC123?21MREF+M-42?22CRED+DE98ZZZ09999999999?
23SVWZ+Stromabschlag Januar 2?24024 Kundennr 12345?32Stadtwerke München Versorgu?33ngs GmbH
:61:240103RD12,00NRTINONREF
:86:109?00RUECKLASTSCHRIFT?20Rückgabe Lastschrift?32Fitnessstudio
:61:240103RC7,50NRTINONREF//R-2
:61:24013XC100,00NTRFNONREF
:86:this belongs to the broken line
:61:240104C100,00NTRFNONREF//
:86:Überweisung von Oma
:62F:C240104EUR1859,06
-
";

    /// `text` as ISO-8859-1 bytes with CRLF line ends.
    fn german() -> Vec<u8> {
        GERMAN
            .replace('\n', "\r\n")
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect()
    }

    fn read(input: &[u8]) -> (Result<(), StatementError>, Vec<Result<Entry, EntryError>>) {
        let mut got = Vec::new();
        let mut sink = |item| {
            got.push(item);
            ControlFlow::Continue(())
        };
        let result = read_mt940(input, &mut sink);
        (result, got)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn reads_the_swift_example() {
        let (result, got) = read(SWIFT.as_bytes());
        result.unwrap();
        let got: Vec<Entry> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);

        assert_eq!(got[0].line, 6);
        assert_eq!(got[0].date, date(2001, 12, 23));
        assert_eq!(got[0].amount, dec("110.92"));
        assert_eq!(got[0].currency.as_deref(), Some("USD"));
        assert_eq!(got[0].bank_id.as_deref(), Some("08 IL053309"));
        assert_eq!(got[0].description, "/GB/2542049/SHS/312,");
        assert_eq!(got[0].merchant, "");

        assert_eq!(got[1].line, 13);
        assert_eq!(got[1].date, date(2014, 3, 27));
        assert_eq!(got[1].amount, dec("3519.76"));
        assert_eq!(got[1].currency.as_deref(), Some("EUR"));
        assert_eq!(got[1].bank_id.as_deref(), Some("2014032100037666"));
        assert_eq!(
            got[1].description,
            "INVOICE NR. 6000012801 ORDPRTY : ABC DO BRASIL LTDA RUA LIBERO BADARO,293-SAO PAULO BRAZIL"
        );
    }

    #[test]
    fn reads_a_german_export_in_latin1_with_crlf() {
        let (result, got) = read(&german());
        result.unwrap();
        assert_eq!(got.len(), 7);

        let rent = got[0].as_ref().unwrap();
        assert_eq!(rent.line, 5);
        assert_eq!(rent.date, date(2024, 1, 2), "entry date after New Year");
        assert_eq!(rent.amount, dec("-1500.00"));
        assert_eq!(rent.currency.as_deref(), Some("EUR"));
        assert_eq!(rent.description, "Miete Januar");
        assert_eq!(rent.merchant, "Max Mustermann");
        assert_eq!(rent.bank_id, None);

        let salary = got[1].as_ref().unwrap();
        assert_eq!(
            salary.date,
            date(2023, 12, 31),
            "entry date before New Year"
        );
        assert_eq!(salary.amount, dec("2000.00"));
        assert_eq!(salary.description, "Gehalt Dezember");
        assert_eq!(salary.merchant, "Arbeitgeber Müller Verwaltungs GmbH");
        assert_eq!(salary.bank_id.as_deref(), Some("POS-4711"));

        let debit = got[2].as_ref().unwrap();
        assert_eq!(debit.line, 16);
        assert_eq!(debit.date, date(2024, 1, 3));
        assert_eq!(debit.amount, dec("-45.99"));
        assert_eq!(
            debit.description,
            "Stromabschlag Januar 2024 Kundennr 12345"
        );
        assert_eq!(debit.merchant, "Stadtwerke München Versorgungs GmbH");
        assert_eq!(debit.bank_id.as_deref(), Some("BANKREF-2"));

        let returned = got[3].as_ref().unwrap();
        assert_eq!(
            returned.amount,
            dec("12.00"),
            "RD: a reversed debit is money in"
        );
        assert_eq!(returned.description, "Rückgabe Lastschrift");
        assert_eq!(returned.merchant, "Fitnessstudio");

        let reversed = got[4].as_ref().unwrap();
        assert_eq!(
            reversed.amount,
            dec("-7.50"),
            "RC: a reversed credit is money out"
        );
        assert_eq!(reversed.description, "");

        let broken = got[5].as_ref().unwrap_err();
        assert_eq!(broken.field, ":61:");
        assert_eq!(broken.line, 22);
        assert!(broken.message.contains("24013XC100"), "{}", broken.message);

        let gift = got[6].as_ref().unwrap();
        assert_eq!(gift.description, "Überweisung von Oma");
        assert_eq!(gift.merchant, "");
        assert_eq!(gift.bank_id, None, "an empty bank reference");
    }

    #[test]
    fn utf8_and_latin1_read_the_same() {
        let (_, from_latin1) = read(&german());
        let (result, from_utf8) = read(GERMAN.as_bytes());
        result.unwrap();
        assert_eq!(from_latin1, from_utf8);
        let with_bom = format!("\u{feff}{SWIFT}");
        assert_eq!(read(with_bom.as_bytes()).1, read(SWIFT.as_bytes()).1);
    }

    #[test]
    fn block_4_on_the_header_line_and_bare_cr() {
        let text =
            "{1:F01X}{2:O940X}{4::20:REF\r:60F:C240101EUR0,\r:61:240101D1,NMSCNONREF\r:86:Fee\r-}";
        let (result, got) = read(text.as_bytes());
        result.unwrap();
        let entry = got[0].as_ref().unwrap();
        assert_eq!(entry.amount, dec("-1"));
        assert_eq!(entry.description, "Fee");
        assert_eq!(entry.currency.as_deref(), Some("EUR"));
    }

    #[test]
    fn the_currency_belongs_to_its_message() {
        let text =
            ":20:A\n:60F:C240101USD1,00\n:61:240101C1,00NTRFX\n-\n:20:B\n:61:240101C1,00NTRFX\n-\n";
        let (result, got) = read(text.as_bytes());
        result.unwrap();
        assert_eq!(got[0].as_ref().unwrap().currency.as_deref(), Some("USD"));
        assert_eq!(got[1].as_ref().unwrap().currency, None);
    }

    #[test]
    fn unstructured_lines_cut_at_65_are_glued() {
        let long = "A".repeat(60) + "Bedar";
        let text = format!(":20:X\n:61:240101C1,00NTRFNONREF\n:86:{long}\nf\nnext line\n");
        let (_, got) = read(text.as_bytes());
        let entry = got[0].as_ref().unwrap();
        assert_eq!(
            entry.description,
            format!("{}Bedarf next line", "A".repeat(60))
        );
    }

    #[test]
    fn sepa_keys_without_svwz_are_stripped() {
        let text = ":20:X\n:61:240101C1,00NTRFNONREF\n:86:166?00GUTSCHRIFT?20EREF+E2E-1?21Rechnung 17\n:61:240101C1,00NTRFNONREF\n:86:166?00GUTSCHRIFT?20EREF+NOTPROVIDED\n";
        let (_, got) = read(text.as_bytes());
        assert_eq!(got[0].as_ref().unwrap().description, "E2E-1 Rechnung 17");
        assert_eq!(got[1].as_ref().unwrap().description, "NOTPROVIDED");
        let text = ":20:X\n:61:240101C1,00NTRFNONREF\n:86:166?00GUTSCHRIFT?20\n";
        let (_, got) = read(text.as_bytes());
        assert_eq!(got[0].as_ref().unwrap().description, "GUTSCHRIFT");
    }

    #[test]
    fn bad_61_lines_are_entry_errors() {
        for bad in [
            "",
            "2401",
            "240230C1,00NTRF",
            "2401011332C1,00NTRF",
            "240101X1,00NTRF",
            "240101C,50NTRF",
            "240101C1,0,0NTRF",
            "240101C1,00",
            "240101C1,00XTRF",
            "240101C1,00N",
            "24ü101C1,00NTRF",
            "240101Cü1,00NTRF",
        ] {
            let text = format!(":20:X\n:61:{bad}\n:61:240101C1,00NTRFNONREF\n");
            let (result, got) = read(text.as_bytes());
            result.unwrap();
            assert_eq!(got.len(), 2, "{bad}");
            let error = got[0].as_ref().unwrap_err();
            assert_eq!((error.line, error.field.as_str()), (2, ":61:"), "{bad}");
            assert!(got[1].is_ok());
        }
    }

    #[test]
    fn other_files_are_malformed_and_long_lines_refused() {
        for text in [
            "",
            "Datum;Betrag\n01.01.2024;1,00\n",
            "{1:F01X}\n-}\n",
            "<xml/>",
        ] {
            let (result, got) = read(text.as_bytes());
            assert!(
                matches!(result, Err(StatementError::Malformed(_))),
                "{text}"
            );
            assert!(got.is_empty());
        }
        let long = format!(":20:{}\n", "x".repeat(MAX_LINE_BYTES));
        assert!(matches!(
            read(long.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));
        let no_newline = "x".repeat(10 * MAX_LINE_BYTES);
        assert!(matches!(
            read(no_newline.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));
        let many = format!(":20:X\n:86:{}", "continued\n".repeat(MAX_LINE_BYTES / 8));
        assert!(matches!(
            read(many.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));
        let fits = format!(":20:{}\r\n", "x".repeat(MAX_LINE_BYTES - 4));
        read(fits.as_bytes()).0.unwrap();
    }

    #[test]
    fn the_sink_can_stop_the_reader() {
        let mut count = 0;
        let mut sink = |_item| {
            count += 1;
            ControlFlow::Break(())
        };
        read_mt940(&german()[..], &mut sink).unwrap();
        assert_eq!(count, 1);
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn multibyte_characters_anywhere_do_not_panic() {
        for (at, _) in GERMAN.char_indices() {
            let mut text = GERMAN.to_owned();
            text.insert(at, if at % 2 == 0 { 'ü' } else { '€' });
            let _ = read(text.as_bytes());
        }
    }

    #[test]
    fn no_input_panics() {
        for sample in [
            SWIFT.as_bytes().to_vec(),
            german(),
            GERMAN.as_bytes().to_vec(),
        ] {
            for end in 0..sample.len() {
                let _ = read(&sample[..end]);
            }
            let mut state = 0x9e37_79b9_7f4a_7c15_u64;
            for _ in 0..500 {
                let mut mutated = sample.clone();
                for _ in 0..1 + xorshift(&mut state) % 4 {
                    let at = (xorshift(&mut state) % mutated.len() as u64) as usize;
                    mutated[at] = (xorshift(&mut state) & 0xff) as u8;
                }
                let _ = read(&mutated);
            }
        }
    }
}
