//! Git over HTTP: who may run which git service on a repository, and the rules a push must pass before
//! any ref moves (checked by the `pre-receive` hook, which calls [`check_push`]).

use crate::access::authorize_repo;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::push::NewBlob;
use gatehouse_git::transport::Service;
use gatehouse_store::RepoRecord;
use gatehouse_types::{Error, ErrorCode, RepoType, Result, LFS_SIZE_THRESHOLD};
use std::path::PathBuf;

/// Loads the repository for a git service and authorizes it through the one decision: fetching needs
/// download access (a gated repository's files are its content), pushing needs write access. Anonymous
/// callers are asked to authenticate whenever they would be refused or the repository is hidden or
/// missing: git sends credentials only after a 401, and one answer for missing and private repositories
/// leaks nothing. Signed-in callers get the usual 404 / 403.
pub async fn authorize(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    service: Service,
) -> Result<(RepoRecord, PathBuf)> {
    let name = name.strip_suffix(".git").unwrap_or(name);
    let action = match service {
        Service::UploadPack => Action::RepoDownload,
        Service::ReceivePack => Action::RepoWrite,
    };
    let repo = match authorize_repo(hub, subject, t, ns, name, action).await {
        Err(e) if matches!(subject, Subject::Anonymous) && e.code != ErrorCode::Internal => {
            return Err(Error::auth_required())
        }
        other => other?,
    };
    let dir = hub.git.path(&repo.storage_key)?;
    Ok((repo, dir))
}

/// The Hub's push rules, for the blobs a push adds: files over 10 MiB must be LFS pointers, and every
/// LFS pointer must name an object this repository holds (uploaded through the LFS API or Xet first).
/// Returns one message per violation, phrased for the person reading `git push` output.
pub async fn check_push(hub: &Hub, repo_id: i64, blobs: &[NewBlob]) -> Result<Vec<String>> {
    let repo = gatehouse_store::RepoStore::repo_by_id(&hub.store, repo_id).await?.ok_or_else(Error::repo_not_found)?;
    let mut problems = Vec::new();
    for b in blobs {
        match &b.lfs {
            None if b.size > LFS_SIZE_THRESHOLD => problems.push(format!(
                "{} is {} bytes, over the 10 MiB limit for files stored in git. Track it with git-lfs \
                 (`git lfs track \"{}\"`, then amend the commit) and push again.",
                b.path, b.size, b.path
            )),
            None => {}
            Some(p) => match crate::lfs::held(hub, &repo, &p.oid).await? {
                Some(link) if link.size == p.size => {}
                _ => problems.push(format!(
                    "{} points to LFS object {} ({} bytes), which was not uploaded to this repository. \
                     Push it with git-lfs (`git lfs push --all origin`) and try again.",
                    b.path, p.oid, p.size
                )),
            },
        }
    }
    Ok(problems)
}

/// After a push moved refs: a push to `main` marks the repository updated and refreshes its card's
/// tags (the push is already accepted; this only keeps listings current).
pub async fn after_push(hub: &Hub, repo_id: i64, updates: &[gatehouse_git::push::RefUpdate]) -> Result<()> {
    if !updates.iter().any(|u| u.name == "refs/heads/main") {
        return Ok(());
    }
    let repo = gatehouse_store::RepoStore::repo_by_id(&hub.store, repo_id).await?.ok_or_else(Error::repo_not_found)?;
    gatehouse_store::RepoStore::touch_repo(&hub.store, repo.id, crate::time::now_millis()).await?;
    crate::content::card::refresh_tags(hub, &repo).await
}
