//! Finding a file for download: what the resolve route serves and the metadata its HEAD reports.

use crate::access::authorize_repo;
use crate::hub::blocking;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::{EntryKind, Oid};
use gatehouse_store::RepoRecord;
use gatehouse_types::{RepoPath, RepoType, Result, Revision};

#[derive(Debug, Clone)]
pub struct FileMeta {
    pub repo: RepoRecord,
    /// The commit the revision resolved to (`X-Repo-Commit`).
    pub commit: String,
    pub path: RepoPath,
    /// Content size (the LFS object's size for LFS files).
    pub size: u64,
    /// Git blob id: the ETag of regular files.
    pub blob_oid: Oid,
    /// sha256 of LFS content: the ETag of LFS files.
    pub lfs_oid: Option<String>,
    /// The Xet file holding the LFS content, when it was uploaded through Xet.
    pub xet_hash: Option<String>,
}

impl FileMeta {
    /// The Hub's convention: git blob sha1 for regular files, content sha256 for LFS files.
    pub fn etag(&self) -> String {
        self.lfs_oid.clone().unwrap_or_else(|| self.blob_oid.to_string())
    }
}

pub enum Resolved {
    File(Box<FileMeta>),
    /// No file at that path; the commit is still reported so the client can cache the absence.
    Missing {
        commit: String,
    },
}

pub async fn file(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    path: &RepoPath,
) -> Result<Resolved> {
    // The card stays readable on a gated repository, so the gate can be shown.
    let action = if path.as_str() == "README.md" { Action::RepoRead } else { Action::RepoDownload };
    let repo = authorize_repo(hub, subject, t, ns, name, action).await?;
    let git = hub.git.clone();
    let (key, rev, p) = (repo.storage_key.clone(), rev.as_str().to_string(), path.as_str().to_string());
    // Inline, on a cached handle: a ref file and a tree read from the page cache take microseconds, less
    // than handing the work to the blocking pool would cost. This is the path every download takes.
    let (commit, entry) = git.with_repo(&key, |r| {
        let commit = r.resolve(&rev)?.commit;
        Ok((commit, r.entry(commit, &p)?))
    })?;
    // A repository only serves LFS content it holds: a pointer to content deleted from it (or never
    // uploaded to it) is not a way to read another repository's bytes.
    let mut xet_hash = None;
    if let Some(p) = entry.as_ref().and_then(|e| e.lfs.as_ref()) {
        let link = crate::lfs::link_facts(hub, repo.id, &p.oid)
            .await?
            .ok_or_else(|| gatehouse_types::Error::entry_not_found(&format!("{path} (its content was deleted)")))?;
        xet_hash = link.xet_hash;
    }
    Ok(match entry {
        Some(e) if e.kind == EntryKind::File => Resolved::File(Box::new(FileMeta {
            commit: commit.to_string(),
            path: path.clone(),
            size: e.content_size(),
            blob_oid: e.oid,
            lfs_oid: e.lfs.map(|p| p.oid),
            xet_hash,
            repo,
        })),
        _ => Resolved::Missing { commit: commit.to_string() },
    })
}

/// The content of a regular (git-stored) file; these are small by construction.
pub async fn git_content(hub: &Hub, meta: &FileMeta) -> Result<Vec<u8>> {
    let git = hub.git.clone();
    let (key, oid) = (meta.repo.storage_key.clone(), meta.blob_oid);
    blocking(move || Ok(git.with_repo(&key, |r| r.read_blob(oid))?)).await
}
