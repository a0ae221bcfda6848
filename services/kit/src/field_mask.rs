//! `google.protobuf.FieldMask` for partial updates: the paths a client may
//! set, checked once at the door.

use crate::error::FieldViolations;

/// A validated update mask: a non-empty set of updatable paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateMask(Vec<String>);

impl UpdateMask {
    /// Parses `mask` (the request's `update_mask`) against the paths the
    /// resource allows; every unknown path is a violation on `update_mask`.
    pub fn parse(
        mask: Option<&prost_types::FieldMask>,
        allowed: &[&str],
    ) -> Result<Self, FieldViolations> {
        let mut v = FieldViolations::new();
        let paths = mask.map(|m| m.paths.clone()).unwrap_or_default();
        if paths.is_empty() {
            v.add(
                "update_mask",
                format!("is required; updatable fields: {}", allowed.join(", ")),
            );
            return Err(v);
        }
        for path in &paths {
            if !allowed.contains(&path.as_str()) {
                v.add(
                    "update_mask",
                    format!(
                        "`{path}` cannot be updated; updatable fields: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        if v.is_empty() {
            Ok(Self(paths))
        } else {
            Err(v)
        }
    }

    /// Whether `path` is to be updated.
    pub fn contains(&self, path: &str) -> bool {
        self.0.iter().any(|p| p == path)
    }

    /// The paths, in the order given.
    pub fn paths(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> prost_types::FieldMask {
        prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn known_paths_are_accepted() {
        let m = UpdateMask::parse(Some(&mask(&["name"])), &["name", "note"]).expect("valid");
        assert!(m.contains("name"));
        assert!(!m.contains("note"));
    }

    #[test]
    fn a_missing_or_unknown_path_names_the_updatable_fields() {
        let missing = UpdateMask::parse(None, &["name"]).expect_err("required");
        assert!(
            missing
                .iter()
                .any(|(f, d)| f == "update_mask" && d.contains("name"))
        );
        let unknown =
            UpdateMask::parse(Some(&mask(&["id", "name", "x"])), &["name"]).expect_err("unknown");
        assert_eq!(unknown.iter().count(), 2);
    }
}
