use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{DecodingKey, Validation};

use super::claims::{ACCESS_TOKEN_TYPE, AccessClaims, Caller, SIGNING_ALGORITHM};
use super::keys::KeySource;
use crate::config::TokenConfig;
use crate::state::Revocations;

/// Unknown `kid`s refresh the key set at most this often, so a stream of
/// forged tokens cannot hammer the auth service.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// A key set older than this is reloaded, so keys that expired or were
/// withdrawn stop verifying.
const MAX_KEY_SET_AGE: Duration = Duration::from_secs(5 * 60);

/// Tokens remembered as verified at most (about 100 bytes each).
const VERIFIED_CAPACITY: u64 = 100_000;

/// The last key set fetched, and when.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched: Option<Instant>,
}

/// Why a token was refused. Every variant but [`TokenError::KeysUnavailable`]
/// is the client's problem (UNAUTHENTICATED).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// `alg` other than the pinned one.
    #[error("token algorithm not accepted")]
    WrongAlgorithm,
    /// `typ` is not an access token.
    #[error("not an access token")]
    WrongType,
    /// No `kid`, or one not in the key set.
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// Bad signature, expired, not yet valid, wrong issuer or audience.
    #[error("invalid token: {0:?}")]
    Invalid(jsonwebtoken::errors::ErrorKind),
    /// The session was ended.
    #[error("session has ended")]
    Revoked,
    /// The key set or revocation list could not be read.
    #[error("token keys unavailable")]
    KeysUnavailable(#[source] anyhow::Error),
}

/// Verifies access tokens locally with cached public keys.
pub struct TokenVerifier {
    source: Arc<dyn KeySource>,
    revocations: Arc<dyn Revocations>,
    validation: Validation,
    keys: RwLock<KeySet>,
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    /// Tokens whose signature and claims checked out: SHA-256 of the token
    /// -> its caller. An entry serves until the token expires, and for at
    /// most as long as a key set (so a withdrawn key stops verifying as
    /// soon as without it); the revocation check still runs on every call.
    verified: moka::sync::Cache<[u8; 32], Caller>,
}

impl TokenVerifier {
    /// A verifier for tokens issued per `config`.
    pub fn new(
        config: &TokenConfig,
        source: Arc<dyn KeySource>,
        revocations: Arc<dyn Revocations>,
    ) -> Self {
        super::crypto::install();
        let mut validation = Validation::new(SIGNING_ALGORITHM);
        validation.leeway = config.leeway_secs.min(crate::config::MAX_LEEWAY_SECS);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Self {
            source,
            revocations,
            validation,
            keys: RwLock::default(),
            last_refresh: tokio::sync::Mutex::new(None),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                .time_to_live(MAX_KEY_SET_AGE)
                .build(),
        }
    }

    /// Checks `token` and returns who it identifies. A token verified
    /// before costs a hash and the revocation check, not an RSA check.
    pub async fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let caller = self.identify(token).await?;
        if self
            .revocations
            .is_revoked(caller.session_id)
            .await
            .map_err(|e| TokenError::KeysUnavailable(e.into()))?
        {
            return Err(TokenError::Revoked);
        }
        Ok(caller)
    }

    /// Who `token` names, when its signature and claims check out,
    /// without the revocation check: enough to pick a rate-limit bucket,
    /// never to serve a call. Remembered until the token expires.
    pub async fn identify(&self, token: &str) -> Result<Caller, TokenError> {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        match self.verified.get(&digest) {
            Some(caller) if unix_now() < caller.expires_at => Ok(caller),
            _ => {
                let caller = self.verify_signature(token).await?;
                self.verified.insert(digest, caller);
                Ok(caller)
            }
        }
    }

    /// The signature and claims check.
    async fn verify_signature(&self, token: &str) -> Result<Caller, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != SIGNING_ALGORITHM {
            return Err(TokenError::WrongAlgorithm);
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = match self.cached_key(&kid, true) {
            Some(key) => key,
            None => self.refresh_for(&kid).await?,
        };
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|e| TokenError::Invalid(e.into_kind()))?;
        Ok(Caller::from(data.claims))
    }

    /// `kid` from the cached set; with `fresh`, only if the set is recent.
    fn cached_key(&self, kid: &str, fresh: bool) -> Option<Arc<DecodingKey>> {
        let set = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent = set.fetched.is_some_and(|at| at.elapsed() < MAX_KEY_SET_AGE);
        if fresh && !recent {
            return None;
        }
        set.keys.get(kid).cloned()
    }

    /// Reloads the key set (once per interval, one caller at a time) and
    /// looks `kid` up again. When the auth service cannot be reached, a
    /// key from the stale set still verifies: availability wins over
    /// withdrawing keys a few minutes sooner.
    async fn refresh_for(&self, kid: &str) -> Result<Arc<DecodingKey>, TokenError> {
        let mut last = self.last_refresh.lock().await;
        // Another caller may have loaded it while we waited for the lock.
        if let Some(key) = self.cached_key(kid, true) {
            return Ok(key);
        }
        if last.is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL) {
            return self.cached_key(kid, false).ok_or(TokenError::UnknownKey);
        }
        *last = Some(Instant::now());
        let fetched = match self.source.fetch_keys().await {
            Ok(fetched) => fetched,
            Err(e) => {
                return match self.cached_key(kid, false) {
                    Some(key) => {
                        tracing::warn!(error = ?e, "key set refresh failed; using the cached set");
                        Ok(key)
                    }
                    None => Err(TokenError::KeysUnavailable(e)),
                };
            }
        };
        let mut keys = HashMap::with_capacity(fetched.len());
        for jwk in fetched {
            if jwk.kty != "RSA" || jwk.alg != "RS256" {
                continue;
            }
            match DecodingKey::from_rsa_components(&jwk.n, &jwk.e) {
                Ok(key) => {
                    keys.insert(jwk.kid, Arc::new(key));
                }
                Err(e) => tracing::warn!(kid = %jwk.kid, error = %e, "ignoring an unusable JWK"),
            }
        }
        let found = keys.get(kid).cloned();
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = KeySet {
            keys,
            fetched: Some(Instant::now()),
        };
        found.ok_or(TokenError::UnknownKey)
    }
}

/// Seconds since the epoch, as `exp` counts them.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
