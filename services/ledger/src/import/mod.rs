//! Bank-statement import: working out how to read a file (`plan`), reading
//! it as a stream in batches whatever its format (`pipeline`), and the
//! readers: CSV here and in the modules below, and the self-describing
//! formats (`ofx`, `qif`, `camt`, `mt940`) producing `entry::Entry`s.
//!
//! The CSV reader validates the import options of a request and turns the
//! bytes of a statement into dated, signed amounts in minor units.
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
//!
//! The parts, in the order a file meets them:
//! - `options`: [`RawOptions`] validated into an [`ImportFormat`];
//! - `columns`: the format's [`Column`]s resolved against the header row;
//! - `rows`: records read, physical line numbers counted, cells checked;
//! - `amounts`: signed or debit/credit cells turned into minor units;
//! - `fingerprint`: the duplicate fingerprint of each good line.

mod amounts;
mod camt;
mod columns;
pub mod encoding;
pub mod entry;
mod fingerprint;
#[cfg(test)]
mod fuzz_tests;
mod mt940;
mod ofx;
mod options;
mod pipeline;
mod plan;
mod qif;
mod rows;
mod sniff;

use std::io::Read;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use csv::{ByteRecord, ReaderBuilder};

use self::columns::Columns;
use self::fingerprint::Fingerprints;
use self::rows::{LineCounter, Report, Row};

pub use self::amounts::MAX_AMOUNT_MINOR;
pub use self::columns::{AmountColumns, Column};
pub use self::encoding::TextEncoding;
pub use self::entry::StatementError;
pub use self::options::{DEFAULT_DATE_FORMAT, ImportFormat, MAX_COLUMN_CHARS, RawOptions};
pub use self::pipeline::{Batch, Kind, Line, Plan, Target, detect, run};
pub use self::plan::{CsvHints, Planned, Preview, plan, preview};
pub use self::rows::{LineError, MAX_DESCRIPTION_CHARS, MAX_MERCHANT_CHARS};

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
    /// Reading stopped: a line too long, or the input failed.
    #[error("{0}")]
    Stopped(String),
    /// A self-describing statement (OFX, QIF, CAMT, MT940) cannot be read.
    #[error("{0}")]
    Unreadable(#[from] StatementError),
}

/// The outcome of parsing a file: the good lines and the rejected ones, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Lines that parsed.
    pub lines: Vec<ParsedLine>,
    /// Problems with the other lines.
    pub errors: Vec<LineError>,
}

/// Parses `data` with `format` into all its lines and errors (see [`read_csv`]).
///
/// # Errors
///
/// As [`read_csv`].
pub fn parse(format: &ImportFormat, exponent: u32, data: &[u8]) -> Result<Parsed, FileError> {
    let mut parsed = Parsed::default();
    read_csv(format, exponent, data, &mut |item| {
        match item {
            Ok(line) => parsed.lines.push(line),
            Err(error) => parsed.errors.push(error),
        }
        ControlFlow::Continue(())
    })?;
    Ok(parsed)
}

/// Reads a CSV statement from `input` with `format`, amounts converted to
/// minor units of a currency with `exponent` decimal places (2 for USD, 0
/// for JPY, 3 for BHD), handing each good line or line error to `out` in
/// file order; `out` answers `Break` to stop early. Limits: amounts must be
/// within ±[`MAX_AMOUNT_MINOR`] minor units.
///
/// The file is streamed (memory holds a record and the reader's buffer),
/// and the work is CPU-bound: run it off the async runtime's threads.
///
/// # Errors
///
/// [`FileError`] when the file as a whole is unusable: no data rows, a named column missing
/// from the header, or an unreadable header. Problems with single lines go to `out`.
pub fn read_csv<R: Read>(
    format: &ImportFormat,
    exponent: u32,
    input: R,
    out: &mut dyn FnMut(Result<ParsedLine, LineError>) -> ControlFlow<()>,
) -> Result<(), FileError> {
    let (mut line_counter, input) = LineCounter::tap(input);
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(format.delimiter)
        .from_reader(input);
    // Without a header the columns are numbers, resolvable before the first row.
    let mut columns = if format.has_header {
        None
    } else {
        Some(Columns::resolve(format, None)?)
    };
    let mut record = ByteRecord::new();
    let mut first = true;
    let mut saw_row = false;
    let mut errors = Vec::new();
    let mut fingerprints = Fingerprints::default();

    loop {
        let before = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                if err.is_io_error() {
                    return Err(FileError::Stopped(err.to_string()));
                }
                if columns.is_none() {
                    return Err(FileError::BadHeader(err.to_string()));
                }
                saw_row = true;
                let error = LineError {
                    line: line_counter.line_at(before),
                    field: String::new(),
                    message: err.to_string(),
                };
                if out(Err(error)).is_break() {
                    return Ok(());
                }
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
        let Some(cols) = columns.as_ref() else {
            let header = columns::header_cells(&row);
            columns = Some(Columns::resolve(format, Some(header.as_slice()))?);
            continue;
        };
        saw_row = true;

        let start = record.position().map_or(before, csv::Position::byte);
        let line = line_counter.line_at(start);
        let mut report = Report::new(line, &mut errors);
        let fields = rows::parse_row(&row, cols, format, exponent, &mut report);
        for error in errors.drain(..) {
            if out(Err(error)).is_break() {
                return Ok(());
            }
        }
        let Some(fields) = fields else {
            continue;
        };
        let fingerprint = fingerprints.of_line(
            fields.date,
            fields.amount_minor,
            &fields.description,
            &fields.merchant,
        );
        let parsed = ParsedLine {
            line,
            date: fields.date,
            amount_minor: fields.amount_minor,
            description: fields.description,
            merchant: fields.merchant,
            fingerprint,
        };
        if out(Ok(parsed)).is_break() {
            return Ok(());
        }
    }

    if !saw_row {
        return Err(FileError::Empty);
    }
    Ok(())
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

/// Helpers shared by the submodules' tests.
#[cfg(test)]
mod test_support {
    use chrono::NaiveDate;

    use super::{ImportFormat, Parsed, RawOptions, parse};

    pub(super) fn options(raw: &RawOptions<'_>) -> ImportFormat {
        ImportFormat::parse(raw).expect("the options are valid")
    }

    /// Header `Date,Amount[,...]` with a signed amount column.
    pub(super) fn header_options() -> RawOptions<'static> {
        RawOptions {
            has_header: true,
            date_column: "Date",
            amount_column: "Amount",
            ..RawOptions::default()
        }
    }

    pub(super) fn run(format: &ImportFormat, exponent: u32, data: &str) -> Parsed {
        parse(format, exponent, data.as_bytes()).expect("the file parses")
    }

    pub(super) fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("a valid date")
    }

    pub(super) fn amounts(parsed: &Parsed) -> Vec<i64> {
        parsed.lines.iter().map(|line| line.amount_minor).collect()
    }

    pub(super) fn error_places(parsed: &Parsed) -> Vec<(u64, &str)> {
        parsed
            .errors
            .iter()
            .map(|error| (error.line, error.field.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{error_places, header_options, options, run};
    use super::*;

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
    fn a_format_and_the_outcome_can_cross_into_spawn_blocking() {
        fn movable<T: Clone + Send + 'static>() {}
        movable::<ImportFormat>();
        movable::<Parsed>();
        movable::<FileError>();
    }
}
