use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Marks FREEDUMB refresh tokens, so secret scanners can recognize them.
const PREFIX: &str = "fdr_";
/// 256 random bits, base64url: 43 characters.
const RANDOM_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;

/// An opaque refresh token as handed to the client. Only its hash is stored.
pub struct RefreshToken(SecretString);

/// The SHA-256 of a refresh token: what the store keeps and looks up. A
/// fast hash is right here: the token has 256 bits of entropy, so there is
/// nothing to brute-force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenHash(pub [u8; 32]);

// Hand-written so that the token can never reach a log.
impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(..)")
    }
}

impl RefreshToken {
    /// A new random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)).into())
    }

    /// Accepts a client-supplied token if it has the right shape (the store
    /// decides whether it is real).
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(PREFIX)?;
        (body.len() == ENCODED_LEN && URL_SAFE_NO_PAD.decode(body).is_ok())
            .then(|| Self(raw.into()))
    }

    /// The token text, for the response.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The stored form.
    pub fn hash(&self) -> RefreshTokenHash {
        RefreshTokenHash(Sha256::digest(self.expose().as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_hash_stably() {
        let token = RefreshToken::generate();
        let parsed = RefreshToken::parse(token.expose()).expect("own tokens parse");
        assert_eq!(parsed.hash(), token.hash());
        assert_ne!(RefreshToken::generate().hash(), token.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "fdr_",
            "abc",
            "fdr_short",
            &format!("xyz_{}", "A".repeat(43)),
            &format!("fdr_{}!", "A".repeat(42)),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad:?}");
        }
    }
}
