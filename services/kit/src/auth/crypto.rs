//! The cryptography behind access tokens, in pure Rust (no C toolchain):
//!
//! - signing and verification: `ring` (constant-time RSA, the same code as
//!   the TLS stack), given to `jsonwebtoken` as its process-wide provider
//!   with [`install`];
//! - key generation: the `rsa` crate, which ring does not offer. Only
//!   generation: RUSTSEC-2023-0071 (timing of the `rsa` crate's private-key
//!   operations) concerns signing and decryption, which never run in it.
//!
//! The provider knows RS256 alone, the one algorithm the platform signs and
//! accepts; any other algorithm is refused before a key is looked at.

use std::sync::OnceLock;

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{self as ring_sig, RsaKeyPair};

use super::SIGNING_ALGORITHM;

/// The ring-backed provider.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components,
        extract_ec_public_key_coordinates,
        compute_digest,
    },
};

/// Makes the ring-backed provider `jsonwebtoken`'s provider for this
/// process. Called wherever tokens are signed or verified (the token
/// verifier, the auth service's signing keys); idempotent and cheap.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // The only other way a provider gets chosen is a jsonwebtoken crate
        // feature, and the workspace enables none: the call cannot lose.
        let _ = PROVIDER.install_default();
    });
}

/// A fresh RSA-2048 key: its private key as PKCS#8 PEM and the public
/// modulus and exponent, big-endian without leading zeros (as a JWK has
/// them).
pub struct RsaKeyMaterial {
    pub private_key_pem: String,
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
}

/// Generates an RSA-2048 signing key from the operating system's random
/// source.
pub fn generate_rsa_key() -> anyhow::Result<RsaKeyMaterial> {
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    use rsa::traits::PublicKeyParts as _;

    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| anyhow::anyhow!("generating an RSA key: {e}"))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the RSA key: {e}"))?;
    Ok(RsaKeyMaterial {
        private_key_pem: pem.as_str().to_owned(),
        modulus: key.n().to_bytes_be(),
        exponent: key.e().to_bytes_be(),
    })
}

fn unsupported() -> Error {
    ErrorKind::InvalidAlgorithm.into()
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if *algorithm != SIGNING_ALGORITHM {
        return Err(unsupported());
    }
    // `EncodingKey::from_rsa_pem` keeps the PKCS#1 form of the key.
    let pair = RsaKeyPair::from_der(key.inner())
        .map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))?;
    Ok(Box::new(Rs256Signer(pair)))
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if *algorithm != SIGNING_ALGORITHM {
        return Err(unsupported());
    }
    Ok(Box::new(Rs256Verifier(key.clone())))
}

struct Rs256Signer(RsaKeyPair);

impl Signer<Vec<u8>> for Rs256Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &ring_sig::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                msg,
                &mut signature,
            )
            .map_err(|_| signature::Error::new())?;
        Ok(signature)
    }
}

impl JwtSigner for Rs256Signer {
    fn algorithm(&self) -> Algorithm {
        SIGNING_ALGORITHM
    }
}

struct Rs256Verifier(DecodingKey);

impl Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let params = &ring_sig::RSA_PKCS1_2048_8192_SHA256;
        match self.0.kind() {
            DecodingKeyKind::SecretOrDer(der) => {
                ring_sig::UnparsedPublicKey::new(params, der).verify(msg, signature)
            }
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                ring_sig::RsaPublicKeyComponents { n, e }.verify(params, msg, signature)
            }
        }
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        SIGNING_ALGORITHM
    }
}

fn extract_rsa_public_key_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let pair = RsaKeyPair::from_der(der)
        .map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))?;
    let public = ring_sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((public.n, public.e))
}

fn extract_ec_public_key_coordinates(
    _der: &[u8],
    _algorithm: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>), Error> {
    Err(ErrorKind::InvalidEcdsaKey.into())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
    };
    ring::digest::digest(algorithm, data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Header, Validation};

    use super::*;

    fn claims() -> serde_json::Value {
        serde_json::json!({ "sub": "someone", "exp": 4_000_000_000u64 })
    }

    #[test]
    fn a_generated_key_signs_tokens_its_public_half_verifies() -> anyhow::Result<()> {
        install();
        let key = generate_rsa_key()?;
        assert_eq!(key.modulus.len(), 256, "RSA-2048");
        assert_eq!(key.exponent, [1, 0, 1]);
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims(),
            &EncodingKey::from_rsa_pem(key.private_key_pem.as_bytes())?,
        )?;
        let public = DecodingKey::from_rsa_raw_components(&key.modulus, &key.exponent);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &public,
            &Validation::new(Algorithm::RS256),
        )?;
        assert_eq!(data.claims, claims());

        // The JWK form of the same key, and a tampered token.
        let from_jwk = DecodingKey::from_rsa_components(
            &URL_SAFE_NO_PAD.encode(&key.modulus),
            &URL_SAFE_NO_PAD.encode(&key.exponent),
        )?;
        let (body, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| anyhow::anyhow!("no signature"))?;
        let mut forged = signature.to_owned();
        forged.replace_range(..1, if forged.starts_with('A') { "B" } else { "A" });
        let tampered = format!("{body}.{forged}");
        let refused = jsonwebtoken::decode::<serde_json::Value>(
            &tampered,
            &from_jwk,
            &Validation::new(Algorithm::RS256),
        );
        assert!(
            matches!(
                refused.map_err(|e| e.into_kind()),
                Err(ErrorKind::InvalidSignature)
            ),
            "a changed signature must not verify"
        );
        let other = generate_rsa_key()?;
        let wrong_key = DecodingKey::from_rsa_raw_components(&other.modulus, &other.exponent);
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &wrong_key,
                &Validation::new(Algorithm::RS256)
            )
            .is_err(),
            "another key must not verify it"
        );
        Ok(())
    }

    #[test]
    fn other_algorithms_are_refused() {
        install();
        for algorithm in [
            Algorithm::HS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::PS256,
        ] {
            let signed = jsonwebtoken::encode(
                &Header::new(algorithm),
                &claims(),
                &EncodingKey::from_secret(b"a shared secret"),
            );
            assert!(
                matches!(
                    signed.map_err(|e| e.into_kind()),
                    Err(ErrorKind::InvalidAlgorithm)
                ),
                "{algorithm:?} must not sign"
            );
        }
    }
}
