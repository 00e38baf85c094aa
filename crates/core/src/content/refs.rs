//! Creating and deleting branches and tags, and squashing history.

use crate::access::authorize_repo;
use crate::hub::blocking;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::Signature;
use gatehouse_types::{Error, RepoType, Result, Revision};

/// The author recorded in git for what a user does. Never their real email address: git history is
/// readable by everyone who can read the repository.
pub(crate) fn signature(subject: &Subject) -> Result<Signature> {
    let u = subject.user().ok_or_else(Error::auth_required)?;
    Ok(Signature { name: u.username.clone(), email: format!("{}@users.noreply.gatehouse", u.username) })
}

pub async fn create_branch(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    branch: &str,
    starting_point: Option<&Revision>,
) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let git = hub.git.clone();
    let branch = branch.to_string();
    let start = starting_point.map_or_else(|| "main".to_string(), |r| r.as_str().to_string());
    blocking(move || {
        let r = git.open(&repo.storage_key)?;
        let target = r.resolve(&start)?.commit;
        Ok(r.create_branch(&branch, target)?)
    })
    .await
}

pub async fn delete_branch(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    branch: &str,
) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let git = hub.git.clone();
    let branch = branch.to_string();
    blocking(move || Ok(git.open(&repo.storage_key)?.delete_branch(&branch)?)).await
}

#[allow(clippy::too_many_arguments)]
pub async fn create_tag(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    tag: &str,
    message: Option<String>,
) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let tagger = signature(subject)?;
    let git = hub.git.clone();
    let (rev, tag) = (rev.as_str().to_string(), tag.to_string());
    blocking(move || {
        let r = git.open(&repo.storage_key)?;
        let target = r.resolve(&rev)?.commit;
        Ok(r.create_tag(&tag, target, message.as_deref().filter(|m| !m.is_empty()), &tagger)?)
    })
    .await
}

pub async fn delete_tag(hub: &Hub, subject: &Subject, t: RepoType, ns: &str, name: &str, tag: &str) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let git = hub.git.clone();
    let tag = tag.to_string();
    blocking(move || Ok(git.open(&repo.storage_key)?.delete_tag(&tag)?)).await
}

/// Replaces a branch's history by one commit with its current content.
pub async fn squash(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    branch: &str,
    message: &str,
) -> Result<String> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let author = signature(subject)?;
    let lock = hub.write_lock(repo.id);
    let _queued = lock.lock().await;
    let git = hub.git.clone();
    let (ref_name, title) = (
        format!("refs/heads/{branch}"),
        if message.is_empty() { "Super-squash branch".to_string() } else { message.to_string() },
    );
    let commit = blocking(move || Ok(git.open(&repo.storage_key)?.squash(&ref_name, &title, &author)?)).await?;
    Ok(commit.to_string())
}
