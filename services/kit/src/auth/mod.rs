//! Access-token verification for every service: [`TokenVerifier`] checks an
//! RS256 JWT against the auth service's JWKS (cached, refreshed on an unknown
//! `kid`), and [`AuthLayer`] puts the verified [`Caller`] into the request
//! extensions or answers UNAUTHENTICATED.

mod claims;
pub mod crypto;
mod keys;
mod layer;
mod verifier;

pub use self::claims::{ACCESS_TOKEN_TYPE, AccessClaims, Caller, SIGNING_ALGORITHM};
pub use self::keys::{GrpcKeySource, KeySource};
pub use self::layer::{AuthLayer, AuthService, PublicMethods};
pub use self::verifier::{TokenError, TokenVerifier};

/// The authenticated caller of `request`, as [`AuthLayer`] verified it.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| {
            crate::error::status(
                tonic::Code::Unauthenticated,
                freedumb_proto::common::ErrorReason::InvalidToken,
                "this method requires an access token",
            )
        })
}
