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
    let existing = match at_revision(hub, subject, t, ns, name, rev, Action::RepoWrite).await {
        Ok(AtRevision { repo, commit }) => {
            let git = hub.git.clone();
            let lookup = paths.clone();
            blocking(move || {
                let r = git.open(&repo.storage_key)?;
                lookup.iter().map(|p| Ok(r.entry(commit, p.as_str())?)).collect::<Result<Vec<_>>>()
            })
            .await?
        }
        Err(e) if e.code == gatehouse_types::ErrorCode::RevisionNotFound => {
            crate::access::authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
            vec![None; paths.len()]
        }
        Err(e) => return Err(e),
    };
    let ignore = gitignore.map(ignore_set).unwrap_or_else(GlobSet::empty);
    Ok(files
        .into_iter()
        .zip(existing)
        .map(|(f, entry)| PreuploadAnswer {
            should_ignore: ignore.is_match(&f.path),
            path: f.path,
            upload_mode: "regular",
            // Only git-stored files have the blob id the client compares with.
            oid: entry.filter(|e| e.lfs.is_none()).map(|e| e.oid.to_string()),
        })
        .collect())
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
