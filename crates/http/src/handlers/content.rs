use crate::auth::Caller;
use crate::error::ApiResult;
use crate::params::{
    base_url, json_body, next_link, page, query_flag, query_pairs, read_bounded, Path, RepoParams, MAX_JSON_BODY,
};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_core::content::preupload::{self, PreuploadFile};
use gatehouse_core::content::{card, lfs_files, read, refs};
use gatehouse_types::{Error, RepoPath, Revision};
use serde::Deserialize;
use serde_json::{json, Value};

pub(crate) fn paged<T: serde::Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    items: Vec<T>,
    more: bool,
    next: usize,
) -> Response {
    let mut resp = Json(items).into_response();
    if more {
        if let Some(link) = next_link(&base_url(state, headers), uri, next) {
            resp.headers_mut().insert("link", link);
        }
    }
    resp
}

/// `GET /api/{type}s/{repo}/tree/{rev}[/{path}]?recursive=&expand=`.
pub async fn tree(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    headers: HeaderMap,
    uri: Uri,
    caller: Caller,
) -> ApiResult<Response> {
    let r = p.repo()?;
    let rev = p.revision()?;
    let pairs = query_pairs(&uri);
    let expand = query_flag(&pairs, "expand");
    // The Hub's page sizes: 1000 entries, 50 when each carries its last commit.
    let (offset, limit) = page(&pairs, if expand { 50 } else { 1000 }, if expand { 50 } else { 1000 })?;
    let path = match p.path.as_deref().map(|s| s.trim_matches('/')) {
        None | Some("") => None,
        Some(s) => Some(RepoPath::parse(s)?),
    };
    let req = read::TreeRequest { path, recursive: query_flag(&pairs, "recursive"), expand, offset, limit };
    let (items, more) = read::tree(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &rev, req).await?;
    Ok(paged(&state, &headers, &uri, items, more, offset + limit))
}

/// `POST /api/{type}s/{repo}/paths-info/{rev}` — form-encoded: `paths=a&paths=b&expand=false`.
pub async fn paths_info(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Vec<read::TreeItem>>> {
    let r = p.repo()?;
    let rev = p.revision()?;
    let raw = read_bounded(body, MAX_JSON_BODY).await?;
    let (mut paths, mut expand) = (Vec::new(), false);
    if raw.first() == Some(&b'{') {
        let v: Value =
            serde_json::from_slice(&raw).map_err(|e| Error::bad_request(format!("Invalid JSON body: {e}")))?;
        for p in v.get("paths").and_then(Value::as_array).into_iter().flatten() {
            paths.push(RepoPath::parse(p.as_str().unwrap_or(""))?);
        }
        expand = v.get("expand").and_then(Value::as_bool).unwrap_or(false);
    } else {
        for (k, v) in form_urlencoded::parse(&raw) {
            match k.as_ref() {
                "paths" => paths.push(RepoPath::parse(&v)?),
                "expand" => expand = v == "true" || v == "1",
                _ => {}
            }
        }
    }
    if paths.len() > 10_000 {
        return Err(Error::bad_request("At most 10000 paths per request").into());
    }
    Ok(Json(read::paths_info(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &rev, paths, expand).await?))
}

/// `GET /api/{type}s/{repo}/refs[?include_prs=1]`.
pub async fn refs_list(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    uri: Uri,
    caller: Caller,
) -> ApiResult<Json<read::RefsView>> {
    let r = p.repo()?;
    let prs = query_flag(&query_pairs(&uri), "include_prs");
    Ok(Json(read::refs(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, prs).await?))
}

/// `GET /api/{type}s/{repo}/commits/{rev}`, newest first, paged.
pub async fn commits(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    headers: HeaderMap,
    uri: Uri,
    caller: Caller,
) -> ApiResult<Response> {
    let r = p.repo()?;
    let rev = p.revision()?;
    let pairs = query_pairs(&uri);
    let (offset, limit) = page(&pairs, 50, 1000)?;
    let formatted = pairs.iter().any(|(k, v)| (k == "expand[]" || k == "expand") && v == "formatted");
    let (items, more) =
        read::commits(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &rev, offset, limit, formatted).await?;
    Ok(paged(&state, &headers, &uri, items, more, offset + limit))
}

#[derive(Deserialize, Default)]
pub struct BranchBody {
    #[serde(rename = "startingPoint")]
    starting_point: Option<String>,
}

/// `POST /api/{type}s/{repo}/branch/{branch}`: 409 when it exists.
pub async fn create_branch(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let branch = p.rev.clone().unwrap_or_default();
    let b: BranchBody = json_body(body).await?;
    let start = b.starting_point.as_deref().map(Revision::parse).transpose()?;
    refs::create_branch(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &branch, start.as_ref()).await?;
    Ok(Json(json!({})))
}

pub async fn delete_branch(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    refs::delete_branch(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, p.rev.as_deref().unwrap_or_default())
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct TagBody {
    tag: String,
    message: Option<String>,
}

/// `POST /api/{type}s/{repo}/tag/{revision}` with `{"tag": …}`: the path names what to tag.
pub async fn create_tag(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let rev = p.revision()?;
    let b: TagBody = json_body(body).await?;
    refs::create_tag(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &rev, &b.tag, b.message).await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    refs::delete_tag(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, p.rev.as_deref().unwrap_or_default())
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
pub struct SquashBody {
    message: Option<String>,
}

/// `POST /api/{type}s/{repo}/super-squash/{branch}`.
pub async fn squash(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let branch = p.revision()?;
    let b: SquashBody = json_body(body).await?;
    let commit = refs::squash(
        &state.hub,
        &caller.subject,
        r.repo_type,
        &r.ns,
        &r.name,
        branch.as_str(),
        b.message.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(Json(json!({"commitOid": commit})))
}

#[derive(Deserialize)]
pub struct PreuploadBody {
    files: Vec<PreuploadFile>,
    #[serde(rename = "gitIgnore")]
    git_ignore: Option<String>,
}

/// `POST /api/{type}s/{repo}/preupload/{rev}`: every requested path comes back, with `shouldIgnore`.
pub async fn preupload(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let rev = p.revision()?;
    let b: PreuploadBody = json_body(body).await?;
    if b.files.len() > 10_000 {
        return Err(Error::bad_request("At most 10000 files per preupload request").into());
    }
    let files = preupload::preupload(
        &state.hub,
        &caller.subject,
        r.repo_type,
        &r.ns,
        &r.name,
        &rev,
        b.files,
        b.git_ignore.as_deref(),
    )
    .await?;
    Ok(Json(json!({ "files": files })))
}

#[derive(Deserialize)]
pub struct YamlBody {
    content: String,
}

/// `POST /api/validate-yaml`: always JSON (the client parses the body before looking at the status).
pub async fn validate_yaml(body: Body) -> ApiResult<Response> {
    let b: YamlBody = json_body(body).await?;
    let v = card::validate(&b.content);
    let messages = |list: &[String]| list.iter().map(|m| json!({"message": m})).collect::<Vec<_>>();
    let body = json!({"errors": messages(&v.errors), "warnings": messages(&v.warnings)});
    let status = if v.errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::BAD_REQUEST };
    Ok((status, Json(body)).into_response())
}

/// `GET /api/{type}s/{repo}/lfs-files`, paged.
pub async fn lfs_files(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    headers: HeaderMap,
    uri: Uri,
    caller: Caller,
) -> ApiResult<Response> {
    let r = p.repo()?;
    let (offset, limit) = page(&query_pairs(&uri), 1000, 1000)?;
    let (items, more) =
        lfs_files::list(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, offset, limit).await?;
    Ok(paged(&state, &headers, &uri, items, more, offset + limit))
}

#[derive(Deserialize)]
pub struct LfsDeletions {
    deletions: LfsDeletionList,
}

#[derive(Deserialize)]
pub struct LfsDeletionList {
    sha: Vec<String>,
    #[serde(rename = "rewriteHistory", default)]
    rewrite_history: bool,
}

/// `POST /api/{type}s/{repo}/lfs-files/batch` with `{"deletions": {"sha": [...], "rewriteHistory": …}}`.
pub async fn delete_lfs_files(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let b: LfsDeletions = json_body(body).await?;
    let removed = lfs_files::delete(
        &state.hub,
        &caller.subject,
        r.repo_type,
        &r.ns,
        &r.name,
        &b.deletions.sha,
        b.deletions.rewrite_history,
    )
    .await?;
    Ok(Json(json!({ "deleted": removed })))
}
