use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{
    base_url, json_body, next_link, page, query_flag, query_get, query_pairs, repo_url, Path, RepoParams,
};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_authz::Action;
use gatehouse_core::content::read::{self, RepoSummary};
use gatehouse_core::gating::{self, GateUpdate};
use gatehouse_core::repos::{self, CreateOutcome, CreateRepo, ListRequest};
use gatehouse_store::{RepoRecord, RepoSort};
use gatehouse_types::{Error, GateMode, NotificationsMode, RepoId, RepoType, Visibility};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
    organization: Option<String>,
    #[serde(rename = "type")]
    repo_type: Option<String>,
    private: Option<bool>,
    visibility: Option<String>,
}

/// Clients up to 1.7 send `private`; newer ones `visibility`.
fn visibility(private: Option<bool>, visibility: Option<&str>) -> Result<Option<Visibility>, Error> {
    match (visibility, private) {
        (Some(v), _) => Visibility::parse(v).map(Some),
        (None, Some(p)) => Ok(Some(Visibility::from_private(p))),
        (None, None) => Ok(None),
    }
}

fn created_url(state: &AppState, headers: &HeaderMap, r: &RepoRecord) -> String {
    repo_url(&base_url(state, headers), r.repo_type, &r.owner_name, &r.name)
}

/// `POST /api/repos/create`: 200 with `url`, or 409 with `url` when it exists (the client's `exist_ok`
/// reads it).
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let b: CreateBody = json_body(body).await?;
    let repo_type = RepoType::parse(b.repo_type.as_deref().unwrap_or("model"))?;
    let vis = visibility(b.private, b.visibility.as_deref())?.unwrap_or(Visibility::Public);
    let req = CreateRepo { repo_type, namespace: b.organization.as_deref(), name: &b.name, visibility: vis };
    match repos::create(&state.hub, &caller.subject, req).await? {
        CreateOutcome::Created(r) => {
            let url = created_url(&state, &headers, &r);
            Ok(Json(
                json!({"url": url, "name": format!("{}/{}", r.owner_name, r.name), "id": read::object_id(1, r.id)}),
            )
            .into_response())
        }
        CreateOutcome::AlreadyExists(r) => {
            let url = created_url(&state, &headers, &r);
            let message = format!("You already created this {} repo", r.repo_type);
            let mut resp = (StatusCode::CONFLICT, Json(json!({"error": message, "url": url}))).into_response();
            resp.headers_mut().insert("x-error-code", axum::http::HeaderValue::from_static("RepoExists"));
            if let Ok(v) = axum::http::HeaderValue::from_str(&message) {
                resp.headers_mut().insert("x-error-message", v);
            }
            Ok(resp)
        }
    }
}

#[derive(Deserialize)]
pub struct DeleteBody {
    name: String,
    organization: Option<String>,
    #[serde(rename = "type")]
    repo_type: Option<String>,
}

fn caller_namespace(caller: &Caller, org: Option<String>) -> Result<String, Error> {
    match org {
        Some(o) => Ok(o),
        None => Ok(caller.subject.user().ok_or_else(Error::auth_required)?.username.clone()),
    }
}

/// `DELETE /api/repos/delete` (a DELETE with a JSON body).
pub async fn delete(State(state): State<AppState>, caller: Caller, body: Body) -> ApiResult<Json<Value>> {
    let b: DeleteBody = json_body(body).await?;
    let t = RepoType::parse(b.repo_type.as_deref().unwrap_or("model"))?;
    let ns = caller_namespace(&caller, b.organization)?;
    repos::delete(&state.hub, &caller.subject, t, &ns, &b.name).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct MoveBody {
    #[serde(rename = "fromRepo")]
    from: String,
    #[serde(rename = "toRepo")]
    to: String,
    #[serde(rename = "type")]
    repo_type: Option<String>,
}

/// `POST /api/repos/move`.
pub async fn rename(State(state): State<AppState>, caller: Caller, body: Body) -> ApiResult<Json<Value>> {
    let b: MoveBody = json_body(body).await?;
    let t = RepoType::parse(b.repo_type.as_deref().unwrap_or("model"))?;
    let from = RepoId::parse(&b.from).map_err(|_| Error::repo_not_found())?;
    let to = RepoId::parse(&b.to)?;
    repos::rename(&state.hub, &caller.subject, t, &from, &to).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsBody {
    private: Option<bool>,
    visibility: Option<String>,
    gated: Option<Value>,
    gated_notifications_mode: Option<String>,
    /// A string, or null for the default recipients.
    #[serde(default, deserialize_with = "present")]
    gated_notifications_email: Option<Option<String>>,
}

/// Tells an explicit `null` (Some(None)) from an absent key (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PUT /api/{type}s/{repo}/settings`: visibility, and the gate (`gated`, `gatedNotificationsMode`,
/// `gatedNotificationsEmail`).
pub async fn settings(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let b: SettingsBody = json_body(body).await?;
    let gate = GateUpdate {
        mode: match &b.gated {
            None => None,
            Some(Value::Bool(false)) => Some(None),
            Some(Value::String(mode)) => Some(Some(GateMode::parse(mode)?)),
            Some(other) => {
                return Err(Error::bad_request(format!(
                    "Invalid gated value {other}: expected \"auto\", \"manual\" or false"
                ))
                .into())
            }
        },
        notifications_mode: b.gated_notifications_mode.as_deref().map(NotificationsMode::parse).transpose()?,
        notifications_email: b.gated_notifications_email,
    };
    let vis = visibility(b.private, b.visibility.as_deref())?;
    // Checked before anything changes, so a bad value never leaves half a change behind.
    gating::update_settings(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, gate).await?;
    if let Some(v) = vis {
        repos::set_visibility(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, v).await?;
    }
    Ok(Json(json!({})))
}

/// `GET /api/models`, `/api/datasets`, `/api/spaces`: what the caller may see, paged with `Link`.
pub async fn list(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    caller: Caller,
) -> ApiResult<Response> {
    let repo_type = RepoType::parse(&kind).map_err(|_| ApiError::from(Error::not_found("Not found")))?;
    let pairs = query_pairs(&uri);
    let (offset, limit) = page(&pairs, 1000, 1000)?;
    let sort = match query_get(&pairs, "sort") {
        Some("createdAt") => RepoSort::CreatedAt,
        Some("id" | "name") => RepoSort::Name,
        _ => RepoSort::LastModified,
    };
    let search: Vec<&str> = pairs.iter().filter(|(k, _)| k == "search").map(|(_, v)| v.as_str()).collect();
    let req = ListRequest {
        repo_type,
        search: search.first().map(|s| s.to_string()).filter(|s| !s.is_empty()),
        author: query_get(&pairs, "author").map(str::to_string).filter(|s| !s.is_empty()),
        // `list_models(filter="…")`: a tag of the card.
        tag: query_get(&pairs, "filter").map(str::to_string).filter(|s| !s.is_empty()),
        sort,
        offset: offset as u64,
        limit: limit as u32 + 1,
    };
    let mut repos = repos::list(&state.hub, &caller.subject, req).await?;
    let more = repos.len() > limit;
    repos.truncate(limit);
    let items: Vec<RepoSummary> = repos.iter().map(RepoSummary::from_record).collect();
    let mut resp = Json(items).into_response();
    let explicit_limit = query_get(&pairs, "limit").is_some();
    if more && !explicit_limit {
        if let Some(link) = next_link(&base_url(&state, &headers), &uri, offset + limit) {
            resp.headers_mut().insert("link", link);
        }
    }
    Ok(resp)
}

/// `GET /api/{type}s/{repo}` and `…/revision/{rev}`.
pub async fn info(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    uri: Uri,
    caller: Caller,
) -> ApiResult<Response> {
    let r = p.repo()?;
    let rev = p.revision()?;
    let pairs = query_pairs(&uri);
    let info =
        read::repo_info(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &rev, query_flag(&pairs, "blobs"))
            .await?;
    let mut value = serde_json::to_value(info).map_err(Error::internal)?;
    let expand: Vec<&str> =
        pairs.iter().filter(|(k, _)| k == "expand" || k == "expand[]").map(|(_, v)| v.as_str()).collect();
    if !expand.is_empty() {
        if let Value::Object(map) = &mut value {
            map.retain(|k, _| k == "_id" || k == "id" || expand.contains(&k.as_str()));
        }
    }
    Ok(Json(value).into_response())
}

/// `GET /api/{type}s/{repo}/auth-check`: any 2xx means the caller may get the files, so a gated
/// repository answers `GatedRepo` without an accepted request.
pub async fn auth_check(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    gatehouse_core::access::authorize_repo(
        &state.hub,
        &caller.subject,
        r.repo_type,
        &r.ns,
        &r.name,
        Action::RepoDownload,
    )
    .await?;
    Ok(Json(json!({"access": "read"})))
}

pub async fn auth_check_write(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    gatehouse_core::access::authorize_repo(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, Action::RepoWrite)
        .await?;
    Ok(Json(json!({"access": "write"})))
}

/// A single-segment id (`/api/models/gpt2`): every Gatehouse repository is namespaced.
pub async fn unnamespaced() -> ApiError {
    Error::repo_not_found().into()
}
