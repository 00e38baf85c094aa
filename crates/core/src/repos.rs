//! Repository lifecycle: create, delete, move, settings, and listings through the caller's filter.

use crate::access::{authorize_namespace, authorize_repo};
use crate::content::policy::default_gitattributes;
use crate::hub::blocking;
use crate::time::now_millis;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::{CommitRequest, Signature, TreeOp};
use gatehouse_store::{NewRepo, RepoQuery, RepoRecord, RepoSort, RepoStore};
use gatehouse_types::{Error, RepoId, RepoType, Result, Visibility};

pub enum CreateOutcome {
    Created(RepoRecord),
    /// The repository exists; the caller may see it (they may create in its namespace).
    AlreadyExists(RepoRecord),
}

pub struct CreateRepo<'a> {
    pub repo_type: RepoType,
    /// None: the caller's own namespace.
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub visibility: Visibility,
}

/// The author of commits the server makes itself (the initial commit), as on the Hub.
pub fn system_signature() -> Signature {
    Signature { name: "system".into(), email: "system@gatehouse.local".into() }
}

pub async fn create(hub: &Hub, subject: &Subject, req: CreateRepo<'_>) -> Result<CreateOutcome> {
    let caller = subject.user().ok_or_else(Error::auth_required)?;
    let ns = req.namespace.unwrap_or(&caller.username);
    let id = RepoId::new(ns, req.name)?;
    let owner = authorize_namespace(hub, subject, id.namespace(), Action::RepoCreate).await?;
    if let Some(existing) = live_repo(hub, req.repo_type, &owner.name, id.name()).await? {
        return Ok(CreateOutcome::AlreadyExists(existing));
    }
    // Content first, then the row that makes it visible: a crash in between leaves only an orphan
    // directory nobody can reach, never a repository without content.
    let storage_key = uuid::Uuid::new_v4().simple().to_string();
    init_storage(hub, &storage_key, req.repo_type).await?;
    let new = NewRepo {
        repo_type: req.repo_type,
        owner_id: owner.id,
        name: id.name().to_string(),
        private: req.visibility.is_private(),
        created_by: Some(caller.user_id),
        storage_key: storage_key.clone(),
    };
    match hub.store.create_repo(new, now_millis()).await {
        Ok(record) => {
            // The name may have redirected to a moved repository until now.
            hub.authorization_changed().await?;
            Ok(CreateOutcome::Created(record))
        }
        Err(e) => {
            let git = hub.git.clone();
            let _ = blocking(move || Ok(git.delete(&storage_key)?)).await;
            match live_repo(hub, req.repo_type, &owner.name, id.name()).await? {
                Some(existing) => Ok(CreateOutcome::AlreadyExists(existing)),
                None => Err(e.into()),
            }
        }
    }
}

/// The repository that has this name now — not one that was moved away from it (old names redirect,
/// but may be taken again, as on the Hub).
async fn live_repo(hub: &Hub, t: RepoType, owner: &str, name: &str) -> Result<Option<RepoRecord>> {
    let found = hub.store.repo_by_name(t, owner, name).await?;
    Ok(found.filter(|r| r.owner_name.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name)))
}

async fn init_storage(hub: &Hub, key: &str, t: RepoType) -> Result<()> {
    let git = hub.git.clone();
    let key = key.to_string();
    blocking(move || {
        let repo = git.init(&key)?;
        let blob = repo.write_blob(default_gitattributes(t).as_bytes())?;
        repo.commit(&CommitRequest {
            ref_name: "refs/heads/main".into(),
            expected_parent: None,
            create_from: None,
            create_ref: true,
            ops: vec![TreeOp::Upsert { path: ".gitattributes".into(), blob }],
            title: "initial commit".into(),
            description: String::new(),
            author: system_signature(),
        })?;
        Ok(())
    })
    .await
}

pub async fn delete(hub: &Hub, subject: &Subject, t: RepoType, ns: &str, name: &str) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoManage).await?;
    // The row goes first: once it is gone the repository is unreachable; the files follow.
    let deleted = hub.store.delete_repo(repo.id).await?;
    hub.authorization_changed().await?;
    if !deleted {
        return Err(Error::repo_not_found());
    }
    let git = hub.git.clone();
    blocking(move || Ok(git.delete(&repo.storage_key)?)).await
}

pub async fn rename(hub: &Hub, subject: &Subject, t: RepoType, from: &RepoId, to: &RepoId) -> Result<RepoRecord> {
    let repo = authorize_repo(hub, subject, t, from.namespace(), from.name(), Action::RepoManage).await?;
    let owner = authorize_namespace(hub, subject, to.namespace(), Action::RepoCreate).await?;
    // A gating group holds only its organization's repositories (seeds): leaving the organization means
    // leaving the group first, deliberately.
    if repo.gating_group_id.is_some() && owner.id != repo.owner_id {
        let group = crate::gating::gate_info(hub, &repo).await?.label;
        return Err(Error::conflict(format!(
            "This repository belongs to the gating group {group}; remove it from that collection before moving it to another owner."
        )));
    }
    let moved = hub.store.move_repo(repo.id, owner.id, to.name(), now_millis()).await;
    hub.authorization_changed().await?;
    match moved {
        Err(gatehouse_store::StoreError::Conflict(_)) => {
            Err(Error::conflict(format!("A {t} repository called {}/{} already exists", owner.name, to.name())))
        }
        other => Ok(other?),
    }
}

pub async fn set_visibility(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    v: Visibility,
) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoManage).await?;
    hub.store.set_private(repo.id, v.is_private(), now_millis()).await?;
    hub.authorization_changed().await
}

pub struct ListRequest {
    pub repo_type: RepoType,
    pub search: Option<String>,
    pub author: Option<String>,
    /// Only repositories whose card on `main` carries this tag.
    pub tag: Option<String>,
    pub sort: RepoSort,
    pub offset: u64,
    pub limit: u32,
}

/// The repositories the caller may see: the store applies the same filter `decide` uses.
pub async fn list(hub: &Hub, subject: &Subject, req: ListRequest) -> Result<Vec<RepoRecord>> {
    let q = RepoQuery {
        repo_type: req.repo_type,
        filter: subject.repo_filter(),
        author: req.author,
        search: req.search,
        tag: req.tag,
        sort: req.sort,
        offset: req.offset,
        limit: req.limit,
    };
    Ok(hub.store.list_repos(&q).await?)
}
