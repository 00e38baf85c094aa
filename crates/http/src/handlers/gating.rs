//! Access requests to gated repositories (spec §7.2): the owners' lists, decisions, grants and report,
//! and — our extension for pipelines without a browser — a user's own request with the form's answers.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::handlers::content::paged;
use crate::params::{json_body, page, query_pairs, Path, RepoParams, RepoRef};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::Json;
use gatehouse_core::gating::{self, Target};
use gatehouse_store::AccessRequest;
use gatehouse_types::{Error, RequestStatus};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
pub struct GateParams {
    kind: String,
    ns: String,
    name: String,
    #[serde(default)]
    status: Option<String>,
}

impl GateParams {
    fn repo(&self) -> ApiResult<RepoRef> {
        RepoParams { kind: self.kind.clone(), ns: self.ns.clone(), name: self.name.clone(), rev: None, path: None }
            .repo()
    }
}

/// A request as huggingface_hub reads it: `user{}` for 1.x–2.2, `requestId` for 2.3+.
fn request_json(r: &AccessRequest) -> Value {
    let fields: Option<Value> = r.fields.as_deref().and_then(|f| serde_json::from_str(f).ok());
    json!({
        // A user granted access without asking shared no contact details: no email then.
        "user": {"user": r.user_name, "fullname": r.user_fullname, "email": r.shared_email()},
        "requestId": r.id.to_string(),
        "status": r.status.as_str(),
        "timestamp": gatehouse_core::time::iso8601(r.created_at),
        "fields": fields,
        "rejectionReason": r.rejection_reason,
    })
}

/// `GET /api/{type}s/{repo}/user-access-request/{pending|accepted|rejected}`, paged with `Link`.
pub async fn list(
    State(state): State<AppState>,
    Path(p): Path<GateParams>,
    headers: HeaderMap,
    uri: Uri,
    caller: Caller,
) -> ApiResult<Response> {
    let r = p.repo()?;
    let status = RequestStatus::parse(p.status.as_deref().unwrap_or_default())?;
    let (offset, limit) = page(&query_pairs(&uri), 100, 1000)?;
    let mut items = gating::list_requests(
        &state.hub,
        &caller.subject,
        r.repo_type,
        &r.ns,
        &r.name,
        Some(status),
        offset as u64,
        limit as u32 + 1,
    )
    .await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let body: Vec<Value> = items.iter().map(request_json).collect();
    Ok(paged(&state, &headers, &uri, body, more, offset + limit))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandleBody {
    user: Option<String>,
    request_id: Option<Value>,
    status: String,
    rejection_reason: Option<String>,
}

/// `POST /api/{type}s/{repo}/user-access-request/handle` with `user` or `requestId`, and `status`.
pub async fn handle(
    State(state): State<AppState>,
    Path(p): Path<GateParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let b: HandleBody = json_body(body).await?;
    let status = RequestStatus::parse(&b.status)?;
    let id = b.request_id.as_ref().map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let target = match (&b.user, &id) {
        (Some(user), _) => Target::User(user),
        (None, Some(id)) => Target::RequestId(id),
        (None, None) => return Err(Error::bad_request("Name the request with \"user\" or \"requestId\"").into()),
    };
    let done = gating::handle(
        &state.hub,
        &caller.subject,
        r.repo_type,
        &r.ns,
        &r.name,
        target,
        status,
        b.rejection_reason.as_deref(),
    )
    .await?;
    Ok(Json(request_json(&done)))
}

#[derive(Deserialize)]
pub struct GrantBody {
    user: String,
}

/// `POST /api/{type}s/{repo}/user-access-request/grant` with `{"user": …}`; the client reads JSON back.
pub async fn grant(
    State(state): State<AppState>,
    Path(p): Path<GateParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let b: GrantBody = json_body(body).await?;
    let done = gating::grant(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &b.user).await?;
    Ok(Json(request_json(&done)))
}

#[derive(Deserialize)]
pub struct RequestBody {
    #[serde(default)]
    fields: Map<String, Value>,
}

/// `POST /api/{type}s/{repo}/user-access-request` with `{"fields": {…}}`: the signed-in caller asks for
/// access, as the form on the repository's page does. Answers `{"status": "accepted" | "pending"}`.
pub async fn request(
    State(state): State<AppState>,
    Path(p): Path<GateParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let b: RequestBody = json_body(body).await?;
    let status = gating::request_access(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &b.fields)
        .await
        .map_err(gating::RequestError::into_error)?;
    Ok(Json(json!({"status": status.as_str()})))
}

/// `GET /api/{type}s/{repo}/user-access-report`: every request, `[{user, fullname, status, email, time}]`.
pub async fn report(State(state): State<AppState>, Path(p): Path<GateParams>, caller: Caller) -> ApiResult<Response> {
    let r = p.repo()?;
    let rows = gating::report(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name).await?;
    let mut resp = axum::response::IntoResponse::into_response(Json(rows));
    let file = format!("attachment; filename=\"{}-user-access-report.json\"", r.name.replace('"', "_"));
    if let Ok(v) = axum::http::HeaderValue::from_str(&file) {
        resp.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
