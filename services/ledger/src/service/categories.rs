//! Categories: the default tree every user starts with, and creating,
//! listing, renaming, moving and deleting categories.

use chrono::{DateTime, Utc};
use freedumb_kit::time;
use freedumb_proto::ledger as pb;
use uuid::Uuid;

use super::{LedgerApi, Result};
use crate::domain::{CategoryDeletion, CategoryUpdate, NewCategory};
use crate::error::LedgerError;
use crate::store::{CategoryRecord, StoreError};
use crate::{convert, outbox};

/// The default category tree of a new user: (kind, name, subcategories).
const DEFAULT_TREE: &[(&str, &str, &[&str])] = &[
    ("income", "Salary", &[]),
    ("income", "Interest & dividends", &[]),
    ("income", "Gifts received", &[]),
    ("income", "Refunds", &[]),
    ("income", "Other income", &[]),
    (
        "expense",
        "Housing",
        &["Rent & mortgage", "Utilities", "Maintenance"],
    ),
    ("expense", "Food", &["Groceries", "Restaurants", "Coffee"]),
    ("expense", "Transport", &["Fuel", "Public transport", "Car"]),
    ("expense", "Health", &["Doctor", "Pharmacy", "Insurance"]),
    (
        "expense",
        "Shopping",
        &["Clothing", "Electronics", "Household"],
    ),
    (
        "expense",
        "Leisure",
        &["Entertainment", "Travel", "Subscriptions"],
    ),
    ("expense", "Education", &[]),
    ("expense", "Fees & charges", &[]),
    ("expense", "Taxes", &[]),
    ("expense", "Other expenses", &[]),
];

/// The default category tree of a new user.
pub fn default_categories(user_id: Uuid, now: DateTime<Utc>) -> Vec<CategoryRecord> {
    let mut out = Vec::new();
    for (kind, name, children) in DEFAULT_TREE {
        let parent = Uuid::now_v7();
        out.push(CategoryRecord {
            id: parent,
            user_id,
            name: (*name).to_owned(),
            kind: (*kind).to_owned(),
            parent_id: None,
            create_time: now,
        });
        for child in *children {
            out.push(CategoryRecord {
                id: Uuid::now_v7(),
                user_id,
                name: (*child).to_owned(),
                kind: (*kind).to_owned(),
                parent_id: Some(parent),
                create_time: now,
            });
        }
    }
    out
}

/// A store error of a create or update, reported on `category.parent_id`
/// where the parent is the problem.
fn parent_error(e: StoreError) -> LedgerError {
    match e {
        StoreError::Precondition(why) => LedgerError::field("category.parent_id", why),
        e => LedgerError::unknown_category_on("category.parent_id")(e),
    }
}

impl LedgerApi {
    pub(super) async fn create_category(
        &self,
        user_id: Uuid,
        new: NewCategory,
    ) -> Result<pb::CreateCategoryResponse> {
        let record = CategoryRecord {
            id: Uuid::now_v7(),
            user_id,
            name: new.name.into_string(),
            kind: new.kind.as_str().to_owned(),
            parent_id: new.parent_id,
            create_time: time::now(),
        };
        self.deps
            .store
            .create_category(&record)
            .await
            .map_err(parent_error)?;
        Ok(pb::CreateCategoryResponse {
            category: Some(convert::category(&record)),
        })
    }

    pub(super) async fn list_categories(
        &self,
        user_id: Uuid,
    ) -> Result<pb::ListCategoriesResponse> {
        let rows = self.deps.store.list_categories(user_id).await?;
        // Parents first, each followed by its children.
        let mut ordered: Vec<&CategoryRecord> = Vec::with_capacity(rows.len());
        for parent in rows.iter().filter(|c| c.parent_id.is_none()) {
            ordered.push(parent);
            ordered.extend(rows.iter().filter(|c| c.parent_id == Some(parent.id)));
        }
        Ok(pb::ListCategoriesResponse {
            categories: ordered.into_iter().map(convert::category).collect(),
        })
    }

    pub(super) async fn update_category(
        &self,
        user_id: Uuid,
        update: CategoryUpdate,
    ) -> Result<pb::UpdateCategoryResponse> {
        let rows = self.deps.store.list_categories(user_id).await?;
        let mut record = rows
            .into_iter()
            .find(|c| c.id == update.id)
            .ok_or(LedgerError::NotFound("category"))?;
        if let Some(name) = update.name {
            record.name = name.into_string();
        }
        if let Some(parent_id) = update.parent_id {
            record.parent_id = parent_id;
        }
        self.deps
            .store
            .update_category(&record)
            .await
            .map_err(parent_error)?;
        Ok(pb::UpdateCategoryResponse {
            category: Some(convert::category(&record)),
        })
    }

    pub(super) async fn delete_category(
        &self,
        user_id: Uuid,
        deletion: CategoryDeletion,
    ) -> Result<pb::DeleteCategoryResponse> {
        let moved = self
            .deps
            .store
            .delete_category(
                user_id,
                deletion.id,
                deletion.reassign_to,
                time::now(),
                &outbox::build,
            )
            .await
            .map_err(|e| match e {
                StoreError::UnknownCategory(t) => {
                    LedgerError::field("reassign_to_category_id", format!("no other category {t}"))
                }
                e => e.into(),
            })?;
        Ok(pb::DeleteCategoryResponse {
            reassigned_transactions: i64::try_from(moved).unwrap_or(i64::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tree_nests_one_level() {
        let user = Uuid::now_v7();
        let tree = default_categories(user, time::now());
        assert!(tree.len() > 20);
        for c in &tree {
            if let Some(parent) = c.parent_id {
                let p = tree
                    .iter()
                    .find(|p| p.id == parent)
                    .expect("parent present");
                assert!(p.parent_id.is_none());
                assert_eq!(p.kind, c.kind);
            }
        }
    }
}
