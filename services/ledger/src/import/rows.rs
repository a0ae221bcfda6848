//! Reading the lines of a file: CSV records as [`Row`]s, their physical line numbers
//! ([`LineCounter`]), the cells of a data row checked one by one, and the [`LineError`]s
//! of a rejected line.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

use chrono::NaiveDate;
use csv::ByteRecord;

use super::ImportFormat;
use super::amounts::{debit_credit_amount, signed_amount};
use super::columns::{AmountCols, Col, Columns, Role};
use super::{plural, quoted};

/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The longest merchant accepted, in characters.
pub const MAX_MERCHANT_CHARS: usize = 200;

/// The UTF-8 byte order mark some spreadsheet programs put before the first cell.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

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

/// One CSV record; the first record of the file has a byte order mark removed.
pub(super) struct Row<'r> {
    pub(super) record: &'r ByteRecord,
    /// Whether this is the first record of the file (the only one a BOM can precede).
    pub(super) first: bool,
}

impl<'r> Row<'r> {
    /// The number of cells.
    pub(super) fn width(&self) -> usize {
        self.record.len()
    }

    /// The raw bytes of a cell.
    pub(super) fn cell(&self, index: usize) -> Option<&'r [u8]> {
        let cell = self.record.get(index)?;
        if index == 0 && self.first {
            Some(strip_bom(cell))
        } else {
            Some(cell)
        }
    }

    /// Whether every cell is empty or whitespace.
    pub(super) fn is_blank(&self) -> bool {
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
///
/// The file is streamed: [`Tap`] keeps the bytes the CSV reader has taken
/// but the counter has not passed yet (the reader's read-ahead, at most a
/// buffer and a record), and the counter drops them as it moves on.
pub(super) struct LineCounter {
    seen: Rc<RefCell<Seen>>,
    line: u64,
}

/// The bytes from the counter's position to what the reader has taken.
#[derive(Default)]
struct Seen {
    /// The file offset of `bytes[0]`.
    offset: u64,
    bytes: VecDeque<u8>,
}

/// The longest physical line read, in bytes: no bank writes lines this
/// long, and a longer one (a line of a million columns, a file that is not
/// text) stops the reading instead of filling memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A reader that shows what passes through it to a [`LineCounter`], and
/// refuses lines longer than [`MAX_LINE_BYTES`].
pub(super) struct Tap<R> {
    inner: R,
    seen: Rc<RefCell<Seen>>,
    /// Line breaks passed.
    breaks: u64,
    /// Bytes since the last line break.
    run: usize,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        let mut segments = chunk.split(|&b| b == b'\n');
        if let Some(first) = segments.next() {
            self.run += first.len();
        }
        for segment in segments {
            self.check_run()?;
            self.breaks += 1;
            self.run = segment.len();
        }
        self.check_run()?;
        self.seen.borrow_mut().bytes.extend(chunk);
        Ok(n)
    }
}

impl<R> Tap<R> {
    fn check_run(&self) -> std::io::Result<()> {
        if self.run > MAX_LINE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "line {} is longer than {} KiB: the file is not a statement",
                    self.breaks + 1,
                    MAX_LINE_BYTES >> 10
                ),
            ));
        }
        Ok(())
    }
}

impl LineCounter {
    /// A counter, and `input` wrapped to feed it.
    pub(super) fn tap<R: Read>(input: R) -> (Self, Tap<R>) {
        let seen = Rc::new(RefCell::new(Seen::default()));
        (
            Self {
                seen: seen.clone(),
                line: 1,
            },
            Tap {
                inner: input,
                seen,
                breaks: 0,
                run: 0,
            },
        )
    }

    /// The line of the record whose position is `byte` (records come in
    /// file order).
    pub(super) fn line_at(&mut self, byte: u64) -> u64 {
        let mut seen = self.seen.borrow_mut();
        let Seen { offset, bytes } = &mut *seen;
        let mut start = usize::try_from(byte.saturating_sub(*offset))
            .map_or(bytes.len(), |at| at.min(bytes.len()));
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        for i in 0..start {
            let byte = bytes.get(i).copied();
            let next = bytes.get(i + 1).copied();
            if byte == Some(b'\n') || (byte == Some(b'\r') && next != Some(b'\n')) {
                self.line += 1;
            }
        }
        bytes.drain(..start);
        *offset += start as u64;
        self.line
    }
}

/// Collects the errors of one line.
pub(super) struct Report<'e> {
    line: u64,
    errors: &'e mut Vec<LineError>,
    failed: bool,
}

impl<'e> Report<'e> {
    /// A report for `line` that adds its errors to `errors`.
    pub(super) fn new(line: u64, errors: &'e mut Vec<LineError>) -> Self {
        Self {
            line,
            errors,
            failed: false,
        }
    }

    /// Rejects the line because of the column of `role`.
    pub(super) fn fail(&mut self, role: Role, message: impl Into<String>) {
        self.failed = true;
        self.errors.push(LineError {
            line: self.line,
            field: role.field().to_owned(),
            message: message.into(),
        });
    }
}

/// The values of a good line.
pub(super) struct Fields {
    pub(super) date: NaiveDate,
    pub(super) amount_minor: i64,
    pub(super) description: String,
    pub(super) merchant: String,
}

/// Parses one data row; `None` (with the reasons reported) when it is rejected.
pub(super) fn parse_row(
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
pub(super) fn text<'r>(row: &Row<'r>, column: Col) -> Result<&'r str, String> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{amounts, error_places, header_options, options, run};
    use super::super::{RawOptions, parse};
    use super::*;

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
}
