//! Working out how to read a file before reading it: the format (given,
//! or detected from the first bytes), and for CSV the encoding and layout,
//! each option the request gives taken as given and the rest detected
//! from a sample ([`super::sniff`]). Also the preview: the first entries
//! of a sample, read as the import would read them.

use std::io::Cursor;
use std::ops::ControlFlow;

use super::encoding::{TextEncoding, detect_encoding};
use super::pipeline::{self, Kind, Line, Plan, Target};
use super::sniff::{self, Guess};
use super::{FileError, ImportFormat, LineError, RawOptions};

/// The CSV options of a request, as given (empty or `None`: detect).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvHints {
    /// The text encoding.
    pub encoding: Option<TextEncoding>,
    /// Whether the first row names the columns.
    pub has_header: Option<bool>,
    /// The delimiter (`\t` spelled as a backslash and `t`).
    pub delimiter: String,
    /// The date column.
    pub date_column: String,
    /// The date's strftime format.
    pub date_format: String,
    /// The signed amount column.
    pub amount_column: String,
    /// The money-out column.
    pub debit_column: String,
    /// The money-in column.
    pub credit_column: String,
    /// `.` or `,`.
    pub decimal_separator: String,
    /// The grouping character.
    pub thousands_separator: String,
    /// The description column.
    pub description_column: String,
    /// The merchant column.
    pub merchant_column: String,
}

/// How a file will be read, and what the reader should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// How.
    pub plan: Plan,
    /// For CSV: every option as it will be used.
    pub csv: Option<CsvHints>,
    /// What to check ("every day in the sample is 12 or less ...").
    pub warnings: Vec<String>,
}

/// The formats named in messages.
const FORMATS: &str = "CSV, OFX/QFX, QIF, CAMT.053 or MT940";

/// How to read a file that starts with `sample` (all of it when
/// `complete`), given the request's `kind` and `hints`.
///
/// # Errors
///
/// The request field at fault and why: `file` for a file in none of the
/// formats, `csv.<option>` for a layout that cannot be used or detected.
pub fn plan(
    kind: Option<Kind>,
    hints: &CsvHints,
    sample: &[u8],
    complete: bool,
    content_type: &str,
) -> Result<Planned, (String, String)> {
    let kind = match kind {
        Some(kind) => kind,
        None => pipeline::detect(sample).ok_or_else(|| {
            let sent = if content_type.is_empty() {
                String::new()
            } else {
                format!(" (sent as {content_type})")
            };
            (
                "file".to_owned(),
                format!("the file{sent} is not a bank statement this server reads ({FORMATS}); set `format` if it is one"),
            )
        })?,
    };
    if kind != Kind::Csv {
        return Ok(Planned {
            plan: Plan::Structured(kind),
            csv: None,
            warnings: Vec::new(),
        });
    }
    let encoding = hints.encoding.unwrap_or_else(|| detect_encoding(sample));
    let text = encoding.decode(sample);
    let guess = sniff::sniff(&text, complete);
    let mut warnings = Vec::new();
    let used = merge(hints, guess.as_ref().ok(), encoding);
    if let Ok(guess) = &guess
        && guess.ambiguous_date
        && hints.date_format.is_empty()
    {
        warnings.push(format!(
            "the dates are read as `{}`: every date in the sample fits more than one format; set `csv.date_format` if that is wrong",
            used.date_format
        ));
    }
    let raw = RawOptions {
        has_header: used.has_header.unwrap_or(false),
        delimiter: &used.delimiter,
        date_column: &used.date_column,
        date_format: &used.date_format,
        amount_column: &used.amount_column,
        debit_column: &used.debit_column,
        credit_column: &used.credit_column,
        decimal_separator: &used.decimal_separator,
        thousands_separator: &used.thousands_separator,
        description_column: &used.description_column,
        merchant_column: &used.merchant_column,
    };
    let format = ImportFormat::parse(&raw).map_err(|problems| {
        // What detection could not find is said with detection's words.
        if let Err(e) = &guess {
            return (e.option().to_owned(), e.to_string());
        }
        let (field, message) = problems
            .into_iter()
            .next()
            .unwrap_or_else(|| ("csv".to_owned(), "cannot be used".to_owned()));
        (field.replacen("options.", "csv.", 1), message)
    })?;
    Ok(Planned {
        plan: Plan::Csv { encoding, format },
        csv: Some(used),
        warnings,
    })
}

/// The options as used: each given one, else the guessed one.
fn merge(hints: &CsvHints, guess: Option<&Guess>, encoding: TextEncoding) -> CsvHints {
    let pick = |given: &str, guessed: Option<String>| {
        if given.is_empty() {
            guessed.unwrap_or_default()
        } else {
            given.to_owned()
        }
    };
    let amount_given = !hints.amount_column.is_empty()
        || !hints.debit_column.is_empty()
        || !hints.credit_column.is_empty();
    // A guessed amount layout is only taken whole, when none is given.
    let (amount, debit, credit) = if amount_given {
        (
            hints.amount_column.clone(),
            hints.debit_column.clone(),
            hints.credit_column.clone(),
        )
    } else {
        (
            pick("", guess.map(|g| g.amount_column.clone())),
            pick("", guess.map(|g| g.debit_column.clone())),
            pick("", guess.map(|g| g.credit_column.clone())),
        )
    };
    let delimiter = pick(&hints.delimiter, guess.map(Guess::delimiter_option));
    CsvHints {
        encoding: Some(encoding),
        has_header: hints.has_header.or(guess.map(|g| g.has_header)),
        delimiter,
        date_column: pick(&hints.date_column, guess.map(|g| g.date_column.clone())),
        date_format: pick(&hints.date_format, guess.map(|g| g.date_format.clone())),
        amount_column: amount,
        debit_column: debit,
        credit_column: credit,
        decimal_separator: pick(
            &hints.decimal_separator,
            guess.map(Guess::decimal_separator_option),
        ),
        thousands_separator: pick(
            &hints.thousands_separator,
            guess.map(Guess::thousands_separator_option),
        ),
        description_column: pick(
            &hints.description_column,
            guess.map(|g| g.description_column.clone()),
        ),
        merchant_column: pick(
            &hints.merchant_column,
            guess.map(|g| g.merchant_column.clone()),
        ),
    }
}

/// The first entries of a sample as an import would read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// Good lines.
    pub lines: Vec<Line>,
    /// Bad lines.
    pub errors: Vec<LineError>,
    /// Entries not yet booked.
    pub pending: u64,
}

/// Reads up to `limit` entries of `sample` (the whole file when
/// `complete`; otherwise its cut last line is left out, and a structured
/// file's missing end is not an error once entries were read).
///
/// # Errors
///
/// The file cannot be read as planned.
pub fn preview(
    plan: &Plan,
    target: &Target,
    sample: &[u8],
    complete: bool,
    limit: usize,
) -> Result<Preview, FileError> {
    let sample = if complete {
        sample
    } else {
        let end = sample
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(sample.len(), |i| i + 1);
        sample.get(..end).unwrap_or(sample)
    };
    let mut preview = Preview::default();
    let result = pipeline::run(plan, target, Cursor::new(sample), 1, &mut |batch| {
        preview.lines.extend(batch.lines);
        preview.errors.extend(batch.errors);
        preview.pending += batch.pending;
        if preview.lines.len() + preview.errors.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match result {
        Err(_) if !complete && (!preview.lines.is_empty() || !preview.errors.is_empty()) => {
            Ok(preview)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(preview),
    }
}
