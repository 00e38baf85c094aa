//! The Xet index: which xorbs are stored, which files (term lists) exist, which chunks clients may
//! deduplicate against, and garbage-collection bookkeeping. The bytes live in blob storage; a row here is
//! written only after its bytes are durable, and a file's terms reference xorbs by foreign key, so the
//! index never points at missing data.
//!
//! Hashes are the 64-hex Xet string form. Which repository holds a Xet file is recorded on its LFS link
//! (`repo_lfs_objects.xet_hash`, see [`crate::LfsStore`]).

use gatehouse_types::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{is_foreign_key_violation, missing_on_fk, StoreError, StoreResult};
use crate::sql::{from_db_u64, to_db_u64};
use crate::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbRecord {
    pub hash: String,
    /// Serialized bytes in blob storage (what fetch offsets index into).
    pub stored_bytes: u64,
    pub unpacked_bytes: u64,
    pub chunk_count: u64,
    pub created_at: Millis,
    pub last_used_at: Millis,
}

/// Chunks `[chunk_start, chunk_end)` of a xorb: one piece of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTerm {
    pub xorb_hash: String,
    pub chunk_start: u32,
    pub chunk_end: u32,
    pub unpacked_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XetFile {
    pub file_hash: String,
    pub size: u64,
    pub terms: Vec<FileTerm>,
}

/// A repository's claim, from its shard, that the LFS object `sha256` is the Xet file `file_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XetLink {
    pub repo_id: i64,
    pub sha256: String,
    pub size: u64,
    pub file_hash: String,
}

/// Everything a validated shard adds, applied in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardRegistration {
    /// sha256 of the shard's bytes (already stored in blob storage) and its size.
    pub shard_hash: String,
    pub shard_size: u64,
    /// Every xorb the shard's files reference; each must still exist (garbage collection may have won a
    /// race) and is marked used now.
    pub xorbs_used: Vec<String>,
    pub files: Vec<XetFile>,
    /// (chunk hash, xorb hash) pairs clients may deduplicate against.
    pub dedup_chunks: Vec<(String, String)>,
    pub links: Vec<XetLink>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct XetStats {
    pub xorbs: u64,
    pub xorb_bytes: u64,
    pub unpacked_bytes: u64,
    pub files: u64,
    pub shards: u64,
    pub dedup_chunks: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRun {
    pub id: i64,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub state: String,
    pub grace_ms: i64,
    pub report: Option<String>,
}

#[async_trait::async_trait]
pub trait XetStore: Send + Sync {
    /// Records a stored xorb; false if it was known already (content-addressed: same bytes).
    async fn insert_xorb(&self, x: &XorbRecord) -> StoreResult<bool>;
    async fn xorb(&self, hash: &str) -> StoreResult<Option<XorbRecord>>;
    /// Applies a shard atomically. `NotFound` if a referenced xorb no longer exists (nothing is applied).
    async fn register_shard(&self, s: &ShardRegistration, now: Millis) -> StoreResult<()>;
    async fn xet_file(&self, file_hash: &str) -> StoreResult<Option<XetFile>>;
    /// Whether `repo` links an LFS object to this Xet file (committed or uploaded for a commit).
    async fn repo_has_xet_file(&self, repo: i64, file_hash: &str) -> StoreResult<bool>;
    /// The xorb holding a dedup-eligible chunk.
    async fn dedup_xorb(&self, chunk_hash: &str) -> StoreResult<Option<String>>;
    /// Up to `limit` (file, repository) pairs: files that use the xorb and the repositories linking them.
    async fn files_using_xorb(&self, xorb_hash: &str, limit: u32) -> StoreResult<Vec<(String, i64)>>;
    async fn touch_xorb(&self, hash: &str, now: Millis) -> StoreResult<()>;
    async fn xet_stats(&self) -> StoreResult<XetStats>;
    async fn shard_known(&self, hash: &str) -> StoreResult<bool>;
    /// Xorbs in hash order after `after` (for consistency checks).
    async fn list_xorbs(&self, after: &str, limit: u32) -> StoreResult<Vec<XorbRecord>>;
    /// File hashes in order after `after`.
    async fn list_xet_files(&self, after: &str, limit: u32) -> StoreResult<Vec<String>>;
    /// (repository, oid, file hash) of links to Xet files that do not exist (must never happen).
    async fn dangling_xet_links(&self, limit: u32) -> StoreResult<Vec<(i64, String, String)>>;

    // Garbage collection.
    async fn start_gc_run(&self, grace_ms: i64, now: Millis) -> StoreResult<i64>;
    async fn finish_gc_run(&self, id: i64, state: &str, report: &str, now: Millis) -> StoreResult<()>;
    async fn gc_runs(&self, limit: u32) -> StoreResult<Vec<GcRun>>;
    /// Deletes files no repository links and unused since `cutoff`; returns how many.
    async fn gc_delete_unlinked_files(&self, cutoff: Millis) -> StoreResult<u64>;
    /// Xorbs no file uses and unused since `cutoff`.
    async fn gc_candidate_xorbs(&self, cutoff: Millis, limit: u32) -> StoreResult<Vec<XorbRecord>>;
    /// Deletes the xorb's row if it is still unused since `cutoff`, recording `object_keys` as pending
    /// deletions in the same transaction. False if it became used meanwhile.
    async fn gc_delete_xorb(
        &self,
        hash: &str,
        cutoff: Millis,
        object_keys: &[String],
        now: Millis,
    ) -> StoreResult<bool>;
    async fn gc_pending(&self, limit: u32) -> StoreResult<Vec<String>>;
    async fn gc_pending_done(&self, object_key: &str) -> StoreResult<()>;
}

fn xorb_from_row(row: &AnyRow) -> StoreResult<XorbRecord> {
    Ok(XorbRecord {
        hash: row.try_get("hash")?,
        stored_bytes: from_db_u64(row.try_get("stored_bytes")?, "xorb size")?,
        unpacked_bytes: from_db_u64(row.try_get("unpacked_bytes")?, "xorb size")?,
        chunk_count: from_db_u64(row.try_get("chunk_count")?, "chunk count")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn u32_col(row: &AnyRow, col: &str) -> StoreResult<u32> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} {v} out of range")))
}

fn count(row: &AnyRow, col: &str) -> StoreResult<u64> {
    from_db_u64(row.try_get(col)?, col)
}

const XORB_COLUMNS: &str = "hash, stored_bytes, unpacked_bytes, chunk_count, created_at, last_used_at";

#[async_trait::async_trait]
impl XetStore for Store {
    async fn insert_xorb(&self, x: &XorbRecord) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO xet_xorbs (hash, stored_bytes, unpacked_bytes, chunk_count, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&x.hash)
        .bind(to_db_u64(x.stored_bytes, "xorb size")?)
        .bind(to_db_u64(x.unpacked_bytes, "xorb size")?)
        .bind(to_db_u64(x.chunk_count, "chunk count")?)
        .bind(x.created_at)
        .bind(x.last_used_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0;
        if !inserted {
            self.touch_xorb(&x.hash, x.last_used_at).await?;
        }
        Ok(inserted)
    }

    async fn xorb(&self, hash: &str) -> StoreResult<Option<XorbRecord>> {
        let row = sqlx::query(&format!("SELECT {XORB_COLUMNS} FROM xet_xorbs WHERE hash = $1"))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(xorb_from_row).transpose()
    }

    async fn register_shard(&self, s: &ShardRegistration, now: Millis) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Touch first: the row lock (PostgreSQL) or the write lock (SQLite) makes a concurrent garbage
        // collection either see the fresh last_used_at or have deleted the row, which we then notice.
        for xorb in &s.xorbs_used {
            let touched = sqlx::query("UPDATE xet_xorbs SET last_used_at = $2 WHERE hash = $1")
                .bind(xorb)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if touched.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("xorb {xorb}")));
            }
        }
        for f in &s.files {
            let inserted = sqlx::query(
                "INSERT INTO xet_files (file_hash, size, created_at, last_used_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (file_hash) DO NOTHING",
            )
            .bind(&f.file_hash)
            .bind(to_db_u64(f.size, "file size")?)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if !inserted {
                // Known file: the hash commits to its terms, so only its use is recorded.
                sqlx::query("UPDATE xet_files SET last_used_at = $2 WHERE file_hash = $1")
                    .bind(&f.file_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            for (idx, t) in f.terms.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO xet_file_terms (file_hash, idx, xorb_hash, chunk_start, chunk_end, unpacked_bytes) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (file_hash, idx) DO NOTHING",
                )
                .bind(&f.file_hash)
                .bind(idx as i64)
                .bind(&t.xorb_hash)
                .bind(i64::from(t.chunk_start))
                .bind(i64::from(t.chunk_end))
                .bind(to_db_u64(t.unpacked_bytes, "term size")?)
                .execute(&mut *tx)
                .await
                .map_err(missing_on_fk(|| format!("xorb {}", t.xorb_hash)))?;
            }
        }
        for (chunk, xorb) in &s.dedup_chunks {
            sqlx::query(
                "INSERT INTO xet_dedup_chunks (chunk_hash, xorb_hash) VALUES ($1, $2) ON CONFLICT (chunk_hash) DO NOTHING",
            )
            .bind(chunk)
            .bind(xorb)
            .execute(&mut *tx)
            .await?;
        }
        for l in &s.links {
            // A claim never replaces a link whose bytes were proven by upload (xet_hash NULL).
            sqlx::query(
                "INSERT INTO repo_lfs_objects (repo_id, oid, size, pushed_at, xet_hash) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (repo_id, oid) DO UPDATE SET xet_hash = excluded.xet_hash, size = excluded.size \
                 WHERE repo_lfs_objects.xet_hash IS NOT NULL",
            )
            .bind(l.repo_id)
            .bind(&l.sha256)
            .bind(to_db_u64(l.size, "file size")?)
            .bind(now)
            .bind(&l.file_hash)
            .execute(&mut *tx)
            .await
            .map_err(missing_on_fk(|| format!("repository {}", l.repo_id)))?;
        }
        sqlx::query(
            "INSERT INTO xet_shards (hash, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&s.shard_hash)
        .bind(to_db_u64(s.shard_size, "shard size")?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn xet_file(&self, file_hash: &str) -> StoreResult<Option<XetFile>> {
        let Some(row) = sqlx::query("SELECT size FROM xet_files WHERE file_hash = $1")
            .bind(file_hash)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let size = count(&row, "size")?;
        let rows = sqlx::query(
            "SELECT xorb_hash, chunk_start, chunk_end, unpacked_bytes FROM xet_file_terms WHERE file_hash = $1 ORDER BY idx",
        )
        .bind(file_hash)
        .fetch_all(&self.pool)
        .await?;
        let terms = rows
            .iter()
            .map(|r| {
                Ok(FileTerm {
                    xorb_hash: r.try_get("xorb_hash")?,
                    chunk_start: u32_col(r, "chunk_start")?,
                    chunk_end: u32_col(r, "chunk_end")?,
                    unpacked_bytes: count(r, "unpacked_bytes")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(XetFile { file_hash: file_hash.to_string(), size, terms }))
    }

    async fn repo_has_xet_file(&self, repo: i64, file_hash: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT oid FROM repo_lfs_objects WHERE repo_id = $1 AND xet_hash = $2 LIMIT 1")
            .bind(repo)
            .bind(file_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn dedup_xorb(&self, chunk_hash: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT xorb_hash FROM xet_dedup_chunks WHERE chunk_hash = $1")
            .bind(chunk_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("xorb_hash")).transpose()?)
    }

    async fn files_using_xorb(&self, xorb_hash: &str, limit: u32) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT t.file_hash, l.repo_id FROM xet_file_terms t JOIN repo_lfs_objects l ON l.xet_hash = t.file_hash \
             WHERE t.xorb_hash = $1 ORDER BY l.repo_id, t.file_hash LIMIT $2",
        )
        .bind(xorb_hash)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("file_hash")?, r.try_get("repo_id")?))).collect()
    }

    async fn touch_xorb(&self, hash: &str, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE xet_xorbs SET last_used_at = $2 WHERE hash = $1 AND last_used_at < $2")
            .bind(hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn xet_stats(&self) -> StoreResult<XetStats> {
        let x = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT) AS stored, \
             CAST(COALESCE(SUM(unpacked_bytes), 0) AS BIGINT) AS unpacked \
             FROM xet_xorbs",
        )
        .fetch_one(&self.pool)
        .await?;
        let one = |sql: &'static str| async move {
            let r = sqlx::query(sql).fetch_one(&self.pool).await?;
            count(&r, "n")
        };
        Ok(XetStats {
            xorbs: count(&x, "n")?,
            xorb_bytes: count(&x, "stored")?,
            unpacked_bytes: count(&x, "unpacked")?,
            files: one("SELECT COUNT(*) AS n FROM xet_files").await?,
            shards: one("SELECT COUNT(*) AS n FROM xet_shards").await?,
            dedup_chunks: one("SELECT COUNT(*) AS n FROM xet_dedup_chunks").await?,
        })
    }

    async fn shard_known(&self, hash: &str) -> StoreResult<bool> {
        let row =
            sqlx::query("SELECT hash FROM xet_shards WHERE hash = $1").bind(hash).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    async fn list_xorbs(&self, after: &str, limit: u32) -> StoreResult<Vec<XorbRecord>> {
        let rows = sqlx::query(&format!("SELECT {XORB_COLUMNS} FROM xet_xorbs WHERE hash > $1 ORDER BY hash LIMIT $2"))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(xorb_from_row).collect()
    }

    async fn list_xet_files(&self, after: &str, limit: u32) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT file_hash FROM xet_files WHERE file_hash > $1 ORDER BY file_hash LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("file_hash")?)).collect()
    }

    async fn dangling_xet_links(&self, limit: u32) -> StoreResult<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT l.repo_id, l.oid, l.xet_hash FROM repo_lfs_objects l WHERE l.xet_hash IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM xet_files f WHERE f.file_hash = l.xet_hash) ORDER BY l.repo_id, l.oid LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("repo_id")?, r.try_get("oid")?, r.try_get("xet_hash")?))).collect()
    }

    async fn start_gc_run(&self, grace_ms: i64, now: Millis) -> StoreResult<i64> {
        // Runs interrupted by a crash are closed as failed; their pending deletions are resumed.
        sqlx::query("UPDATE xet_gc_runs SET state = 'failed', finished_at = $1 WHERE state = 'running'")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(
            "INSERT INTO xet_gc_runs (started_at, state, grace_ms) VALUES ($1, 'running', $2) RETURNING id",
        )
        .bind(now)
        .bind(grace_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn finish_gc_run(&self, id: i64, state: &str, report: &str, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE xet_gc_runs SET state = $2, report = $3, finished_at = $4 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(report)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn gc_runs(&self, limit: u32) -> StoreResult<Vec<GcRun>> {
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, state, grace_ms, report FROM xet_gc_runs ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GcRun {
                    id: r.try_get("id")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                    state: r.try_get("state")?,
                    grace_ms: r.try_get("grace_ms")?,
                    report: r.try_get("report")?,
                })
            })
            .collect()
    }

    async fn gc_delete_unlinked_files(&self, cutoff: Millis) -> StoreResult<u64> {
        // Terms go with their file (ON DELETE CASCADE). A shard registering the file concurrently bumps
        // last_used_at under a row lock first, so the condition is re-checked against it.
        let done = sqlx::query(
            "DELETE FROM xet_files WHERE last_used_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM repo_lfs_objects l WHERE l.xet_hash = xet_files.file_hash)",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn gc_candidate_xorbs(&self, cutoff: Millis, limit: u32) -> StoreResult<Vec<XorbRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {XORB_COLUMNS} FROM xet_xorbs WHERE last_used_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM xet_file_terms t WHERE t.xorb_hash = xet_xorbs.hash) \
             ORDER BY hash LIMIT $2"
        ))
        .bind(cutoff)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(xorb_from_row).collect()
    }

    async fn gc_delete_xorb(
        &self,
        hash: &str,
        cutoff: Millis,
        object_keys: &[String],
        now: Millis,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM xet_xorbs WHERE hash = $1 AND last_used_at < $2 \
             AND NOT EXISTS (SELECT 1 FROM xet_file_terms t WHERE t.xorb_hash = $1)",
        )
        .bind(hash)
        .bind(cutoff)
        .execute(&mut *tx)
        .await;
        match deleted {
            Ok(d) if d.rows_affected() == 0 => return Ok(false),
            Ok(_) => {}
            // A file registered in between now references it.
            Err(e) if is_foreign_key_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        for key in object_keys {
            sqlx::query(
                "INSERT INTO xet_gc_pending (object_key, created_at) VALUES ($1, $2) ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn gc_pending(&self, limit: u32) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT object_key FROM xet_gc_pending ORDER BY object_key LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("object_key")?)).collect()
    }

    async fn gc_pending_done(&self, object_key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM xet_gc_pending WHERE object_key = $1").bind(object_key).execute(&self.pool).await?;
        Ok(())
    }
}
