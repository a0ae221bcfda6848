//! Amounts: a signed column or a debit/credit pair turned into signed minor units, with
//! the format's decimal separator and optional thousands separator.

use rust_decimal::Decimal;

use super::ImportFormat;
use super::columns::{Col, Role};
use super::rows::{Report, Row, text};
use super::{plural, quoted};

/// The largest absolute amount accepted, in minor units (10^15).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// More integer digits than this cannot be within [`MAX_AMOUNT_MINOR`] for any
/// currency, and keeps the value well inside what a `Decimal` holds.
const MAX_INTEGER_DIGITS: usize = 20;

/// The sign an amount is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// No sign, or `+`.
    Positive,
    /// `-` before or after, or parentheses.
    Negative,
}

/// The cell's text, or `None` with the problem reported.
fn reported_text<'r>(row: &Row<'r>, column: Col, report: &mut Report<'_>) -> Option<&'r str> {
    text(row, column)
        .map_err(|message| report.fail(column.role, message))
        .ok()
}

/// The amount of a one-column line; zero is rejected.
pub(super) fn signed_amount(
    row: &Row<'_>,
    column: Col,
    format: &ImportFormat,
    exponent: u32,
    report: &mut Report<'_>,
) -> Option<i64> {
    let value = reported_text(row, column, report)?;
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
pub(super) fn debit_credit_amount(
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
    let value = reported_text(row, column, report)?;
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

/// Currency symbols banks write beside amounts.
const CURRENCY_SYMBOLS: [char; 8] = ['$', '€', '£', '¥', '₹', '₩', '₺', '₽'];

/// `value` as the number parser reads it: Unicode minus signs and dashes
/// as `-`, no-break spaces as spaces, `’` as `'`; a `DR`/`CR` suffix as
/// the sign it means; a currency at either end (`€`, `US$`, `EUR`, next to
/// a sign or parentheses or not) removed.
fn normalized(value: &str) -> (Option<Sign>, String) {
    let mapped: String = value
        .chars()
        .map(|c| match c {
            '\u{2212}' | '\u{2013}' | '\u{2012}' => '-',
            '\u{00A0}' | '\u{202F}' | '\u{2009}' => ' ',
            '\u{2019}' => '\'',
            c => c,
        })
        .collect();
    let mut text = mapped.trim();
    let mut forced = None;
    let upper = text.to_ascii_uppercase();
    for (suffix, sign) in [("DR", Sign::Negative), ("CR", Sign::Positive)] {
        if upper.ends_with(suffix) && text.len() > 2 {
            let cut = text.get(..text.len() - 2).unwrap_or(text);
            if cut.ends_with(|c: char| c.is_ascii_digit() || c == ' ') {
                text = cut.trim_end();
                forced = Some(sign);
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    let (lead, core, trail) = split_signs(text);
    out.push_str(lead);
    out.push_str(strip_currency(core));
    out.push_str(trail);
    (forced, out)
}

/// Signs and parentheses at the ends of `text`, and what is between
/// (each part trimmed of the spaces next to the others).
fn split_signs(text: &str) -> (&str, &str, &str) {
    let is_sign = |c: char| matches!(c, '-' | '+' | '(' | ')') || c == ' ';
    let core = text.trim_matches(is_sign);
    let start = text.len() - text.trim_start_matches(is_sign).len();
    let end = text.trim_end_matches(is_sign).len();
    let lead = text.get(..start).unwrap_or_default().trim();
    let trail = text.get(end.max(start)..).unwrap_or_default().trim();
    let core = if core.is_empty() {
        text.get(start..end.max(start)).unwrap_or_default()
    } else {
        core
    };
    (lead, core, trail)
}

/// `core` without a currency at its start or end: a symbol (with up to
/// two letters before it, as in `US$` or `R$`) or a three-letter code.
fn strip_currency(core: &str) -> &str {
    let mut core = core.trim();
    // At the start: letters then a symbol, a symbol, or a code and a space
    // or digit.
    let letters = core.len()
        - core
            .trim_start_matches(|c: char| c.is_ascii_uppercase())
            .len();
    let after_letters = core.get(letters..).unwrap_or_default();
    if letters <= 2
        && let Some(rest) = after_letters.strip_prefix(CURRENCY_SYMBOLS)
    {
        core = rest.trim_start();
    } else if letters == 3
        && after_letters.starts_with(|c: char| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        core = after_letters.trim_start();
    }
    // At the end: a symbol, or a code after a space or digit.
    if let Some(rest) = core.strip_suffix(CURRENCY_SYMBOLS) {
        core = rest.trim_end();
    } else {
        let letters = core.len()
            - core
                .trim_end_matches(|c: char| c.is_ascii_uppercase())
                .len();
        let before = core.get(..core.len() - letters).unwrap_or_default();
        if letters == 3 && before.ends_with(|c: char| c.is_ascii_digit() || c == ' ') {
            core = before.trim_end();
        }
    }
    core
}

/// Parses a trimmed, non-empty amount into signed minor units.
///
/// Accepts a leading `+`/`-`, a trailing `-`/`+` or parentheses for a negative amount,
/// a `DR` (negative) or `CR` suffix, a currency symbol or code at either end,
/// thousands separators in the integer part (groups of three, or two for lakh-style
/// grouping, ending in three), and the format's decimal separator. Anything else
/// (letters, exponents) is rejected, as are more decimal places than the currency
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

    let (forced, plain) = normalized(value);
    let (sign, body) = split_sign(&plain);
    let sign = match (forced, sign) {
        (Some(_), Sign::Negative) => return Err(invalid()),
        (Some(forced), Sign::Positive) => forced,
        (None, sign) => sign,
    };
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
    Ok(match sign {
        Sign::Negative => -magnitude,
        Sign::Positive => magnitude,
    })
}

/// Splits off the sign: `-x`, `+x`, `x-`, `x+` or `(x)`. Returns the sign and the rest.
fn split_sign(value: &str) -> (Sign, &str) {
    if let Some(inner) = value
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
    {
        (Sign::Negative, inner)
    } else if let Some(rest) = value.strip_prefix('-') {
        (Sign::Negative, rest)
    } else if let Some(rest) = value.strip_prefix('+') {
        (Sign::Positive, rest)
    } else if let Some(rest) = value.strip_suffix('-') {
        (Sign::Negative, rest)
    } else if let Some(rest) = value.strip_suffix('+') {
        (Sign::Positive, rest)
    } else {
        (Sign::Positive, value)
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{amounts, date, error_places, header_options, options, run};
    use super::super::{AmountColumns, Column, RawOptions};
    use super::*;

    #[test]
    fn currencies_dr_cr_and_typographic_signs_as_banks_write_them() {
        let dot = options(&RawOptions {
            thousands_separator: ",",
            ..header_options()
        });
        let comma = options(&RawOptions {
            decimal_separator: ",",
            thousands_separator: " ",
            ..header_options()
        });
        for (value, want) in [
            ("$5.00", 500),
            ("-$5.00", -500),
            ("$-5.00", -500),
            ("£23.45", 2345),
            ("(£1,234.56)", -123_456),
            ("US$ 7.10", 710),
            ("12.50 DR", -1250),
            ("12.50CR", 1250),
            ("12.50 usd", 0),
            ("\u{2212}3.00", -300),
            ("12$50", 0),
        ] {
            let got = parse_amount(value, &dot, 2).unwrap_or(0);
            assert_eq!(got, want, "{value}");
        }
        for (value, want) in [
            ("€ 12,50", 1250),
            ("12,50 €", 1250),
            ("EUR 1 234,56", 123_456),
            ("-12,50 EUR", -1250),
            ("1\u{a0}234,56", 123_456),
            ("1\u{202f}234,56", 123_456),
            ("\u{2013}12,50", -1250),
            ("-12,50 DR", 0),
        ] {
            let got = parse_amount(value, &comma, 2).unwrap_or(0);
            assert_eq!(got, want, "{value}");
        }
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
                    2024-01-06,$5.00 usd\n\
                    2024-01-07,1e3\n\
                    2024-01-08,(-1)\n\
                    2024-01-09,\n";
        let parsed = run(&format, 2, data);
        // A currency symbol is taken (see the currencies test); two are not.
        assert_eq!(amounts(&parsed), vec![-1234, -1234, 500, -750, 500]);
        assert_eq!(
            error_places(&parsed),
            vec![
                (7, "amount_column"),
                (8, "amount_column"),
                (9, "amount_column"),
                (10, "amount_column"),
                (11, "amount_column"),
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
            "12,34", "1,,234", ",234", "1,234,", "1.2.3", ".", "1 234", "€€5",
        ] {
            assert!(parse_amount(bad, &format, 2).is_err(), "{bad} was accepted");
        }
    }
}
