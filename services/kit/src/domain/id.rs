use uuid::Uuid;

use super::truncate;

/// A UUID id of the API that must be present (any version; the ledger
/// issues UUIDv7).
pub fn required_id(raw: &str) -> Result<Uuid, String> {
    if raw.is_empty() {
        return Err("is required".into());
    }
    Uuid::try_parse(raw).map_err(|_| format!("`{}` is not a valid id", truncate(raw, 40)))
}

/// An optional id: empty means absent.
pub fn optional_id(raw: &str) -> Result<Option<Uuid>, String> {
    if raw.is_empty() {
        Ok(None)
    } else {
        required_id(raw).map(Some)
    }
}

/// A create's `request_id`, the key that makes it idempotent: 1 to 128
/// printable characters; empty means the client sent none.
pub fn request_id(raw: &str) -> Result<Option<&str>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.chars().count() > 128 || raw.chars().any(char::is_control) {
        return Err("must be 1 to 128 printable characters".into());
    }
    Ok(Some(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids() {
        let id = Uuid::now_v7();
        assert_eq!(required_id(&id.to_string()), Ok(id));
        assert!(required_id("nope").is_err());
        assert!(required_id("").is_err());
        assert_eq!(optional_id(""), Ok(None));
        assert_eq!(optional_id(&id.to_string()), Ok(Some(id)));
        assert!(optional_id("nope").is_err());
    }
}
