//! `GET|HEAD /{prefix}{repo}/resolve/{rev}/{path}`: the download path. HEAD answers from metadata alone;
//! GET streams (LFS content from the blob store, regular files from git), with single-range support.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{base_url, Path};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Extension;
use futures::TryStreamExt;
use gatehouse_core::content::resolve::{self, FileMeta, Resolved};
use gatehouse_types::{Error, ErrorCode, RepoPath, RepoType, Revision};
use serde::Deserialize;
use std::ops::Range;

/// Large reads keep the syscall count down on multi-GB files.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Deserialize)]
pub struct ResolveParams {
    ns: String,
    name: String,
    rev: String,
    path: String,
}

pub async fn serve(
    State(state): State<AppState>,
    Path(p): Path<ResolveParams>,
    Extension(t): Extension<RepoType>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    caller: Caller,
) -> ApiResult<Response> {
    let rev = Revision::parse(&p.rev)?;
    let path = RepoPath::parse(&p.path).map_err(|_| Error::entry_not_found(&p.path))?;
    let meta = match resolve::file(&state.hub, &caller.subject, t, &p.ns, &p.name, &rev, &path).await? {
        Resolved::File(meta) => meta,
        Resolved::Missing { commit } => {
            return Err(ApiError::from(Error::entry_not_found(path.as_str())).with_header("x-repo-commit", &commit));
        }
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) if method == Method::GET => match parse_range(spec, meta.size) {
            Ok(r) => r,
            Err(()) => {
                return Err(ApiError::from(Error::new(
                    ErrorCode::RangeNotSatisfiable,
                    "Requested range not satisfiable",
                ))
                .with_header("content-range", &format!("bytes */{}", meta.size)));
            }
        },
        _ => None,
    };
    let mut resp = Response::new(Body::empty());
    // `?download=true` (the pages' download links) saves the file; otherwise browsers may show it.
    let attachment = crate::params::query_flag(&crate::params::query_pairs(&uri), "download");
    set_metadata(resp.headers_mut(), &meta, attachment);
    if let Some(hash) = &meta.xet_hash {
        set_xet(resp.headers_mut(), &state, &headers, t, &p.ns, &p.name, &meta.commit, hash);
    }
    if method == Method::HEAD {
        resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
        return Ok(resp);
    }
    let span = range.clone().unwrap_or(0..meta.size);
    *resp.body_mut() = body(&state, &meta, span.clone()).await?;
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(span.end - span.start));
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!("bytes {}-{}/{}", span.start, span.end.saturating_sub(1), meta.size);
        if let Ok(v) = HeaderValue::from_str(&cr) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// Switches `huggingface_hub` to Xet for this file: its hash, and where to get a read token (absolute,
/// pinned to the commit).
#[allow(clippy::too_many_arguments)]
fn set_xet(
    h: &mut HeaderMap,
    state: &AppState,
    headers: &HeaderMap,
    t: RepoType,
    ns: &str,
    name: &str,
    commit: &str,
    hash: &str,
) {
    let base = base_url(state, headers);
    let link = format!("<{base}/api/{}s/{ns}/{name}/xet-read-token/{commit}>; rel=\"xet-auth\"", t.as_str());
    for (k, v) in [("x-xet-hash", hash.to_string()), ("link", link)] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
}

fn set_metadata(h: &mut HeaderMap, meta: &FileMeta, attachment: bool) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("x-repo-commit", meta.commit.clone());
    put("etag", format!("\"{}\"", meta.etag()));
    if let Some(oid) = &meta.lfs_oid {
        put("x-linked-etag", format!("\"{oid}\""));
        put("x-linked-size", meta.size.to_string());
    }
    put("accept-ranges", "bytes".into());
    put("content-type", "application/octet-stream".into());
    let file_name = meta.path.file_name();
    let ascii: String =
        file_name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let encoded = percent_encoding::utf8_percent_encode(file_name, percent_encoding::NON_ALPHANUMERIC);
    let kind = if attachment { "attachment" } else { "inline" };
    // The trailing `;` is what huggingface_hub's file-name regex expects.
    put("content-disposition", format!("{kind}; filename*=UTF-8''{encoded}; filename=\"{ascii}\";"));
}

async fn body(state: &AppState, meta: &FileMeta, span: Range<u64>) -> ApiResult<Body> {
    if let Some(hash) = &meta.xet_hash {
        let hash = gatehouse_core::xet::parse_hash(hash)?;
        let stream = gatehouse_core::xet::serve::bytes(state.hub.clone(), &hash, span).await?;
        return Ok(Body::from_stream(stream));
    }
    let Some(oid) = &meta.lfs_oid else {
        let data = resolve::git_content(&state.hub, meta).await?;
        let slice = bytes::Bytes::from(data).slice(span.start as usize..span.end as usize);
        return Ok(Body::from(slice));
    };
    // Local disk: positional reads straight into the buffers that become the response chunks.
    if let Some(path) = state.hub.blobs.local_path(oid) {
        let file = std::fs::File::open(&path).map_err(|e| Error::internal(format!("LFS object {oid}: {e}")))?;
        return Ok(Body::from_stream(file_chunks(std::sync::Arc::new(file), span)));
    }
    let stream = state.hub.blobs.get(oid, Some(span)).await?;
    Ok(Body::from_stream(stream.map_err(std::io::Error::other)))
}

/// The bytes of `span` in `file`, one `READ_CHUNK` at a time. Each chunk is a `pread` on the blocking
/// pool into a fresh buffer that is handed to hyper as is (no copy through an intermediate buffer), and
/// the next one is read only when hyper asks for it: one chunk in flight per download, however slow the
/// client, so memory stays flat with many concurrent downloads.
fn file_chunks(
    file: std::sync::Arc<std::fs::File>,
    span: Range<u64>,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures::stream::try_unfold(span.start, move |offset| {
        let file = file.clone();
        let end = span.end;
        async move {
            if offset >= end {
                return Ok(None);
            }
            let len = usize::try_from((end - offset).min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
            let chunk = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; len];
                let mut filled = 0;
                while filled < len {
                    match file.read_at(&mut buf[filled..], offset + filled as u64)? {
                        0 => {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "LFS object shorter than recorded",
                            ))
                        }
                        n => filled += n,
                    }
                }
                Ok(buf)
            })
            .await
            .map_err(std::io::Error::other)??;
            Ok(Some((bytes::Bytes::from(chunk), offset + len as u64)))
        }
    })
}

/// One range of `bytes=a-b`, `a-` or `-n`; None when the header should be ignored (multiple ranges).
fn parse_range(spec: &str, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(r) = spec.trim().strip_prefix("bytes=") else { return Ok(None) };
    if r.contains(',') {
        return Ok(None);
    }
    let (a, b) = r.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (false, _) => {
            let start: u64 = a.parse().map_err(|_| ())?;
            let end = if b.is_empty() { size } else { b.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(size) };
            start..end
        }
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| ())?;
            size.saturating_sub(n)..size
        }
        (true, true) => return Err(()),
    };
    if range.start >= range.end || range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some(50..100)));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=5-2", 100), Err(()));
        assert_eq!(parse_range("bytes=x-", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,3-4", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }
}
