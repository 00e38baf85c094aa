//! Which LFS objects each repository references. The objects themselves live in blob storage; these
//! links decide who may download them and when they can be garbage-collected.

use gatehouse_types::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{missing_on_fk, StoreError, StoreResult};
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
    /// NotFound if the repository does not exist; Conflict while the collector is deleting the object's
    /// bytes (see [`LfsStore::doom_lfs_blob`]): the caller uploads again later.
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

    /// A collector claims an object's bytes for deletion under `claim` (random per run): true (and links
    /// refused until [`LfsStore::lfs_blob_deleted`]) only if no repository links it and no other collector
    /// has claimed it, decided under the same lock as [`LfsStore::link_lfs_object`], so a link and a
    /// deletion never interleave.
    async fn doom_lfs_blob(&self, oid: &str, claim: i64, now: Millis) -> StoreResult<bool>;
    /// The bytes of an object doomed under `claim` are gone: links may be made again (after an upload).
    async fn lfs_blob_deleted(&self, oid: &str, claim: i64) -> StoreResult<()>;
    /// Objects doomed before `before` whose collector has not finished (it stopped): (oid, claim).
    async fn stale_lfs_dooms(&self, before: Millis, limit: u32) -> StoreResult<Vec<(String, i64)>>;
    /// Takes over a stale doom: true if `old` was still its claim (now `new`, so the stopped collector
    /// can no longer release it).
    async fn take_over_lfs_doom(&self, oid: &str, old: i64, new: i64) -> StoreResult<bool>;
}

/// Takes the object's lock row (creating it) inside `tx`; returns whether the collector has doomed it.
async fn lock_lfs_blob(tx: &mut sqlx::Transaction<'_, sqlx::Any>, oid: &str) -> StoreResult<bool> {
    // An upsert that always writes: on PostgreSQL it locks the row (waiting for a concurrent holder to
    // commit, then returning its committed state); on SQLite the write takes the database's write lock.
    let row = sqlx::query(
        "INSERT INTO lfs_blob_locks (oid) VALUES ($1) ON CONFLICT (oid) DO UPDATE SET oid = excluded.oid \
         RETURNING doomed_at",
    )
    .bind(oid)
    .fetch_one(&mut **tx)
    .await?;
    let doomed: Option<Millis> = row.try_get("doomed_at")?;
    Ok(doomed.is_some())
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
        let mut tx = self.pool.begin().await?;
        if lock_lfs_blob(&mut tx, oid).await? {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!("LFS object {oid} is being deleted; upload it again")));
        }
        sqlx::query(
            "INSERT INTO repo_lfs_objects (repo_id, oid, size, pushed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (repo_id, oid) DO UPDATE SET xet_hash = NULL, size = excluded.size \
             WHERE repo_lfs_objects.xet_hash IS NOT NULL",
        )
        .bind(repo)
        .bind(oid)
        .bind(to_db_u64(size, "LFS object size")?)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(missing_on_fk(|| format!("repository {repo}")))?;
        tx.commit().await?;
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

    async fn doom_lfs_blob(&self, oid: &str, claim: i64, now: Millis) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if lock_lfs_blob(&mut tx, oid).await? {
            // Another collector is deleting it.
            tx.rollback().await?;
            return Ok(false);
        }
        // A new statement, so on PostgreSQL it sees every link committed before the lock was granted.
        let linked = sqlx::query("SELECT repo_id FROM repo_lfs_objects WHERE oid = $1 LIMIT 1")
            .bind(oid)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if linked {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE lfs_blob_locks SET doomed_at = $2, claim = $3 WHERE oid = $1")
            .bind(oid)
            .bind(now)
            .bind(claim)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn lfs_blob_deleted(&self, oid: &str, claim: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM lfs_blob_locks WHERE oid = $1 AND claim = $2")
            .bind(oid)
            .bind(claim)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn stale_lfs_dooms(&self, before: Millis, limit: u32) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT oid, claim FROM lfs_blob_locks WHERE doomed_at IS NOT NULL AND doomed_at < $1 \
             ORDER BY doomed_at, oid LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("oid")?, r.try_get("claim")?))).collect()
    }

    async fn take_over_lfs_doom(&self, oid: &str, old: i64, new: i64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE lfs_blob_locks SET claim = $3 WHERE oid = $1 AND claim = $2")
            .bind(oid)
            .bind(old)
            .bind(new)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
