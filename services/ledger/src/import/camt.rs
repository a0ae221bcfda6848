//! ISO 20022 cash-management statements: CAMT.053 (bank-to-customer
//! statement), CAMT.052 (account report) and CAMT.054 (debit/credit
//! notification), every version from 001.02 on.
//!
//! The document is read as a stream of XML events (quick-xml), never built
//! as a tree. A DOCTYPE is refused (no entity is ever declared, let alone
//! expanded); only the five predefined entities and numeric character
//! references are unescaped. Every event (tag, text node, comment) is
//! limited to about [`MAX_LINE_BYTES`], nesting to [`MAX_DEPTH`] elements,
//! so memory stays bounded whatever the input.

use std::io::{self, BufRead, Read};
use std::ops::ControlFlow;
use std::str::FromStr;

use chrono::NaiveDate;
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Error as XmlError, Reader};
use rust_decimal::Decimal;

use super::entry::{
    Entry, EntryError, MAX_DESCRIPTION_CHARS, MAX_LINE_BYTES, MAX_MERCHANT_CHARS, Sink,
    StatementError, clean,
};

/// The deepest element nesting accepted; deeper is `StatementError::Refused`.
/// (A CAMT entry is nested about 12 deep.)
pub const MAX_DEPTH: usize = 64;

/// Namespaces accepted for the root `Document`: camt.052, .053, .054, any version.
const NAMESPACE_PREFIX: &str = "urn:iso:std:iso:20022:tech:xsd:camt.";

/// The raw bytes one XML event may take (text plus some room for markup).
const EVENT_LIMIT: usize = MAX_LINE_BYTES + 4096;

/// The most bytes handed to quick-xml at once (it copies whole chunks).
const CHUNK: usize = 8 * 1024;

/// The `Ustrd` text kept per entry, in bytes, before [`clean`] cuts it.
const USTRD_KEEP_BYTES: usize = MAX_DESCRIPTION_CHARS * 4;

/// Reads a CAMT.053 statement (or a CAMT.052 report / CAMT.054
/// notification) and sends one [`Entry`] per `Ntry` to `sink`.
///
/// * amount: `Amt` in the currency of its `Ccy` attribute, negative for
///   `CdtDbtInd` `DBIT`. A reversal (`RvslInd` true) keeps the sign of its
///   `CdtDbtInd`: by the ISO 20022 usage rule that indicator already gives
///   the direction of the reversal entry itself.
/// * date: `BookgDt` (`Dt`, or the date of `DtTm`), else `ValDt`.
/// * pending: `Sts` (or `Sts/Cd`) is `PDNG` or `INFO`.
/// * bank_id: `AcctSvcrRef` of the entry, else `NtryRef`, else the first
///   `TxDtls/Refs/AcctSvcrRef`.
/// * merchant: the counterparty of the first `TxDtls` (the creditor of a
///   debit, the debtor of a credit; the other way round for a reversal),
///   empty when a batch names different counterparties.
/// * description: the `RmtInf/Ustrd` lines of the first `TxDtls`, else
///   `AddtlNtryInf`, else `AddtlTxInf`; a batch of N+1 `TxDtls` gets
///   " (+N more)".
///
/// An entry without a usable `Amt`, `CdtDbtInd` or date is sent as an
/// [`EntryError`] and reading goes on. A DOCTYPE, a text node longer than
/// [`MAX_LINE_BYTES`] or nesting deeper than [`MAX_DEPTH`] is
/// `StatementError::Refused`; ill-formed XML or a root other than a camt
/// `Document` is `StatementError::Malformed`.
pub fn read_camt<R: BufRead>(input: R, sink: &mut Sink<'_>) -> Result<(), StatementError> {
    let mut reader = Reader::from_reader(Counted::new(input));
    let mut buf = Vec::new();
    let mut doc = Document::default();
    loop {
        reader.get_mut().since_mark = 0;
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(err) => return Err(xml_error(reader.get_ref(), err)),
        };
        let line = reader.get_ref().line();
        let flow = match event {
            Event::DocType(_) => {
                return Err(StatementError::Refused(format!(
                    "line {line}: the XML has a DOCTYPE; entity declarations are not accepted"
                )));
            }
            Event::Start(start) => {
                doc.start(&start, line)?;
                ControlFlow::Continue(())
            }
            Event::Empty(start) => {
                doc.start(&start, line)?;
                doc.end(sink)
            }
            Event::End(_) => doc.end(sink),
            Event::Text(text) => {
                doc.push_text(&text.xml10_content(), line)?;
                ControlFlow::Continue(())
            }
            Event::CData(data) => {
                doc.push_text(&data.xml10_content(), line)?;
                ControlFlow::Continue(())
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(ch)) => Some(ch.to_string()),
                    Ok(None) => resolve_predefined_entity(&reference).map(str::to_owned),
                    Err(err) => {
                        return Err(StatementError::Malformed(format!(
                            "line {line}: bad character reference &{};: {err}",
                            cut(&reference)
                        )));
                    }
                };
                match resolved {
                    Some(text) => doc.push_text(&text, line)?,
                    None => {
                        return Err(StatementError::Malformed(format!(
                            "line {line}: undefined entity &{};",
                            cut(&reference)
                        )));
                    }
                }
                ControlFlow::Continue(())
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => ControlFlow::Continue(()),
            Event::Eof => break,
        };
        if flow.is_break() {
            return Ok(());
        }
    }
    doc.finish(reader.get_ref().line())
}

/// Maps a quick-xml error to the statement error, telling an over-long
/// event (our own limit) from a real I/O error.
fn xml_error<R>(source: &Counted<R>, err: XmlError) -> StatementError {
    let line = source.line();
    if source.tripped {
        return StatementError::Refused(format!(
            "line {line}: an XML element or text is longer than {MAX_LINE_BYTES} bytes"
        ));
    }
    match err {
        XmlError::Io(io) => StatementError::Io(io.to_string()),
        other => StatementError::Malformed(format!("line {line}: not well-formed XML: {other}")),
    }
}

/// A `BufRead` adapter that counts the newlines consumed (for line numbers)
/// and fails once one event has taken more than [`EVENT_LIMIT`] bytes, so
/// quick-xml never buffers an unbounded tag, text, comment or DOCTYPE.
struct Counted<R> {
    inner: R,
    newlines: u64,
    since_mark: usize,
    tripped: bool,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            newlines: 0,
            since_mark: 0,
            tripped: false,
        }
    }

    /// The 1-based line of the current position.
    fn line(&self) -> u64 {
        self.newlines + 1
    }
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.since_mark > EVENT_LIMIT {
            self.tripped = true;
            return Err(io::Error::other("XML event longer than the limit"));
        }
        let available = self.inner.fill_buf()?;
        let n = available.len().min(CHUNK);
        Ok(&available[..n])
    }

    fn consume(&mut self, amt: usize) {
        // `fill_buf` after `fill_buf` without `consume` returns the same
        // bytes without reading, so this only looks at what is consumed.
        if amt == 0 {
            return;
        }
        if let Ok(available) = self.inner.fill_buf() {
            let n = amt.min(available.len());
            let newlines = available[..n].iter().filter(|&&b| b == b'\n').count();
            self.newlines += newlines as u64;
        }
        self.since_mark = self.since_mark.saturating_add(amt);
        self.inner.consume(amt);
    }
}

/// The reading state of the whole document.
#[derive(Default)]
struct Document {
    /// Local names of the open elements, root first.
    stack: Vec<String>,
    /// Text of the innermost open element (since its last child).
    text: String,
    root_seen: bool,
    message_seen: bool,
    /// The entry being read, if any.
    entry: Option<NtryState>,
}

impl Document {
    fn start(&mut self, start: &BytesStart<'_>, line: u64) -> Result<(), StatementError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(StatementError::Refused(format!(
                "line {line}: elements nested deeper than {MAX_DEPTH}"
            )));
        }
        let name = start.local_name().as_ref().to_owned();
        match self.stack.len() {
            0 => {
                if self.root_seen {
                    return Err(StatementError::Malformed(format!(
                        "line {line}: a second root element <{}>",
                        cut(&name)
                    )));
                }
                self.root_seen = true;
                check_root(start, &name, line)?;
            }
            1 => {
                if matches!(
                    name.as_str(),
                    "BkToCstmrStmt" | "BkToCstmrAcctRpt" | "BkToCstmrDbtCdtNtfctn"
                ) {
                    self.message_seen = true;
                }
            }
            _ => {}
        }
        if let Some(entry) = &mut self.entry {
            let rel = relative(&self.stack, entry.depth);
            entry.start(&rel, &name, start, line)?;
        } else if name == "Ntry" && self.is_statement() {
            self.entry = Some(NtryState::new(line, self.stack.len()));
        }
        self.stack.push(name);
        self.text.clear();
        Ok(())
    }

    /// Whether the open elements are `Document/<message>/<statement>`.
    fn is_statement(&self) -> bool {
        matches!(
            self.stack
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice(),
            ["Document", "BkToCstmrStmt", "Stmt"]
                | ["Document", "BkToCstmrAcctRpt", "Rpt"]
                | ["Document", "BkToCstmrDbtCdtNtfctn", "Ntfctn"]
        )
    }

    fn end(&mut self, sink: &mut Sink<'_>) -> ControlFlow<()> {
        let mut flow = ControlFlow::Continue(());
        let depth = self.stack.len();
        if self
            .entry
            .as_ref()
            .is_some_and(|entry| depth == entry.depth + 1)
        {
            // The `Ntry` itself closes.
            if let Some(done) = self.entry.take() {
                flow = sink(done.finish());
            }
        } else if let Some(entry) = &mut self.entry {
            let rel = relative(&self.stack, entry.depth);
            entry.leaf(&rel, &self.text);
        }
        self.stack.pop();
        self.text.clear();
        flow
    }

    fn push_text(&mut self, text: &str, line: u64) -> Result<(), StatementError> {
        if self.text.len() + text.len() > MAX_LINE_BYTES {
            return Err(StatementError::Refused(format!(
                "line {line}: an XML text is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        self.text.push_str(text);
        Ok(())
    }

    fn finish(&self, line: u64) -> Result<(), StatementError> {
        if !self.root_seen {
            return Err(StatementError::Malformed(
                "no XML root element: not a CAMT statement".to_owned(),
            ));
        }
        if let Some(open) = self.stack.last() {
            return Err(StatementError::Malformed(format!(
                "line {line}: the file ends inside <{}>",
                cut(open)
            )));
        }
        if !self.message_seen {
            return Err(StatementError::Malformed(
                "the Document has no BkToCstmrStmt, BkToCstmrAcctRpt or BkToCstmrDbtCdtNtfctn"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// The names of the open elements below the `Ntry` at `depth`.
fn relative(stack: &[String], depth: usize) -> Vec<&str> {
    stack
        .get(depth + 1..)
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect()
}

/// The root must be `Document` in a camt.052/053/054 namespace.
fn check_root(start: &BytesStart<'_>, name: &str, line: u64) -> Result<(), StatementError> {
    if name != "Document" {
        return Err(StatementError::Malformed(format!(
            "line {line}: the root element is <{}>, not a CAMT <Document>",
            cut(name)
        )));
    }
    let qname = start.name();
    let wanted = match qname.prefix() {
        Some(prefix) => format!("xmlns:{}", prefix.as_ref()),
        None => "xmlns".to_owned(),
    };
    let mut namespace = None;
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|err| {
            StatementError::Malformed(format!("line {line}: bad attribute: {err}"))
        })?;
        if attribute.key.as_ref() == wanted {
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| {
                    StatementError::Malformed(format!("line {line}: bad namespace: {err}"))
                })?;
            namespace = Some(value.trim().to_owned());
        }
    }
    let Some(namespace) = namespace else {
        return Err(StatementError::Malformed(format!(
            "line {line}: the Document has no namespace: not a CAMT statement"
        )));
    };
    let known = namespace
        .strip_prefix(NAMESPACE_PREFIX)
        .is_some_and(|rest| ["052.", "053.", "054."].iter().any(|m| rest.starts_with(m)));
    if known {
        Ok(())
    } else {
        Err(StatementError::Malformed(format!(
            "line {line}: the namespace '{}' is not camt.052, camt.053 or camt.054",
            cut(&namespace)
        )))
    }
}

/// The counterparty name in one role (creditor or debtor) over the
/// `TxDtls` of an entry.
#[derive(Default)]
struct Party {
    /// The name in the first `TxDtls`.
    first: Option<String>,
    /// A later `TxDtls` names someone else (a mixed batch).
    differs: bool,
}

impl Party {
    fn seen(&mut self, tx_index: usize, name: &str) {
        let name = clean(name, MAX_MERCHANT_CHARS);
        if name.is_empty() {
            return;
        }
        if tx_index <= 1 {
            if self.first.is_none() {
                self.first = Some(name);
            }
        } else if self.first.as_deref() != Some(name.as_str()) {
            self.differs = true;
        }
    }

    fn name(self) -> String {
        if self.differs {
            String::new()
        } else {
            self.first.unwrap_or_default()
        }
    }
}

/// What has been read of one `Ntry`.
struct NtryState {
    line: u64,
    /// Index in the element stack of the `Ntry` element.
    depth: usize,
    amount: Option<String>,
    currency: Option<String>,
    indicator: Option<String>,
    reversal: bool,
    status: Option<String>,
    booking: Option<String>,
    value: Option<String>,
    servicer_ref: Option<String>,
    entry_ref: Option<String>,
    tx_servicer_ref: Option<String>,
    additional_entry: Option<String>,
    additional_tx: Option<String>,
    /// `Ustrd` lines of the first `TxDtls`, joined with spaces.
    unstructured: String,
    /// How many `TxDtls` were opened so far.
    tx_count: usize,
    creditor: Party,
    debtor: Party,
}

impl NtryState {
    fn new(line: u64, depth: usize) -> Self {
        Self {
            line,
            depth,
            amount: None,
            currency: None,
            indicator: None,
            reversal: false,
            status: None,
            booking: None,
            value: None,
            servicer_ref: None,
            entry_ref: None,
            tx_servicer_ref: None,
            additional_entry: None,
            additional_tx: None,
            unstructured: String::new(),
            tx_count: 0,
            creditor: Party::default(),
            debtor: Party::default(),
        }
    }

    /// An element `name` opens with `rel` the open elements below `Ntry`.
    fn start(
        &mut self,
        rel: &[&str],
        name: &str,
        start: &BytesStart<'_>,
        line: u64,
    ) -> Result<(), StatementError> {
        match (rel, name) {
            ([], "Amt") => {
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|err| {
                        StatementError::Malformed(format!("line {line}: bad attribute: {err}"))
                    })?;
                    if attribute.key.local_name().as_ref() == "Ccy" {
                        let value = attribute
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|err| {
                                StatementError::Malformed(format!(
                                    "line {line}: bad attribute Ccy: {err}"
                                ))
                            })?;
                        let code = value.trim().to_uppercase();
                        self.currency = (!code.is_empty()).then_some(code);
                    }
                }
            }
            (["NtryDtls"], "TxDtls") => self.tx_count += 1,
            _ => {}
        }
        Ok(())
    }

    /// The element at `rel` (below `Ntry`) closes with `text`.
    fn leaf(&mut self, rel: &[&str], text: &str) {
        let value = text.trim();
        match rel {
            ["Amt"] => self.amount = Some(value.to_owned()),
            ["CdtDbtInd"] => self.indicator = Some(value.to_owned()),
            ["RvslInd"] => self.reversal = matches!(value, "true" | "1"),
            ["Sts"] | ["Sts", "Cd"] if !value.is_empty() => self.status = Some(value.to_owned()),
            ["BookgDt", "Dt" | "DtTm"] => self.booking = Some(value.to_owned()),
            ["ValDt", "Dt" | "DtTm"] => self.value = Some(value.to_owned()),
            ["AcctSvcrRef"] => set_once(&mut self.servicer_ref, value),
            ["NtryRef"] => set_once(&mut self.entry_ref, value),
            ["AddtlNtryInf"] => set_once(&mut self.additional_entry, value),
            ["NtryDtls", "TxDtls", rest @ ..] => self.tx_leaf(rest, value),
            _ => {}
        }
    }

    /// A leaf inside the current `TxDtls`.
    fn tx_leaf(&mut self, rel: &[&str], value: &str) {
        let index = self.tx_count;
        match rel {
            ["Refs", "AcctSvcrRef"] => set_once(&mut self.tx_servicer_ref, value),
            ["RltdPties", "Cdtr", "Nm"] | ["RltdPties", "Cdtr", "Pty", "Nm"] => {
                self.creditor.seen(index, value);
            }
            ["RltdPties", "Dbtr", "Nm"] | ["RltdPties", "Dbtr", "Pty", "Nm"] => {
                self.debtor.seen(index, value);
            }
            ["RmtInf", "Ustrd"]
                if index <= 1
                    && !value.is_empty()
                    && self.unstructured.len() < USTRD_KEEP_BYTES =>
            {
                if !self.unstructured.is_empty() {
                    self.unstructured.push(' ');
                }
                self.unstructured.push_str(value);
            }
            ["AddtlTxInf"] if index <= 1 => set_once(&mut self.additional_tx, value),
            _ => {}
        }
    }

    /// The entry, or why it cannot be read.
    fn finish(self) -> Result<Entry, EntryError> {
        let line = self.line;
        let error = |field: &str, message: String| EntryError {
            line,
            field: field.to_owned(),
            message,
        };
        let Some(amount_text) = self.amount.as_deref() else {
            return Err(error("Amt", "the entry has no amount".to_owned()));
        };
        let amount = parse_amount(amount_text)
            .ok_or_else(|| error("Amt", format!("not an amount: '{}'", cut(amount_text))))?;
        let debit = match self.indicator.as_deref() {
            Some("DBIT") => true,
            Some("CRDT") => false,
            Some(other) => {
                return Err(error(
                    "CdtDbtInd",
                    format!("neither CRDT nor DBIT: '{}'", cut(other)),
                ));
            }
            None => {
                return Err(error(
                    "CdtDbtInd",
                    "the entry has no credit/debit indicator".to_owned(),
                ));
            }
        };
        let date = match (&self.booking, &self.value) {
            (Some(text), _) => parse_date(text)
                .ok_or_else(|| error("BookgDt", format!("not a date: '{}'", cut(text))))?,
            (None, Some(text)) => parse_date(text)
                .ok_or_else(|| error("ValDt", format!("not a date: '{}'", cut(text))))?,
            (None, None) => {
                return Err(error(
                    "BookgDt",
                    "the entry has neither a booking nor a value date".to_owned(),
                ));
            }
        };
        let pending = matches!(self.status.as_deref(), Some("PDNG" | "INFO"));
        let bank_id = self
            .servicer_ref
            .or(self.entry_ref)
            .or(self.tx_servicer_ref);
        // The counterparty: whom we paid (creditor) for a debit, who paid
        // us (debtor) for a credit. A reversal turns the original payment
        // round, and RltdPties keep the roles of the original payment.
        let merchant = if debit != self.reversal {
            self.creditor.name()
        } else {
            self.debtor.name()
        };
        let base = if !self.unstructured.is_empty() {
            self.unstructured
        } else {
            self.additional_entry
                .or(self.additional_tx)
                .unwrap_or_default()
        };
        let description = if self.tx_count > 1 {
            let suffix = format!("(+{} more)", self.tx_count - 1);
            let room = MAX_DESCRIPTION_CHARS.saturating_sub(suffix.chars().count() + 1);
            let base = clean(&base, room);
            if base.is_empty() {
                suffix
            } else {
                format!("{base} {suffix}")
            }
        } else {
            clean(&base, MAX_DESCRIPTION_CHARS)
        };
        Ok(Entry {
            line,
            date,
            amount: if debit { -amount } else { amount },
            currency: self.currency,
            description,
            merchant,
            bank_id,
            pending,
        })
    }
}

/// Keeps the first non-empty value.
fn set_once(slot: &mut Option<String>, value: &str) {
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value.to_owned());
    }
}

/// An ISO 20022 amount: digits with an optional `.` fraction, no sign.
fn parse_amount(text: &str) -> Option<Decimal> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid =
        !whole.is_empty() && digits(whole) && fraction.is_none_or(|f| !f.is_empty() && digits(f));
    if !valid {
        return None;
    }
    Decimal::from_str(text).ok()
}

/// The date of an ISO date (`2024-01-02`, maybe with a zone) or date-time
/// (`2024-01-02T10:00:00+01:00`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let date = text.get(..10)?;
    let rest = text.get(10..)?;
    if !(rest.is_empty() || rest.starts_with(['T', 'Z', '+', '-'])) {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// `text` cut to 40 characters for a message.
fn cut(text: &str) -> String {
    if text.chars().count() > 40 {
        let mut short: String = text.chars().take(40).collect();
        short.push('…');
        short
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A camt.053.001.02 statement as a German bank sends it (layout of the
    /// ISO 20022 message definition report example: group header, one
    /// statement with account, opening and closing balance, summary).
    const CAMT_V2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02 camt.053.001.02.xsd">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>AAAASESS-FP-STAT001</MsgId>
      <CreDtTm>2024-01-08T17:00:00+01:00</CreDtTm>
      <MsgPgntn>
        <PgNb>1</PgNb>
        <LastPgInd>true</LastPgInd>
      </MsgPgntn>
    </GrpHdr>
    <Stmt>
      <Id>AAAASESS-FP-STAT001</Id>
      <ElctrncSeqNb>1</ElctrncSeqNb>
      <CreDtTm>2024-01-08T17:00:00+01:00</CreDtTm>
      <FrToDt>
        <FrDtTm>2024-01-01T00:00:00+01:00</FrDtTm>
        <ToDtTm>2024-01-08T23:59:59+01:00</ToDtTm>
      </FrToDt>
      <Acct>
        <Id>
          <IBAN>DE89370400440532013000</IBAN>
        </Id>
        <Ccy>EUR</Ccy>
        <Ownr>
          <Nm>Max Mustermann</Nm>
        </Ownr>
        <Svcr>
          <FinInstnId>
            <BIC>COBADEFFXXX</BIC>
          </FinInstnId>
        </Svcr>
      </Acct>
      <Bal>
        <Tp>
          <CdOrPrtry>
            <Cd>OPBD</Cd>
          </CdOrPrtry>
        </Tp>
        <Amt Ccy="EUR">1520.35</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt>
          <Dt>2024-01-01</Dt>
        </Dt>
      </Bal>
      <Bal>
        <Tp>
          <CdOrPrtry>
            <Cd>CLBD</Cd>
          </CdOrPrtry>
        </Tp>
        <Amt Ccy="EUR">4196.80</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt>
          <Dt>2024-01-08</Dt>
        </Dt>
      </Bal>
      <TxsSummry>
        <TtlNtries>
          <NbOfNtries>5</NbOfNtries>
        </TtlNtries>
      </TxsSummry>
      <Ntry>
        <Amt Ccy="EUR">23.45</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt>
          <Dt>2024-01-03</Dt>
        </BookgDt>
        <ValDt>
          <Dt>2024-01-02</Dt>
        </ValDt>
        <AcctSvcrRef>2024010312345001</AcctSvcrRef>
        <BkTxCd>
          <Domn>
            <Cd>PMNT</Cd>
            <Fmly>
              <Cd>CCRD</Cd>
              <SubFmlyCd>POSD</SubFmlyCd>
            </Fmly>
          </Domn>
        </BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs>
              <EndToEndId>NOTPROVIDED</EndToEndId>
            </Refs>
            <AmtDtls>
              <TxAmt>
                <Amt Ccy="EUR">23.45</Amt>
              </TxAmt>
            </AmtDtls>
            <RltdPties>
              <Dbtr>
                <Nm>Max Mustermann</Nm>
              </Dbtr>
              <Cdtr>
                <Nm>REWE Markt GmbH</Nm>
              </Cdtr>
            </RltdPties>
            <RmtInf>
              <Ustrd>Kartenzahlung REWE SAGT DANKE   2024-01-02T18:31</Ustrd>
            </RmtInf>
          </TxDtls>
        </NtryDtls>
      </Ntry>
      <Ntry>
        <NtryRef>SAL-2024-01</NtryRef>
        <Amt Ccy="EUR">2850.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt>
          <Dt>2024-01-04</Dt>
        </BookgDt>
        <ValDt>
          <Dt>2024-01-04</Dt>
        </ValDt>
        <BkTxCd>
          <Prtry>
            <Cd>NTRF+153</Cd>
            <Issr>ZKA</Issr>
          </Prtry>
        </BkTxCd>
        <NtryDtls>
          <TxDtls>
            <RltdPties>
              <Dbtr>
                <Nm>M&#252;ller &amp; S&#xF6;hne GmbH</Nm>
              </Dbtr>
              <Cdtr>
                <Nm>Max Mustermann</Nm>
              </Cdtr>
            </RltdPties>
            <RmtInf>
              <Ustrd>LOHN/GEHALT 01/2024</Ustrd>
              <Ustrd>Personalnr. 4711</Ustrd>
            </RmtInf>
          </TxDtls>
        </NtryDtls>
        <AddtlNtryInf>LOHN GEHALT</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">150.00</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt>
          <Dt>2024-01-05</Dt>
        </BookgDt>
        <ValDt>
          <Dt>2024-01-05</Dt>
        </ValDt>
        <BkTxCd/>
        <NtryDtls>
          <Btch>
            <NbOfTxs>3</NbOfTxs>
          </Btch>
          <TxDtls>
            <Refs>
              <AcctSvcrRef>BATCH-0001</AcctSvcrRef>
            </Refs>
            <RltdPties>
              <Cdtr>
                <Nm>Stadtwerke Musterstadt</Nm>
              </Cdtr>
            </RltdPties>
            <RmtInf>
              <Ustrd>Abschlag Strom Januar</Ustrd>
            </RmtInf>
          </TxDtls>
          <TxDtls>
            <Refs>
              <AcctSvcrRef>BATCH-0002</AcctSvcrRef>
            </Refs>
            <RltdPties>
              <Cdtr>
                <Nm>Mobilfunk AG</Nm>
              </Cdtr>
            </RltdPties>
            <RmtInf>
              <Ustrd>Rechnung 12/2023</Ustrd>
            </RmtInf>
          </TxDtls>
          <TxDtls>
            <Refs>
              <AcctSvcrRef>BATCH-0003</AcctSvcrRef>
            </Refs>
            <RltdPties>
              <Cdtr>
                <Nm>Sportverein e.V.</Nm>
              </Cdtr>
            </RltdPties>
            <RmtInf>
              <Ustrd>Beitrag Q1</Ustrd>
            </RmtInf>
          </TxDtls>
        </NtryDtls>
        <AddtlNtryInf>SAMMEL-LS</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">99.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>PDNG</Sts>
        <ValDt>
          <DtTm>2024-01-09T00:00:00+01:00</DtTm>
        </ValDt>
        <AcctSvcrRef>PDNG-77</AcctSvcrRef>
        <AddtlNtryInf>Gutschrift vorgemerkt</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">49.90</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <RvslInd>true</RvslInd>
        <Sts>BOOK</Sts>
        <BookgDt>
          <Dt>2024-01-08</Dt>
        </BookgDt>
        <ValDt>
          <Dt>2024-01-08</Dt>
        </ValDt>
        <AcctSvcrRef>RVSL-0003</AcctSvcrRef>
        <NtryDtls>
          <TxDtls>
            <RltdPties>
              <Dbtr>
                <Nm>Max Mustermann</Nm>
              </Dbtr>
              <Cdtr>
                <Nm>Mobilfunk AG</Nm>
              </Cdtr>
            </RltdPties>
            <RtrInf>
              <Rsn>
                <Cd>AC04</Cd>
              </Rsn>
            </RtrInf>
          </TxDtls>
        </NtryDtls>
        <AddtlNtryInf>RUECKLASTSCHRIFT</AddtlNtryInf>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"#;

    /// A camt.053.001.08 statement: `Sts/Cd`, `Pty` wrappers, `DtTm`, a
    /// prefixed root element.
    const CAMT_V8: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ns2:Document xmlns:ns2="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <ns2:BkToCstmrStmt>
  <ns2:GrpHdr><ns2:MsgId>MSG-2024-10-08</ns2:MsgId><ns2:CreDtTm>2024-10-08T06:00:00</ns2:CreDtTm></ns2:GrpHdr>
  <ns2:Stmt>
   <ns2:Id>STMT-1</ns2:Id>
   <ns2:Acct><ns2:Id><ns2:IBAN>CH9300762011623852957</ns2:IBAN></ns2:Id><ns2:Ccy>CHF</ns2:Ccy></ns2:Acct>
   <ns2:Bal><ns2:Tp><ns2:CdOrPrtry><ns2:Cd>OPBD</ns2:Cd></ns2:CdOrPrtry></ns2:Tp><ns2:Amt Ccy="CHF">100.00</ns2:Amt><ns2:CdtDbtInd>CRDT</ns2:CdtDbtInd><ns2:Dt><ns2:Dt>2024-10-07</ns2:Dt></ns2:Dt></ns2:Bal>
   <ns2:Ntry>
    <ns2:NtryRef>A1</ns2:NtryRef>
    <ns2:Amt Ccy="chf">45.67</ns2:Amt>
    <ns2:CdtDbtInd>DBIT</ns2:CdtDbtInd>
    <ns2:Sts><ns2:Cd>BOOK</ns2:Cd></ns2:Sts>
    <ns2:BookgDt><ns2:DtTm>2024-10-08T10:15:00.000+02:00</ns2:DtTm></ns2:BookgDt>
    <ns2:ValDt><ns2:Dt>2024-10-08</ns2:Dt></ns2:ValDt>
    <ns2:AcctSvcrRef>20241008000012345</ns2:AcctSvcrRef>
    <ns2:NtryDtls><ns2:TxDtls>
     <ns2:RltdPties>
      <ns2:Dbtr><ns2:Pty><ns2:Nm>Heidi Muster</ns2:Nm></ns2:Pty></ns2:Dbtr>
      <ns2:Cdtr><ns2:Pty><ns2:Nm>Migros Zürich</ns2:Nm></ns2:Pty></ns2:Cdtr>
     </ns2:RltdPties>
     <ns2:RmtInf><ns2:Ustrd><![CDATA[Einkauf <Filiale> 08.10.]]></ns2:Ustrd></ns2:RmtInf>
    </ns2:TxDtls></ns2:NtryDtls>
   </ns2:Ntry>
   <ns2:Ntry>
    <ns2:Amt Ccy="CHF">1200</ns2:Amt>
    <ns2:CdtDbtInd>CRDT</ns2:CdtDbtInd>
    <ns2:Sts><ns2:Cd>PDNG</ns2:Cd></ns2:Sts>
    <ns2:BookgDt><ns2:Dt>2024-10-09</ns2:Dt></ns2:BookgDt>
    <ns2:NtryDtls><ns2:TxDtls>
     <ns2:Refs><ns2:AcctSvcrRef>TX-REF-9</ns2:AcctSvcrRef></ns2:Refs>
     <ns2:RltdPties><ns2:Dbtr><ns2:Pty><ns2:Nm>Arbeitgeber AG</ns2:Nm></ns2:Pty></ns2:Dbtr></ns2:RltdPties>
     <ns2:AddtlTxInf>Lohn Oktober</ns2:AddtlTxInf>
    </ns2:TxDtls></ns2:NtryDtls>
   </ns2:Ntry>
   <ns2:Ntry>
    <ns2:Amt Ccy="CHF">5.00</ns2:Amt>
    <ns2:CdtDbtInd>DBIT</ns2:CdtDbtInd>
    <ns2:Sts><ns2:Cd>INFO</ns2:Cd></ns2:Sts>
    <ns2:BookgDt><ns2:Dt>2024-10-10</ns2:Dt></ns2:BookgDt>
   </ns2:Ntry>
  </ns2:Stmt>
 </ns2:BkToCstmrStmt>
</ns2:Document>
"#;

    const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ELEMENT lolz (#PCDATA)>
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><BookgDt><Dt>2024-01-01</Dt></BookgDt><AddtlNtryInf>&lol9;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>
"#;

    fn read(xml: &[u8]) -> (Result<(), StatementError>, Vec<Result<Entry, EntryError>>) {
        let mut got = Vec::new();
        let mut sink = |item| {
            got.push(item);
            ControlFlow::Continue(())
        };
        let result = read_camt(xml, &mut sink);
        (result, got)
    }

    fn entries(xml: &str) -> Vec<Entry> {
        let (result, got) = read(xml.as_bytes());
        result.unwrap();
        got.into_iter().map(Result::unwrap).collect()
    }

    /// 1-based lines of every `<Ntry>` (or `<ns2:Ntry>`) in `xml`.
    fn ntry_lines(xml: &str) -> Vec<u64> {
        xml.lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("<Ntry>") || l.contains("<ns2:Ntry>"))
            .map(|(i, _)| i as u64 + 1)
            .collect()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn reads_a_v2_statement() {
        let got = entries(CAMT_V2);
        assert_eq!(got.len(), 5);
        let lines = ntry_lines(CAMT_V2);
        for (entry, line) in got.iter().zip(&lines) {
            assert_eq!(entry.line, *line);
        }

        let card = &got[0];
        assert_eq!(card.date, date(2024, 1, 3));
        assert_eq!(card.amount, dec("-23.45"));
        assert_eq!(card.currency.as_deref(), Some("EUR"));
        assert_eq!(card.merchant, "REWE Markt GmbH");
        assert_eq!(
            card.description,
            "Kartenzahlung REWE SAGT DANKE 2024-01-02T18:31"
        );
        assert_eq!(card.bank_id.as_deref(), Some("2024010312345001"));
        assert!(!card.pending);

        let salary = &got[1];
        assert_eq!(salary.amount, dec("2850.00"));
        assert_eq!(salary.merchant, "Müller & Söhne GmbH");
        assert_eq!(salary.description, "LOHN/GEHALT 01/2024 Personalnr. 4711");
        assert_eq!(salary.bank_id.as_deref(), Some("SAL-2024-01"));

        let batch = &got[2];
        assert_eq!(batch.amount, dec("-150.00"));
        assert_eq!(batch.description, "Abschlag Strom Januar (+2 more)");
        assert_eq!(batch.merchant, "", "a batch of different creditors");
        assert_eq!(batch.bank_id.as_deref(), Some("BATCH-0001"));

        let pending = &got[3];
        assert!(pending.pending);
        assert_eq!(pending.date, date(2024, 1, 9), "from ValDt/DtTm");
        assert_eq!(pending.description, "Gutschrift vorgemerkt");

        let reversal = &got[4];
        assert_eq!(reversal.amount, dec("49.90"), "the sign of CdtDbtInd");
        assert_eq!(reversal.merchant, "Mobilfunk AG", "the original creditor");
        assert_eq!(reversal.description, "RUECKLASTSCHRIFT");
        assert_eq!(reversal.bank_id.as_deref(), Some("RVSL-0003"));
    }

    #[test]
    fn reads_a_v8_statement_with_prefixes_and_pty() {
        let got = entries(CAMT_V8);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got.iter().map(|e| e.line).collect::<Vec<_>>(),
            ntry_lines(CAMT_V8)
        );
        let shop = &got[0];
        assert_eq!(shop.date, date(2024, 10, 8));
        assert_eq!(shop.amount, dec("-45.67"));
        assert_eq!(shop.currency.as_deref(), Some("CHF"));
        assert_eq!(shop.merchant, "Migros Zürich");
        assert_eq!(shop.description, "Einkauf <Filiale> 08.10.");
        assert_eq!(shop.bank_id.as_deref(), Some("20241008000012345"));
        assert!(!shop.pending);

        let salary = &got[1];
        assert!(salary.pending);
        assert_eq!(salary.amount, dec("1200"));
        assert_eq!(salary.merchant, "Arbeitgeber AG");
        assert_eq!(salary.description, "Lohn Oktober");
        assert_eq!(salary.bank_id.as_deref(), Some("TX-REF-9"));

        let info = &got[2];
        assert!(info.pending, "INFO is not booked");
        assert_eq!(info.bank_id, None);
        assert_eq!(info.merchant, "");
        assert_eq!(info.description, "");
    }

    #[test]
    fn reads_camt_052_and_054() {
        let entry = r#"<Ntry><Amt Ccy="EUR">1.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-02-29</Dt></BookgDt></Ntry>"#;
        let report = format!(
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"><BkToCstmrAcctRpt><GrpHdr/><Rpt>{entry}</Rpt></BkToCstmrAcctRpt></Document>"#
        );
        let notification = format!(
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.13"><BkToCstmrDbtCdtNtfctn><Ntfctn>{entry}{entry}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"#
        );
        let got = entries(&report);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].date, date(2024, 2, 29));
        assert_eq!(got[0].amount, dec("-1.50"));
        assert_eq!(entries(&notification).len(), 2);
    }

    #[test]
    fn ntry_outside_a_statement_is_ignored() {
        let xml = r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt><Ntry><Amt Ccy="EUR">1</Amt></Ntry><Stmt><Bal><Ntry/></Bal></Stmt></BkToCstmrStmt></Document>"#;
        assert!(entries(xml).is_empty());
    }

    #[test]
    fn a_broken_entry_is_an_entry_error_and_reading_goes_on() {
        let good = r#"<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry>"#;
        let xml = format!(
            "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt>\n<Stmt>\n{good}\n\
             <Ntry><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry>\n\
             <Ntry><Amt Ccy=\"EUR\">-1,00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry>\n\
             <Ntry><Amt Ccy=\"EUR\">1.00</Amt><BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry>\n\
             <Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>\n\
             <Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-02-30</Dt></BookgDt></Ntry>\n\
             {good}\n</Stmt>\n</BkToCstmrStmt>\n</Document>\n"
        );
        let (result, got) = read(xml.as_bytes());
        result.unwrap();
        assert_eq!(got.len(), 7);
        assert!(got[0].is_ok());
        assert!(got[6].is_ok());
        let errors: Vec<_> = got[1..6].iter().map(|r| r.clone().unwrap_err()).collect();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["Amt", "Amt", "CdtDbtInd", "BookgDt", "BookgDt"]);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            [5, 6, 7, 8, 9]
        );
        assert!(errors[1].message.contains("'-1,00'"));
        assert!(errors[4].message.contains("2024-02-30"));
    }

    #[test]
    fn the_billion_laughs_are_refused_fast() {
        let started = Instant::now();
        let (result, got) = read(BILLION_LAUGHS.as_bytes());
        assert!(
            matches!(result, Err(StatementError::Refused(_))),
            "{result:?}"
        );
        assert!(got.is_empty());
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn external_entities_are_refused() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&xxe;</Document>"#;
        assert!(matches!(
            read(xml.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));
    }

    #[test]
    fn undeclared_entities_are_malformed() {
        let xml = r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>&lol9;</BkToCstmrStmt></Document>"#;
        assert!(matches!(
            read(xml.as_bytes()).0,
            Err(StatementError::Malformed(_))
        ));
    }

    #[test]
    fn over_long_text_and_deep_nesting_are_refused() {
        let huge = format!(
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>{}</BkToCstmrStmt></Document>"#,
            "x".repeat(10 * MAX_LINE_BYTES)
        );
        assert!(matches!(
            read(huge.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));

        let refs = format!(
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>{}</BkToCstmrStmt></Document>"#,
            "&amp;".repeat(MAX_LINE_BYTES + 1)
        );
        assert!(matches!(
            read(refs.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));

        let comment = format!("<!--{}-->", "<>".repeat(MAX_LINE_BYTES));
        assert!(matches!(
            read(comment.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));

        let deep = format!(
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">{}"#,
            "<a>".repeat(100_000)
        );
        assert!(matches!(
            read(deep.as_bytes()).0,
            Err(StatementError::Refused(_))
        ));

        let exactly = format!(
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>{}</BkToCstmrStmt></Document>"#,
            "x".repeat(MAX_LINE_BYTES)
        );
        read(exactly.as_bytes()).0.unwrap();
    }

    #[test]
    fn other_documents_are_malformed() {
        let cases = [
            "",
            "hello",
            "<?xml version=\"1.0\"?>",
            "<html><body/></html>",
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>"#,
            r#"<Document><BkToCstmrStmt/></Document>"#,
            r#"<a:Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/></a:Document>"#,
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><Foo/></Document>"#,
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>"#,
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt></Stmt></BkToCstmrStmt></Document>"#,
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/></Document><Document/>"#,
        ];
        for case in cases {
            let (result, got) = read(case.as_bytes());
            assert!(
                matches!(result, Err(StatementError::Malformed(_))),
                "{case}: {result:?}"
            );
            assert!(got.is_empty());
        }
    }

    #[test]
    fn a_bom_and_crlf_are_fine() {
        let with_bom = format!("\u{feff}{}", CAMT_V2.replace('\n', "\r\n"));
        let got = entries(&with_bom);
        assert_eq!(got.len(), 5);
        assert_eq!(
            got.iter().map(|e| e.line).collect::<Vec<_>>(),
            ntry_lines(CAMT_V2)
        );
        assert_eq!(got, entries(CAMT_V2));
    }

    #[test]
    fn the_sink_can_stop_the_reader() {
        let mut count = 0;
        let mut sink = |_item| {
            count += 1;
            ControlFlow::Break(())
        };
        read_camt(CAMT_V2.as_bytes(), &mut sink).unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn read_errors_are_io_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut sink = |_item| ControlFlow::Continue(());
        let result = read_camt(io::BufReader::new(Failing), &mut sink);
        assert!(matches!(result, Err(StatementError::Io(_))), "{result:?}");
    }

    /// A tiny deterministic generator for the fuzz test.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn multibyte_characters_anywhere_do_not_panic() {
        for (at, _) in CAMT_V8.char_indices() {
            let mut text = CAMT_V8.to_owned();
            text.insert(at, if at % 2 == 0 { 'ü' } else { '€' });
            let _ = read(text.as_bytes());
        }
    }

    #[test]
    fn no_input_panics() {
        for sample in [CAMT_V2, CAMT_V8, BILLION_LAUGHS] {
            let bytes = sample.as_bytes();
            for end in 0..bytes.len() {
                let _ = read(&bytes[..end]);
            }
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            for _ in 0..300 {
                let mut mutated = bytes.to_vec();
                for _ in 0..1 + xorshift(&mut state) % 4 {
                    let at = (xorshift(&mut state) % mutated.len() as u64) as usize;
                    mutated[at] = (xorshift(&mut state) & 0xff) as u8;
                }
                let _ = read(&mutated);
            }
        }
    }
}
