/// The most tags one transaction or rule carries.
const MAX_TAGS: usize = 20;
/// The longest tag, in characters.
const MAX_TAG_CHARS: usize = 50;

/// At most 20 distinct tags of 1 to 50 characters, trimmed, lower-cased and
/// sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags(Vec<String>);

impl Tags {
    /// Normalizes and checks the request's tags.
    pub fn parse(raw: &[String]) -> Result<Self, String> {
        if raw.len() > MAX_TAGS {
            return Err(format!("at most {MAX_TAGS} tags"));
        }
        let mut out = Vec::with_capacity(raw.len());
        for tag in raw {
            let tag = tag.trim().to_lowercase();
            if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
                return Err(format!("each tag must be 1 to {MAX_TAG_CHARS} characters"));
            }
            if tag.chars().any(char::is_control) {
                return Err("tags must not contain control characters".into());
            }
            out.push(tag);
        }
        out.sort();
        out.dedup();
        Ok(Self(out))
    }

    /// The tags, sorted.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The tags, for a record.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalized() {
        let raw = vec![" Food ".to_owned(), "food".to_owned(), "trip".to_owned()];
        assert_eq!(
            Tags::parse(&raw).map(Tags::into_vec),
            Ok(vec!["food".to_owned(), "trip".to_owned()])
        );
        assert!(Tags::parse(&[String::new()]).is_err());
        assert!(Tags::parse(&vec!["x".to_owned(); 21]).is_err());
        assert!(Tags::parse(&vec!["x".to_owned(); 20]).is_ok());
        assert!(Tags::parse(&["a\u{7}".to_owned()]).is_err());
        assert!(Tags::parse(&["x".repeat(51)]).is_err());
    }
}
