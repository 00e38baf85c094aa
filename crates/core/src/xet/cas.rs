//! The CAS operations behind `/cas/…`: everything here has already passed [`super::authorize`].
//!
//! Uploads are untrusted bytes: a xorb is validated while it streams (chunk headers, bounded
//! decompression, chunk hashes, then its Merkle hash against the address it claims) and published only if
//! it checks out; a shard is parsed, and every term it describes is checked against the stored chunk
//! indexes (ranges, sizes, verification hashes, the recomputed file hash) before one transaction records
//! it. Downloads get reconstructions whose fetch URLs are signed per xorb and byte range.

use super::plan::{self, Term};
use super::token::Grant;
use super::{index_key, now_secs, parse_hash, shard_key, xorb_index, xorb_key};
use crate::access::check_repo;
use crate::hub::blocking;
use crate::signing;
use crate::time::now_millis;
use crate::Hub;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use gatehouse_authz::{Action, Subject};
use gatehouse_store::{RepoStore, ShardRegistration, StoreError, XetFile, XetLink, XetStore, XorbRecord};
use gatehouse_types::{Error, ErrorCode, Result};
use gatehouse_xet::shard::{self, FileInfo, Shard, XorbChunk, XorbInfo};
use gatehouse_xet::xorb::{XorbIndex, XorbValidator, MAX_XORB_BYTES};
use gatehouse_xet::{hash as xhash, FormatError, XetHash};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Validation runs on the blocking pool in slices of this size (decompression and BLAKE3 are CPU work).
const VALIDATE_SLICE: usize = 1 << 20;
/// How long a client may use a dedup answer (its HMAC key) before asking again.
const DEDUP_TTL_SECS: u64 = 7 * 24 * 3600;
/// Files looked at when deciding whether the caller may learn about a xorb.
const DEDUP_REPO_SCAN: u32 = 200;
/// Xorbs in one dedup answer (64 MiB each: a 4 GiB stretch of the file; about 50 KB of shard per xorb).
const DEDUP_MAX_XORBS: usize = 64;

fn invalid(e: FormatError) -> Error {
    Error::bad_request(e.to_string())
}

/// The `{prefix}` path segment: hf_xet 1.8 sends `default`, the specification says `default-merkledb`.
pub fn check_prefix(prefix: &str) -> Result<()> {
    match prefix {
        "default" | "default-merkledb" => Ok(()),
        other => Err(Error::new(ErrorCode::NotFound, format!("Unknown CAS prefix {other:?}"))),
    }
}

/// `POST /v1/xorbs/{prefix}/{hash}`: true if stored now, false if it was stored already.
pub async fn upload_xorb<S, E>(hub: &Hub, prefix: &str, hash: &str, announced: Option<u64>, body: S) -> Result<bool>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    check_prefix(prefix)?;
    let hash = parse_hash(hash)?;
    if announced.is_some_and(|n| n > MAX_XORB_BYTES) {
        return Err(Error::new(ErrorCode::PayloadTooLarge, format!("A xorb is at most {MAX_XORB_BYTES} bytes")));
    }
    let now = now_millis();
    if hub.store.xorb(&hash.hex()).await?.is_some() {
        // Content-addressed: the bytes are the ones we have. Mark it used so GC keeps it a while.
        hub.store.touch_xorb(&hash.hex(), now).await?;
        return Ok(false);
    }
    let mut writer = hub.blobs.object_writer().await?;
    let checked = validate_stream(&mut writer, hash, body).await;
    let index = match checked {
        Ok(ix) => ix,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    // The index first, then the body, then the row: a row always has both behind it, and a crash in
    // between leaves only unreferenced objects.
    let index_bytes = Bytes::from(index.to_bytes());
    hub.blobs.put_object(&index_key(&hash), index_bytes).await?;
    let stored_bytes = writer.finish_at(&xorb_key(&hash)).await?;
    let record = XorbRecord {
        hash: hash.hex(),
        stored_bytes,
        unpacked_bytes: index.unpacked_len(),
        chunk_count: index.chunks.len() as u64,
        created_at: now,
        last_used_at: now,
    };
    let inserted = hub.store.insert_xorb(&record).await?;
    hub.xet.indexes.insert(hash, Arc::new(index));
    metrics::counter!("xet_xorbs_stored_total").increment(u64::from(inserted));
    Ok(inserted)
}

async fn validate_stream<S, E>(writer: &mut gatehouse_blob::Writer, hash: XetHash, mut body: S) -> Result<XorbIndex>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut validator = XorbValidator::new(hash);
    let mut pending = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::bad_request(format!("Upload interrupted: {e}")))?;
        if writer.size() + chunk.len() as u64 > MAX_XORB_BYTES {
            return Err(Error::new(ErrorCode::PayloadTooLarge, format!("A xorb is at most {MAX_XORB_BYTES} bytes")));
        }
        writer.write(&chunk).await?;
        pending.extend_from_slice(&chunk);
        if pending.len() >= VALIDATE_SLICE {
            let slice = pending.split().freeze();
            validator = blocking(move || validator.push(&slice).map(|()| validator).map_err(invalid)).await?;
        }
    }
    let slice = pending.freeze();
    blocking(move || {
        validator.push(&slice).map_err(invalid)?;
        validator.finish().map_err(invalid)
    })
    .await
}

/// What a validated shard adds; built off the async workers.
fn check_shard(shard: &Shard, indexes: &HashMap<XetHash, Arc<XorbIndex>>, repo_id: i64) -> Result<ShardRegistration> {
    let bad = |m: String| Err(Error::bad_request(m));
    let mut reg = ShardRegistration::default();
    let mut dedup: BTreeMap<String, String> = BTreeMap::new();
    for x in &shard.xorbs {
        let Some(ix) = indexes.get(&x.xorb_hash) else {
            return bad(format!("Shard describes unknown xorb {}", x.xorb_hash));
        };
        if x.chunks.len() != ix.chunks.len() {
            return bad(format!(
                "Shard gives xorb {} {} chunks; it has {}",
                x.xorb_hash,
                x.chunks.len(),
                ix.chunks.len()
            ));
        }
        let mut total = 0u64;
        for (i, (c, s)) in x.chunks.iter().zip(&ix.chunks).enumerate() {
            if c.hash != s.hash || c.unpacked_len != s.unpacked_len || c.unpacked_start != s.unpacked_start {
                return bad(format!("Shard entry {i} of xorb {} does not match the stored chunk", x.xorb_hash));
            }
            total += u64::from(c.unpacked_len);
            if xhash::is_global_dedup_eligible(&c.hash) || c.flags & shard::CHUNK_FLAG_GLOBAL_DEDUP != 0 {
                dedup.insert(c.hash.hex(), x.xorb_hash.hex());
            }
        }
        if total != u64::from(x.unpacked_bytes) {
            return bad(format!("Shard gives xorb {} {} bytes; it has {total}", x.xorb_hash, x.unpacked_bytes));
        }
    }
    for f in &shard.files {
        reg.files.push(check_file(f, indexes)?);
        let first = f.terms.first().and_then(|t| indexes.get(&t.xorb_hash).map(|ix| (t, ix)));
        if let Some(c) = first.and_then(|(t, ix)| ix.chunks.get(t.chunk_start as usize)) {
            dedup.entry(c.hash.hex()).or_insert_with(|| f.terms[0].xorb_hash.hex());
        }
        let Some(sha) = f.sha256 else {
            return bad(format!("File {} carries no sha256 (metadata extension)", f.file_hash));
        };
        let size = reg.files.last().map_or(0, |x| x.size);
        reg.links.push(XetLink { repo_id, sha256: sha.hex(), size, file_hash: f.file_hash.hex() });
    }
    let mut used: Vec<String> = indexes.keys().map(XetHash::hex).collect();
    used.sort();
    reg.xorbs_used = used;
    reg.dedup_chunks = dedup.into_iter().collect();
    Ok(reg)
}

fn check_file(f: &FileInfo, indexes: &HashMap<XetHash, Arc<XorbIndex>>) -> Result<XetFile> {
    let bad = |m: String| Err(Error::bad_request(m));
    if f.terms.is_empty() {
        return bad(format!("File {} has no terms", f.file_hash));
    }
    if f.flags & shard::FILE_FLAG_WITH_VERIFICATION == 0 || f.verification.len() != f.terms.len() {
        return bad(format!("File {} carries no verification hashes", f.file_hash));
    }
    let mut chunks: Vec<(XetHash, u64)> = Vec::new();
    let mut terms = Vec::with_capacity(f.terms.len());
    for (i, t) in f.terms.iter().enumerate() {
        let Some(ix) = indexes.get(&t.xorb_hash) else {
            return bad(format!("Term {i} references unknown xorb {}", t.xorb_hash));
        };
        let Some(range) = (t.chunk_start < t.chunk_end)
            .then(|| ix.chunks.get(t.chunk_start as usize..t.chunk_end as usize))
            .flatten()
        else {
            return bad(format!(
                "Term {i} names chunks {}..{} of xorb {}, which has {}",
                t.chunk_start,
                t.chunk_end,
                t.xorb_hash,
                ix.chunks.len()
            ));
        };
        let unpacked: u64 = range.iter().map(|c| u64::from(c.unpacked_len)).sum();
        if unpacked != u64::from(t.unpacked_bytes) {
            return bad(format!("Term {i} claims {} bytes; its chunks hold {unpacked}", t.unpacked_bytes));
        }
        let hashes: Vec<XetHash> = range.iter().map(|c| c.hash).collect();
        if xhash::verification_hash(&hashes) != f.verification[i] {
            return bad(format!("Term {i} of file {} fails verification", f.file_hash));
        }
        chunks.extend(range.iter().map(|c| (c.hash, u64::from(c.unpacked_len))));
        terms.push(gatehouse_store::FileTerm {
            xorb_hash: t.xorb_hash.hex(),
            chunk_start: t.chunk_start,
            chunk_end: t.chunk_end,
            unpacked_bytes: unpacked,
        });
    }
    let computed = xhash::file_hash(&chunks);
    if computed != f.file_hash {
        return bad(format!("File hash {} does not match its terms ({computed})", f.file_hash));
    }
    let size = chunks.iter().map(|c| c.1).sum();
    Ok(XetFile { file_hash: f.file_hash.hex(), size, terms })
}

/// `POST /v{1,2}/shards`: validates and records a shard for the token's repository. True if it was
/// new. Idempotent.
pub async fn upload_shard(hub: &Hub, grant: &Grant, body: Bytes) -> Result<bool> {
    let parsed = {
        let body = body.clone();
        blocking(move || Shard::parse(&body).map_err(invalid)).await?
    };
    let sha256 = hex::encode(Sha256::digest(&body));
    let mut wanted: Vec<XetHash> = parsed.xorbs.iter().map(|x| x.xorb_hash).collect();
    wanted.extend(parsed.files.iter().flat_map(|f| f.terms.iter().map(|t| t.xorb_hash)));
    wanted.sort();
    wanted.dedup();
    let mut indexes = HashMap::new();
    for h in wanted {
        if hub.store.xorb(&h.hex()).await?.is_none() {
            return Err(Error::bad_request(format!("Shard references unknown xorb {h}")));
        }
        indexes.insert(h, xorb_index(hub, &h).await?);
    }
    let repo_id = grant.repo_id;
    let parsed = Arc::new(parsed);
    let mut reg = blocking(move || check_shard(&parsed, &indexes, repo_id)).await?;
    let known = hub.store.shard_known(&sha256).await?;
    if !known {
        hub.blobs.put_object(&shard_key(&sha256), body.clone()).await?;
    }
    reg.shard_hash = sha256;
    reg.shard_size = body.len() as u64;
    match hub.store.register_shard(&reg, now_millis()).await {
        Ok(()) => {}
        // Garbage collection removed a xorb between our check and the transaction.
        Err(StoreError::NotFound(what)) => return Err(Error::bad_request(format!("Shard references unknown {what}"))),
        Err(e) => return Err(e.into()),
    }
    metrics::counter!("xet_shards_registered_total").increment(u64::from(!known));
    Ok(!known)
}

/// A file the caller may download that uses `xorb`: dedup answers describe xorbs' chunks, so they go
/// only to those who could download that content anyway.
async fn readable_file_using(hub: &Hub, subject: &Subject, xorb: &str) -> Result<Option<String>> {
    for (file, repo_id) in hub.store.files_using_xorb(xorb, DEDUP_REPO_SCAN).await? {
        if let Some(repo) = hub.store.repo_by_id(repo_id).await? {
            if check_repo(hub, subject, Action::RepoDownload, &repo).await.is_ok() {
                return Ok(Some(file));
            }
        }
    }
    Ok(None)
}

/// `GET /v1/chunks/{prefix}/{chunk}`: a shard describing the xorb that holds the chunk and the other
/// xorbs of a file using it (a client asks about few chunks — the first of each file and one in ~1024 —
/// so answering with the whole file lets a changed copy dedup against all of its unchanged parts). Chunk
/// hashes are keyed with a fresh secret, so the answer proves nothing about chunks the caller does not
/// hold. None if the chunk is unknown or the caller may not read any file using it.
pub async fn dedup(hub: &Hub, subject: &Subject, prefix: &str, chunk: &str) -> Result<Option<Vec<u8>>> {
    check_prefix(prefix)?;
    let chunk = parse_hash(chunk)?;
    let Some(xorb) = hub.store.dedup_xorb(&chunk.hex()).await? else { return Ok(None) };
    let Some(file) = readable_file_using(hub, subject, &xorb).await? else { return Ok(None) };
    let mut xorbs = vec![xorb.clone()];
    if let Some(f) = super::serve::file(hub, &parse_hash(&file)?).await? {
        for t in &f.terms {
            if xorbs.len() >= DEDUP_MAX_XORBS {
                break;
            }
            if !xorbs.contains(&t.xorb_hash) {
                xorbs.push(t.xorb_hash.clone());
            }
        }
    }
    let now = now_millis();
    let mut infos = Vec::with_capacity(xorbs.len());
    for x in &xorbs {
        let Some(record) = hub.store.xorb(x).await? else { continue };
        let hash = parse_hash(x)?;
        let ix = xorb_index(hub, &hash).await?;
        // The client will reference these xorbs without uploading them: keep them a grace period.
        hub.store.touch_xorb(x, now).await?;
        infos.push(XorbInfo {
            xorb_hash: hash,
            flags: 0,
            unpacked_bytes: u32::try_from(ix.unpacked_len()).unwrap_or(u32::MAX),
            bytes_on_disk: u32::try_from(record.stored_bytes).unwrap_or(u32::MAX),
            chunks: ix
                .chunks
                .iter()
                .map(|c| XorbChunk {
                    hash: c.hash,
                    unpacked_start: c.unpacked_start,
                    unpacked_len: c.unpacked_len,
                    flags: 0,
                })
                .collect(),
        });
    }
    if infos.is_empty() {
        return Ok(None);
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let now = u64::try_from(now_secs()).unwrap_or(0);
    Ok(Some(shard::dedup_shard(&infos, XetHash(key), now, DEDUP_TTL_SECS)))
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct IndexRange {
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconTerm {
    pub hash: String,
    pub unpacked_length: u64,
    /// Chunk indexes, end exclusive.
    pub range: IndexRange,
}

#[derive(Debug, Clone, Serialize)]
pub struct FetchRangeV2 {
    /// Chunk indexes, end exclusive.
    pub chunks: IndexRange,
    /// Byte offsets in the stored xorb, end inclusive.
    pub bytes: IndexRange,
}

#[derive(Debug, Clone, Serialize)]
pub struct FetchV2 {
    pub url: String,
    pub ranges: Vec<FetchRangeV2>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconstructionV2 {
    pub offset_into_first_range: u64,
    pub terms: Vec<ReconTerm>,
    pub xorbs: BTreeMap<String, Vec<FetchV2>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FetchV1 {
    pub range: IndexRange,
    pub url: String,
    pub url_range: IndexRange,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconstructionV1 {
    pub offset_into_first_range: u64,
    pub terms: Vec<ReconTerm>,
    pub fetch_info: BTreeMap<String, Vec<FetchV1>>,
}

impl ReconstructionV2 {
    /// The v1 shape of the same answer: one entry (and URL use) per byte range.
    pub fn into_v1(self) -> ReconstructionV1 {
        let fetch_info = self
            .xorbs
            .into_iter()
            .map(|(h, fetches)| {
                let entries = fetches
                    .into_iter()
                    .flat_map(|f| {
                        let url = f.url;
                        f.ranges.into_iter().map(move |r| FetchV1 {
                            range: r.chunks,
                            url: url.clone(),
                            url_range: r.bytes,
                        })
                    })
                    .collect();
                (h, entries)
            })
            .collect();
        ReconstructionV1 { offset_into_first_range: self.offset_into_first_range, terms: self.terms, fetch_info }
    }
}

/// The file's terms (from the store) as plan input.
pub(crate) fn terms_of(file: &XetFile) -> Result<Vec<Term>> {
    file.terms
        .iter()
        .map(|t| Ok(Term { xorb: parse_hash(&t.xorb_hash)?, chunk_start: t.chunk_start, chunk_end: t.chunk_end }))
        .collect()
}

pub(crate) async fn load_indexes(hub: &Hub, terms: &[Term]) -> Result<HashMap<XetHash, Arc<XorbIndex>>> {
    let mut out = HashMap::new();
    for t in terms {
        if let std::collections::hash_map::Entry::Vacant(slot) = out.entry(t.xorb) {
            slot.insert(xorb_index(hub, &t.xorb).await?);
        }
    }
    Ok(out)
}

/// The purpose a fetch URL's signature covers: the xorb, its stored size and the byte ranges it may
/// serve (inclusive ends, as in the reconstruction).
fn fetch_purpose(xorb: &str, size: u64, ranges: &str) -> String {
    format!("xet-fetch {xorb} {size} {ranges}")
}

/// `GET /v{1,2}/reconstructions/{file}` with `Range: bytes=S-E` (whole file without it). Only files
/// the token's repository holds can be reconstructed; others are unknown (404).
pub async fn reconstruction(
    hub: &Hub,
    grant: &Grant,
    file: &str,
    range: Option<(u64, Option<u64>)>,
    cas_base: &str,
) -> Result<ReconstructionV2> {
    let file_hash = parse_hash(file)?;
    let not_found = || Error::new(ErrorCode::EntryNotFound, format!("Xet file {file} not found"));
    if !hub.store.repo_has_xet_file(grant.repo_id, &file_hash.hex()).await? {
        return Err(not_found());
    }
    let file = super::serve::file(hub, &file_hash).await?.ok_or_else(not_found)?;
    let (start, end) = match range {
        None => (0, file.size),
        Some((s, _)) if s >= file.size => {
            return Err(Error::new(ErrorCode::RangeNotSatisfiable, format!("File has {} bytes", file.size)))
        }
        Some((s, e)) => (s, e.map_or(file.size, |e| e.saturating_add(1).min(file.size))),
    };
    if start >= end {
        return Err(Error::new(ErrorCode::RangeNotSatisfiable, "Empty range"));
    }
    let terms = terms_of(&file)?;
    let indexes = load_indexes(hub, &terms).await?;
    let find = |h: &XetHash| indexes.get(h).map(|a| a.as_ref());
    let p = plan::plan(&terms, find, start, end)?;
    let fetches = plan::fetch_ranges(&p.pieces, find)?;
    let exp = now_secs() + i64::try_from(hub.config.xet.fetch_url_ttl_secs).unwrap_or(3600);
    let mut xorbs = BTreeMap::new();
    for (h, ranges) in fetches {
        let hex = h.hex();
        let size = hub.store.xorb(&hex).await?.map(|x| x.stored_bytes).ok_or_else(not_found)?;
        let spec: Vec<String> = ranges.iter().map(|r| format!("{}-{}", r.byte_start, r.byte_end - 1)).collect();
        let spec = spec.join(",");
        let sig = signing::sign(&hub.config.signing_key, &fetch_purpose(&hex, size, &spec), exp);
        let url = format!("{cas_base}/fetch/{hex}?n={size}&r={spec}&exp={exp}&sig={sig}");
        let ranges = ranges
            .iter()
            .map(|r| FetchRangeV2 {
                chunks: IndexRange { start: r.chunk_start.into(), end: r.chunk_end.into() },
                bytes: IndexRange { start: r.byte_start, end: r.byte_end - 1 },
            })
            .collect();
        xorbs.insert(hex, vec![FetchV2 { url, ranges }]);
    }
    let terms = p
        .pieces
        .iter()
        .map(|piece| ReconTerm {
            hash: piece.xorb.hex(),
            unpacked_length: piece.unpacked_len,
            range: IndexRange { start: piece.chunk_start.into(), end: piece.chunk_end.into() },
        })
        .collect();
    Ok(ReconstructionV2 { offset_into_first_range: p.offset_into_first, terms, xorbs })
}

/// A checked fetch: the xorb's object key, its stored size, and the requested ranges (end exclusive),
/// each inside a range the URL's signature allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub key: String,
    pub size: u64,
    pub ranges: Vec<std::ops::Range<u64>>,
}

fn parse_ranges(spec: &str) -> Option<Vec<(u64, u64)>> {
    spec.split(',')
        .map(|r| {
            let (a, b) = r.trim().split_once('-')?;
            let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
            (a <= b).then_some((a, b))
        })
        .collect()
}

/// Checks a fetch URL (`n`, `r`, `exp`, `sig`) and the request's `Range` against it. 403 for a bad or
/// expired signature or a range it does not cover (the client then asks for a fresh reconstruction).
pub fn check_fetch(
    key: &[u8],
    xorb: &str,
    size: u64,
    signed: &str,
    exp: i64,
    sig: &str,
    range_header: Option<&str>,
) -> Result<Fetch> {
    let xorb_hash = parse_hash(xorb)?;
    if !signing::verify(key, &fetch_purpose(&xorb_hash.hex(), size, signed), exp, sig, now_secs()) {
        return Err(Error::forbidden("Invalid or expired fetch URL"));
    }
    let allowed = parse_ranges(signed).ok_or_else(|| Error::forbidden("Invalid fetch URL"))?;
    let requested = match range_header {
        Some(h) => {
            let spec = h.trim().strip_prefix("bytes=").ok_or_else(|| Error::bad_request("Unsupported Range unit"))?;
            parse_ranges(spec).ok_or_else(|| Error::bad_request(format!("Invalid Range {h:?}")))?
        }
        // No Range: the signed ranges themselves.
        None => allowed.clone(),
    };
    for &(a, b) in &requested {
        if !allowed.iter().any(|&(s, e)| s <= a && b <= e) || b >= size {
            return Err(Error::forbidden(format!("Range {a}-{b} is not covered by this fetch URL")));
        }
    }
    Ok(Fetch { key: xorb_key(&xorb_hash), size, ranges: requested.into_iter().map(|(a, b)| a..b + 1).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_urls_authorize_each_range() {
        let key = b"k";
        let xorb = "11".repeat(32);
        let exp = now_secs() + 60;
        let signed = "0-99,200-299";
        let sig = signing::sign(key, &fetch_purpose(&xorb, 1000, signed), exp);
        let ok = |h: Option<&str>| check_fetch(key, &xorb, 1000, signed, exp, &sig, h);
        assert_eq!(ok(Some("bytes=0-99")).expect("first").ranges, vec![(0..100)]);
        assert_eq!(ok(Some("bytes=210-220,0-5")).expect("multi").ranges, [210..221, 0..6]);
        assert_eq!(ok(None).expect("signed ranges").ranges, [0..100, 200..300]);
        let status = |r: Result<Fetch>| r.expect_err("refused").code;
        assert_eq!(status(ok(Some("bytes=0-100"))), ErrorCode::Forbidden, "spills out of the signed range");
        assert_eq!(status(ok(Some("bytes=100-150"))), ErrorCode::Forbidden);
        assert_eq!(status(ok(Some("bytes=5-2"))), ErrorCode::BadRequest);
        assert_eq!(
            status(check_fetch(key, &xorb, 1000, "0-999", exp, &sig, None)),
            ErrorCode::Forbidden,
            "ranges are signed"
        );
        assert_eq!(
            status(check_fetch(key, &xorb, 2000, signed, exp, &sig, None)),
            ErrorCode::Forbidden,
            "size is signed"
        );
        assert_eq!(status(check_fetch(key, &xorb, 1000, signed, exp + 1, &sig, None)), ErrorCode::Forbidden);
        let old = now_secs() - 1;
        let stale = signing::sign(key, &fetch_purpose(&xorb, 1000, signed), old);
        assert_eq!(status(check_fetch(key, &xorb, 1000, signed, old, &stale, None)), ErrorCode::Forbidden, "expired");
    }
}
