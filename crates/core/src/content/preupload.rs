//! `POST …/preupload/{rev}`: tells the client how to send each file. Until Xet storage exists every
//! file is `regular` (sent inline in the commit); the server still stores large and binary files as LFS
//! objects when the commit arrives. The `oid` of unchanged regular files lets the client skip them.

use super::{at_revision, AtRevision};
use crate::hub::blocking;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_types::{RepoPath, RepoType, Result, Revision};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct PreuploadFile {
    pub path: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Debug, Serialize)]
pub struct PreuploadAnswer {
    pub path: String,
    #[serde(rename = "uploadMode")]
    pub upload_mode: &'static str,
    #[serde(rename = "shouldIgnore")]
    pub should_ignore: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
}

pub async fn preupload(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    files: Vec<PreuploadFile>,
    gitignore: Option<&str>,
) -> Result<Vec<PreuploadAnswer>> {
    let paths: Vec<RepoPath> = files.iter().map(|f| RepoPath::parse(&f.path)).collect::<Result<_>>()?;
    // A branch that does not exist yet is fine: the commit will say so; nothing to compare against.
    let (existing, repo_gitignore) = match at_revision(hub, subject, t, ns, name, rev, Action::RepoWrite).await {
        Ok(AtRevision { repo, commit }) => {
            let git = hub.git.clone();
            let lookup = paths.clone();
            blocking(move || {
                let r = git.open(&repo.storage_key)?;
                let entries = lookup.iter().map(|p| Ok(r.entry(commit, p.as_str())?)).collect::<Result<Vec<_>>>()?;
                let gitignore = match r.entry(commit, ".gitignore")? {
                    Some(e) if e.lfs.is_none() && e.size < 1 << 20 => {
                        Some(String::from_utf8_lossy(&r.read_blob(e.oid)?).into_owned())
                    }
                    _ => None,
                };
                Ok((entries, gitignore))
            })
            .await?
        }
        Err(e) if e.code == gatehouse_types::ErrorCode::RevisionNotFound => {
            crate::access::authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
            (vec![None; paths.len()], None)
        }
        Err(e) => return Err(e),
    };
    // The .gitignore being uploaded wins over the one in the repository.
    let ignore = gitignore.or(repo_gitignore.as_deref()).map(ignore_set).unwrap_or_else(GlobSet::empty);
    let mut answers = Vec::with_capacity(files.len());
    for (f, entry) in files.into_iter().zip(existing) {
        let oid = match entry {
            None => None,
            Some(e) => match &e.lfs {
                None => Some(e.oid.to_string()),
                // An LFS file of another size has changed for sure; otherwise compare content ids.
                Some(p) if p.size == f.size => Some(lfs_content_git_oid(hub, &p.oid, p.size).await?),
                Some(_) => None,
            },
        };
        answers.push(PreuploadAnswer {
            should_ignore: ignore.is_match(&f.path),
            path: f.path,
            upload_mode: "regular",
            oid,
        });
    }
    Ok(answers)
}

/// The git blob id LFS content would have if stored in git — what the client computes for a `regular`
/// file — so an unchanged large file is not sent again. Computed once per content, then remembered.
async fn lfs_content_git_oid(hub: &Hub, oid: &str, size: u64) -> Result<String> {
    use futures::TryStreamExt;
    use gatehouse_store::LfsStore;
    use sha1::{Digest, Sha1};
    if let Some(known) = hub.store.lfs_git_blob_oid(oid).await? {
        return Ok(known);
    }
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {size}\0").as_bytes());
    let mut stream = hub.blobs.get(oid, None).await?;
    while let Some(chunk) = stream.try_next().await? {
        hasher.update(&chunk);
    }
    let git_oid = hex::encode(hasher.finalize());
    hub.store.set_lfs_git_blob_oid(oid, &git_oid).await?;
    Ok(git_oid)
}

/// The file patterns of a `.gitignore` (negations are not supported and ignored).
fn ignore_set(text: &str) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!')) {
        let pat = line.trim_start_matches('/');
        let dir_only = pat.ends_with('/');
        let pat = pat.trim_end_matches('/');
        let base = if line.trim_start_matches('/').trim_end_matches('/').contains('/') {
            pat.to_string()
        } else {
            format!("**/{pat}")
        };
        for p in [base.clone(), format!("{base}/**")] {
            if let Ok(g) = GlobBuilder::new(&p).literal_separator(true).build() {
                b.add(g);
            }
        }
        let _ = dir_only;
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn gitignore_patterns() {
        let s = super::ignore_set("*.log\nbuild/\n/secret.txt\n");
        assert!(s.is_match("a.log") && s.is_match("x/y.log"));
        assert!(s.is_match("build/out.bin") && s.is_match("sub/build/x"));
        assert!(s.is_match("secret.txt"));
        assert!(!s.is_match("main.py"));
    }
}
