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
    /// Guessable in fewer than 10^10 tries by the estimate (zxcvbn score
    /// below 3): the reason and what would help, in words for the user.
    #[error("is too easy to guess: {0}")]
    Guessable(String),
}

impl Password {
    /// Checks `raw` against the policy: 8 to 1024 characters, not among
    /// the most common passwords, and not guessable in fewer than 10^10
    /// tries by the zxcvbn estimate, which knows 30,000 passwords from
    /// breaches, names, English words, keyboard patterns, dates and
    /// sequences, and `user_inputs` (the user's email and its parts).
    pub fn parse(raw: &str, user_inputs: &[&str]) -> Result<Self, PasswordError> {
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
        let password = Self(SecretString::from(raw));
        password.check_guessable(user_inputs)?;
        Ok(password)
    }

    /// The strength check again with more of the user's context (a
    /// password change learns the email only after parsing).
    pub fn check_guessable(&self, user_inputs: &[&str]) -> Result<(), PasswordError> {
        // (zxcvbn reads the first 100 characters only, so a long password
        // costs no more than a short one.)
        let estimate = zxcvbn::zxcvbn(self.expose(), user_inputs);
        if estimate.score() >= zxcvbn::Score::Three {
            return Ok(());
        }
        let feedback = estimate.feedback();
        let mut why: Vec<String> = feedback
            .and_then(|f| f.warning())
            .map(|w| w.to_string())
            .into_iter()
            .collect();
        why.extend(
            feedback
                .map(|f| f.suggestions())
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string),
        );
        if why.is_empty() {
            why.push("Add another word or two. Uncommon words are better.".to_owned());
        }
        Err(PasswordError::Guessable(why.join(" ")))
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
            Password::parse("short", &[]).err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            Password::parse("password", &[]).err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            Password::parse("PassWord1", &[]).err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            Password::parse(&"x".repeat(MAX_CHARS + 1), &[]).err(),
            Some(PasswordError::TooLong)
        );
        assert!(Password::parse("correct horse battery staple", &[]).is_ok());
        assert!(
            Password::parse(&"é-è-à ".repeat(43), &[]).is_ok(),
            "128+ characters are accepted"
        );
    }

    #[test]
    fn guessable_passwords_are_refused_with_the_reason() {
        for weak in [
            "qwertyuiop",
            "aaaaaaaaaaaa",
            "abcdefgh123",
            "Summer2024!",
            "iloveyou12",
        ] {
            let err = Password::parse(weak, &[]).err();
            assert!(
                matches!(
                    err,
                    Some(PasswordError::Guessable(_) | PasswordError::TooCommon)
                ),
                "{weak}: {err:?}"
            );
        }
        let Some(PasswordError::Guessable(why)) = Password::parse("qwertyuiopasdf", &[]).err()
        else {
            panic!("a keyboard row is guessable");
        };
        assert!(why.ends_with('.') && why.len() > 20, "{why}");
    }

    #[test]
    fn the_users_own_email_makes_a_password_guessable() {
        let own = "zorbulonfrimpt";
        assert!(Password::parse(own, &[]).is_ok(), "strong for a stranger");
        let context = ["zorbulon.frimpt@example.com", "zorbulon", "frimpt"];
        assert!(
            matches!(
                Password::parse(own, &context),
                Err(PasswordError::Guessable(_))
            ),
            "weak for someone who knows the email"
        );
    }

    #[test]
    fn a_long_password_is_estimated_quickly() {
        let started = std::time::Instant::now();
        assert!(Password::parse(&"Zq9!".repeat(MAX_CHARS / 4), &[]).is_err());
        assert!(Password::parse(&format!("{}x", "correct horse ".repeat(70)), &[]).is_ok());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(
            Password::parse("ééé", &[]).err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::parse("Zébrûle éclat", &[]).is_ok());
    }
}
