//! Finding things: the home page, the model and dataset lists with search, sort and filters, and the
//! page of a user or an organization. Every list goes through `core::repos::list`, which applies the
//! caller's filter — the same rule as every point check.

use crate::format;
use crate::page::{html, Chrome, PageError};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use gatehouse_authz::{decide, Action, Decision, Resource};
use gatehouse_core::access::namespace_facts;
use gatehouse_core::repos::{self, ListRequest};
use gatehouse_http::AppState;
use gatehouse_store::{Account, AccountKind, AccountStore, RepoRecord, RepoSort};
use gatehouse_types::RepoType;
use serde::Deserialize;

const PAGE_SIZE: u32 = 30;

/// A repository as a list shows it.
pub struct RepoCard {
    pub id: String,
    pub href: String,
    pub kind: &'static str,
    pub private: bool,
    pub gated: bool,
    pub updated: String,
}

impl RepoCard {
    pub fn from(r: &RepoRecord) -> RepoCard {
        RepoCard {
            id: format!("{}/{}", r.owner_name, r.name),
            href: format!("/{}{}/{}", r.repo_type.url_prefix(), r.owner_name, r.name),
            kind: kind_label(r.repo_type),
            private: r.private,
            gated: r.gated.is_some(),
            updated: format::date(r.updated_at),
        }
    }
}

pub fn kind_label(t: RepoType) -> &'static str {
    match t {
        RepoType::Model => "model",
        RepoType::Dataset => "dataset",
        RepoType::Space => "space",
    }
}

async fn list(state: &AppState, viewer: &Viewer, req: ListRequest) -> Result<Vec<RepoCard>, PageError> {
    Ok(repos::list(&state.hub, &viewer.subject, req).await?.iter().map(RepoCard::from).collect())
}

fn recent(t: RepoType, author: Option<String>, limit: u32) -> ListRequest {
    ListRequest { repo_type: t, search: None, author, tag: None, sort: RepoSort::LastModified, offset: 0, limit }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    mine: Vec<RepoCard>,
    models: Vec<RepoCard>,
    datasets: Vec<RepoCard>,
}

pub async fn home(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let mut mine = Vec::new();
    if let Some(u) = viewer.signed_in() {
        mine = list(&state, &viewer, recent(RepoType::Model, Some(u.name.clone()), 10)).await?;
        mine.extend(list(&state, &viewer, recent(RepoType::Dataset, Some(u.name.clone()), 10)).await?);
    }
    let models = list(&state, &viewer, recent(RepoType::Model, None, 12)).await?;
    let datasets = list(&state, &viewer, recent(RepoType::Dataset, None, 12)).await?;
    Ok(html(&HomePage { chrome: Chrome::new(&viewer, "Home"), mine, models, datasets }))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    search: Option<String>,
    author: Option<String>,
    tag: Option<String>,
    sort: Option<String>,
    p: Option<u32>,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    chrome: Chrome,
    kind: &'static str,
    path: &'static str,
    search: String,
    author: String,
    tag: String,
    sort: String,
    repos: Vec<RepoCard>,
    page: u32,
    more: bool,
    /// The query string without `p`, for the pager links.
    base_query: String,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

async fn list_page(state: AppState, viewer: Viewer, q: ListQuery, t: RepoType) -> Result<Response, PageError> {
    let sort = match q.sort.as_deref() {
        Some("created") => RepoSort::CreatedAt,
        Some("name") => RepoSort::Name,
        _ => RepoSort::LastModified,
    };
    let page = q.p.unwrap_or(1).clamp(1, 10_000);
    let (search, author, tag) = (non_empty(q.search), non_empty(q.author), non_empty(q.tag));
    let req = ListRequest {
        repo_type: t,
        search: search.clone(),
        author: author.clone(),
        tag: tag.clone(),
        sort,
        offset: u64::from(page - 1) * u64::from(PAGE_SIZE),
        limit: PAGE_SIZE + 1,
    };
    let mut repos = list(&state, &viewer, req).await?;
    let more = repos.len() > PAGE_SIZE as usize;
    repos.truncate(PAGE_SIZE as usize);
    let sort_name = match sort {
        RepoSort::CreatedAt => "created",
        RepoSort::Name => "name",
        RepoSort::LastModified => "updated",
    };
    let mut qs = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("search", &search), ("author", &author), ("tag", &tag)] {
        if let Some(v) = v {
            qs.append_pair(k, v);
        }
    }
    qs.append_pair("sort", sort_name);
    let (kind, path, title) = match t {
        RepoType::Dataset => ("dataset", "/datasets", "Datasets"),
        _ => ("model", "/models", "Models"),
    };
    let mut chrome = Chrome::new(&viewer, title);
    chrome.search = search.clone().unwrap_or_default();
    Ok(html(&ListPage {
        chrome,
        kind,
        path,
        search: search.unwrap_or_default(),
        author: author.unwrap_or_default(),
        tag: tag.unwrap_or_default(),
        sort: sort_name.to_string(),
        repos,
        page,
        more,
        base_query: qs.finish(),
    }))
}

pub async fn models(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    list_page(state, viewer, q, RepoType::Model).await
}

pub async fn datasets(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    list_page(state, viewer, q, RepoType::Dataset).await
}

pub struct MemberRow {
    pub name: String,
    pub role: &'static str,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    account: Account,
    is_org: bool,
    repos: Vec<RepoCard>,
    members: Vec<MemberRow>,
    can_manage: bool,
    can_create: bool,
}

/// `/{name}`: a user's or an organization's page with the repositories the viewer may see.
pub async fn account(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let hub = &state.hub;
    let account = hub
        .store
        .account_by_name(&name)
        .await
        .map_err(gatehouse_types::Error::from)?
        .ok_or_else(PageError::not_found)?;
    let mut repos = list(&state, &viewer, recent(RepoType::Model, Some(account.name.clone()), 100)).await?;
    repos.extend(list(&state, &viewer, recent(RepoType::Dataset, Some(account.name.clone()), 100)).await?);
    let is_org = account.kind == AccountKind::Org;
    let members = if is_org {
        gatehouse_core::accounts::members(hub, &account)
            .await?
            .into_iter()
            .map(|(a, r)| MemberRow { name: a.name, role: r.as_str() })
            .collect()
    } else {
        Vec::new()
    };
    let facts = namespace_facts(&account);
    let allowed = |a: Action| decide(&viewer.subject, a, Resource::Namespace(&facts)) == Decision::Allow;
    let can_manage = is_org && allowed(Action::OrgManageMembers);
    let can_create = allowed(Action::RepoCreate);
    Ok(html(&AccountPage {
        chrome: Chrome::new(&viewer, account.name.clone()),
        account,
        is_org,
        repos,
        members,
        can_manage,
        can_create,
    }))
}
