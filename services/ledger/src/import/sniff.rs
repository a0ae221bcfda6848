//! Guessing the layout of a CSV bank statement from a sample of it, so that a file can be
//! imported without options: the delimiter, whether there is a header row, which columns
//! hold the date, the amount (signed, or a debit/credit pair), the description and the
//! merchant, the date format and the number format.
//!
//! The result, a [`Guess`], uses the same conventions as the import options: a column is
//! a header name (or a 1-based number as text), an empty string means "not found". Options
//! the user gave explicitly are meant to win over the guess.
//!
//! How it guesses:
//! - delimiter: the one of `,` `;` tab `|` that splits the first 50 records into the most
//!   consistent number of fields (at least two);
//! - header: the first record is a header when none of its cells is a date or an amount
//!   while the following records have dates or amounts in some column;
//! - columns: by header name (English, German, French, Spanish, Dutch, Italian and
//!   Portuguese bank exports), checked against the content; otherwise by content alone
//!   (the merchant only by name);
//! - date format: the candidate formats that parse every date cell, the first of them
//!   chosen, with [`Guess::ambiguous_date`] set when another one reads some dates
//!   differently (e.g. `%d/%m/%Y` and `%m/%d/%Y` when all days are at most 12);
//! - number format: from the amount cells (`1.234,56`, `1,234.56`, `1 234,56`, `1'234.56`,
//!   `-12,50`, `(12.50)`, `12,50-`, with currency symbols or codes around them).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use csv::{ReaderBuilder, StringRecord};

/// The delimiters tried, in order of preference.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many non-blank records decide the delimiter.
const DELIMITER_RECORDS: usize = 50;

/// How many non-blank records (header included) are examined at most.
const MAX_RECORDS: usize = 500;

/// Cells of a record beyond this many are ignored.
const MAX_COLUMNS: usize = 256;

/// The longest header name reported as a column name (as the import options allow).
const MAX_COLUMN_CHARS: usize = 200;

/// Longer cells are never dates.
const MAX_DATE_CHARS: usize = 40;

/// Longer cells are never amounts.
const MAX_AMOUNT_CHARS: usize = 64;

/// Amounts with more digits than this are taken for reference numbers.
const MAX_AMOUNT_DIGITS: usize = 24;

/// Dates outside these years are taken for misreadings (e.g. `24` read by `%Y`).
const YEARS: RangeInclusive<i32> = 1900..=2100;

/// The date formats tried (each also with a time after it), in order of preference.
const DATE_FORMATS: [&str; 18] = [
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d.%m.%y",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
    "%d %B %Y",
    "%B %d, %Y",
    "%m-%d-%Y",
    "%d %b %y",
    "%d-%b-%y",
];

/// The times a date may be followed by.
const TIME_SUFFIXES: [&str; 4] = ["", " %H:%M:%S", "T%H:%M:%S", " %H:%M"];

/// Characters that group digits or separate decimals in amounts.
const NUMBER_SEPARATORS: [char; 7] = ['.', ',', ' ', '\'', '\u{2019}', '\u{A0}', '\u{202F}'];

/// Signs of a negative amount: hyphen-minus, minus sign, en dash.
const MINUS_SIGNS: [char; 3] = ['-', '\u{2212}', '\u{2013}'];

/// Currency symbols and codes that may stand before or after an amount.
const CURRENCIES: [&str; 30] = [
    "US$", "CA$", "AU$", "NZ$", "R$", "$", "€", "£", "¥", "₹", "₽", "₺", "₩", "₪", "EUR", "USD",
    "GBP", "CHF", "JPY", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "INR",
    "BRL",
];

// Header names, lowercase without accents, words separated by one space; in order of
// preference. A header matches a name when its words are the name's words (first pass)
// or contain them in a row (second pass).

/// Names of the booking date column; value dates last.
const DATE_NAMES: &[&str] = &[
    "booking date",
    "transaction date",
    "posting date",
    "posted date",
    "post date",
    "trans date",
    "date posted",
    "buchungstag",
    "buchungsdatum",
    "date operation",
    "date d operation",
    "date de operation",
    "fecha operacion",
    "fecha de operacion",
    "data operazione",
    "data contabile",
    "data movimento",
    "data de movimento",
    "data lancamento",
    "boekingsdatum",
    "transactiedatum",
    "date",
    "datum",
    "fecha",
    "data",
    "value date",
    "valuta",
    "wertstellung",
    "valutadatum",
    "date valeur",
    "date de valeur",
    "fecha valor",
    "data valuta",
    "data valor",
    "rentedatum",
];

/// Names of a signed amount column.
const AMOUNT_NAMES: &[&str] = &[
    "amount",
    "transaction amount",
    "betrag",
    "umsatz",
    "montant",
    "importe",
    "bedrag",
    "importo",
    "valor",
    "montante",
];

/// Names of a money-out column.
const DEBIT_NAMES: &[&str] = &[
    "debit",
    "debits",
    "debit amount",
    "withdrawal",
    "withdrawals",
    "withdrawal amount",
    "money out",
    "paid out",
    "outflow",
    "soll",
    "ausgang",
    "ausgaben",
    "belastung",
    "debito",
    "cargo",
    "cargos",
    "uscite",
    "addebiti",
    "addebito",
];

/// Names of a money-in column.
const CREDIT_NAMES: &[&str] = &[
    "credit",
    "credits",
    "credit amount",
    "deposit",
    "deposits",
    "deposit amount",
    "money in",
    "paid in",
    "inflow",
    "haben",
    "eingang",
    "einnahmen",
    "gutschrift",
    "credito",
    "abono",
    "abonos",
    "ingreso",
    "ingresos",
    "entrate",
    "accrediti",
    "accredito",
];

/// Names of the description column.
const DESCRIPTION_NAMES: &[&str] = &[
    "description",
    "transaction description",
    "verwendungszweck",
    "libelle",
    "libelle operation",
    "concepto",
    "omschrijving",
    "descrizione",
    "descricao",
    "descripcion",
    "memo",
    "narrative",
    "details",
    "transaction details",
    "buchungstext",
    "mededelingen",
    "causale",
    "detalle",
    "particulars",
    "purpose",
    "beschreibung",
    "communication",
    "reference",
    "referenz",
    "text",
];

/// Names of the merchant (counterparty) column.
const MERCHANT_NAMES: &[&str] = &[
    "payee",
    "payee name",
    "merchant",
    "merchant name",
    "counterparty",
    "counterparty name",
    "beneficiary",
    "beneficiary name",
    "auftraggeber begunstigter",
    "auftraggeber beguenstigter",
    "begunstigter zahlungspflichtiger",
    "beguenstigter zahlungspflichtiger",
    "zahlungsempfanger",
    "zahlungsempfaenger",
    "empfanger",
    "empfaenger",
    "auftraggeber",
    "begunstigter",
    "beguenstigter",
    "tegenrekening naam",
    "naam",
    "beneficiaire",
    "tiers",
    "contrepartie",
    "beneficiario",
    "ordenante",
    "destinatario",
    "controparte",
    "favorecido",
    "payer",
    "name",
    "nome",
];

/// The layout guessed for a statement file, in the terms of the import options.
///
/// Column fields hold a header name when [`has_header`](Self::has_header) is set and the
/// name identifies the column, otherwise a 1-based column number as text (`"3"`); an empty
/// string means the column was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    /// Whether the first non-blank record is a header row.
    pub has_header: bool,
    /// The field delimiter: `,`, `;`, `\t` or `|`.
    pub delimiter: char,
    /// The booking date column (always found).
    pub date_column: String,
    /// The chrono strftime format of the dates, e.g. `%d.%m.%Y`.
    pub date_format: String,
    /// Whether another format would read some sampled dates differently (e.g. day and
    /// month swapped because no day is above 12); a preview should ask to confirm.
    pub ambiguous_date: bool,
    /// The signed amount column; empty when there is a debit/credit pair instead.
    pub amount_column: String,
    /// The money-out column of a debit/credit pair; empty with a signed amount column.
    pub debit_column: String,
    /// The money-in column of a debit/credit pair; empty with a signed amount column.
    pub credit_column: String,
    /// `.` or `,`.
    pub decimal_separator: char,
    /// The digit-grouping character of amounts: the one seen in the sample, else the usual
    /// one for the decimal separator (`,` for `.`, `.` for `,`; harmless when unused, as
    /// only well-grouped digits are taken for grouping).
    pub thousands_separator: Option<char>,
    /// The description column, or empty.
    pub description_column: String,
    /// The merchant column (found by header name only), or empty.
    pub merchant_column: String,
    /// How many data records (after the header) the guess is based on.
    pub rows_examined: usize,
}

impl Guess {
    /// The delimiter written as the `delimiter` import option expects (`\t` as backslash-t).
    #[must_use]
    pub fn delimiter_option(&self) -> String {
        if self.delimiter == '\t' {
            "\\t".to_owned()
        } else {
            self.delimiter.to_string()
        }
    }

    /// The decimal separator as the `decimal_separator` import option expects.
    #[must_use]
    pub fn decimal_separator_option(&self) -> String {
        self.decimal_separator.to_string()
    }

    /// The thousands separator as the `thousands_separator` import option expects (empty
    /// for none).
    #[must_use]
    pub fn thousands_separator_option(&self) -> String {
        self.thousands_separator
            .map(String::from)
            .unwrap_or_default()
    }
}

/// Why no layout could be guessed; each message names the option to set instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SniffError {
    /// No delimiter splits the lines into a consistent number (two or more) of columns.
    #[error(
        "the file does not look like a table: none of `,`, `;`, tab or `|` splits its lines \
         into the same number of columns; set `csv.delimiter` if it uses another one"
    )]
    NotTabular,
    /// No column holds dates in a known format.
    #[error(
        "no column holds dates in a recognised format; set `csv.date_column` (and \
         `csv.date_format`)"
    )]
    NoDateColumn,
    /// No column holds amounts, nor do two columns form a debit/credit pair.
    #[error(
        "no column holds amounts; set `csv.amount_column`, or `csv.debit_column` and \
         `csv.credit_column` when money out and money in are in separate columns"
    )]
    NoAmountColumn,
}

impl SniffError {
    /// The request option that would settle it.
    pub fn option(&self) -> &'static str {
        match self {
            Self::NotTabular => "csv.delimiter",
            Self::NoDateColumn => "csv.date_column",
            Self::NoAmountColumn => "csv.amount_column",
        }
    }
}

/// Guesses the layout of a statement from `sample`, the start of the file decoded to UTF-8
/// (a byte order mark is ignored).
///
/// Unless `complete` is set (the sample is the whole file), the sample is taken to end in
/// the middle of a line: the last, partial line is ignored, and so is a last record cut
/// inside a quoted field.
///
/// # Errors
///
/// [`SniffError`] when the sample is not tabular, or has no date or no amount column.
pub fn sniff(sample: &str, complete: bool) -> Result<Guess, SniffError> {
    let text = sample.strip_prefix('\u{FEFF}').unwrap_or(sample);
    let text = if complete {
        text
    } else {
        // A line break is ASCII, so the cut is on a character boundary.
        text.rfind(['\n', '\r'])
            .and_then(|end| text.get(..=end))
            .unwrap_or("")
    };

    let delimiter = choose_delimiter(text, complete).ok_or(SniffError::NotTabular)?;
    let records = read_records(text, delimiter, MAX_RECORDS, complete);
    let rows: Vec<Vec<Cell>> = records
        .iter()
        .map(|record| record.iter().map(|cell| Cell::new(cell)).collect())
        .collect();
    let Some((first, rest)) = rows.split_first() else {
        return Err(SniffError::NotTabular);
    };
    let has_header = is_header(first, rest);
    let table = if has_header {
        Table::new(records.first().map(|header| header_names(header)), rest)
    } else {
        Table::new(None, &rows)
    };

    let date = table
        .find_by_name(DATE_NAMES, &[], |j| table.is_date_column(j))
        .or_else(|| (0..table.width).find(|&j| table.is_date_column(j)))
        .ok_or(SniffError::NoDateColumn)?;
    let (date_format, ambiguous_date) = table.date_format(date);

    let amount = table.find_amount(date).ok_or(SniffError::NoAmountColumn)?;
    let amount_columns = match amount {
        Amount::Signed(column) => vec![column],
        Amount::Pair { debit, credit } => vec![debit, credit],
    };
    let numbers = amount_columns
        .iter()
        .flat_map(|&j| table.column(j))
        .filter_map(|cell| cell.and_then(|cell| cell.number));
    let (decimal_separator, thousands_separator) = number_format(numbers, delimiter);

    let mut used = amount_columns;
    used.push(date);
    let description_by_name = table.find_by_name(DESCRIPTION_NAMES, &used, |_| true);
    if let Some(description) = description_by_name {
        used.push(description);
    }
    let merchant = table.find_by_name(MERCHANT_NAMES, &used, |_| true);
    if let Some(merchant) = merchant {
        used.push(merchant);
    }
    let description = description_by_name.or_else(|| table.longest_text_column(&used));

    let column = |j: Option<usize>| j.map(|j| table.column_ref(j)).unwrap_or_default();
    let (amount_column, debit_column, credit_column) = match amount {
        Amount::Signed(j) => (column(Some(j)), String::new(), String::new()),
        Amount::Pair { debit, credit } => {
            (String::new(), column(Some(debit)), column(Some(credit)))
        }
    };
    Ok(Guess {
        has_header,
        delimiter: char::from(delimiter),
        date_column: column(Some(date)),
        date_format,
        ambiguous_date,
        amount_column,
        debit_column,
        credit_column,
        decimal_separator,
        thousands_separator,
        description_column: column(description),
        merchant_column: column(merchant),
        rows_examined: table.data.len(),
    })
}

/// The delimiter giving the most consistent field count (at least two fields, in at least
/// half the records) over the first records: the highest share of records with the most
/// common count, then the most fields, then the order of [`DELIMITERS`].
fn choose_delimiter(text: &str, complete: bool) -> Option<u8> {
    // (delimiter, records with the common count, records, common count)
    let mut best: Option<(u8, usize, usize, usize)> = None;
    for delimiter in DELIMITERS {
        let records = read_records(text, delimiter, DELIMITER_RECORDS, complete);
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for record in records.iter().filter(|record| record.len() >= 2) {
            *counts.entry(record.len()).or_default() += 1;
        }
        let Some((width, count)) = counts
            .into_iter()
            .max_by_key(|&(width, count)| (count, width))
        else {
            continue;
        };
        let total = records.len();
        if count * 2 < total {
            continue;
        }
        let better = best.is_none_or(|(_, best_count, best_total, best_width)| {
            let (share, best_share) = (count * best_total, best_count * total);
            share > best_share || (share == best_share && width > best_width)
        });
        if better {
            best = Some((delimiter, count, total, width));
        }
    }
    best.map(|(delimiter, ..)| delimiter)
}

/// Reads up to `limit` non-blank records (cells untrimmed, at most [`MAX_COLUMNS`] each).
///
/// Unless `complete`, the text ends with a line break, so a last record whose last field
/// ends with one was cut inside a quoted field: it is dropped.
fn read_records(text: &str, delimiter: u8, limit: usize, complete: bool) -> Vec<Vec<String>> {
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut record = StringRecord::new();
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut last_pushed = false;
    let mut last_cut = false;
    // One record more than needed: only the very last record of the text can be cut.
    while records.len() <= limit {
        match reader.read_record(&mut record) {
            Ok(true) => {
                last_cut = record
                    .iter()
                    .next_back()
                    .is_some_and(|field| field.ends_with(['\n', '\r']));
                last_pushed = record.iter().any(|field| !field.trim().is_empty());
                if last_pushed {
                    records.push(record.iter().take(MAX_COLUMNS).map(str::to_owned).collect());
                }
            }
            Ok(false) | Err(_) => {
                if !complete && last_pushed && last_cut {
                    records.pop();
                }
                break;
            }
        }
    }
    records.truncate(limit);
    records
}

/// Whether the first record is a header: none of its cells is a date or an amount, while
/// in some column at least half of the following records have one.
fn is_header(first: &[Cell], rest: &[Vec<Cell>]) -> bool {
    if first.iter().any(Cell::is_value) || rest.is_empty() {
        return false;
    }
    let width = rest.iter().map(Vec::len).max().unwrap_or(0);
    (0..width).any(|j| {
        let values = rest
            .iter()
            .filter(|row| row.get(j).is_some_and(Cell::is_value))
            .count();
        values > 0 && values * 2 >= rest.len()
    })
}

/// A header cell: its trimmed text and its words for matching names.
struct HeaderName {
    text: String,
    words: Vec<String>,
}

/// The header cells of a record.
fn header_names(record: &[String]) -> Vec<HeaderName> {
    record
        .iter()
        .map(|cell| {
            let text = cell.trim().to_owned();
            let words = words(&text);
            HeaderName { text, words }
        })
        .collect()
}

/// The words of a header cell: lowercase, accents removed, split at anything that is not
/// a letter or a digit.
fn words(text: &str) -> Vec<String> {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => folded.push('a'),
            'ç' => folded.push('c'),
            'è' | 'é' | 'ê' | 'ë' => folded.push('e'),
            'ì' | 'í' | 'î' | 'ï' => folded.push('i'),
            'ñ' => folded.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => folded.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => folded.push('u'),
            'ß' => folded.push_str("ss"),
            c if c.is_alphanumeric() => folded.push(c),
            _ => folded.push(' '),
        }
    }
    folded.split_whitespace().map(str::to_owned).collect()
}

/// Whether `words` contains `name` (a space-separated word list) as consecutive words, or
/// is exactly it.
fn matches_name(words: &[String], name: &str, exact: bool) -> bool {
    let name: Vec<&str> = name.split(' ').collect();
    if exact {
        return words.len() == name.len() && words.iter().zip(&name).all(|(a, b)| a == b);
    }
    words
        .windows(name.len())
        .any(|window| window.iter().zip(&name).all(|(a, b)| a == b))
}

/// A parsed cell.
struct Cell {
    /// The trimmed text.
    text: String,
    /// Bit `i` is set when the text parses with `date_formats()[i]`.
    dates: u128,
    /// The text read as an amount, if it is one.
    number: Option<Number>,
}

impl Cell {
    fn new(raw: &str) -> Self {
        let text = raw.trim();
        Self {
            dates: date_mask(text),
            number: parse_number(text),
            text: text.to_owned(),
        }
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether the cell is a date or an amount.
    fn is_value(&self) -> bool {
        self.dates != 0 || self.number.is_some()
    }

    /// Whether the cell is a non-zero amount.
    fn is_set_amount(&self) -> bool {
        self.number.is_some_and(|number| !number.zero)
    }
}

/// A candidate date format and the shape of the dates it writes.
struct DateFormat {
    format: String,
    shape: String,
}

/// Every candidate date format, in order of preference (at most 128).
fn date_formats() -> &'static [DateFormat] {
    static FORMATS: LazyLock<Vec<DateFormat>> = LazyLock::new(|| {
        let sample =
            NaiveDate::from_ymd_opt(2024, 11, 23).and_then(|date| date.and_hms_opt(12, 34, 56));
        DATE_FORMATS
            .iter()
            .flat_map(|base| {
                TIME_SUFFIXES
                    .iter()
                    .map(move |time| format!("{base}{time}"))
            })
            .filter_map(|format| {
                let written = sample?.format(&format).to_string();
                Some(DateFormat {
                    shape: shape(&written),
                    format,
                })
            })
            .take(128)
            .collect()
    });
    &FORMATS
}

/// The shape of a date: each run of digits as `9`, each run of letters as `a`, anything
/// else kept. A cell can only parse with a format of the same shape.
fn shape(text: &str) -> String {
    let mut shape = String::with_capacity(text.len());
    for c in text.chars() {
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_alphabetic() {
            'a'
        } else {
            c
        };
        if !(matches!(class, '9' | 'a') && shape.ends_with(class)) {
            shape.push(class);
        }
    }
    shape
}

/// The date formats `text` parses with, as a bit set over [`date_formats`].
fn date_mask(text: &str) -> u128 {
    if text.len() > MAX_DATE_CHARS || !text.bytes().any(|b| b.is_ascii_digit()) {
        return 0;
    }
    let shape = shape(text);
    let mut mask = 0;
    for (i, format) in date_formats().iter().enumerate() {
        if format.shape == shape && parse_date(text, &format.format).is_some() {
            mask |= 1_u128 << i;
        }
    }
    mask
}

/// Parses a date as the importer does, rejecting implausible years.
fn parse_date(text: &str, format: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, format)
        .ok()
        .filter(|date| YEARS.contains(&date.year()))
}

/// What an amount cell says about the number format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Number {
    /// Written with a minus, in parentheses, or with a `DR` suffix.
    negative: bool,
    /// All its digits are zeros.
    zero: bool,
    /// The decimal separator, when the cell shows it for certain.
    decimal: Option<char>,
    /// The digit-grouping separator, when the cell shows it for certain.
    grouping: Option<char>,
    /// A single `.` or `,` followed by exactly three digits (`1.234`): either one.
    lone_three: Option<char>,
}

/// Reads a cell as an amount in any common notation; `None` when it is not one.
fn parse_number(cell: &str) -> Option<Number> {
    if cell.len() > MAX_AMOUNT_CHARS {
        return None;
    }
    let mut s = cell.trim();
    let mut negative: Option<bool> = None;
    let mut currency = false;
    loop {
        s = s.trim();
        let sign = |negative: &mut Option<bool>, minus: bool| {
            negative.is_none().then(|| *negative = Some(minus))
        };
        if let Some(inner) = s.strip_prefix('(').and_then(|rest| rest.strip_suffix(')')) {
            sign(&mut negative, true)?;
            s = inner;
        } else if let Some(rest) = strip_currency(s) {
            if currency {
                return None;
            }
            currency = true;
            s = rest;
        } else if let Some(rest) = s.strip_prefix(MINUS_SIGNS) {
            sign(&mut negative, true)?;
            s = rest;
        } else if let Some(rest) = s.strip_prefix('+') {
            sign(&mut negative, false)?;
            s = rest;
        } else if let Some(rest) = s.strip_suffix(MINUS_SIGNS) {
            sign(&mut negative, true)?;
            s = rest;
        } else if let Some(rest) = s.strip_suffix('+') {
            sign(&mut negative, false)?;
            s = rest;
        } else if let Some(rest) = strip_word_suffix(s, "dr") {
            sign(&mut negative, true)?;
            s = rest;
        } else if let Some(rest) = strip_word_suffix(s, "cr") {
            sign(&mut negative, false)?;
            s = rest;
        } else {
            break;
        }
    }

    let mut groups: Vec<&str> = Vec::new();
    let mut separators: Vec<char> = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            continue;
        }
        if !NUMBER_SEPARATORS.contains(&c) {
            return None;
        }
        groups.push(s.get(start..i)?);
        separators.push(c);
        start = i + c.len_utf8();
    }
    groups.push(s.get(start..)?);
    let digits: usize = groups.iter().map(|group| group.len()).sum();
    if digits == 0 || digits > MAX_AMOUNT_DIGITS {
        return None;
    }
    let zero = groups.iter().all(|group| group.bytes().all(|b| b == b'0'));
    let mut number = Number {
        negative: negative.unwrap_or(false),
        zero,
        decimal: None,
        grouping: None,
        lone_three: None,
    };

    let Some((&last, others)) = separators.split_last() else {
        return Some(number);
    };
    let (fraction, integer) = groups.split_last()?;
    if matches!(last, '.' | ',') && !others.contains(&last) {
        // The last separator occurs once: a decimal separator, or a lone grouping one.
        if fraction.is_empty() {
            return None;
        }
        match others.split_first() {
            Some((&grouping, rest)) => {
                if rest.iter().any(|&c| c != grouping) || !well_grouped(integer) {
                    return None;
                }
                number.grouping = Some(grouping);
                number.decimal = Some(last);
            }
            None => {
                let whole = integer.first().copied().unwrap_or_default();
                if fraction.len() == 3 && (1..=3).contains(&whole.len()) && !whole.starts_with('0')
                {
                    number.lone_three = Some(last);
                } else {
                    number.decimal = Some(last);
                }
            }
        }
    } else {
        // One separator throughout: digit grouping.
        if others.iter().any(|&c| c != last) || !well_grouped(&groups) {
            return None;
        }
        number.grouping = Some(last);
    }
    Some(number)
}

/// Whether digit groups are well formed: 1–3 digits, then groups of 3 (or 2 for lakh-style
/// grouping) ending in a group of 3; as the importer requires.
fn well_grouped(groups: &[&str]) -> bool {
    match groups {
        [first, middle @ .., last] => {
            (1..=3).contains(&first.len())
                && last.len() == 3
                && middle.iter().all(|group| (2..=3).contains(&group.len()))
        }
        _ => false,
    }
}

/// `s` without a currency symbol or code at its start or end.
fn strip_currency(s: &str) -> Option<&str> {
    CURRENCIES.iter().find_map(|currency| {
        let rest = s
            .strip_prefix(currency)
            .or_else(|| s.strip_suffix(currency))?;
        // A code must not be part of a longer word ("EURO").
        let letter_next =
            rest.starts_with(char::is_alphabetic) || rest.ends_with(char::is_alphabetic);
        (!letter_next).then_some(rest)
    })
}

/// `s` without a trailing two-letter ASCII word (any case) that is not part of a longer
/// word: `12.50 DR`, `12.50CR`.
fn strip_word_suffix<'s>(s: &'s str, word: &str) -> Option<&'s str> {
    let split = s.len().checked_sub(word.len())?;
    let (rest, suffix) = (s.get(..split)?, s.get(split..)?);
    (suffix.eq_ignore_ascii_case(word) && !rest.ends_with(char::is_alphabetic)).then_some(rest)
}

/// The decimal and thousands separators shown by the amount cells.
///
/// The decimal separator is the one most cells show for certain; without such cells it
/// follows from the grouping seen (`1.234.567`), then from lone groups of three (`1,234`
/// is grouped; `1.234` is grouped unless the delimiter is `,`), then from the delimiter
/// (`;` suggests `,`). The thousands separator is the grouping seen, else the usual one.
fn number_format(numbers: impl Iterator<Item = Number>, delimiter: u8) -> (char, Option<char>) {
    let (mut dot, mut comma) = (0_usize, 0_usize);
    let mut grouping: BTreeMap<char, usize> = BTreeMap::new();
    let mut lone_three: BTreeMap<char, usize> = BTreeMap::new();
    for number in numbers {
        match number.decimal {
            Some('.') => dot += 1,
            Some(',') => comma += 1,
            _ => {}
        }
        if let Some(c) = number.grouping {
            *grouping.entry(c).or_default() += 1;
        }
        if let Some(c) = number.lone_three {
            *lone_three.entry(c).or_default() += 1;
        }
    }
    let most = |counts: &BTreeMap<char, usize>, not: Option<char>| {
        counts
            .iter()
            .filter(|&(&c, _)| Some(c) != not)
            .max_by_key(|&(_, &count)| count)
            .map(|(&c, _)| c)
    };
    let by_delimiter = if delimiter == b';' { ',' } else { '.' };
    let decimal = if dot != comma {
        if dot > comma { '.' } else { ',' }
    } else if dot > 0 {
        by_delimiter
    } else if let Some(c) = most(&grouping, None).filter(|c| matches!(c, '.' | ',')) {
        other_separator(c)
    } else if let Some(c) = most(&lone_three, None) {
        if c == ',' || delimiter == b',' {
            '.'
        } else {
            ','
        }
    } else {
        by_delimiter
    };
    let thousands = most(&grouping, Some(decimal))
        .or_else(|| most(&lone_three, Some(decimal)))
        .unwrap_or_else(|| other_separator(decimal));
    (decimal, Some(thousands))
}

/// `,` for `.` and `.` for `,`.
fn other_separator(c: char) -> char {
    if c == '.' { ',' } else { '.' }
}

/// Where the amount of a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Amount {
    Signed(usize),
    Pair { debit: usize, credit: usize },
}

/// The data records and the header, if any.
struct Table<'d> {
    header: Option<Vec<HeaderName>>,
    data: &'d [Vec<Cell>],
    /// The number of columns of the widest record.
    width: usize,
}

impl<'d> Table<'d> {
    fn new(header: Option<Vec<HeaderName>>, data: &'d [Vec<Cell>]) -> Self {
        let width = data
            .iter()
            .map(Vec::len)
            .chain(header.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        Self {
            header,
            data,
            width,
        }
    }

    /// The cells of column `j`, one per data record (`None` where the record is shorter).
    fn column(&self, j: usize) -> impl Iterator<Item = Option<&'d Cell>> + 'd {
        self.data.iter().map(move |row| row.get(j))
    }

    /// Whether `count` is at least 90% of the data records.
    fn most(&self, count: usize) -> bool {
        !self.data.is_empty() && count * 10 >= self.data.len() * 9
    }

    /// How many cells of column `j` parse with each date format.
    fn date_counts(&self, j: usize) -> Vec<usize> {
        let mut counts = vec![0; date_formats().len()];
        for cell in self.column(j).flatten() {
            for (i, count) in counts.iter_mut().enumerate() {
                if cell.dates & (1_u128 << i) != 0 {
                    *count += 1;
                }
            }
        }
        counts
    }

    /// Whether at least 90% of the records have a date in column `j`, all in one format.
    fn is_date_column(&self, j: usize) -> bool {
        self.most(self.date_counts(j).into_iter().max().unwrap_or(0))
    }

    /// The format reading the most dates of column `j` (every one, usually) and whether
    /// another format reading as many would read some of them differently.
    fn date_format(&self, j: usize) -> (String, bool) {
        let formats = date_formats();
        let counts = self.date_counts(j);
        let best = counts.iter().copied().max().unwrap_or(0);
        let mut kept = counts
            .iter()
            .enumerate()
            .filter(|&(_, &count)| count == best)
            .map(|(i, _)| i);
        let Some(chosen) = kept.next().and_then(|i| formats.get(i)) else {
            return (String::new(), false);
        };
        let ambiguous = kept.filter_map(|i| formats.get(i)).any(|other| {
            self.column(j).flatten().any(|cell| {
                let other = parse_date(&cell.text, &other.format);
                other.is_some() && other != parse_date(&cell.text, &chosen.format)
            })
        });
        (chosen.format.clone(), ambiguous)
    }

    /// Whether at least 90% of the records have an amount in column `j`, not all zero.
    fn is_signed_column(&self, j: usize) -> bool {
        let amounts = self
            .column(j)
            .flatten()
            .filter(|cell| cell.number.is_some());
        let (mut count, mut set) = (0, false);
        for cell in amounts {
            count += 1;
            set |= cell.is_set_amount();
        }
        set && self.most(count)
    }

    /// Whether columns `debit` and `credit` form a debit/credit pair: in at least 90% of
    /// the records both are amounts or empty and exactly one is a non-zero amount. With
    /// `both_used`, each must hold an amount somewhere.
    fn is_pair(&self, debit: usize, credit: usize, both_used: bool) -> bool {
        if debit == credit {
            return false;
        }
        let usable = |cell: Option<&Cell>| cell.is_none_or(|c| c.is_empty() || c.number.is_some());
        let set = |cell: Option<&Cell>| cell.is_some_and(Cell::is_set_amount);
        let (mut good, mut debits, mut credits) = (0, 0, 0);
        for (d, c) in self.column(debit).zip(self.column(credit)) {
            if usable(d) && usable(c) && set(d) != set(c) {
                good += 1;
            }
            debits += usize::from(set(d));
            credits += usize::from(set(c));
        }
        let used = if both_used {
            debits > 0 && credits > 0
        } else {
            debits + credits > 0
        };
        used && self.most(good)
    }

    /// How many non-zero amounts column `j` has.
    fn set_amounts(&self, j: usize) -> usize {
        self.column(j)
            .flatten()
            .filter(|cell| cell.is_set_amount())
            .count()
    }

    /// The amount column(s): a signed column named exactly so, a named debit/credit pair,
    /// a signed column whose name contains an amount word; then by content a debit/credit
    /// pair (the busier column taken for money out) or a signed column (one with negative
    /// amounts and decimals preferred).
    fn find_amount(&self, date: usize) -> Option<Amount> {
        let not_date = [date];
        if let Some(j) =
            self.find_named(AMOUNT_NAMES, &not_date, true, |j| self.is_signed_column(j))
        {
            return Some(Amount::Signed(j));
        }
        let credit_for = |debit: usize| {
            self.find_by_name(CREDIT_NAMES, &[date, debit], |credit| {
                self.is_pair(debit, credit, false)
            })
        };
        if let Some(debit) =
            self.find_by_name(DEBIT_NAMES, &not_date, |debit| credit_for(debit).is_some())
            && let Some(credit) = credit_for(debit)
        {
            return Some(Amount::Pair { debit, credit });
        }
        if let Some(j) =
            self.find_named(AMOUNT_NAMES, &not_date, false, |j| self.is_signed_column(j))
        {
            return Some(Amount::Signed(j));
        }

        let columns = (0..self.width).filter(|&j| j != date);
        // Only columns of amounts and empty cells, with some amount, can be in a pair.
        let sparse: Vec<usize> = columns
            .clone()
            .filter(|&j| {
                let usable = self
                    .column(j)
                    .filter(|cell| cell.is_none_or(|c| c.is_empty() || c.number.is_some()))
                    .count();
                self.most(usable) && self.set_amounts(j) > 0
            })
            .collect();
        for (i, &first) in sparse.iter().enumerate() {
            for &second in sparse.iter().skip(i + 1) {
                if self.is_pair(first, second, true) {
                    return Some(if self.set_amounts(second) > self.set_amounts(first) {
                        Amount::Pair {
                            debit: second,
                            credit: first,
                        }
                    } else {
                        Amount::Pair {
                            debit: first,
                            credit: second,
                        }
                    });
                }
            }
        }
        columns
            .filter(|&j| self.is_signed_column(j))
            .max_by_key(|&j| {
                let numbers = self.column(j).flatten().filter_map(|cell| cell.number);
                let (mut negative, mut decimals) = (false, false);
                for number in numbers {
                    negative |= number.negative;
                    decimals |= number.decimal.is_some();
                }
                (negative, decimals, std::cmp::Reverse(j))
            })
            .map(Amount::Signed)
    }

    /// The first column accepted whose header matches a name of `names` exactly, else the
    /// first one whose header contains such a name; `excluded` columns are skipped.
    fn find_by_name(
        &self,
        names: &[&str],
        excluded: &[usize],
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        self.find_named(names, excluded, true, &accept)
            .or_else(|| self.find_named(names, excluded, false, &accept))
    }

    /// One pass of [`find_by_name`](Self::find_by_name): names in order of preference,
    /// then columns from the left.
    fn find_named(
        &self,
        names: &[&str],
        excluded: &[usize],
        exact: bool,
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let header = self.header.as_ref()?;
        names.iter().find_map(|name| {
            header.iter().enumerate().find_map(|(j, cell)| {
                (!excluded.contains(&j) && matches_name(&cell.words, name, exact) && accept(j))
                    .then_some(j)
            })
        })
    }

    /// The column, not `excluded`, with the longest text on average, where fewer than half
    /// of the non-empty cells are dates or amounts.
    fn longest_text_column(&self, excluded: &[usize]) -> Option<usize> {
        (0..self.width)
            .filter(|j| !excluded.contains(j))
            .filter_map(|j| {
                let (mut filled, mut values, mut chars) = (0_usize, 0_usize, 0_usize);
                for cell in self.column(j).flatten().filter(|cell| !cell.is_empty()) {
                    filled += 1;
                    values += usize::from(cell.is_value());
                    chars += cell.text.chars().count();
                }
                (filled > 0 && values * 2 < filled).then_some((j, chars))
            })
            .max_by_key(|&(j, chars)| (chars, std::cmp::Reverse(j)))
            .map(|(j, _)| j)
    }

    /// How an option names column `j`: its header text when that identifies it (not
    /// empty, not a number, not too long, the first header of that name ignoring case),
    /// otherwise its 1-based number.
    fn column_ref(&self, j: usize) -> String {
        let name = self.header.as_ref().and_then(|header| {
            let name = &header.get(j)?.text;
            let lower = name.to_lowercase();
            let usable = !name.is_empty()
                && name.chars().count() <= MAX_COLUMN_CHARS
                && !name.bytes().all(|b| b.is_ascii_digit())
                && header
                    .iter()
                    .position(|cell| cell.text.to_lowercase() == lower)
                    == Some(j);
            usable.then(|| name.clone())
        });
        name.unwrap_or_else(|| (j + 1).to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Chase (US): trailing comma on data rows, MM/DD/YYYY, signed amounts.
    const CHASE: &str = "\
Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #
DEBIT,01/15/2024,\"STARBUCKS STORE 12345 SEATTLE WA            01/14\",-5.75,DEBIT_CARD,4321.09,,
DEBIT,01/16/2024,\"AMAZON.COM*RT4KX12Y3 AMZN.COM/BILL WA       01/15\",-42.99,DEBIT_CARD,4278.10,,
CREDIT,01/17/2024,\"ACME CORP        PAYROLL                    PPD ID: 9876543210\",2450.00,ACH_CREDIT,6728.10,,
CHECK,01/18/2024,\"CHECK 1043\",-1200.00,CHECK_PAID,5528.10,1043,
DEBIT,01/19/2024,\"Online Transfer to SAV ...1234 transaction#: 19283746512 01/19\",-500.00,ACCT_XFER,5028.10,,
DEBIT,01/22/2024,\"SHELL OIL 57444 HOUSTON TX                   01/20\",-38.41,DEBIT_CARD,4989.69,,
DEBIT,01/23/2024,\"CON ED OF NY     CECONY     PPD ID: 1234567890\",-87.32,ACH_DEBIT,4902.37,,
";

    /// DKB / Sparkasse (DE): `;`, everything quoted, DD.MM.YYYY, `-1.234,56`.
    const DKB: &str = "\
\"Buchungstag\";\"Valuta\";\"Auftraggeber / Begünstigter\";\"Verwendungszweck\";\"Betrag (EUR)\"
\"15.01.2024\";\"15.01.2024\";\"REWE Markt GmbH\";\"Lastschrift REWE SAGT DANKE 12345678\";\"-54,37\"
\"16.01.2024\";\"16.01.2024\";\"Stadtwerke München\";\"Abschlag Strom Kundennr. 1002003\";\"-89,00\"
\"31.01.2024\";\"31.01.2024\";\"ACME GmbH\";\"Gehalt Januar 2024\";\"3.215,44\"
\"01.02.2024\";\"01.02.2024\";\"Hausverwaltung Schmidt\";\"Miete Februar; Whg. 3 OG links\";\"-1.234,56\"
\"05.02.2024\";\"03.02.2024\";\"PayPal Europe S.a.r.l. et Cie S.C.A\";\"1039587428374 . Spotify AB, Ihr Einkauf bei Spotify AB\";\"-10,99\"
";

    /// Nationwide (UK): `Paid out` / `Paid in` with `£`, `15 Jan 2024`.
    const NATIONWIDE: &str = "\
\"Date\",\"Transaction type\",\"Description\",\"Paid out\",\"Paid in\",\"Balance\"
\"15 Jan 2024\",\"Contactless payment\",\"TESCO STORES 3217\",\"£23.45\",\"\",\"£1,976.55\"
\"16 Jan 2024\",\"Direct debit\",\"THAMES WATER\",\"£38.00\",\"\",\"£1,938.55\"
\"17 Jan 2024\",\"Bank credit ACME LTD\",\"ACME LTD SALARY\",\"\",\"£2,450.00\",\"£4,388.55\"
\"19 Jan 2024\",\"Standing order\",\"RENT J SMITH\",\"£1,100.00\",\"\",\"£3,288.55\"
\"22 Jan 2024\",\"Visa purchase\",\"AMAZON.CO.UK*AB12C3D4E\",\"£12.99\",\"\",\"£3,275.56\"
";

    /// A French bank: `Date;Libellé;Débit;Crédit`, decimal commas, spaces grouping digits.
    const FRENCH: &str = "\
Date;Libellé;Débit;Crédit
02/01/2024;PRLV SEPA FREE MOBILE;15,99;
05/01/2024;CB CARREFOUR CITY 04/01;42,30;
10/01/2024;VIR SEPA ACME SAS SALAIRE;;2 345,67
15/01/2024;CB SNCF INTERNET 14/01;1 120,00;
31/01/2024;PRLV SEPA EDF clients particuliers;67,00;
";

    /// No header at all.
    const HEADERLESS: &str = "\
2024-01-15,-12.50,Coffee
2024-01-16,-45.00,Groceries at Whole Foods
2024-01-31,2500.00,Salary ACME
2024-02-01,-1200.00,Rent February
";

    /// A byte order mark, CR LF, quoted delimiters, quotes and line breaks.
    const BOM_CRLF: &str = "\u{FEFF}Date,Amount,Description,Payee\r\n\
2024-03-01,-4.50,\"Coffee, large\",\"Cafe \"\"Luna\"\"\"\r\n\
2024-03-02,\"1,200.00\",\"Salary\r\nMarch\",ACME Inc.\r\n\
\r\n\
2024-03-05,-63.20,\"Groceries; weekly\",\"Whole Foods, Market St\"\r\n\
2024-03-07,-15.00,\"Cinema\",\"Odeon | Leicester Sq\"\r\n";

    /// Revolut: dates with a time, several date columns.
    const REVOLUT: &str = "\
Type,Product,Started Date,Completed Date,Description,Amount,Fee,Currency,State,Balance
CARD_PAYMENT,Current,2024-01-15 08:12:45,2024-01-16 10:01:02,Pret A Manger,-4.95,0.00,GBP,COMPLETED,995.05
TOPUP,Current,2024-01-16 12:00:00,2024-01-16 12:00:01,Top-Up by *1234,500.00,0.00,GBP,COMPLETED,1495.05
CARD_PAYMENT,Current,2024-01-17 19:45:10,2024-01-18 09:30:00,Uber *Trip,-13.40,0.00,GBP,COMPLETED,1481.65
TRANSFER,Current,2024-01-20 10:00:00,2024-01-20 10:00:00,To JOHN SMITH,-250.00,0.00,GBP,COMPLETED,1231.65
";

    /// Every day at most 12: day and month cannot be told apart.
    const AMBIGUOUS: &str = "\
Date,Amount,Memo
01/02/2024,-10.00,Bakery
03/04/2024,-20.00,Books
05/06/2024,30.00,Refund
11/12/2024,-7.25,Parking
";

    /// Not a table.
    const PROSE: &str = "\
Dear customer,

Thank you for banking with us. Your statement for January is attached as a PDF.
If you have questions, please call 0800 123 456 or visit your branch; our staff will
be happy to help. Opening hours | Mon-Fri 9:00-17:00

Kind regards
Your Bank
";

    /// A Windows-1252 export (Excel on a French Windows): `é` = 0xE9, `€` = 0x80.
    const WINDOWS_1252: &[u8] = b"Date;Libell\xe9;Montant\r\n\
15/01/2024;Caf\xe9 de la Gare;-3,50 \x80\r\n\
16/01/2024;Loyer janvier \x93appartement\x94;-750,00 \x80\r\n\
25/01/2024;Virement re\xe7u ACME;1 850,00 \x80\r\n";

    const SAMPLES: [&str; 10] = [
        CHASE, DKB, NATIONWIDE, FRENCH, HEADERLESS, BOM_CRLF, REVOLUT, AMBIGUOUS, PROSE, "",
    ];

    fn guess(sample: &str) -> Guess {
        sniff(sample, true).unwrap()
    }

    #[test]
    fn chase_us() {
        let guess = guess(CHASE);
        assert_eq!(
            guess,
            Guess {
                has_header: true,
                delimiter: ',',
                date_column: "Posting Date".to_owned(),
                date_format: "%m/%d/%Y".to_owned(),
                ambiguous_date: false,
                amount_column: "Amount".to_owned(),
                debit_column: String::new(),
                credit_column: String::new(),
                decimal_separator: '.',
                thousands_separator: Some(','),
                description_column: "Description".to_owned(),
                merchant_column: String::new(),
                rows_examined: 7,
            }
        );
    }

    #[test]
    fn dkb_germany() {
        let guess = guess(DKB);
        assert_eq!(
            guess,
            Guess {
                has_header: true,
                delimiter: ';',
                date_column: "Buchungstag".to_owned(),
                date_format: "%d.%m.%Y".to_owned(),
                ambiguous_date: false,
                amount_column: "Betrag (EUR)".to_owned(),
                debit_column: String::new(),
                credit_column: String::new(),
                decimal_separator: ',',
                thousands_separator: Some('.'),
                description_column: "Verwendungszweck".to_owned(),
                merchant_column: "Auftraggeber / Begünstigter".to_owned(),
                rows_examined: 5,
            }
        );
    }

    #[test]
    fn sparkasse_camt_two_digit_years() {
        let data = "\
\"Auftragskonto\";\"Buchungstag\";\"Valutadatum\";\"Buchungstext\";\"Verwendungszweck\";\"Glaeubiger ID\";\"Mandatsreferenz\";\"Kundenreferenz (End-to-End)\";\"Sammlerreferenz\";\"Lastschrift Ursprungsbetrag\";\"Auslagenersatz Ruecklastschrift\";\"Beguenstigter/Zahlungspflichtiger\";\"Kontonummer/IBAN\";\"BIC (SWIFT-Code)\";\"Betrag\";\"Waehrung\";\"Info\"
\"DE12500105170648489890\";\"29.01.24\";\"29.01.24\";\"FOLGELASTSCHRIFT\";\"Beitrag Fitnessstudio Januar \";\"DE98ZZZ09999999999\";\"M-000123\";\"\";\"\";\"\";\"\";\"FitX Deutschland GmbH\";\"DE02120300000000202051\";\"BYLADEM1001\";\"-24,90\";\"EUR\";\"Umsatz gebucht\"
\"DE12500105170648489890\";\"30.01.24\";\"30.01.24\";\"GUTSCHR. UEBERWEISUNG\";\"LOHN/GEHALT 01/24 \";\"\";\"\";\"NOTPROVIDED\";\"\";\"\";\"\";\"ACME GmbH\";\"DE02100100100006820101\";\"PBNKDEFFXXX\";\"2.845,12\";\"EUR\";\"Umsatz gebucht\"
\"DE12500105170648489890\";\"01.02.24\";\"01.02.24\";\"DAUERAUFTRAG\";\"Miete Februar \";\"\";\"\";\"\";\"\";\"\";\"\";\"Hausverwaltung Meier\";\"DE02300209000106531065\";\"CMCIDEDD\";\"-950,00\";\"EUR\";\"Umsatz gebucht\"
";
        let guess = guess(data);
        assert!(guess.has_header);
        assert_eq!(guess.delimiter, ';');
        assert_eq!(guess.date_column, "Buchungstag");
        assert_eq!(guess.date_format, "%d.%m.%y");
        assert_eq!(guess.amount_column, "Betrag");
        assert_eq!(guess.description_column, "Verwendungszweck");
        assert_eq!(guess.merchant_column, "Beguenstigter/Zahlungspflichtiger");
        assert_eq!(guess.decimal_separator, ',');
        assert_eq!(guess.thousands_separator, Some('.'));
    }

    #[test]
    fn nationwide_uk_paid_out_and_in() {
        let guess = guess(NATIONWIDE);
        assert_eq!(
            guess,
            Guess {
                has_header: true,
                delimiter: ',',
                date_column: "Date".to_owned(),
                date_format: "%d %b %Y".to_owned(),
                ambiguous_date: false,
                amount_column: String::new(),
                debit_column: "Paid out".to_owned(),
                credit_column: "Paid in".to_owned(),
                decimal_separator: '.',
                thousands_separator: Some(','),
                description_column: "Description".to_owned(),
                merchant_column: String::new(),
                rows_examined: 5,
            }
        );
    }

    #[test]
    fn french_debit_credit_with_decimal_commas() {
        let guess = guess(FRENCH);
        assert_eq!(
            guess,
            Guess {
                has_header: true,
                delimiter: ';',
                date_column: "Date".to_owned(),
                date_format: "%d/%m/%Y".to_owned(),
                ambiguous_date: false,
                amount_column: String::new(),
                debit_column: "Débit".to_owned(),
                credit_column: "Crédit".to_owned(),
                decimal_separator: ',',
                thousands_separator: Some(' '),
                description_column: "Libellé".to_owned(),
                merchant_column: String::new(),
                rows_examined: 5,
            }
        );
    }

    #[test]
    fn headerless_columns_are_numbers() {
        let guess = guess(HEADERLESS);
        assert_eq!(
            guess,
            Guess {
                has_header: false,
                delimiter: ',',
                date_column: "1".to_owned(),
                date_format: "%Y-%m-%d".to_owned(),
                ambiguous_date: false,
                amount_column: "2".to_owned(),
                debit_column: String::new(),
                credit_column: String::new(),
                decimal_separator: '.',
                thousands_separator: Some(','),
                description_column: "3".to_owned(),
                merchant_column: String::new(),
                rows_examined: 4,
            }
        );
        // A single line is enough when it is the whole file.
        let one = sniff("2024-01-15,-12.50,Coffee", true).unwrap();
        assert_eq!(
            (one.date_column.as_str(), one.amount_column.as_str()),
            ("1", "2")
        );
        assert_eq!(one.description_column, "3");
    }

    #[test]
    fn bom_crlf_and_quoted_fields() {
        let guess = guess(BOM_CRLF);
        assert_eq!(
            guess,
            Guess {
                has_header: true,
                delimiter: ',',
                date_column: "Date".to_owned(),
                date_format: "%Y-%m-%d".to_owned(),
                ambiguous_date: false,
                amount_column: "Amount".to_owned(),
                debit_column: String::new(),
                credit_column: String::new(),
                decimal_separator: '.',
                thousands_separator: Some(','),
                description_column: "Description".to_owned(),
                merchant_column: "Payee".to_owned(),
                rows_examined: 4,
            }
        );
    }

    #[test]
    fn revolut_dates_with_times() {
        let guess = guess(REVOLUT);
        assert_eq!(guess.date_column, "Started Date");
        assert_eq!(guess.date_format, "%Y-%m-%d %H:%M:%S");
        assert_eq!(guess.amount_column, "Amount");
        assert_eq!(guess.description_column, "Description");
        assert_eq!(guess.decimal_separator, '.');
        assert!(!guess.ambiguous_date);
    }

    #[test]
    fn ambiguous_dates_are_flagged() {
        let guess = guess(AMBIGUOUS);
        assert_eq!(guess.date_format, "%d/%m/%Y");
        assert!(guess.ambiguous_date);
        assert_eq!(guess.description_column, "Memo");
        // One day above 12 settles it.
        let settled = format!("{AMBIGUOUS}13/12/2024,-1.00,Tea\n");
        let guess = sniff(&settled, true).unwrap();
        assert_eq!(guess.date_format, "%d/%m/%Y");
        assert!(!guess.ambiguous_date);
        let us = format!("{AMBIGUOUS}12/13/2024,-1.00,Tea\n");
        let guess = sniff(&us, true).unwrap();
        assert_eq!(guess.date_format, "%m/%d/%Y");
        assert!(!guess.ambiguous_date);
        // Days equal to months read the same either way.
        let same = "Date,Amount\n01/01/2024,-1.00\n02/02/2024,-2.00\n";
        assert!(!sniff(same, true).unwrap().ambiguous_date);
    }

    #[test]
    fn windows_1252_file() {
        use super::super::encoding::{TextEncoding, decoding_reader, detect_encoding};
        use std::io::Read;

        let encoding = detect_encoding(WINDOWS_1252);
        assert_eq!(encoding, TextEncoding::Windows1252);
        let mut text = String::new();
        decoding_reader(WINDOWS_1252, encoding)
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.contains("Café de la Gare;-3,50 €"));
        assert!(text.contains("“appartement”"));
        let guess = sniff(&text, true).unwrap();
        assert_eq!(guess.delimiter, ';');
        assert_eq!(guess.date_column, "Date");
        assert_eq!(guess.date_format, "%d/%m/%Y");
        assert_eq!(guess.amount_column, "Montant");
        assert_eq!(guess.description_column, "Libellé");
        assert_eq!(guess.decimal_separator, ',');
        assert_eq!(guess.thousands_separator, Some(' '));
    }

    #[test]
    fn errors_name_the_option_to_set() {
        assert_eq!(sniff(PROSE, true), Err(SniffError::NotTabular));
        assert_eq!(sniff("", true), Err(SniffError::NotTabular));
        assert_eq!(
            sniff("just one column\nand another\n", true),
            Err(SniffError::NotTabular)
        );
        assert_eq!(
            sniff("Name,City\nAlice,Paris\nBob,Berlin\n", true),
            Err(SniffError::NoDateColumn)
        );
        assert_eq!(
            sniff("Date,Memo\n2024-01-01,Coffee\n2024-01-02,Tea\n", true),
            Err(SniffError::NoAmountColumn)
        );
        assert!(SniffError::NotTabular.to_string().contains("csv.delimiter"));
        assert!(
            SniffError::NoDateColumn
                .to_string()
                .contains("`csv.date_column`")
        );
        let message = SniffError::NoAmountColumn.to_string();
        assert!(message.contains("`csv.amount_column`"), "{message}");
        assert!(message.contains("`csv.debit_column`"), "{message}");
        assert!(message.contains("`csv.credit_column`"), "{message}");
    }

    #[test]
    fn a_sample_cut_mid_line() {
        // Cut inside the date of the fifth record.
        let cut_at = CHASE.find("DEBIT,01/19").unwrap() + 9;
        let cut = CHASE.get(..cut_at).unwrap();
        let guess = sniff(cut, false).unwrap();
        assert_eq!(guess.rows_examined, 4);
        assert_eq!(guess.date_format, "%m/%d/%Y");
        assert_eq!(guess.amount_column, "Amount");
        // Taken as the whole file, the partial record `DEBIT,01/1` has a broken date, and
        // then too few dates (4 of 5) for a date column.
        assert_eq!(sniff(cut, true), Err(SniffError::NoDateColumn));

        // Cut inside a quoted field spanning lines: that record is dropped too.
        let cut_at = BOM_CRLF.find("March").unwrap();
        let cut = BOM_CRLF.get(..cut_at).unwrap();
        let guess = sniff(cut, false).unwrap();
        assert_eq!(guess.rows_examined, 1);
        assert_eq!(guess.merchant_column, "Payee");

        // No complete line at all.
        assert_eq!(
            sniff("Date,Amount,Descr", false),
            Err(SniffError::NotTabular)
        );
    }

    #[test]
    fn headerless_debit_credit_by_content() {
        let data = "\
15/01/2024;Boulangerie Paul;4,20;;1 995,80
16/01/2024;Loyer janvier;850,00;;1 145,80
20/01/2024;Salaire ACME;;2 100,00;3 245,80
22/01/2024;Carrefour;63,15;;3 182,65
";
        let guess = guess(data);
        assert!(!guess.has_header);
        assert_eq!(guess.date_column, "1");
        assert_eq!(guess.amount_column, "");
        assert_eq!(guess.debit_column, "3");
        assert_eq!(guess.credit_column, "4");
        assert_eq!(guess.description_column, "2");
        assert_eq!(guess.decimal_separator, ',');
        assert_eq!(guess.thousands_separator, Some(' '));
    }

    #[test]
    fn headerless_amount_prefers_negative_values() {
        // The balance (always positive) comes first; the amount has the minus signs.
        let data = "\
2024-01-15|1988.50|-12.50|Coffee shop
2024-01-16|1943.50|-45.00|Groceries
2024-01-31|4443.50|2500.00|Salary
";
        let guess = guess(data);
        assert_eq!(guess.delimiter, '|');
        assert_eq!(guess.amount_column, "3");
        assert_eq!(guess.description_column, "4");
    }

    #[test]
    fn tab_delimited_with_unknown_header_names() {
        let data = "Wann\tWieviel\tWas\n\
                    2024-01-15\t-12,50\tBäckerei\n\
                    2024-01-16\t-1.045,00\tMiete\n";
        let guess = guess(data);
        assert_eq!(guess.delimiter, '\t');
        assert_eq!(guess.delimiter_option(), "\\t");
        assert!(guess.has_header);
        assert_eq!(guess.date_column, "Wann");
        assert_eq!(guess.amount_column, "Wieviel");
        assert_eq!(guess.description_column, "Was");
        assert_eq!(guess.decimal_separator_option(), ",");
        assert_eq!(guess.thousands_separator_option(), ".");
    }

    #[test]
    fn columns_fall_back_to_numbers_when_names_do_not_identify_them() {
        // A duplicate name (the importer takes the first) and an empty name.
        let data = "Date,DATE,,\n\
                    2024-01-15,x,-12.50,Coffee\n\
                    2024-01-16,y,-3.00,Tea\n";
        let guess = guess(data);
        assert!(guess.has_header);
        assert_eq!(guess.date_column, "Date");
        assert_eq!(guess.amount_column, "3");
        assert_eq!(guess.description_column, "4");
        let data = "When,What,Amount\n2024-01-15,Coffee,-12.50\n";
        let guess = sniff(&data.replace("When", "Date").replace("What", "date"), true).unwrap();
        assert_eq!(guess.date_column, "Date");
        assert_eq!(guess.description_column, "2");
    }

    #[test]
    fn number_notations() {
        let read = |cell: &str| parse_number(cell);
        let negative = |cell: &str| read(cell).map(|number| number.negative);
        for cell in [
            "-12.50",
            "(12.50)",
            "12,50-",
            "−12,50",
            "$-5.00",
            "-$5.00",
            "€ -12,50",
            "12.50 DR",
            "-12,50 EUR",
            "(£1,234.56)",
        ] {
            assert_eq!(negative(cell), Some(true), "{cell}");
        }
        for cell in [
            "12.50",
            "+12.50",
            "12,50+",
            "£12.99",
            "12.50 CR",
            "EUR 1.234,56",
            "0",
        ] {
            assert_eq!(negative(cell), Some(false), "{cell}");
        }
        for cell in [
            "",
            "-",
            "abc",
            "--1",
            "(-1)",
            "1e3",
            "12:30",
            "2024-01-15",
            "15.01.2024",
            "01/15/2024",
            "12 34",
            "1,,234",
            "DE89 3704 0044 0532 0130 00",
            "EURO 5",
            "1.2.3",
            "12.",
            "(12.50",
            "$5 $",
        ] {
            assert_eq!(read(cell), None, "{cell}");
        }
        let number = read("1.234,56").unwrap();
        assert_eq!((number.decimal, number.grouping), (Some(','), Some('.')));
        let number = read("1,234.56").unwrap();
        assert_eq!((number.decimal, number.grouping), (Some('.'), Some(',')));
        let number = read("1'234.56").unwrap();
        assert_eq!((number.decimal, number.grouping), (Some('.'), Some('\'')));
        let number = read("1\u{A0}234,56").unwrap();
        assert_eq!(
            (number.decimal, number.grouping),
            (Some(','), Some('\u{A0}'))
        );
        let number = read("1.234.567").unwrap();
        assert_eq!((number.decimal, number.grouping), (None, Some('.')));
        let number = read("1.234").unwrap();
        assert_eq!((number.decimal, number.lone_three), (None, Some('.')));
        assert_eq!(read("0.125").unwrap().decimal, Some('.'));
        assert_eq!(read("12,5").unwrap().decimal, Some(','));
        assert_eq!(read(",5").unwrap().decimal, Some(','));
        assert!(read("-0,00").unwrap().zero);
    }

    #[test]
    fn number_format_from_cells() {
        let format = |cells: &[&str], delimiter: u8| {
            number_format(
                cells.iter().filter_map(|cell| parse_number(cell)),
                delimiter,
            )
        };
        assert_eq!(format(&["-12,50", "3"], b';'), (',', Some('.')));
        assert_eq!(format(&["12,5"], b'\t'), (',', Some('.')));
        assert_eq!(format(&["1,234.56", "-3.10"], b','), ('.', Some(',')));
        assert_eq!(format(&["1 234,56"], b';'), (',', Some(' ')));
        assert_eq!(format(&["1'234.50"], b';'), ('.', Some('\'')));
        assert_eq!(format(&["1.234"], b';'), (',', Some('.')));
        assert_eq!(format(&["1,234"], b';'), ('.', Some(',')));
        assert_eq!(format(&["1.234.567"], b','), (',', Some('.')));
        assert_eq!(format(&["12", "-40"], b';'), (',', Some('.')));
        assert_eq!(format(&["12", "-40"], b','), ('.', Some(',')));
    }

    #[test]
    fn every_date_format_round_trips_as_the_importer_checks() {
        // The importer accepts a format only when a sample date written with it parses
        // back to itself.
        let sample = NaiveDate::from_ymd_opt(2024, 11, 23).unwrap();
        let formats = date_formats();
        assert_eq!(formats.len(), DATE_FORMATS.len() * TIME_SUFFIXES.len());
        for format in formats {
            let written = sample.and_hms_opt(0, 0, 0).unwrap().format(&format.format);
            let text = written.to_string();
            assert_eq!(
                NaiveDate::parse_from_str(&text, &format.format),
                Ok(sample),
                "{}",
                format.format
            );
            assert_ne!(date_mask(&text), 0, "{}", format.format);
        }
        // Two-digit years are not read as years 0–99 by `%Y`.
        assert_eq!(date_mask("15/01/24") & (1 << 4), 0);
        assert_ne!(date_mask("15/01/24"), 0);
    }

    #[test]
    fn header_names_match_in_any_language() {
        assert_eq!(words(" Date d'opération "), ["date", "d", "operation"]);
        assert_eq!(words("Betrag (EUR)"), ["betrag", "eur"]);
        assert_eq!(words("Straße"), ["strasse"]);
        assert!(matches_name(&words("Betrag (EUR)"), "betrag", false));
        assert!(!matches_name(&words("Betrag (EUR)"), "betrag", true));
        assert!(matches_name(
            &words("Auftraggeber / Begünstigter"),
            "auftraggeber begunstigter",
            true
        ));
        assert!(!matches_name(&words("Balance"), "amount", false));
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let mut samples: Vec<String> = SAMPLES.iter().map(|&s| s.to_owned()).collect();
        samples.push(String::from_utf8_lossy(WINDOWS_1252).into_owned());
        samples.push("\"unterminated,\"quote;\n1,2\r\r\n\u{FEFF}é€,|\t\"\"".to_owned());
        for sample in &samples {
            for (end, _) in sample.char_indices().chain([(sample.len(), ' ')]) {
                let prefix = sample.get(..end).unwrap();
                for complete in [false, true] {
                    if let Ok(guess) = sniff(prefix, complete) {
                        assert!(!guess.date_column.is_empty());
                        assert!(!guess.date_format.is_empty());
                        assert!(
                            !guess.amount_column.is_empty()
                                || (!guess.debit_column.is_empty()
                                    && !guess.credit_column.is_empty())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn large_and_odd_inputs() {
        let mut big = String::from("Date,Amount,Description\n");
        for i in 0..5_000 {
            big.push_str(&format!(
                "2024-01-{:02},-{}.{:02},Line {i}\n",
                i % 28 + 1,
                i,
                i % 100
            ));
        }
        let guess = sniff(&big, false).unwrap();
        assert_eq!(guess.rows_examined, MAX_RECORDS - 1);
        assert_eq!(guess.amount_column, "Amount");
        let wide = format!("{}\n", ["2024-01-01"; 2_000].join(","));
        assert!(sniff(&wide, true).is_err());
        let long_cell = format!(
            "Date,Amount,Memo\n2024-01-01,1.00,\"{}\"\n",
            "x".repeat(100_000)
        );
        assert_eq!(sniff(&long_cell, true).unwrap().description_column, "Memo");
    }
}
