//! Opaque page tokens: a cursor (where the last page ended) and a
//! fingerprint of the filters it was issued for, as URL-safe base64 JSON.
//! Clients must treat them as opaque; a token that does not decode, or was
//! issued for other filters, is INVALID_ARGUMENT on `page_token`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

/// Encodes a cursor.
pub fn encode<T: Serialize>(cursor: &T) -> String {
    // Serializing plain structs of ids and dates cannot fail.
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor; empty means the first page.
pub fn decode<T: DeserializeOwned>(token: &str) -> Result<Option<T>, String> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || "is not a page token this service issued".to_owned();
    if token.len() > 512 {
        return Err(bad());
    }
    let json = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    serde_json::from_slice(&json).map(Some).map_err(|_| bad())
}

/// A short fingerprint of the filters a listing was asked with.
pub fn fingerprint<T: std::fmt::Debug>(filters: &T) -> String {
    let digest = Sha256::digest(format!("{filters:?}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Cursor {
        after: String,
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let token = encode(&Cursor { after: "x".into() });
        assert_eq!(
            decode::<Cursor>(&token),
            Ok(Some(Cursor { after: "x".into() }))
        );
        assert_eq!(decode::<Cursor>(""), Ok(None));
        assert!(decode::<Cursor>("not base64!").is_err());
        assert!(decode::<Cursor>(&URL_SAFE_NO_PAD.encode("{}")).is_err());
        assert!(decode::<Cursor>(&"A".repeat(600)).is_err());
    }

    #[test]
    fn fingerprints_differ_by_filter() {
        assert_ne!(fingerprint(&(1, "a")), fingerprint(&(1, "b")));
        assert_eq!(fingerprint(&(1, "a")), fingerprint(&(1, "a")));
    }
}
