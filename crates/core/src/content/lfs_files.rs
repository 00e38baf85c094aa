//! A repository's LFS objects, as its owners manage storage: listing them (with a file and branch that
//! use each), and permanently deleting them. Deleting unlinks the object from the repository at once — it
//! is no longer served, and a commit can no longer reference it — and leaves the bytes to garbage
//! collection, which removes objects no repository holds after a grace period (so an upload of the same
//! content racing the deletion elsewhere cannot lose its data).

use crate::access::authorize_repo;
use crate::hub::blocking;
use crate::time::iso8601;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::EntryKind;
use gatehouse_store::LfsStore;
use gatehouse_types::{Error, RepoType, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Serialize)]
pub struct LfsFileItem {
    #[serde(rename = "fileOid")]
    pub file_oid: String,
    pub filename: String,
    /// The git blob id of the pointer.
    pub oid: String,
    #[serde(rename = "pushedAt")]
    pub pushed_at: String,
    #[serde(rename = "ref")]
    pub ref_name: Option<String>,
    pub size: u64,
}

/// Where each LFS object is used: the first file found, on the default branch first.
fn usages(r: &gatehouse_git::Repo) -> Result<HashMap<String, (String, String, String)>> {
    let refs = r.refs()?;
    let mut branches = refs.branches;
    branches.sort_by_key(|b| (b.name != "main", b.name.clone()));
    let mut found = HashMap::new();
    for b in branches {
        for e in r.list(b.target, None, true)?.unwrap_or_default() {
            if let (EntryKind::File, Some(p)) = (e.kind, &e.lfs) {
                found.entry(p.oid.clone()).or_insert_with(|| (e.path.clone(), b.name.clone(), e.oid.to_string()));
            }
        }
    }
    Ok(found)
}

pub async fn list(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    offset: usize,
    limit: usize,
) -> Result<(Vec<LfsFileItem>, bool)> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let mut links = hub.store.list_lfs_objects(repo.id, offset as u64, limit as u32 + 1).await?;
    let more = links.len() > limit;
    links.truncate(limit);
    let git = hub.git.clone();
    let used = blocking(move || usages(&git.open(&repo.storage_key)?)).await?;
    Ok((
        links
            .into_iter()
            .map(|l| {
                let (filename, ref_name, oid) =
                    used.get(&l.oid).cloned().map_or((String::new(), None, String::new()), |(f, r, o)| (f, Some(r), o));
                LfsFileItem { file_oid: l.oid, filename, oid, pushed_at: iso8601(l.pushed_at), ref_name, size: l.size }
            })
            .collect(),
        more,
    ))
}

/// With `rewrite_history`, every commit is rewritten without the files pointing at the deleted objects
/// (as the Hub does); without it, the pointers stay but their content is no longer served.
pub async fn delete(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    oids: &[String],
    rewrite_history: bool,
) -> Result<usize> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoManage).await?;
    if oids.len() > 1000 {
        return Err(Error::bad_request("At most 1000 objects per request"));
    }
    let oids: HashSet<String> = oids.iter().map(|o| o.to_ascii_lowercase()).collect();
    if rewrite_history {
        let lock = hub.write_lock(repo.id);
        let _queued = lock.lock().await;
        let git = hub.git.clone();
        let (key, purge) = (repo.storage_key.clone(), oids.clone());
        blocking(move || Ok(git.open(&key)?.purge_lfs_objects(&purge)?)).await?;
    }
    let mut removed = 0;
    for oid in &oids {
        if hub.store.unlink_lfs_object(repo.id, oid).await? {
            removed += 1;
        }
    }
    hub.authorization_changed().await?;
    Ok(removed)
}
