//! Xet over HTTP: the Hub's token routes, and the CAS API under `/cas` (the URL given to clients as
//! `casUrl`, configurable with `xet_cas_url`). CAS calls carry the Xet token as a bearer; fetch URLs
//! carry their own signature (the client sends no credentials to them).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{base_url, query_flag, query_get, query_pairs, read_bounded, Path, RepoParams};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use gatehouse_core::xet::{self, cas, Scope};
use gatehouse_types::{Error, ErrorCode};
use gatehouse_xet::shard::MAX_SHARD_BYTES;
use serde::Deserialize;
use serde_json::json;

/// The CAS base URL clients are given: configured, or `/cas` on the origin they reached us by.
pub fn cas_url(state: &AppState, headers: &HeaderMap) -> String {
    match &state.config.xet_cas_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("{}/cas", base_url(state, headers)),
    }
}

pub async fn read_token(
    state: State<AppState>,
    p: Path<RepoParams>,
    uri: Uri,
    headers: HeaderMap,
    caller: Caller,
) -> ApiResult<Response> {
    token(state, p, uri, headers, caller, Scope::Read).await
}

pub async fn write_token(
    state: State<AppState>,
    p: Path<RepoParams>,
    uri: Uri,
    headers: HeaderMap,
    caller: Caller,
) -> ApiResult<Response> {
    token(state, p, uri, headers, caller, Scope::Write).await
}

/// Both places the clients read: the JSON body (hf_xet) and the `X-Xet-*` headers (huggingface_hub).
async fn token(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    uri: Uri,
    headers: HeaderMap,
    caller: Caller,
    scope: Scope,
) -> ApiResult<Response> {
    let r = p.repo()?;
    let rev = p.rev.as_deref().unwrap_or("main");
    let create_pr = query_flag(&query_pairs(&uri), "create_pr");
    let conn =
        xet::issue_token(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, rev, create_pr, scope).await?;
    let cas = cas_url(&state, &headers);
    let mut resp = Json(json!({ "accessToken": conn.access_token, "exp": conn.exp, "casUrl": cas })).into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-xet-cas-url", cas),
        ("x-xet-access-token", conn.access_token),
        ("x-xet-token-expiration", conn.exp.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    Ok(resp)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(str::trim)
}

#[derive(Deserialize)]
pub struct HashParams {
    prefix: String,
    hash: String,
}

/// `GET /cas/v1/chunks/{prefix}/{hash}`: the global dedup query. 404 is the expected "not known".
pub async fn dedup(
    State(state): State<AppState>,
    Path(p): Path<HashParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (_, subject, _) = xet::authorize(&state.hub, bearer(&headers), Scope::Read).await?;
    match cas::dedup(&state.hub, &subject, &p.prefix, &p.hash).await? {
        Some(shard) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], shard).into_response()),
        None => Err(Error::new(ErrorCode::NotFound, "No dedup information for this chunk").into()),
    }
}

/// `POST /cas/v1/xorbs/{prefix}/{hash}`: `{"was_inserted": bool}`.
pub async fn upload_xorb(
    State(state): State<AppState>,
    Path(p): Path<HashParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    xet::authorize(&state.hub, bearer(&headers), Scope::Write).await?;
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let inserted = cas::upload_xorb(&state.hub, &p.prefix, &p.hash, announced, body.into_data_stream()).await?;
    Ok(Json(json!({ "was_inserted": inserted })))
}

async fn shard_body(body: Body) -> ApiResult<Bytes> {
    read_bounded(body, usize::try_from(MAX_SHARD_BYTES).unwrap_or(usize::MAX)).await
}

/// `POST /cas/v1/shards`: `{"result": 1}` when new, `0` when known; 400 when invalid.
pub async fn upload_shard_v1(State(state): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let (grant, _, _) = xet::authorize(&state.hub, bearer(&headers), Scope::Write).await?;
    let new = cas::upload_shard(&state.hub, &grant, shard_body(body).await?).await?;
    Ok(Json(json!({ "result": u8::from(new) })).into_response())
}

/// `POST /cas/v2/shards`: the same work, answered as NDJSON events. Once the caller is authorized the
/// status is 200 and the outcome is the last event (`result` or `error`), as the v2 client expects.
pub async fn upload_shard_v2(State(state): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let (grant, _, _) = xet::authorize(&state.hub, bearer(&headers), Scope::Write).await?;
    let outcome = match shard_body(body).await {
        Ok(bytes) => cas::upload_shard(&state.hub, &grant, bytes).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let events = match outcome {
        Ok(new) => vec![
            json!({ "type": "committing", "stage": "syncing" }),
            json!({ "type": "result", "result": u8::from(new) }),
        ],
        Err(e) => {
            let retryable = e.error.code.status() >= 500;
            let message = if retryable { "Internal server error".to_string() } else { e.error.message.clone() };
            if retryable {
                tracing::error!(error = %e.error.message, "shard upload failed");
            }
            vec![json!({ "type": "error", "message": message, "retryable": retryable })]
        }
    };
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

#[derive(Deserialize)]
pub struct FileParams {
    file_id: String,
}

/// `Range: bytes=S-E` or `bytes=S-` of a reconstruction request.
fn reconstruction_range(headers: &HeaderMap) -> ApiResult<Option<(u64, Option<u64>)>> {
    let Some(v) = headers.get(header::RANGE) else { return Ok(None) };
    let bad = || ApiError::from(Error::bad_request("Invalid Range: expected bytes=start-end"));
    let spec = v.to_str().map_err(|_| bad())?.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let start = a.trim().parse::<u64>().map_err(|_| bad())?;
    let end = match b.trim() {
        "" => None,
        e => Some(e.parse::<u64>().map_err(|_| bad())?),
    };
    if end.is_some_and(|e| e < start) {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

async fn reconstruction(state: &AppState, file_id: &str, headers: &HeaderMap) -> ApiResult<cas::ReconstructionV2> {
    let (grant, _, _) = xet::authorize(&state.hub, bearer(headers), Scope::Read).await?;
    let range = reconstruction_range(headers)?;
    Ok(cas::reconstruction(&state.hub, &grant, file_id, range, &cas_url(state, headers)).await?)
}

pub async fn reconstruction_v2(
    State(state): State<AppState>,
    Path(p): Path<FileParams>,
    headers: HeaderMap,
) -> ApiResult<Json<cas::ReconstructionV2>> {
    Ok(Json(reconstruction(&state, &p.file_id, &headers).await?))
}

pub async fn reconstruction_v1(
    State(state): State<AppState>,
    Path(p): Path<FileParams>,
    headers: HeaderMap,
) -> ApiResult<Json<cas::ReconstructionV1>> {
    Ok(Json(reconstruction(&state, &p.file_id, &headers).await?.into_v1()))
}

#[derive(Deserialize)]
pub struct FetchParams {
    xorb: String,
}

/// `GET /cas/fetch/{xorb}?n=&r=&exp=&sig=`: byte ranges of a stored xorb, as a reconstruction allowed.
/// One range is a plain 206; several (multi-range fetching) a `multipart/byteranges` 206.
pub async fn fetch(
    State(state): State<AppState>,
    Path(p): Path<FetchParams>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let q = query_pairs(&uri);
    let bad = || ApiError::from(Error::forbidden("Invalid fetch URL"));
    let size: u64 = query_get(&q, "n").and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let exp: i64 = query_get(&q, "exp").and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let (signed, sig) = (query_get(&q, "r").ok_or_else(bad)?, query_get(&q, "sig").ok_or_else(bad)?);
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let f = cas::check_fetch(&state.hub.config.signing_key, &p.xorb, size, signed, exp, sig, range)?;
    let blobs = state.hub.blobs.clone();
    if let [only] = f.ranges.as_slice() {
        let stream = blobs.get_object(&f.key, Some(only.clone())).await?;
        let mut resp = Response::new(Body::from_stream(stream.map_err(std::io::Error::other)));
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(only.end - only.start));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", only.start, only.end - 1, f.size)) {
            h.insert(header::CONTENT_RANGE, v);
        }
        return Ok(resp);
    }
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let mut parts = Vec::new();
    let mut length = 0u64;
    for r in &f.ranges {
        let head = format!(
            "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
            r.start,
            r.end - 1,
            f.size
        );
        length += head.len() as u64 + (r.end - r.start) + 2;
        parts.push((Bytes::from(head), r.clone()));
    }
    let tail = Bytes::from(format!("--{boundary}--\r\n"));
    length += tail.len() as u64;
    let key = f.key.clone();
    let body = futures::stream::iter(parts)
        .then(move |(head, r)| {
            let (blobs, key) = (blobs.clone(), key.clone());
            async move {
                let data = blobs.get_object(&key, Some(r)).await.map_err(std::io::Error::other)?;
                let framed = futures::stream::once(async move { Ok(head) })
                    .chain(data.map_err(std::io::Error::other))
                    .chain(futures::stream::once(async { Ok(Bytes::from_static(b"\r\n")) }));
                Ok::<_, std::io::Error>(framed)
            }
        })
        .try_flatten()
        .chain(futures::stream::once(async move { Ok(tail) }));
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}")) {
        h.insert(header::CONTENT_TYPE, v);
    }
    Ok(resp)
}

/// `POST /v1/telemetry` (at the host root, whatever the CAS URL's path) and `/cas/v1/telemetry`:
/// transfer summaries the client sends best-effort. Accepted and dropped.
pub async fn telemetry() -> StatusCode {
    StatusCode::NO_CONTENT
}
