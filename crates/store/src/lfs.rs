//! Which LFS objects each repository references. The objects themselves live in blob storage; these
//! links decide who may download them and when they can be garbage-collected.

use gatehouse_types::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{missing_on_fk, StoreResult};
use crate::sql::{from_db_u64, offset_param, to_db_u64};
use crate::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsObjectRecord {
    pub oid: String,
    pub size: u64,
    pub pushed_at: Millis,
    /// Set when the content is a Xet file (uploaded through Xet; its sha256 is the uploader's claim):
    /// bytes then come from that file, never from a blob of the same sha256 another repository uploaded.
    pub xet_hash: Option<String>,
}

#[async_trait::async_trait]
pub trait LfsStore: Send + Sync {
    /// Records that `repo` references LFS object `oid`, whose bytes it proved by uploading them
    /// (idempotent; keeps the first pushed_at; a proven link replaces a Xet claim for the same oid).
    /// NotFound if the repository does not exist.
    async fn link_lfs_object(&self, repo: i64, oid: &str, size: u64, now: Millis) -> StoreResult<()>;
    async fn repo_lfs_object(&self, repo: i64, oid: &str) -> StoreResult<Option<LfsObjectRecord>>;
    /// Newest first (ties by oid).
    async fn list_lfs_objects(&self, repo: i64, offset: u64, limit: u32) -> StoreResult<Vec<LfsObjectRecord>>;
    async fn unlink_lfs_object(&self, repo: i64, oid: &str) -> StoreResult<bool>;
    /// True if any repository still references the object (for garbage collection).
    async fn lfs_object_referenced(&self, oid: &str) -> StoreResult<bool>;
    /// The git blob id of the object's content, once computed.
    async fn lfs_git_blob_oid(&self, oid: &str) -> StoreResult<Option<String>>;
    async fn set_lfs_git_blob_oid(&self, oid: &str, git_blob_oid: &str) -> StoreResult<()>;
}

fn lfs_from_row(row: &AnyRow) -> StoreResult<LfsObjectRecord> {
    Ok(LfsObjectRecord {
        oid: row.try_get("oid")?,
        size: from_db_u64(row.try_get("size")?, "LFS object size")?,
        pushed_at: row.try_get("pushed_at")?,
        xet_hash: row.try_get("xet_hash")?,
    })
}

#[async_trait::async_trait]
impl LfsStore for Store {
    async fn link_lfs_object(&self, repo: i64, oid: &str, size: u64, now: Millis) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO repo_lfs_objects (repo_id, oid, size, pushed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (repo_id, oid) DO UPDATE SET xet_hash = NULL, size = excluded.size \
             WHERE repo_lfs_objects.xet_hash IS NOT NULL",
        )
        .bind(repo)
        .bind(oid)
        .bind(to_db_u64(size, "LFS object size")?)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(missing_on_fk(|| format!("repository {repo}")))?;
        Ok(())
    }

    async fn repo_lfs_object(&self, repo: i64, oid: &str) -> StoreResult<Option<LfsObjectRecord>> {
        let row =
            sqlx::query("SELECT oid, size, pushed_at, xet_hash FROM repo_lfs_objects WHERE repo_id = $1 AND oid = $2")
                .bind(repo)
                .bind(oid)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(lfs_from_row).transpose()
    }

    async fn list_lfs_objects(&self, repo: i64, offset: u64, limit: u32) -> StoreResult<Vec<LfsObjectRecord>> {
        let rows = sqlx::query(
            "SELECT oid, size, pushed_at, xet_hash FROM repo_lfs_objects WHERE repo_id = $1 \
             ORDER BY pushed_at DESC, oid ASC LIMIT $2 OFFSET $3",
        )
        .bind(repo)
        .bind(i64::from(limit))
        .bind(offset_param(offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lfs_from_row).collect()
    }

    async fn unlink_lfs_object(&self, repo: i64, oid: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM repo_lfs_objects WHERE repo_id = $1 AND oid = $2")
            .bind(repo)
            .bind(oid)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn lfs_object_referenced(&self, oid: &str) -> StoreResult<bool> {
        // Only test for a row: EXISTS yields a bool on PostgreSQL but an integer on SQLite.
        let row = sqlx::query("SELECT repo_id FROM repo_lfs_objects WHERE oid = $1 LIMIT 1")
            .bind(oid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn lfs_git_blob_oid(&self, oid: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT git_blob_oid FROM lfs_content WHERE oid = $1")
            .bind(oid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("git_blob_oid")).transpose()?)
    }

    async fn set_lfs_git_blob_oid(&self, oid: &str, git_blob_oid: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO lfs_content (oid, git_blob_oid) VALUES ($1, $2) ON CONFLICT (oid) DO NOTHING")
            .bind(oid)
            .bind(git_blob_oid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
