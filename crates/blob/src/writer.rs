use crate::store::{BlobError, BlobResult, BlobStore};
use bytes::{Bytes, BytesMut};
use object_store::path::Path as StorePath;
use object_store::{MultipartUpload, PutPayload};
use sha2::{Digest, Sha256};

/// Parts are buffered to this size before going to the store (S3 needs at least 5 MiB per part).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// What arrived, after hashing: the object's address and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub oid: String,
    pub size: u64,
}

/// An upload in progress: bytes are hashed as they pass and sent to a staging key in parts.
pub struct Writer {
    blobs: BlobStore,
    staging: StorePath,
    upload: Box<dyn MultipartUpload>,
    /// None for content verified by other means (Xet xorbs): sha256 would cost more than the upload.
    hasher: Option<Sha256>,
    size: u64,
    buf: BytesMut,
}

impl Writer {
    pub(crate) async fn start(blobs: BlobStore, hashed: bool) -> BlobResult<Self> {
        let staging = StorePath::from(format!("staging/{}", uuid::Uuid::new_v4().simple()));
        let upload = blobs.store.put_multipart(&staging).await?;
        let hasher = hashed.then(Sha256::new);
        Ok(Writer { blobs, staging, upload, hasher, size: 0, buf: BytesMut::with_capacity(PART_SIZE) })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, data: &[u8]) -> BlobResult<()> {
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.size += data.len() as u64;
        let mut rest = data;
        while !rest.is_empty() {
            let take = rest.len().min(PART_SIZE - self.buf.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == PART_SIZE {
                self.flush_part().await?;
            }
        }
        Ok(())
    }

    async fn flush_part(&mut self) -> BlobResult<()> {
        let part: Bytes = std::mem::replace(&mut self.buf, BytesMut::with_capacity(PART_SIZE)).freeze();
        self.upload.put_part(PutPayload::from(part)).await?;
        Ok(())
    }

    /// Checks what arrived against `expected` (oid, size) when given, then publishes it at its content
    /// address. On a mismatch nothing is published and the staging data is removed.
    pub async fn finish(mut self, expected: Option<(&str, u64)>) -> BlobResult<Verified> {
        let Some(hasher) = self.hasher.take() else {
            self.abort().await;
            return Err(BlobError::Config("finish needs a hashing writer; use finish_at".into()));
        };
        let oid = hex::encode(hasher.finalize());
        let size = self.size;
        if let Some((want_oid, want_size)) = expected {
            if want_size != size || want_oid != oid {
                self.abort().await;
                return Err(BlobError::Mismatch(format!(
                    "uploaded content has sha256 {oid} and size {size}, expected {want_oid} and {want_size}"
                )));
            }
        }
        if !self.buf.is_empty() || size == 0 {
            self.flush_part().await?;
        }
        self.upload.complete().await?;
        let target = BlobStore::key(&oid);
        // Content-addressed: if the object exists already, the bytes are the same; replacing is harmless.
        self.blobs.store.rename(&self.staging, &target).await?;
        if let Some(path) = self.blobs.local_path(&oid) {
            sync_file_and_dir(&path).await?;
        }
        Ok(Verified { oid, size })
    }

    /// Publishes what arrived at `key` without checking a sha256: for content the caller verified by
    /// other means while streaming it (Xet xorbs, whose address is their Merkle hash).
    pub async fn finish_at(mut self, key: &str) -> BlobResult<u64> {
        if !self.buf.is_empty() || self.size == 0 {
            self.flush_part().await?;
        }
        self.upload.complete().await?;
        let target = StorePath::from(key);
        self.blobs.store.rename(&self.staging, &target).await?;
        if let Some(root) = &self.blobs.local_root {
            sync_file_and_dir(&root.join(target.as_ref())).await?;
        }
        Ok(self.size)
    }

    pub async fn abort(mut self) {
        if let Err(e) = self.upload.abort().await {
            tracing::warn!(error = %e, "aborting staged upload failed");
        }
    }
}

/// Makes a published object durable before the upload is acknowledged.
pub(crate) async fn sync_file_and_dir(path: &std::path::Path) -> BlobResult<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::File::open(&path)?.sync_all()?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
    Ok(())
}
