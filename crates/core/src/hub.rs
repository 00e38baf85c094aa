//! The domain's state: the metadata store, repository storage, blob storage and the signing key.
//! One `Hub` per process, shared by every request.

use gatehouse_authz::Subject;
use gatehouse_blob::BlobStore;
use gatehouse_git::GitStore;
use gatehouse_store::{RepoRecord, RepoStore, Store, TokenRecord};
use gatehouse_types::RepoType;
use moka::sync::Cache;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest a cached answer can live. Changes made through this process evict at once; changes made
/// elsewhere (another node, the admin CLI) bump the database's cache epoch, which `watch_changes` polls
/// every `EPOCH_POLL`, so in practice they take effect within about a second.
const CACHE_TTL: Duration = Duration::from_secs(5);
const EPOCH_POLL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct HubConfig {
    pub data_dir: PathBuf,
    /// Key for self-authorising URLs (LFS uploads); never logged.
    pub signing_key: Vec<u8>,
    pub xet: crate::xet::XetConfig,
    pub accounts: crate::sessions::AccountsConfig,
    pub mail: crate::notify::MailConfig,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("data_dir", &self.data_dir)
            .field("signing_key", &"<redacted>")
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

pub struct Hub {
    pub config: HubConfig,
    pub store: Store,
    pub git: GitStore,
    pub blobs: BlobStore,
    /// Commits to one repository queue here, so in-process writers do not spin on the ref's
    /// compare-and-swap (which still guards against other processes, e.g. a git push).
    write_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Token secret hash → who it authenticates, so a request does not cost three queries.
    pub(crate) subjects: Cache<String, (Subject, TokenRecord)>,
    /// (type, owner, name) as asked, lower-cased → the repository.
    repos: Cache<(RepoType, String, String), RepoRecord>,
    /// (repository, LFS oid) the repository holds → size.
    pub(crate) lfs_links: Cache<(i64, String), LinkFacts>,
    pub(crate) xet: crate::xet::XetCaches,
    /// (gate, user) → whether the user holds an accepted access request for that gate.
    pub(crate) gate_passes: Cache<(gatehouse_store::Gate, i64), bool>,
    /// Failed sign-in attempts per user name and per client.
    pub(crate) login_throttle: crate::sessions::Throttle,
    /// Poked when this process queued mail, so the mailer sends it at once (see `notify::run_mailer`).
    pub(crate) mail_wake: tokio::sync::Notify,
}

/// What a repository's link to an LFS object says: its size, and the Xet file holding it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFacts {
    pub size: u64,
    pub xet_hash: Option<String>,
}

impl Hub {
    pub fn new(config: HubConfig, store: Store, git: GitStore, blobs: BlobStore) -> Arc<Self> {
        Arc::new(Hub {
            store,
            git,
            blobs,
            write_locks: Mutex::new(HashMap::new()),
            subjects: ttl_cache(10_000),
            repos: ttl_cache(10_000),
            lfs_links: ttl_cache(100_000),
            xet: crate::xet::XetCaches::new(),
            gate_passes: ttl_cache(100_000),
            login_throttle: crate::sessions::Throttle::new(config.accounts.throttle_window),
            mail_wake: tokio::sync::Notify::new(),
            config,
        })
    }

    /// A repository by its name (or a name it was moved away from), through the cache.
    pub async fn repo_by_name(&self, t: RepoType, ns: &str, name: &str) -> gatehouse_types::Result<Option<RepoRecord>> {
        let key = (t, ns.to_ascii_lowercase(), name.to_ascii_lowercase());
        if let Some(r) = self.repos.get(&key) {
            return Ok(Some(r));
        }
        let found = self.store.repo_by_name(t, ns, name).await?;
        if let Some(r) = &found {
            self.repos.insert(key, r.clone());
        }
        Ok(found)
    }

    /// After anything that affects authorization changed (memberships, tokens, visibility, moves,
    /// deletions, LFS links): drop this process's caches and tell every other one through the epoch.
    pub async fn authorization_changed(&self) -> gatehouse_types::Result<()> {
        self.forget_cached();
        self.store.bump_cache_epoch().await?;
        Ok(())
    }

    fn forget_cached(&self) {
        self.subjects.invalidate_all();
        self.repos.invalidate_all();
        self.lfs_links.invalidate_all();
        self.xet.subjects.invalidate_all();
        self.gate_passes.invalidate_all();
    }

    /// Runs for the life of the server: drops the caches whenever another process changed something.
    pub async fn watch_changes(self: Arc<Self>) {
        let mut seen = self.store.cache_epoch().await.ok();
        loop {
            tokio::time::sleep(EPOCH_POLL).await;
            match self.store.cache_epoch().await {
                Ok(epoch) if Some(epoch) != seen => {
                    self.forget_cached();
                    seen = Some(epoch);
                }
                Ok(_) => {}
                Err(e) => {
                    // Unknown state: trust nothing cached until the database answers again.
                    self.forget_cached();
                    tracing::warn!(error = %e, "cannot read the cache epoch");
                }
            }
        }
    }

    pub(crate) fn write_lock(&self, repo_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.write_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo_id).or_default().clone()
    }

    /// Tells this process's mailer that mail was queued (after the transaction that wrote it committed);
    /// without it the mail still goes out within the mailer's poll interval.
    pub fn mail_queued(&self) {
        self.mail_wake.notify_one();
    }

    /// Spool files for uploads live beside the blobs so publishing them is a rename, not a copy.
    pub fn spool_dir(&self) -> PathBuf {
        self.config.data_dir.join("tmp")
    }
}

fn ttl_cache<K, V>(capacity: u64) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder().max_capacity(capacity).time_to_live(CACHE_TTL).build()
}

/// Runs blocking work (libgit2, hashing) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> gatehouse_types::Result<T> + Send + 'static,
) -> gatehouse_types::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(gatehouse_types::Error::internal)?
}
