//! Report files: which file an operation makes, and its chunks.

use freedumb_kit::storage::begin_write;
use uuid::Uuid;

use super::SqlStore;
use crate::store::{ReportFile, ReportStore, StoreError};

freedumb_kit::sql_impl!([#[async_trait::async_trait] impl<DB> ReportStore for SqlStore<DB>]
    #[tracing::instrument(skip_all)]
    async fn create_report_file(&self, file: &ReportFile) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO report_files (operation_id, user_id, content_type, file_name) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(file.operation_id)
        .bind(file.user_id)
        .bind(file.content_type.clone())
        .bind(file.file_name.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn get_report_file(
        &self,
        user_id: Uuid,
        operation_id: Uuid,
    ) -> Result<Option<ReportFile>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT content_type, file_name FROM report_files \
             WHERE user_id = $1 AND operation_id = $2",
        )
        .bind(user_id)
        .bind(operation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(content_type, file_name)| ReportFile {
            operation_id,
            user_id,
            content_type,
            file_name,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn append_report_chunk(
        &self,
        operation_id: Uuid,
        seq: i32,
        data: Vec<u8>,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query("INSERT INTO report_chunks (operation_id, seq, data) VALUES ($1, $2, $3)")
            .bind(operation_id)
            .bind(seq)
            .bind(data)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn get_report_chunk(
        &self,
        operation_id: Uuid,
        seq: i32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT data FROM report_chunks WHERE operation_id = $1 AND seq = $2",
        )
        .bind(operation_id)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(data,)| data))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_report_chunks(&self, operation_id: Uuid) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query("DELETE FROM report_chunks WHERE operation_id = $1")
            .bind(operation_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
);
