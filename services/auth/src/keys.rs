//! The RSA keys that sign access tokens: generated on demand, persisted,
//! rotated every `key_rotation_secs`, and published (JWKS) until every token
//! they signed has expired.

use std::sync::{Arc, RwLock};

use crate::config::AuthConfig;
use anyhow::Context as _;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use freedumb_kit::auth::{ACCESS_TOKEN_TYPE, AccessClaims, KeySource, SIGNING_ALGORITHM};
use freedumb_proto::auth::JsonWebKey;
use jsonwebtoken::{EncodingKey, Header};

use crate::kek::KeyWrap;
use crate::store::{AuthStore, SigningKeyRecord};

/// The key currently used for signing.
#[derive(Clone)]
struct ActiveKey {
    kid: String,
    key: Arc<EncodingKey>,
    retire_time: DateTime<Utc>,
}

/// Signs access tokens and publishes the verification keys.
pub struct SigningKeys {
    store: Arc<dyn AuthStore>,
    rotation: Duration,
    /// How long after retirement a key must still verify.
    overlap: Duration,
    active: RwLock<Option<ActiveKey>>,
    /// One caller at a time loads or makes a key.
    loading: tokio::sync::Mutex<()>,
    /// Seals the private keys at rest.
    wrap: KeyWrap,
}

impl SigningKeys {
    /// Keys kept in `store`, rotated and sealed per `config`.
    pub fn new(store: Arc<dyn AuthStore>, config: &AuthConfig) -> anyhow::Result<Self> {
        freedumb_kit::auth::crypto::install();
        let secs = freedumb_kit::time::seconds;
        Ok(Self {
            store,
            rotation: secs(config.key_rotation_secs),
            overlap: secs(config.token.access_ttl_secs + config.token.leeway_secs),
            active: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
            wrap: KeyWrap::from_config(config)?,
        })
    }

    /// Seals every live key under the current key encryption key (after a
    /// KEK is set or rotated; a no-op when all are), checking that each
    /// opens. Returns how many were sealed again. Run at start: a key that
    /// does not open fails the start, naming the setting to fix.
    pub async fn reseal(&self) -> anyhow::Result<usize> {
        let mut resealed = 0;
        for record in self
            .store
            .list_signing_keys(freedumb_kit::time::now())
            .await?
        {
            let pem = self.wrap.open(&record.kid, &record.private_key_pem)?;
            if self.wrap.is_current(&record.private_key_pem) {
                continue;
            }
            let sealed = self.wrap.seal(&record.kid, &pem)?;
            // Another replica may reseal the same key: the first one wins,
            // and both results open.
            if self
                .store
                .replace_signing_key_secret(&record.kid, &record.private_key_pem, &sealed)
                .await?
            {
                resealed += 1;
            }
        }
        if resealed > 0 {
            tracing::info!(
                keys = resealed,
                sealed = self.wrap.is_on(),
                "signing keys sealed again"
            );
        }
        Ok(resealed)
    }

    /// Signs `claims` as an access token.
    pub async fn sign(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        let active = self.active_key().await?;
        let mut header = Header::new(SIGNING_ALGORITHM);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(active.kid);
        jsonwebtoken::encode(&header, claims, &active.key).context("signing an access token")
    }

    /// Every key that may have signed a still-valid token.
    pub async fn jwks(&self) -> anyhow::Result<Vec<JsonWebKey>> {
        // Make sure the key about to be used is already published.
        self.active_key().await?;
        let keys = self
            .store
            .list_signing_keys(freedumb_kit::time::now())
            .await?;
        Ok(keys
            .into_iter()
            .map(|k| JsonWebKey {
                kty: "RSA".into(),
                kid: k.kid,
                alg: "RS256".into(),
                r#use: "sig".into(),
                n: k.public_n,
                e: k.public_e,
            })
            .collect())
    }

    fn cached(&self, now: DateTime<Utc>) -> Option<ActiveKey> {
        let active = self
            .active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        active.as_ref().filter(|k| k.retire_time > now).cloned()
    }

    async fn active_key(&self) -> anyhow::Result<ActiveKey> {
        if let Some(key) = self.cached(freedumb_kit::time::now()) {
            return Ok(key);
        }
        let _guard = self.loading.lock().await;
        let now = freedumb_kit::time::now();
        if let Some(key) = self.cached(now) {
            return Ok(key);
        }
        // Another replica may have made a key already.
        let stored = self.store.list_signing_keys(now).await?;
        let (record, pem) = match stored.into_iter().find(|k| k.retire_time > now) {
            Some(record) => {
                let pem = self.wrap.open(&record.kid, &record.private_key_pem)?;
                (record, pem)
            }
            None => {
                let mut record = tokio::task::spawn_blocking({
                    let (rotation, overlap) = (self.rotation, self.overlap);
                    move || generate(now, rotation, overlap)
                })
                .await??;
                let pem = std::mem::take(&mut record.private_key_pem);
                record.private_key_pem = self.wrap.seal(&record.kid, &pem)?;
                self.store.create_signing_key(&record).await?;
                tracing::info!(kid = %record.kid, sealed = self.wrap.is_on(), "new token signing key");
                (record, pem)
            }
        };
        let key = ActiveKey {
            key: Arc::new(EncodingKey::from_rsa_pem(pem.as_bytes()).context("stored signing key")?),
            kid: record.kid,
            retire_time: record.retire_time,
        };
        *self
            .active
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key.clone());
        Ok(key)
    }
}

/// Makes a 2048-bit RSA key valid from `now`.
fn generate(
    now: DateTime<Utc>,
    rotation: Duration,
    overlap: Duration,
) -> anyhow::Result<SigningKeyRecord> {
    let key = freedumb_kit::auth::crypto::generate_rsa_key()?;
    let retire_time = now + rotation;
    Ok(SigningKeyRecord {
        kid: uuid::Uuid::now_v7().simple().to_string(),
        private_key_pem: key.private_key_pem,
        public_n: URL_SAFE_NO_PAD.encode(key.modulus),
        public_e: URL_SAFE_NO_PAD.encode(key.exponent),
        create_time: now,
        retire_time,
        expire_time: retire_time + overlap,
    })
}

/// The verifier's key source when auth runs in the same process: no
/// network hop, same keys.
pub struct LocalKeySource(pub Arc<SigningKeys>);

#[async_trait]
impl KeySource for LocalKeySource {
    async fn fetch_keys(&self) -> anyhow::Result<Vec<JsonWebKey>> {
        self.0.jwks().await
    }
}

#[cfg(test)]
mod tests {
    use freedumb_kit::auth::TokenVerifier;
    use freedumb_kit::state::MemoryState;

    use super::*;

    fn claims(now: DateTime<Utc>, config: &AuthConfig) -> AccessClaims {
        AccessClaims {
            iss: config.token.issuer.clone(),
            sub: uuid::Uuid::now_v7(),
            aud: config.token.audience.clone(),
            exp: (now + Duration::seconds(60)).timestamp(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::now_v7(),
            sid: uuid::Uuid::now_v7(),
        }
    }

    /// Signing keys kept in a fresh SQLite database (alive with the guard).
    async fn keys_on_sqlite(
        auth: &AuthConfig,
    ) -> (Arc<SigningKeys>, freedumb_kit::testing::TestDatabase) {
        let test = freedumb_kit::testing::sqlite_database(crate::NAME, &crate::MIGRATIONS).await;
        let keys =
            Arc::new(SigningKeys::new(crate::store::for_database(&test.db), auth).expect("keys"));
        (keys, test)
    }

    #[tokio::test]
    async fn rotated_keys_keep_verifying_until_they_expire() {
        let auth = AuthConfig {
            key_rotation_secs: 1,
            ..AuthConfig::default()
        };
        let (keys, _db) = keys_on_sqlite(&auth).await;
        let verifier = TokenVerifier::new(
            &auth.token,
            Arc::new(LocalKeySource(keys.clone())),
            Arc::new(MemoryState::default()),
        );

        let old = keys
            .sign(&claims(freedumb_kit::time::now(), &auth))
            .await
            .expect("sign");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let new = keys
            .sign(&claims(freedumb_kit::time::now(), &auth))
            .await
            .expect("sign");

        let kid = |t: &str| {
            jsonwebtoken::decode_header(t)
                .expect("header")
                .kid
                .expect("kid")
        };
        assert_ne!(kid(&old), kid(&new), "a new key signs after rotation");
        let published: Vec<String> = keys
            .jwks()
            .await
            .expect("jwks")
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert!(
            published.contains(&kid(&old)) && published.contains(&kid(&new)),
            "{published:?}"
        );
        verifier.verify(&new).await.expect("new key verifies");
        verifier
            .verify(&old)
            .await
            .expect("the retired key still verifies");
    }

    #[tokio::test]
    async fn a_remembered_token_is_still_refused_once_revoked_or_expired() {
        let mut auth = AuthConfig::default();
        auth.token.leeway_secs = 0;
        let (keys, _db) = keys_on_sqlite(&auth).await;
        let revocations = Arc::new(MemoryState::default());
        let verifier = TokenVerifier::new(
            &auth.token,
            Arc::new(LocalKeySource(keys.clone())),
            revocations.clone(),
        );

        let now = freedumb_kit::time::now();
        let revoked = claims(now, &auth);
        let token = keys.sign(&revoked).await.expect("sign");
        verifier.verify(&token).await.expect("valid");
        verifier.verify(&token).await.expect("remembered");
        freedumb_kit::state::Revocations::revoke(
            revocations.as_ref(),
            revoked.sid,
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("revoke");
        assert!(matches!(
            verifier.verify(&token).await,
            Err(freedumb_kit::auth::TokenError::Revoked)
        ));

        let short = AccessClaims {
            exp: (now + Duration::seconds(1)).timestamp(),
            ..claims(now, &auth)
        };
        let token = keys.sign(&short).await.expect("sign");
        verifier.verify(&token).await.expect("valid for a second");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert!(matches!(
            verifier.verify(&token).await,
            Err(freedumb_kit::auth::TokenError::Invalid(_))
        ));
    }
}
