//! Xet storage: files cut into content-defined chunks, packed into xorbs, described by shards. The
//! newest `huggingface_hub` clients upload every large file this way (see docs in the Xet protocol
//! specification; the server's side is summarised in ARCHITECTURE.md).
//!
//! - [`token`]: the sealed, short-lived tokens the Hub hands out and the CAS checks on every call.
//! - [`cas`]: the CAS operations: xorb and shard upload (validated from untrusted bytes), the dedup
//!   query, reconstructions and the signed fetch URLs they point at.
//! - [`plan`]: range arithmetic from a file's terms to chunk and byte ranges of xorbs.
//! - [`serve`]: a Xet file as plain bytes, for every client that does not speak Xet.
//! - [`gc`]: garbage collection of xorbs no file uses any more.
//!
//! Object layout in blob storage: `xet/xorbs/<h[..2]>/<h>` (the xorb as uploaded), `…/<h>.idx` (its
//! chunk index) and `xet/shards/<sha256[..2]>/<sha256>` (shards as uploaded).

pub mod cas;
pub mod gc;
pub mod plan;
pub mod serve;
pub mod token;

use crate::access::check_repo;
use crate::hub::blocking;
use crate::time::now_millis;
use crate::Hub;
use gatehouse_authz::{Action, Subject, TokenGrant};
use gatehouse_store::{AccountStore, RepoRecord, RepoStore, TokenStore};
use gatehouse_types::{Error, ErrorCode, RepoType, Result, Revision};
use gatehouse_xet::xorb::XorbIndex;
use gatehouse_xet::XetHash;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;
pub use token::{Grant, Scope};

#[derive(Debug, Clone)]
pub struct XetConfig {
    /// Lifetime of Xet tokens. Clients refresh 30-60 s before expiry and never after a 401, so this must
    /// be well above a minute.
    pub token_ttl_secs: u64,
    /// Unused xorbs younger than this are kept: clients reuse xorbs they uploaded for three weeks
    /// without asking.
    pub gc_grace_secs: u64,
    /// Lifetime of signed fetch URLs in reconstructions (the client asks again on 403).
    pub fetch_url_ttl_secs: u64,
}

impl Default for XetConfig {
    fn default() -> Self {
        XetConfig { token_ttl_secs: 3600, gc_grace_secs: 28 * 24 * 3600, fetch_url_ttl_secs: 3600 }
    }
}

/// Process-wide Xet state: chunk indexes (immutable, so cached until evicted) and the subjects behind
/// tokens (short-lived, cleared with the other authorization caches).
pub(crate) struct XetCaches {
    pub(crate) indexes: Cache<XetHash, Arc<XorbIndex>>,
    /// File hash → term list (a few dozen bytes per term).
    pub(crate) files: Cache<XetHash, Arc<gatehouse_store::XetFile>>,
    pub(crate) subjects: Cache<(Option<i64>, Option<i64>), Subject>,
}

impl XetCaches {
    pub(crate) fn new() -> Self {
        XetCaches {
            // Weighed by chunk count: about 50 bytes each, so ~100 MB at most.
            indexes: Cache::builder()
                .max_capacity(2_000_000)
                .weigher(|_, v: &Arc<XorbIndex>| u32::try_from(v.chunks.len()).unwrap_or(u32::MAX).max(1))
                .build(),
            files: Cache::builder()
                .max_capacity(1_000_000)
                .weigher(|_, v: &Arc<gatehouse_store::XetFile>| u32::try_from(v.terms.len()).unwrap_or(u32::MAX).max(1))
                .build(),
            subjects: Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(5)).build(),
        }
    }
}

pub fn xorb_key(hash: &XetHash) -> String {
    let h = hash.hex();
    format!("xet/xorbs/{}/{h}", &h[..2])
}

pub fn index_key(hash: &XetHash) -> String {
    format!("{}.idx", xorb_key(hash))
}

pub fn shard_key(sha256: &str) -> String {
    format!("xet/shards/{}/{sha256}", &sha256[..2])
}

pub(crate) fn now_secs() -> i64 {
    now_millis() / 1000
}

/// A path or query hash: 64 hex digits in the Xet string form.
pub fn parse_hash(s: &str) -> Result<XetHash> {
    XetHash::from_hex(s).map_err(|_| Error::bad_request(format!("Invalid Xet hash {s:?}: expected 64 hex digits")))
}

/// The chunk index of a stored xorb.
pub(crate) async fn xorb_index(hub: &Hub, hash: &XetHash) -> Result<Arc<XorbIndex>> {
    if let Some(ix) = hub.xet.indexes.get(hash) {
        return Ok(ix);
    }
    let bytes = hub.blobs.read_object(&index_key(hash)).await.map_err(|e| match e {
        gatehouse_blob::BlobError::NotFound => Error::not_found(format!("xorb {hash} is not stored")),
        other => Error::internal(other),
    })?;
    let expected = *hash;
    let ix = blocking(move || {
        let ix =
            XorbIndex::from_bytes(&bytes).map_err(|e| Error::internal(format!("index of xorb {expected}: {e}")))?;
        if ix.hash != expected {
            return Err(Error::internal(format!("index of xorb {expected} describes {}", ix.hash)));
        }
        Ok(Arc::new(ix))
    })
    .await?;
    hub.xet.indexes.insert(*hash, ix.clone());
    Ok(ix)
}

/// What the token routes answer (JSON body and `X-Xet-*` headers; the CAS URL is added by HTTP).
#[derive(Debug, Clone)]
pub struct Connection {
    pub access_token: String,
    /// Unix seconds.
    pub exp: i64,
}

/// `GET /api/{type}s/{repo}/xet-{read|write}-token/{rev}`. Reading needs download access and a revision
/// that exists; writing needs write access (`create_pr` uploads too: pull requests are not offered yet,
/// and the client sends the revision `None` for them).
#[allow(clippy::too_many_arguments)]
pub async fn issue_token(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    rev: &str,
    create_pr: bool,
    scope: Scope,
) -> Result<Connection> {
    let action = match scope {
        Scope::Read => Action::RepoDownload,
        Scope::Write => Action::RepoWrite,
    };
    let repo = crate::access::authorize_repo(hub, subject, t, ns, name, action).await?;
    if !(scope == Scope::Write && create_pr && rev == "None") {
        let revision = Revision::parse(rev)?;
        if scope == Scope::Read {
            let git = hub.git.clone();
            let (key, r) = (repo.storage_key.clone(), revision.as_str().to_string());
            blocking(move || git.with_repo(&key, |g| g.resolve(&r).map(|_| ())).map_err(Error::from)).await?;
        }
    }
    let (user_id, token_id) = match subject {
        Subject::Anonymous => (None, None),
        Subject::User(u) => (Some(u.user_id), u.token.as_ref().map(|t| t.token_id)),
    };
    let exp = now_secs() + i64::try_from(hub.config.xet.token_ttl_secs).unwrap_or(3600);
    let grant = Grant { scope, repo_id: repo.id, user_id, token_id, exp };
    Ok(Connection { access_token: grant.encode(&hub.config.signing_key), exp })
}

/// Checks a CAS call's bearer token: sealed and unexpired (else 401), of the needed scope, and still
/// allowed by the decision function for the caller it names (else 403).
pub async fn authorize(hub: &Hub, bearer: Option<&str>, need: Scope) -> Result<(Grant, Subject, RepoRecord)> {
    let token = bearer.ok_or_else(Error::auth_required)?;
    let grant = Grant::decode(&hub.config.signing_key, token, now_secs())
        .ok_or_else(|| Error::new(ErrorCode::InvalidCredentials, "Invalid or expired Xet token"))?;
    if need == Scope::Write && grant.scope == Scope::Read {
        return Err(Error::forbidden("This Xet token only allows reading"));
    }
    let subject = subject_of(hub, &grant).await?;
    let denied = || Error::forbidden("This Xet token no longer gives access to its repository");
    let repo = hub.store.repo_by_id(grant.repo_id).await?.ok_or_else(denied)?;
    let action = match need {
        Scope::Read => Action::RepoDownload,
        Scope::Write => Action::RepoWrite,
    };
    check_repo(hub, &subject, action, &repo).await.map_err(|_| denied())?;
    Ok((grant, subject, repo))
}

async fn subject_of(hub: &Hub, grant: &Grant) -> Result<Subject> {
    let key = (grant.user_id, grant.token_id);
    if let Some(s) = hub.xet.subjects.get(&key) {
        return Ok(s);
    }
    let invalid = || Error::new(ErrorCode::InvalidCredentials, "The credentials behind this Xet token were revoked");
    let subject = match grant.user_id {
        None => Subject::Anonymous,
        Some(uid) => {
            let user = hub.store.account_by_id(uid).await?.ok_or_else(invalid)?;
            let token = match grant.token_id {
                None => None,
                Some(tid) => {
                    let rec = hub.store.token_by_id(tid).await?.filter(|r| r.revoked_at.is_none() && r.user_id == uid);
                    let rec = rec.ok_or_else(invalid)?;
                    Some(TokenGrant { token_id: rec.id, role: rec.role })
                }
            };
            crate::accounts::subject_for(hub, &user, token).await?
        }
    };
    hub.xet.subjects.insert(key, subject.clone());
    Ok(subject)
}
