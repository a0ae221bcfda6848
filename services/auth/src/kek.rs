//! Encryption of the signing keys at rest. With a key encryption key (KEK)
//! configured, each private key is stored sealed with AES-256-GCM under it
//! (a random nonce per seal, the key's `kid` as associated data, so a sealed
//! key cannot be moved to another row):
//!
//! ```text
//! fdkek1:<KEK id>:<base64url(nonce ‖ ciphertext ‖ tag)>
//! ```
//!
//! The KEK id is the first 4 bytes of the KEK's SHA-256, in hex: it names
//! which KEK sealed a key without revealing it. Rotation: configure the new
//! KEK as current and the old one as previous; at start auth re-seals every
//! live key under the current one ([`crate::keys::SigningKeys::reseal`]),
//! after which the previous KEK can go. Without a KEK keys are stored as PEM
//! (the embedded default) and sealed once one is configured.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::config::AuthConfig;

/// The prefix of a sealed key.
const SEALED: &str = "fdkek1:";

/// A key encryption key.
struct Kek {
    id: String,
    /// Used with a fresh random nonce per seal (a few seals per key
    /// rotation, far from the 2^32 that random 96-bit nonces allow).
    key: LessSafeKey,
}

impl Kek {
    /// A KEK from its base64 text (32 random bytes, e.g. `openssl rand
    /// -base64 32`); `setting` names it in errors.
    fn parse(text: &str, setting: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .with_context(|| format!("{setting}: not base64"))?;
        anyhow::ensure!(
            bytes.len() == 32,
            "{setting}: must be 32 bytes (base64 of `openssl rand -base64 32`), not {}",
            bytes.len()
        );
        let id = Sha256::digest(&bytes)[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map(LessSafeKey::new)
            .map_err(|_| anyhow::anyhow!("{setting}: not an AES-256 key"))?;
        Ok(Self { id, key })
    }
}

/// Seals and opens the stored signing keys.
#[derive(Default)]
pub struct KeyWrap {
    current: Option<Kek>,
    previous: Option<Kek>,
}

impl KeyWrap {
    /// The KEKs the config names: each given inline or as a file (the
    /// file's text), not both.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let current = read(
            config.key_encryption_key.as_ref(),
            config.key_encryption_key_file.as_deref(),
            "key_encryption_key",
        )?;
        let previous = read(
            config.previous_key_encryption_key.as_ref(),
            config.previous_key_encryption_key_file.as_deref(),
            "previous_key_encryption_key",
        )?;
        anyhow::ensure!(
            current.is_some() || previous.is_none(),
            "auth.previous_key_encryption_key is set without auth.key_encryption_key: \
             set the new key as the current one"
        );
        Ok(Self { current, previous })
    }

    /// Whether keys are sealed when stored.
    pub fn is_on(&self) -> bool {
        self.current.is_some()
    }

    /// What to store for the private key `pem` of `kid`.
    pub fn seal(&self, kid: &str, pem: &str) -> anyhow::Result<String> {
        let Some(kek) = &self.current else {
            return Ok(pem.to_owned());
        };
        let mut nonce = [0; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for sealing signing key {kid}"))?;
        let mut sealed = pem.as_bytes().to_vec();
        kek.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("sealing signing key {kid}"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{SEALED}{}:{}",
            kek.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// The private key PEM of `kid` from what was stored.
    pub fn open(&self, kid: &str, stored: &str) -> anyhow::Result<String> {
        let Some(rest) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let (id, data) = rest
            .split_once(':')
            .with_context(|| format!("signing key {kid}: malformed sealed key"))?;
        let kek = [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
            .with_context(|| {
                format!(
                    "signing key {kid} is sealed with key encryption key {id}, which is not \
                     configured (FREEDUMB_AUTH__KEY_ENCRYPTION_KEY or \
                     FREEDUMB_AUTH__PREVIOUS_KEY_ENCRYPTION_KEY, or their _FILE forms)"
                )
            })?;
        let mut data = URL_SAFE_NO_PAD
            .decode(data)
            .with_context(|| format!("signing key {kid}: malformed sealed key"))?;
        anyhow::ensure!(
            data.len() > NONCE_LEN,
            "signing key {kid}: malformed sealed key"
        );
        let mut sealed = data.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&data)
            .map_err(|_| anyhow::anyhow!("signing key {kid}: malformed sealed key"))?;
        let pem = kek
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut sealed)
            .map_err(|_| {
                anyhow::anyhow!(
                    "signing key {kid} does not open with key encryption key {id}: \
                     the key or the stored value is wrong"
                )
            })?;
        String::from_utf8(pem.to_vec()).with_context(|| format!("signing key {kid}: not PEM"))
    }

    /// Whether `stored` is as [`KeyWrap::seal`] would store it now: sealed
    /// under the current KEK, or plain when there is none.
    pub fn is_current(&self, stored: &str) -> bool {
        match &self.current {
            Some(kek) => stored
                .strip_prefix(SEALED)
                .is_some_and(|rest| rest.split_once(':').is_some_and(|(id, _)| id == kek.id)),
            None => !stored.starts_with(SEALED),
        }
    }
}

fn read(
    inline: Option<&SecretString>,
    file: Option<&std::path::Path>,
    key: &str,
) -> anyhow::Result<Option<Kek>> {
    let setting = |form: &str| {
        format!(
            "auth.{key}{form} (FREEDUMB_AUTH__{}{})",
            key.to_uppercase(),
            form.to_uppercase()
        )
    };
    match (inline, file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "{} and {}: set one, not both",
            setting(""),
            setting("_file")
        ),
        (Some(text), None) => Kek::parse(text.expose_secret(), &setting("")).map(Some),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: reading {}", setting("_file"), path.display()))?;
            Kek::parse(&text, &setting("_file")).map(Some)
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const B: &str = "HxwdHhobGBkWFxQVEhMQEQ4PDA0KCwgJBgcEBQIDAAE=";
    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

    fn wrap(current: Option<&str>, previous: Option<&str>) -> KeyWrap {
        KeyWrap::from_config(&AuthConfig {
            key_encryption_key: current.map(SecretString::from),
            previous_key_encryption_key: previous.map(SecretString::from),
            ..AuthConfig::default()
        })
        .expect("valid keys")
    }

    #[test]
    fn a_sealed_key_opens_with_its_kek_only_and_for_its_kid_only() {
        let a = wrap(Some(A), None);
        let sealed = a.seal("kid-1", PEM).expect("seal");
        assert!(sealed.starts_with(SEALED) && !sealed.contains("PRIVATE"));
        assert_ne!(sealed, a.seal("kid-1", PEM).expect("seal"), "a fresh nonce");
        assert_eq!(a.open("kid-1", &sealed).expect("open"), PEM);
        assert!(a.is_current(&sealed));
        let moved = a.open("kid-2", &sealed).expect_err("another row's key");
        assert!(moved.to_string().contains("does not open"), "{moved}");
        let b = wrap(Some(B), None);
        let unknown = b.open("kid-1", &sealed).expect_err("another KEK");
        assert!(
            unknown
                .to_string()
                .contains("FREEDUMB_AUTH__PREVIOUS_KEY_ENCRYPTION_KEY"),
            "{unknown}"
        );
        assert!(!b.is_current(&sealed));
    }

    /// A key sealed by another AES-256-GCM implementation (Python's
    /// `cryptography`, nonce 00..0b) opens: the stored form is standard, so
    /// keys sealed before the move from aws-lc to ring still open.
    #[test]
    fn a_key_sealed_elsewhere_opens() {
        let sealed = "fdkek1:630dcd29:AAECAwQFBgcICQoLai_7Nuinh1zED7fb46AuLNeTp3-1InJRFUrIj1AgSfAL\
                      PYPRguxX1jCEL7_B0Wlsq3kryAP7jvcSuiAMtLVhokJAHKUdid6NDbPB";
        assert_eq!(
            wrap(Some(A), None).open("kid-1", sealed).expect("open"),
            PEM
        );
    }

    #[test]
    fn rotation_opens_with_the_previous_kek_and_seals_with_the_new() {
        let old = wrap(Some(A), None).seal("k", PEM).expect("seal");
        let rotating = wrap(Some(B), Some(A));
        assert!(!rotating.is_current(&old));
        let pem = rotating.open("k", &old).expect("open with the previous");
        let new = rotating.seal("k", &pem).expect("reseal");
        assert!(rotating.is_current(&new));
        assert_eq!(wrap(Some(B), None).open("k", &new).expect("open"), PEM);
    }

    #[test]
    fn without_a_kek_keys_stay_plain_and_plain_keys_still_open() {
        let none = KeyWrap::default();
        assert_eq!(none.seal("k", PEM).expect("seal"), PEM);
        assert!(none.is_current(PEM));
        let a = wrap(Some(A), None);
        assert_eq!(a.open("k", PEM).expect("plain"), PEM);
        assert!(
            !a.is_current(PEM),
            "a plain key is sealed once a KEK is set"
        );
    }

    #[test]
    fn bad_keks_are_refused_naming_the_setting() {
        for (text, want) in [("not base64!", "not base64"), ("AAEC", "32 bytes")] {
            let err = KeyWrap::from_config(&AuthConfig {
                key_encryption_key: Some(SecretString::from(text)),
                ..AuthConfig::default()
            })
            .err()
            .expect("refused");
            let err = format!("{err:#}");
            assert!(
                err.contains("FREEDUMB_AUTH__KEY_ENCRYPTION_KEY") && err.contains(want),
                "{err}"
            );
        }
        assert!(
            KeyWrap::from_config(&AuthConfig {
                previous_key_encryption_key: Some(SecretString::from(A)),
                ..AuthConfig::default()
            })
            .is_err(),
            "a previous KEK without a current one"
        );
    }
}
