//! Opaque page tokens: where the last page ended, and a fingerprint of the
//! listing and filters it was issued for, as URL-safe base64 JSON. Clients
//! must treat them as opaque; a token that does not decode, or was issued
//! for another listing or other filters, is INVALID_ARGUMENT on
//! `page_token`.
//!
//! The fingerprint hashes an explicit encoding, never a `Debug` string, so
//! it changes only when this file says so: version byte [`VERSION`], then
//! the listing's name, then each filter in the order the listing writes it
//! (see [`Filters`]); SHA-256, first 9 bytes, URL-safe base64.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Datelike as _, NaiveDate};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::domain::PageSize;

/// The version of the fingerprint encoding; bump it whenever the encoding
/// of any field changes, so old tokens are refused instead of misread.
pub const VERSION: u8 = 1;

/// The longest token accepted.
const MAX_TOKEN_LEN: usize = 512;

/// Bytes of the SHA-256 digest kept in a token.
const FINGERPRINT_BYTES: usize = 9;

/// The filters of one listing, written field by field into the encoding the
/// fingerprint hashes. An optional field is `0` when absent and `1` plus
/// its value when present; numbers are big-endian, text is a `u32` length
/// and UTF-8 bytes, a list is a `u32` count and its items.
#[derive(Debug, Clone)]
pub struct Filters(Vec<u8>);

impl Filters {
    /// The filters of the listing `listing` (e.g. `transactions`).
    pub fn new(listing: &str) -> Self {
        let mut out = Self(vec![VERSION]);
        out.put_text(listing);
        out
    }

    /// A yes/no filter.
    #[must_use]
    pub fn flag(mut self, value: bool) -> Self {
        self.0.extend([1, u8::from(value)]);
        self
    }

    /// An optional id.
    #[must_use]
    pub fn id(self, value: Option<Uuid>) -> Self {
        self.optional(value, |out, id| out.0.extend_from_slice(id.as_bytes()))
    }

    /// An optional date (days from the common era, `i32`).
    #[must_use]
    pub fn date(self, value: Option<NaiveDate>) -> Self {
        self.optional(value, |out, d| {
            out.0.extend_from_slice(&d.num_days_from_ce().to_be_bytes());
        })
    }

    /// An optional amount in minor units (`i64`).
    #[must_use]
    pub fn amount(self, value: Option<i64>) -> Self {
        self.optional(value, |out, a| out.0.extend_from_slice(&a.to_be_bytes()))
    }

    /// An optional text.
    #[must_use]
    pub fn text(self, value: Option<&str>) -> Self {
        self.optional(value, Self::put_text)
    }

    /// A list of texts (empty when the filter is not used).
    #[must_use]
    pub fn texts(mut self, values: &[String]) -> Self {
        self.put_len(values.len());
        for value in values {
            self.put_text(value);
        }
        self
    }

    /// The short fingerprint a token carries.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.0);
        URL_SAFE_NO_PAD.encode(&digest[..FINGERPRINT_BYTES])
    }

    fn optional<T>(mut self, value: Option<T>, put: impl FnOnce(&mut Self, T)) -> Self {
        match value {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                put(&mut self, v);
            }
        }
        self
    }

    fn put_text(&mut self, value: &str) {
        self.put_len(value.len());
        self.0.extend_from_slice(value.as_bytes());
    }

    fn put_len(&mut self, len: usize) {
        // Request text is bounded far below 4 GiB; saturate rather than wrap.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
    }
}

/// A token: where the listing continues, and for which filters.
#[derive(serde::Serialize, serde::Deserialize)]
struct Token<C> {
    at: C,
    filters: String,
}

/// Where a listing continues, from the request's `page_token`: `None` for
/// the first page.
pub fn resume<C: DeserializeOwned>(token: &str, filters: &str) -> Result<Option<C>, String> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || "is not a page token this service issued".to_owned();
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad());
    }
    let json = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let token: Token<C> = serde_json::from_slice(&json).map_err(|_| bad())?;
    if token.filters != filters {
        return Err("was issued for other filters; keep the filters the same".into());
    }
    Ok(Some(token.at))
}

/// Cuts `rows` (fetched with [`PageSize::fetch_limit`]) to the page and
/// returns the token of the next page: empty when this is the last.
pub fn next_token<T, C: Serialize>(
    rows: &mut Vec<T>,
    size: PageSize,
    cursor: impl Fn(&T) -> C,
    filters: &str,
) -> String {
    let size = size.get() as usize;
    if rows.len() <= size {
        return String::new();
    }
    rows.truncate(size);
    rows.last()
        .map(|last| {
            let token = Token {
                at: cursor(last),
                filters: filters.to_owned(),
            };
            // Serializing plain structs of ids and dates cannot fail.
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
        })
        .unwrap_or_default()
}

/// One page of a listing as a request asks for it: the page size, where
/// the previous page ended (a cursor of type `C`), and the fingerprint of
/// the filters its tokens are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<C> {
    /// Rows per page.
    pub size: PageSize,
    /// Where the previous page ended (`None` for the first page).
    pub after: Option<C>,
    filters: String,
}

impl<C: Serialize + DeserializeOwned> Page<C> {
    /// Parses the request's `page_size` (0 means `default`) and
    /// `page_token` for `filters`, recording violations on those fields.
    pub fn parse(
        v: &mut crate::FieldViolations,
        page_size: i32,
        default: u32,
        page_token: &str,
        filters: &Filters,
    ) -> Option<Self> {
        let size = v.check("page_size", PageSize::parse(page_size, default));
        let filters = filters.fingerprint();
        let after = v.check("page_token", resume(page_token, &filters));
        Some(Self {
            size: size?,
            after: after?,
            filters,
        })
    }

    /// A listing's page when `page_size` and `page_token` are its only
    /// fields that can be wrong: the page, or their violations.
    pub fn of(
        page_size: i32,
        default: u32,
        page_token: &str,
        filters: &Filters,
    ) -> Result<Self, crate::FieldViolations> {
        let mut v = crate::FieldViolations::new();
        match Self::parse(&mut v, page_size, default, page_token, filters) {
            Some(page) if v.is_empty() => Ok(page),
            _ => Err(v),
        }
    }

    /// Cuts `rows` (fetched with [`PageSize::fetch_limit`]) to the page and
    /// returns the next page's token (empty on the last page).
    pub fn next_page_token<T>(&self, rows: &mut Vec<T>, cursor: impl Fn(&T) -> C) -> String {
        next_token(rows, self.size, cursor, &self.filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct After {
        id: u32,
    }

    fn page(size: i32) -> PageSize {
        PageSize::parse(size, 1).expect("page size")
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let mut rows = vec![1, 2, 3];
        let token = next_token(&mut rows, page(2), |&id| After { id }, "f");
        assert_eq!(rows, [1, 2]);
        assert_eq!(resume::<After>(&token, "f"), Ok(Some(After { id: 2 })));
        assert_eq!(resume::<After>("", "f"), Ok(None));
        assert!(resume::<After>("not base64!", "f").is_err());
        assert!(resume::<After>(&URL_SAFE_NO_PAD.encode("{}"), "f").is_err());
        assert!(resume::<After>(&"A".repeat(600), "f").is_err());
    }

    #[test]
    fn a_token_only_resumes_the_filters_it_was_issued_for() {
        let mut rows = vec![1, 2];
        let token = next_token(&mut rows, page(1), |&id| After { id }, "f");
        let err = resume::<After>(&token, "g").expect_err("other filters");
        assert!(err.contains("other filters"), "{err}");
    }

    #[test]
    fn the_last_page_has_no_token() {
        let mut rows = vec![1, 2];
        assert_eq!(next_token(&mut rows, page(2), |&id| After { id }, "f"), "");
        assert_eq!(rows, [1, 2]);
    }

    #[test]
    fn fingerprints_differ_by_listing_filter_and_presence() {
        let f = |listing: &str, archived: bool| Filters::new(listing).flag(archived).fingerprint();
        assert_eq!(f("accounts", true), f("accounts", true));
        assert_ne!(f("accounts", true), f("accounts", false));
        assert_ne!(f("accounts", true), f("rules", true));
        // Absent and present-but-empty are different filters.
        assert_ne!(
            Filters::new("t").text(None).fingerprint(),
            Filters::new("t").text(Some("")).fingerprint()
        );
        // Length prefixes keep neighbouring texts apart.
        assert_ne!(
            Filters::new("t")
                .texts(&["ab".into(), "c".into()])
                .fingerprint(),
            Filters::new("t")
                .texts(&["a".into(), "bc".into()])
                .fingerprint()
        );
    }

    /// Pins the encoding: if this fails, tokens already handed out would no
    /// longer resume. Change it only together with [`VERSION`].
    #[test]
    fn the_encoding_is_pinned() {
        let filters = Filters::new("accounts").flag(true);
        assert_eq!(
            filters.0,
            [
                1, 0, 0, 0, 8, b'a', b'c', b'c', b'o', b'u', b'n', b't', b's', 1, 1
            ]
        );
        assert_eq!(filters.fingerprint(), "dzh70BF5gnnE");
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let date = NaiveDate::from_ymd_opt(2026, 1, 31).expect("date");
        let all = Filters::new("transactions")
            .id(Some(id))
            .id(None)
            .date(Some(date))
            .date(None)
            .amount(Some(-5))
            .amount(None)
            .text(Some("coffee"))
            .texts(&["food".into(), "trip".into()]);
        assert_eq!(all.fingerprint(), "E9FcE-t8CQyo");
    }
}
