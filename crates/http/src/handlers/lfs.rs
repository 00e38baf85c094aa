//! Git-LFS over HTTP: the batch API at `{repo}.git/info/lfs/objects/batch`, verify, and the signed
//! transfer URLs it hands out (basic PUT, multipart parts and completion, download).

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::params::{base_url, json_body, query_get, query_pairs, Path};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::TryStreamExt;
use gatehouse_core::lfs::{self, BatchObject, BatchRequest, CompleteRequest};
use gatehouse_types::{Error, RepoType};
use serde::Deserialize;
use serde_json::json;

const LFS_JSON: &str = "application/vnd.git-lfs+json";

fn lfs_json<T: serde::Serialize>(value: T) -> Response {
    let mut resp = Json(value).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(LFS_JSON));
    resp
}

#[derive(Deserialize)]
pub struct LfsRepoParams {
    ns: String,
    name: String,
}

impl LfsRepoParams {
    /// `name` arrives with or without the `.git` of the clone URL.
    fn repo(&self, t: RepoType) -> (RepoType, String, String) {
        (t, self.ns.clone(), self.name.trim_end_matches(".git").to_string())
    }
}

pub async fn batch(
    State(state): State<AppState>,
    Path(p): Path<LfsRepoParams>,
    Extension(t): Extension<RepoType>,
    headers: HeaderMap,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let (t, ns, name) = p.repo(t);
    let req: BatchRequest = json_body(body).await?;
    let base = base_url(&state, &headers);
    let repo_url = format!("{base}/{}{ns}/{name}.git", t.url_prefix());
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let ctx = lfs::BatchContext { base: &base, repo_url: &repo_url, multipart: state.config.multipart, authorization };
    let resp = lfs::batch(&state.hub, &caller.subject, t, &ns, &name, req, ctx).await?;
    Ok(lfs_json(resp))
}

pub async fn verify(
    State(state): State<AppState>,
    Path(p): Path<LfsRepoParams>,
    Extension(t): Extension<RepoType>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let (t, ns, name) = p.repo(t);
    let obj: BatchObject = json_body(body).await?;
    lfs::verify(&state.hub, &caller.subject, t, &ns, &name, obj).await?;
    Ok(lfs_json(json!({})))
}

#[derive(Deserialize)]
pub struct ObjectParams {
    repo_id: i64,
    oid: String,
    size: Option<u64>,
    part: Option<u64>,
}

fn signature(uri: &Uri) -> ApiResult<(i64, String)> {
    let pairs = query_pairs(uri);
    let exp = query_get(&pairs, "exp").and_then(|e| e.parse().ok());
    let sig = query_get(&pairs, "sig");
    match (exp, sig) {
        (Some(exp), Some(sig)) => Ok((exp, sig.to_string())),
        _ => Err(Error::forbidden("Missing URL signature").into()),
    }
}

/// The repository and announced size a signed upload URL authorizes.
async fn signed_upload(state: &AppState, p: &ObjectParams, uri: &Uri) -> ApiResult<(gatehouse_store::RepoRecord, u64)> {
    let (exp, sig) = signature(uri)?;
    let size = p.size.unwrap_or(0);
    Ok((lfs::check_upload_url(&state.hub, p.repo_id, &p.oid, size, exp, &sig).await?, size))
}

/// `PUT` of a whole object (basic transfer). No credentials: the signed URL is the authorization.
pub async fn upload(
    State(state): State<AppState>,
    Path(p): Path<ObjectParams>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let (repo, size) = signed_upload(&state, &p, &uri).await?;
    let stream = body.into_data_stream().map_err(|e| e.to_string());
    lfs::receive(&state.hub, &repo, &p.oid, size, stream).await?;
    Ok(Json(json!({})).into_response())
}

/// `PUT` of one part of a multipart upload; answers with the part's ETag.
pub async fn upload_part(
    State(state): State<AppState>,
    Path(p): Path<ObjectParams>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let (repo, size) = signed_upload(&state, &p, &uri).await?;
    let stream = body.into_data_stream().map_err(|e| e.to_string());
    let etag = lfs::receive_part(&state.hub, &repo, &p.oid, size, p.part.unwrap_or(0), stream).await?;
    let mut resp = Json(json!({})).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// `POST` to the upload URL: completes a multipart upload.
pub async fn complete(
    State(state): State<AppState>,
    Path(p): Path<ObjectParams>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let (repo, size) = signed_upload(&state, &p, &uri).await?;
    let req: CompleteRequest = json_body(body).await?;
    lfs::complete_multipart(&state.hub, &repo, &p.oid, size, req).await?;
    Ok(lfs_json(json!({})))
}

/// `GET` of an object through a signed download URL from the batch API.
pub async fn download(State(state): State<AppState>, Path(p): Path<ObjectParams>, uri: Uri) -> ApiResult<Response> {
    let (exp, sig) = signature(&uri)?;
    let (_repo, link) = lfs::check_download_url(&state.hub, p.repo_id, &p.oid, exp, &sig).await?;
    let body = match &link.xet_hash {
        // Uploaded through Xet: reconstructed, so git-lfs and old clients get the same bytes.
        Some(hash) => {
            let hash = gatehouse_core::xet::parse_hash(hash)?;
            Body::from_stream(gatehouse_core::xet::serve::bytes(state.hub.clone(), &hash, 0..link.size).await?)
        }
        None => Body::from_stream(state.hub.blobs.get(&p.oid, None).await?.map_err(std::io::Error::other)),
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(link.size));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(resp)
}

/// `…/info/lfs/locks[/verify]`: file locking is not offered. git-lfs reads a 404 on these as "the server
/// does not support locking", notes it for the remote and carries on pushing.
pub async fn locks_unsupported() -> Response {
    let mut resp = lfs_json(json!({ "message": "Git LFS file locking is not supported by this server" }));
    *resp.status_mut() = axum::http::StatusCode::NOT_FOUND;
    resp
}
