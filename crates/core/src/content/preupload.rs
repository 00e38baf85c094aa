//! `POST …/preupload/{rev}`: tells the client how to send each file. Files the LFS policy claims (over
//! 10 MiB, binary by their sample, or matched by `.gitattributes`) are `lfs`: the client uploads them
//! through Xet (or the LFS batch API) before the commit; the rest are `regular`, inlined in the commit.
//! The `oid` of unchanged files (git blob id, or sha256 for LFS content) lets the client skip them.

use super::policy::LfsPolicy;
use super::{at_revision, AtRevision};
use crate::hub::blocking;
use crate::Hub;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use gatehouse_authz::{Action, Subject};
use gatehouse_types::{RepoPath, RepoType, Result, Revision};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct PreuploadFile {
    pub path: String,
    #[serde(default)]
    pub size: u64,
    /// Base64 of the first 512 bytes, for the binary sniff.
    #[serde(default)]
    pub sample: Option<String>,
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

#[allow(clippy::too_many_arguments)]
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
    let (repo_id, existing, repo_gitignore, gitattributes) =
        match at_revision(hub, subject, t, ns, name, rev, Action::RepoWrite).await {
            Ok(AtRevision { repo, commit }) => {
                let git = hub.git.clone();
                let lookup = paths.clone();
                let (entries, gitignore, gitattributes) = blocking(move || {
                    let r = git.open(&repo.storage_key)?;
                    let entries =
                        lookup.iter().map(|p| Ok(r.entry(commit, p.as_str())?)).collect::<Result<Vec<_>>>()?;
                    Ok((entries, small_text(&r, commit, ".gitignore")?, small_text(&r, commit, ".gitattributes")?))
                })
                .await?;
                (repo.id, entries, gitignore, gitattributes)
            }
            Err(e) if e.code == gatehouse_types::ErrorCode::RevisionNotFound => {
                let repo = crate::access::authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
                (repo.id, vec![None; paths.len()], None, None)
            }
            Err(e) => return Err(e),
        };
    // The .gitignore being uploaded wins over the one in the repository.
    let ignore = gitignore.or(repo_gitignore.as_deref()).map(ignore_set).unwrap_or_else(GlobSet::empty);
    let policy = LfsPolicy::from_gitattributes(gitattributes.as_deref().unwrap_or(""));
    let mut answers = Vec::with_capacity(files.len());
    for (f, entry) in files.into_iter().zip(existing) {
        let sample = f.sample.as_deref().and_then(|s| BASE64.decode(s).ok()).unwrap_or_default();
        let lfs = policy.is_lfs(&f.path, f.size, &sample);
        let oid = match (entry, lfs) {
            (None, _) => None,
            (Some(e), false) => match &e.lfs {
                None => Some(e.oid.to_string()),
                // An LFS file of another size has changed for sure; otherwise compare content ids.
                Some(p) if p.size == f.size => lfs_content_git_oid(hub, repo_id, &p.oid, p.size).await?,
                Some(_) => None,
            },
            (Some(e), true) => e.lfs.as_ref().map(|p| p.oid.clone()),
        };
        answers.push(PreuploadAnswer {
            should_ignore: ignore.is_match(&f.path),
            path: f.path,
            upload_mode: if lfs { "lfs" } else { "regular" },
            oid,
        });
    }
    Ok(answers)
}

/// A small git-stored text file at `commit` (`.gitignore`, `.gitattributes`), if there is one.
fn small_text(r: &gatehouse_git::Repo, commit: gatehouse_git::Oid, path: &str) -> Result<Option<String>> {
    Ok(match r.entry(commit, path)? {
        Some(e) if e.lfs.is_none() && e.size < 1 << 20 => {
            Some(String::from_utf8_lossy(&r.read_blob(e.oid)?).into_owned())
        }
        _ => None,
    })
}

/// The git blob id LFS content would have if stored in git — what the client computes for a `regular`
/// file — so an unchanged large file is not sent again. Computed once per content, then remembered; only
/// from bytes this repository proved it holds (not from a Xet upload's claimed sha256).
async fn lfs_content_git_oid(hub: &Hub, repo_id: i64, oid: &str, size: u64) -> Result<Option<String>> {
    use futures::TryStreamExt;
    use gatehouse_store::LfsStore;
    use sha1::{Digest, Sha1};
    match crate::lfs::link_facts(hub, repo_id, oid).await? {
        Some(link) if link.xet_hash.is_none() => {}
        _ => return Ok(None),
    }
    if let Some(known) = hub.store.lfs_git_blob_oid(oid).await? {
        return Ok(Some(known));
    }
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {size}\0").as_bytes());
    let mut stream = hub.blobs.get(oid, None).await?;
    while let Some(chunk) = stream.try_next().await? {
        hasher.update(&chunk);
    }
    let git_oid = hex::encode(hasher.finalize());
    hub.store.set_lfs_git_blob_oid(oid, &git_oid).await?;
    Ok(Some(git_oid))
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
