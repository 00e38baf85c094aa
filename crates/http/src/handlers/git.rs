//! Git smart HTTP: `GET {repo}/info/refs?service=…`, `POST {repo}/git-upload-pack` and
//! `POST {repo}/git-receive-pack`, for `/{ns}/{name}[.git]` and the `datasets/` and `spaces/` forms. The
//! caller is authorized by the one decision (`core::git_http`); the protocol itself is the system git,
//! fed the request body and streamed back as the response.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{query_get, query_pairs, Path};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use futures::TryStreamExt;
use gatehouse_core::git_http;
use gatehouse_git::transport::{self, Service};
use gatehouse_types::{Error, ErrorCode, RepoType};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

#[derive(Deserialize)]
pub struct GitParams {
    ns: String,
    name: String,
}

/// git asks for credentials only after a 401 that names a scheme.
fn challenge(e: ApiError) -> ApiError {
    if e.error.code == ErrorCode::AuthRequired || e.error.code == ErrorCode::InvalidCredentials {
        e.with_header("www-authenticate", "Basic realm=\"Gatehouse\", charset=\"UTF-8\"")
    } else {
        e
    }
}

fn git_protocol(headers: &HeaderMap) -> Option<String> {
    headers.get("git-protocol").and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn spawn_failed(e: std::io::Error) -> ApiError {
    Error::internal(format!("starting git: {e}")).into()
}

/// A pkt-line: four hex digits of length (including themselves), then the payload.
fn pkt_line(s: &str) -> String {
    format!("{:04x}{s}", s.len() + 4)
}

pub async fn info_refs(
    State(state): State<AppState>,
    Path(p): Path<GitParams>,
    Extension(t): Extension<RepoType>,
    uri: Uri,
    headers: HeaderMap,
    caller: Caller,
) -> ApiResult<Response> {
    let service = query_get(&query_pairs(&uri), "service").and_then(Service::parse).ok_or_else(|| {
        ApiError::from(Error::new(ErrorCode::Forbidden, "Only the smart HTTP protocol is supported; upgrade git"))
    })?;
    let (_, dir) = git_http::authorize(&state.hub, &caller.subject, t, &p.ns, &p.name, service)
        .await
        .map_err(|e| challenge(e.into()))?;
    let proto = git_protocol(&headers);
    let out = transport::command(&dir, service, true, proto.as_deref(), None).output().await.map_err(spawn_failed)?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "git {} failed: {}",
            service.name(),
            String::from_utf8_lossy(&out.stderr)
        ))
        .into());
    }
    let mut body = Vec::with_capacity(out.stdout.len() + 64);
    if !transport::wants_v2(proto.as_deref()) {
        body.extend_from_slice(pkt_line(&format!("# service={}\n", service.name())).as_bytes());
        body.extend_from_slice(b"0000");
    }
    body.extend_from_slice(&out.stdout);
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("application/x-{}-advertisement", service.name())) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

pub async fn upload_pack(
    state: State<AppState>,
    p: Path<GitParams>,
    t: Extension<RepoType>,
    headers: HeaderMap,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    rpc(state, p, t, headers, caller, body, Service::UploadPack).await
}

pub async fn receive_pack(
    state: State<AppState>,
    p: Path<GitParams>,
    t: Extension<RepoType>,
    headers: HeaderMap,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    rpc(state, p, t, headers, caller, body, Service::ReceivePack).await
}

/// Runs the service on the request body (gunzipped when git compressed it) and streams its output.
async fn rpc(
    State(state): State<AppState>,
    Path(p): Path<GitParams>,
    Extension(t): Extension<RepoType>,
    headers: HeaderMap,
    caller: Caller,
    body: Body,
    service: Service,
) -> ApiResult<Response> {
    let (repo, dir) = git_http::authorize(&state.hub, &caller.subject, t, &p.ns, &p.name, service)
        .await
        .map_err(|e| challenge(e.into()))?;
    let expected = format!("application/x-{}-request", service.name());
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(Error::bad_request(format!("Expected Content-Type {expected}")).into());
    }
    let hook = match (service, &state.config.git_hook) {
        (Service::ReceivePack, Some(h)) => {
            let mut h = h.clone();
            h.env.push(("GATEHOUSE_HOOK_REPO_ID".into(), repo.id.to_string()));
            Some(h)
        }
        _ => None,
    };
    let proto = git_protocol(&headers);
    let gzip = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let raw = tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let mut reader: Box<dyn tokio::io::AsyncBufRead + Send + Unpin> = if gzip {
        Box::new(tokio::io::BufReader::new(async_compression::tokio::bufread::GzipDecoder::new(raw)))
    } else {
        Box::new(raw)
    };
    // Refuse what is not a git request before answering 200 (after which git's own errors travel
    // inside the response): the first pkt-line must be what this service starts with.
    let first = first_pkt_line(&mut reader).await?;
    if !starts_request(service, transport::wants_v2(proto.as_deref()), &first) {
        return Err(Error::bad_request(format!("Not a {} request", service.name())).into());
    }
    let mut child =
        transport::command(&dir, service, false, proto.as_deref(), hook.as_ref()).spawn().map_err(spawn_failed)?;
    let mut stdin = child.stdin.take().ok_or_else(|| Error::internal("git stdin"))?;
    let stdout = child.stdout.take().ok_or_else(|| Error::internal("git stdout"))?;
    let stderr = child.stderr.take().ok_or_else(|| Error::internal("git stderr"))?;
    // Feed the request to git. If the client goes away mid-body, git sees a truncated pack and updates
    // nothing; dropping the response below makes git's writes fail and it exits.
    tokio::spawn(async move {
        let copied = match stdin.write_all(&first).await {
            Ok(()) => tokio::io::copy(&mut reader, &mut stdin).await,
            Err(e) => Err(e),
        };
        if let Err(e) = copied {
            tracing::debug!(error = %e, "git request body ended early");
        }
        let _ = stdin.shutdown().await;
    });
    let hub = state.hub.clone();
    let name = service.name();
    tokio::spawn(async move {
        // git's own messages (and the hook's, which git also relays to the client) for the log.
        let mut err = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::BufReader::new(stderr), &mut err).await;
        let status = child.wait().await;
        match status {
            Ok(s) if s.success() => {
                if service == Service::ReceivePack {
                    let _ =
                        gatehouse_store::RepoStore::touch_repo(&hub.store, repo.id, gatehouse_core::time::now_millis())
                            .await;
                }
            }
            other => tracing::info!(service = name, status = ?other, stderr = %err.trim(), "git exited unsuccessfully"),
        }
    });
    let mut resp = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(stdout)));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("application/x-{}-result", service.name())) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// The first pkt-line of a request, raw (length prefix included). Malformed or truncated: 400.
async fn first_pkt_line(r: &mut (dyn tokio::io::AsyncBufRead + Send + Unpin)) -> ApiResult<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let bad = || ApiError::from(Error::bad_request("Malformed git request: expected a pkt-line"));
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(|_| bad())?;
    let n = std::str::from_utf8(&len).ok().and_then(|h| usize::from_str_radix(h, 16).ok()).ok_or_else(bad)?;
    let mut line = len.to_vec();
    if n > 4 {
        if n > 65520 {
            return Err(bad());
        }
        let mut payload = vec![0u8; n - 4];
        r.read_exact(&mut payload).await.map_err(|_| bad())?;
        line.extend_from_slice(&payload);
    }
    Ok(line)
}

fn is_hex_oid(s: &[u8]) -> bool {
    s.len() == 40 && s.iter().all(u8::is_ascii_hexdigit)
}

/// Whether `line` can start a request: `want <oid>` (fetch, v0), `command=…` (v2), `<old> <new> <ref>`,
/// `shallow <oid>` or `push-cert` (push), or a lone flush (git's probe).
fn starts_request(service: Service, v2: bool, line: &[u8]) -> bool {
    // A lone flush: the probe git sends before streaming a large body, to find out about authentication.
    if line == b"0000" {
        return true;
    }
    let payload = line.get(4..).unwrap_or_default();
    match service {
        Service::UploadPack if v2 => payload.starts_with(b"command="),
        Service::UploadPack => payload.starts_with(b"want ") && payload.get(5..45).is_some_and(is_hex_oid),
        Service::ReceivePack => {
            (payload.get(..40).is_some_and(is_hex_oid)
                && payload.get(40) == Some(&b' ')
                && payload.get(41..81).is_some_and(is_hex_oid))
                || payload.starts_with(b"shallow ")
                || payload.starts_with(b"push-cert")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_start_like_git_requests() {
        let oid = "a".repeat(40);
        let pkt = |s: &str| format!("{:04x}{s}", s.len() + 4).into_bytes();
        assert!(starts_request(Service::UploadPack, false, &pkt(&format!("want {oid} multi_ack\n"))));
        assert!(starts_request(Service::UploadPack, true, &pkt("command=fetch\n")));
        assert!(!starts_request(Service::UploadPack, true, &pkt(&format!("want {oid}\n"))));
        assert!(starts_request(
            Service::ReceivePack,
            false,
            &pkt(&format!("{oid} {oid} refs/heads/main\0 report-status"))
        ));
        assert!(!starts_request(Service::ReceivePack, false, &pkt("this is not it")));
        assert!(!starts_request(Service::ReceivePack, false, b"0004"));
        assert!(starts_request(Service::ReceivePack, false, b"0000"), "the probe before a large push");
        assert!(!starts_request(Service::UploadPack, false, b"0001"));
    }
}
