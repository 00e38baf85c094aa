//! Revisions and refs: resolving what the client names (branch, tag, `refs/pr/N`, commit id) to a commit,
//! listing refs, and creating or deleting branches and tags.

use crate::{GitError, GitResult, Repo, Signature};
use git2::{ErrorCode, Oid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRev {
    pub commit: Oid,
    /// The full ref name when the revision named a ref (`refs/heads/main`); None for a commit id.
    pub ref_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefInfo {
    /// Short name as the Hub shows it (`main`, `v1`, `refs/pr/1`→`1` for PRs is left to the caller).
    pub name: String,
    pub ref_name: String,
    pub target: Oid,
}

#[derive(Debug, Clone, Default)]
pub struct Refs {
    pub branches: Vec<RefInfo>,
    pub tags: Vec<RefInfo>,
    pub converts: Vec<RefInfo>,
    pub pull_requests: Vec<RefInfo>,
}

pub const DEFAULT_BRANCH: &str = "main";

impl Repo {
    /// Branch first, then tag, then a full ref name, then a 40-hex commit id.
    pub fn resolve(&self, rev: &str) -> GitResult<ResolvedRev> {
        let mut candidates = vec![format!("refs/heads/{rev}"), format!("refs/tags/{rev}")];
        if rev.starts_with("refs/") {
            candidates.insert(0, rev.to_string());
        }
        for name in candidates {
            if !git2::Reference::is_valid_name(&name) {
                continue;
            }
            match self.git.find_reference(&name) {
                Ok(r) => {
                    let commit = r.peel_to_commit()?;
                    return Ok(ResolvedRev { commit: commit.id(), ref_name: Some(name) });
                }
                Err(e) if e.code() == ErrorCode::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // A full commit id, or an unambiguous abbreviation of at least 7 hex digits.
        if (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(commit) = self.git.revparse_single(rev).and_then(|o| o.peel_to_commit()) {
                return Ok(ResolvedRev { commit: commit.id(), ref_name: None });
            }
        }
        Err(GitError::RevisionNotFound(rev.to_string()))
    }

    /// The commit a full ref points to, if the ref exists.
    pub fn ref_target(&self, ref_name: &str) -> GitResult<Option<Oid>> {
        match self.git.find_reference(ref_name) {
            Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn refs(&self) -> GitResult<Refs> {
        let mut out = Refs::default();
        for r in self.git.references()? {
            let r = r?;
            let Some(full) = r.name().map(str::to_string) else { continue };
            let Ok(commit) = r.peel_to_commit() else { continue };
            let info = |name: &str| RefInfo { name: name.to_string(), ref_name: full.clone(), target: commit.id() };
            if let Some(n) = full.strip_prefix("refs/heads/") {
                out.branches.push(info(n));
            } else if let Some(n) = full.strip_prefix("refs/tags/") {
                out.tags.push(info(n));
            } else if let Some(n) = full.strip_prefix("refs/convert/") {
                out.converts.push(info(n));
            } else if full.starts_with("refs/pr/") {
                out.pull_requests.push(info(&full));
            }
        }
        for list in [&mut out.branches, &mut out.tags, &mut out.converts, &mut out.pull_requests] {
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(out)
    }

    pub fn create_branch(&self, name: &str, target: Oid) -> GitResult<()> {
        let full = valid_ref("refs/heads/", name)?;
        match self.git.reference(&full, target, false, "branch: create") {
            Ok(_) => Ok(()),
            Err(e) if e.code() == ErrorCode::Exists => {
                Err(GitError::Conflict(format!("Reference {full} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn delete_branch(&self, name: &str) -> GitResult<()> {
        if name == DEFAULT_BRANCH {
            return Err(GitError::Invalid(format!(
                "Cannot delete refs/heads/{DEFAULT_BRANCH}: it is the default branch"
            )));
        }
        self.delete_ref(&valid_ref("refs/heads/", name)?, name)
    }

    /// A lightweight tag, or an annotated one when a message is given. Refuses to move an existing tag.
    pub fn create_tag(&self, name: &str, target: Oid, message: Option<&str>, tagger: &Signature) -> GitResult<()> {
        let full = valid_ref("refs/tags/", name)?;
        if self.git.find_reference(&full).is_ok() {
            return Err(GitError::Conflict(format!("Reference {full} already exists")));
        }
        let object = self.git.find_object(target, None)?;
        let result = match message {
            Some(m) => self.git.tag(name, &object, &tagger.to_git()?, m, false).map(|_| ()),
            None => self.git.tag_lightweight(name, &object, false).map(|_| ()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.code() == ErrorCode::Exists => {
                Err(GitError::Conflict(format!("Reference {full} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn delete_tag(&self, name: &str) -> GitResult<()> {
        self.delete_ref(&valid_ref("refs/tags/", name)?, name)
    }

    fn delete_ref(&self, full: &str, short: &str) -> GitResult<()> {
        match self.git.find_reference(full) {
            Ok(mut r) => Ok(r.delete()?),
            Err(e) if e.code() == ErrorCode::NotFound => Err(GitError::RevisionNotFound(short.to_string())),
            Err(e) => Err(e.into()),
        }
    }
}

fn valid_ref(prefix: &str, name: &str) -> GitResult<String> {
    let full = format!("{prefix}{name}");
    if name.is_empty() || name.starts_with("refs/") || !git2::Reference::is_valid_name(&full) {
        return Err(GitError::Invalid(format!("Invalid reference name '{name}'")));
    }
    Ok(full)
}
