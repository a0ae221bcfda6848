//! Why access tokens are RS256: the cost of one signature verification,
//! RS256 against EdDSA.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::KeyPair as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

/// Verifications timed per algorithm.
const N: u32 = 20_000;

/// Mean time to verify `token` with `key`, over `N` verifications.
fn time(token: &str, key: &DecodingKey, alg: Algorithm) -> anyhow::Result<Duration> {
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    let started = Instant::now();
    for _ in 0..N {
        jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .context("verification must succeed")?;
    }
    Ok(started.elapsed() / N)
}

/// Prints the µs per verification of RS256 (RSA-2048) and EdDSA (Ed25519).
pub fn verify_cost() -> anyhow::Result<()> {
    let claims = serde_json::json!({ "sub": "x", "exp": 4_000_000_000u64 });
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("generating an RSA key"))?;
    let rsa_pem = pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        rsa.as_der()
            .map_err(|_| anyhow::anyhow!("encoding the RSA key"))?
            .as_ref(),
    ));
    let rsa_token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(rsa_pem.as_bytes())?,
    )
    .context("signing with RS256")?;
    let public = rsa.public_key();
    let rsa_key = DecodingKey::from_rsa_raw_components(
        public.modulus().big_endian_without_leading_zero(),
        public.exponent().big_endian_without_leading_zero(),
    );
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate()
        .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
    let ed_token = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_der(
            ed.to_pkcs8()
                .map_err(|_| anyhow::anyhow!("encoding the Ed25519 key"))?
                .as_ref(),
        ),
    )
    .context("signing with EdDSA")?;
    let ed_key = DecodingKey::from_ed_der(ed.public_key().as_ref());
    let rs = time(&rsa_token, &rsa_key, Algorithm::RS256)?;
    let eddsa = time(&ed_token, &ed_key, Algorithm::EdDSA)?;
    println!();
    println!("| JWT verification (jsonwebtoken + aws-lc-rs, one core) | µs per token |");
    println!("|---|---:|");
    println!("| RS256 (RSA-2048) | {:.1} |", rs.as_secs_f64() * 1e6);
    println!("| EdDSA (Ed25519) | {:.1} |", eddsa.as_secs_f64() * 1e6);
    Ok(())
}
