//! Rewriting history to purge files: every commit reachable from a branch, tag or pull-request ref is
//! rebuilt without the files to drop, keeping authors, dates and messages; untouched commits keep their
//! ids. Used when LFS content is permanently deleted with `rewriteHistory`.

use crate::pointer::{LfsPointer, MAX_POINTER_SIZE};
use crate::{GitError, GitResult, Repo};
use git2::{ObjectType, Oid, Sort};
use std::collections::{HashMap, HashSet};

const REWRITTEN_NAMESPACES: [&str; 4] = ["refs/heads/", "refs/tags/", "refs/pr/", "refs/convert/"];

struct Rewriter<'r> {
    repo: &'r Repo,
    lfs_oids: &'r HashSet<String>,
    trees: HashMap<Oid, Option<Oid>>,
    blobs: HashMap<Oid, bool>,
}

impl Rewriter<'_> {
    /// Whether a blob is an LFS pointer to one of the objects being purged.
    fn drops(&mut self, blob: Oid) -> GitResult<bool> {
        if let Some(d) = self.blobs.get(&blob) {
            return Ok(*d);
        }
        let (size, _) = self.repo.git.odb()?.read_header(blob)?;
        let d = size <= MAX_POINTER_SIZE
            && LfsPointer::parse(self.repo.git.find_blob(blob)?.content())
                .is_some_and(|p| self.lfs_oids.contains(&p.oid));
        self.blobs.insert(blob, d);
        Ok(d)
    }

    /// The tree without dropped files (None when nothing is left); memoized, since most subtrees repeat
    /// from commit to commit.
    fn tree(&mut self, id: Oid) -> GitResult<Option<Oid>> {
        if let Some(t) = self.trees.get(&id) {
            return Ok(*t);
        }
        let tree = self.repo.git.find_tree(id)?;
        let mut builder = self.repo.git.treebuilder(None)?;
        let mut changed = false;
        for e in tree.iter() {
            let Some(name) = e.name() else { continue };
            let kept = match e.kind() {
                Some(ObjectType::Blob) if self.drops(e.id())? => None,
                Some(ObjectType::Tree) => self.tree(e.id())?,
                _ => Some(e.id()),
            };
            changed |= kept != Some(e.id());
            if let Some(k) = kept {
                builder.insert(name, k, e.filemode())?;
            }
        }
        let result = match (changed, builder.len()) {
            (false, _) => Some(id),
            (true, 0) => None,
            (true, _) => Some(builder.write()?),
        };
        self.trees.insert(id, result);
        Ok(result)
    }
}

impl Repo {
    /// Removes, from every commit of every branch, tag and PR ref, the files that are LFS pointers to one
    /// of `lfs_oids`. Refs move by compare-and-swap; if one moved meanwhile, the call fails as stale and
    /// may be repeated. Returns how many commits were rewritten.
    pub fn purge_lfs_objects(&self, lfs_oids: &HashSet<String>) -> GitResult<usize> {
        let mut refs: Vec<(String, Oid, Oid)> = Vec::new(); // (name, direct target, peeled commit)
        for r in self.git.references()? {
            let r = r?;
            let (Some(name), Some(target)) = (r.name().map(str::to_string), r.target()) else { continue };
            if !REWRITTEN_NAMESPACES.iter().any(|ns| name.starts_with(ns)) {
                continue;
            }
            if let Ok(c) = r.peel_to_commit() {
                refs.push((name, target, c.id()));
            }
        }
        let mut walk = self.git.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
        for (_, _, commit) in &refs {
            walk.push(*commit)?;
        }
        let mut rw = Rewriter { repo: self, lfs_oids, trees: HashMap::new(), blobs: HashMap::new() };
        let mut mapped: HashMap<Oid, Oid> = HashMap::new();
        let mut rewritten = 0;
        for id in walk {
            let c = self.git.find_commit(id?)?;
            let parents: Vec<Oid> = c.parent_ids().map(|p| mapped.get(&p).copied().unwrap_or(p)).collect();
            let tree_id = match rw.tree(c.tree_id())? {
                Some(t) => t,
                None => self.git.treebuilder(None)?.write()?,
            };
            if tree_id == c.tree_id() && parents.iter().eq(c.parent_ids().collect::<Vec<_>>().iter()) {
                mapped.insert(c.id(), c.id());
                continue;
            }
            let tree = self.git.find_tree(tree_id)?;
            let parent_commits = parents.iter().map(|p| self.git.find_commit(*p)).collect::<Result<Vec<_>, _>>()?;
            let parent_refs: Vec<&git2::Commit<'_>> = parent_commits.iter().collect();
            let message = c.message_raw().unwrap_or("");
            let new = self.git.commit(None, &c.author(), &c.committer(), message, &tree, &parent_refs)?;
            mapped.insert(c.id(), new);
            rewritten += 1;
        }
        for (name, target, commit) in refs {
            let Some(&new_commit) = mapped.get(&commit).filter(|n| **n != commit) else { continue };
            // Annotated tags are re-made on the rewritten commit, with their tagger and message.
            let new_target = match self.git.find_tag(target) {
                Ok(tag) => {
                    let object = self.git.find_object(new_commit, None)?;
                    let tagger = tag.tagger().ok_or_else(|| GitError::Invalid(format!("tag {name} has no tagger")))?;
                    self.git.tag_annotation_create(
                        tag.name().unwrap_or(""),
                        &object,
                        &tagger,
                        tag.message().unwrap_or(""),
                    )?
                }
                Err(_) => new_commit,
            };
            self.git
                .reference_matching(&name, new_target, true, target, "purge LFS objects")
                .map_err(|_| GitError::Stale { current: name.clone() })?;
        }
        Ok(rewritten)
    }
}
