//! QIF (Quicken Interchange Format) statements.
//!
//! A QIF file is a sequence of sections, each opened by a `!` header line.
//! `!Type:Bank`, `!Type:CCard`, `!Type:Cash`, `!Type:Oth A` and
//! `!Type:Oth L` sections hold transactions; every other section
//! (`!Type:Invst`, `!Type:Cat`, `!Type:Class`, `!Type:Memorized`, ...,
//! `!Option:...`, `!Clear:...`, `!Account`) is skipped up to the next `!`
//! header. A transaction is a run of lines whose first character is the
//! field code, ended by a `^` line:
//!
//! * `D` date, `T` amount (`U` when there is no `T`), `P` payee (the
//!   merchant), `M` memo (the description; the payee when there is none);
//! * `N` (check number), `C` (cleared), `L` (category), `A` (address) and
//!   the split lines `S`/`E`/`$` are ignored: the `T` total counts.
//!
//! Lines end with LF, CRLF or CR; a line longer than [`MAX_LINE_BYTES`] is
//! [`StatementError::Refused`]. QIF declares no charset: lines are read as
//! UTF-8 until one is not valid UTF-8, from then on as Windows-1252. A
//! UTF-8 byte-order mark and blank lines are skipped; a file whose first
//! line is not a `!` header is [`StatementError::Malformed`].
//!
//! # Dates
//!
//! Accepted: `MM/DD/YYYY`, `MM/DD/YY`, Quicken's `M/D'YY` (the apostrophe
//! means 20YY: `1/5'03` is 2003-01-05; spaces such as `1/ 5'03` are
//! ignored), `MM-DD-YYYY`, the European `DD/MM/YYYY` and `DD.MM.YYYY`,
//! ISO `YYYY-MM-DD` and `YYYYMMDD`. A two-digit year written after `/`,
//! `-` or `.` is 20YY below 70, else 19YY.
//!
//! The order of day and month is decided once per file, from the first
//! date that shows it: a first number above 12, or `.` as the separator,
//! means day first; a second number above 12 means month first. Until a
//! date decides, entries are held back (at most [`ORDER_BUFFER`] records);
//! when the buffer fills or the file ends undecided, the file is read
//! month first (US order). Then the held entries are sent in file order
//! and the rest as they are read. A later date that does not fit the
//! decided order (`13/01/2024` in a month-first file) is an
//! [`EntryError`] for `D`.
//!
//! # Amounts
//!
//! `-1,234.56`, `1234.56`, `-1.234,56`, `1 234,56`: when both `.` and `,`
//! appear, the last one is the decimal separator. With only commas, a
//! single comma followed by exactly three digits, or several commas,
//! group thousands (`1,234` is 1234); otherwise the comma is the decimal
//! separator (`-12,50`). With only points, several points group thousands
//! and a single point is the decimal separator.
//!
//! A record without `D` or `T`/`U`, or with one that cannot be read, is an
//! [`EntryError`] naming `D` or `T` (`U`). Entries have no `bank_id` and
//! no `currency`; `line` is the record's first line; `pending` is false.

use std::io::BufRead;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::entry::{
    Entry, EntryError, MAX_DESCRIPTION_CHARS, MAX_LINE_BYTES, MAX_MERCHANT_CHARS, Sink,
    StatementError, clean,
};

/// How many records are held back, at most, while the file's day/month
/// order is not known.
pub const ORDER_BUFFER: usize = 1000;

/// Longest value quoted in an error message, in characters.
const QUOTE_CHARS: usize = 40;

/// Reads a QIF file and hands every transaction of its bank, credit-card,
/// cash and other-asset/liability sections to `sink`.
///
/// Returns `Ok(())` at the end of the file or as soon as `sink` returns
/// `ControlFlow::Break`. See the [module](self) documentation for the
/// dates, the amounts and the errors.
pub fn read_qif<R: BufRead>(input: R, sink: &mut Sink<'_>) -> Result<(), StatementError> {
    let mut lines = Lines::new(input);
    let mut reader = Reader::new(sink);
    while let Some((number, text)) = lines.next_line()? {
        if reader.line(number, &text)?.is_break() {
            return Ok(());
        }
    }
    reader.finish();
    if reader.section == Section::Start {
        return Err(StatementError::Malformed(
            "not a QIF file: the file is empty".into(),
        ));
    }
    Ok(())
}

/// Physical lines, decoded.
struct Lines<R> {
    input: R,
    line: u64,
    /// The last line ended with CR: a LF right after it belongs to it.
    skip_lf: bool,
    buf: Vec<u8>,
    /// A line was not valid UTF-8: the file is Windows-1252.
    windows_1252: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(input: R) -> Self {
        Lines {
            input,
            line: 0,
            skip_lf: false,
            buf: Vec::new(),
            windows_1252: false,
        }
    }

    fn next_line(&mut self) -> Result<Option<(u64, String)>, StatementError> {
        self.buf.clear();
        let mut started = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(StatementError::Io(err.to_string())),
            };
            if chunk.is_empty() {
                if !started {
                    return Ok(None);
                }
                break;
            }
            let mut used = 0;
            let mut done = false;
            for &byte in chunk {
                used += 1;
                if std::mem::take(&mut self.skip_lf) && byte == b'\n' {
                    continue;
                }
                started = true;
                match byte {
                    b'\n' => {
                        done = true;
                        break;
                    }
                    b'\r' => {
                        self.skip_lf = true;
                        done = true;
                        break;
                    }
                    _ => {
                        self.buf.push(byte);
                        if self.buf.len() > MAX_LINE_BYTES {
                            return Err(StatementError::Refused(format!(
                                "line {}: longer than {MAX_LINE_BYTES} bytes",
                                self.line + 1
                            )));
                        }
                    }
                }
            }
            self.input.consume(used);
            if done {
                break;
            }
        }
        self.line += 1;
        let mut bytes = self.buf.as_slice();
        if self.line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if !self.windows_1252 {
            match std::str::from_utf8(bytes) {
                Ok(text) => return Ok(Some((self.line, text.to_owned()))),
                Err(_) => self.windows_1252 = true,
            }
        }
        let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
        Ok(Some((self.line, text.into_owned())))
    }
}

/// The kind of section being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// No header yet.
    Start,
    /// Bank, credit card, cash, other asset or liability transactions.
    Transactions,
    /// Anything else, up to the next header.
    Skip,
}

/// The file's order of day and month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    MonthFirst,
    DayFirst,
}

/// The raw fields of the record being read.
#[derive(Debug, Default)]
struct Record {
    line: u64,
    date: Option<String>,
    total: Option<String>,
    amount_u: Option<String>,
    payee: Option<String>,
    memo: Option<String>,
}

/// A date as read, before the file's order is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum QifDate {
    /// Year first: no ambiguity.
    Known(NaiveDate),
    /// `first`/`second`/`year`: month and day in the file's order.
    Numeric {
        first: u32,
        second: u32,
        year: i32,
        raw: String,
    },
}

/// A record read, waiting for the file's day/month order.
#[derive(Debug)]
struct Draft {
    line: u64,
    date: QifDate,
    amount: Decimal,
    description: String,
    merchant: String,
}

/// Turns lines into entries.
struct Reader<'s, 'a> {
    sink: &'s mut Sink<'a>,
    section: Section,
    record: Option<Record>,
    order: Option<Order>,
    held: Vec<Result<Draft, EntryError>>,
}

impl<'s, 'a> Reader<'s, 'a> {
    fn new(sink: &'s mut Sink<'a>) -> Self {
        Reader {
            sink,
            section: Section::Start,
            record: None,
            order: None,
            held: Vec::new(),
        }
    }

    fn line(&mut self, number: u64, text: &str) -> Result<ControlFlow<()>, StatementError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(ControlFlow::Continue(()));
        }
        if text.starts_with('!') {
            // A header also ends a record whose `^` is missing.
            let flow = self.end_record();
            self.section = section_of(text);
            return Ok(flow);
        }
        match self.section {
            Section::Start => Err(StatementError::Malformed(format!(
                "line {number}: not a QIF file: it must start with a !Type: header, found \"{}\"",
                quote(text)
            ))),
            Section::Skip => Ok(ControlFlow::Continue(())),
            Section::Transactions => {
                let mut chars = text.chars();
                let code = chars.next().unwrap_or('^');
                let value = chars.as_str().trim();
                if code == '^' {
                    return Ok(self.end_record());
                }
                let record = self.record.get_or_insert_with(|| Record {
                    line: number,
                    ..Record::default()
                });
                let field = match code {
                    'D' => &mut record.date,
                    'T' => &mut record.total,
                    'U' => &mut record.amount_u,
                    'P' => &mut record.payee,
                    'M' => &mut record.memo,
                    _ => return Ok(ControlFlow::Continue(())),
                };
                if field.is_none() {
                    *field = Some(value.to_owned());
                }
                Ok(ControlFlow::Continue(()))
            }
        }
    }

    /// The record read so far, if any, is complete.
    fn end_record(&mut self) -> ControlFlow<()> {
        let Some(record) = self.record.take() else {
            return ControlFlow::Continue(());
        };
        let draft = build_draft(record);
        if self.order.is_none()
            && let Ok(Draft {
                date:
                    QifDate::Numeric {
                        first, second, raw, ..
                    },
                ..
            }) = &draft
        {
            self.order = evidence(*first, *second, raw);
        }
        if self.order.is_none() {
            self.held.push(draft);
            if self.held.len() < ORDER_BUFFER {
                return ControlFlow::Continue(());
            }
            self.order = Some(Order::MonthFirst);
            return self.release();
        }
        self.release()?;
        self.emit(draft)
    }

    /// Sends the records held back (the order is now known).
    fn release(&mut self) -> ControlFlow<()> {
        for draft in std::mem::take(&mut self.held) {
            self.emit(draft)?;
        }
        ControlFlow::Continue(())
    }

    fn emit(&mut self, draft: Result<Draft, EntryError>) -> ControlFlow<()> {
        let order = self.order.unwrap_or(Order::MonthFirst);
        (self.sink)(draft.and_then(|draft| resolve(draft, order)))
    }

    /// End of file: the last record, then whatever is held back (month
    /// first when no date decided).
    fn finish(&mut self) {
        if self.end_record().is_break() {
            return;
        }
        if self.order.is_none() {
            self.order = Some(Order::MonthFirst);
        }
        let _ = self.release();
    }
}

/// What a `!` header line opens.
fn section_of(header: &str) -> Section {
    let lower = header.to_ascii_lowercase();
    let Some(kind) = lower.strip_prefix("!type:") else {
        return Section::Skip;
    };
    let kind: Vec<&str> = kind.split_whitespace().collect();
    match kind.join(" ").as_str() {
        "bank" | "ccard" | "cash" | "oth a" | "oth l" => Section::Transactions,
        _ => Section::Skip,
    }
}

/// The order a date shows, if it shows one.
fn evidence(first: u32, second: u32, raw: &str) -> Option<Order> {
    if first > 12 || raw.contains('.') {
        Some(Order::DayFirst)
    } else if second > 12 {
        Some(Order::MonthFirst)
    } else {
        None
    }
}

fn build_draft(record: Record) -> Result<Draft, EntryError> {
    let line = record.line;
    let error = |field: &str, message: String| EntryError {
        line,
        field: field.to_owned(),
        message,
    };
    let date = match &record.date {
        None => return Err(error("D", "the record has no date (D)".into())),
        Some(raw) => parse_date(raw)
            .ok_or_else(|| error("D", format!("D \"{}\" is not a date", quote(raw))))?,
    };
    let (code, raw) = match (&record.total, &record.amount_u) {
        (Some(total), _) => ("T", total),
        (None, Some(amount)) => ("U", amount),
        (None, None) => return Err(error("T", "the record has no amount (T)".into())),
    };
    let amount = parse_amount(raw)
        .ok_or_else(|| error(code, format!("{code} \"{}\" is not an amount", quote(raw))))?;
    let payee = record.payee.as_deref().unwrap_or_default();
    let merchant = clean(payee, MAX_MERCHANT_CHARS);
    let mut description = clean(
        record.memo.as_deref().unwrap_or_default(),
        MAX_DESCRIPTION_CHARS,
    );
    if description.is_empty() {
        description = clean(payee, MAX_DESCRIPTION_CHARS);
    }
    Ok(Draft {
        line,
        date,
        amount,
        description,
        merchant,
    })
}

/// The entry of a draft, in the file's order of day and month.
fn resolve(draft: Draft, order: Order) -> Result<Entry, EntryError> {
    let date = match draft.date {
        QifDate::Known(date) => date,
        QifDate::Numeric {
            first,
            second,
            year,
            raw,
        } => {
            let (month, day, how) = match order {
                Order::MonthFirst => (first, second, "month/day"),
                Order::DayFirst => (second, first, "day/month"),
            };
            NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| EntryError {
                line: draft.line,
                field: "D".into(),
                message: format!(
                    "D \"{}\" is not a date in this file's {how} order",
                    quote(&raw)
                ),
            })?
        }
    };
    Ok(Entry {
        line: draft.line,
        date,
        amount: draft.amount,
        currency: None,
        description: draft.description,
        merchant: draft.merchant,
        bank_id: None,
        pending: false,
    })
}

/// Reads the date forms of the [module](self) documentation.
fn parse_date(raw: &str) -> Option<QifDate> {
    let text: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        let year = text.get(..4)?.parse().ok()?;
        let month = text.get(4..6)?.parse().ok()?;
        let day = text.get(6..)?.parse().ok()?;
        return NaiveDate::from_ymd_opt(year, month, day).map(QifDate::Known);
    }
    // Three runs of digits and the two separators between them.
    let mut numbers: Vec<&str> = Vec::with_capacity(3);
    let mut separators: Vec<char> = Vec::with_capacity(2);
    let mut rest = text.as_str();
    loop {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at_checked(digits)?;
        if number.is_empty() || numbers.len() == 3 {
            return None;
        }
        numbers.push(number);
        let mut chars = after.chars();
        match chars.next() {
            None => break,
            Some(sep @ ('/' | '-' | '.' | '\'')) => separators.push(sep),
            Some(_) => return None,
        }
        rest = chars.as_str();
    }
    let [a, b, c] = numbers.as_slice() else {
        return None;
    };
    if a.len() == 4 {
        // YYYY-MM-DD (or with / or .).
        let date = NaiveDate::from_ymd_opt(a.parse().ok()?, b.parse().ok()?, c.parse().ok()?)?;
        return Some(QifDate::Known(date));
    }
    if a.len() > 2 || b.len() > 2 {
        return None;
    }
    let first: u32 = a.parse().ok()?;
    let second: u32 = b.parse().ok()?;
    let short: i32 = c.parse().ok()?;
    let year = match c.len() {
        4 => short,
        1 | 2 if separators.get(1) == Some(&'\'') => 2000 + short,
        1 | 2 if short < 70 => 2000 + short,
        1 | 2 => 1900 + short,
        _ => return None,
    };
    if first == 0 || second == 0 || (first > 12 && second > 12) || first > 31 || second > 31 {
        return None;
    }
    Some(QifDate::Numeric {
        first,
        second,
        year,
        raw: raw.trim().to_owned(),
    })
}

/// Reads the amount forms of the [module](self) documentation.
fn parse_amount(raw: &str) -> Option<Decimal> {
    let text: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\'')
        .collect();
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, text.get(1..)?),
        b'+' => (false, text.get(1..)?),
        _ => (false, text.as_str()),
    };
    let commas = body.matches(',').count();
    let points = body.matches('.').count();
    let decimal_comma = match (commas, points) {
        (0, _) => false,
        (_, 0) => {
            let after = body.rsplit(',').next().unwrap_or_default();
            commas == 1 && after.len() != 3
        }
        _ => body.rfind(',') > body.rfind('.'),
    };
    let (decimal_sep, group_sep) = if decimal_comma {
        (',', '.')
    } else if points > 1 && commas == 0 {
        // 1.234.567: points group thousands.
        ('\0', '.')
    } else {
        ('.', ',')
    };
    let mut normal = String::with_capacity(body.len() + 2);
    for ch in body.chars() {
        match ch {
            '0'..='9' => normal.push(ch),
            c if c == decimal_sep => normal.push('.'),
            c if c == group_sep => {}
            _ => return None,
        }
    }
    if normal.matches('.').count() > 1 || !normal.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value = if normal.starts_with('.') {
        Decimal::from_str_exact(&format!("0{normal}")).ok()?
    } else {
        Decimal::from_str_exact(normal.strip_suffix('.').unwrap_or(&normal)).ok()?
    };
    if negative {
        value.set_sign_negative(true);
    }
    Some(value)
}

/// `text` cut to [`QUOTE_CHARS`] characters, for messages.
fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().nth(QUOTE_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::BufReader;
    use std::str::FromStr;

    use super::*;

    type Items = Vec<Result<Entry, EntryError>>;

    fn read_with(input: &[u8], capacity: usize) -> (Items, Result<(), StatementError>) {
        let mut items = Vec::new();
        let result = read_qif(BufReader::with_capacity(capacity, input), &mut |item| {
            items.push(item);
            ControlFlow::Continue(())
        });
        (items, result)
    }

    /// Reads `input` in big chunks and byte by byte: both must agree.
    fn read(input: &[u8]) -> (Items, Result<(), StatementError>) {
        let whole = read_with(input, 8192);
        assert_eq!(
            whole,
            read_with(input, 1),
            "chunk boundaries change the result"
        );
        whole
    }

    fn entries(input: &[u8]) -> Vec<Entry> {
        let (items, result) = read(input);
        result.unwrap();
        items.into_iter().map(Result::unwrap).collect()
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A Quicken bank export: padded `M/ D'YY` dates, a split, CRLF.
    const QUICKEN_BANK: &str = "!Type:Bank
D1/ 5'03
U-1,234.56
T-1,234.56
CX
N1001
PRent - January
MJan   rent
LHousing:Rent
^
D1/15'03
T2,500.00
PACME Payroll
LSalary
^
D3/10'03
T-100.00
PGrocery & Pharmacy
LGroceries
SGroceries
EFood
$-60.00
SMedical
EPrescription
$-40.00
^
D12/31'99
U-5.00
POld fee
^
";

    /// Sections that must be skipped around a bank section.
    const WITH_OPTIONS: &str = "!Option:AutoSwitch
!Account
NChecking
TBank
^
NSavings
TBank
^
!Clear:AutoSwitch
!Type:Cat
NGroceries
DFood
E
^
!Type:Invst
D1/10'03
NBuy
YACME CORP
I10.00
Q5
T50.00
^
!Account
NChecking
TBank
^
!Type:Bank
D02/14/2024
T-9.99
PStreaming Co
^
!Type:Memorized
KC
T-1.00
PMemorized payee
^
!Type:CCard
D02/15/2024
T-20.00
PCoffee
^
";

    const EUROPEAN: &str = "!Type:Bank
D31.12.2023
T-1.234,56
PSupermarché Müller
MEinkauf KW52
^
D02.01.2024
T-12,50
PBäckerei
^
";

    #[test]
    fn quicken_bank_export() {
        let file = QUICKEN_BANK.replace('\n', "\r\n");
        let got = entries(file.as_bytes());
        assert_eq!(
            got[0],
            Entry {
                line: 2,
                date: date(2003, 1, 5),
                amount: dec("-1234.56"),
                currency: None,
                description: "Jan rent".into(),
                merchant: "Rent - January".into(),
                bank_id: None,
                pending: false,
            }
        );
        assert_eq!(got[1].date, date(2003, 1, 15));
        assert_eq!(got[1].amount, dec("2500.00"));
        assert_eq!(got[1].description, "ACME Payroll");
        assert_eq!(got[1].line, 11);
        // The split: only the T total counts.
        assert_eq!(got[2].amount, dec("-100.00"));
        assert_eq!(got[2].date, date(2003, 3, 10));
        assert_eq!(got.len(), 4);
        // U when there is no T; the apostrophe means 20YY.
        assert_eq!(got[3].amount, dec("-5.00"));
        assert_eq!(got[3].date, date(2099, 12, 31));
        // LF and CR-only line endings read the same.
        assert_eq!(entries(QUICKEN_BANK.as_bytes()), got);
        assert_eq!(entries(QUICKEN_BANK.replace('\n', "\r").as_bytes()), got);
    }

    #[test]
    fn skipped_sections() {
        let got = entries(WITH_OPTIONS.as_bytes());
        let payees: Vec<_> = got.iter().map(|e| e.merchant.as_str()).collect();
        assert_eq!(payees, ["Streaming Co", "Coffee"]);
        assert_eq!(got[0].date, date(2024, 2, 14));
        assert_eq!(got[0].line, 28);
        assert_eq!(got[1].amount, dec("-20.00"));
    }

    #[test]
    fn european_file() {
        let got = entries(EUROPEAN.as_bytes());
        assert_eq!(got[0].date, date(2023, 12, 31));
        assert_eq!(got[0].amount, dec("-1234.56"));
        assert_eq!(got[0].merchant, "Supermarché Müller");
        assert_eq!(got[0].description, "Einkauf KW52");
        // Day first for the whole file, although 02.01 alone is ambiguous.
        assert_eq!(got[1].date, date(2024, 1, 2));
        assert_eq!(got[1].amount, dec("-12.50"));
    }

    #[test]
    fn windows_1252_and_bom() {
        let latin = EUROPEAN
            .replace("é", "\u{1}")
            .replace("ü", "\u{2}")
            .replace("ä", "\u{3}");
        let bytes: Vec<u8> = latin
            .bytes()
            .map(|b| match b {
                1 => 0xE9,
                2 => 0xFC,
                3 => 0xE4,
                _ => b,
            })
            .collect();
        assert_eq!(entries(&bytes), entries(EUROPEAN.as_bytes()));
        let mut bom = b"\xEF\xBB\xBF\r\n".to_vec();
        bom.extend_from_slice(EUROPEAN.as_bytes());
        let got = entries(&bom);
        assert_eq!(got[0].merchant, "Supermarché Müller");
        assert_eq!(got[0].line, 3);
    }

    #[test]
    fn day_month_order_is_decided_once() {
        // The first date is ambiguous; the second shows day first.
        let file = "!Type:Bank\nD05/01/2024\nT1\n^\nD25/01/2024\nT2\n^\nD03/02/2024\nT3\n^\n";
        let dates: Vec<_> = entries(file.as_bytes()).iter().map(|e| e.date).collect();
        assert_eq!(
            dates,
            [date(2024, 1, 5), date(2024, 1, 25), date(2024, 2, 3)]
        );
        // Never decided: month first.
        let file = "!Type:Bank\nD05/01/2024\nT1\n^\nD03-02-2024\nT3\n^\n";
        let dates: Vec<_> = entries(file.as_bytes()).iter().map(|e| e.date).collect();
        assert_eq!(dates, [date(2024, 5, 1), date(2024, 3, 2)]);
        // Month first decided; a later day-first date is an error for D.
        let file = "!Type:Bank\nD01/25/2024\nT1\n^\nD25/01/2024\nT2\n^\nD1/2/24\nT3\n^\n";
        let (items, result) = read(file.as_bytes());
        result.unwrap();
        assert_eq!(items[0].as_ref().unwrap().date, date(2024, 1, 25));
        let err = items[1].as_ref().unwrap_err();
        assert_eq!((err.field.as_str(), err.line), ("D", 5));
        assert_eq!(items[2].as_ref().unwrap().date, date(2024, 1, 2));
    }

    #[test]
    fn buffer_fills_then_month_first() {
        let mut file = String::from("!Type:Bank\n");
        for _ in 0..ORDER_BUFFER {
            file.push_str("D01/02/2024\nT1\n^\n");
        }
        file.push_str("D13/02/2024\nT1\n^\n");
        let mut seen = 0;
        let mut first_error = None;
        let result = read_qif(file.as_bytes(), &mut |item| {
            seen += 1;
            match item {
                Ok(entry) => assert_eq!(entry.date, date(2024, 1, 2)),
                Err(_) => first_error = first_error.or(Some(seen)),
            }
            ControlFlow::Continue(())
        });
        result.unwrap();
        assert_eq!(seen, ORDER_BUFFER + 1);
        assert_eq!(first_error, Some(ORDER_BUFFER + 1));
    }

    #[test]
    fn records_without_date_or_amount() {
        let file = "!Type:Bank\nD1/5'03\nPNo amount\n^\nT-1.00\nPNo date\n^\n\
                    D2/30'03\nT1\n^\nD1/6'03\nTabc\n^\nD1/7'03\nT-3.00\nPOK\n";
        let (items, result) = read(file.as_bytes());
        result.unwrap();
        let fields: Vec<_> = items
            .iter()
            .map(|i| i.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()))
            .collect();
        // The last record has no `^`: the end of the file ends it.
        assert_eq!(fields, ["T", "D", "D", "T", "ok"]);
        let lines: Vec<_> = items
            .iter()
            .map(|i| i.as_ref().map_or_else(|e| e.line, |e| e.line))
            .collect();
        assert_eq!(lines, [2, 5, 8, 11, 14]);
    }

    #[test]
    fn not_qif_is_malformed() {
        for file in [
            &b""[..],
            b"\r\n\r\n",
            b"Date,Amount\n01/05/2024,-5\n",
            b"OFXHEADER:100\n<OFX>",
            b"D1/5'03\nT1\n^\n",
        ] {
            let (items, result) = read(file);
            assert!(items.is_empty());
            assert!(
                matches!(result, Err(StatementError::Malformed(_))),
                "{result:?}"
            );
        }
    }

    #[test]
    fn long_line_is_refused() {
        let file = format!(
            "!Type:Bank\nD1/5'03\nT1\nM{}\n^\n",
            "m".repeat(MAX_LINE_BYTES)
        );
        let (items, result) = read(file.as_bytes());
        assert!(items.is_empty());
        assert!(
            matches!(result, Err(StatementError::Refused(_))),
            "{result:?}"
        );
    }

    #[test]
    fn sink_break_stops_reading() {
        for file in [QUICKEN_BANK, EUROPEAN] {
            let mut seen = 0;
            let result = read_qif(file.as_bytes(), &mut |_| {
                seen += 1;
                ControlFlow::Break(())
            });
            assert_eq!(result, Ok(()));
            assert_eq!(seen, 1);
        }
    }

    #[test]
    fn section_headers() {
        for header in [
            "!Type:Bank",
            "!type:CCard ",
            "!Type:Cash",
            "!Type:Oth A",
            "!Type:Oth  L",
        ] {
            assert_eq!(section_of(header), Section::Transactions, "{header}");
        }
        for header in [
            "!Type:Invst",
            "!Type:Cat",
            "!Type:Class",
            "!Type:Memorized",
            "!Option:AutoSwitch",
            "!Account",
            "!Clear:AutoSwitch",
        ] {
            assert_eq!(section_of(header), Section::Skip, "{header}");
        }
    }

    #[test]
    fn dates() {
        let numeric = |first, second, year| QifDate::Numeric {
            first,
            second,
            year,
            raw: String::new(),
        };
        let parse = |raw: &str| match parse_date(raw) {
            Some(QifDate::Numeric {
                first,
                second,
                year,
                ..
            }) => Some(numeric(first, second, year)),
            other => other,
        };
        assert_eq!(parse("01/05/2024"), Some(numeric(1, 5, 2024)));
        assert_eq!(parse("1/5/24"), Some(numeric(1, 5, 2024)));
        assert_eq!(parse("1/5/98"), Some(numeric(1, 5, 1998)));
        assert_eq!(parse("1/ 5'03"), Some(numeric(1, 5, 2003)));
        assert_eq!(parse("12/31' 3"), Some(numeric(12, 31, 2003)));
        assert_eq!(parse("01-05-2024"), Some(numeric(1, 5, 2024)));
        assert_eq!(parse("31.12.2023"), Some(numeric(31, 12, 2023)));
        assert_eq!(parse("2024-02-29"), Some(QifDate::Known(date(2024, 2, 29))));
        assert_eq!(parse("20240229"), Some(QifDate::Known(date(2024, 2, 29))));
        for bad in [
            "",
            "1/5",
            "1/5/2024/1",
            "13/13/2024",
            "0/5/2024",
            "1//2024",
            "a/b/c",
            "1/5/202",
            "é/1/2024",
            "2023-02-29",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn amounts() {
        for (raw, want) in [
            ("-1,234.56", "-1234.56"),
            ("1234.56", "1234.56"),
            ("-1.234,56", "-1234.56"),
            ("1 234,56", "1234.56"),
            ("1,234", "1234"),
            ("1,234,567", "1234567"),
            ("1.234.567", "1234567"),
            ("-12,50", "-12.50"),
            ("+5", "5"),
            ("0.5", "0.5"),
        ] {
            assert_eq!(parse_amount(raw), Some(dec(want)), "{raw}");
        }
        for bad in ["", "-", ".", "1.2,3.4", "12a", "$5", "1e3"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }

    /// Deterministic pseudo-random numbers (xorshift64).
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn no_panic_on_prefixes_and_flips() {
        for sample in [QUICKEN_BANK, WITH_OPTIONS, EUROPEAN] {
            let sample = sample.replace('\n', "\r\n").into_bytes();
            for end in 0..=sample.len() {
                let _ = read_with(&sample[..end], 64);
            }
            let mut state = 0x2545_F491_4F6C_DD1D_u64;
            for _ in 0..2000 {
                let mut copy = sample.clone();
                for _ in 0..1 + next(&mut state) % 4 {
                    let at = usize::try_from(next(&mut state) % copy.len() as u64).unwrap();
                    copy[at] = (next(&mut state) & 0xFF) as u8;
                }
                let _ = read_with(&copy, 64);
            }
        }
    }
}
