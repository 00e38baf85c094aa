//! Reading a repository at a revision, in the Hub's wire shapes: repo info with siblings and card
//! data, tree listings, paths-info, refs and commit history.

use super::{at_revision, card, AtRevision};
use crate::hub::blocking;
use crate::time::iso8601;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_git::{CommitInfo, EntryKind, Oid, TreeEntry};
use gatehouse_store::RepoRecord;
use gatehouse_types::{Error, RepoPath, RepoType, Result, Revision};
use serde::Serialize;
use serde_json::Value;

/// The 24-hex `_id` the Hub gives every object.
pub fn object_id(prefix: u8, id: i64) -> String {
    format!("{prefix:02x}{id:022x}")
}

#[derive(Debug, Serialize)]
pub struct TreeLfs {
    pub oid: String,
    pub size: u64,
    #[serde(rename = "pointerSize")]
    pub pointer_size: u64,
}

#[derive(Debug, Serialize)]
pub struct LastCommit {
    pub id: String,
    pub title: String,
    pub date: String,
}

#[derive(Debug, Serialize)]
pub struct TreeItem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub oid: String,
    pub size: u64,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfs: Option<TreeLfs>,
    #[serde(rename = "lastCommit", skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<LastCommit>,
    /// The Xet file holding LFS content uploaded through Xet: clients then download it through Xet.
    #[serde(rename = "xetHash", skip_serializing_if = "Option::is_none")]
    pub xet_hash: Option<String>,
}

/// Marks LFS entries whose content this repository holds as a Xet file.
async fn add_xet_hashes(hub: &Hub, repo_id: i64, items: &mut [TreeItem]) -> Result<()> {
    for item in items {
        if let Some(lfs) = &item.lfs {
            item.xet_hash = crate::lfs::link_facts(hub, repo_id, &lfs.oid).await?.and_then(|l| l.xet_hash);
        }
    }
    Ok(())
}

impl TreeItem {
    fn from_entry(e: &TreeEntry) -> Self {
        let is_file = e.kind == EntryKind::File;
        TreeItem {
            kind: if is_file { "file" } else { "directory" },
            oid: e.oid.to_string(),
            size: e.content_size(),
            path: e.path.clone(),
            lfs: e.lfs.as_ref().map(|p| TreeLfs { oid: p.oid.clone(), size: p.size, pointer_size: e.size }),
            last_commit: None,
            xet_hash: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SiblingLfs {
    pub size: u64,
    pub sha256: String,
    #[serde(rename = "pointerSize")]
    pub pointer_size: u64,
}

#[derive(Debug, Serialize)]
pub struct Sibling {
    pub rfilename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(rename = "blobId", skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfs: Option<SiblingLfs>,
}

/// `GET /api/{type}s/{repo}` and `…/revision/{rev}`: the listing item, seen at a revision (its
/// `lastModified` is the commit's, its tags come from the card), plus what only a revision knows.
#[derive(Debug, Serialize)]
pub struct RepoInfo {
    #[serde(flatten)]
    pub summary: RepoSummary,
    pub sha: String,
    #[serde(rename = "cardData", skip_serializing_if = "Option::is_none")]
    pub card_data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_tag: Option<String>,
    pub siblings: Vec<Sibling>,
    #[serde(rename = "usedStorage")]
    pub used_storage: u64,
}

/// One item of `GET /api/models` and friends: built from the metadata row alone, so listing stays cheap.
#[derive(Debug, Serialize)]
pub struct RepoSummary {
    #[serde(rename = "_id")]
    pub object_id: String,
    pub id: String,
    pub author: String,
    #[serde(rename = "lastModified")]
    pub last_modified: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    pub private: bool,
    /// `false`, `"auto"` or `"manual"`, as the Hub answers.
    pub gated: Value,
    pub disabled: bool,
    pub downloads: u64,
    pub likes: u64,
    pub tags: Vec<String>,
}

fn gated_value(r: &RepoRecord) -> Value {
    r.gated.map_or(Value::Bool(false), |g| Value::String(g.as_str().to_string()))
}

impl RepoSummary {
    pub fn from_record(r: &RepoRecord) -> Self {
        RepoSummary {
            object_id: object_id(r.repo_type as u8 + 1, r.id),
            id: format!("{}/{}", r.owner_name, r.name),
            author: r.owner_name.clone(),
            last_modified: iso8601(r.updated_at),
            created_at: iso8601(r.created_at),
            private: r.private,
            gated: gated_value(r),
            disabled: false,
            downloads: 0,
            likes: 0,
            tags: Vec::new(),
        }
    }
}

pub async fn repo_info(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    with_blobs: bool,
) -> Result<RepoInfo> {
    let AtRevision { repo, commit } = at_revision(hub, subject, t, ns, name, rev, Action::RepoRead).await?;
    let git = hub.git.clone();
    let key = repo.storage_key.clone();
    let (info, entries, readme) = blocking(move || {
        let r = git.open(&key)?;
        let info = r.commit_info(commit)?;
        let entries = r.list(commit, None, true)?.unwrap_or_default();
        let readme = match entries.iter().find(|e| e.path == "README.md" && e.lfs.is_none() && e.size < 1 << 20) {
            Some(e) => Some(String::from_utf8_lossy(&r.read_blob(e.oid)?).into_owned()),
            None => None,
        };
        Ok((info, entries, readme))
    })
    .await?;
    // A card whose metadata does not parse is shown without it, as the Hub does.
    let card_data = readme.as_deref().and_then(|t| card::card_data(t).ok().flatten());
    let files: Vec<&TreeEntry> = entries.iter().filter(|e| e.kind == EntryKind::File).collect();
    let siblings = files
        .iter()
        .map(|e| Sibling {
            rfilename: e.path.clone(),
            size: with_blobs.then(|| e.content_size()),
            blob_id: with_blobs.then(|| e.oid.to_string()),
            lfs: e.lfs.as_ref().filter(|_| with_blobs).map(|p| SiblingLfs {
                size: p.size,
                sha256: p.oid.clone(),
                pointer_size: e.size,
            }),
        })
        .collect();
    let str_field = |k: &str| card_data.as_ref().and_then(|c| c.get(k)).and_then(Value::as_str).map(str::to_string);
    let mut summary = RepoSummary::from_record(&repo);
    summary.last_modified = iso8601(info.time_millis);
    summary.tags = card_data.as_ref().map(card::tags).unwrap_or_default();
    Ok(RepoInfo {
        summary,
        sha: info.id.to_string(),
        library_name: str_field("library_name"),
        pipeline_tag: str_field("pipeline_tag"),
        card_data,
        siblings,
        used_storage: files.iter().map(|e| e.content_size()).sum(),
    })
}

pub struct TreeRequest {
    pub path: Option<RepoPath>,
    pub recursive: bool,
    pub expand: bool,
    pub offset: usize,
    pub limit: usize,
}

/// A page of a tree listing and whether more follow. A missing folder is `EntryNotFound`.
pub async fn tree(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    req: TreeRequest,
) -> Result<(Vec<TreeItem>, bool)> {
    let AtRevision { repo, commit } = at_revision(hub, subject, t, ns, name, rev, Action::RepoRead).await?;
    let git = hub.git.clone();
    let key = repo.storage_key;
    let (mut items, more) = blocking(move || {
        let r = git.open(&key)?;
        let dir = req.path.as_ref().map(RepoPath::as_str);
        let entries = r.list(commit, dir, req.recursive)?.ok_or_else(|| Error::entry_not_found(dir.unwrap_or("")))?;
        let more = entries.len() > req.offset + req.limit;
        let page: Vec<&TreeEntry> = entries.iter().skip(req.offset).take(req.limit).collect();
        let mut items: Vec<TreeItem> = page.iter().map(|e| TreeItem::from_entry(e)).collect();
        if req.expand {
            add_last_commits(&r, commit, &mut items)?;
        }
        Ok((items, more))
    })
    .await?;
    add_xet_hashes(hub, repo.id, &mut items).await?;
    Ok((items, more))
}

/// Walks at most this many commits to find each entry's last change (expand=true is for pages of 50).
const LAST_COMMIT_BUDGET: usize = 2_000;

fn add_last_commits(r: &gatehouse_git::Repo, commit: Oid, items: &mut [TreeItem]) -> Result<()> {
    let paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
    let found = r.last_commits(commit, &paths, LAST_COMMIT_BUDGET)?;
    for item in items {
        item.last_commit = found.get(&item.path).map(|c| LastCommit {
            id: c.id.to_string(),
            title: c.title.clone(),
            date: iso8601(c.time_millis),
        });
    }
    Ok(())
}

/// The entries among `paths` that exist at `rev`; missing ones are left out.
#[allow(clippy::too_many_arguments)]
pub async fn paths_info(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    paths: Vec<RepoPath>,
    expand: bool,
) -> Result<Vec<TreeItem>> {
    let AtRevision { repo, commit } = at_revision(hub, subject, t, ns, name, rev, Action::RepoRead).await?;
    let git = hub.git.clone();
    let (repo_id, key) = (repo.id, repo.storage_key);
    let mut items = blocking(move || {
        let r = git.open(&key)?;
        let mut items = Vec::new();
        for p in &paths {
            if let Some(e) = r.entry(commit, p.as_str())? {
                items.push(TreeItem::from_entry(&e));
            }
        }
        if expand {
            add_last_commits(&r, commit, &mut items)?;
        }
        Ok(items)
    })
    .await?;
    add_xet_hashes(hub, repo_id, &mut items).await?;
    Ok(items)
}

#[derive(Debug, Serialize)]
pub struct RefItem {
    pub name: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
    #[serde(rename = "targetCommit")]
    pub target_commit: String,
}

#[derive(Debug, Serialize)]
pub struct RefsView {
    pub branches: Vec<RefItem>,
    pub tags: Vec<RefItem>,
    pub converts: Vec<RefItem>,
    #[serde(rename = "pullRequests", skip_serializing_if = "Option::is_none")]
    pub pull_requests: Option<Vec<RefItem>>,
}

pub async fn refs(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    include_prs: bool,
) -> Result<RefsView> {
    let repo = crate::access::authorize_repo(hub, subject, t, ns, name, Action::RepoRead).await?;
    let git = hub.git.clone();
    let refs = blocking(move || Ok(git.open(&repo.storage_key)?.refs()?)).await?;
    let items = |list: Vec<gatehouse_git::RefInfo>| {
        list.into_iter()
            .map(|r| RefItem { name: r.name, ref_name: r.ref_name, target_commit: r.target.to_string() })
            .collect()
    };
    Ok(RefsView {
        branches: items(refs.branches),
        tags: items(refs.tags),
        converts: items(refs.converts),
        pull_requests: include_prs.then(|| items(refs.pull_requests)),
    })
}

#[derive(Debug, Serialize)]
pub struct CommitAuthor {
    pub user: String,
}

#[derive(Debug, Serialize)]
pub struct Formatted {
    pub title: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct CommitItem {
    pub id: String,
    pub title: String,
    pub message: String,
    pub authors: Vec<CommitAuthor>,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<Formatted>,
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn commit_item(c: CommitInfo, formatted: bool) -> CommitItem {
    CommitItem {
        id: c.id.to_string(),
        formatted: formatted.then(|| Formatted { title: escape_html(&c.title), message: escape_html(&c.message) }),
        title: c.title,
        message: c.message,
        authors: vec![CommitAuthor { user: c.author_name }],
        date: iso8601(c.time_millis),
    }
}

/// A page of history from `rev`, newest first, and whether more follow.
#[allow(clippy::too_many_arguments)]
pub async fn commits(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &Revision,
    offset: usize,
    limit: usize,
    formatted: bool,
) -> Result<(Vec<CommitItem>, bool)> {
    let AtRevision { repo, commit } = at_revision(hub, subject, t, ns, name, rev, Action::RepoRead).await?;
    let git = hub.git.clone();
    let (log, more) = blocking(move || Ok(git.open(&repo.storage_key)?.log(commit, offset, limit)?)).await?;
    Ok((log.into_iter().map(|c| commit_item(c, formatted)).collect(), more))
}
