//! OFX / QFX statements: OFX 1.x (SGML) and OFX 2.x (XML).
//!
//! One streaming tokenizer reads both versions byte by byte from the
//! `BufRead` and keeps only the current tag or text node in memory:
//!
//! * OFX 1.x starts with a header block of `KEY:VALUE` pairs
//!   (`OFXHEADER:100`, `CHARSET:1252`, ...) followed by SGML in which leaf
//!   elements usually have no end tag (`<TRNAMT>-12.50`) while aggregates
//!   do (`<STMTTRN>...</STMTTRN>`). A start tag followed by text is a leaf;
//!   any other start tag opens an element that stays open until its end
//!   tag, which also closes (silently) the empty leaves left inside it.
//!   Values are decoded with the declared charset (`CHARSET:1252` and
//!   `ISO-8859-1` as Windows-1252, `ENCODING:UTF-8` as UTF-8, anything
//!   else as UTF-8 when valid, else Windows-1252).
//! * OFX 2.x starts with `<?xml ...?><?OFX OFXHEADER="200" ...?>` and is
//!   well-formed XML in UTF-8. Any markup declaration (`<!DOCTYPE`,
//!   `<!ENTITY`, ...) is [`StatementError::Refused`] as soon as it is seen;
//!   nothing is expanded. Comments and CDATA sections are handled.
//! * A file without an `OFXHEADER` header, `<?xml` prolog or `<OFX>` root
//!   is [`StatementError::Malformed`], and so is a file that ends before
//!   `</OFX>` or closes an aggregate (`</BANKTRANLIST>`, `</OFX>`, ...)
//!   while a `<STMTTRN>` or statement aggregate inside it is still open.
//! * A physical line (or tag, or text node) longer than
//!   [`MAX_LINE_BYTES`] is [`StatementError::Refused`].
//!
//! Every `<STMTTRN>` of a bank statement (`STMTRS/BANKTRANLIST`) or a
//! credit-card statement (`CCSTMTRS/BANKTRANLIST`) becomes one [`Entry`]
//! (all statements of the file, in order); transactions of other messages
//! (investment statements, ...) are ignored:
//!
//! * `date`: `DTPOSTED` (`YYYYMMDD[HHMMSS[.XXX]][[tz]]`), the calendar
//!   date as written, the time zone is not applied;
//! * `amount`: `TRNAMT`, optional `+`/`-`, `.` or `,` as decimal separator;
//! * `currency`: the transaction's `CURRENCY/CURSYM`, else the statement's
//!   `CURDEF` (`ORIGCURRENCY` only says where the amount was converted
//!   from, so it is not used);
//! * `merchant`: `NAME`, else `PAYEE/NAME`;
//! * `description`: `MEMO`, else the merchant;
//! * `bank_id`: `FITID`; `pending`: false; `line`: the `<STMTTRN>` line.
//!
//! A transaction whose `DTPOSTED` or `TRNAMT` is missing or unreadable is
//! an [`EntryError`] naming that field, and reading goes on.

use std::io::BufRead;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::entry::{
    Entry, EntryError, MAX_DESCRIPTION_CHARS, MAX_LINE_BYTES, MAX_MERCHANT_CHARS, Sink,
    StatementError, clean,
};

/// Deepest element nesting accepted (real files nest fewer than 10 deep).
const MAX_DEPTH: usize = 256;
/// Longest element name accepted.
const MAX_NAME_BYTES: usize = 128;
/// Longest `KEY:VALUE` token of an OFX 1.x header.
const MAX_HEADER_TOKEN: usize = 1024;
/// Longest value quoted in an error message, in characters.
const QUOTE_CHARS: usize = 40;

const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Reads an OFX 1.x (SGML) or 2.x (XML) statement, or a QFX file, and hands
/// every bank or credit-card transaction to `sink` as soon as it is read.
///
/// Returns `Ok(())` at the end of the file (after `</OFX>`) or as soon as
/// `sink` returns `ControlFlow::Break`. See the [module](self) documentation
/// for the fields and the errors.
pub fn read_ofx<R: BufRead>(mut input: R, sink: &mut Sink<'_>) -> Result<(), StatementError> {
    let mut lexer = Lexer::new();
    let mut parser = Parser::new(sink);
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(StatementError::Io(err.to_string())),
        };
        if chunk.is_empty() {
            break;
        }
        let len = chunk.len();
        for &byte in chunk {
            if lexer.feed(byte, &mut parser)?.is_break() {
                return Ok(());
            }
        }
        input.consume(len);
    }
    lexer.finish(&mut parser)
}

/// How text values are decoded to UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// UTF-8 (invalid sequences replaced).
    Utf8,
    /// Windows-1252 (also used for ISO-8859-1, as browsers do).
    Windows1252,
    /// UTF-8 when the value is valid UTF-8, else Windows-1252.
    Auto,
}

impl Charset {
    fn decode(self, bytes: &[u8]) -> String {
        match self {
            Charset::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Charset::Windows1252 => win1252(bytes),
            Charset::Auto => match std::str::from_utf8(bytes) {
                Ok(text) => text.to_owned(),
                Err(_) => win1252(bytes),
            },
        }
    }

    /// The charset an encoding label (`1252`, `ISO-8859-1`, `UTF-8`) means.
    fn from_label(label: &str) -> Option<Charset> {
        let label = label.trim().to_ascii_uppercase();
        match label.as_str() {
            "UTF-8" | "UTF8" => Some(Charset::Utf8),
            "1252" | "WINDOWS-1252" | "CP1252" | "ISO-8859-1" | "ISO8859-1" | "8859-1"
            | "LATIN1" | "LATIN-1" | "US-ASCII" | "USASCII" | "ASCII" => Some(Charset::Windows1252),
            _ => None,
        }
    }
}

fn win1252(bytes: &[u8]) -> String {
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// Where the tokenizer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first `<`: the OFX 1.x header, if any.
    Header,
    /// Between tags.
    Text,
    /// After `<`.
    Tag,
    /// Inside `<? ... ?>`.
    Pi,
    /// Inside `<!-- ... -->`.
    Comment,
    /// Inside `<![CDATA[ ... ]]>`.
    CData,
}

/// Splits the bytes into header tokens, tags and text, and hands them to
/// the parser.
struct Lexer {
    state: State,
    /// Bytes seen so far (for the byte-order mark).
    offset: u64,
    line: u64,
    line_bytes: usize,
    prev_cr: bool,
    /// Current header token, and whether one was already seen.
    header_token: Vec<u8>,
    header_seen: bool,
    header_key: Option<String>,
    header_encoding: Option<String>,
    header_charset: Option<String>,
    /// `Some` once the body starts.
    charset: Option<Charset>,
    /// Text (raw bytes, CDATA already escaped) since the last tag.
    text: Vec<u8>,
    text_line: u64,
    /// The current tag, processing instruction, CDATA section.
    buf: Vec<u8>,
    tag_line: u64,
    /// Dashes seen in a row inside a comment.
    dashes: u8,
}

impl Lexer {
    fn new() -> Self {
        Lexer {
            state: State::Header,
            offset: 0,
            line: 1,
            line_bytes: 0,
            prev_cr: false,
            header_token: Vec::new(),
            header_seen: false,
            header_key: None,
            header_encoding: None,
            header_charset: None,
            charset: None,
            text: Vec::new(),
            text_line: 1,
            buf: Vec::new(),
            tag_line: 1,
            dashes: 0,
        }
    }

    fn feed(&mut self, byte: u8, parser: &mut Parser) -> Result<ControlFlow<()>, StatementError> {
        // A UTF-8 byte-order mark at the very start is skipped.
        if self.offset < 3 {
            let at = usize::try_from(self.offset).unwrap_or(3);
            if UTF8_BOM.get(at) == Some(&byte) {
                self.offset += 1;
                return Ok(ControlFlow::Continue(()));
            }
            if at > 0 {
                return Err(StatementError::Malformed(
                    "line 1: not an OFX file (broken byte-order mark)".into(),
                ));
            }
            self.offset = 3;
        }
        match byte {
            b'\n' => {
                if !self.prev_cr {
                    self.line += 1;
                }
                self.prev_cr = false;
                self.line_bytes = 0;
            }
            b'\r' => {
                self.line += 1;
                self.prev_cr = true;
                self.line_bytes = 0;
            }
            _ => {
                self.prev_cr = false;
                self.line_bytes += 1;
                if self.line_bytes > MAX_LINE_BYTES {
                    return Err(StatementError::Refused(format!(
                        "line {}: longer than {MAX_LINE_BYTES} bytes",
                        self.line
                    )));
                }
            }
        }
        match self.state {
            State::Header => self.header_byte(byte)?,
            State::Text => {
                if byte == b'<' {
                    self.start_tag();
                } else if !self.text.is_empty() || !byte.is_ascii_whitespace() {
                    if self.text.is_empty() {
                        self.text_line = self.line;
                    }
                    self.text.push(byte);
                    self.check_text_len()?;
                }
            }
            State::Tag => return self.tag_byte(byte, parser),
            State::Pi => {
                self.buf.push(byte);
                self.check_buf_len()?;
                if self.buf.ends_with(b"?>") {
                    self.processing_instruction();
                    self.state = State::Text;
                }
            }
            State::Comment => match byte {
                b'-' => self.dashes = self.dashes.saturating_add(1),
                b'>' if self.dashes >= 2 => self.state = State::Text,
                _ => self.dashes = 0,
            },
            State::CData => {
                self.buf.push(byte);
                self.check_buf_len()?;
                if self.buf.ends_with(b"]]>") {
                    let content = self.buf.get(..self.buf.len() - 3).unwrap_or_default();
                    if self.text.is_empty() {
                        self.text_line = self.tag_line;
                    }
                    // Escaped so that entity decoding gives the bytes back.
                    for &b in content {
                        if b == b'&' {
                            self.text.extend_from_slice(b"&amp;");
                        } else {
                            self.text.push(b);
                        }
                    }
                    self.buf.clear();
                    self.check_text_len()?;
                    self.state = State::Text;
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn start_tag(&mut self) {
        self.buf.clear();
        self.tag_line = self.line;
        self.state = State::Tag;
    }

    fn check_text_len(&self) -> Result<(), StatementError> {
        if self.text.len() > MAX_LINE_BYTES {
            return Err(StatementError::Refused(format!(
                "line {}: text longer than {MAX_LINE_BYTES} bytes",
                self.text_line
            )));
        }
        Ok(())
    }

    fn check_buf_len(&self) -> Result<(), StatementError> {
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(StatementError::Refused(format!(
                "line {}: markup longer than {MAX_LINE_BYTES} bytes",
                self.tag_line
            )));
        }
        Ok(())
    }

    /// One byte before the first `<`: the `KEY:VALUE` tokens of an OFX 1.x
    /// header, separated by white space.
    fn header_byte(&mut self, byte: u8) -> Result<(), StatementError> {
        if byte == b'<' {
            self.header_token_end()?;
            self.charset = Some(self.header_charset());
            self.start_tag();
        } else if byte.is_ascii_whitespace() {
            self.header_token_end()?;
        } else {
            self.header_token.push(byte);
            let token = &self.header_token;
            // The first token must be `OFXHEADER:...`: say so at once.
            let expected = b"OFXHEADER".get(..token.len().min(9)).unwrap_or_default();
            if token.len() > MAX_HEADER_TOKEN
                || (!self.header_seen && !starts_with_ignore_case(token, expected))
            {
                return Err(not_ofx(self.line));
            }
        }
        Ok(())
    }

    fn header_token_end(&mut self) -> Result<(), StatementError> {
        if self.header_token.is_empty() {
            return Ok(());
        }
        let token = String::from_utf8_lossy(&self.header_token).into_owned();
        self.header_token.clear();
        if !self.header_seen {
            if !token.to_ascii_uppercase().starts_with("OFXHEADER") {
                return Err(not_ofx(self.line));
            }
            self.header_seen = true;
        }
        // `KEY:VALUE`, or `KEY:` `VALUE` when the file puts a space after
        // the colon.
        let (key, value) = match (self.header_key.take(), token.split_once(':')) {
            (_, Some((key, value))) => (key.to_owned(), value.to_owned()),
            (Some(key), None) => (key, token),
            (None, None) => return Ok(()),
        };
        if value.is_empty() {
            self.header_key = Some(key);
            return Ok(());
        }
        match key.trim().to_ascii_uppercase().as_str() {
            "ENCODING" => self.header_encoding = Some(value),
            "CHARSET" => self.header_charset = Some(value),
            _ => {}
        }
        Ok(())
    }

    /// The charset the OFX 1.x header declares.
    fn header_charset(&self) -> Charset {
        let encoding = self
            .header_encoding
            .as_deref()
            .and_then(Charset::from_label);
        if encoding == Some(Charset::Utf8) {
            return Charset::Utf8;
        }
        match self.header_charset.as_deref().map(str::trim) {
            Some(label) if label.eq_ignore_ascii_case("NONE") => Charset::Auto,
            Some(label) => Charset::from_label(label).unwrap_or(Charset::Auto),
            None => Charset::Auto,
        }
    }

    /// One byte after `<`.
    fn tag_byte(
        &mut self,
        byte: u8,
        parser: &mut Parser,
    ) -> Result<ControlFlow<()>, StatementError> {
        if byte == b'>' {
            self.state = State::Text;
            let tag = std::mem::take(&mut self.buf);
            return self.tag(&tag, parser);
        }
        self.buf.push(byte);
        self.check_buf_len()?;
        match self.buf.first() {
            Some(b'?') if self.buf.len() == 1 => {
                self.buf.clear();
                self.state = State::Pi;
            }
            Some(b'!') => {
                if self.buf == b"!--" {
                    self.dashes = 0;
                    self.buf.clear();
                    self.state = State::Comment;
                } else if self.buf == b"![CDATA[" {
                    self.buf.clear();
                    self.state = State::CData;
                } else if !b"!--".starts_with(&self.buf) && !b"![CDATA[".starts_with(&self.buf) {
                    return Err(self.declaration());
                }
            }
            _ => {}
        }
        Ok(ControlFlow::Continue(()))
    }

    fn declaration(&self) -> StatementError {
        StatementError::Refused(format!(
            "line {}: markup declaration <{}...> (DOCTYPE, ENTITY): entity expansion is refused",
            self.tag_line,
            quote(&String::from_utf8_lossy(&self.buf))
        ))
    }

    /// A complete tag (without `<` and `>`).
    fn tag(&mut self, tag: &[u8], parser: &mut Parser) -> Result<ControlFlow<()>, StatementError> {
        if tag.first() == Some(&b'!') {
            return Err(self.declaration());
        }
        let tag = tag.trim_ascii();
        let (closing, rest) = match tag.split_first() {
            Some((b'/', rest)) => (true, rest.trim_ascii_start()),
            _ => (false, tag),
        };
        let self_closing = !closing && rest.ends_with(b"/");
        let name_len = rest
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/')
            .unwrap_or(rest.len());
        let name = rest.get(..name_len).unwrap_or_default();
        if name.is_empty() {
            // `< >`, a stray `<` in a value: not a tag.
            return Ok(ControlFlow::Continue(()));
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(StatementError::Malformed(format!(
                "line {}: element name longer than {MAX_NAME_BYTES} bytes",
                self.tag_line
            )));
        }
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let flow = self.flush_text(parser)?;
        if flow.is_break() {
            return Ok(flow);
        }
        if closing {
            return parser.end(&name, self.tag_line);
        }
        let flow = parser.start(name.clone(), self.tag_line)?;
        if self_closing && flow.is_continue() {
            return parser.end(&name, self.tag_line);
        }
        Ok(flow)
    }

    fn flush_text(&mut self, parser: &mut Parser) -> Result<ControlFlow<()>, StatementError> {
        if self.text.is_empty() {
            return Ok(ControlFlow::Continue(()));
        }
        let charset = self.charset.unwrap_or(Charset::Auto);
        let value = decode_entities(charset.decode(self.text.trim_ascii()).trim());
        self.text.clear();
        parser.text(value, self.text_line)
    }

    /// `<?xml ... ?>` says the file is OFX 2.x (UTF-8 unless it declares a
    /// Latin-1 encoding); other processing instructions (`<?OFX ...?>`) are
    /// skipped.
    fn processing_instruction(&mut self) {
        let content = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        let lower = content.to_ascii_lowercase();
        if !lower.starts_with("xml") {
            return;
        }
        let mut charset = Charset::Utf8;
        if let Some(at) = lower.find("encoding") {
            let value = lower
                .get(at + "encoding".len()..)
                .unwrap_or_default()
                .trim_start_matches([' ', '=', '"', '\''])
                .split(['"', '\'', ' ', '?'])
                .next()
                .unwrap_or_default();
            if let Some(declared) = Charset::from_label(value) {
                charset = declared;
            }
        }
        self.charset = Some(charset);
    }

    fn finish(&mut self, parser: &mut Parser) -> Result<(), StatementError> {
        match self.state {
            State::Header => {
                self.header_token_end()?;
                return Err(not_ofx(self.line));
            }
            State::Text => {}
            State::Tag | State::Pi | State::Comment | State::CData => {
                return Err(StatementError::Malformed(format!(
                    "line {}: the file ends inside the markup opened at line {}",
                    self.line, self.tag_line
                )));
            }
        }
        parser.finish(self.line)
    }
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len()
        && text
            .iter()
            .zip(prefix)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

fn not_ofx(line: u64) -> StatementError {
    StatementError::Malformed(format!(
        "line {line}: not an OFX file (no OFXHEADER header, <?xml prolog or <OFX> element)"
    ))
}

/// Decodes `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and
/// numeric character references; anything else is kept as written.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        rest = rest.get(at..).unwrap_or_default();
        let semicolon = rest.bytes().take(12).position(|b| b == b';');
        let entity = semicolon.and_then(|end| {
            let name = rest.get(1..end)?;
            Some((entity_char(name)?, end))
        });
        match entity {
            Some((ch, end)) => {
                out.push(ch);
                rest = rest.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity_char(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')
        }
    }
}

/// `text` cut to [`QUOTE_CHARS`] characters, for messages.
fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().nth(QUOTE_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Aggregates whose implicit closing (by the end tag of an outer element)
/// means the file is broken rather than sloppy SGML.
fn is_structural(name: &str) -> bool {
    matches!(
        name,
        "OFX"
            | "BANKMSGSRSV1"
            | "CREDITCARDMSGSRSV1"
            | "STMTTRNRS"
            | "CCSTMTTRNRS"
            | "STMTRS"
            | "CCSTMTRS"
            | "BANKTRANLIST"
            | "STMTTRN"
    )
}

/// Known aggregates: text right after their start tag is not their value.
fn is_aggregate(name: &str) -> bool {
    is_structural(name)
        || matches!(
            name,
            "SIGNONMSGSRSV1"
                | "SONRS"
                | "STATUS"
                | "FI"
                | "BANKACCTFROM"
                | "BANKACCTTO"
                | "CCACCTFROM"
                | "CCACCTTO"
                | "LEDGERBAL"
                | "AVAILBAL"
                | "CURRENCY"
                | "ORIGCURRENCY"
                | "PAYEE"
        )
}

/// An element whose end tag has not been read yet.
#[derive(Debug)]
struct Open {
    name: String,
    line: u64,
}

/// The fields of the `<STMTTRN>` being read.
#[derive(Debug, Default)]
struct Txn {
    /// Its index in the stack.
    depth: usize,
    line: u64,
    dtposted: Option<String>,
    trnamt: Option<String>,
    fitid: Option<String>,
    name: Option<String>,
    payee_name: Option<String>,
    memo: Option<String>,
    cursym: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    NotSeen,
    Open,
}

/// Turns tags and text into entries.
struct Parser<'s, 'a> {
    sink: &'s mut Sink<'a>,
    stack: Vec<Open>,
    /// The top of the stack was opened by the last event.
    just_opened: bool,
    /// The leaf whose value was the last event (its end tag is optional).
    last_leaf: Option<String>,
    root: Root,
    curdef: Option<String>,
    txn: Option<Txn>,
}

impl<'s, 'a> Parser<'s, 'a> {
    fn new(sink: &'s mut Sink<'a>) -> Self {
        Parser {
            sink,
            stack: Vec::new(),
            just_opened: false,
            last_leaf: None,
            root: Root::NotSeen,
            curdef: None,
            txn: None,
        }
    }

    fn start(&mut self, name: String, line: u64) -> Result<ControlFlow<()>, StatementError> {
        if self.root == Root::NotSeen {
            if name != "OFX" {
                return Err(StatementError::Malformed(format!(
                    "line {line}: the first element is <{}>, not <OFX>: not an OFX file",
                    quote(&name)
                )));
            }
            self.root = Root::Open;
        }
        self.last_leaf = None;
        if self.stack.len() >= MAX_DEPTH {
            return Err(StatementError::Malformed(format!(
                "line {line}: elements nested deeper than {MAX_DEPTH}"
            )));
        }
        match name.as_str() {
            "STMTTRN" => {
                if let Some(open) = &self.txn {
                    return Err(StatementError::Malformed(format!(
                        "line {line}: <STMTTRN> inside the <STMTTRN> opened at line {}, \
                         which is not closed",
                        open.line
                    )));
                }
                if self.in_statement_list() {
                    self.txn = Some(Txn {
                        depth: self.stack.len(),
                        line,
                        ..Txn::default()
                    });
                }
            }
            "STMTRS" | "CCSTMTRS" => self.curdef = None,
            _ => {}
        }
        self.stack.push(Open { name, line });
        self.just_opened = true;
        Ok(ControlFlow::Continue(()))
    }

    /// Inside the `BANKTRANLIST` of a bank or credit-card statement.
    fn in_statement_list(&self) -> bool {
        let Some(list) = self.stack.iter().rposition(|o| o.name == "BANKTRANLIST") else {
            return false;
        };
        self.stack
            .get(..list)
            .unwrap_or_default()
            .iter()
            .any(|o| o.name == "STMTRS" || o.name == "CCSTMTRS")
    }

    fn text(&mut self, value: String, line: u64) -> Result<ControlFlow<()>, StatementError> {
        if self.root == Root::NotSeen {
            return Err(StatementError::Malformed(format!(
                "line {line}: text before the <OFX> element: not an OFX file"
            )));
        }
        let leaf = self.just_opened
            && self
                .stack
                .last()
                .is_some_and(|open| !is_aggregate(&open.name));
        self.just_opened = false;
        if value.is_empty() || !leaf {
            return Ok(ControlFlow::Continue(()));
        }
        if let Some(open) = self.stack.pop() {
            self.leaf(&open.name, value);
            self.last_leaf = Some(open.name);
        }
        Ok(ControlFlow::Continue(()))
    }

    fn end(&mut self, name: &str, line: u64) -> Result<ControlFlow<()>, StatementError> {
        self.just_opened = false;
        if self.last_leaf.take().is_some_and(|leaf| leaf == name) {
            return Ok(ControlFlow::Continue(()));
        }
        let Some(at) = self.stack.iter().rposition(|o| o.name == name) else {
            // A stray end tag: nothing to close.
            return Ok(ControlFlow::Continue(()));
        };
        while self.stack.len() > at + 1 {
            if let Some(open) = self.stack.pop()
                && is_structural(&open.name)
            {
                return Err(StatementError::Malformed(format!(
                    "line {line}: </{name}> while <{}> opened at line {} is not closed",
                    open.name, open.line
                )));
            }
        }
        self.stack.pop();
        match name {
            "STMTTRN" => {
                if let Some(txn) = self.txn.take_if(|txn| txn.depth == at) {
                    let entry = build_entry(txn, self.curdef.as_deref());
                    return Ok((self.sink)(entry));
                }
            }
            "OFX" if at == 0 => return Ok(ControlFlow::Break(())),
            _ => {}
        }
        Ok(ControlFlow::Continue(()))
    }

    /// A leaf element and its (decoded, trimmed, non-empty) value.
    fn leaf(&mut self, name: &str, value: String) {
        let Some(txn) = &mut self.txn else {
            if name == "CURDEF" && self.curdef.is_none() {
                self.curdef = Some(value);
            }
            return;
        };
        let inner = self.stack.get(txn.depth + 1..).unwrap_or_default();
        let inside = |aggregate: &str| inner.iter().any(|o| o.name == aggregate);
        let field = match name {
            "DTPOSTED" => &mut txn.dtposted,
            "TRNAMT" => &mut txn.trnamt,
            "FITID" => &mut txn.fitid,
            "MEMO" => &mut txn.memo,
            "NAME" if inside("PAYEE") => &mut txn.payee_name,
            "NAME" => &mut txn.name,
            "CURSYM" if inside("CURRENCY") => &mut txn.cursym,
            _ => return,
        };
        if field.is_none() {
            *field = Some(value);
        }
    }

    fn finish(&mut self, line: u64) -> Result<(), StatementError> {
        if self.root == Root::NotSeen {
            return Err(not_ofx(line));
        }
        let open = match &self.txn {
            Some(txn) => format!(" (<STMTTRN> opened at line {} is not closed)", txn.line),
            None => String::new(),
        };
        Err(StatementError::Malformed(format!(
            "line {line}: the file ends before </OFX>{open}"
        )))
    }
}

fn build_entry(txn: Txn, curdef: Option<&str>) -> Result<Entry, EntryError> {
    let error = |field: &str, message: String| EntryError {
        line: txn.line,
        field: field.to_owned(),
        message,
    };
    let date = match &txn.dtposted {
        None => return Err(error("DTPOSTED", "DTPOSTED is missing".into())),
        Some(text) => parse_date(text).ok_or_else(|| {
            error(
                "DTPOSTED",
                format!("DTPOSTED \"{}\" is not a date (YYYYMMDD...)", quote(text)),
            )
        })?,
    };
    let amount = match &txn.trnamt {
        None => return Err(error("TRNAMT", "TRNAMT is missing".into())),
        Some(text) => parse_amount(text).ok_or_else(|| {
            error(
                "TRNAMT",
                format!("TRNAMT \"{}\" is not an amount", quote(text)),
            )
        })?,
    };
    let currency = txn
        .cursym
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .or(curdef.map(str::trim))
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_uppercase);
    let name = txn
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .or(txn.payee_name.as_deref())
        .unwrap_or_default();
    let merchant = clean(name, MAX_MERCHANT_CHARS);
    let mut description = clean(
        txn.memo.as_deref().unwrap_or_default(),
        MAX_DESCRIPTION_CHARS,
    );
    if description.is_empty() {
        description = clean(name, MAX_DESCRIPTION_CHARS);
    }
    let bank_id = txn
        .fitid
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    Ok(Entry {
        line: txn.line,
        date,
        amount,
        currency,
        description,
        merchant,
        bank_id,
        pending: false,
    })
}

/// `YYYYMMDD`, optionally followed by `HHMMSS`, `.XXX` and a `[tz]`; the
/// calendar date as written.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let digits = text.get(..8)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year = digits.get(..4)?.parse().ok()?;
    let month = digits.get(4..6)?.parse().ok()?;
    let day = digits.get(6..8)?.parse().ok()?;
    // What follows must look like a time and zone.
    let rest = text.get(8..)?;
    let (time, zone) = match rest.find('[') {
        Some(at) => (rest.get(..at)?, Some(rest.get(at..)?)),
        None => (rest, None),
    };
    let time = time.trim_end();
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    if clock.len() > 6
        || !clock.bytes().all(|b| b.is_ascii_digit())
        || fraction.is_empty()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if zone.is_some_and(|zone| !zone.ends_with(']')) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// A signed decimal: optional `+`/`-`, digits, `.` or `,` as the decimal
/// separator (when both appear, the last one is the decimal separator and
/// the other one groups thousands).
fn parse_amount(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, text.get(1..)?),
        b'+' => (false, text.get(1..)?),
        _ => (false, text),
    };
    let mut normal = String::with_capacity(body.len() + 2);
    let last = body.rfind(['.', ',']);
    let (decimal_sep, group_sep) = match last.and_then(|at| body.as_bytes().get(at)) {
        Some(b',') => (',', '.'),
        _ => ('.', ','),
    };
    for ch in body.chars() {
        match ch {
            '0'..='9' => normal.push(ch),
            c if c == decimal_sep => normal.push('.'),
            c if c == group_sep => {}
            _ => return None,
        }
    }
    finish_amount(negative, &normal)
}

/// `digits[.digits]` (at least one digit, one point at most) as a decimal.
fn finish_amount(negative: bool, normal: &str) -> Option<Decimal> {
    if normal.matches('.').count() > 1 || !normal.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value = if normal.starts_with('.') {
        Decimal::from_str_exact(&format!("0{normal}")).ok()?
    } else {
        Decimal::from_str_exact(normal.strip_suffix('.').unwrap_or(normal)).ok()?
    };
    if negative {
        value.set_sign_negative(true);
    }
    Some(value)
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
        let result = read_ofx(BufReader::with_capacity(capacity, input), &mut |item| {
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

    fn crlf(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    /// The bank statement example of the OFX 1.0.2 specification.
    const SPEC_102: &str = "OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1>
<SONRS>
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<DTSERVER>20051029101003
<LANGUAGE>ENG
<DTPROFUP>19991029101003
<DTACCTUP>20031029101003
<FI>
<ORG>NCH
<FID>1001
</FI>
</SONRS>
</SIGNONMSGSRSV1>
<BANKMSGSRSV1>
<STMTTRNRS>
<TRNUID>1001
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<STMTRS>
<CURDEF>USD
<BANKACCTFROM>
<BANKID>121099999
<ACCTID>999988
<ACCTTYPE>CHECKING
</BANKACCTFROM>
<BANKTRANLIST>
<DTSTART>20051001
<DTEND>20051028
<STMTTRN>
<TRNTYPE>CHECK
<DTPOSTED>20051004
<TRNAMT>-200.00
<FITID>00002
<CHECKNUM>1000
</STMTTRN>
<STMTTRN>
<TRNTYPE>ATM
<DTPOSTED>20051020
<DTUSER>20051020
<TRNAMT>-300.00
<FITID>00003
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL>
<BALAMT>200.29
<DTASOF>200510291120
</LEDGERBAL>
<AVAILBAL>
<BALAMT>200.29
<DTASOF>200510291120
</AVAILBAL>
</STMTRS>
</STMTTRNRS>
</BANKMSGSRSV1>
</OFX>
";

    /// An OFX 2.1.1 bank statement (XML), after the specification's
    /// example, with entities, a comment, CDATA, PAYEE and CURRENCY.
    const XML_211: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX>
  <SIGNONMSGSRSV1>
    <SONRS>
      <STATUS>
        <CODE>0</CODE>
        <SEVERITY>INFO</SEVERITY>
      </STATUS>
      <DTSERVER>20071015021529.000[-8:PST]</DTSERVER>
      <LANGUAGE>ENG</LANGUAGE>
    </SONRS>
  </SIGNONMSGSRSV1>
  <BANKMSGSRSV1>
    <STMTTRNRS>
      <TRNUID>1001</TRNUID>
      <STATUS>
        <CODE>0</CODE>
        <SEVERITY>INFO</SEVERITY>
      </STATUS>
      <STMTRS>
        <CURDEF>usd</CURDEF>
        <BANKACCTFROM>
          <BANKID>000000123</BANKID>
          <ACCTID>123456</ACCTID>
          <ACCTTYPE>CHECKING</ACCTTYPE>
        </BANKACCTFROM>
        <BANKTRANLIST>
          <DTSTART>20070101</DTSTART>
          <DTEND>20071015</DTEND>
          <!-- a deposit -->
          <STMTTRN>
            <TRNTYPE>CREDIT</TRNTYPE>
            <DTPOSTED>20070315</DTPOSTED>
            <DTUSER>20070315</DTUSER>
            <TRNAMT>200.00</TRNAMT>
            <FITID>980315001</FITID>
            <NAME>DEPOSIT</NAME>
            <MEMO>automatic   deposit</MEMO>
          </STMTTRN>
          <STMTTRN>
            <TRNTYPE>DEBIT</TRNTYPE>
            <DTPOSTED>20070329120000.000[-8:PST]</DTPOSTED>
            <TRNAMT>-49.95</TRNAMT>
            <FITID>980329001</FITID>
            <NAME>Ben &amp; Jerry&apos;s &lt;Café&gt;</NAME>
            <MEMO/>
          </STMTTRN>
          <STMTTRN>
            <TRNTYPE>PAYMENT</TRNTYPE>
            <DTPOSTED>20070402</DTPOSTED>
            <TRNAMT>-100.00</TRNAMT>
            <FITID>980402001</FITID>
            <PAYEE>
              <NAME>Landlord Ltd</NAME>
              <ADDR1>1 Main St</ADDR1>
            </PAYEE>
            <MEMO><![CDATA[rent <April> & fees]]></MEMO>
            <CURRENCY>
              <CURRATE>1.1</CURRATE>
              <CURSYM>eur</CURSYM>
            </CURRENCY>
          </STMTTRN>
        </BANKTRANLIST>
        <LEDGERBAL>
          <BALAMT>5250.00</BALAMT>
          <DTASOF>20071015021529.000[-8:PST]</DTASOF>
        </LEDGERBAL>
      </STMTRS>
    </STMTTRNRS>
  </BANKMSGSRSV1>
</OFX>
"#;

    /// A Quicken QFX credit-card download (CRLF when used).
    const QFX_CC: &str = "OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1>
<SONRS>
<STATUS>
<CODE>0
<SEVERITY>INFO
<MESSAGE>Success
</STATUS>
<DTSERVER>20240115120000.000[-5:EST]
<LANGUAGE>ENG
<FI>
<ORG>B1
<FID>10898
</FI>
<INTU.BID>10898
</SONRS>
</SIGNONMSGSRSV1>
<CREDITCARDMSGSRSV1>
<CCSTMTTRNRS>
<TRNUID>1
<STATUS>
<CODE>0
<SEVERITY>INFO
<MESSAGE>Success
</STATUS>
<CCSTMTRS>
<CURDEF>USD
<CCACCTFROM>
<ACCTID>4111111111111111
</CCACCTFROM>
<BANKTRANLIST>
<DTSTART>20231215120000.000[-5:EST]
<DTEND>20240114120000.000[-5:EST]
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>20231231190000.000[-5:EST]
<TRNAMT>-45.67
<FITID>2023123124692163364100019876543
<NAME>AMAZON MKTPLACE PMTS
<MEMO>AMZN.COM/BILL WA
</STMTTRN>
<STMTTRN>
<TRNTYPE>CREDIT
<DTPOSTED>20240105
<TRNAMT>+250.00
<FITID>2024010524692163364100011111111
<NAME>PAYMENT - THANK YOU
<MEMO>
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL>
<BALAMT>-1234.56
<DTASOF>20240114120000.000[-5:EST]
</LEDGERBAL>
</CCSTMTRS>
</CCSTMTTRNRS>
</CREDITCARDMSGSRSV1>
</OFX>
";

    #[test]
    fn spec_102_bank_statement() {
        let got = entries(SPEC_102.as_bytes());
        assert_eq!(
            got,
            vec![
                Entry {
                    line: 45,
                    date: date(2005, 10, 4),
                    amount: dec("-200.00"),
                    currency: Some("USD".into()),
                    description: String::new(),
                    merchant: String::new(),
                    bank_id: Some("00002".into()),
                    pending: false,
                },
                Entry {
                    line: 52,
                    date: date(2005, 10, 20),
                    amount: dec("-300.00"),
                    currency: Some("USD".into()),
                    description: String::new(),
                    merchant: String::new(),
                    bank_id: Some("00003".into()),
                    pending: false,
                },
            ]
        );
        assert!(SPEC_102.lines().nth(44).unwrap().starts_with("<STMTTRN>"));
        // The same with CRLF line endings.
        assert_eq!(entries(&crlf(SPEC_102)), got);
    }

    #[test]
    fn xml_211_bank_statement() {
        let got = entries(XML_211.as_bytes());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].line, 32);
        assert_eq!(got[0].date, date(2007, 3, 15));
        assert_eq!(got[0].amount, dec("200.00"));
        assert_eq!(got[0].currency.as_deref(), Some("USD"));
        assert_eq!(got[0].merchant, "DEPOSIT");
        assert_eq!(got[0].description, "automatic deposit");
        assert_eq!(got[0].bank_id.as_deref(), Some("980315001"));
        assert_eq!(got[1].date, date(2007, 3, 29));
        assert_eq!(got[1].merchant, "Ben & Jerry's <Café>");
        assert_eq!(got[1].description, "Ben & Jerry's <Café>");
        assert_eq!(got[2].merchant, "Landlord Ltd");
        assert_eq!(got[2].description, "rent <April> & fees");
        assert_eq!(got[2].currency.as_deref(), Some("EUR"));
        // With a byte-order mark and CRLF.
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(crlf(XML_211));
        assert_eq!(entries(&bom), got);
    }

    #[test]
    fn qfx_credit_card_with_time_zones_and_crlf() {
        let got = entries(&crlf(QFX_CC));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].date, date(2023, 12, 31));
        assert_eq!(got[0].amount, dec("-45.67"));
        assert_eq!(got[0].currency.as_deref(), Some("USD"));
        assert_eq!(got[0].merchant, "AMAZON MKTPLACE PMTS");
        assert_eq!(got[0].description, "AMZN.COM/BILL WA");
        assert_eq!(
            got[0].bank_id.as_deref(),
            Some("2023123124692163364100019876543")
        );
        assert_eq!(got[0].line, 44);
        assert_eq!(got[1].amount, dec("250.00"));
        assert_eq!(got[1].description, "PAYMENT - THANK YOU");
    }

    #[test]
    fn one_line_sgml() {
        let body: String = SPEC_102.split_once("\n\n").unwrap().1.lines().collect();
        let header = SPEC_102.split_once("\n\n").unwrap().0;
        let file = format!("{header}\r\n\r\n{body}\r\n");
        let got = entries(file.as_bytes());
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|e| e.line == 11));
        assert_eq!(got[1].amount, dec("-300.00"));
        // Header and body all on one line, separated by spaces.
        let flat = format!("{} {body}", header.replace('\n', " "));
        let flat_entries = entries(flat.as_bytes());
        assert_eq!(flat_entries.len(), 2);
        assert!(flat_entries.iter().all(|e| e.line == 1));
    }

    fn one_transaction(charset_header: &str, name: &[u8]) -> Vec<u8> {
        let mut file = format!(
            "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\n{charset_header}\r\n\r\n\
             <OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKTRANLIST>\r\n\
             <STMTTRN><DTPOSTED>20240301<TRNAMT>-12,50<FITID>1<NAME>"
        )
        .into_bytes();
        file.extend_from_slice(name);
        file.extend_from_slice(
            b"\r\n<MEMO>Carte 01/03\r\n</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\r\n",
        );
        file
    }

    #[test]
    fn charsets() {
        let cafe = "Café de la Gare";
        for header in ["ENCODING:USASCII\r\nCHARSET:1252", "CHARSET:ISO-8859-1"] {
            let got = entries(&one_transaction(header, b"Caf\xE9 de la Gare"));
            assert_eq!(got[0].merchant, cafe, "{header}");
            assert_eq!(got[0].description, "Carte 01/03");
            assert_eq!(got[0].amount, dec("-12.50"));
            assert_eq!(got[0].currency.as_deref(), Some("EUR"));
        }
        let utf8 = entries(&one_transaction(
            "ENCODING:UTF-8\r\nCHARSET:NONE",
            cafe.as_bytes(),
        ));
        assert_eq!(utf8[0].merchant, cafe);
        // Undeclared: UTF-8 when valid, else Windows-1252.
        let none = entries(&one_transaction("CHARSET:NONE", cafe.as_bytes()));
        assert_eq!(none[0].merchant, cafe);
        let none = entries(&one_transaction("CHARSET:NONE", b"Caf\xE9 de la Gare"));
        assert_eq!(none[0].merchant, cafe);
    }

    fn statement(transactions: &str) -> String {
        format!(
            "OFXHEADER:100\nDATA:OFXSGML\n\n<OFX>\n<BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>GBP\n\
             <BANKTRANLIST>\n{transactions}</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1>\n</OFX>\n"
        )
    }

    #[test]
    fn bad_transactions_are_entry_errors() {
        let file = statement(
            "<STMTTRN><DTPOSTED>20240101<TRNAMT>12.3.4<FITID>a</STMTTRN>\n\
             <STMTTRN><DTPOSTED>20240102<TRNAMT>-1.00<FITID>b</STMTTRN>\n\
             <STMTTRN><TRNAMT>5<FITID>c</STMTTRN>\n\
             <STMTTRN><DTPOSTED>2024-01-04<TRNAMT>5<FITID>d</STMTTRN>\n\
             <STMTTRN><DTPOSTED>20240230<TRNAMT>5<FITID>e</STMTTRN>\n\
             <STMTTRN><DTPOSTED>20240105<FITID>f</STMTTRN>\n\
             <STMTTRN><DTPOSTED>20240106000000[+1]<TRNAMT>+1.234,56<FITID>g</STMTTRN>\n",
        );
        let (items, result) = read(file.as_bytes());
        result.unwrap();
        let fields: Vec<_> = items
            .iter()
            .map(|item| match item {
                Ok(_) => "ok".to_owned(),
                Err(err) => err.field.clone(),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "TRNAMT", "ok", "DTPOSTED", "DTPOSTED", "DTPOSTED", "TRNAMT", "ok"
            ]
        );
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.line, 7);
        assert!(err.message.contains("12.3.4"), "{}", err.message);
        let last = items[6].as_ref().unwrap();
        assert_eq!(last.amount, dec("1234.56"));
        assert_eq!(last.date, date(2024, 1, 6));
        assert_eq!(last.currency.as_deref(), Some("GBP"));
    }

    #[test]
    fn several_statements() {
        let file = format!(
            "{}{}",
            SPEC_102.replace("</OFX>\n", ""),
            QFX_CC
                .split_once("<CREDITCARDMSGSRSV1>")
                .map(|(_, rest)| format!("<CREDITCARDMSGSRSV1>{rest}"))
                .unwrap()
                .replace("<CURDEF>USD", "<CURDEF>CAD")
        );
        let got = entries(file.as_bytes());
        assert_eq!(got.len(), 4);
        let currencies: Vec<_> = got.iter().map(|e| e.currency.clone().unwrap()).collect();
        assert_eq!(currencies, ["USD", "USD", "CAD", "CAD"]);
    }

    #[test]
    fn investment_transactions_are_ignored() {
        let file = "OFXHEADER:100\n\n<OFX><INVSTMTMSGSRSV1><INVSTMTTRNRS><INVSTMTRS><CURDEF>USD\
            <INVTRANLIST><INVBANKTRAN><STMTTRN><DTPOSTED>20240101<TRNAMT>1<FITID>x</STMTTRN>\
            <SUBACCTFUND>CASH</INVBANKTRAN></INVTRANLIST></INVSTMTRS></INVSTMTTRNRS>\
            </INVSTMTMSGSRSV1></OFX>";
        assert!(entries(file.as_bytes()).is_empty());
    }

    #[test]
    fn entity_bomb_is_refused() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE OFX [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKTRANLIST>
<STMTTRN><DTPOSTED>20240101</DTPOSTED><TRNAMT>1</TRNAMT><MEMO>&lol3;</MEMO></STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"#;
        let (items, result) = read(bomb.as_bytes());
        assert!(items.is_empty());
        match result {
            Err(StatementError::Refused(message)) => {
                assert!(message.starts_with("line 2:"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // An entity declaration anywhere, without DOCTYPE.
        let sneaky = XML_211.replace("<!-- a deposit -->", "<!ENTITY x \"y\">");
        let (items, result) = read(sneaky.as_bytes());
        assert!(matches!(result, Err(StatementError::Refused(_))));
        assert!(items.is_empty());
        // Unknown entity references are not expanded either.
        let reference = XML_211.replace("automatic   deposit", "&lol3;");
        assert_eq!(entries(reference.as_bytes())[0].description, "&lol3;");
    }

    #[test]
    fn not_ofx_is_malformed() {
        for file in [
            &b""[..],
            b"\n\n",
            b"Date,Amount,Payee\n2024-01-01,-5.00,Shop\n",
            b"<html><body>Session expired</body></html>",
            b"<?xml version=\"1.0\"?><camt><Ntry/></camt>",
            b"{\"transactions\": []}",
            b"!Type:Bank\nD1/5'03\n^\n",
            b"OFXHEADER:100\nDATA:OFXSGML\n",
            b"\xFF\xFE<\0O\0F\0X\0>\0",
        ] {
            let (items, result) = read(file);
            assert!(items.is_empty());
            assert!(
                matches!(result, Err(StatementError::Malformed(_))),
                "{:?}: {result:?}",
                String::from_utf8_lossy(file)
            );
        }
    }

    #[test]
    fn truncated_or_unclosed_is_malformed() {
        let cut = &SPEC_102[..SPEC_102.find("<DTUSER>").unwrap()];
        let (items, result) = read(cut.as_bytes());
        assert_eq!(items.len(), 1);
        let Err(StatementError::Malformed(message)) = result else {
            panic!("{result:?}")
        };
        assert!(message.contains("line 52"), "{message}");
        let unclosed = SPEC_102.replacen("</STMTTRN>", "", 1);
        let (_, result) = read(unclosed.as_bytes());
        assert!(
            matches!(result, Err(StatementError::Malformed(_))),
            "{result:?}"
        );
        let no_list_end = SPEC_102.replace("</STMTTRN>\n</BANKTRANLIST>", "</BANKTRANLIST>");
        let (_, result) = read(no_list_end.as_bytes());
        assert!(
            matches!(result, Err(StatementError::Malformed(_))),
            "{result:?}"
        );
    }

    #[test]
    fn long_line_is_refused() {
        let memo = "x".repeat(MAX_LINE_BYTES + 1);
        let file = statement(&format!(
            "<STMTTRN><DTPOSTED>20240101<TRNAMT>1<MEMO>{memo}\n</STMTTRN>\n"
        ));
        let (items, result) = read(file.as_bytes());
        assert!(items.is_empty());
        assert!(
            matches!(result, Err(StatementError::Refused(_))),
            "{result:?}"
        );
    }

    #[test]
    fn sink_break_stops_reading() {
        let mut seen = 0;
        let result = read_ofx(QFX_CC.as_bytes(), &mut |_| {
            seen += 1;
            ControlFlow::Break(())
        });
        assert_eq!(result, Ok(()));
        assert_eq!(seen, 1);
    }

    #[test]
    fn dates_and_amounts() {
        assert_eq!(parse_date("20240229"), Some(date(2024, 2, 29)));
        assert_eq!(parse_date("20240229235959"), Some(date(2024, 2, 29)));
        assert_eq!(parse_date("20240229235959.999"), Some(date(2024, 2, 29)));
        assert_eq!(
            parse_date("20240229235959.999[-5:EST]"),
            Some(date(2024, 2, 29))
        );
        assert_eq!(parse_date("20240229120000[+1]"), Some(date(2024, 2, 29)));
        assert_eq!(parse_date("20230229"), None);
        assert_eq!(parse_date("2024022"), None);
        assert_eq!(parse_date("2024-02-29"), None);
        assert_eq!(parse_date("20240229[-5:EST"), None);
        assert_eq!(parse_date("20240229é"), None);
        assert_eq!(parse_amount("-12.50"), Some(dec("-12.50")));
        assert_eq!(parse_amount("-12,50"), Some(dec("-12.50")));
        assert_eq!(parse_amount("+7"), Some(dec("7")));
        assert_eq!(parse_amount(".5"), Some(dec("0.5")));
        assert_eq!(parse_amount("1,234.56"), Some(dec("1234.56")));
        assert_eq!(parse_amount("-1.234,56"), Some(dec("-1234.56")));
        for bad in [
            "",
            "-",
            "+",
            ".",
            "1.2.3",
            "12a",
            "--1",
            "1e5",
            "€5",
            "99999999999999999999999999999999",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
        assert_eq!(
            decode_entities("a&amp;b&#233;&#xE9;&bogus;&"),
            "a&béé&bogus;&"
        );
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
        for sample in [
            SPEC_102.as_bytes().to_vec(),
            XML_211.as_bytes().to_vec(),
            crlf(QFX_CC),
            one_transaction("CHARSET:1252", b"Caf\xE9"),
        ] {
            for end in 0..=sample.len() {
                let _ = read_with(&sample[..end], 64);
            }
            let mut state = 0x9E37_79B9_7F4A_7C15_u64;
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
