use prost::Message;
use sha2::{Digest as _, Sha256};

use crate::store::Idempotency;

/// A create's idempotency key: 1 to 128 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Parses the request's `request_id`; empty means the client sent none.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        Ok(freedumb_kit::domain::request_id(raw)?.map(|id| Self(id.to_owned())))
    }

    /// Binds the key to the request it came with, so that reusing it for a
    /// different request is detected.
    pub fn for_request(self, request: &impl Message) -> IdempotencyKey {
        IdempotencyKey {
            request_id: self,
            request_hash: Sha256::digest(request.encode_to_vec()).to_vec(),
        }
    }
}

/// A request id with the fingerprint (SHA-256 of the encoded request) of
/// the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    request_id: RequestId,
    request_hash: Vec<u8>,
}

impl IdempotencyKey {
    /// The store's idempotency record: this key, and the response to repeat
    /// to a retry of `method`.
    pub fn record(self, method: &'static str, response: &impl Message) -> Idempotency {
        Idempotency {
            method,
            request_id: self.request_id.0,
            request_hash: self.request_hash,
            response: response.encode_to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_optional_and_bounded() {
        assert_eq!(RequestId::parse(""), Ok(None));
        assert_eq!(RequestId::parse("abc"), Ok(Some(RequestId("abc".into()))));
        assert!(RequestId::parse(&"x".repeat(128)).is_ok());
        assert!(RequestId::parse(&"x".repeat(129)).is_err());
        assert!(RequestId::parse("a\nb").is_err());
    }

    #[test]
    fn the_key_fingerprints_the_request_it_came_with() {
        let key = |s: &str| {
            RequestId("k".into())
                .for_request(&prost_types::Timestamp {
                    seconds: s.len() as i64,
                    nanos: 0,
                })
                .record("M", &prost_types::Timestamp::default())
        };
        assert_eq!(key("a").request_hash, key("b").request_hash);
        assert_ne!(key("a").request_hash, key("ab").request_hash);
        assert_eq!(key("a").request_id, "k");
        assert_eq!(key("a").method, "M");
    }
}
