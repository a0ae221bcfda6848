use std::fmt;

/// Longest address SMTP can deliver to (RFC 5321 path limit).
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

/// A syntactically valid email address, normalized to lower case so one
/// mailbox cannot register twice with different casing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing given.
    #[error("is required")]
    Empty,
    /// Longer than 254 characters.
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    /// Not `local@domain.tld`.
    #[error("must be an address like name@example.com")]
    Invalid,
}

impl Email {
    /// Parses and normalizes `raw` (surrounding whitespace is ignored).
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.chars().count() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL_LEN
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(EmailError::Invalid)
        }
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a password guesser who knows this email would try: the
    /// address, its local part and the words in both (`ann.lee@mail.example`
    /// gives `ann.lee`, `ann`, `lee`, `mail`, `example`).
    pub fn words(&self) -> Vec<&str> {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let mut words = vec![self.0.as_str(), local];
        words.extend(
            local
                .split(['.', '_', '-', '+'])
                .chain(domain.split('.'))
                .filter(|w| w.len() >= 3),
        );
        words
    }

    /// Rebuilds an address read back from the store (already normalized).
    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    // Addresses are personal data: keep them out of debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_normalized() {
        assert_eq!(
            Email::parse(" Ann.Lee+tag@Example.COM ")
                .expect("valid")
                .as_str(),
            "ann.lee+tag@example.com"
        );
    }

    #[test]
    fn invalid_addresses_are_refused() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a..b@example.com",
            "a@exa mple.com",
            "a b@example.com",
            "ä@example.com",
            "a@-x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn overlong_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn debug_does_not_leak_the_address() {
        let email = Email::parse("secret@example.com").expect("valid");
        assert!(!format!("{email:?}").contains("secret"));
    }
}
