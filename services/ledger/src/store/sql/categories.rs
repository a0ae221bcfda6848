//! Categories: the user's profile (created with the default categories on
//! first use), and adding, renaming, moving and deleting categories. A
//! category nests one level deep, under a parent of its own kind.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use freedumb_kit::storage::begin_write;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::map_duplicate;
use crate::store::{CategoryRecord, CategoryStore, Change, EventBuilder, StoreError};
use freedumb_kit::sql::{RunBuilt as _, rows_per_statement};

#[derive(FromRow)]
struct CategoryRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    kind: String,
    parent_id: Option<Uuid>,
    create_time: DateTime<Utc>,
}

impl From<CategoryRow> for CategoryRecord {
    fn from(r: CategoryRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            kind: r.kind,
            parent_id: r.parent_id,
            create_time: r.create_time,
        }
    }
}

const SELECT: &str = "SELECT id, user_id, name, kind, parent_id, create_time FROM categories";

sql_store!(
    use CategoryStore;

    #[tracing::instrument(skip_all)]
    async fn ensure_profile(
        &self,
        user_id: Uuid,
        defaults: &[CategoryRecord],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let created: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO profiles (user_id, create_time) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_none() {
            return Ok(false);
        }
        for category in defaults {
            Self::insert_category(&mut tx, category).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn list_categories(&self, user_id: Uuid) -> Result<Vec<CategoryRecord>, StoreError> {
        let rows: Vec<CategoryRow> =
            sqlx::query_as(&format!("{SELECT} WHERE user_id = $1 ORDER BY id"))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn create_category(&self, category: &CategoryRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        Self::check_parent(&mut tx, category).await?;
        Self::insert_category(&mut tx, category).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn update_category(&self, category: &CategoryRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        Self::check_parent(&mut tx, category).await?;
        if category.parent_id.is_some()
            && Self::count_children(&mut tx, category.user_id, category.id).await? > 0
        {
            return Err(StoreError::Precondition(
                "a category with subcategories cannot become a subcategory".into(),
            ));
        }
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE categories SET name = $1, parent_id = $2 WHERE id = $3 AND user_id = $4 \
             RETURNING id",
        )
        .bind(category.name.clone())
        .bind(category.parent_id)
        .bind(category.id)
        .bind(category.user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_duplicate("category"))?;
        if updated.is_none() {
            return Err(StoreError::NotFound("category"));
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_category(
        &self,
        user_id: Uuid,
        id: Uuid,
        reassign_to: Option<Uuid>,
        now: DateTime<Utc>,
        events: EventBuilder<'_>,
    ) -> Result<u64, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let Some(category) = Self::fetch_category(&mut tx, user_id, id).await? else {
            return Err(StoreError::NotFound("category"));
        };
        if let Some(target) = reassign_to
            && (target == id
                || Self::fetch_category(&mut tx, user_id, target)
                    .await?
                    .is_none())
        {
            return Err(StoreError::UnknownCategory(target));
        }
        if Self::count_children(&mut tx, user_id, id).await? > 0 {
            return Err(StoreError::Precondition(
                "the category has subcategories; delete or move them first".into(),
            ));
        }
        let moved: Vec<(Uuid,)> = sqlx::query_as(
            "UPDATE transactions SET category_id = $1, update_time = $2, revision = revision + 1 \
             WHERE user_id = $3 AND category_id = $4 RETURNING id",
        )
        .bind(reassign_to)
        .bind(now)
        .bind(user_id)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut moved: Vec<Uuid> = moved.into_iter().map(|(id,)| id).collect();
        // Split transactions: the split moves (or, without a target, the
        // transaction loses its categories: a split needs a category each).
        let split: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT DISTINCT transaction_id FROM transaction_splits \
             WHERE user_id = $1 AND category_id = $2",
        )
        .bind(user_id)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for (transaction_id,) in split {
            match reassign_to {
                Some(target) => {
                    sqlx::query(
                        "UPDATE transaction_splits SET category_id = $1 \
                         WHERE transaction_id = $2 AND category_id = $3",
                    )
                    .bind(target)
                    .bind(transaction_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM transaction_splits WHERE transaction_id = $1")
                        .bind(transaction_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE transactions SET has_splits = $1 WHERE id = $2")
                        .bind(false)
                        .bind(transaction_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query(
                "UPDATE transactions SET update_time = $1, revision = revision + 1 WHERE id = $2",
            )
            .bind(now)
            .bind(transaction_id)
            .execute(&mut *tx)
            .await?;
            moved.push(transaction_id);
        }
        sqlx::query(
            "UPDATE recurring_rules SET category_id = $1 WHERE user_id = $2 AND category_id = $3",
        )
        .bind(reassign_to)
        .bind(user_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM categories WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let deleted = Change::CategoryDeleted {
            category: &category,
            reassigned_to: reassign_to,
        };
        Self::insert_event(&mut tx, events(&deleted, &[]), now).await?;
        tx.commit().await?;
        moved.sort();
        moved.dedup();
        Ok(moved.len() as u64)
    }
);

sql_store!(
    /// Every id must be one of the user's categories: the first that is
    /// not is [`StoreError::UnknownCategory`].
    pub(super) async fn check_categories(
        conn: &mut DB::Connection,
        user_id: Uuid,
        ids: &[Uuid],
    ) -> Result<(), StoreError> {
        let found = Self::existing_categories(conn, user_id, ids).await?;
        match ids.iter().find(|id| !found.contains(id)) {
            Some(missing) => Err(StoreError::UnknownCategory(*missing)),
            None => Ok(()),
        }
    }

    /// Those of `ids` that are the user's categories.
    pub(super) async fn existing_categories(
        conn: &mut DB::Connection,
        user_id: Uuid,
        ids: &[Uuid],
    ) -> Result<HashSet<Uuid>, StoreError> {
        let mut found = HashSet::new();
        // The user id takes one bind of each statement.
        for batch in ids.chunks(rows_per_statement::<DB>(1) - 1) {
            let mut query = QueryBuilder::<DB>::new("SELECT id FROM categories WHERE user_id = ");
            query.push_bind(user_id).push(" AND id IN (");
            let mut list = query.separated(", ");
            for id in batch {
                list.push_bind(*id);
            }
            query.push(")");
            let rows: Vec<(Uuid,)> = query.fetch_all(&mut *conn).await?;
            found.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(found)
    }

    async fn fetch_category(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<CategoryRecord>, StoreError> {
        let row: Option<CategoryRow> =
            sqlx::query_as(&format!("{SELECT} WHERE id = $1 AND user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(conn)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn count_children(
        conn: &mut DB::Connection,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<i64, StoreError> {
        let (children,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM categories WHERE user_id = $1 AND parent_id = $2")
                .bind(user_id)
                .bind(id)
                .fetch_one(conn)
                .await?;
        Ok(children)
    }

    /// A subcategory's parent must be a top-level category of the same
    /// kind, other than itself.
    async fn check_parent(
        conn: &mut DB::Connection,
        category: &CategoryRecord,
    ) -> Result<(), StoreError> {
        let Some(parent_id) = category.parent_id else {
            return Ok(());
        };
        let parent = Self::fetch_category(conn, category.user_id, parent_id)
            .await?
            .filter(|p| p.id != category.id)
            .ok_or(StoreError::UnknownCategory(parent_id))?;
        if parent.parent_id.is_some() {
            return Err(StoreError::Precondition(
                "the parent is itself a subcategory; categories nest one level deep".into(),
            ));
        }
        if parent.kind != category.kind {
            return Err(StoreError::Precondition(format!(
                "the parent is an {} category; a subcategory has its parent's kind",
                parent.kind
            )));
        }
        Ok(())
    }

    async fn insert_category(
        conn: &mut DB::Connection,
        c: &CategoryRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO categories (id, user_id, name, kind, parent_id, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id)
        .bind(c.user_id)
        .bind(c.name.clone())
        .bind(c.kind.clone())
        .bind(c.parent_id)
        .bind(c.create_time)
        .execute(conn)
        .await
        .map_err(map_duplicate("category"))?;
        Ok(())
    }
);
