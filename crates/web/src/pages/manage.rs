//! Changing things: creating a repository, a repository's settings (visibility, rename or move, delete),
//! creating an organization and managing its members. Each form calls the same domain function as the
//! API, which asks the one decision function.

use crate::csrf::CsrfForm;
use crate::forms::FormState;
use crate::page::{html, html_status, see_other, Chrome, PageError};
use crate::pages::gating::{review_of, settings_view, GateSettingsView, Review};
use crate::pages::repo::{load, Repo, RepoHead};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_authz::{Action, OrgRole};
use gatehouse_core::access::authorize_namespace;
use gatehouse_core::{accounts, repos};
use gatehouse_http::AppState;
use gatehouse_store::{AccountKind, AccountStore};
use gatehouse_types::{Error, ErrorCode, RepoId, RepoType, Visibility};
use serde::Deserialize;

fn is_internal(e: &Error) -> bool {
    e.code == ErrorCode::Internal
}

// ---- new repository ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "new_repo.html")]
struct NewRepoPage {
    chrome: Chrome,
    form: FormState,
    owners: Vec<String>,
}

/// The namespaces the viewer may create repositories in: their own and their organizations' (as the
/// decision function says).
async fn owners(state: &AppState, viewer: &Viewer) -> Result<Vec<String>, PageError> {
    let Some(user) = viewer.signed_in() else { return Ok(Vec::new()) };
    let mut out = vec![user.name.clone()];
    for (org, _) in state.hub.store.memberships_of_user(user.id).await.map_err(Error::from)? {
        if authorize_namespace(&state.hub, &viewer.subject, &org.name, Action::RepoCreate).await.is_ok() {
            out.push(org.name);
        }
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    owner: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub async fn new_repo_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    viewer.require_user("/new")?;
    let form = FormState::new()
        .with_value("owner", q.owner.as_deref().unwrap_or(""))
        .with_value("type", q.kind.as_deref().unwrap_or("model"))
        .with_value("visibility", "public");
    Ok(html(&NewRepoPage {
        chrome: Chrome::new(&viewer, "New repository"),
        owners: owners(&state, &viewer).await?,
        form,
    }))
}

#[derive(Deserialize)]
pub struct NewRepoForm {
    #[serde(default)]
    owner: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    visibility: String,
}

pub async fn create_repo(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<NewRepoForm>,
) -> Result<Response, PageError> {
    viewer.require_user("/new")?;
    let mut fs = FormState::new()
        .with_value("owner", &form.owner)
        .with_value("name", &form.name)
        .with_value("type", &form.kind)
        .with_value("visibility", &form.visibility);
    let t = match form.kind.as_str() {
        "model" => Some(RepoType::Model),
        "dataset" => Some(RepoType::Dataset),
        _ => {
            fs.set_error("type", "Choose model or dataset");
            None
        }
    };
    let visibility = match form.visibility.as_str() {
        "public" => Some(Visibility::Public),
        "private" => Some(Visibility::Private),
        _ => {
            fs.set_error("visibility", "Choose public or private");
            None
        }
    };
    if let Err(e) = RepoId::new(&form.owner, form.name.trim()) {
        let field = if e.message.contains(&form.owner) && !form.owner.is_empty() { "owner" } else { "name" };
        fs.set_error(field, e.message);
    }
    if let (false, Some(t), Some(visibility)) = (fs.has_errors(), t, visibility) {
        let req = repos::CreateRepo { repo_type: t, namespace: Some(&form.owner), name: form.name.trim(), visibility };
        match repos::create(&state.hub, &viewer.subject, req).await {
            Ok(repos::CreateOutcome::Created(r)) => {
                return Ok(see_other(&format!("/{}{}/{}", t.url_prefix(), r.owner_name, r.name)));
            }
            Ok(repos::CreateOutcome::AlreadyExists(_)) => {
                fs.set_error("name", "You already have a repository with this name")
            }
            Err(e) if is_internal(&e) => return Err(e.into()),
            Err(e) if matches!(e.code, ErrorCode::Forbidden | ErrorCode::NotFound | ErrorCode::AuthRequired) => {
                fs.set_error("owner", "You may not create repositories there")
            }
            Err(e) => fs.set_error("name", e.message),
        }
    }
    let owners = owners(&state, &viewer).await?;
    Ok(html_status(
        StatusCode::BAD_REQUEST,
        &NewRepoPage { chrome: Chrome::new(&viewer, "New repository"), form: fs, owners },
    ))
}

// ---- repository settings ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "repo/settings.html")]
pub(crate) struct SettingsPage {
    chrome: Chrome,
    repo: RepoHead,
    private: bool,
    rename: FormState,
    delete: FormState,
    gate: GateSettingsView,
    /// The access requests, for the "Review access requests" dialog of a gated repository.
    review: Option<Review>,
}

/// The settings page with the forms as given (a refused form shows its errors).
async fn settings_with(
    state: &AppState,
    viewer: &Viewer,
    repo: Repo,
    rename: FormState,
    delete: FormState,
    gate: FormState,
) -> Result<SettingsPage, PageError> {
    if !repo.head.can_manage {
        // Someone who may see the repository but not manage it: forbidden, not hidden.
        return Err(Error::forbidden("Only the repository's admins can change its settings.").into());
    }
    let review = match repo.record.gated {
        Some(_) => Some(review_of(state, viewer, &repo, FormState::new()).await?),
        None => None,
    };
    Ok(SettingsPage {
        chrome: Chrome::new(viewer, format!("Settings of {}", repo.head.id)),
        private: repo.record.private,
        rename,
        delete,
        gate: settings_view(state, &repo, gate).await?,
        review,
        repo: repo.head,
    })
}

/// The settings page after a refused gate form.
pub(crate) async fn settings_page(
    state: &AppState,
    viewer: &Viewer,
    repo: Repo,
    gate: FormState,
) -> Result<SettingsPage, PageError> {
    let rename = FormState::new().with_value("new_id", &repo.head.id);
    settings_with(state, viewer, repo, rename, FormState::new(), gate).await
}

pub async fn settings(
    state: AppState,
    viewer: Viewer,
    t: RepoType,
    ns: String,
    name: String,
) -> Result<Response, PageError> {
    let repo = load(&state, &viewer, t, &ns, &name, "settings").await?;
    Ok(html(&settings_page(&state, &viewer, repo, FormState::new()).await?))
}

#[derive(Deserialize)]
pub struct VisibilityForm {
    #[serde(default)]
    visibility: String,
}

pub async fn set_visibility(
    state: AppState,
    t: RepoType,
    ns: String,
    name: String,
    viewer: Viewer,
    form: VisibilityForm,
) -> Result<Response, PageError> {
    viewer.require_user(&format!("/{}{ns}/{name}/settings", t.url_prefix()))?;
    let v = match form.visibility.as_str() {
        "public" => Visibility::Public,
        "private" => Visibility::Private,
        _ => return Err(PageError::bad_request("Choose public or private.")),
    };
    repos::set_visibility(&state.hub, &viewer.subject, t, &ns, &name, v).await?;
    Ok(see_other(&format!("/{}{ns}/{name}/settings", t.url_prefix())))
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    new_id: String,
}

pub async fn move_repo(
    state: AppState,
    t: RepoType,
    ns: String,
    name: String,
    viewer: Viewer,
    form: MoveForm,
) -> Result<Response, PageError> {
    viewer.require_user(&format!("/{}{ns}/{name}/settings", t.url_prefix()))?;
    let repo = load(&state, &viewer, t, &ns, &name, "settings").await?;
    let from = RepoId::new(repo.ns(), repo.name())?;
    let mut rename = FormState::new().with_value("new_id", &form.new_id);
    match form.new_id.trim().split_once('/').map(|(o, n)| RepoId::new(o, n)) {
        Some(Ok(to)) => match repos::rename(&state.hub, &viewer.subject, t, &from, &to).await {
            Ok(moved) => {
                return Ok(see_other(&format!("/{}{}/{}/settings", t.url_prefix(), moved.owner_name, moved.name)))
            }
            Err(e) if is_internal(&e) => return Err(e.into()),
            Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Forbidden) => {
                rename.set_error("new_id", "You may not move repositories to that owner")
            }
            Err(e) => rename.set_error("new_id", e.message),
        },
        Some(Err(e)) => rename.set_error("new_id", e.message),
        None => rename.set_error("new_id", "Write the new name as owner/name"),
    }
    let page = settings_with(&state, &viewer, repo, rename, FormState::new(), FormState::new()).await?;
    Ok(html_status(StatusCode::BAD_REQUEST, &page))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete_repo(
    state: AppState,
    t: RepoType,
    ns: String,
    name: String,
    viewer: Viewer,
    form: DeleteForm,
) -> Result<Response, PageError> {
    viewer.require_user(&format!("/{}{ns}/{name}/settings", t.url_prefix()))?;
    let repo = load(&state, &viewer, t, &ns, &name, "settings").await?;
    if form.confirm.trim() != repo.head.id {
        let mut delete = FormState::new().with_value("confirm", &form.confirm);
        delete.set_error("confirm", format!("Type {} to confirm", repo.head.id));
        let rename = FormState::new().with_value("new_id", &repo.head.id);
        let page = settings_with(&state, &viewer, repo, rename, delete, FormState::new()).await?;
        return Ok(html_status(StatusCode::BAD_REQUEST, &page));
    }
    repos::delete(&state.hub, &viewer.subject, t, repo.ns(), repo.name()).await?;
    Ok(see_other(&format!("/{}", repo.ns())))
}

/// The settings forms' handlers; the repository type comes from the route (`Extension`).
pub mod handlers {
    use super::*;
    use axum::Extension;

    #[derive(Deserialize)]
    pub struct P {
        ns: String,
        name: String,
    }
    pub async fn visibility(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        Path(p): Path<P>,
        f: CsrfForm<VisibilityForm>,
    ) -> Result<Response, PageError> {
        super::set_visibility(s, t, p.ns, p.name, f.viewer, f.form).await
    }
    pub async fn rename(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        Path(p): Path<P>,
        f: CsrfForm<MoveForm>,
    ) -> Result<Response, PageError> {
        super::move_repo(s, t, p.ns, p.name, f.viewer, f.form).await
    }
    pub async fn delete(
        State(s): State<AppState>,
        Extension(t): Extension<RepoType>,
        Path(p): Path<P>,
        f: CsrfForm<DeleteForm>,
    ) -> Result<Response, PageError> {
        super::delete_repo(s, t, p.ns, p.name, f.viewer, f.form).await
    }
}

// ---- organizations ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "org/new.html")]
struct NewOrgPage {
    chrome: Chrome,
    form: FormState,
}

pub async fn new_org_form(viewer: Viewer) -> Result<Response, PageError> {
    viewer.require_user("/organizations/new")?;
    Ok(html(&NewOrgPage { chrome: Chrome::new(&viewer, "New organization"), form: FormState::new() }))
}

#[derive(Deserialize)]
pub struct NewOrgForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    full_name: String,
}

pub async fn create_org(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<NewOrgForm>,
) -> Result<Response, PageError> {
    viewer.require_user("/organizations/new")?;
    match accounts::create_org_as(&state.hub, &viewer.subject, form.name.trim(), Some(form.full_name.as_str())).await {
        Ok(org) => Ok(see_other(&format!("/{}", org.name))),
        Err(e) if is_internal(&e) => Err(e.into()),
        Err(e) => {
            let mut fs = FormState::new().with_value("name", &form.name).with_value("full_name", &form.full_name);
            fs.set_error("name", e.message);
            Ok(html_status(
                StatusCode::BAD_REQUEST,
                &NewOrgPage { chrome: Chrome::new(&viewer, "New organization"), form: fs },
            ))
        }
    }
}

pub struct Member {
    pub name: String,
    pub fullname: String,
    pub role: &'static str,
}

#[derive(Template)]
#[template(path = "org/members.html")]
struct MembersPage {
    chrome: Chrome,
    org: String,
    members: Vec<Member>,
    roles: Vec<&'static str>,
    form: FormState,
}

async fn members_page(state: &AppState, viewer: &Viewer, org: &str, form: FormState) -> Result<MembersPage, PageError> {
    // Only the organization's admins manage members (the decision function says who).
    let account = authorize_namespace(&state.hub, &viewer.subject, org, Action::OrgManageMembers).await?;
    if account.kind != AccountKind::Org {
        return Err(PageError::not_found());
    }
    let members = accounts::members(&state.hub, &account)
        .await?
        .into_iter()
        .map(|(a, r)| Member { name: a.name, fullname: a.fullname, role: r.as_str() })
        .collect();
    Ok(MembersPage {
        chrome: Chrome::new(viewer, format!("Members of {}", account.name)),
        org: account.name,
        members,
        roles: OrgRole::ALL.iter().map(|r| r.as_str()).collect(),
        form,
    })
}

pub async fn members(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
) -> Result<Response, PageError> {
    viewer.require_user(&format!("/organizations/{org}/members"))?;
    Ok(html(&members_page(&state, &viewer, &org, FormState::new().with_value("role", "read")).await?))
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
    /// `remove` to remove the member instead.
    #[serde(default)]
    action: String,
}

pub async fn change_member(
    State(state): State<AppState>,
    Path(org): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<MemberForm>,
) -> Result<Response, PageError> {
    viewer.require_user(&format!("/organizations/{org}/members"))?;
    let hub = &state.hub;
    let result = if form.action == "remove" {
        accounts::remove_member(hub, &viewer.subject, &org, form.user.trim()).await
    } else {
        match OrgRole::parse(&form.role) {
            Ok(role) => accounts::set_member_role(hub, &viewer.subject, &org, form.user.trim(), role).await,
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/organizations/{org}/members"))),
        Err(e) if is_internal(&e) || matches!(e.code, ErrorCode::Forbidden | ErrorCode::AuthRequired) => Err(e.into()),
        Err(e) => {
            let mut fs = FormState::new().with_value("user", &form.user).with_value("role", &form.role);
            let field = if e.message.contains("role") { "role" } else { "user" };
            fs.set_error(field, e.message);
            Ok(html_status(StatusCode::BAD_REQUEST, &members_page(&state, &viewer, &org, fs).await?))
        }
    }
}
