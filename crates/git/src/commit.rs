//! Atomic commits: apply path operations to the branch head's tree, write the commit, then move the ref
//! by compare-and-swap. A commit that names its parent fails as stale when the branch moved; one that
//! does not is rebased onto the new head and retried, so two racing commits never lose either silently.

use crate::read::EntryKind;
use crate::{GitError, GitResult, Repo};
use git2::{ErrorCode, FileMode, Oid};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
}

impl Signature {
    pub(crate) fn to_git(&self) -> GitResult<git2::Signature<'static>> {
        Ok(git2::Signature::now(&self.name, &self.email)?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeOp {
    /// Add or replace a file with an existing blob.
    Upsert { path: String, blob: Oid },
    /// Remove a file, or every file below a folder of that name.
    Delete { path: String },
    /// Remove every file below a folder.
    DeleteFolder { path: String },
}

#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// Full ref name, e.g. `refs/heads/main` or `refs/pr/3`.
    pub ref_name: String,
    /// `Some` pins the parent: the commit fails as stale unless the ref still points there.
    pub expected_parent: Option<Oid>,
    /// Where a ref that does not exist yet starts (None with `create_ref` makes a root commit).
    pub create_from: Option<Oid>,
    pub create_ref: bool,
    pub ops: Vec<TreeOp>,
    pub title: String,
    pub description: String,
    pub author: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    pub commit: Oid,
    pub parent: Option<Oid>,
}

/// Attempts before giving up on a ref that keeps moving under us (callers in one process also queue per
/// repository, so this is only reached by several writers racing at once).
const MAX_REBASES: u32 = 64;

#[derive(Debug)]
enum Node {
    File(Oid, i32),
    Dir(BTreeMap<String, Node>),
}

impl Repo {
    pub fn commit(&self, req: &CommitRequest) -> GitResult<CommitOutcome> {
        let message = if req.description.trim().is_empty() {
            req.title.clone()
        } else {
            format!("{}\n\n{}", req.title, req.description)
        };
        let sig = req.author.to_git()?;
        for attempt in 0..MAX_REBASES {
            let head = self.ref_target(&req.ref_name)?;
            if head.is_none() && !req.create_ref {
                return Err(GitError::RevisionNotFound(req.ref_name.clone()));
            }
            if let Some(expected) = req.expected_parent {
                if head != Some(expected) {
                    return Err(GitError::Stale { current: head.map(|h| h.to_string()).unwrap_or_default() });
                }
            }
            let parent = head.or(req.create_from);
            let mut root = match parent {
                Some(p) => self.load_tree(self.git.find_commit(p)?.tree_id())?,
                None => BTreeMap::new(),
            };
            for op in &req.ops {
                apply(&mut root, op)?;
            }
            let tree = self.git.find_tree(self.write_tree(&root)?)?;
            let parents: Vec<git2::Commit<'_>> =
                parent.map(|p| self.git.find_commit(p)).transpose()?.into_iter().collect();
            let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
            let commit = self.git.commit(None, &sig, &sig, &message, &tree, &parent_refs)?;
            match self.swap_ref(&req.ref_name, head, commit) {
                Ok(()) => return Ok(CommitOutcome { commit, parent }),
                Err(e) if e.code() == ErrorCode::Locked && self.clear_stale_lock(&req.ref_name) => continue,
                Err(e) if is_race(&e) => {
                    if req.expected_parent.is_some() {
                        let current = self.ref_target(&req.ref_name)?.map(|h| h.to_string()).unwrap_or_default();
                        return Err(GitError::Stale { current });
                    }
                    // Someone else committed first: back off a little (jittered, so racers spread out),
                    // then rebase our operations onto their head.
                    backoff(attempt);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(GitError::Conflict(format!("{} is being updated by another writer; try again", req.ref_name)))
    }

    /// A lock left by a process that died between taking a ref's lock and renaming it into place would
    /// block the branch for good; libgit2 and git hold these for microseconds, so an old one is stale.
    fn clear_stale_lock(&self, ref_name: &str) -> bool {
        let lock = self.git.path().join(format!("{ref_name}.lock"));
        crate::store::is_stale_lock(&lock) && std::fs::remove_file(&lock).is_ok()
    }

    /// Replaces the branch's history with one root commit holding its current tree.
    pub fn squash(&self, ref_name: &str, title: &str, author: &crate::Signature) -> GitResult<Oid> {
        let head = self.ref_target(ref_name)?.ok_or_else(|| GitError::RevisionNotFound(ref_name.to_string()))?;
        let tree = self.git.find_commit(head)?.tree()?;
        let sig = author.to_git()?;
        let commit = self.git.commit(None, &sig, &sig, title, &tree, &[])?;
        match self.swap_ref(ref_name, Some(head), commit) {
            Ok(()) => Ok(commit),
            Err(e) if is_race(&e) => Err(GitError::Stale { current: String::new() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves `ref_name` from `old` to `new` only if it still points at `old` (or creates it when `old` is None).
    fn swap_ref(&self, ref_name: &str, old: Option<Oid>, new: Oid) -> Result<(), git2::Error> {
        match old {
            Some(old) => self.git.reference_matching(ref_name, new, true, old, "commit").map(|_| ()),
            None => self.git.reference(ref_name, new, false, "commit (initial)").map(|_| ()),
        }
    }

    fn load_tree(&self, id: Oid) -> GitResult<BTreeMap<String, Node>> {
        let tree = self.git.find_tree(id)?;
        let mut out = BTreeMap::new();
        for e in tree.iter() {
            let Some(name) = e.name() else { continue };
            let node = match e.kind() {
                Some(git2::ObjectType::Tree) => Node::Dir(self.load_tree(e.id())?),
                Some(git2::ObjectType::Blob) => Node::File(e.id(), e.filemode()),
                _ => continue,
            };
            out.insert(name.to_string(), node);
        }
        Ok(out)
    }

    fn write_tree(&self, dir: &BTreeMap<String, Node>) -> GitResult<Oid> {
        let mut builder = self.git.treebuilder(None)?;
        for (name, node) in dir {
            match node {
                Node::File(oid, mode) => builder.insert(name, *oid, *mode)?,
                // Git has no empty directories: a folder emptied by deletions disappears.
                Node::Dir(children) if children.is_empty() => continue,
                Node::Dir(children) => builder.insert(name, self.write_tree(children)?, FileMode::Tree.into())?,
            };
        }
        Ok(builder.write()?)
    }
}

fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let micros = 200 * u64::from(attempt.min(20) + 1) + u64::from(nanos % 1000);
    std::thread::sleep(std::time::Duration::from_micros(micros));
}

fn is_race(e: &git2::Error) -> bool {
    matches!(e.code(), ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked)
}

fn apply(root: &mut BTreeMap<String, Node>, op: &TreeOp) -> GitResult<()> {
    match op {
        TreeOp::Upsert { path, blob } => {
            let (dirs, name) = split(path);
            let mut cur = root;
            for (i, d) in dirs.iter().enumerate() {
                let node = cur.entry(d.to_string()).or_insert_with(|| Node::Dir(BTreeMap::new()));
                cur = match node {
                    Node::Dir(children) => children,
                    Node::File(..) => {
                        let at = dirs[..=i].join("/");
                        return Err(GitError::Invalid(format!("Cannot add '{path}': '{at}' is a file")));
                    }
                };
            }
            if let Some(Node::Dir(_)) = cur.get(name) {
                return Err(GitError::Invalid(format!("Cannot add '{path}': a folder of that name exists")));
            }
            cur.insert(name.to_string(), Node::File(*blob, FileMode::Blob.into()));
            Ok(())
        }
        TreeOp::Delete { path } => remove(root, path, None),
        TreeOp::DeleteFolder { path } => remove(root, path, Some(EntryKind::Directory)),
    }
}

fn remove(root: &mut BTreeMap<String, Node>, path: &str, only: Option<EntryKind>) -> GitResult<()> {
    let (dirs, name) = split(path);
    let mut cur = root;
    for d in dirs {
        cur = match cur.get_mut(d) {
            Some(Node::Dir(children)) => children,
            _ => return Err(GitError::EntryNotFound(path.to_string())),
        };
    }
    match (cur.get(name), only) {
        (Some(Node::File(..)), Some(EntryKind::Directory)) | (None, _) => {
            Err(GitError::EntryNotFound(path.to_string()))
        }
        (Some(_), _) => {
            cur.remove(name);
            Ok(())
        }
    }
}

fn split(path: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = path.split('/').collect();
    let name = parts.pop().unwrap_or("");
    (parts, name)
}
