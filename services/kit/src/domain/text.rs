use std::fmt;

/// Whether a text field may be left empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Required {
    Yes,
    No,
}

/// Trimmed text of at most `MAX` characters, without control characters
/// other than newline and tab; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<const MAX: usize>(String);

/// Like [`Text`], but never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredText<const MAX: usize>(String);

/// The name of an object (an account, a category, a budget).
pub type Name = RequiredText<100>;

impl<const MAX: usize> Text<MAX> {
    /// Trims and checks `raw`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        clean(raw, MAX, Required::No).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, for a record.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> RequiredText<MAX> {
    /// Trims and checks `raw`, which must not be blank.
    pub fn parse(raw: &str) -> Result<Self, String> {
        clean(raw, MAX, Required::Yes).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, for a record.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> fmt::Display for RequiredText<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn clean(raw: &str, max: usize, required: Required) -> Result<String, String> {
    let value = raw.trim();
    if required == Required::Yes && value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            Text::<10>::parse("  hi ").map(Text::into_string),
            Ok("hi".to_owned())
        );
        assert_eq!(
            Text::<10>::parse("   ").map(Text::into_string),
            Ok(String::new())
        );
        assert!(Text::<10>::parse(&"é".repeat(11)).is_err());
        assert!(Text::<10>::parse(&"é".repeat(10)).is_ok());
        assert!(Text::<10>::parse("a\u{0}b").is_err());
        assert!(Text::<10>::parse("a\nb\tc").is_ok());
    }

    #[test]
    fn required_text_must_not_be_blank() {
        assert_eq!(
            Name::parse(" Rent ").map(Name::into_string),
            Ok("Rent".to_owned())
        );
        assert_eq!(Name::parse("   "), Err("is required".to_owned()));
        assert!(Name::parse(&"x".repeat(101)).is_err());
    }
}
