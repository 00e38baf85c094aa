use crate::writer::Writer;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object not found")]
    NotFound,
    #[error("content does not match: {0}")]
    Mismatch(String),
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

pub type BlobResult<T> = Result<T, BlobError>;
pub type ByteStream = BoxStream<'static, BlobResult<Bytes>>;

impl From<BlobError> for gatehouse_types::Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => gatehouse_types::Error::not_found("LFS object not found"),
            BlobError::Mismatch(m) => gatehouse_types::Error::bad_request(m),
            other => gatehouse_types::Error::internal(other),
        }
    }
}

#[derive(Clone)]
pub struct BlobStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// Set for the local filesystem backend: lets downloads read files directly and uploads fsync.
    pub(crate) local_root: Option<PathBuf>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("store", &self.store.to_string())
            .field("local_root", &self.local_root)
            .finish()
    }
}

impl BlobStore {
    /// Objects under a directory on the local filesystem (created if missing).
    pub fn local(root: &Path) -> BlobResult<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let store = LocalFileSystem::new_with_prefix(&root)?;
        Ok(BlobStore { store: Arc::new(store), local_root: Some(root) })
    }

    /// `file:///path` or `s3://bucket/prefix` (credentials, region and endpoint from the usual `AWS_*`
    /// variables, e.g. `AWS_ENDPOINT` for MinIO).
    pub fn from_url(url: &str) -> BlobResult<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            return Self::local(Path::new(path));
        }
        let parsed = url.parse().map_err(|e| BlobError::Config(format!("bad storage URL {url:?}: {e}")))?;
        let opts: Vec<(String, String)> =
            std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        let (store, prefix) = object_store::parse_url_opts(&parsed, opts)?;
        let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            Arc::from(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(BlobStore { store, local_root: None })
    }

    pub(crate) fn key(oid: &str) -> StorePath {
        StorePath::from(format!("lfs/{}/{}/{}", &oid[..2], &oid[2..4], oid))
    }

    /// The size of a stored object, or None.
    pub async fn size(&self, oid: &str) -> BlobResult<Option<u64>> {
        if !crate::is_sha256_hex(oid) {
            return Ok(None);
        }
        match self.store.head(&Self::key(oid)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The object's file when stored on the local filesystem, for zero-copy-ish serving.
    pub fn local_path(&self, oid: &str) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        crate::is_sha256_hex(oid).then(|| root.join(Self::key(oid).as_ref()))
    }

    /// The object's bytes, or a range of them.
    pub async fn get(&self, oid: &str, range: Option<Range<u64>>) -> BlobResult<ByteStream> {
        if !crate::is_sha256_hex(oid) {
            return Err(BlobError::NotFound);
        }
        let opts = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        match self.store.get_opts(&Self::key(oid), opts).await {
            Ok(r) => Ok(r.into_stream().map(|c| c.map_err(BlobError::from)).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts an upload into staging. Call [`Writer::finish`] to verify and publish it.
    pub async fn writer(&self) -> BlobResult<Writer> {
        Writer::start(self.clone(), true).await
    }

    /// Starts an upload into staging without hashing, for content the caller verifies itself; publish it
    /// with [`Writer::finish_at`].
    pub async fn object_writer(&self) -> BlobResult<Writer> {
        Writer::start(self.clone(), false).await
    }

    /// Publishes a file whose content was already hashed (`oid`, `size`) by the caller while it was
    /// written. On the local filesystem it is renamed into place (same filesystem: no copy); elsewhere it
    /// is streamed up, and checked again on the way.
    pub async fn publish_file(&self, file: &Path, oid: &str, size: u64) -> BlobResult<()> {
        if !crate::is_sha256_hex(oid) {
            return Err(BlobError::Mismatch(format!("{oid:?} is not a sha256")));
        }
        if let Some(target) = self.local_path(oid) {
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            match tokio::fs::rename(file, &target).await {
                Ok(()) => return crate::writer::sync_file_and_dir(&target).await,
                // Another filesystem: fall back to copying through a writer.
                Err(e) if e.raw_os_error() == Some(18) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut input = tokio::fs::File::open(file).await?;
        let mut w = self.writer().await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut input, &mut buf).await?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n]).await?;
        }
        w.finish(Some((oid, size))).await.map(|_| ())
    }

    /// Stores small content held in memory.
    pub async fn put_bytes(&self, data: &[u8]) -> BlobResult<crate::Verified> {
        let mut w = self.writer().await?;
        w.write(data).await?;
        w.finish(None).await
    }

    /// Removes uploads a dead process left in staging on the local disk. Only entries older than
    /// `max_age` go: younger ones may be uploads in flight on another node sharing the store.
    pub fn remove_stale_staging(&self, max_age: std::time::Duration) -> usize {
        let Some(root) = &self.local_root else { return 0 };
        let Ok(entries) = std::fs::read_dir(root.join("staging")) else { return 0 };
        let mut removed = 0;
        for entry in entries.flatten() {
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|a| a > max_age));
            if old && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Stores `data` at `key` (objects other than LFS content: Xet xorbs, their indexes, shards). The
    /// object appears whole or not at all; on the local disk it is fsynced before this returns.
    pub async fn put_object(&self, key: &str, data: Bytes) -> BlobResult<()> {
        let path = StorePath::from(key);
        self.store.put(&path, data.into()).await?;
        if let Some(root) = &self.local_root {
            crate::writer::sync_file_and_dir(&root.join(path.as_ref())).await?;
        }
        Ok(())
    }

    /// The bytes at `key`, or a range of them.
    pub async fn get_object(&self, key: &str, range: Option<Range<u64>>) -> BlobResult<ByteStream> {
        let opts = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        match self.store.get_opts(&StorePath::from(key), opts).await {
            Ok(r) => Ok(r.into_stream().map(|c| c.map_err(BlobError::from)).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// A small object read whole (an index, a shard).
    pub async fn read_object(&self, key: &str) -> BlobResult<Bytes> {
        match self.store.get(&StorePath::from(key)).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// One range of the object at `key`, read whole.
    pub async fn read_object_range(&self, key: &str, range: Range<u64>) -> BlobResult<Bytes> {
        match self.store.get_range(&StorePath::from(key), range).await {
            Ok(b) => Ok(b),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the object at `key`; a missing object is not an error.
    pub async fn delete_object(&self, key: &str) -> BlobResult<()> {
        match self.store.delete(&StorePath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys under `prefix` with their last-modified time (for sweeping orphans).
    pub async fn list_objects(&self, prefix: &str) -> BlobResult<Vec<(String, std::time::SystemTime)>> {
        Ok(self.list_with_sizes(prefix).await?.into_iter().map(|(key, modified, _)| (key, modified)).collect())
    }

    /// Keys under `prefix` with their last-modified time and size.
    pub async fn list_with_sizes(&self, prefix: &str) -> BlobResult<Vec<(String, std::time::SystemTime, u64)>> {
        let mut out = Vec::new();
        let mut listing = self.store.list(Some(&StorePath::from(prefix)));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            out.push((meta.location.to_string(), meta.last_modified.into(), meta.size));
        }
        Ok(out)
    }

    /// Every stored LFS object: its oid, last-modified time and size (for garbage collection).
    pub async fn list_lfs(&self) -> BlobResult<Vec<(String, std::time::SystemTime, u64)>> {
        let all = self.list_with_sizes("lfs").await?;
        Ok(all
            .into_iter()
            .filter_map(|(key, modified, size)| {
                let oid = key.rsplit('/').next()?.to_string();
                (crate::is_sha256_hex(&oid) && Self::key(&oid).as_ref() == key).then_some((oid, modified, size))
            })
            .collect())
    }

    pub async fn delete(&self, oid: &str) -> BlobResult<()> {
        match self.store.delete(&Self::key(oid)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
