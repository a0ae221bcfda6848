//! Property tests (proptest) of the statement import, which reads files
//! users upload: the format readers (OFX, QIF, CAMT, MT940), CSV with any
//! options, encoding detection, layout sniffing, planning, previews and the
//! batched import. Inputs: arbitrary bytes, token soup, and the sample
//! statements of the end-to-end tests mutated (bytes set, inserted,
//! removed, duplicated; format tokens inserted; cut).
//!
//! The properties: no panic; a file or line that cannot be read is an error
//! naming the request field or the line; readers stop when told and give the
//! same entries however the input is chunked and batched; amounts and dates
//! written in any supported notation read back to the same value; a layout
//! the sniffer guesses is one the importer accepts.
//!
//! Each property runs 256 cases in CI. A longer run:
//! `PROPTEST_CASES=100000 cargo test --workspace fuzz_` (proptest prints the
//! smallest failing input; add it to a unit test when fixing it).

use std::io::{BufReader, Read as _};
use std::ops::ControlFlow;

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::encoding::{TextEncoding, decoding_reader, detect_encoding};
use super::entry::{self, Entry, EntryError, StatementError};
use super::pipeline::{Batch, Kind, Line, Plan, Target, detect, run};
use super::plan::CsvHints;
use super::sniff::sniff;
use super::{
    FileError, ImportFormat, LineError, MAX_AMOUNT_MINOR, MAX_DESCRIPTION_CHARS,
    MAX_MERCHANT_CHARS, ParsedLine, RawOptions, camt, mt940, ofx, parse, qif, read_csv,
};

/// Cases per property: `cases`, unless `PROPTEST_CASES` says otherwise.
/// Failures are not written to the source tree: the message has the input.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

// ---------------------------------------------------------------------------
// Samples and mutations.

const BANK_CSV: &[u8] = include_bytes!("../../../mesh/tests/e2e/statements/bank.csv");
const BANK_OFX: &[u8] = include_bytes!("../../../mesh/tests/e2e/statements/bank.ofx");
const BANK_QIF: &[u8] = include_bytes!("../../../mesh/tests/e2e/statements/bank.qif");
const BANK_CAMT: &[u8] = include_bytes!("../../../mesh/tests/e2e/statements/camt053.xml");
const BANK_MT940: &[u8] = include_bytes!("../../../mesh/tests/e2e/statements/mt940.sta");

const OFX_XML: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>usd</CURDEF><BANKTRANLIST>
<STMTTRN><TRNTYPE>CREDIT</TRNTYPE><DTPOSTED>20070315</DTPOSTED><TRNAMT>200.00</TRNAMT>
<FITID>980315001</FITID><NAME>DEPOSIT &amp; more</NAME><MEMO>automatic   deposit</MEMO></STMTTRN>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20070329120000.000[-5:EST]</DTPOSTED><TRNAMT>-1,234.50</TRNAMT>
<FITID>980329001</FITID><NAME>&#x43;af&#233;</NAME><CURRENCY><CURRATE>1.0<CURSYM>EUR</CURSYM></CURRENCY></STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"#;

const QIF_EUROPEAN: &[u8] = "!Type:Bank\r\nD31.12.2023\r\nT-1.234,56\r\nPSupermarché Müller\r\nMEinkauf KW52\r\n^\r\nD02.01.'24\r\nU-12,50\r\nPBäckerei\r\nSSplit\r\n$-12,50\r\n^\r\n".as_bytes();

const MT940_SEPA: &[u8] = ":20:STARTUMSE\r\n:25:10020030/1234567890\r\n:28C:00001/001\r\n:60F:C231229EUR1234,56\r\n:61:2312310102D1500,00NMSCNONREF\r\n:86:166?00SEPA-UEBERWEISUNG?109310?20EREF+NOTPROVIDED?21SVWZ+Miete J\r\nanuar?30DEUTDEFFXXX?31DE02100100109307118603?32Max Mustermann\r\n:61:240103RD12,00NRTINONREF//R-1\r\n:86:109?00RUECKLASTSCHRIFT?20Rückgabe\r\n:62F:C240104EUR1859,06\r\n-\r\n".as_bytes();

const CSV_DEBIT_CREDIT: &[u8] = b"Date,Description,Debit,Credit,Balance\n2024-01-02,Coffee,3.50,,100.00\n2024-01-03,\"Salary, January\",,\"2,500.00\",2600.00\n";

const CSV_HEADERLESS: &[u8] = b"15/01/2024;-5,75;Bakery\r\n16/01/2024;1.234,56;Refund\r\n";

const CSV_1252: &[u8] = b"\xEF\xBB\xBFDatum;Betrag;Verwendungszweck\r\n02.01.2024;-12,50;Caf\xe9 M\xfcller \x80\r\n03.01.2024;(1.000,00);\"quoted \"\"x\"\"\"\r\n";

const SAMPLES: &[&[u8]] = &[
    BANK_CSV,
    BANK_OFX,
    BANK_QIF,
    BANK_CAMT,
    BANK_MT940,
    OFX_XML,
    QIF_EUROPEAN,
    MT940_SEPA,
    CSV_DEBIT_CREDIT,
    CSV_HEADERLESS,
    CSV_1252,
];

const CSV_SAMPLES: &[&[u8]] = &[BANK_CSV, CSV_DEBIT_CREDIT, CSV_HEADERLESS, CSV_1252];

/// Pieces of every format, and of what breaks parsers.
const TOKENS: &[&[u8]] = &[
    b"OFXHEADER:100\n",
    b"<OFX>",
    b"</OFX>",
    b"<STMTTRN>",
    b"</STMTTRN>",
    b"<TRNAMT>",
    b"<DTPOSTED>",
    b"<FITID>",
    b"<NAME>",
    b"<MEMO>",
    b"<CURDEF>",
    b"CHARSET:1252\n",
    b"&amp;",
    b"&#",
    b"&#x1F600;",
    b"&#xD800;",
    b"&#99999999999;",
    b"&unknown;",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY a \"b\">]>",
    b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
    b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">",
    b"<Ntry>",
    b"</Ntry>",
    b"<Amt Ccy=\"EUR\">",
    b"</Amt>",
    b"<CdtDbtInd>DBIT</CdtDbtInd>",
    b"<RvslInd>true</RvslInd>",
    b"<BookgDt><Dt>2024-02-29</Dt></BookgDt>",
    b"<Sts>PDNG</Sts>",
    b"<TxDtls>",
    b"<Ustrd>",
    b"\n:20:",
    b"\n:61:",
    b"\n:86:",
    b"\n:60F:C240101EUR0,00",
    b":61:2402300230D1,00NTRF//",
    b"?20",
    b"?32",
    b"\n-}",
    b"{4:",
    b"\n^\n",
    b"\nD",
    b"\nT",
    b"\nU",
    b"\nS",
    b"\n$",
    b"\n!Type:Bank\n",
    b"\n!Option:AutoSwitch\n",
    b"\n!Account\n",
    b"99999999999999999999999999",
    b"-0",
    b"1e5",
    b"1,000,000.00",
    b"(12.00)",
    b"12.50 DR",
    b"\xE2\x88\x92",
    b"EUR",
    b"0000-00-00",
    b"20240231",
    b"29/02/2023",
    b"31.04.2024",
    b"13/13/13",
    b"\r",
    b"\r\n",
    b"\"",
    b";",
    b",",
    b"\t",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xC3",
    b"\x00",
    "é€".as_bytes(),
    b"  ",
];

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Token(usize, &'static [u8]),
    Remove(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        4 => (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(at, token)| Mutation::Token(at, token)),
        2 => (any::<usize>(), 1_usize..64).prop_map(|(at, n)| Mutation::Remove(at, n)),
        1 => (any::<usize>(), 1_usize..256).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
    .boxed()
}

fn apply(data: &mut Vec<u8>, mutation: &Mutation) {
    let at = |p: usize, len: usize| p % (len + 1);
    match mutation {
        Mutation::Set(p, byte) => {
            let len = data.len();
            if let Some(b) = data.get_mut(p % len.max(1)) {
                *b = *byte;
            }
        }
        Mutation::Insert(p, bytes) => {
            let i = at(*p, data.len());
            insert(data, i, bytes);
        }
        Mutation::Token(p, token) => {
            let i = at(*p, data.len());
            insert(data, i, token);
        }
        Mutation::Remove(p, n) => {
            let i = at(*p, data.len());
            let end = (i + n).min(data.len());
            let tail = data.split_off(end);
            data.truncate(i);
            data.extend(tail);
        }
        Mutation::Duplicate(p, n) => {
            let i = at(*p, data.len());
            let end = (i + n).min(data.len());
            let copy = data.get(i..end).unwrap_or_default().to_vec();
            insert(data, end, &copy);
        }
        Mutation::Truncate(p) => {
            let i = at(*p, data.len());
            data.truncate(i);
        }
    }
}

/// `bytes` inserted into `data` at `at` (at most its length).
fn insert(data: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let tail = data.split_off(at.min(data.len()));
    data.extend_from_slice(bytes);
    data.extend(tail);
}

fn mutated(samples: &'static [&'static [u8]]) -> BoxedStrategy<Vec<u8>> {
    (
        prop::sample::select(samples),
        prop::collection::vec(mutation(), 0..8),
    )
        .prop_map(|(sample, mutations)| {
            let mut data = sample.to_vec();
            for m in &mutations {
                apply(&mut data, m);
            }
            data
        })
        .boxed()
}

fn soup(tokens: &'static [&'static [u8]]) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(tokens).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(any::<u8>(), 0..6),
            1 => "[A-Za-z0-9 .,:/-]{1,12}".prop_map(String::into_bytes),
        ],
        0..48,
    )
    .prop_map(|pieces| pieces.concat())
    .boxed()
}

/// A statement file: a sample mutated, token soup, or bytes.
fn statement_data() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => mutated(SAMPLES),
        2 => soup(TOKENS),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
    .boxed()
}

/// Pieces of CSV files.
const CSV_TOKENS: &[&[u8]] = &[
    b"Date",
    b"Amount",
    b"Description",
    b"Debit",
    b"Credit",
    b"Buchungstag",
    b"Betrag (EUR)",
    b",",
    b";",
    b"\t",
    b"|",
    b"\n",
    b"\r\n",
    b"\r",
    b"\"",
    b"\"\"",
    b"2024-01-31",
    b"31.01.2024",
    b"01/31/2024",
    b"31/01/24",
    b"Jan 5, 2024",
    b"2024-02-30",
    b"-1.234,56",
    b"1,234.56",
    b"1 234,56",
    b"1'234.56",
    b"(12.00)",
    b"12.50 DR",
    b"12.50CR",
    b"\xE2\x82\xAC5",
    b"EUR 5",
    b"US$5",
    b"5-",
    b"+5",
    b"0",
    b"0.00",
    b"99999999999999999999",
    b"1e5",
    b"12,345,67",
    b" ",
    b"\xEF\xBB\xBF",
    "é".as_bytes(),
    b"\xFF",
    b"\x80",
];

/// A CSV file: a CSV sample mutated, CSV token soup, or bytes.
fn csv_data() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => mutated(CSV_SAMPLES),
        4 => soup(CSV_TOKENS),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Checks.

fn check_entry(entry: &Entry) -> Result<(), TestCaseError> {
    prop_assert!(entry.line >= 1, "{entry:?}");
    prop_assert!(
        entry.description.chars().count() <= entry::MAX_DESCRIPTION_CHARS,
        "{entry:?}"
    );
    prop_assert!(
        entry.merchant.chars().count() <= entry::MAX_MERCHANT_CHARS,
        "{entry:?}"
    );
    prop_assert_eq!(entry.description.trim(), entry.description.as_str());
    prop_assert_eq!(entry.merchant.trim(), entry.merchant.as_str());
    Ok(())
}

fn check_line(line: &Line) -> Result<(), TestCaseError> {
    prop_assert!(line.line >= 1, "{line:?}");
    prop_assert!(line.amount_minor != 0, "{line:?}");
    prop_assert!(line.amount_minor.abs() <= MAX_AMOUNT_MINOR, "{line:?}");
    prop_assert!(
        line.description.chars().count() <= MAX_DESCRIPTION_CHARS,
        "{line:?}"
    );
    prop_assert!(
        line.merchant.chars().count() <= MAX_MERCHANT_CHARS,
        "{line:?}"
    );
    Ok(())
}

type Items = Vec<Result<Entry, EntryError>>;

/// Whitespace runs, Unicode included.
const WHITESPACE: &[&str] = &[" ", "  ", "\t", "\n", "\u{A0}", "\u{3000}"];

/// The entries `kind`'s reader hands on from `data` read in chunks of
/// `capacity` bytes, answering `Break` once it has `stop_after`.
fn read(
    kind: Kind,
    data: &[u8],
    capacity: usize,
    stop_after: usize,
) -> (Result<(), StatementError>, Items) {
    let mut items = Vec::new();
    let result = {
        let input = BufReader::with_capacity(capacity, data);
        let mut sink = |item: Result<Entry, EntryError>| {
            items.push(item);
            if items.len() >= stop_after {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        match kind {
            Kind::Ofx => ofx::read_ofx(input, &mut sink),
            Kind::Qif => qif::read_qif(input, &mut sink),
            Kind::Camt => camt::read_camt(input, &mut sink),
            Kind::Mt940 => mt940::read_mt940(input, &mut sink),
            Kind::Csv => Ok(()),
        }
    };
    (result, items)
}

/// Everything an import of `data` by `plan` hands on in batches of `size`.
struct Imported {
    result: Result<(), FileError>,
    lines: Vec<Line>,
    errors: Vec<LineError>,
    read: u64,
    pending: u64,
    /// What was wrong with a batch, if anything.
    bad_batch: Option<String>,
}

fn import(plan: &Plan, target: &Target, data: &[u8], size: usize) -> Imported {
    let mut imported = Imported {
        result: Ok(()),
        lines: Vec::new(),
        errors: Vec::new(),
        read: 0,
        pending: 0,
        bad_batch: None,
    };
    let result = run(plan, target, data, size, &mut |batch: Batch| {
        let counted = (batch.lines.len() + batch.errors.len()) as u64 + batch.pending;
        if batch.read == 0 || batch.read != counted || batch.read > size as u64 {
            imported.bad_batch = Some(format!(
                "a batch of {} (size {size}) with {} lines, {} errors, {} pending",
                batch.read,
                batch.lines.len(),
                batch.errors.len(),
                batch.pending
            ));
        }
        imported.lines.extend(batch.lines);
        imported.errors.extend(batch.errors);
        imported.read += batch.read;
        imported.pending += batch.pending;
        ControlFlow::Continue(())
    });
    imported.result = result;
    imported
}

// ---------------------------------------------------------------------------
// The readers of self-describing formats.

proptest! {
    #![proptest_config(config(256))]

    /// Each reader: no panic; entries within limits; the same entries and
    /// outcome however the input is chunked; stopping early gives a prefix.
    #[test]
    fn fuzz_statement_readers_never_panic_and_stream_consistently(
        data in statement_data(),
        capacity in 1_usize..64,
        stop in 1_usize..6,
    ) {
        for kind in [Kind::Ofx, Kind::Qif, Kind::Camt, Kind::Mt940] {
            let (result, items) = read(kind, &data, 8192, usize::MAX);
            for entry in items.iter().flatten() {
                check_entry(entry)?;
            }
            for error in items.iter().filter_map(|item| item.as_ref().err()) {
                prop_assert!(error.line >= 1, "{kind:?}: {error:?}");
                prop_assert!(!error.message.is_empty(), "{kind:?}: {error:?}");
            }
            if let Err(e) = &result {
                prop_assert!(!e.to_string().is_empty(), "{kind:?}");
            }

            let (chunked_result, chunked) = read(kind, &data, capacity, usize::MAX);
            // Both fail or neither (an XML error names a byte offset in the
            // reader's buffer, which depends on the chunk size).
            prop_assert_eq!(
                chunked_result.is_ok(),
                result.is_ok(),
                "{:?} read {} bytes at a time: {:?} vs {:?}",
                kind,
                capacity,
                &chunked_result,
                &result
            );
            prop_assert_eq!(&chunked, &items, "{:?} read {} bytes at a time", kind, capacity);

            if !items.is_empty() {
                let k = stop.min(items.len());
                let (stopped_result, first) = read(kind, &data, 8192, k);
                prop_assert!(stopped_result.is_ok(), "{kind:?} told to stop: {stopped_result:?}");
                prop_assert_eq!(&first[..], &items[..k], "{:?} told to stop after {}", kind, k);
            }
        }
    }

    /// The whole import as the service runs it: format detected, layout
    /// planned, a preview, then the import in batches; errors name a
    /// request field; the batch size changes nothing.
    #[test]
    fn fuzz_planning_previewing_and_importing_never_panic(
        data in statement_data(),
        complete in any::<bool>(),
        exponent in 0_u32..=3,
        size in 1_usize..8,
        limit in 1_usize..30,
    ) {
        let _ = detect(&data);
        let planned = match super::plan::plan(None, &CsvHints::default(), &data, complete, "") {
            Ok(planned) => planned,
            Err((field, message)) => {
                prop_assert!(
                    field == "file" || field == "csv" || field.starts_with("csv."),
                    "the error names `{field}`, not a request field: {message}"
                );
                prop_assert!(!message.is_empty(), "{field}");
                return Ok(());
            }
        };
        let target = Target {
            currency: "EUR".to_owned(),
            exponent,
        };
        match super::plan::preview(&planned.plan, &target, &data, complete, limit) {
            Ok(preview) => {
                prop_assert!(
                    preview.lines.len() + preview.errors.len() <= limit,
                    "a preview of {limit} has {} lines and {} errors",
                    preview.lines.len(),
                    preview.errors.len()
                );
                for line in &preview.lines {
                    check_line(line)?;
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        let small = import(&planned.plan, &target, &data, size);
        let whole = import(&planned.plan, &target, &data, usize::MAX);
        prop_assert_eq!(small.bad_batch, None);
        prop_assert_eq!(whole.bad_batch, None);
        prop_assert_eq!(&small.result, &whole.result, "batches of {}", size);
        if whole.result.is_ok() {
            prop_assert_eq!(&small.lines, &whole.lines, "batches of {}", size);
            prop_assert_eq!(&small.errors, &whole.errors, "batches of {}", size);
            prop_assert_eq!(small.read, whole.read);
            prop_assert_eq!(small.pending, whole.pending);
            prop_assert_eq!(
                whole.read,
                (whole.lines.len() + whole.errors.len()) as u64 + whole.pending
            );
        }
        for line in &small.lines {
            check_line(line)?;
        }
    }

    #[test]
    fn fuzz_text_decoding_never_panics(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = detect_encoding(&data);
        for encoding in [TextEncoding::Utf8, TextEncoding::Windows1252, TextEncoding::Latin1] {
            let _ = encoding.decode(&data);
            let mut text = String::new();
            let read = decoding_reader(data.as_slice(), encoding).read_to_string(&mut text);
            // Known: encoding_rs_io can pass some invalid UTF-8 through
            // (an InvalidData error, which the readers report as a bad
            // file); the single-byte encodings always decode.
            if encoding != TextEncoding::Utf8 {
                prop_assert!(read.is_ok(), "{encoding:?}: {read:?}");
            }
        }
    }

    #[test]
    fn fuzz_utf8_text_is_detected_as_utf8(text in any::<String>(), cut in any::<usize>()) {
        let bytes = text.as_bytes();
        // A sample may end inside a character.
        let sample = bytes.get(..cut % (bytes.len() + 1)).unwrap_or_default();
        prop_assert_eq!(detect_encoding(sample), TextEncoding::Utf8);
    }

    /// `entry::clean`: what every reader does to descriptions and names.
    #[test]
    fn fuzz_clean_text_is_trimmed_collapsed_and_cut(
        pieces in prop::collection::vec(
            prop_oneof![
                2 => "[a-zé]{1,6}",
                1 => prop::sample::select(WHITESPACE).prop_map(str::to_owned),
            ],
            0..12,
        ),
        max in 0_usize..40,
    ) {
        let text = pieces.concat();
        let cleaned = entry::clean(&text, max);
        prop_assert!(cleaned.chars().count() <= max, "{cleaned:?}");
        prop_assert_eq!(cleaned.trim(), cleaned.as_str(), "from {:?} cut to {}", text, max);
        prop_assert!(!cleaned.contains("  "), "{cleaned:?}");
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        prop_assert!(collapsed.starts_with(&cleaned), "{cleaned:?} from {collapsed:?}");
    }
}

// ---------------------------------------------------------------------------
// CSV: any options, any file.

#[derive(Debug, Clone)]
struct Options {
    has_header: bool,
    delimiter: String,
    date_column: String,
    date_format: String,
    amount_column: String,
    debit_column: String,
    credit_column: String,
    decimal_separator: String,
    thousands_separator: String,
    description_column: String,
    merchant_column: String,
}

const DELIMITERS: &[&str] = &[",", ";", "\\t", "|", "", "\"", "\t", " ", "ab", "é", "\n"];

const COLUMNS: &[&str] = &[
    "Date",
    "Amount",
    "Betrag (EUR)",
    "Buchungstag",
    "Debit",
    "Credit",
    "Description",
    "Payee",
    "1",
    "2",
    "3",
    "4",
    "0",
    "99999999999999999999999",
    " 2 ",
    "",
];

const DATE_FORMATS: &[&str] = &[
    "",
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%m/%d/%Y",
    "%d/%m/%y",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%s",
    "%",
    "%Q",
    "%Y",
    "%Y-%m",
    "%e.%m.%Y",
    "%-d/%-m/%Y",
    "%j/%Y",
    "%G-W%V-%u",
    "%Y-%m-%d %H:%M",
    "%c",
    "%+",
    "%z",
    "%.3f",
    "%Y-%m-%d%%",
];

const DECIMALS: &[&str] = &[".", ",", "", ";", ".."];

const THOUSANDS: &[&str] = &[
    "", ",", ".", " ", "'", "\u{2019}", "0", "-", ",,", "é", "\u{A0}",
];

fn column() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(COLUMNS).prop_map(str::to_owned),
        1 => ".{0,12}",
        1 => Just("x".repeat(201)),
    ]
    .boxed()
}

fn maybe_column() -> BoxedStrategy<String> {
    prop_oneof![2 => Just(String::new()), 3 => column()].boxed()
}

fn options() -> BoxedStrategy<Options> {
    (
        any::<bool>(),
        prop::sample::select(DELIMITERS),
        column(),
        prop_oneof![
            3 => prop::sample::select(DATE_FORMATS).prop_map(str::to_owned),
            1 => "(%[a-zA-Z%+.:#0-9-]|[-/. a-z]){0,6}",
        ],
        maybe_column(),
        maybe_column(),
        maybe_column(),
        prop::sample::select(DECIMALS),
        prop::sample::select(THOUSANDS),
        maybe_column(),
        maybe_column(),
    )
        .prop_map(
            |(
                has_header,
                delimiter,
                date_column,
                date_format,
                amount_column,
                debit_column,
                credit_column,
                decimal_separator,
                thousands_separator,
                description_column,
                merchant_column,
            )| Options {
                has_header,
                delimiter: delimiter.to_owned(),
                date_column,
                date_format,
                amount_column,
                debit_column,
                credit_column,
                decimal_separator: decimal_separator.to_owned(),
                thousands_separator: thousands_separator.to_owned(),
                description_column,
                merchant_column,
            },
        )
        .boxed()
}

fn raw_options(options: &Options) -> RawOptions<'_> {
    RawOptions {
        has_header: options.has_header,
        delimiter: &options.delimiter,
        date_column: &options.date_column,
        date_format: &options.date_format,
        amount_column: &options.amount_column,
        debit_column: &options.debit_column,
        credit_column: &options.credit_column,
        decimal_separator: &options.decimal_separator,
        thousands_separator: &options.thousands_separator,
        description_column: &options.description_column,
        merchant_column: &options.merchant_column,
    }
}

/// Every line of `data` read with `format`, in the order handed on.
fn read_all(
    format: &ImportFormat,
    exponent: u32,
    data: &[u8],
) -> (Result<(), FileError>, Vec<Result<ParsedLine, LineError>>) {
    let mut items = Vec::new();
    let result = read_csv(format, exponent, data, &mut |item| {
        items.push(item);
        ControlFlow::Continue(())
    });
    (result, items)
}

proptest! {
    #![proptest_config(config(256))]

    /// Options are valid or refused naming each bad option; a valid
    /// format reads any file into lines in file order, within limits.
    #[test]
    fn fuzz_any_csv_options_and_any_csv_never_panic(
        options in options(),
        data in csv_data(),
        exponent in 0_u32..=4,
        stop in 1_usize..4,
    ) {
        let format = match ImportFormat::parse(&raw_options(&options)) {
            Ok(format) => format,
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for (field, message) in &problems {
                    prop_assert!(field.starts_with("options."), "{field}: {message}");
                    prop_assert!(!message.is_empty(), "{field}");
                }
                return Ok(());
            }
        };
        let (result, items) = read_all(&format, exponent, &data);
        if let Err(e) = &result {
            prop_assert!(!e.to_string().is_empty());
        }
        let mut last_line = 0;
        let mut last_good = 0;
        for item in &items {
            match item {
                Ok(line) => {
                    prop_assert!(line.line > last_good, "good lines out of order: {items:?}");
                    prop_assert!(line.line >= last_line, "lines out of order: {items:?}");
                    prop_assert!(line.amount_minor != 0, "{line:?}");
                    prop_assert!(line.amount_minor.abs() <= MAX_AMOUNT_MINOR, "{line:?}");
                    prop_assert!(line.description.chars().count() <= MAX_DESCRIPTION_CHARS);
                    prop_assert!(line.merchant.chars().count() <= MAX_MERCHANT_CHARS);
                    last_good = line.line;
                    last_line = line.line;
                }
                Err(error) => {
                    prop_assert!(error.line >= last_line.max(1), "lines out of order: {items:?}");
                    prop_assert!(!error.message.is_empty(), "{error:?}");
                    last_line = error.line;
                }
            }
        }
        // Stopping early gives a prefix.
        if items.len() > 1 {
            let k = stop.min(items.len());
            let mut first = Vec::new();
            let stopped = read_csv(&format, exponent, data.as_slice(), &mut |item| {
                first.push(item);
                if first.len() >= k {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            prop_assert!(stopped.is_ok(), "{stopped:?}");
            prop_assert_eq!(&first[..], &items[..k]);
        }
    }

    /// Whatever the sniffer guesses from a sample is a layout the importer
    /// accepts (else the request fails on options it did not set).
    #[test]
    fn fuzz_sniffing_never_panics_and_its_guess_is_usable(data in csv_data(), complete in any::<bool>()) {
        let text = detect_encoding(&data).decode(&data);
        let Ok(guess) = sniff(&text, complete) else {
            return Ok(());
        };
        prop_assert!(!guess.date_column.is_empty(), "{guess:?}");
        prop_assert!(!guess.date_format.is_empty(), "{guess:?}");
        prop_assert!(
            !guess.amount_column.is_empty()
                || (!guess.debit_column.is_empty() && !guess.credit_column.is_empty()),
            "{guess:?}"
        );
        let planned = super::plan::plan(Some(Kind::Csv), &CsvHints::default(), &data, complete, "");
        prop_assert!(
            matches!(&planned, Ok(p) if matches!(p.plan, Plan::Csv { .. })),
            "sniffed {guess:?} but planning says {planned:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Amounts and dates read back to the values written.

#[derive(Debug, Clone)]
struct Written {
    amount: i64,
    exponent: u32,
    decimal: char,
    thousands: Option<char>,
    /// Index into the sign notations.
    sign: usize,
    /// Index into the currency notations.
    currency: usize,
    /// Zeros after the currency's decimals.
    extra_zeros: usize,
    debit_credit: bool,
    date: NaiveDate,
    date_format: &'static str,
}

/// Date formats the importer accepts that write every date unambiguously.
const WRITTEN_DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
    "%d %B %Y",
    "%Y/%m/%d",
];

fn written() -> BoxedStrategy<Written> {
    (
        (1_i64..=MAX_AMOUNT_MINOR, any::<bool>()),
        0_u32..=3,
        prop::bool::ANY,
        0_usize..4,
        0_usize..5,
        0_usize..6,
        0_usize..3,
        any::<bool>(),
        (1900_i32..=2100, 1_u32..=12, 1_u32..=28),
        prop::sample::select(WRITTEN_DATE_FORMATS),
    )
        .prop_map(
            |(
                (magnitude, negative),
                exponent,
                comma,
                grouping,
                sign,
                currency,
                extra_zeros,
                debit_credit,
                (year, month, day),
                date_format,
            )| {
                let decimal = if comma { ',' } else { '.' };
                let thousands = match grouping {
                    0 => None,
                    1 => Some(if comma { '.' } else { ',' }),
                    2 => Some(' '),
                    _ => Some('\''),
                };
                Written {
                    amount: if negative { -magnitude } else { magnitude },
                    exponent,
                    decimal,
                    thousands,
                    sign,
                    currency,
                    extra_zeros,
                    debit_credit,
                    date: NaiveDate::from_ymd_opt(year, month, day).expect("days 1 to 28 exist"),
                    date_format,
                }
            },
        )
        .boxed()
}

/// `magnitude` minor units as a decimal number, grouped.
fn number(w: &Written, magnitude: u64) -> String {
    let factor = 10_u64.pow(w.exponent);
    let digits = (magnitude / factor).to_string();
    let mut text = String::new();
    for (i, c) in digits.chars().enumerate() {
        if let Some(t) = w.thousands
            && i > 0
            && (digits.len() - i).is_multiple_of(3)
        {
            text.push(t);
        }
        text.push(c);
    }
    if w.exponent > 0 || w.extra_zeros > 0 {
        text.push(w.decimal);
        if w.exponent > 0 {
            let fraction = magnitude % factor;
            text.push_str(&format!("{fraction:0width$}", width = w.exponent as usize));
        }
        text.push_str(&"0".repeat(w.extra_zeros));
    }
    text
}

/// `number` with a currency.
fn with_currency(w: &Written, number: &str) -> String {
    match w.currency {
        1 => format!("€{number}"),
        2 => format!("EUR {number}"),
        3 => format!("{number} EUR"),
        4 => format!("${number}"),
        5 => format!("US${number}"),
        _ => number.to_owned(),
    }
}

/// The cell of a signed amount column.
fn signed_cell(w: &Written) -> String {
    let text = with_currency(w, &number(w, w.amount.unsigned_abs()));
    if w.amount < 0 {
        match w.sign {
            0 => format!("-{text}"),
            1 => format!("{text}-"),
            2 => format!("({text})"),
            3 => format!("{text} DR"),
            _ => format!("\u{2212}{text}"),
        }
    } else {
        positive(w, &text)
    }
}

fn positive(w: &Written, text: &str) -> String {
    match w.sign {
        1 => format!("+{text}"),
        2 => format!("{text} CR"),
        3 => format!("{text}+"),
        _ => text.to_owned(),
    }
}

/// `text` as a quoted CSV cell.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

proptest! {
    #![proptest_config(config(256))]

    /// An amount in minor units written in any notation the importer
    /// documents (signs, parentheses, DR/CR, currencies, grouping, either
    /// decimal separator, extra zeros), with its date in the given format,
    /// reads back to the same amount and date.
    #[test]
    fn fuzz_written_amounts_and_dates_read_back(w in written()) {
        let date = w.date.format(w.date_format).to_string();
        let (header, row) = if w.debit_credit {
            let cell = quoted(&positive(&w, &with_currency(&w, &number(&w, w.amount.unsigned_abs()))));
            if w.amount < 0 {
                ("Date;Debit;Credit", format!("{};{cell};", quoted(&date)))
            } else {
                ("Date;Debit;Credit", format!("{};;{cell}", quoted(&date)))
            }
        } else {
            ("Date;Amount", format!("{};{}", quoted(&date), quoted(&signed_cell(&w))))
        };
        let data = format!("{header}\n{row}\n");
        let thousands = w.thousands.map(String::from).unwrap_or_default();
        let decimal = w.decimal.to_string();
        let raw = RawOptions {
            has_header: true,
            delimiter: ";",
            date_column: "Date",
            date_format: w.date_format,
            amount_column: if w.debit_credit { "" } else { "Amount" },
            debit_column: if w.debit_credit { "Debit" } else { "" },
            credit_column: if w.debit_credit { "Credit" } else { "" },
            decimal_separator: &decimal,
            thousands_separator: &thousands,
            ..RawOptions::default()
        };
        let format = ImportFormat::parse(&raw)
            .map_err(|problems| TestCaseError::fail(format!("options refused: {problems:?}")))?;
        let parsed = parse(&format, w.exponent, data.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{data:?}: {e}")))?;
        prop_assert!(parsed.errors.is_empty(), "{data:?}: {:?}", parsed.errors);
        prop_assert_eq!(parsed.lines.len(), 1, "{:?}", data);
        prop_assert_eq!(parsed.lines[0].amount_minor, w.amount, "{:?}", data);
        prop_assert_eq!(parsed.lines[0].date, w.date, "{:?}", data);
    }

    /// Any amount cell: no panic; a cell read is a nonzero amount within
    /// the limit that has a digit.
    #[test]
    fn fuzz_any_amount_cell_never_panics(
        pieces in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(AMOUNT_PIECES).prop_map(str::to_owned),
                1 => ".{0,3}",
            ],
            0..10,
        ),
        comma in any::<bool>(),
        thousands in prop::sample::select(CELL_THOUSANDS),
        exponent in 0_u32..=4,
    ) {
        let cell = pieces.concat();
        let decimal = if comma { "," } else { "." };
        let thousands = if thousands == decimal { "" } else { thousands };
        let raw = RawOptions {
            has_header: false,
            delimiter: ";",
            date_column: "1",
            amount_column: "2",
            decimal_separator: decimal,
            thousands_separator: thousands,
            ..RawOptions::default()
        };
        let format = ImportFormat::parse(&raw)
            .map_err(|problems| TestCaseError::fail(format!("options refused: {problems:?}")))?;
        let data = format!("2024-01-31;{}\n", quoted(&cell));
        if let Ok(parsed) = parse(&format, exponent, data.as_bytes()) {
            for line in &parsed.lines {
                prop_assert!(line.amount_minor != 0, "{cell:?}");
                prop_assert!(line.amount_minor.abs() <= MAX_AMOUNT_MINOR, "{cell:?}");
                prop_assert!(cell.bytes().any(|b| b.is_ascii_digit()), "{cell:?} read as {}", line.amount_minor);
            }
        }
    }

    /// A statement of dates, amounts and descriptions, laid out any common
    /// way: the sniffer's layout reads back every value.
    #[test]
    fn fuzz_a_sniffed_layout_reads_back_a_generated_statement(s in statement()) {
        let data = s.render();
        let planned = super::plan::plan(None, &CsvHints::default(), data.as_bytes(), true, "text/csv")
            .map_err(|e| TestCaseError::fail(format!("{data:?}: {e:?}")))?;
        let target = Target {
            currency: "EUR".to_owned(),
            exponent: 2,
        };
        let preview = super::plan::preview(&planned.plan, &target, data.as_bytes(), true, 1000)
            .map_err(|e| TestCaseError::fail(format!("{data:?}: {e}")))?;
        prop_assert!(preview.errors.is_empty(), "{data:?}: {:?} with {:?}", preview.errors, planned.csv);
        let amounts: Vec<i64> = preview.lines.iter().map(|l| l.amount_minor).collect();
        let want: Vec<i64> = s.rows.iter().map(|r| r.amount).collect();
        prop_assert_eq!(amounts, want, "{:?} with {:?}", data, planned.csv);
        let dates: Vec<NaiveDate> = preview.lines.iter().map(|l| l.date).collect();
        let want: Vec<NaiveDate> = s.rows.iter().map(|r| r.date).collect();
        prop_assert_eq!(dates, want, "{:?} with {:?}", data, planned.csv);
        let descriptions: Vec<&str> = preview.lines.iter().map(|l| l.description.as_str()).collect();
        let want: Vec<&str> = s.rows.iter().map(|r| r.description.as_str()).collect();
        prop_assert_eq!(descriptions, want, "{:?} with {:?}", data, planned.csv);
    }
}

/// Thousands separators of the amount cell property.
const CELL_THOUSANDS: &[&str] = &["", ",", ".", " ", "'"];

/// The delimiters the sniffer knows.
const SNIFFED_DELIMITERS: &[char] = &[',', ';', '\t', '|'];

/// Pieces of amount cells.
const AMOUNT_PIECES: &[&str] = &[
    "-",
    "+",
    "(",
    ")",
    "1",
    "0",
    "9",
    "12",
    "123",
    "1234",
    ".",
    ",",
    " ",
    "'",
    "\u{2019}",
    "\u{A0}",
    "\u{2212}",
    "\u{2013}",
    "€",
    "$",
    "US$",
    "EUR",
    "DR",
    "CR",
    "dr",
    "e5",
    "E",
    "abc",
    "\u{663}",
    "\u{FF11}",
    "00000000000000000000001",
    "99999999999999999999",
];

/// One row of a generated statement.
#[derive(Debug, Clone)]
struct Row {
    date: NaiveDate,
    amount: i64,
    description: String,
}

/// A generated statement: column order, delimiter, notation.
#[derive(Debug, Clone)]
struct Statement {
    /// Positions of date, amount and description.
    order: Vec<usize>,
    delimiter: char,
    decimal: char,
    thousands: Option<char>,
    date_format: &'static str,
    crlf: bool,
    bom: bool,
    rows: Vec<Row>,
}

/// Formats no other candidate format reads differently.
const UNAMBIGUOUS_DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d"];

fn statement() -> BoxedStrategy<Statement> {
    let row = (
        (2000_i32..=2030, 1_u32..=12, 1_u32..=28),
        (1_i64..=100_000_000_000, any::<bool>()),
        prop::collection::vec("[A-Za-z]{1,8}", 1..4),
    )
        .prop_map(|((year, month, day), (magnitude, negative), words)| Row {
            date: NaiveDate::from_ymd_opt(year, month, day).expect("days 1 to 28 exist"),
            amount: if negative { -magnitude } else { magnitude },
            description: words.join(" "),
        });
    (
        Just(vec![0_usize, 1, 2]).prop_shuffle(),
        prop::sample::select(SNIFFED_DELIMITERS),
        any::<bool>(),
        0_usize..4,
        prop::sample::select(UNAMBIGUOUS_DATE_FORMATS),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(row, 1..20),
    )
        .prop_map(
            |(order, delimiter, comma, grouping, date_format, crlf, bom, rows)| {
                let decimal = if comma { ',' } else { '.' };
                let thousands = match grouping {
                    0 => None,
                    1 => Some(if comma { '.' } else { ',' }),
                    2 => Some(' '),
                    _ => Some('\''),
                };
                Statement {
                    order,
                    delimiter,
                    decimal,
                    thousands,
                    date_format,
                    crlf,
                    bom,
                    rows,
                }
            },
        )
        .boxed()
}

impl Statement {
    fn render(&self) -> String {
        let cell = |text: String| {
            if text.contains(self.delimiter) || text.contains('"') {
                quoted(&text)
            } else {
                text
            }
        };
        let line = |cells: [String; 3]| {
            let mut ordered = vec![String::new(); 3];
            for (cell, &at) in cells.into_iter().zip(&self.order) {
                ordered[at] = cell;
            }
            ordered.join(self.delimiter.to_string().as_str())
        };
        let end = if self.crlf { "\r\n" } else { "\n" };
        let mut out = String::new();
        if self.bom {
            out.push('\u{FEFF}');
        }
        out.push_str(&line([
            "Date".to_owned(),
            "Amount".to_owned(),
            "Description".to_owned(),
        ]));
        out.push_str(end);
        for row in &self.rows {
            let notation = Written {
                amount: row.amount,
                exponent: 2,
                decimal: self.decimal,
                thousands: self.thousands,
                sign: 0,
                currency: 0,
                extra_zeros: 0,
                debit_credit: false,
                date: row.date,
                date_format: self.date_format,
            };
            out.push_str(&line([
                cell(row.date.format(self.date_format).to_string()),
                cell(signed_cell(&notation)),
                cell(row.description.clone()),
            ]));
            out.push_str(end);
        }
        out
    }
}
