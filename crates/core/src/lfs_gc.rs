//! Garbage collection of LFS blobs: deleting the bytes of objects no repository links any more (deleted
//! repositories, permanently deleted LFS files, uploads that were never linked).
//!
//! A link and a deletion must never interleave, or a repository could link bytes the collector is about
//! to delete. Both sides therefore decide under one lock row per object (`LfsStore::doom_lfs_blob`,
//! `LfsStore::link_lfs_object`): the collector dooms an object only while nothing links it, and no
//! link is made while it is doomed. One gap remains, closed by [`link_stored`]: an upload may publish its
//! bytes before the collector deletes them and link after the collector finished, so every link is
//! followed by a check that the bytes are (still) there. A collector dooms, deletes and releases one
//! object at a time under a random claim, so a crash leaves at most one object doomed; once that doom is
//! [`STALE`], the server (every [`RESUME_EVERY`]) or the next run takes the claim over and finishes it.
//! Two collectors never delete the same object: the second cannot doom what the first has doomed.

use std::time::Duration;

use rand::Rng;

use gatehouse_store::{LfsStore, StoreError};
use gatehouse_types::{Error, ErrorCode, Result};
use serde::Serialize;

use crate::time::now_millis;
use crate::Hub;

/// A doom this old belongs to a collector that stopped: deleting one object takes milliseconds. Until
/// it is taken over, uploads of that one content are refused (503, retried by clients).
pub const STALE: Duration = Duration::from_secs(3600);
/// How often the server looks for stale dooms.
pub const RESUME_EVERY: Duration = Duration::from_secs(600);

/// What one collection of LFS blobs did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LfsGcReport {
    pub objects_deleted: u64,
    pub bytes_freed: u64,
    /// Objects a stopped earlier run had doomed and this one deleted.
    pub resumed_deletions: u64,
}

fn retry_later(oid: &str) -> Error {
    Error::new(ErrorCode::Unavailable, format!("LFS object {oid} was being deleted as unused; upload it again"))
}

/// Links an object whose bytes the caller has just stored to `repo_id`, and checks the bytes are still
/// there afterwards. While the collector deletes the same content, the caller gets a retryable 503 and
/// nothing is linked.
pub async fn link_stored(hub: &Hub, repo_id: i64, oid: &str, size: u64) -> Result<()> {
    match hub.store.link_lfs_object(repo_id, oid, size, now_millis()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(retry_later(oid)),
        Err(e) => return Err(e.into()),
    }
    if hub.blobs.size(oid).await? != Some(size) {
        // Deleted between our upload and our link by a collection that has finished since.
        hub.store.unlink_lfs_object(repo_id, oid).await?;
        hub.lfs_links.invalidate(&(repo_id, oid.to_string()));
        return Err(retry_later(oid));
    }
    Ok(())
}

/// Deletes the bytes of every unlinked object last written before `now - grace` (younger ones may be
/// uploads about to be linked), after finishing what a stopped run left doomed.
pub async fn collect(hub: &Hub, grace: Duration) -> Result<LfsGcReport> {
    let mut report = LfsGcReport { resumed_deletions: resume(hub).await?, ..Default::default() };
    let claim: i64 = rand::thread_rng().gen();
    for (oid, modified, size) in hub.blobs.list_lfs().await? {
        let young = modified.elapsed().map_or(true, |age| age < grace);
        // The cheap check first; the decision is `doom_lfs_blob`'s.
        if young || hub.store.lfs_object_referenced(&oid).await? {
            continue;
        }
        if hub.store.doom_lfs_blob(&oid, claim, now_millis()).await? {
            hub.blobs.delete(&oid).await?;
            hub.store.lfs_blob_deleted(&oid, claim).await?;
            report.objects_deleted += 1;
            report.bytes_freed += size;
        }
    }
    Ok(report)
}

/// Finishes the deletions of collectors that stopped (dooms older than [`STALE`]); returns how many.
pub async fn resume(hub: &Hub) -> Result<u64> {
    let stale = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    let mut done = 0;
    loop {
        let dooms = hub.store.stale_lfs_dooms(now_millis().saturating_sub(stale), 100).await?;
        let mut taken = 0;
        for (oid, old) in dooms {
            let claim: i64 = rand::thread_rng().gen();
            // Claimed by another resumer meanwhile: theirs to finish.
            if hub.store.take_over_lfs_doom(&oid, old, claim).await? {
                hub.blobs.delete(&oid).await?;
                hub.store.lfs_blob_deleted(&oid, claim).await?;
                taken += 1;
            }
        }
        if taken == 0 {
            return Ok(done);
        }
        done += taken;
    }
}
