use freedumb_kit::{FieldViolations, UpdateMask};
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{Name, optional_id, required_id, validated, violation};

/// The fields `UpdateCategory` may change.
const UPDATABLE: [&str; 2] = ["name", "parent_id"];

/// Whether a category files income or expenses (its stored name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryKind(&'static str);

impl CategoryKind {
    /// Parses the request's `CategoryKind` (not UNSPECIFIED).
    pub fn parse(raw: i32) -> Result<Self, String> {
        match pb::CategoryKind::try_from(raw) {
            Ok(pb::CategoryKind::Income) => Ok(Self("income")),
            Ok(pb::CategoryKind::Expense) => Ok(Self("expense")),
            Ok(pb::CategoryKind::Unspecified) | Err(_) => Err("must be INCOME or EXPENSE".into()),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// A validated `CreateCategoryRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCategory {
    /// Name, unique among its siblings.
    pub name: Name,
    /// Income or expense.
    pub kind: CategoryKind,
    /// The parent, for a subcategory.
    pub parent_id: Option<Uuid>,
}

impl TryFrom<pb::CreateCategoryRequest> for NewCategory {
    type Error = FieldViolations;

    fn try_from(req: pb::CreateCategoryRequest) -> Result<Self, Self::Error> {
        let input = req.category.unwrap_or_default();
        let mut v = FieldViolations::new();
        let name = v.check("category.name", Name::parse(&input.name));
        let kind = v.check("category.kind", CategoryKind::parse(input.kind));
        let parent_id = v.check("category.parent_id", optional_id(&input.parent_id));
        validated(v, || {
            Some(Self {
                name: name?,
                kind: kind?,
                parent_id: parent_id?,
            })
        })
    }
}

/// A validated `UpdateCategoryRequest`: the masked fields' new values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryUpdate {
    /// The category.
    pub id: Uuid,
    /// New name.
    pub name: Option<Name>,
    /// New parent: `Some(None)` makes it a top-level category.
    pub parent_id: Option<Option<Uuid>>,
}

impl TryFrom<pb::UpdateCategoryRequest> for CategoryUpdate {
    type Error = FieldViolations;

    fn try_from(req: pb::UpdateCategoryRequest) -> Result<Self, Self::Error> {
        let mask = UpdateMask::parse(req.update_mask.as_ref(), &UPDATABLE)?;
        let input = req.category.unwrap_or_default();
        let id = required_id(&input.id).map_err(|e| violation("category.id", e))?;
        let mut v = FieldViolations::new();
        let mut update = Self {
            id,
            name: None,
            parent_id: None,
        };
        for path in mask.paths() {
            if path == "name" {
                update.name = v.check("category.name", Name::parse(&input.name));
            } else {
                update.parent_id = v.check("category.parent_id", optional_id(&input.parent_id));
            }
        }
        if v.is_empty() { Ok(update) } else { Err(v) }
    }
}

/// A validated `DeleteCategoryRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryDeletion {
    /// The category.
    pub id: Uuid,
    /// Where its transactions and rules move (else they lose the category).
    pub reassign_to: Option<Uuid>,
}

impl TryFrom<pb::DeleteCategoryRequest> for CategoryDeletion {
    type Error = FieldViolations;

    fn try_from(req: pb::DeleteCategoryRequest) -> Result<Self, Self::Error> {
        let mut v = FieldViolations::new();
        let id = v.check("category_id", required_id(&req.category_id));
        let reassign_to = v.check(
            "reassign_to_category_id",
            optional_id(&req.reassign_to_category_id),
        );
        validated(v, || {
            Some(Self {
                id: id?,
                reassign_to: reassign_to?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &FieldViolations) -> Vec<&str> {
        v.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn a_category_needs_a_name_and_a_kind() {
        let err = NewCategory::try_from(pb::CreateCategoryRequest::default()).expect_err("empty");
        assert_eq!(fields(&err), ["category.name", "category.kind"]);
        let ok = NewCategory::try_from(pb::CreateCategoryRequest {
            category: Some(pb::Category {
                name: "Pets".into(),
                kind: pb::CategoryKind::Expense.into(),
                ..Default::default()
            }),
        })
        .expect("valid");
        assert_eq!(ok.kind.as_str(), "expense");
        assert_eq!(ok.parent_id, None);
    }

    #[test]
    fn an_update_can_move_a_category_to_the_top() {
        let id = Uuid::now_v7();
        let update = CategoryUpdate::try_from(pb::UpdateCategoryRequest {
            category: Some(pb::Category {
                id: id.to_string(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["parent_id".into()],
            }),
        })
        .expect("valid");
        assert_eq!(update.parent_id, Some(None));
        assert_eq!(update.name, None);
    }

    #[test]
    fn a_deletion_checks_both_ids() {
        let err = CategoryDeletion::try_from(pb::DeleteCategoryRequest {
            category_id: String::new(),
            reassign_to_category_id: "x".into(),
        })
        .expect_err("ids");
        assert_eq!(fields(&err), ["category_id", "reassign_to_category_id"]);
    }
}
