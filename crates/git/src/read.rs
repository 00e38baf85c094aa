//! Reading content at a commit: tree listings, single entries, blobs and history.

use crate::pointer::{LfsPointer, MAX_POINTER_SIZE};
use crate::{GitError, GitResult, Repo};
use git2::{ObjectType, Oid, TreeWalkMode, TreeWalkResult};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    /// The git object id (blob sha1 for files, tree sha1 for directories).
    pub oid: Oid,
    /// The blob's size in git (the pointer's size for LFS files); 0 for directories.
    pub size: u64,
    /// Set when the blob is a Git-LFS pointer.
    pub lfs: Option<LfsPointer>,
}

impl TreeEntry {
    /// The size of the file's content, wherever it is stored.
    pub fn content_size(&self) -> u64 {
        self.lfs.as_ref().map_or(self.size, |p| p.size)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: Oid,
    pub title: String,
    /// The message body after the title line (may be empty).
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    /// Milliseconds since the epoch (the committer time).
    pub time_millis: i64,
    pub tree: Oid,
}

impl Repo {
    fn tree_at(&self, commit: Oid) -> GitResult<git2::Tree<'_>> {
        Ok(self.git.find_commit(commit)?.tree()?)
    }

    fn make_entry(&self, path: String, oid: Oid, kind: Option<ObjectType>) -> GitResult<Option<TreeEntry>> {
        match kind {
            Some(ObjectType::Tree) => Ok(Some(TreeEntry { path, kind: EntryKind::Directory, oid, size: 0, lfs: None })),
            Some(ObjectType::Blob) => {
                // The header gives the size without inflating the whole object.
                let (size, _) = self.git.odb()?.read_header(oid)?;
                let lfs =
                    if size <= MAX_POINTER_SIZE { LfsPointer::parse(self.git.find_blob(oid)?.content()) } else { None };
                Ok(Some(TreeEntry { path, kind: EntryKind::File, oid, size: size as u64, lfs }))
            }
            // Submodules and the like: not part of a Hub repository.
            _ => Ok(None),
        }
    }

    /// The entry at `path` in `commit`, file or directory. What a commit holds never changes, so the
    /// answer is cached (missing entries too): a download's HEAD then costs one ref read, no object reads.
    pub fn entry(&self, commit: Oid, path: &str) -> GitResult<Option<TreeEntry>> {
        type Key = (Oid, String);
        static ENTRIES: std::sync::OnceLock<moka::sync::Cache<Key, Option<TreeEntry>>> = std::sync::OnceLock::new();
        let cache = ENTRIES.get_or_init(|| moka::sync::Cache::new(100_000));
        let key = (commit, path.to_string());
        if let Some(e) = cache.get(&key) {
            return Ok(e);
        }
        let found = self.lookup_entry(commit, path)?;
        cache.insert(key, found.clone());
        Ok(found)
    }

    fn lookup_entry(&self, commit: Oid, path: &str) -> GitResult<Option<TreeEntry>> {
        let tree = self.tree_at(commit)?;
        match tree.get_path(Path::new(path)) {
            Ok(e) => self.make_entry(path.to_string(), e.id(), e.kind()),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Entries below `dir` (the root when None), sorted by path; directories are included in recursive
    /// listings too. None when `dir` does not exist or is a file.
    pub fn list(&self, commit: Oid, dir: Option<&str>, recursive: bool) -> GitResult<Option<Vec<TreeEntry>>> {
        let root = self.tree_at(commit)?;
        let (tree, prefix) = match dir {
            None => (root, String::new()),
            Some(d) => match root.get_path(Path::new(d)) {
                Ok(e) if e.kind() == Some(ObjectType::Tree) => (self.git.find_tree(e.id())?, format!("{d}/")),
                Ok(_) => return Ok(None),
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            },
        };
        let mut raw: Vec<(String, Oid, Option<ObjectType>)> = Vec::new();
        if recursive {
            tree.walk(TreeWalkMode::PreOrder, |parent, e| {
                if let Some(name) = e.name() {
                    raw.push((format!("{prefix}{parent}{name}"), e.id(), e.kind()));
                }
                TreeWalkResult::Ok
            })?;
        } else {
            for e in tree.iter() {
                if let Some(name) = e.name() {
                    raw.push((format!("{prefix}{name}"), e.id(), e.kind()));
                }
            }
        }
        let mut out = Vec::with_capacity(raw.len());
        for (path, oid, kind) in raw {
            if let Some(entry) = self.make_entry(path, oid, kind)? {
                out.push(entry);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Some(out))
    }

    pub fn read_blob(&self, oid: Oid) -> GitResult<Vec<u8>> {
        Ok(self.git.find_blob(oid)?.content().to_vec())
    }

    pub fn write_blob(&self, data: &[u8]) -> GitResult<Oid> {
        Ok(self.git.blob(data)?)
    }

    pub fn write_blob_from_file(&self, path: &Path) -> GitResult<Oid> {
        Ok(self.git.blob_path(path)?)
    }

    pub fn commit_info(&self, id: Oid) -> GitResult<CommitInfo> {
        let c = self.git.find_commit(id).map_err(|_| GitError::RevisionNotFound(id.to_string()))?;
        Ok(to_info(&c))
    }

    /// History from `from`, newest first: `skip` commits are passed over, at most `limit` returned, and
    /// whether more follow.
    pub fn log(&self, from: Oid, skip: usize, limit: usize) -> GitResult<(Vec<CommitInfo>, bool)> {
        let mut walk = self.git.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
        walk.push(from)?;
        let mut out = Vec::new();
        let mut more = false;
        for (i, id) in walk.enumerate().skip(skip) {
            if i >= skip + limit {
                more = true;
                break;
            }
            out.push(to_info(&self.git.find_commit(id?)?));
        }
        Ok((out, more))
    }

    /// For each path, the newest commit (reachable from `from`) that changed it; walks at most `budget`
    /// commits, leaving paths not settled by then out of the map.
    pub fn last_commits(
        &self,
        from: Oid,
        paths: &[String],
        budget: usize,
    ) -> GitResult<std::collections::HashMap<String, CommitInfo>> {
        let mut found = std::collections::HashMap::new();
        let mut walk = self.git.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
        walk.push(from)?;
        let id_at = |tree: &git2::Tree<'_>, p: &str| tree.get_path(Path::new(p)).ok().map(|e| e.id());
        for id in walk.take(budget) {
            let commit = self.git.find_commit(id?)?;
            let tree = commit.tree()?;
            let parent_tree = match commit.parent(0) {
                Ok(p) => Some(p.tree()?),
                Err(_) => None,
            };
            for p in paths {
                if found.contains_key(p) {
                    continue;
                }
                let here = id_at(&tree, p);
                let before = parent_tree.as_ref().and_then(|t| id_at(t, p));
                if here.is_some() && here != before {
                    found.insert(p.clone(), to_info(&commit));
                }
            }
            if found.len() == paths.len() {
                break;
            }
        }
        Ok(found)
    }
}

pub(crate) fn to_info(c: &git2::Commit<'_>) -> CommitInfo {
    let full = c.message().unwrap_or("").to_string();
    let (title, rest) = full.split_once('\n').unwrap_or((full.as_str(), ""));
    let author = c.author();
    CommitInfo {
        id: c.id(),
        title: title.trim_end().to_string(),
        message: rest.trim_start_matches('\n').trim_end().to_string(),
        author_name: author.name().unwrap_or("").to_string(),
        author_email: author.email().unwrap_or("").to_string(),
        time_millis: c.committer().when().seconds() * 1000,
        tree: c.tree_id(),
    }
}
