//! Why access tokens are RS256: the cost of one signature verification,
//! RS256 against Ed25519, both in ring (the platform's crypto).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

/// Verifications timed per algorithm.
const N: u32 = 20_000;

/// Mean time of `verify`, over `N` calls.
fn time(mut verify: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for _ in 0..N {
        verify()?;
    }
    Ok(started.elapsed() / N)
}

/// Prints the µs per verification of RS256 (RSA-2048, the whole
/// `jsonwebtoken::decode`) and of an Ed25519 signature over a message of
/// the same length (ring alone: the platform's provider signs RS256 only).
pub fn verify_cost() -> anyhow::Result<()> {
    freedumb_kit::auth::crypto::install();
    let claims = serde_json::json!({ "sub": "x", "exp": 4_000_000_000u64 });
    let rsa = freedumb_kit::auth::crypto::generate_rsa_key()?;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(rsa.private_key_pem.as_bytes())?,
    )
    .context("signing with RS256")?;
    let rsa_key = DecodingKey::from_rsa_raw_components(&rsa.modulus, &rsa.exponent);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    let rs = time(|| {
        jsonwebtoken::decode::<serde_json::Value>(&token, &rsa_key, &validation)
            .map(drop)
            .context("RS256 verification must succeed")
    })?;

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
    let ed = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("reading the Ed25519 key"))?;
    let message = token.as_bytes();
    let signature = ed.sign(message);
    let public = UnparsedPublicKey::new(&ED25519, ed.public_key().as_ref().to_vec());
    let eddsa = time(|| {
        public
            .verify(message, signature.as_ref())
            .map_err(|_| anyhow::anyhow!("Ed25519 verification must succeed"))
    })?;
    println!();
    println!("| signature verification (ring, one core) | µs per token |");
    println!("|---|---:|");
    println!(
        "| RS256 (RSA-2048, jsonwebtoken) | {:.1} |",
        rs.as_secs_f64() * 1e6
    );
    println!(
        "| Ed25519 (same length) | {:.1} |",
        eddsa.as_secs_f64() * 1e6
    );
    Ok(())
}
