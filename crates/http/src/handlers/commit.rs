use crate::auth::Caller;
use crate::error::ApiResult;
use crate::params::{base_url, query_flag, query_pairs, repo_url, Path, RepoParams};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use futures::TryStreamExt;
use gatehouse_core::content::commit;
use gatehouse_core::content::ndjson;
use gatehouse_core::content::spool::Spooler;
use gatehouse_types::{Error, ErrorCode};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// Inline content up to this size stays in memory while a commit is parsed; larger goes to disk.
const SPOOL_IN_MEMORY: usize = 1 << 20;

/// Refuses to read past `limit` bytes, so an oversize body fails fast; `exceeded` tells the handler
/// that the parse error it gets back was this refusal (413), not a malformed body (400).
struct Capped<R> {
    inner: R,
    left: u64,
    exceeded: Arc<AtomicBool>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.store(true, Ordering::Relaxed);
                    Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "commit body too large"))
                }
            };
        }
        let max = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn too_large(max: u64) -> Error {
    Error::new(ErrorCode::PayloadTooLarge, format!("Commit payloads are limited to {max} bytes"))
}

/// `POST /api/{type}s/{repo}/commit/{rev}`: NDJSON, streamed. Authorization and the branch are checked
/// before a byte of the body is read.
pub async fn commit(
    State(state): State<AppState>,
    Path(p): Path<RepoParams>,
    headers: HeaderMap,
    uri: Uri,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let r = p.repo()?;
    let rev = p.revision()?;
    if query_flag(&query_pairs(&uri), "create_pr") {
        return Err(Error::bad_request("Pull requests are not supported by this server yet").into());
    }
    let target = commit::target(&state.hub, &caller.subject, r.repo_type, &r.ns, &r.name, &rev).await?;
    let max = state.config.max_commit_bytes;
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > max) {
        return Err(
            Error::new(ErrorCode::PayloadTooLarge, format!("Commit payloads are limited to {max} bytes")).into()
        );
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let spooler = Spooler::new(state.hub.spool_dir(), SPOOL_IN_MEMORY);
    let exceeded = Arc::new(AtomicBool::new(false));
    let capped = Capped { inner: reader, left: max, exceeded: exceeded.clone() };
    let parsed = tokio::task::spawn_blocking(move || ndjson::parse(capped, &spooler)).await.map_err(Error::internal)?;
    let parsed = match parsed {
        Err(_) if exceeded.load(Ordering::Relaxed) => return Err(too_large(max).into()),
        other => other?,
    };
    let oid = commit::apply(&state.hub, &target, parsed).await?;
    let url = repo_url(&base_url(&state, &headers), target.repo.repo_type, &target.repo.owner_name, &target.repo.name);
    Ok(Json(json!({
        "commitUrl": format!("{url}/commit/{oid}"),
        "commitOid": oid.to_string(),
        "pullRequestUrl": null,
        "success": true,
        "hookOutput": "",
    })))
}
