use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The one algorithm access tokens are signed with; anything else is
/// refused before the signature is looked at. RS256 because RSA signatures
/// verify several times faster than Ed25519 ones, and every call verifies.
pub const SIGNING_ALGORITHM: Algorithm = Algorithm::RS256;

/// The `typ` header of access tokens (RFC 9068), so no other kind of JWT
/// can be passed off as one.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The claims of a FREEDUMB access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The user id.
    pub sub: Uuid,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// The session the token belongs to.
    pub sid: Uuid,
}

/// Who is calling: put into request extensions by [`super::AuthLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The authenticated user.
    pub user_id: Uuid,
    /// The session of the access token.
    pub session_id: Uuid,
    /// The access token's id.
    pub token_id: Uuid,
    /// When the access token expires, seconds since the epoch.
    pub expires_at: i64,
}

impl From<AccessClaims> for Caller {
    fn from(c: AccessClaims) -> Self {
        Self {
            user_id: c.sub,
            session_id: c.sid,
            token_id: c.jti,
            expires_at: c.exp,
        }
    }
}
