//! The text encoding of an uploaded statement: detected from a sample of its bytes
//! ([`detect_encoding`]) and decoded to UTF-8 while streaming ([`decoding_reader`]).

use std::io::Read;

use encoding_rs::{UTF_8, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;

/// The UTF-8 byte order mark some spreadsheet programs put before the first cell.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A text encoding a bank statement may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte order mark.
    Utf8,
    /// Windows-1252 ("ANSI" on western Windows): ISO-8859-1 plus printable characters
    /// such as `€`, `’` and `“` in 0x80–0x9F.
    Windows1252,
    /// ISO-8859-1 (Latin-1).
    Latin1,
}

impl TextEncoding {
    /// `bytes` (a sample, possibly cut inside a character) as text: a
    /// byte order mark dropped, bytes that are not text replaced.
    pub fn decode(self, bytes: &[u8]) -> String {
        let encoding = match self {
            Self::Utf8 => UTF_8,
            Self::Windows1252 | Self::Latin1 => WINDOWS_1252,
        };
        let (text, _) = encoding.decode_with_bom_removal(bytes);
        text.into_owned()
    }

    /// The canonical name of the encoding: `UTF-8`, `windows-1252` or `ISO-8859-1`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Windows1252 => "windows-1252",
            Self::Latin1 => "ISO-8859-1",
        }
    }

    /// Parses an encoding name: `utf-8`, `utf8`, `windows-1252`, `cp1252`, `iso-8859-1` or
    /// `latin1`, ignoring case and surrounding whitespace; `None` for anything else.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Self::Utf8),
            "windows-1252" | "cp1252" => Some(Self::Windows1252),
            "iso-8859-1" | "latin1" => Some(Self::Latin1),
            _ => None,
        }
    }
}

/// Guesses the encoding of a file from a sample of its first bytes.
///
/// - [`TextEncoding::Utf8`] when the sample (after an optional byte order mark) is valid
///   UTF-8. The sample may have been cut in the middle of a character, so an incomplete
///   sequence at the very end is ignored; pure ASCII is UTF-8 too.
/// - Otherwise [`TextEncoding::Windows1252`] when any byte is in 0x80–0x9F: those are
///   printable in Windows-1252 (`€`, `’`, `“`, …) but C1 control characters in
///   ISO-8859-1, which no bank statement contains.
/// - Otherwise [`TextEncoding::Latin1`] (the two agree on every byte that occurs).
#[must_use]
pub fn detect_encoding(sample: &[u8]) -> TextEncoding {
    let body = sample.strip_prefix(UTF8_BOM).unwrap_or(sample);
    match std::str::from_utf8(body) {
        Ok(_) => return TextEncoding::Utf8,
        // `error_len() == None`: the input ends in the middle of a valid sequence.
        Err(err) if err.error_len().is_none() => return TextEncoding::Utf8,
        Err(_) => {}
    }
    if body.iter().any(|byte| (0x80..=0x9F).contains(byte)) {
        TextEncoding::Windows1252
    } else {
        TextEncoding::Latin1
    }
}

/// Wraps `input` in a reader that yields UTF-8.
///
/// UTF-8 input is passed on with its byte order mark (if any) removed; the other encodings
/// are transcoded. Bytes that are invalid in the encoding become U+FFFD. ISO-8859-1 is
/// decoded as Windows-1252, as web browsers do (the WHATWG encoding standard treats the
/// two labels as one): they differ only in 0x80–0x9F, which are control characters in
/// ISO-8859-1 and so never meaningful in a statement.
pub fn decoding_reader<R: Read>(input: R, encoding: TextEncoding) -> impl Read {
    let encoding = match encoding {
        TextEncoding::Utf8 => UTF_8,
        TextEncoding::Windows1252 | TextEncoding::Latin1 => WINDOWS_1252,
    };
    DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .strip_bom(true)
        .build(input)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], encoding: TextEncoding) -> String {
        let mut text = String::new();
        decoding_reader(bytes, encoding)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn names_round_trip() {
        for encoding in [
            TextEncoding::Utf8,
            TextEncoding::Windows1252,
            TextEncoding::Latin1,
        ] {
            assert_eq!(TextEncoding::parse(encoding.name()), Some(encoding));
        }
        assert_eq!(TextEncoding::parse(" UTF8 "), Some(TextEncoding::Utf8));
        assert_eq!(
            TextEncoding::parse("CP1252"),
            Some(TextEncoding::Windows1252)
        );
        assert_eq!(TextEncoding::parse("Latin1"), Some(TextEncoding::Latin1));
        assert_eq!(TextEncoding::parse("utf-16"), None);
        assert_eq!(TextEncoding::parse(""), None);
    }

    #[test]
    fn utf8_with_and_without_bom() {
        let text = "Date;Libellé;Montant\n15/01/2024;Café;-3,50 €\n";
        assert_eq!(detect_encoding(text.as_bytes()), TextEncoding::Utf8);
        let with_bom = [UTF8_BOM, text.as_bytes()].concat();
        assert_eq!(detect_encoding(&with_bom), TextEncoding::Utf8);
        assert_eq!(decode(&with_bom, TextEncoding::Utf8), text);
        assert_eq!(decode(text.as_bytes(), TextEncoding::Utf8), text);
        assert_eq!(detect_encoding(b""), TextEncoding::Utf8);
        assert_eq!(detect_encoding(UTF8_BOM), TextEncoding::Utf8);
        assert_eq!(detect_encoding(b"plain ascii,1.00\n"), TextEncoding::Utf8);
    }

    #[test]
    fn a_sample_cut_inside_a_character_is_still_utf8() {
        let text = "Date,Amount,Description\n2024-01-15,-3.50,Café €".as_bytes();
        // Every cut, including those inside `é` (2 bytes) and `€` (3 bytes).
        for end in 0..=text.len() {
            assert_eq!(
                detect_encoding(&text[..end]),
                TextEncoding::Utf8,
                "cut at {end}"
            );
        }
        // An invalid sequence that is not at the end is not excused.
        assert_eq!(
            detect_encoding(b"caf\xC3 ok\x80"),
            TextEncoding::Windows1252
        );
    }

    #[test]
    fn windows_1252_file_round_trips() {
        // "Café" with é = 0xE9 and "€" = 0x80, as Excel on a western Windows saves it.
        let bytes = b"Date;Libell\xe9;Montant\r\n15/01/2024;Caf\xe9 de la Gare;-3,50 \x80\r\n\
                      16/01/2024;\x93Loyer\x94 janvier;-750,00 \x80\r\n";
        assert_eq!(detect_encoding(bytes), TextEncoding::Windows1252);
        assert_eq!(
            decode(bytes, TextEncoding::Windows1252),
            "Date;Libellé;Montant\r\n15/01/2024;Café de la Gare;-3,50 €\r\n\
             16/01/2024;“Loyer” janvier;-750,00 €\r\n"
        );
        // Decoding it as UTF-8 instead replaces the invalid bytes, without failing.
        assert!(decode(bytes, TextEncoding::Utf8).contains('\u{FFFD}'));
    }

    #[test]
    fn latin1_without_c1_bytes() {
        let bytes = b"Datum;Empf\xe4nger;Betrag\n15.01.2024;M\xfcller;-12,50\n";
        assert_eq!(detect_encoding(bytes), TextEncoding::Latin1);
        assert_eq!(
            decode(bytes, TextEncoding::Latin1),
            "Datum;Empfänger;Betrag\n15.01.2024;Müller;-12,50\n"
        );
    }

    #[test]
    fn decoding_streams_large_input() {
        let line = b"15/01/2024;Caf\xe9;-3,50 \x80\n";
        let bytes = line.repeat(10_000);
        let text = decode(&bytes, TextEncoding::Windows1252);
        assert_eq!(text.lines().count(), 10_000);
        assert!(text.lines().all(|l| l == "15/01/2024;Café;-3,50 €"));
    }
}
