//! What a commit changed, for the web UI's commit page: its files against the first parent, with line
//! diffs of text files. A diff shows file contents, so it needs `RepoDownload`: a gated repository's
//! content stays behind its gate.

use super::{at_revision, AtRevision};
use crate::hub::blocking;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::{CommitDiff, DiffLimits};
use gatehouse_types::{RepoType, Result, Revision};

/// The commit `rev` (branch, tag, `refs/…` or commit id) resolves to, diffed against its first parent
/// within `DiffLimits::default()` (300 files, 512 KiB per file, 20 000 lines).
pub async fn commit_diff(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
) -> Result<CommitDiff> {
    let AtRevision { repo, commit } = at_revision(hub, subject, t, ns, name, rev, Action::RepoDownload).await?;
    let git = hub.git.clone();
    let key = repo.storage_key;
    blocking(move || Ok(git.with_repo(&key, |r| r.commit_diff(commit, &DiffLimits::default()))?)).await
}
