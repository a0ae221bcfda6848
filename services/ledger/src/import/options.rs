//! The import options of a request: [`RawOptions`] as they arrive, validated into an
//! [`ImportFormat`] with every problem reported at once.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{NaiveDate, NaiveTime};

use super::columns::{AmountColumns, Column, Role};
use super::quoted;

/// The longest column option (a header name or a number) accepted, in characters.
pub const MAX_COLUMN_CHARS: usize = 200;

/// The date format used when the request leaves it empty.
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d";

/// The longest date format accepted, in characters.
const MAX_DATE_FORMAT_CHARS: usize = 100;

/// A validated description of how a statement file is laid out.
///
/// It owns all its data (`Clone + Send + 'static`), so a caller can move it into
/// `tokio::task::spawn_blocking` together with the file.
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

        let delimiter = parse_delimiter(raw.delimiter, &mut problems);

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

        let amount = parse_amount_columns(raw, &mut problems);

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

        let thousands_separator =
            parse_thousands_separator(raw.thousands_separator, decimal_separator, &mut problems);

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

/// The delimiter byte; `,` (with the problem recorded) when it is invalid.
fn parse_delimiter(raw: &str, problems: &mut Vec<(String, String)>) -> u8 {
    match raw.as_bytes() {
        [] => b',',
        b"\\t" => b'\t',
        [b'"' | b'\r' | b'\n'] => {
            add(
                problems,
                "options.delimiter",
                "cannot be a double quote or a line break",
            );
            b','
        }
        [byte] if byte.is_ascii() => *byte,
        _ => {
            add(
                problems,
                "options.delimiter",
                "must be a single ASCII character",
            );
            b','
        }
    }
}

/// The amount column(s): either `amount_column` alone, or `debit_column` and
/// `credit_column` together; `None` when neither is validly set (the reason recorded).
fn parse_amount_columns(
    raw: &RawOptions<'_>,
    problems: &mut Vec<(String, String)>,
) -> Option<AmountColumns> {
    let has_header = raw.has_header;
    let amount_column = parse_column(raw.amount_column, Role::Amount, has_header, problems);
    let debit_column = parse_column(raw.debit_column, Role::Debit, has_header, problems);
    let credit_column = parse_column(raw.credit_column, Role::Credit, has_header, problems);
    match (
        is_set(raw.amount_column),
        is_set(raw.debit_column),
        is_set(raw.credit_column),
    ) {
        (true, false, false) => amount_column.map(AmountColumns::Signed),
        (true, _, _) => {
            add(
                problems,
                Role::Amount.option(),
                "cannot be combined with debit_column or credit_column; set either \
                 amount_column or both debit_column and credit_column",
            );
            None
        }
        (false, true, true) => match (debit_column, credit_column) {
            (Some(debit), Some(credit)) if same_column(&debit, &credit) => {
                add(
                    problems,
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
                problems,
                Role::Credit.option(),
                "is required when debit_column is set",
            );
            None
        }
        (false, false, true) => {
            add(
                problems,
                Role::Debit.option(),
                "is required when credit_column is set",
            );
            None
        }
        (false, false, false) => {
            add(
                problems,
                Role::Amount.option(),
                "is required (or set both debit_column and credit_column)",
            );
            None
        }
    }
}

/// The thousands separator, if one is validly set (a problem recorded otherwise).
fn parse_thousands_separator(
    raw: &str,
    decimal_separator: char,
    problems: &mut Vec<(String, String)>,
) -> Option<char> {
    let mut thousands = raw.chars();
    match (thousands.next(), thousands.next()) {
        (None, _) => None,
        (Some(c), None) if c == decimal_separator => {
            add(
                problems,
                "options.thousands_separator",
                "must differ from decimal_separator",
            );
            None
        }
        (Some(c), None) if c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')') => {
            add(
                problems,
                "options.thousands_separator",
                "cannot be a digit, a sign or a parenthesis",
            );
            None
        }
        (Some(c), None) => Some(c),
        (Some(_), Some(_)) => {
            add(
                problems,
                "options.thousands_separator",
                "must be a single character",
            );
            None
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{header_options, options};
    use super::*;

    fn problem_fields(problems: &[(String, String)]) -> Vec<&str> {
        problems.iter().map(|(field, _)| field.as_str()).collect()
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
