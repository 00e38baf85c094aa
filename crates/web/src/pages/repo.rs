//! A repository's pages: the card, files and versions (tree, file view), commit history and one
//! commit's diff, branches and tags. Reading the card and listings needs `RepoRead`; file contents and
//! diffs need `RepoDownload`, so a gated repository shows its card and file list but not its content.

use crate::format;
use crate::page::{html, html_status, Chrome, PageError};
use crate::pages::browse::kind_label;
use crate::pages::gating::{gate_view, GateView};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_authz::{Action, Subject};
use gatehouse_core::access::{authorize_repo, check_repo};
use gatehouse_core::content::read::{self, TreeRequest};
use gatehouse_core::content::resolve::{self, Resolved};
use gatehouse_http::AppState;
use gatehouse_render::CardLinks;
use gatehouse_store::RepoRecord;
use gatehouse_types::{ErrorCode, RepoPath, RepoType, Revision};
use serde::Deserialize;
use std::collections::HashMap;

/// Text files up to this size are shown in the page.
const MAX_PREVIEW: u64 = 1 << 20;
const COMMITS_PER_PAGE: usize = 50;

/// What every repository page's header needs.
pub struct RepoHead {
    pub kind: &'static str,
    pub id: String,
    pub owner: String,
    pub name: String,
    /// `/alice/model` or `/datasets/alice/data`.
    pub base: String,
    pub private: bool,
    pub gated: bool,
    pub can_manage: bool,
    /// Which tab is current: card, files, commits, settings.
    pub tab: &'static str,
}

pub struct Repo {
    pub record: RepoRecord,
    pub head: RepoHead,
    pub t: RepoType,
}

impl Repo {
    pub fn ns(&self) -> &str {
        &self.record.owner_name
    }
    pub fn name(&self) -> &str {
        &self.record.name
    }
}

async fn allowed(state: &AppState, subject: &Subject, action: Action, r: &RepoRecord) -> bool {
    check_repo(&state.hub, subject, action, r).await.is_ok()
}

/// Loads a repository the viewer may see (404 otherwise, exactly as for a missing one).
pub async fn load(
    state: &AppState,
    viewer: &Viewer,
    t: RepoType,
    ns: &str,
    name: &str,
    tab: &'static str,
) -> Result<Repo, PageError> {
    let record = authorize_repo(&state.hub, &viewer.subject, t, ns, name, Action::RepoRead).await?;
    let head = RepoHead {
        kind: kind_label(t),
        id: format!("{}/{}", record.owner_name, record.name),
        owner: record.owner_name.clone(),
        name: record.name.clone(),
        base: format!("/{}{}/{}", t.url_prefix(), record.owner_name, record.name),
        private: record.private,
        gated: record.gated.is_some(),
        can_manage: allowed(state, &viewer.subject, Action::RepoManage, &record).await,
        tab,
    };
    Ok(Repo { record, head, t })
}

fn revision(rev: &str) -> Result<Revision, PageError> {
    Ok(Revision::parse(rev)?)
}

// ---- the card ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "repo/card.html")]
pub(crate) struct CardPage {
    chrome: Chrome,
    repo: RepoHead,
    card_html: String,
    has_card: bool,
    tags: Vec<String>,
    files: usize,
    size: String,
    updated: String,
    python: String,
    git_clone: String,
    gate: Option<GateView>,
}

pub async fn card(
    state: AppState,
    viewer: Viewer,
    headers: HeaderMap,
    t: RepoType,
    ns: String,
    name: String,
) -> Result<Response, PageError> {
    let repo = load(&state, &viewer, t, &ns, &name, "card").await?;
    let none = HashMap::new();
    Ok(html(&card_page(&state, &viewer, &headers, repo, &none, &none, String::new()).await?))
}

/// The card page; for a gated repository with the request form filled with `values` and `errors` (by
/// field name) and an `error` about the whole request.
pub(crate) async fn card_page(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    repo: Repo,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    error: String,
) -> Result<CardPage, PageError> {
    let hub = &state.hub;
    let t = repo.t;
    let main = revision("main")?;
    let info = read::repo_info(hub, &viewer.subject, t, repo.ns(), repo.name(), &main, true).await?;
    let readme_path = RepoPath::parse("README.md")?;
    let readme = match resolve::file(hub, &viewer.subject, t, repo.ns(), repo.name(), &main, &readme_path).await? {
        Resolved::File(meta) if meta.lfs_oid.is_none() && meta.size <= MAX_PREVIEW => {
            Some(String::from_utf8_lossy(&resolve::git_content(hub, &meta).await?).into_owned())
        }
        _ => None,
    };
    let (blob_base, raw_base) = (format!("{}/blob/main/", repo.head.base), format!("{}/resolve/main/", repo.head.base));
    // Rendering an untrusted card can take a noticeable moment: off the async workers.
    let card_html = match readme {
        Some(text) => Some(
            render(move || {
                let links = CardLinks { blob_base: &blob_base, raw_base: &raw_base };
                gatehouse_render::markdown(gatehouse_core::content::card::split(&text).1, &links)
            })
            .await?,
        ),
        None => None,
    };
    let origin = gatehouse_http::params::base_url(state, headers);
    let id = repo.head.id.clone();
    let type_arg = match t {
        RepoType::Model => String::new(),
        other => format!(", repo_type=\"{}\"", kind_label(other)),
    };
    let python = format!(
        "# export HF_ENDPOINT={origin}\nfrom huggingface_hub import snapshot_download\n\npath = snapshot_download(\"{id}\"{type_arg})"
    );
    let git_clone = format!("git clone {}", gatehouse_http::params::repo_url(&origin, t, repo.ns(), repo.name()));
    // The card's metadata was read with the repository's info: the form comes from it.
    let gate = gate_view(state, viewer, &repo, info.card_data.as_ref(), values, errors, error).await?;
    Ok(CardPage {
        chrome: Chrome::new(viewer, id),
        has_card: card_html.is_some(),
        card_html: card_html.unwrap_or_default(),
        tags: info.summary.tags.clone(),
        files: info.siblings.len(),
        size: format::size(info.used_storage),
        updated: format::iso_date(&info.summary.last_modified),
        python,
        git_clone,
        gate,
        repo: repo.head,
    })
}

// ---- files and versions -----------------------------------------------------------------------------

pub struct RefLink {
    pub name: String,
    pub href: String,
}

/// The branch and tag picker of the files view.
pub struct RefPicker {
    pub current: String,
    pub branches: Vec<RefLink>,
    pub tags: Vec<RefLink>,
}

async fn ref_picker(
    state: &AppState,
    viewer: &Viewer,
    repo: &Repo,
    current: &str,
    path: &str,
) -> Result<RefPicker, PageError> {
    let refs = read::refs(&state.hub, &viewer.subject, repo.t, repo.ns(), repo.name(), false).await?;
    let link = |name: String| RefLink {
        href: format!("{}/tree/{}/{}", repo.head.base, format::seg(&name), format::path(path))
            .trim_end_matches('/')
            .to_string(),
        name,
    };
    Ok(RefPicker {
        current: current.to_string(),
        branches: refs.branches.into_iter().map(|r| link(r.name)).collect(),
        tags: refs.tags.into_iter().map(|r| link(r.name)).collect(),
    })
}

pub struct Crumb {
    pub name: String,
    pub href: String,
}

fn crumbs(repo: &Repo, rev: &str, path: &str) -> Vec<Crumb> {
    let mut out =
        vec![Crumb { name: repo.name().to_string(), href: format!("{}/tree/{}", repo.head.base, format::seg(rev)) }];
    let mut acc = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(part);
        out.push(Crumb {
            name: part.to_string(),
            href: format!("{}/tree/{}/{}", repo.head.base, format::seg(rev), format::path(&acc)),
        });
    }
    out
}

pub struct Entry {
    pub name: String,
    pub href: String,
    pub is_dir: bool,
    pub size: String,
    pub lfs: bool,
    pub download: String,
}

pub struct LatestCommit {
    pub short: String,
    pub title: String,
    pub date: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "repo/tree.html")]
struct TreePage {
    chrome: Chrome,
    repo: RepoHead,
    refs: RefPicker,
    crumbs: Vec<Crumb>,
    entries: Vec<Entry>,
    latest: Option<LatestCommit>,
    truncated: bool,
    commits_href: String,
}

const MAX_TREE_ENTRIES: usize = 1000;

async fn latest_commit(
    state: &AppState,
    viewer: &Viewer,
    repo: &Repo,
    rev: &Revision,
) -> Result<Option<LatestCommit>, PageError> {
    let (commits, _) =
        read::commits(&state.hub, &viewer.subject, repo.t, repo.ns(), repo.name(), rev, 0, 1, false).await?;
    Ok(commits.into_iter().next().map(|c| LatestCommit {
        short: c.id.chars().take(7).collect(),
        href: format!("{}/commit/{}", repo.head.base, c.id),
        title: c.title,
        date: format::iso_date(&c.date),
    }))
}

pub async fn tree(
    state: AppState,
    viewer: Viewer,
    t: RepoType,
    ns: String,
    name: String,
    rev: String,
    path: Option<String>,
) -> Result<Response, PageError> {
    let repo = load(&state, &viewer, t, &ns, &name, "files").await?;
    let revision = revision(&rev)?;
    let dir = path.as_deref().filter(|p| !p.is_empty()).map(RepoPath::parse).transpose()?;
    let req = TreeRequest { path: dir.clone(), recursive: false, expand: false, offset: 0, limit: MAX_TREE_ENTRIES };
    let (items, truncated) = read::tree(&state.hub, &viewer.subject, t, repo.ns(), repo.name(), &revision, req).await?;
    let mut entries: Vec<Entry> = items
        .into_iter()
        .map(|i| {
            let is_dir = i.kind == "directory";
            let leaf = i.path.rsplit('/').next().unwrap_or(&i.path).to_string();
            let view = if is_dir { "tree" } else { "blob" };
            Entry {
                href: format!("{}/{view}/{}/{}", repo.head.base, format::seg(&rev), format::path(&i.path)),
                download: format!(
                    "{}/resolve/{}/{}?download=true",
                    repo.head.base,
                    format::seg(&rev),
                    format::path(&i.path)
                ),
                name: leaf,
                is_dir,
                size: if is_dir { String::new() } else { format::size(i.size) },
                lfs: i.lfs.is_some(),
            }
        })
        .collect();
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let dir_str = dir.as_ref().map(|d| d.as_str().to_string()).unwrap_or_default();
    let page = TreePage {
        chrome: Chrome::new(&viewer, format!("Files of {}", repo.head.id)),
        refs: ref_picker(&state, &viewer, &repo, &rev, &dir_str).await?,
        crumbs: crumbs(&repo, &rev, &dir_str),
        latest: latest_commit(&state, &viewer, &repo, &revision).await?,
        entries,
        truncated,
        commits_href: format!("{}/commits/{}", repo.head.base, format::seg(&rev)),
        repo: repo.head,
    };
    Ok(html(&page))
}

#[derive(Template)]
#[template(path = "repo/blob.html")]
struct BlobPage {
    chrome: Chrome,
    repo: RepoHead,
    refs: RefPicker,
    crumbs: Vec<Crumb>,
    path: String,
    size: String,
    lfs: Option<String>,
    xet: bool,
    download: String,
    raw: String,
    /// Highlighted HTML (escaped by the renderer), when the file is text and small enough.
    preview: Option<String>,
    language: String,
    lines: usize,
    why_no_preview: String,
    gated_message: String,
}

/// Runs a renderer (Markdown, highlighting: up to a few seconds of CPU on hostile input) on the blocking pool.
async fn render<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PageError::from(gatehouse_types::Error::internal(e)))
}

fn looks_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|b| *b == 0) || std::str::from_utf8(bytes).is_err()
}

pub async fn blob(
    state: AppState,
    viewer: Viewer,
    t: RepoType,
    ns: String,
    name: String,
    rev: String,
    path: String,
) -> Result<Response, PageError> {
    let hub = &state.hub;
    let repo = load(&state, &viewer, t, &ns, &name, "files").await?;
    let revision = revision(&rev)?;
    let file_path = RepoPath::parse(&path)?;
    let parent = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let refs = ref_picker(&state, &viewer, &repo, &rev, parent).await?;
    let mut crumbs = crumbs(&repo, &rev, parent);
    let leaf = path.rsplit('/').next().unwrap_or(&path).to_string();
    crumbs.push(Crumb { name: leaf.clone(), href: String::new() });
    let resolve_url = format!("{}/resolve/{}/{}", repo.head.base, format::seg(&rev), format::path(file_path.as_str()));
    let mut page = BlobPage {
        chrome: Chrome::new(&viewer, format!("{leaf} · {}", repo.head.id)),
        refs,
        crumbs,
        path: file_path.as_str().to_string(),
        size: String::new(),
        lfs: None,
        xet: false,
        download: format!("{resolve_url}?download=true"),
        raw: resolve_url,
        preview: None,
        language: String::new(),
        lines: 0,
        why_no_preview: String::new(),
        gated_message: String::new(),
        repo: repo.head,
    };
    let resolved = resolve::file(
        hub,
        &viewer.subject,
        t,
        repo.record.owner_name.as_str(),
        repo.record.name.as_str(),
        &revision,
        &file_path,
    )
    .await;
    let meta = match resolved {
        Ok(Resolved::File(meta)) => meta,
        Ok(Resolved::Missing { .. }) => return Err(PageError::not_found()),
        // A gated file: the page says so (and how to get access) instead of the content.
        Err(e) if matches!(e.code, ErrorCode::GatedRepo | ErrorCode::GatedRepoAnonymous) => {
            page.gated_message = e.message;
            return Ok(html_status(StatusCode::FORBIDDEN, &page));
        }
        Err(e) => return Err(e.into()),
    };
    page.size = format::size(meta.size);
    page.lfs = meta.lfs_oid.clone();
    page.xet = meta.xet_hash.is_some();
    if meta.lfs_oid.is_some() {
        page.why_no_preview = "This file is stored with Git LFS; download it to see its content.".into();
    } else if meta.size > MAX_PREVIEW {
        page.why_no_preview = "This file is too large to show here.".into();
    } else {
        let bytes = resolve::git_content(hub, &meta).await?;
        if looks_binary(&bytes) {
            page.why_no_preview = "This file is binary.".into();
        } else {
            let name = leaf.clone();
            let h = render(move || gatehouse_render::highlight(&name, &String::from_utf8_lossy(&bytes))).await?;
            page.language = h.language.to_string();
            page.lines = h.lines;
            page.preview = Some(h.html);
        }
    }
    Ok(html(&page))
}

// ---- history ----------------------------------------------------------------------------------------

pub struct CommitRow {
    pub short: String,
    pub title: String,
    pub author: String,
    pub date: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "repo/commits.html")]
struct CommitsPage {
    chrome: Chrome,
    repo: RepoHead,
    refs: RefPicker,
    commits: Vec<CommitRow>,
    page: usize,
    more: bool,
    here: String,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    p: Option<usize>,
}

pub async fn commits(
    state: AppState,
    viewer: Viewer,
    t: RepoType,
    ns: String,
    name: String,
    rev: String,
    q: PageQuery,
) -> Result<Response, PageError> {
    let repo = load(&state, &viewer, t, &ns, &name, "commits").await?;
    let revision = revision(&rev)?;
    let page = q.p.unwrap_or(1).clamp(1, 100_000);
    let offset = (page - 1) * COMMITS_PER_PAGE;
    let (items, more) = read::commits(
        &state.hub,
        &viewer.subject,
        t,
        repo.ns(),
        repo.name(),
        &revision,
        offset,
        COMMITS_PER_PAGE,
        false,
    )
    .await?;
    let rows = items
        .into_iter()
        .map(|c| CommitRow {
            short: c.id.chars().take(7).collect(),
            href: format!("{}/commit/{}", repo.head.base, c.id),
            author: c.authors.first().map(|a| a.user.clone()).unwrap_or_default(),
            title: c.title,
            date: format::iso_date(&c.date),
        })
        .collect();
    let mut refs = ref_picker(&state, &viewer, &repo, &rev, "").await?;
    for l in refs.branches.iter_mut().chain(refs.tags.iter_mut()) {
        l.href = format!("{}/commits/{}", repo.head.base, format::seg(&l.name));
    }
    Ok(html(&CommitsPage {
        chrome: Chrome::new(&viewer, format!("History of {}", repo.head.id)),
        here: format!("{}/commits/{}", repo.head.base, format::seg(&rev)),
        refs,
        commits: rows,
        page,
        more,
        repo: repo.head,
    }))
}

#[derive(Template)]
#[template(path = "repo/refs.html")]
struct RefsPage {
    chrome: Chrome,
    repo: RepoHead,
    refs: RefPicker,
}

pub async fn refs(
    state: AppState,
    viewer: Viewer,
    t: RepoType,
    ns: String,
    name: String,
) -> Result<Response, PageError> {
    let repo = load(&state, &viewer, t, &ns, &name, "files").await?;
    let refs = ref_picker(&state, &viewer, &repo, "main", "").await?;
    Ok(html(&RefsPage {
        chrome: Chrome::new(&viewer, format!("Branches and tags of {}", repo.head.id)),
        refs,
        repo: repo.head,
    }))
}

// ---- routing helpers: the same pages for models (no prefix) and datasets --------------------------------

#[derive(Deserialize)]
pub struct RepoPathParams {
    ns: String,
    name: String,
}

#[derive(Deserialize)]
pub struct RevParams {
    ns: String,
    name: String,
    rev: String,
}

#[derive(Deserialize)]
pub struct RevPathParams {
    ns: String,
    name: String,
    rev: String,
    path: String,
}

/// The handlers: the repository type comes from the route (`Extension`, set by the page table for the
/// model and the dataset paths), the rest from the path.
pub mod handlers {
    use super::*;
    use axum::Extension;

    pub async fn card(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        h: HeaderMap,
        Path(p): Path<RepoPathParams>,
    ) -> Result<Response, PageError> {
        super::card(s, v, h, t, p.ns, p.name).await
    }
    pub async fn tree_root(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        Path(p): Path<RevParams>,
    ) -> Result<Response, PageError> {
        super::tree(s, v, t, p.ns, p.name, p.rev, None).await
    }
    pub async fn tree(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        Path(p): Path<RevPathParams>,
    ) -> Result<Response, PageError> {
        super::tree(s, v, t, p.ns, p.name, p.rev, Some(p.path)).await
    }
    pub async fn blob(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        Path(p): Path<RevPathParams>,
    ) -> Result<Response, PageError> {
        super::blob(s, v, t, p.ns, p.name, p.rev, p.path).await
    }
    pub async fn commits(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        Path(p): Path<RevParams>,
        Query(q): Query<PageQuery>,
    ) -> Result<Response, PageError> {
        super::commits(s, v, t, p.ns, p.name, p.rev, q).await
    }
    pub async fn commit(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        Path(p): Path<RevParams>,
    ) -> Result<Response, PageError> {
        super::super::diff::commit(s, v, t, p.ns, p.name, p.rev).await
    }
    pub async fn refs(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        Path(p): Path<RepoPathParams>,
    ) -> Result<Response, PageError> {
        super::refs(s, v, t, p.ns, p.name).await
    }
    pub async fn settings(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        v: Viewer,
        Path(p): Path<RepoPathParams>,
    ) -> Result<Response, PageError> {
        super::super::manage::settings(s, v, t, p.ns, p.name).await
    }
}
