//! Percent-decoding of path variables and query strings, strict where the
//! `percent-encoding` and `form_urlencoded` crates are lenient: they pass a
//! malformed escape (`%zz`, a truncated `%4`) through as text and replace
//! invalid UTF-8, so a typo would reach a service as a different value.
//! Every escape is checked here first; the crates then decode.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// A value whose percent-encoding is malformed or does not decode to UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Decodes a path segment (or a `/`-joined run of them): `%XX` escapes
/// only, `+` stays a plus.
pub fn decode_path(raw: &str) -> Result<String, Malformed> {
    check(raw)?;
    percent_decode_str(raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| Malformed)
}

/// A query parameter that does not decode: its name as far as it can be
/// read, for the error that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParameter(pub String);

/// The `key=value` pairs of an `application/x-www-form-urlencoded` query,
/// decoded (`+` is a space), in order.
pub fn decode_query(query: &str) -> Result<Vec<(String, String)>, BadParameter> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if check(key).is_err() {
            return Err(BadParameter(key.to_owned()));
        }
        if check(value).is_err() {
            let key = form_urlencoded::parse(key.as_bytes())
                .next()
                .map_or_else(String::new, |(key, _)| key.into_owned());
            return Err(BadParameter(key));
        }
    }
    // Every escape is well formed and decodes to UTF-8, so the parser's
    // lossy decoding never has anything to replace.
    Ok(form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect())
}

/// Every `%` starts two hex digits, and the decoded bytes are UTF-8.
fn check(raw: &str) -> Result<(), Malformed> {
    let bytes = raw.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Err(Malformed);
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map(drop)
        .map_err(|_| Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_values_decode_escapes_but_not_plus() {
        assert_eq!(decode_path("a%20b+c").as_deref(), Ok("a b+c"));
        assert_eq!(decode_path("caf%C3%A9").as_deref(), Ok("café"));
        assert_eq!(decode_path("%2541").as_deref(), Ok("%41"));
    }

    #[test]
    fn malformed_escapes_and_invalid_utf8_are_refused() {
        for raw in ["%zz", "%4", "abc%", "%%41", "%g0", "%C3"] {
            assert_eq!(decode_path(raw), Err(Malformed), "{raw}");
        }
    }

    #[test]
    fn query_pairs_decode_plus_as_space_and_keep_order() {
        let pairs = decode_query("b=x+y&a=%26&&flag&c=1=2").expect("query");
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("b", "x y"), ("a", "&"), ("flag", ""), ("c", "1=2")]
        );
    }

    #[test]
    fn a_malformed_query_escape_names_its_parameter() {
        assert_eq!(
            decode_query("ok=1&page%20size=%zz"),
            Err(BadParameter("page size".into()))
        );
        assert_eq!(decode_query("bad%4=1"), Err(BadParameter("bad%4".into())));
        assert_eq!(decode_query("name=%FF"), Err(BadParameter("name".into())));
    }
}
