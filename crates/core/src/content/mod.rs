//! Repository content: reading trees and files at a revision, and writing commits.

pub mod card;
pub mod commit;
pub mod diff;
pub mod lfs_files;
pub mod ndjson;
pub mod policy;
pub mod preupload;
pub mod read;
pub mod refs;
pub mod resolve;
pub mod spool;

use crate::access::authorize_repo;
use crate::hub::blocking;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::Oid;
use gatehouse_store::RepoRecord;
use gatehouse_types::{RepoType, Result, Revision};

/// A repository the caller may act on, and the commit a revision resolved to.
#[derive(Debug, Clone)]
pub struct AtRevision {
    pub repo: RepoRecord,
    pub commit: Oid,
}

/// Authorizes `action`, then resolves `rev` (branch, tag, `refs/…`, or 40-hex commit).
pub async fn at_revision(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    action: Action,
) -> Result<AtRevision> {
    let repo = authorize_repo(hub, subject, t, ns, name, action).await?;
    let git = hub.git.clone();
    let (key, rev) = (repo.storage_key.clone(), rev.as_str().to_string());
    let commit = blocking(move || Ok(git.with_repo(&key, |r| Ok(r.resolve(&rev)?.commit))?)).await?;
    Ok(AtRevision { repo, commit })
}
