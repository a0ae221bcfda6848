//! Password hashing with argon2id, off the async runtime.

use std::sync::Arc;

use crate::config::AuthConfig;
use anyhow::Context as _;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// Hashes and verifies passwords with the configured argon2id cost.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// One hash per core at a time: more only thrash memory bandwidth
    /// (19 MiB each) and make every caller slower.
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the email is
    /// unknown so that both failures cost the same time.
    decoy: String,
}

impl PasswordHasher {
    /// A hasher with the costs in `config`.
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let decoy = hash_with(&params, &uuid::Uuid::new_v4().to_string())?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            decoy,
        })
    }

    fn argon2(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    /// The PHC string for a new password.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let params = self.params.clone();
        let text = password.expose().to_owned();
        // The permit moves into the blocking task: a cancelled call must not
        // free it while its hash is still running.
        let permit = self.permits.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_with(&params, &text)
        })
        .await?
    }

    /// Whether `candidate` matches `stored` — or, when there is no stored
    /// hash, the same work against the decoy, returning false.
    pub async fn verify(&self, candidate: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let (hash, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy.clone(), false),
        };
        let candidate = candidate.to_owned();
        let params = self.params.clone();
        let permit = self.permits.clone().acquire_owned().await?;
        let matched = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let parsed =
                PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            Ok::<_, anyhow::Error>(
                Self::argon2(&params)
                    .verify_password(candidate.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await??;
        Ok(real && matched)
    }
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = PasswordHasher::argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("hashing a password")?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_the_configured_cost() {
        let hasher = PasswordHasher::new(&AuthConfig::default()).expect("hasher");
        let password = Password::parse("correct horse battery", &[]).expect("valid");
        let hash = hasher.hash(&password).await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse battery", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("wrong horse battery", Some(&hash))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let hasher = PasswordHasher::new(&AuthConfig::default()).expect("hasher");
        assert!(
            !hasher
                .verify("anything at all", None)
                .await
                .expect("verify")
        );
    }
}
