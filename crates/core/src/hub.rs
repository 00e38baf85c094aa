//! The domain's state: the metadata store, repository storage, blob storage and the signing key.
//! One `Hub` per process, shared by every request.

use gatehouse_blob::BlobStore;
use gatehouse_git::GitStore;
use gatehouse_store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct HubConfig {
    pub data_dir: PathBuf,
    /// Key for self-authorising URLs (LFS uploads); never logged.
    pub signing_key: Vec<u8>,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig").field("data_dir", &self.data_dir).field("signing_key", &"<redacted>").finish()
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
}

impl Hub {
    pub fn new(config: HubConfig, store: Store, git: GitStore, blobs: BlobStore) -> Arc<Self> {
        Arc::new(Hub { config, store, git, blobs, write_locks: Mutex::new(HashMap::new()) })
    }

    pub(crate) fn write_lock(&self, repo_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.write_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo_id).or_default().clone()
    }

    /// Spool files for uploads live beside the blobs so publishing them is a rename, not a copy.
    pub fn spool_dir(&self) -> PathBuf {
        self.config.data_dir.join("tmp")
    }
}

/// Runs blocking work (libgit2, hashing) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> gatehouse_types::Result<T> + Send + 'static,
) -> gatehouse_types::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(gatehouse_types::Error::internal)?
}
