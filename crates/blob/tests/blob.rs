use futures::TryStreamExt;
use gatehouse_blob::*;

async fn read_all(s: ByteStream) -> Vec<u8> {
    s.try_fold(Vec::new(), |mut acc, b| async move {
        acc.extend_from_slice(&b);
        Ok(acc)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn upload_verify_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::local(dir.path()).unwrap();
    let data: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = blobs.writer().await.unwrap();
    for chunk in data.chunks(1_000_003) {
        w.write(chunk).await.unwrap();
    }
    let v = w.finish(None).await.unwrap();
    assert_eq!(v.size, data.len() as u64);
    assert_eq!(blobs.size(&v.oid).await.unwrap(), Some(data.len() as u64));
    assert_eq!(read_all(blobs.get(&v.oid, None).await.unwrap()).await, data);
    assert_eq!(read_all(blobs.get(&v.oid, Some(10..20)).await.unwrap()).await, &data[10..20]);
    assert!(blobs.local_path(&v.oid).unwrap().exists());
    // Nothing is left in staging.
    assert_eq!(std::fs::read_dir(dir.path().join("staging")).map(|d| d.count()).unwrap_or(0), 0);
}

#[tokio::test]
async fn mismatch_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::local(dir.path()).unwrap();
    let wrong = "0".repeat(64);
    let mut w = blobs.writer().await.unwrap();
    w.write(b"hello").await.unwrap();
    assert!(matches!(w.finish(Some((&wrong, 5))).await, Err(BlobError::Mismatch(_))));
    assert_eq!(blobs.size(&wrong).await.unwrap(), None);
    // Right hash, wrong size.
    let oid = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let mut w = blobs.writer().await.unwrap();
    w.write(b"hello").await.unwrap();
    assert!(w.finish(Some((oid, 6))).await.is_err());
    assert_eq!(blobs.size(oid).await.unwrap(), None);
    let mut w = blobs.writer().await.unwrap();
    w.write(b"hello").await.unwrap();
    assert_eq!(w.finish(Some((oid, 5))).await.unwrap().oid, oid);
    assert_eq!(std::fs::read_dir(dir.path().join("staging")).map(|d| d.count()).unwrap_or(0), 0);
}

#[tokio::test]
async fn empty_object_and_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::local(dir.path()).unwrap();
    let v = blobs.writer().await.unwrap().finish(None).await.unwrap();
    assert_eq!(v.oid, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(blobs.size(&v.oid).await.unwrap(), Some(0));
    assert_eq!(blobs.size("../../etc/passwd").await.unwrap(), None);
    assert!(blobs.local_path("../x").is_none());
    assert!(matches!(blobs.get(&"1".repeat(64), None).await, Err(BlobError::NotFound)));
}

#[tokio::test]
async fn publish_a_prehashed_file_by_rename() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::local(&dir.path().join("blobs")).unwrap();
    let spool = dir.path().join("spool.bin");
    std::fs::write(&spool, b"hello").unwrap();
    let oid = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    blobs.publish_file(&spool, oid, 5).await.unwrap();
    assert!(!spool.exists());
    assert_eq!(std::fs::read(blobs.local_path(oid).unwrap()).unwrap(), b"hello");
    assert!(blobs.publish_file(&spool, "nope", 5).await.is_err());
}
