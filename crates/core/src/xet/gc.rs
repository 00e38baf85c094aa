//! Garbage collection of Xet storage, as a persisted job (`xet_gc_runs`); each run also collects the LFS
//! blobs no repository links ([`crate::lfs_gc`]), so one job (`gatehouse xet gc`, daily in the server)
//! frees all unused storage.
//!
//! A file is garbage when no repository links it (deleted repositories, permanently deleted LFS files,
//! uploads never committed) and it has not been used for the grace period; a xorb when no file uses it
//! and it has not been used (uploaded, named by a shard or a dedup answer) for the grace period. The
//! grace period matters: clients remember xorbs they uploaded for three weeks and reference them later
//! without uploading them again.
//!
//! Safe against concurrent uploads: a row is deleted only by a statement that re-checks both conditions,
//! while shard registration marks each xorb used under the same row lock and file terms reference xorbs by
//! foreign key. Bytes are deleted after their row, through a to-do list written in the row's
//! transaction, so a crash leaves deletions to resume (the next run does), never a row without bytes.

use super::{index_key, xorb_key};
use crate::time::now_millis;
use crate::Hub;
use gatehouse_store::{XetStore, XorbRecord};
use gatehouse_types::{Error, Result};
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

const BATCH: u32 = 500;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct GcReport {
    pub run_id: i64,
    pub grace_secs: u64,
    pub files_deleted: u64,
    pub xorbs_deleted: u64,
    /// Stored bytes of the deleted xorbs.
    pub bytes_freed: u64,
    /// Objects left behind by a crash between storing bytes and recording them.
    pub orphans_deleted: u64,
    /// Deletions an interrupted earlier run left to do.
    pub resumed_deletions: u64,
    /// LFS blobs no repository links, older than the grace period.
    pub lfs: crate::lfs_gc::LfsGcReport,
    pub duration_ms: i64,
}

/// Runs one collection with the given grace period and records its report.
pub async fn collect(hub: &Hub, grace: Duration) -> Result<GcReport> {
    let started = now_millis();
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let run_id = hub.store.start_gc_run(grace_ms, started).await?;
    let outcome = run(hub, grace, started.saturating_sub(grace_ms)).await;
    let finished = now_millis();
    match outcome {
        Ok(mut report) => {
            report.run_id = run_id;
            report.duration_ms = finished - started;
            let json = serde_json::to_string(&report).map_err(Error::internal)?;
            hub.store.finish_gc_run(run_id, "done", &json, finished).await?;
            tracing::info!(report = %json, "xet garbage collection finished");
            Ok(report)
        }
        Err(e) => {
            let msg = serde_json::json!({ "error": e.to_string() }).to_string();
            hub.store.finish_gc_run(run_id, "failed", &msg, finished).await?;
            Err(e)
        }
    }
}

async fn run(hub: &Hub, grace: Duration, cutoff: i64) -> Result<GcReport> {
    let mut report = GcReport { grace_secs: grace.as_secs(), ..Default::default() };
    report.resumed_deletions = drain_pending(hub).await?;
    report.files_deleted = hub.store.gc_delete_unlinked_files(cutoff).await?;
    if report.files_deleted > 0 {
        hub.xet.files.invalidate_all();
    }
    let mut refused: HashSet<String> = HashSet::new();
    loop {
        let candidates: Vec<XorbRecord> = hub
            .store
            .gc_candidate_xorbs(cutoff, BATCH)
            .await?
            .into_iter()
            .filter(|x| !refused.contains(&x.hash))
            .collect();
        if candidates.is_empty() {
            break;
        }
        for x in candidates {
            let hash = super::parse_hash(&x.hash)?;
            let keys = vec![xorb_key(&hash), index_key(&hash)];
            if hub.store.gc_delete_xorb(&x.hash, cutoff, &keys, now_millis()).await? {
                hub.xet.indexes.invalidate(&hash);
                report.xorbs_deleted += 1;
                report.bytes_freed += x.stored_bytes;
            } else {
                // Used again meanwhile; it is not a candidate any more, but do not loop on it.
                refused.insert(x.hash);
            }
        }
        drain_pending(hub).await?;
    }
    report.orphans_deleted = sweep_orphans(hub, grace).await?;
    report.lfs = crate::lfs_gc::collect(hub, grace).await?;
    Ok(report)
}

/// Deletes the bytes of rows already deleted.
async fn drain_pending(hub: &Hub) -> Result<u64> {
    let mut done = 0;
    loop {
        let keys = hub.store.gc_pending(BATCH).await?;
        if keys.is_empty() {
            return Ok(done);
        }
        for key in keys {
            hub.blobs.delete_object(&key).await?;
            hub.store.gc_pending_done(&key).await?;
            done += 1;
        }
    }
}

/// Xorb objects with no row, older than the grace period: a process died after storing the bytes and
/// before recording them (a younger one may be an upload in flight).
async fn sweep_orphans(hub: &Hub, grace: Duration) -> Result<u64> {
    let mut deleted = 0;
    for (key, modified) in hub.blobs.list_objects("xet/xorbs").await? {
        let young = modified.elapsed().map_or(true, |age| age < grace);
        let Some(name) = key.rsplit('/').next() else { continue };
        let hash = name.strip_suffix(".idx").unwrap_or(name);
        if young || super::parse_hash(hash).is_err() {
            continue;
        }
        if hub.store.xorb(hash).await?.is_none() {
            hub.blobs.delete_object(&key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// What `verify` found: every problem is a broken promise of the upload path (a row without its bytes,
/// a term outside its xorb, a link to a missing file).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub xorbs_checked: u64,
    pub files_checked: u64,
    pub problems: Vec<String>,
}

/// Checks the Xet index against blob storage: each xorb's index and bytes exist and agree with its
/// row, each file's terms lie inside their xorbs, and no link names a missing file.
pub async fn verify(hub: &Hub) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut after = String::new();
    loop {
        let page = hub.store.list_xorbs(&after, BATCH).await?;
        let Some(last) = page.last() else { break };
        after = last.hash.clone();
        for x in page {
            report.xorbs_checked += 1;
            let hash = super::parse_hash(&x.hash)?;
            match super::xorb_index(hub, &hash).await {
                Ok(ix) if ix.chunks.len() as u64 == x.chunk_count && ix.unpacked_len() == x.unpacked_bytes => {}
                Ok(_) => report.problems.push(format!("xorb {} index disagrees with its row", x.hash)),
                Err(e) => report.problems.push(format!("xorb {} index: {}", x.hash, e.message)),
            }
            let stored =
                hub.blobs.read_object_range(&xorb_key(&hash), x.stored_bytes.saturating_sub(1)..x.stored_bytes).await;
            if stored.map_or(true, |b| b.len() != 1) {
                report.problems.push(format!("xorb {} bytes missing or shorter than {}", x.hash, x.stored_bytes));
            }
        }
    }
    let mut after = String::new();
    loop {
        let page = hub.store.list_xet_files(&after, BATCH).await?;
        let Some(last) = page.last() else { break };
        after = last.clone();
        for f in page {
            report.files_checked += 1;
            let Some(file) = hub.store.xet_file(&f).await? else { continue };
            let mut size = 0;
            for t in &file.terms {
                let ix = super::xorb_index(hub, &super::parse_hash(&t.xorb_hash)?).await;
                match ix {
                    Ok(ix) if (t.chunk_end as usize) <= ix.chunks.len() && t.chunk_start < t.chunk_end => {}
                    _ => report.problems.push(format!(
                        "file {f}: term {}..{} of xorb {} unreadable",
                        t.chunk_start, t.chunk_end, t.xorb_hash
                    )),
                }
                size += t.unpacked_bytes;
            }
            if size != file.size {
                report.problems.push(format!("file {f}: terms hold {size} bytes, recorded {}", file.size));
            }
        }
    }
    for (repo, oid, hash) in hub.store.dangling_xet_links(100).await? {
        report.problems.push(format!("repository {repo} links {oid} to missing Xet file {hash}"));
    }
    Ok(report)
}
