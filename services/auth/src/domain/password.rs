use std::collections::HashSet;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

/// Shortest password accepted (NIST SP 800-63B).
pub const MIN_CHARS: usize = 8;
/// Longest password accepted: far above any passphrase, low enough that
/// hashing it costs nothing extra.
pub const MAX_CHARS: usize = 1024;

/// The 10,000 most common passwords (SecLists), lower case.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .collect()
});

/// A new password that meets the policy. The text is a secret: it is never
/// printed and is wiped from memory when dropped.
pub struct Password(SecretString);

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than 8 characters.
    #[error("must be at least {MIN_CHARS} characters")]
    TooShort,
    /// More than 1024 characters.
    #[error("must be at most {MAX_CHARS} characters")]
    TooLong,
    /// In the list of most common passwords.
    #[error("is too common; choose a less guessable password")]
    TooCommon,
}

impl Password {
    /// Checks `raw` against the policy.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if COMMON.contains(raw.to_lowercase().as_str()) {
            return Err(PasswordError::TooCommon);
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// The password text, for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_thousands_of_entries() {
        assert!(COMMON.len() >= 3000, "{}", COMMON.len());
    }

    #[test]
    fn policy_is_enforced() {
        assert_eq!(
            Password::parse("short").err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            Password::parse("password").err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            Password::parse("PassWord1").err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            Password::parse(&"x".repeat(MAX_CHARS + 1)).err(),
            Some(PasswordError::TooLong)
        );
        assert!(Password::parse("correct horse battery staple").is_ok());
        assert!(
            Password::parse(&"é".repeat(128)).is_ok(),
            "128+ characters are accepted"
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(Password::parse("ééé").err(), Some(PasswordError::TooShort));
        assert!(Password::parse("éééééééé").is_ok());
    }
}
