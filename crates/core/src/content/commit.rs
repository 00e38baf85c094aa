//! Applying a parsed commit: decide which files go to LFS, publish their content to the blob store,
//! write the git objects, then move the branch by compare-and-swap. All or nothing: until the ref moves,
//! nothing is visible; LFS objects published before a failed commit are unreferenced garbage only.

use super::ndjson::{Operation, ParsedCommit};
use super::policy::LfsPolicy;
use crate::access::authorize_repo;
use crate::hub::blocking;
use crate::time::now_millis;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::{CommitRequest, LfsPointer, Oid, Signature, TreeOp};
use gatehouse_store::{LfsStore, RepoRecord, RepoStore};
use gatehouse_types::{Error, RepoType, Result, Revision};

/// Where a commit goes, checked before its body is read.
#[derive(Debug, Clone)]
pub struct CommitTarget {
    pub repo: RepoRecord,
    /// Full ref name of the branch (`refs/heads/main`, `refs/pr/1`).
    pub ref_name: String,
    pub author: Signature,
}

/// Authorizes a write and checks that `rev` names an existing branch.
pub async fn target(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
) -> Result<CommitTarget> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let author = crate::content::refs::signature(subject)?;
    let r = rev.as_str();
    let ref_name = if r.starts_with("refs/heads/") || r.starts_with("refs/pr/") {
        r.to_string()
    } else if r.starts_with("refs/") || rev.is_commit_id() {
        return Err(Error::bad_request(format!("Commits can only be made to a branch, not to '{r}'")));
    } else {
        format!("refs/heads/{r}")
    };
    let git = hub.git.clone();
    let (key, name) = (repo.storage_key.clone(), ref_name.clone());
    let exists = blocking(move || Ok(git.open(&key)?.ref_target(&name)?.is_some())).await?;
    if !exists {
        return Err(Error::revision_not_found(r));
    }
    Ok(CommitTarget { repo, ref_name, author })
}

/// A file after the LFS decision: either its content goes into git, or a pointer does.
enum Planned {
    Git { path: String, content: Vec<u8> },
    Pointer { path: String, pointer: LfsPointer },
    Delete { path: String },
    DeleteFolder { path: String },
}

pub async fn apply(hub: &Hub, target: &CommitTarget, parsed: ParsedCommit) -> Result<Oid> {
    let lock = hub.write_lock(target.repo.id);
    let _queued = lock.lock().await;
    let (policy, attributes) = lfs_policy(hub, target, &parsed).await?;
    let mut planned = Vec::with_capacity(parsed.operations.len() + 1);
    for op in parsed.operations {
        planned.push(plan(hub, &target.repo, &policy, op).await?);
    }
    track_new_lfs_paths(&mut planned, &policy, attributes);
    let git = hub.git.clone();
    let (key, ref_name, author, header) =
        (target.repo.storage_key.clone(), target.ref_name.clone(), target.author.clone(), parsed.header);
    let commit = blocking(move || {
        let repo = git.open(&key)?;
        let mut ops = Vec::with_capacity(planned.len());
        for p in planned {
            ops.push(match p {
                Planned::Git { path, content } => TreeOp::Upsert { path, blob: repo.write_blob(&content)? },
                Planned::Pointer { path, pointer } => {
                    TreeOp::Upsert { path, blob: repo.write_blob(pointer.to_text().as_bytes())? }
                }
                Planned::Delete { path } => TreeOp::Delete { path },
                Planned::DeleteFolder { path } => TreeOp::DeleteFolder { path },
            });
        }
        let expected_parent =
            header.parent_commit.as_deref().map(Oid::from_str).transpose().map_err(Error::internal)?;
        let out = repo.commit(&CommitRequest {
            ref_name,
            expected_parent,
            create_from: None,
            create_ref: false,
            ops,
            title: header.summary,
            description: header.description,
            author,
        })?;
        Ok(out.commit)
    })
    .await?;
    hub.store.touch_repo(target.repo.id, now_millis()).await?;
    if target.ref_name == "refs/heads/main" {
        // The commit is acknowledged already: a failure here only leaves the listing's tags stale.
        if let Err(e) = super::card::refresh_tags(hub, &target.repo).await {
            tracing::warn!(error = %e.message, "could not refresh the card's tags");
        }
    }
    Ok(commit)
}

/// LFS files the server decided by size or content land on paths `.gitattributes` may not track; git-lfs
/// checks out only tracked paths, so (as the Hub does) the commit adds a line for each such path, to the
/// `.gitattributes` it writes or to the branch's.
fn track_new_lfs_paths(planned: &mut Vec<Planned>, policy: &LfsPolicy, attributes: String) {
    let untracked: Vec<&str> = planned
        .iter()
        .filter_map(|p| match p {
            Planned::Pointer { path, .. } if !policy.tracks(path) => Some(path.as_str()),
            _ => None,
        })
        .collect();
    if untracked.is_empty() {
        return;
    }
    let mut text = attributes;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for path in untracked {
        text.push_str(&format!("{} filter=lfs diff=lfs merge=lfs -text\n", gitattributes_pattern(path)));
    }
    let content = text.into_bytes();
    match planned.iter_mut().rev().find(|p| matches!(p, Planned::Git { path, .. } if path == ".gitattributes")) {
        Some(Planned::Git { content: c, .. }) => *c = content,
        _ => planned.push(Planned::Git { path: ".gitattributes".into(), content }),
    }
}

/// A pattern matching exactly `path` from the repository root: glob characters escaped, spaces as
/// `[[:space:]]` (as `git lfs track` writes them).
fn gitattributes_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    for c in path.chars() {
        match c {
            ' ' => out.push_str("[[:space:]]"),
            '*' | '?' | '[' | ']' | '\\' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The LFS rules that apply, and the text they come from: the `.gitattributes` this commit writes, else
/// the branch's.
async fn lfs_policy(hub: &Hub, target: &CommitTarget, parsed: &ParsedCommit) -> Result<(LfsPolicy, String)> {
    let incoming = parsed.operations.iter().rev().find_map(|op| match op {
        Operation::File { path, content } if path.as_str() == ".gitattributes" => Some(content),
        _ => None,
    });
    if let Some(content) = incoming {
        let text = String::from_utf8_lossy(&content.read_all()?).into_owned();
        return Ok((LfsPolicy::from_gitattributes(&text), text));
    }
    let git = hub.git.clone();
    let (key, ref_name) = (target.repo.storage_key.clone(), target.ref_name.clone());
    let text = blocking(move || {
        let repo = git.open(&key)?;
        let Some(head) = repo.ref_target(&ref_name)? else { return Ok(String::new()) };
        match repo.entry(head, ".gitattributes")? {
            Some(e) if e.lfs.is_none() && e.size < 1 << 20 => {
                Ok(String::from_utf8_lossy(&repo.read_blob(e.oid)?).into_owned())
            }
            _ => Ok(String::new()),
        }
    })
    .await?;
    Ok((LfsPolicy::from_gitattributes(&text), text))
}

async fn plan(hub: &Hub, repo: &RepoRecord, policy: &LfsPolicy, op: Operation) -> Result<Planned> {
    Ok(match op {
        Operation::File { path, content } => {
            let path_str = path.as_str().to_string();
            if !policy.is_lfs(&path_str, content.size, &content.sample) {
                return Ok(Planned::Git { path: path_str, content: content.read_all()? });
            }
            let pointer = LfsPointer { oid: content.sha256.clone(), size: content.size };
            match content.memory() {
                Some(bytes) => {
                    hub.blobs.put_bytes(bytes).await?;
                }
                None => {
                    let file = content.into_file().ok_or_else(|| Error::internal("spooled content vanished"))?;
                    hub.blobs.publish_file(&file, &pointer.oid, pointer.size).await?;
                }
            }
            crate::lfs_gc::link_stored(hub, repo.id, &pointer.oid, pointer.size).await?;
            Planned::Pointer { path: path_str, pointer }
        }
        Operation::LfsFile { path, oid, size } => {
            // Only content this repository has proven to hold (uploaded to it, or committed to it) may be
            // referenced: knowing a hash must not give access to another repository's file.
            // Content uploaded through Xet is linked by the shard that described it (its sha256 is the
            // uploader's claim, scoped to this repository).
            let linked = hub.store.repo_lfs_object(repo.id, &oid).await?;
            let stored = match &linked {
                Some(l) if l.xet_hash.is_some() => Some(l.size),
                Some(_) => hub.blobs.size(&oid).await?,
                None => None,
            };
            let size = match (linked, stored) {
                (Some(l), Some(s)) if l.size == s && size.is_none_or(|want| want == s) => s,
                (Some(_), Some(s)) => {
                    return Err(Error::bad_request(format!("LFS object {oid} has size {s}, not {}", size.unwrap_or(0))))
                }
                _ => {
                    return Err(Error::bad_request(format!(
                        "LFS object {oid} for {path} was not uploaded to this repository; upload it first"
                    )))
                }
            };
            Planned::Pointer { path: path.as_str().to_string(), pointer: LfsPointer { oid, size } }
        }
        Operation::DeletedFile { path } => Planned::Delete { path: path.as_str().to_string() },
        Operation::DeletedFolder { path } => Planned::DeleteFolder { path: path.as_str().to_string() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_patterns_track_exactly_their_path() {
        for path in ["small.dat", "data/big.dat", "odd name [1]*.bin", "#hash!.gguf"] {
            let line = format!("{} filter=lfs diff=lfs merge=lfs -text", gitattributes_pattern(path));
            let policy = LfsPolicy::from_gitattributes(&line);
            assert!(policy.tracks(path), "{line}");
            assert!(!policy.tracks(&format!("sub/{path}")), "anchored at the root: {line}");
        }
        assert!(
            !LfsPolicy::from_gitattributes(&format!("{} filter=lfs", gitattributes_pattern("a*.bin"))).tracks("ab.bin")
        );
    }
}
