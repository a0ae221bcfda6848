//! CSV bank-statement import: validating the import options of a request and
//! turning the bytes of a statement into dated, signed amounts in minor units.
//!
//! Everything here is pure and synchronous. A file is read record by record
//! (as raw bytes, so a line that is not UTF-8 is a line error, not a failure
//! of the whole file); every line either becomes a [`ParsedLine`] or a
//! [`LineError`] naming the option of the offending column. Only problems that
//! make the whole file unusable (no data, a header without a named column)
//! are a [`FileError`].
//!
//! Each good line carries a fingerprint so that importing the same file again
//! can be recognised: it hashes the line's date, amount, description and
//! merchant plus how many identical lines came before it in the file, so two
//! identical coffees on the same day are both kept.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{Datelike, NaiveDate, NaiveTime};
use csv::{ByteRecord, ReaderBuilder};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// The largest absolute amount accepted, in minor units (10^15).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The longest merchant accepted, in characters.
pub const MAX_MERCHANT_CHARS: usize = 200;

/// The longest column option (a header name or a number) accepted, in characters.
pub const MAX_COLUMN_CHARS: usize = 200;

/// The date format used when the request leaves it empty.
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d";

/// The longest date format accepted, in characters.
const MAX_DATE_FORMAT_CHARS: usize = 100;

/// More integer digits than this cannot be within [`MAX_AMOUNT_MINOR`] for any
/// currency, and keeps the value well inside what a `Decimal` holds.
const MAX_INTEGER_DIGITS: usize = 20;

/// The UTF-8 byte order mark some spreadsheet programs put before the first cell.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Separates fingerprints of this encoding from any other SHA-256 use.
const FINGERPRINT_DOMAIN: &[u8] = b"freedumb.ledger.import.v1";

/// Where a value is in a row: a header name, or a 1-based column number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// A header cell, compared trimmed and case-insensitively.
    Name(String),
    /// A column number, counted from 1.
    Number(usize),
}

/// Where the amount of a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountColumns {
    /// One column holding a signed amount (negative is money out).
    Signed(Column),
    /// Two columns holding unsigned amounts: money out and money in. Exactly
    /// one of them is set (non-empty and non-zero) on each line.
    DebitCredit {
        /// Money out: the amount becomes negative.
        debit: Column,
        /// Money in: the amount stays positive.
        credit: Column,
    },
}

/// A validated description of how a statement file is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFormat {
    /// Whether the first (non-blank) line is a header row.
    pub has_header: bool,
    /// The field delimiter, an ASCII byte.
    pub delimiter: u8,
    /// The column of the booking date.
    pub date_column: Column,
    /// A chrono strftime format such as `%Y-%m-%d`, `%d/%m/%Y` or `%d.%m.%Y`.
    pub date_format: String,
    /// The column(s) of the amount.
    pub amount: AmountColumns,
    /// `.` or `,`.
    pub decimal_separator: char,
    /// A digit-grouping character removed from amounts (e.g. `,` or `.`), if any.
    pub thousands_separator: Option<char>,
    /// The column of the description, if any.
    pub description_column: Option<Column>,
    /// The column of the merchant (counterparty), if any.
    pub merchant_column: Option<Column>,
}

/// The raw option strings of the request (already split out of the proto by the caller).
///
/// An empty string means "not set" (or "use the default" where there is one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawOptions<'a> {
    /// Whether the first line is a header row.
    pub has_header: bool,
    /// One ASCII character; empty means `,` and `\t` (backslash, t) means a tab.
    pub delimiter: &'a str,
    /// A header name or a 1-based column number; required.
    pub date_column: &'a str,
    /// A chrono strftime format; empty means `%Y-%m-%d`.
    pub date_format: &'a str,
    /// The signed amount column; set this or both debit and credit columns.
    pub amount_column: &'a str,
    /// The money-out column (with `credit_column`).
    pub debit_column: &'a str,
    /// The money-in column (with `debit_column`).
    pub credit_column: &'a str,
    /// `.` or `,`; empty means `.`.
    pub decimal_separator: &'a str,
    /// One character; empty means none.
    pub thousands_separator: &'a str,
    /// The description column; optional.
    pub description_column: &'a str,
    /// The merchant column; optional.
    pub merchant_column: &'a str,
}

impl ImportFormat {
    /// Validates options; on failure returns every problem as (field, message) pairs where
    /// field is the option name prefixed "options." e.g. ("options.date_column", "is required").
    ///
    /// # Errors
    ///
    /// Every problem found, not just the first.
    pub fn parse(raw: &RawOptions<'_>) -> Result<Self, Vec<(String, String)>> {
        let mut problems: Vec<(String, String)> = Vec::new();

        let delimiter = match raw.delimiter.as_bytes() {
            [] => b',',
            b"\\t" => b'\t',
            [b'"' | b'\r' | b'\n'] => {
                add(
                    &mut problems,
                    "options.delimiter",
                    "cannot be a double quote or a line break",
                );
                b','
            }
            [byte] if byte.is_ascii() => *byte,
            _ => {
                add(
                    &mut problems,
                    "options.delimiter",
                    "must be a single ASCII character",
                );
                b','
            }
        };

        let has_header = raw.has_header;
        let date_column = parse_column(raw.date_column, Role::Date, has_header, &mut problems);
        if !is_set(raw.date_column) {
            add(&mut problems, Role::Date.option(), "is required");
        }

        let date_format = match raw.date_format.trim() {
            "" => DEFAULT_DATE_FORMAT,
            format => format,
        };
        if let Err(message) = check_date_format(date_format) {
            add(&mut problems, "options.date_format", message);
        }

        let amount_column =
            parse_column(raw.amount_column, Role::Amount, has_header, &mut problems);
        let debit_column = parse_column(raw.debit_column, Role::Debit, has_header, &mut problems);
        let credit_column =
            parse_column(raw.credit_column, Role::Credit, has_header, &mut problems);
        let amount = match (
            is_set(raw.amount_column),
            is_set(raw.debit_column),
            is_set(raw.credit_column),
        ) {
            (true, false, false) => amount_column.map(AmountColumns::Signed),
            (true, _, _) => {
                add(
                    &mut problems,
                    Role::Amount.option(),
                    "cannot be combined with debit_column or credit_column; set either \
                     amount_column or both debit_column and credit_column",
                );
                None
            }
            (false, true, true) => match (debit_column, credit_column) {
                (Some(debit), Some(credit)) if same_column(&debit, &credit) => {
                    add(
                        &mut problems,
                        Role::Credit.option(),
                        "must be a different column from debit_column",
                    );
                    None
                }
                (Some(debit), Some(credit)) => Some(AmountColumns::DebitCredit { debit, credit }),
                _ => None,
            },
            (false, true, false) => {
                add(
                    &mut problems,
                    Role::Credit.option(),
                    "is required when debit_column is set",
                );
                None
            }
            (false, false, true) => {
                add(
                    &mut problems,
                    Role::Debit.option(),
                    "is required when credit_column is set",
                );
                None
            }
            (false, false, false) => {
                add(
                    &mut problems,
                    Role::Amount.option(),
                    "is required (or set both debit_column and credit_column)",
                );
                None
            }
        };

        let decimal_separator = match raw.decimal_separator {
            "" | "." => '.',
            "," => ',',
            _ => {
                add(
                    &mut problems,
                    "options.decimal_separator",
                    "must be `.` or `,`",
                );
                '.'
            }
        };

        let mut thousands = raw.thousands_separator.chars();
        let thousands_separator = match (thousands.next(), thousands.next()) {
            (None, _) => None,
            (Some(c), None) if c == decimal_separator => {
                add(
                    &mut problems,
                    "options.thousands_separator",
                    "must differ from decimal_separator",
                );
                None
            }
            (Some(c), None) if c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')') => {
                add(
                    &mut problems,
                    "options.thousands_separator",
                    "cannot be a digit, a sign or a parenthesis",
                );
                None
            }
            (Some(c), None) => Some(c),
            (Some(_), Some(_)) => {
                add(
                    &mut problems,
                    "options.thousands_separator",
                    "must be a single character",
                );
                None
            }
        };

        let description_column = parse_column(
            raw.description_column,
            Role::Description,
            has_header,
            &mut problems,
        );
        let merchant_column = parse_column(
            raw.merchant_column,
            Role::Merchant,
            has_header,
            &mut problems,
        );

        match (date_column, amount) {
            (Some(date_column), Some(amount)) if problems.is_empty() => Ok(Self {
                has_header,
                delimiter,
                date_column,
                date_format: date_format.to_owned(),
                amount,
                decimal_separator,
                thousands_separator,
                description_column,
                merchant_column,
            }),
            _ => {
                if problems.is_empty() {
                    // Not reachable: a missing column always records why.
                    add(&mut problems, "options", "are invalid");
                }
                Err(problems)
            }
        }
    }
}

/// One good line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine {
    /// 1-based physical line number in the file (the header is line 1 if present).
    pub line: u64,
    /// The booking date.
    pub date: NaiveDate,
    /// The signed amount in minor units of the currency (negative is money out).
    pub amount_minor: i64,
    /// The description, trimmed (empty without a description column).
    pub description: String,
    /// The merchant, trimmed (empty without a merchant column).
    pub merchant: String,
    /// SHA-256 over (date, amount_minor, description, merchant, n) where n counts earlier identical
    /// (date, amount, description, merchant) tuples in this file — so two identical coffees on the
    /// same day are both kept, and re-importing the same file reproduces the same fingerprints.
    /// The encoding is unambiguous: fixed-width numbers and length-prefixed strings.
    pub fingerprint: [u8; 32],
}

/// Why one line was rejected. A line with several problems has one error for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based physical line number in the file (the header is line 1 if present).
    pub line: u64,
    /// The option naming the offending column, without the `options.` prefix (e.g.
    /// `date_column`); empty when the line itself could not be read as CSV.
    pub field: String,
    /// What is wrong, quoting the value where that helps.
    pub message: String,
}

/// The whole file could not be read (reported as INVALID_ARGUMENT by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// No data rows after the header (blank lines do not count).
    #[error("the file has no data rows")]
    Empty,
    /// A column named in the options is not in the header row.
    #[error("the header row has no column named `{name}`")]
    MissingColumn {
        /// The option naming the column, e.g. `options.date_column`.
        option: &'static str,
        /// The name looked for.
        name: String,
    },
    /// The header row could not be read.
    #[error("the header row cannot be read: {0}")]
    BadHeader(String),
}

/// The outcome of parsing a file: the good lines and the rejected ones, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Lines that parsed.
    pub lines: Vec<ParsedLine>,
    /// Problems with the other lines.
    pub errors: Vec<LineError>,
}

/// Parses `data` with `format`, amounts converted to minor units of a currency with `exponent`
/// decimal places (2 for USD, 0 for JPY, 3 for BHD). Limits: amounts must be within
/// ±[`MAX_AMOUNT_MINOR`] minor units.
///
/// # Errors
///
/// [`FileError`] when the file as a whole is unusable: no data rows, a named column missing
/// from the header, or an unreadable header. Problems with single lines are in
/// [`Parsed::errors`] instead.
pub fn parse(format: &ImportFormat, exponent: u32, data: &[u8]) -> Result<Parsed, FileError> {
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(format.delimiter)
        .from_reader(data);
    let mut line_counter = LineCounter::new(data);
    let mut columns = if format.has_header {
        None
    } else {
        Some(Columns::resolve(format, None)?)
    };
    let mut record = ByteRecord::new();
    let mut first = true;
    let mut saw_row = false;
    let mut parsed = Parsed::default();
    let mut seen: HashMap<DuplicateKey, u64> = HashMap::new();

    loop {
        let before = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                if columns.is_none() {
                    return Err(FileError::BadHeader(err.to_string()));
                }
                saw_row = true;
                parsed.errors.push(LineError {
                    line: line_counter.line_at(before),
                    field: String::new(),
                    message: err.to_string(),
                });
                // Stop when the reader cannot move on (an I/O error, or no progress).
                if err.is_io_error() || reader.position().byte() <= before {
                    break;
                }
                continue;
            }
        }

        let row = Row {
            record: &record,
            first,
        };
        first = false;
        if row.is_blank() {
            continue;
        }
        if columns.is_none() {
            let header = header_cells(&row);
            columns = Some(Columns::resolve(format, Some(header.as_slice()))?);
            continue;
        }
        let Some(cols) = columns.as_ref() else {
            continue;
        };
        saw_row = true;

        let start = record.position().map_or(before, csv::Position::byte);
        let line = line_counter.line_at(start);
        let mut report = Report {
            line,
            errors: &mut parsed.errors,
            failed: false,
        };
        let Some(fields) = parse_row(&row, cols, format, exponent, &mut report) else {
            continue;
        };

        let key = (
            fields.date,
            fields.amount_minor,
            fields.description.clone(),
            fields.merchant.clone(),
        );
        let earlier = seen.entry(key).or_insert(0);
        let n = *earlier;
        *earlier += 1;
        let fingerprint = compute_fingerprint(
            fields.date,
            fields.amount_minor,
            &fields.description,
            &fields.merchant,
            n,
        );
        parsed.lines.push(ParsedLine {
            line,
            date: fields.date,
            amount_minor: fields.amount_minor,
            description: fields.description,
            merchant: fields.merchant,
            fingerprint,
        });
    }

    if !saw_row {
        return Err(FileError::Empty);
    }
    Ok(parsed)
}

/// (date, amount, description, merchant): lines that are otherwise indistinguishable.
type DuplicateKey = (NaiveDate, i64, String, String);

/// Which option a column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Date,
    Amount,
    Debit,
    Credit,
    Description,
    Merchant,
}

impl Role {
    /// The option name as used in [`LineError::field`].
    fn field(self) -> &'static str {
        match self {
            Self::Date => "date_column",
            Self::Amount => "amount_column",
            Self::Debit => "debit_column",
            Self::Credit => "credit_column",
            Self::Description => "description_column",
            Self::Merchant => "merchant_column",
        }
    }

    /// The option name as used in option problems and [`FileError::MissingColumn`].
    fn option(self) -> &'static str {
        match self {
            Self::Date => "options.date_column",
            Self::Amount => "options.amount_column",
            Self::Debit => "options.debit_column",
            Self::Credit => "options.credit_column",
            Self::Description => "options.description_column",
            Self::Merchant => "options.merchant_column",
        }
    }
}

/// Records an option problem.
fn add(problems: &mut Vec<(String, String)>, option: &str, message: impl Into<String>) {
    problems.push((option.to_owned(), message.into()));
}

/// Whether an option string is set at all.
fn is_set(raw: &str) -> bool {
    !raw.trim().is_empty()
}

/// Parses a column option; `None` when it is empty or invalid (the latter recorded).
fn parse_column(
    raw: &str,
    role: Role,
    has_header: bool,
    problems: &mut Vec<(String, String)>,
) -> Option<Column> {
    if raw.chars().count() > MAX_COLUMN_CHARS {
        add(
            problems,
            role.option(),
            format!("is longer than {MAX_COLUMN_CHARS} characters"),
        );
        return None;
    }
    let value = raw.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return match value.parse::<usize>() {
            Ok(0) => {
                add(problems, role.option(), "columns are numbered from 1");
                None
            }
            Ok(number) => Some(Column::Number(number)),
            Err(_) => {
                add(problems, role.option(), "is not a valid column number");
                None
            }
        };
    }
    if !has_header {
        add(
            problems,
            role.option(),
            format!(
                "names a column ({}) but has_header is false; use a column number instead",
                quoted(value)
            ),
        );
        return None;
    }
    Some(Column::Name(value.to_owned()))
}

/// Whether two columns certainly denote the same cell.
fn same_column(a: &Column, b: &Column) -> bool {
    match (a, b) {
        (Column::Name(a), Column::Name(b)) => a.to_lowercase() == b.to_lowercase(),
        (Column::Number(a), Column::Number(b)) => a == b,
        _ => false,
    }
}

/// Checks that `format` is valid strftime and pins down a date: a sample date formatted
/// with it must parse back to itself.
fn check_date_format(format: &str) -> Result<(), String> {
    if format.chars().count() > MAX_DATE_FORMAT_CHARS {
        return Err(format!("is longer than {MAX_DATE_FORMAT_CHARS} characters"));
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "{} is not a valid strftime date format",
            quoted(format)
        ));
    }
    let mut text = String::new();
    let round_trips = NaiveDate::from_ymd_opt(2024, 11, 23)
        .map(|date| date.and_time(NaiveTime::MIN))
        .is_some_and(|sample| {
            write!(text, "{}", sample.format(format)).is_ok()
                && NaiveDate::parse_from_str(&text, format).ok() == Some(sample.date())
        });
    if round_trips {
        Ok(())
    } else {
        Err(format!(
            "{} must contain a year, a month and a day (e.g. `%d.%m.%Y`)",
            quoted(format)
        ))
    }
}

/// A column resolved to a 0-based index.
#[derive(Debug, Clone, Copy)]
struct Col {
    index: usize,
    role: Role,
}

impl Col {
    /// The 1-based column number, for messages.
    fn number(self) -> usize {
        self.index.saturating_add(1)
    }
}

/// [`AmountColumns`] resolved to indexes.
#[derive(Debug, Clone, Copy)]
enum AmountCols {
    Signed(Col),
    DebitCredit { debit: Col, credit: Col },
}

/// All columns of a format resolved to indexes.
#[derive(Debug, Clone, Copy)]
struct Columns {
    date: Col,
    amount: AmountCols,
    description: Option<Col>,
    merchant: Option<Col>,
}

impl Columns {
    /// Resolves the format's columns against the header cells (trimmed and lowercased; `None`
    /// for a cell that is not UTF-8), or numbers only when there is no header.
    fn resolve(
        format: &ImportFormat,
        header: Option<&[Option<String>]>,
    ) -> Result<Self, FileError> {
        let date = resolve_column(&format.date_column, Role::Date, header)?;
        let amount = match &format.amount {
            AmountColumns::Signed(column) => {
                AmountCols::Signed(resolve_column(column, Role::Amount, header)?)
            }
            AmountColumns::DebitCredit { debit, credit } => AmountCols::DebitCredit {
                debit: resolve_column(debit, Role::Debit, header)?,
                credit: resolve_column(credit, Role::Credit, header)?,
            },
        };
        let description = format
            .description_column
            .as_ref()
            .map(|column| resolve_column(column, Role::Description, header))
            .transpose()?;
        let merchant = format
            .merchant_column
            .as_ref()
            .map(|column| resolve_column(column, Role::Merchant, header))
            .transpose()?;
        Ok(Self {
            date,
            amount,
            description,
            merchant,
        })
    }
}

/// Resolves one column to an index.
fn resolve_column(
    column: &Column,
    role: Role,
    header: Option<&[Option<String>]>,
) -> Result<Col, FileError> {
    match column {
        Column::Number(number) => match number.checked_sub(1) {
            Some(index) => Ok(Col { index, role }),
            None => Err(FileError::MissingColumn {
                option: role.option(),
                name: number.to_string(),
            }),
        },
        Column::Name(name) => {
            let missing = || FileError::MissingColumn {
                option: role.option(),
                name: name.clone(),
            };
            let Some(header) = header else {
                return Err(missing());
            };
            let wanted = name.trim().to_lowercase();
            if let Some(index) = header
                .iter()
                .position(|cell| cell.as_deref() == Some(wanted.as_str()))
            {
                return Ok(Col { index, role });
            }
            if let Some(bad) = header.iter().position(Option::is_none) {
                return Err(FileError::BadHeader(format!(
                    "column {} is not valid UTF-8 text (the file must be UTF-8 encoded)",
                    bad + 1
                )));
            }
            Err(missing())
        }
    }
}

/// The header cells, trimmed and lowercased for matching; `None` for a cell that is not UTF-8.
fn header_cells(row: &Row<'_>) -> Vec<Option<String>> {
    (0..row.width())
        .map(|index| {
            row.cell(index)
                .and_then(|cell| std::str::from_utf8(cell).ok())
                .map(|cell| cell.trim().to_lowercase())
        })
        .collect()
}

/// One CSV record; the first record of the file has a byte order mark removed.
struct Row<'r> {
    record: &'r ByteRecord,
    first: bool,
}

impl<'r> Row<'r> {
    /// The number of cells.
    fn width(&self) -> usize {
        self.record.len()
    }

    /// The raw bytes of a cell.
    fn cell(&self, index: usize) -> Option<&'r [u8]> {
        let cell = self.record.get(index)?;
        if index == 0 && self.first {
            Some(strip_bom(cell))
        } else {
            Some(cell)
        }
    }

    /// Whether every cell is empty or whitespace.
    fn is_blank(&self) -> bool {
        (0..self.width()).all(|index| self.cell(index).is_none_or(|c| c.trim_ascii().is_empty()))
    }
}

/// Removes a UTF-8 byte order mark, and the quotes the CSV reader then left in place
/// (a quote only opens a quoted field at the very start of a field).
fn strip_bom(cell: &[u8]) -> &[u8] {
    if let Some(rest) = cell.strip_prefix(UTF8_BOM) {
        rest.strip_prefix(b"\"")
            .and_then(|inner| inner.strip_suffix(b"\""))
            .unwrap_or(rest)
    } else {
        cell
    }
}

/// Turns byte offsets of records into 1-based physical line numbers.
///
/// The reader's own line numbers are not used directly: the position of a record is taken
/// before the line breaks and blank lines preceding it are skipped, so after a CR LF or a
/// blank line it can name an earlier line. Here the record is taken to start at the first
/// byte at or after its position that is not a line break, and lines are counted up to
/// there (`\n`, `\r\n` and a lone `\r` each end a line).
struct LineCounter<'d> {
    data: &'d [u8],
    offset: usize,
    line: u64,
}

impl<'d> LineCounter<'d> {
    fn new(data: &'d [u8]) -> Self {
        Self {
            data,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record whose position is `byte`.
    fn line_at(&mut self, byte: u64) -> u64 {
        let data = self.data;
        let mut start = usize::try_from(byte).map_or(data.len(), |byte| byte.min(data.len()));
        while matches!(data.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let skipped = data.get(self.offset..start).unwrap_or_default();
        for (i, byte) in skipped.iter().enumerate() {
            let next = data.get(self.offset + i + 1);
            if *byte == b'\n' || (*byte == b'\r' && next != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.offset = start;
        self.line
    }
}

/// Collects the errors of one line.
struct Report<'e> {
    line: u64,
    errors: &'e mut Vec<LineError>,
    failed: bool,
}

impl Report<'_> {
    fn fail(&mut self, role: Role, message: impl Into<String>) {
        self.failed = true;
        self.errors.push(LineError {
            line: self.line,
            field: role.field().to_owned(),
            message: message.into(),
        });
    }
}

/// The values of a good line.
struct Fields {
    date: NaiveDate,
    amount_minor: i64,
    description: String,
    merchant: String,
}

/// Parses one data row; `None` (with the reasons reported) when it is rejected.
fn parse_row(
    row: &Row<'_>,
    columns: &Columns,
    format: &ImportFormat,
    exponent: u32,
    report: &mut Report<'_>,
) -> Option<Fields> {
    let date = match text(row, columns.date) {
        Err(message) => {
            report.fail(Role::Date, message);
            None
        }
        Ok("") => {
            report.fail(Role::Date, "is empty");
            None
        }
        Ok(value) => match NaiveDate::parse_from_str(value, &format.date_format) {
            Ok(date) => Some(date),
            Err(err) => {
                report.fail(
                    Role::Date,
                    format!(
                        "{} does not match the date format {}: {err}",
                        quoted(value),
                        quoted(&format.date_format)
                    ),
                );
                None
            }
        },
    };

    let amount = match columns.amount {
        AmountCols::Signed(column) => signed_amount(row, column, format, exponent, report),
        AmountCols::DebitCredit { debit, credit } => {
            debit_credit_amount(row, (debit, credit), format, exponent, report)
        }
    };

    let description = optional_text(row, columns.description, MAX_DESCRIPTION_CHARS, report);
    let merchant = optional_text(row, columns.merchant, MAX_MERCHANT_CHARS, report);

    match (date, amount, description, merchant) {
        (Some(date), Some(amount_minor), Some(description), Some(merchant)) if !report.failed => {
            Some(Fields {
                date,
                amount_minor,
                description,
                merchant,
            })
        }
        _ => None,
    }
}

/// The trimmed text of a cell, or why there is none.
fn text<'r>(row: &Row<'r>, column: Col) -> Result<&'r str, String> {
    let Some(bytes) = row.cell(column.index) else {
        return Err(format!(
            "the line has {}; {} is column {}",
            plural(row.width(), "column"),
            column.role.field(),
            column.number()
        ));
    };
    std::str::from_utf8(bytes)
        .map(str::trim)
        .map_err(|_| "is not valid UTF-8 text (the file must be UTF-8 encoded)".to_owned())
}

/// A description or merchant: empty without a column, otherwise the trimmed cell.
fn optional_text(
    row: &Row<'_>,
    column: Option<Col>,
    max_chars: usize,
    report: &mut Report<'_>,
) -> Option<String> {
    let Some(column) = column else {
        return Some(String::new());
    };
    match text(row, column) {
        Ok(value) if value.chars().count() > max_chars => {
            report.fail(
                column.role,
                format!("is longer than {max_chars} characters"),
            );
            None
        }
        Ok(value) => Some(value.to_owned()),
        Err(message) => {
            report.fail(column.role, message);
            None
        }
    }
}

/// The amount of a one-column line; zero is rejected.
fn signed_amount(
    row: &Row<'_>,
    column: Col,
    format: &ImportFormat,
    exponent: u32,
    report: &mut Report<'_>,
) -> Option<i64> {
    let value = match text(row, column) {
        Ok(value) => value,
        Err(message) => {
            report.fail(column.role, message);
            return None;
        }
    };
    if value.is_empty() {
        report.fail(column.role, "is empty");
        return None;
    }
    match parse_amount(value, format, exponent) {
        Ok(0) => {
            report.fail(column.role, "amount is zero");
            None
        }
        Ok(amount) => Some(amount),
        Err(message) => {
            report.fail(column.role, message);
            None
        }
    }
}

/// The amount of a debit/credit line: minus the debit or plus the credit.
fn debit_credit_amount(
    row: &Row<'_>,
    (debit, credit): (Col, Col),
    format: &ImportFormat,
    exponent: u32,
    report: &mut Report<'_>,
) -> Option<i64> {
    let debit_value = unsigned_amount(row, debit, format, exponent, report);
    let credit_value = unsigned_amount(row, credit, format, exponent, report);
    match (debit_value?, credit_value?) {
        (Some(debit), None) => Some(-debit),
        (None, Some(credit)) => Some(credit),
        (None, None) => {
            report.fail(
                Role::Debit,
                "exactly one of debit and credit must be set; both are empty or zero",
            );
            None
        }
        (Some(_), Some(_)) => {
            report.fail(
                Role::Debit,
                "exactly one of debit and credit must be set; both are",
            );
            None
        }
    }
}

/// A debit or credit cell: `Some(None)` when empty or zero, `Some(Some(amount))` when
/// positive, `None` (reported) when invalid or negative.
fn unsigned_amount(
    row: &Row<'_>,
    column: Col,
    format: &ImportFormat,
    exponent: u32,
    report: &mut Report<'_>,
) -> Option<Option<i64>> {
    let value = match text(row, column) {
        Ok(value) => value,
        Err(message) => {
            report.fail(column.role, message);
            return None;
        }
    };
    if value.is_empty() {
        return Some(None);
    }
    match parse_amount(value, format, exponent) {
        Ok(amount) if amount < 0 => {
            report.fail(
                column.role,
                format!(
                    "{} is negative; debits and credits are both written as positive amounts",
                    quoted(value)
                ),
            );
            None
        }
        Ok(0) => Some(None),
        Ok(amount) => Some(Some(amount)),
        Err(message) => {
            report.fail(column.role, message);
            None
        }
    }
}

/// Parses a trimmed, non-empty amount into signed minor units.
///
/// Accepts a leading `+`/`-`, a trailing `-`/`+` or parentheses for a negative amount,
/// thousands separators in the integer part (groups of three, or two for lakh-style
/// grouping, ending in three), and the format's decimal separator. Anything else (currency
/// symbols, letters, exponents) is rejected, as are more decimal places than the currency
/// has and amounts beyond [`MAX_AMOUNT_MINOR`].
fn parse_amount(value: &str, format: &ImportFormat, exponent: u32) -> Result<i64, String> {
    let invalid = || match format.thousands_separator {
        Some(thousands) => format!(
            "{} is not a valid amount (decimal separator `{}`, thousands separator `{thousands}`)",
            quoted(value),
            format.decimal_separator
        ),
        None => format!(
            "{} is not a valid amount (decimal separator `{}`, no thousands separator)",
            quoted(value),
            format.decimal_separator
        ),
    };
    let too_large = || {
        format!(
            "{} is too large (the limit is {MAX_AMOUNT_MINOR} minor units)",
            quoted(value)
        )
    };
    let too_precise = |places: usize| {
        format!(
            "{} has {}; the currency allows {exponent}",
            quoted(value),
            plural(places, "decimal place")
        )
    };

    let (negative, body) = split_sign(value);
    let body = body.trim();
    let (integer, fraction) = body
        .split_once(format.decimal_separator)
        .unwrap_or((body, ""));
    if !all_digits(fraction) {
        return Err(invalid());
    }
    let integer = strip_thousands(integer, format.thousands_separator).ok_or_else(invalid)?;
    if integer.is_empty() && fraction.is_empty() {
        return Err(invalid());
    }
    let integer = integer.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > exponent as usize {
        return Err(too_precise(fraction.len()));
    }
    if integer.len() > MAX_INTEGER_DIGITS {
        return Err(too_large());
    }

    let literal = if fraction.is_empty() {
        format!("0{integer}")
    } else {
        format!("0{integer}.{fraction}")
    };
    let decimal = Decimal::from_str_exact(&literal)
        .map_err(|_| too_large())?
        .normalize();
    let scale = decimal.scale();
    let Some(shift) = exponent.checked_sub(scale) else {
        return Err(too_precise(scale as usize));
    };
    let magnitude = 10_i128
        .checked_pow(shift)
        .and_then(|factor| decimal.mantissa().checked_mul(factor))
        .ok_or_else(too_large)?;
    if magnitude > i128::from(MAX_AMOUNT_MINOR) {
        return Err(too_large());
    }
    let magnitude = i64::try_from(magnitude).map_err(|_| too_large())?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Splits off the sign: `-x`, `+x`, `x-`, `x+` or `(x)`. Returns (negative, rest).
fn split_sign(value: &str) -> (bool, &str) {
    if let Some(inner) = value
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
    {
        (true, inner)
    } else if let Some(rest) = value.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = value.strip_prefix('+') {
        (false, rest)
    } else if let Some(rest) = value.strip_suffix('-') {
        (true, rest)
    } else if let Some(rest) = value.strip_suffix('+') {
        (false, rest)
    } else {
        (false, value)
    }
}

/// Whether `s` is only ASCII digits (true when empty).
fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// The digits of an integer part with its thousands separators removed, or `None` when it
/// has other characters or the separators are misplaced.
fn strip_thousands(integer: &str, separator: Option<char>) -> Option<String> {
    let Some(separator) = separator else {
        return all_digits(integer).then(|| integer.to_owned());
    };
    let groups: Vec<&str> = integer.split(separator).collect();
    if !groups.iter().copied().all(all_digits) {
        return None;
    }
    if let [first, middle @ .., last] = groups.as_slice() {
        let well_grouped = (1..=3).contains(&first.len())
            && last.len() == 3
            && middle.iter().all(|group| (2..=3).contains(&group.len()));
        if !well_grouped {
            return None;
        }
    }
    Some(groups.concat())
}

/// `value` in backticks for a message, cut short when long.
fn quoted(value: &str) -> String {
    const MAX_QUOTED_CHARS: usize = 40;
    if value.chars().count() <= MAX_QUOTED_CHARS {
        format!("`{value}`")
    } else {
        let head: String = value.chars().take(MAX_QUOTED_CHARS).collect();
        format!("`{head}…`")
    }
}

/// "1 column", "3 columns".
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// SHA-256 over a domain tag, the date (days from the common era, i32), the amount (i64),
/// the description and merchant (each u64 length then UTF-8 bytes) and `n` (u64), all
/// big-endian.
fn compute_fingerprint(
    date: NaiveDate,
    amount_minor: i64,
    description: &str,
    merchant: &str,
    n: u64,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_DOMAIN);
    hasher.update(date.num_days_from_ce().to_be_bytes());
    hasher.update(amount_minor.to_be_bytes());
    for field in [description, merchant] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.update(n.to_be_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(raw: &RawOptions<'_>) -> ImportFormat {
        ImportFormat::parse(raw).expect("the options are valid")
    }

    /// Header `Date,Amount[,...]` with a signed amount column.
    fn header_options() -> RawOptions<'static> {
        RawOptions {
            has_header: true,
            date_column: "Date",
            amount_column: "Amount",
            ..RawOptions::default()
        }
    }

    fn run(format: &ImportFormat, exponent: u32, data: &str) -> Parsed {
        parse(format, exponent, data.as_bytes()).expect("the file parses")
    }

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("a valid date")
    }

    fn amounts(parsed: &Parsed) -> Vec<i64> {
        parsed.lines.iter().map(|line| line.amount_minor).collect()
    }

    fn error_places(parsed: &Parsed) -> Vec<(u64, &str)> {
        parsed
            .errors
            .iter()
            .map(|error| (error.line, error.field.as_str()))
            .collect()
    }

    fn problem_fields(problems: &[(String, String)]) -> Vec<&str> {
        problems.iter().map(|(field, _)| field.as_str()).collect()
    }

    #[test]
    fn header_names_match_case_insensitively_after_a_bom() {
        let format = options(&RawOptions {
            date_column: "date",
            amount_column: "AMOUNT",
            description_column: "description",
            merchant_column: " Merchant ",
            ..header_options()
        });
        let data = "\u{feff}DATE , amount,Description,MERCHANT\n\
                    2024-03-01,-4.50, Coffee ,Cafe Luna\n\
                    2024-03-02,1200.00,Salary,ACME\n";
        let parsed = run(&format, 2, data);
        assert_eq!(parsed.errors, Vec::new());
        assert_eq!(parsed.lines.len(), 2);
        let coffee = &parsed.lines[0];
        assert_eq!(coffee.line, 2);
        assert_eq!(coffee.date, date(2024, 3, 1));
        assert_eq!(coffee.amount_minor, -450);
        assert_eq!(coffee.description, "Coffee");
        assert_eq!(coffee.merchant, "Cafe Luna");
        assert_eq!(parsed.lines[1].line, 3);
        assert_eq!(parsed.lines[1].amount_minor, 120_000);
    }

    #[test]
    fn numbered_columns_without_a_header() {
        let format = options(&RawOptions {
            has_header: false,
            date_column: "2",
            date_format: "%d/%m/%Y",
            amount_column: "3",
            description_column: "1",
            ..RawOptions::default()
        });
        let parsed = run(
            &format,
            2,
            "Groceries,15/01/2024,-23.10\nRent,01/02/2024,-950\n",
        );
        assert_eq!(parsed.errors, Vec::new());
        assert_eq!(amounts(&parsed), vec![-2310, -95_000]);
        assert_eq!(parsed.lines[0].line, 1);
        assert_eq!(parsed.lines[0].description, "Groceries");
        assert_eq!(parsed.lines[0].date, date(2024, 1, 15));
        assert_eq!(parsed.lines[1].line, 2);
        assert_eq!(parsed.lines[1].date, date(2024, 2, 1));
        assert_eq!(parsed.lines[1].merchant, "");
    }

    #[test]
    fn european_format() {
        let format = options(&RawOptions {
            delimiter: ";",
            date_column: "Buchungstag",
            date_format: "%d.%m.%Y",
            amount_column: "Betrag",
            decimal_separator: ",",
            thousands_separator: ".",
            description_column: "Verwendungszweck",
            ..header_options()
        });
        let data = "Buchungstag;Betrag;Verwendungszweck\n\
                    01.02.2024;-1.234,56;Miete\n\
                    15.02.2024;2.500,00;Gehalt\n\
                    03.03.2024;0,99;Zinsen\n";
        let parsed = run(&format, 2, data);
        assert_eq!(parsed.errors, Vec::new());
        assert_eq!(amounts(&parsed), vec![-123_456, 250_000, 99]);
        assert_eq!(parsed.lines[0].date, date(2024, 2, 1));
        assert_eq!(parsed.lines[0].description, "Miete");
    }

    #[test]
    fn debit_and_credit_columns() {
        let format = options(&RawOptions {
            amount_column: "",
            debit_column: "Debit",
            credit_column: "Credit",
            description_column: "Memo",
            ..header_options()
        });
        assert_eq!(
            format.amount,
            AmountColumns::DebitCredit {
                debit: Column::Name("Debit".to_owned()),
                credit: Column::Name("Credit".to_owned()),
            }
        );
        let data = "Date,Debit,Credit,Memo\n\
                    2024-01-02,12.34,,Lunch\n\
                    2024-01-03,,100.00,Refund\n\
                    2024-01-04,0.00,5.00,Cashback\n\
                    2024-01-05,,,Nothing\n\
                    2024-01-06,1.00,2.00,Both\n\
                    2024-01-07,-3.00,,Negative\n";
        let parsed = run(&format, 2, data);
        assert_eq!(amounts(&parsed), vec![-1234, 10_000, 500]);
        assert_eq!(
            error_places(&parsed),
            vec![
                (5, "debit_column"),
                (6, "debit_column"),
                (7, "debit_column")
            ]
        );
        assert!(
            parsed.errors[0]
                .message
                .contains("exactly one of debit and credit")
        );
        assert!(parsed.errors[2].message.contains("negative"));
    }

    #[test]
    fn parentheses_and_trailing_minus_are_negative() {
        let format = options(&header_options());
        let data = "Date,Amount\n\
                    2024-01-01,(12.34)\n\
                    2024-01-02,12.34-\n\
                    2024-01-03,+5.00\n\
                    2024-01-04, - 7.5 \n\
                    2024-01-05,$5.00\n\
                    2024-01-06,--1\n\
                    2024-01-07,1e3\n\
                    2024-01-08,(-1)\n\
                    2024-01-09,\n";
        let parsed = run(&format, 2, data);
        assert_eq!(amounts(&parsed), vec![-1234, -1234, 500, -750]);
        assert_eq!(
            error_places(&parsed),
            vec![
                (6, "amount_column"),
                (7, "amount_column"),
                (8, "amount_column"),
                (9, "amount_column"),
                (10, "amount_column"),
            ]
        );
        assert_eq!(parsed.errors[4].message, "is empty");
    }

    #[test]
    fn jpy_has_no_decimal_places() {
        let format = options(&header_options());
        let parsed = run(
            &format,
            0,
            "Date,Amount\n2024-01-01,1200\n2024-01-02,12.5\n2024-01-03,300.00\n",
        );
        assert_eq!(amounts(&parsed), vec![1200, 300]);
        assert_eq!(error_places(&parsed), vec![(3, "amount_column")]);
        assert_eq!(
            parsed.errors[0].message,
            "`12.5` has 1 decimal place; the currency allows 0"
        );
    }

    #[test]
    fn bhd_has_three_decimal_places() {
        let format = options(&header_options());
        let data = "Date,Amount\n2024-01-01,1.234\n2024-01-02,-0.5\n2024-01-03,1.2345\n";
        let parsed = run(&format, 3, data);
        assert_eq!(amounts(&parsed), vec![1234, -500]);
        assert_eq!(error_places(&parsed), vec![(4, "amount_column")]);
        assert!(parsed.errors[0].message.contains("has 4 decimal places"));
        assert!(parsed.errors[0].message.contains("allows 3"));
    }

    #[test]
    fn amounts_beyond_the_limit_are_line_errors() {
        let format = options(&header_options());
        let data = "Date,Amount\n\
                    2024-01-01,99999999999999999999\n\
                    2024-01-02,10000000000000.00\n\
                    2024-01-03,10000000000000.01\n\
                    2024-01-04,-10000000000000\n\
                    2024-01-05,123456789012345678901234567890\n";
        let parsed = run(&format, 2, data);
        assert_eq!(amounts(&parsed), vec![MAX_AMOUNT_MINOR, -MAX_AMOUNT_MINOR]);
        assert_eq!(
            error_places(&parsed),
            vec![
                (2, "amount_column"),
                (4, "amount_column"),
                (6, "amount_column")
            ]
        );
        assert!(
            parsed
                .errors
                .iter()
                .all(|error| error.message.contains("too large"))
        );
    }

    #[test]
    fn bad_date_reports_the_physical_line() {
        let format = options(&header_options());
        // CR LF line ends and a blank line 3: the bad date is on line 4.
        let data = "Date,Amount\r\n2024-01-01,1.00\r\n\r\n2024-02-30,2.00\r\n2024-02-03,3.00\r\n";
        let parsed = run(&format, 2, data);
        assert_eq!(
            parsed
                .lines
                .iter()
                .map(|line| line.line)
                .collect::<Vec<_>>(),
            vec![2, 5]
        );
        assert_eq!(error_places(&parsed), vec![(4, "date_column")]);
        let message = &parsed.errors[0].message;
        assert!(message.contains("`2024-02-30`"), "{message}");
        assert!(message.contains("`%Y-%m-%d`"), "{message}");
    }

    #[test]
    fn line_numbers_count_line_breaks_inside_quoted_fields() {
        let format = options(&RawOptions {
            description_column: "Description",
            ..header_options()
        });
        let data = "Date,Amount,Description\n\
                    2024-01-01,1.00,\"two\nlines\"\n\
                    2024-01-02,x,bad\n";
        let parsed = run(&format, 2, data);
        assert_eq!(parsed.lines[0].description, "two\nlines");
        assert_eq!(error_places(&parsed), vec![(4, "amount_column")]);
    }

    #[test]
    fn non_utf8_description_rejects_only_that_line() {
        let format = options(&RawOptions {
            description_column: "Description",
            ..header_options()
        });
        let data = b"Date,Amount,Description\n2024-01-01,1.00,caf\xe9\n2024-01-02,2.00,ok\n";
        let parsed = parse(&format, 2, data).expect("the file parses");
        assert_eq!(error_places(&parsed), vec![(2, "description_column")]);
        assert!(parsed.errors[0].message.contains("UTF-8"));
        assert_eq!(parsed.lines.len(), 1);
        assert_eq!(parsed.lines[0].line, 3);
        assert_eq!(parsed.lines[0].description, "ok");
    }

    #[test]
    fn missing_named_column_is_a_file_error() {
        let format = options(&RawOptions {
            description_column: "Memo",
            ..header_options()
        });
        let err = parse(&format, 2, b"Date,Amount\n2024-01-01,1.00\n").expect_err("no Memo");
        assert_eq!(
            err,
            FileError::MissingColumn {
                option: "options.description_column",
                name: "Memo".to_owned(),
            }
        );
        assert_eq!(err.to_string(), "the header row has no column named `Memo`");
    }

    #[test]
    fn files_without_data_rows_are_empty() {
        let with_header = options(&header_options());
        for data in ["", "Date,Amount\n", "Date,Amount\n\n,\n  \n"] {
            let err = parse(&with_header, 2, data.as_bytes()).expect_err("no data rows");
            assert_eq!(err, FileError::Empty, "{data:?}");
        }
        let without_header = options(&RawOptions {
            has_header: false,
            date_column: "1",
            amount_column: "2",
            ..RawOptions::default()
        });
        let err = parse(&without_header, 2, b"\n\n").expect_err("no data rows");
        assert_eq!(err, FileError::Empty);
        // A bad line is still a data row.
        let parsed = run(&with_header, 2, "Date,Amount\nnot a date,1.00\n");
        assert_eq!(error_places(&parsed), vec![(2, "date_column")]);
    }

    #[test]
    fn identical_lines_get_distinct_but_reproducible_fingerprints() {
        let format = options(&RawOptions {
            description_column: "Description",
            merchant_column: "Merchant",
            ..header_options()
        });
        let data = "Date,Amount,Description,Merchant\n\
                    2024-05-01,-3.50,Coffee,Cafe\n\
                    2024-05-01,-3.50,Coffee,Cafe\n\
                    2024-05-01,-3.50,Coffee,Bakery\n";
        let first: Vec<[u8; 32]> = run(&format, 2, data)
            .lines
            .iter()
            .map(|line| line.fingerprint)
            .collect();
        let second: Vec<[u8; 32]> = run(&format, 2, data)
            .lines
            .iter()
            .map(|line| line.fingerprint)
            .collect();
        assert_eq!(first.len(), 3);
        assert_ne!(first[0], first[1]);
        assert_ne!(first[0], first[2]);
        assert_ne!(first[1], first[2]);
        assert_eq!(first, second);
        let day = date(2024, 5, 1);
        assert_eq!(
            first[0],
            compute_fingerprint(day, -350, "Coffee", "Cafe", 0)
        );
        assert_eq!(
            first[1],
            compute_fingerprint(day, -350, "Coffee", "Cafe", 1)
        );
        assert_eq!(
            first[2],
            compute_fingerprint(day, -350, "Coffee", "Bakery", 0)
        );
        // Length prefixes keep field boundaries apart.
        assert_ne!(
            compute_fingerprint(day, 1, "ab", "c", 0),
            compute_fingerprint(day, 1, "a", "bc", 0)
        );
    }

    #[test]
    fn a_row_that_is_too_short() {
        let format = options(&RawOptions {
            has_header: false,
            date_column: "1",
            amount_column: "5",
            ..RawOptions::default()
        });
        let parsed = run(&format, 2, "2024-01-01,1,2\n2024-01-02,a,b,c,7.00\n");
        assert_eq!(
            parsed.errors,
            vec![LineError {
                line: 1,
                field: "amount_column".to_owned(),
                message: "the line has 3 columns; amount_column is column 5".to_owned(),
            }]
        );
        assert_eq!(amounts(&parsed), vec![700]);
    }

    #[test]
    fn quoted_fields_may_contain_the_delimiter() {
        let format = options(&RawOptions {
            thousands_separator: ",",
            description_column: "Description",
            ..header_options()
        });
        let data = "Date,Amount,Description\n\
                    2024-01-01,\"1,234.50\",\"Dinner, with \"\"friends\"\"\"\n";
        let parsed = run(&format, 2, data);
        assert_eq!(parsed.errors, Vec::new());
        assert_eq!(amounts(&parsed), vec![123_450]);
        assert_eq!(parsed.lines[0].description, "Dinner, with \"friends\"");
    }

    #[test]
    fn thousands_separators_must_group_digits() {
        let format = options(&RawOptions {
            thousands_separator: ",",
            ..header_options()
        });
        assert_eq!(parse_amount("1,234,567.8", &format, 2), Ok(123_456_780));
        assert_eq!(parse_amount("1,23,456.00", &format, 2), Ok(12_345_600));
        assert_eq!(parse_amount("234", &format, 2), Ok(23_400));
        assert_eq!(parse_amount(".5", &format, 2), Ok(50));
        for bad in [
            "12,34", "1,,234", ",234", "1,234,", "1.2.3", ".", "1 234", "€5",
        ] {
            assert!(parse_amount(bad, &format, 2).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn zero_amounts_and_long_descriptions_are_rejected() {
        let format = options(&RawOptions {
            description_column: "Description",
            ..header_options()
        });
        let too_long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
        let longest = "é".repeat(MAX_DESCRIPTION_CHARS);
        let data = format!(
            "Date,Amount,Description\n\
             2024-01-01,-0.00,zero\n\
             2024-01-02,1.00,{too_long}\n\
             2024-01-03,1.00,{longest}\n"
        );
        let parsed = run(&format, 2, &data);
        assert_eq!(
            error_places(&parsed),
            vec![(2, "amount_column"), (3, "description_column")]
        );
        assert_eq!(parsed.errors[0].message, "amount is zero");
        assert_eq!(parsed.lines.len(), 1);
        assert_eq!(parsed.lines[0].line, 4);
    }

    #[test]
    fn option_defaults() {
        let format = options(&RawOptions {
            date_column: " Date ",
            amount_column: "3",
            ..header_options()
        });
        assert_eq!(
            format,
            ImportFormat {
                has_header: true,
                delimiter: b',',
                date_column: Column::Name("Date".to_owned()),
                date_format: DEFAULT_DATE_FORMAT.to_owned(),
                amount: AmountColumns::Signed(Column::Number(3)),
                decimal_separator: '.',
                thousands_separator: None,
                description_column: None,
                merchant_column: None,
            }
        );
        let tabs = options(&RawOptions {
            delimiter: "\\t",
            ..header_options()
        });
        assert_eq!(tabs.delimiter, b'\t');
    }

    #[test]
    fn option_validation_collects_every_problem() {
        let problems = ImportFormat::parse(&RawOptions {
            has_header: false,
            delimiter: ";;",
            decimal_separator: "x",
            ..RawOptions::default()
        })
        .expect_err("the options are invalid");
        let fields = problem_fields(&problems);
        for expected in [
            "options.delimiter",
            "options.date_column",
            "options.amount_column",
            "options.decimal_separator",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {problems:?}"
            );
        }
        assert!(problems.contains(&("options.date_column".to_owned(), "is required".to_owned())));
    }

    #[test]
    fn option_column_rules() {
        let long_name = "x".repeat(MAX_COLUMN_CHARS + 1);
        let problems = ImportFormat::parse(&RawOptions {
            has_header: false,
            date_column: "0",
            date_format: "%Y",
            debit_column: "Debit",
            thousands_separator: ".",
            description_column: "Memo",
            merchant_column: &long_name,
            ..RawOptions::default()
        })
        .expect_err("the options are invalid");
        let message = |field: &str| {
            problems
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, message)| message.clone())
                .unwrap_or_else(|| panic!("no problem with {field}: {problems:?}"))
        };
        assert_eq!(
            message("options.date_column"),
            "columns are numbered from 1"
        );
        assert!(message("options.debit_column").contains("has_header is false"));
        assert_eq!(
            message("options.credit_column"),
            "is required when debit_column is set"
        );
        assert!(message("options.description_column").contains("has_header is false"));
        assert!(message("options.merchant_column").contains("longer than"));
        assert_eq!(
            message("options.thousands_separator"),
            "must differ from decimal_separator"
        );
        assert!(message("options.date_format").contains("year, a month and a day"));

        let problems = ImportFormat::parse(&RawOptions {
            date_format: "%d.%Q.%Y",
            amount_column: "Amount",
            debit_column: "Debit",
            credit_column: "Credit",
            ..header_options()
        })
        .expect_err("the options are invalid");
        assert_eq!(
            problem_fields(&problems),
            vec!["options.date_format", "options.amount_column"]
        );
    }
}
