//! The Git-LFS batch API and its transfers. Uploads go to self-authorising signed URLs (the client sends
//! no credentials with the bytes), are hashed while they stream, and only count once size and sha256
//! match. An object counts as part of a repository only after it was uploaded to it or committed to it;
//! that link, not the hash alone, is what lets a commit or a download reference the object.

use crate::access::authorize_repo;
use crate::hub::LinkFacts;
use crate::signing;
use crate::time::now_millis;
use crate::Hub;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use gatehouse_authz::{Action, Subject};
use gatehouse_blob::is_sha256_hex;
use gatehouse_store::{LfsStore, RepoRecord, RepoStore};
use gatehouse_types::{Error, RepoType, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a signed upload or download URL stays valid.
const URL_LIFETIME_SECS: i64 = 3600;

#[derive(Debug, Deserialize)]
pub struct BatchRequest {
    pub operation: String,
    #[serde(default)]
    pub transfers: Vec<String>,
    pub objects: Vec<BatchObject>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BatchObject {
    pub oid: String,
    pub size: i64,
}

#[derive(Debug, Serialize)]
pub struct LfsAction {
    pub href: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, String>,
    pub expires_in: i64,
}

#[derive(Debug, Serialize)]
pub struct ObjectError {
    pub code: u16,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct BatchItem {
    pub oid: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<&'static str, LfsAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ObjectError>,
}

#[derive(Debug, Serialize)]
pub struct BatchResponse {
    pub transfer: &'static str,
    pub objects: Vec<BatchItem>,
    pub hash_algo: &'static str,
}

/// Settings of the multipart transfer (the Python client's `multipart`).
#[derive(Debug, Clone, Copy)]
pub struct Multipart {
    /// Objects at least this large are offered multipart when the client supports it.
    pub threshold: u64,
    pub chunk_size: u64,
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart { threshold: 512 << 20, chunk_size: 64 << 20 }
    }
}

fn upload_purpose(repo_id: i64, oid: &str, size: u64) -> String {
    format!("lfs-upload {repo_id} {oid} {size}")
}

fn download_purpose(repo_id: i64, oid: &str) -> String {
    format!("lfs-download {repo_id} {oid}")
}

/// `repo_url` is the repository's git URL (`{base}/{prefix}{ns}/{name}.git`), used for the verify
/// action; `base` is the server's public origin for the signed URLs.
#[allow(clippy::too_many_arguments)]
/// Where a batch answer points and how: the origin, the repository's git URL, the multipart settings, and
/// the caller's `Authorization` header, which the verify action carries back (git-lfs sends only an
/// action's own headers, and verify is an authenticated call on the repository).
pub struct BatchContext<'a> {
    pub base: &'a str,
    pub repo_url: &'a str,
    pub multipart: Multipart,
    pub authorization: Option<&'a str>,
}

pub async fn batch(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    req: BatchRequest,
    ctx: BatchContext<'_>,
) -> Result<BatchResponse> {
    let BatchContext { base, repo_url, multipart, authorization } = ctx;
    let upload = match req.operation.as_str() {
        "upload" => true,
        "download" => false,
        other => return Err(Error::bad_request(format!("Unknown LFS operation '{other}'"))),
    };
    let repo = authorize_repo(hub, subject, t, ns, name, if upload { Action::RepoWrite } else { Action::RepoDownload })
        .await?;
    if req.objects.len() > 1000 {
        return Err(Error::bad_request("At most 1000 objects per batch"));
    }
    let exp = now_millis() / 1000 + URL_LIFETIME_SECS;
    let offers_multipart = req.transfers.iter().any(|t| t == "multipart");
    let mut objects = Vec::with_capacity(req.objects.len());
    for o in req.objects {
        let oid = o.oid.to_ascii_lowercase();
        let mut item = BatchItem {
            oid: o.oid.clone(),
            size: o.size,
            authenticated: Some(true),
            actions: BTreeMap::new(),
            error: None,
        };
        if !is_sha256_hex(&oid) || o.size < 0 {
            item.error = Some(ObjectError { code: 422, message: "Invalid object id or size".into() });
            objects.push(item);
            continue;
        }
        let size = o.size as u64;
        let held = held(hub, &repo, &oid).await?.map(|l| l.size);
        if upload {
            if held != Some(size) {
                let sig = signing::sign(&hub.config.signing_key, &upload_purpose(repo.id, &oid, size), exp);
                let href = format!("{base}/api/lfs/objects/{}/{oid}/{size}?exp={exp}&sig={sig}", repo.id);
                let mut header = BTreeMap::new();
                if offers_multipart && size >= multipart.threshold && size > 0 {
                    let parts = size.div_ceil(multipart.chunk_size);
                    header.insert("chunk_size".to_string(), multipart.chunk_size.to_string());
                    for n in 1..=parts {
                        let part =
                            format!("{base}/api/lfs/objects/{}/{oid}/{size}/parts/{n}?exp={exp}&sig={sig}", repo.id);
                        header.insert(n.to_string(), part);
                    }
                }
                item.actions.insert("upload", LfsAction { href, header, expires_in: URL_LIFETIME_SECS });
                let verify = format!("{repo_url}/info/lfs/objects/verify");
                let header: BTreeMap<String, String> =
                    authorization.map(|a| ("Authorization".to_string(), a.to_string())).into_iter().collect();
                item.actions.insert("verify", LfsAction { href: verify, header, expires_in: URL_LIFETIME_SECS });
            }
        } else if held == Some(size) {
            let sig = signing::sign(&hub.config.signing_key, &download_purpose(repo.id, &oid), exp);
            let href = format!("{base}/api/lfs/objects/{}/{oid}?exp={exp}&sig={sig}", repo.id);
            item.actions.insert("download", LfsAction { href, header: BTreeMap::new(), expires_in: URL_LIFETIME_SECS });
        } else {
            item.error = Some(ObjectError { code: 404, message: "Object does not exist".into() });
        }
        objects.push(item);
    }
    Ok(BatchResponse { transfer: "basic", objects, hash_algo: "sha256" })
}

/// What `repo_id`'s link to `oid` says (cached briefly: every download of an LFS file asks).
pub async fn link_facts(hub: &Hub, repo_id: i64, oid: &str) -> Result<Option<LinkFacts>> {
    let key = (repo_id, oid.to_string());
    if let Some(l) = hub.lfs_links.get(&key) {
        return Ok(Some(l));
    }
    let Some(link) = hub.store.repo_lfs_object(repo_id, oid).await? else { return Ok(None) };
    let facts = LinkFacts { size: link.size, xet_hash: link.xet_hash };
    hub.lfs_links.insert(key, facts.clone());
    Ok(Some(facts))
}

/// The link if this repository holds `oid` and its bytes are stored: as a Xet file, or as a blob of
/// the linked size.
pub(crate) async fn held(hub: &Hub, repo: &RepoRecord, oid: &str) -> Result<Option<LinkFacts>> {
    let Some(link) = link_facts(hub, repo.id, oid).await? else { return Ok(None) };
    if link.xet_hash.is_some() {
        return Ok(Some(link));
    }
    Ok(hub.blobs.size(oid).await?.filter(|s| *s == link.size).map(|_| link))
}

/// Checks a signed upload URL; returns the repository it is for.
pub async fn check_upload_url(
    hub: &Hub,
    repo_id: i64,
    oid: &str,
    size: u64,
    exp: i64,
    sig: &str,
) -> Result<RepoRecord> {
    if !is_sha256_hex(oid)
        || !signing::verify(&hub.config.signing_key, &upload_purpose(repo_id, oid, size), exp, sig, now_millis() / 1000)
    {
        return Err(Error::forbidden("Invalid or expired upload URL"));
    }
    hub.store.repo_by_id(repo_id).await?.ok_or_else(Error::repo_not_found)
}

/// Checks a signed download URL; returns the repository and the object's size.
pub async fn check_download_url(
    hub: &Hub,
    repo_id: i64,
    oid: &str,
    exp: i64,
    sig: &str,
) -> Result<(RepoRecord, LinkFacts)> {
    if !is_sha256_hex(oid)
        || !signing::verify(&hub.config.signing_key, &download_purpose(repo_id, oid), exp, sig, now_millis() / 1000)
    {
        return Err(Error::forbidden("Invalid or expired download URL"));
    }
    let repo = hub.store.repo_by_id(repo_id).await?.ok_or_else(Error::repo_not_found)?;
    let link = held(hub, &repo, oid).await?.ok_or_else(|| Error::not_found("Object does not exist"))?;
    Ok((repo, link))
}

/// Receives an object's bytes: hashed while streaming, published only if size and sha256 match, then
/// linked to the repository.
pub async fn receive<S, E>(hub: &Hub, repo: &RepoRecord, oid: &str, size: u64, body: S) -> Result<()>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut writer = hub.blobs.writer().await?;
    let mut body = body;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                writer.abort().await;
                return Err(Error::bad_request(format!("Upload interrupted: {e}")));
            }
        };
        if writer.size() + chunk.len() as u64 > size {
            writer.abort().await;
            return Err(Error::bad_request(format!("Upload is larger than the announced {size} bytes")));
        }
        writer.write(&chunk).await?;
    }
    writer.finish(Some((oid, size))).await?;
    crate::lfs_gc::link_stored(hub, repo.id, oid, size).await?;
    Ok(())
}

fn parts_dir(hub: &Hub, repo_id: i64, oid: &str) -> std::path::PathBuf {
    hub.spool_dir().join("multipart").join(format!("{repo_id}-{oid}"))
}

/// Stores one part of a multipart upload; returns its ETag.
pub async fn receive_part<S, E>(
    hub: &Hub,
    repo: &RepoRecord,
    oid: &str,
    size: u64,
    part: u64,
    body: S,
) -> Result<String>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use tokio::io::AsyncWriteExt;
    if part == 0 || part > 10_000 {
        return Err(Error::bad_request("Invalid part number"));
    }
    let dir = parts_dir(hub, repo.id, oid);
    tokio::fs::create_dir_all(&dir).await.map_err(Error::internal)?;
    let tmp = dir.join(format!("{part}.{}", uuid::Uuid::new_v4().simple()));
    let mut file = tokio::fs::File::create(&tmp).await.map_err(Error::internal)?;
    let mut written = 0u64;
    let mut body = body;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(Error::bad_request(format!("Upload interrupted: {e}")));
            }
        };
        written += chunk.len() as u64;
        if written > size {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(Error::bad_request("Part is larger than the object"));
        }
        file.write_all(&chunk).await.map_err(Error::internal)?;
    }
    file.flush().await.map_err(Error::internal)?;
    tokio::fs::rename(&tmp, dir.join(part.to_string())).await.map_err(Error::internal)?;
    Ok(format!("\"{part}-{written}\""))
}

#[derive(Debug, Deserialize)]
pub struct CompletePart {
    #[serde(rename = "partNumber")]
    pub part_number: u64,
    #[allow(dead_code)]
    pub etag: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CompleteRequest {
    pub oid: String,
    pub parts: Vec<CompletePart>,
}

/// Joins the parts in order into the object (verified like a single upload), then removes them.
pub async fn complete_multipart(
    hub: &Hub,
    repo: &RepoRecord,
    oid: &str,
    size: u64,
    req: CompleteRequest,
) -> Result<()> {
    use tokio::io::AsyncReadExt;
    if req.oid.to_ascii_lowercase() != oid {
        return Err(Error::bad_request("The completion names another object"));
    }
    let dir = parts_dir(hub, repo.id, oid);
    let mut writer = hub.blobs.writer().await?;
    let mut buf = vec![0u8; 1 << 20];
    for (i, p) in req.parts.iter().enumerate() {
        if p.part_number != i as u64 + 1 {
            writer.abort().await;
            return Err(Error::bad_request("Parts must be listed in order, starting at 1"));
        }
        let Ok(mut f) = tokio::fs::File::open(dir.join(p.part_number.to_string())).await else {
            writer.abort().await;
            return Err(Error::bad_request(format!("Part {} was not uploaded", p.part_number)));
        };
        loop {
            let n = f.read(&mut buf).await.map_err(Error::internal)?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]).await?;
        }
    }
    let result = writer.finish(Some((oid, size))).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result?;
    crate::lfs_gc::link_stored(hub, repo.id, oid, size).await
}

/// `POST …/info/lfs/objects/verify`: the object arrived whole, in this repository.
pub async fn verify(hub: &Hub, subject: &Subject, t: RepoType, ns: &str, name: &str, obj: BatchObject) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoWrite).await?;
    let oid = obj.oid.to_ascii_lowercase();
    match held(hub, &repo, &oid).await?.map(|l| l.size) {
        Some(s) if i64::try_from(s).ok() == Some(obj.size) => Ok(()),
        _ => Err(Error::not_found(format!("Object {oid} of size {} was not uploaded", obj.size))),
    }
}
