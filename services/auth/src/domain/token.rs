//! Opaque bearer tokens: refresh tokens and registration confirmation
//! tokens. 256 random bits behind a prefix that names the kind (so secret
//! scanners can recognize them); only their SHA-256 is stored.

use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// 256 random bits, base64url: 43 characters.
const RANDOM_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;

/// What a kind of token is marked with.
pub trait TokenKind {
    /// The prefix of its text.
    const PREFIX: &'static str;
}

/// Refresh tokens (`fdr_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh;

impl TokenKind for Refresh {
    const PREFIX: &'static str = "fdr_";
}

/// Registration confirmation tokens (`fdc_`), sent by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmation;

impl TokenKind for Confirmation {
    const PREFIX: &'static str = "fdc_";
}

/// An opaque token as handed to its holder. Only its hash is stored.
pub struct OpaqueToken<K>(SecretString, PhantomData<K>);

/// The SHA-256 of a token: what the store keeps and looks up. A fast hash
/// is right here: the token has 256 bits of entropy, so there is nothing to
/// brute-force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash<K>(pub [u8; 32], PhantomData<K>);

/// A refresh token.
pub type RefreshToken = OpaqueToken<Refresh>;
/// The stored form of a refresh token.
pub type RefreshTokenHash = TokenHash<Refresh>;
/// A registration confirmation token.
pub type ConfirmationToken = OpaqueToken<Confirmation>;
/// The stored form of a confirmation token.
pub type ConfirmationTokenHash = TokenHash<Confirmation>;

// Hand-written so that the token can never reach a log.
impl<K> std::fmt::Debug for OpaqueToken<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken(..)")
    }
}

impl<K: TokenKind> OpaqueToken<K> {
    /// A new random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(
            format!("{}{}", K::PREFIX, URL_SAFE_NO_PAD.encode(bytes)).into(),
            PhantomData,
        )
    }

    /// Accepts a client-supplied token if it has the right shape (the store
    /// decides whether it is real).
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(K::PREFIX)?;
        (body.len() == ENCODED_LEN && URL_SAFE_NO_PAD.decode(body).is_ok())
            .then(|| Self(raw.into(), PhantomData))
    }

    /// The token text, for the response.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The stored form.
    pub fn hash(&self) -> TokenHash<K> {
        TokenHash(Sha256::digest(self.expose().as_bytes()).into(), PhantomData)
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

    #[test]
    fn one_kind_of_token_is_not_accepted_as_another() {
        let confirmation = ConfirmationToken::generate();
        assert!(confirmation.expose().starts_with("fdc_"));
        assert!(ConfirmationToken::parse(confirmation.expose()).is_some());
        assert!(RefreshToken::parse(confirmation.expose()).is_none());
        assert!(ConfirmationToken::parse(RefreshToken::generate().expose()).is_none());
    }
}
