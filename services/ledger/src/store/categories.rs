//! Categories: the record and what a request may do with it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{EventBuilder, StoreError};

/// A category row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRecord {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Name, unique among siblings (case-insensitively).
    pub name: String,
    /// `income` or `expense`.
    pub kind: String,
    /// Parent, for a subcategory.
    pub parent_id: Option<Uuid>,
    /// Created.
    pub create_time: DateTime<Utc>,
}

/// A user's profile and categories.
#[async_trait]
pub trait CategoryStore: Send + Sync + 'static {
    /// Creates the user's profile and default categories on first use;
    /// returns whether it did.
    async fn ensure_profile(
        &self,
        user_id: Uuid,
        defaults: &[CategoryRecord],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Every category of the user.
    async fn list_categories(&self, user_id: Uuid) -> Result<Vec<CategoryRecord>, StoreError>;

    /// Adds a category.
    async fn create_category(&self, category: &CategoryRecord) -> Result<(), StoreError>;

    /// Renames or moves a category.
    async fn update_category(&self, category: &CategoryRecord) -> Result<(), StoreError>;

    /// Deletes a leaf category, moving its transactions and rules to
    /// `reassign_to`, and announces it (one event, see `CategoryDeleted`);
    /// returns how many transactions moved.
    async fn delete_category(
        &self,
        user_id: Uuid,
        id: Uuid,
        reassign_to: Option<Uuid>,
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<u64, StoreError>;
}
