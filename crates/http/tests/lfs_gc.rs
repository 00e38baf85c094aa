//! Garbage collection of LFS blobs, in-process on both databases, through the real upload path (batch,
//! signed PUT, verify, commit): what no repository links goes, what any repository links stays, young
//! objects wait for the grace period, and a deletion in progress or an interrupted one never leaves a
//! repository linking bytes that are gone.

use std::time::Duration;

use gatehouse_core::{lfs_gc, xet::gc};
use gatehouse_store::{LfsStore, XetStore};
use gatehouse_testkit::{TestApp, BACKENDS};
use reqwest::Method as M;
use serde_json::json;
use sha2::Digest;

fn oid_of(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Uploads `data` as an LFS object of `repo` the way git-lfs and huggingface_hub do; returns the PUT's
/// status (200 when stored and linked).
async fn upload(app: &TestApp, token: &str, repo: &str, data: &[u8]) -> u16 {
    let (oid, size) = (oid_of(data), data.len());
    let body = json!({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]});
    let (s, _, b) = app.call(Some(token), M::POST, &format!("/{repo}.git/info/lfs/objects/batch"), Some(body)).await;
    assert_eq!(s, 200, "{b}");
    let Some(href) = b["objects"][0]["actions"]["upload"]["href"].as_str() else { return 200 };
    app.client.put(href).body(data.to_vec()).send().await.unwrap().status().as_u16()
}

async fn commit(app: &TestApp, token: &str, repo: &str, path: &str, data: &[u8]) -> u16 {
    let op =
        json!({"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid_of(data), "size": data.len()}});
    app.commit(token, &format!("models/{repo}"), "add", &[op]).await.status().as_u16()
}

async fn create(app: &TestApp, token: &str, name: &str) {
    let (s, _, b) = app.call(Some(token), M::POST, "/api/repos/create", Some(json!({"name": name}))).await;
    assert_eq!(s, 200, "{b}");
}

async fn stored(app: &TestApp, data: &[u8]) -> bool {
    app.hub.blobs.size(&oid_of(data)).await.unwrap().is_some()
}

fn content(tag: &str) -> Vec<u8> {
    tag.bytes().cycle().take(64 * 1024).collect()
}

#[tokio::test]
async fn unlinked_blobs_are_collected_and_linked_ones_kept() {
    for backend in BACKENDS {
        let app = TestApp::start(backend).await;
        let alice = app.user("alice").await;
        create(&app, &alice, "a").await;
        create(&app, &alice, "b").await;
        let (shared, only_a, removed) = (content("shared"), content("only in a"), content("removed from b"));
        for (repo, data) in [("alice/a", &shared), ("alice/b", &shared), ("alice/a", &only_a), ("alice/b", &removed)] {
            assert_eq!(upload(&app, &alice, repo, data).await, 200, "{repo}");
        }
        assert_eq!(commit(&app, &alice, "alice/a", "w.bin", &only_a).await, 200);
        // A permanently deleted LFS file and a deleted repository leave their bytes unlinked.
        let (s, _, b) = app
            .call(
                Some(&alice),
                M::POST,
                "/api/models/alice/b/lfs-files/batch",
                Some(json!({"deletions": {"sha": [oid_of(&removed)], "rewriteHistory": false}})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, _, b) = app.call(Some(&alice), M::DELETE, "/api/repos/delete", Some(json!({"name": "a"}))).await;
        assert_eq!(s, 200, "{b}");

        // Young objects wait for the grace period.
        let r = gc::collect(&app.hub, Duration::from_secs(3600)).await.unwrap();
        assert_eq!(r.lfs.objects_deleted, 0);
        assert!(stored(&app, &only_a).await && stored(&app, &removed).await);

        let r = gc::collect(&app.hub, Duration::ZERO).await.unwrap();
        assert_eq!((r.lfs.objects_deleted, r.lfs.bytes_freed), (2, 2 * 64 * 1024), "{r:?}");
        assert!(!stored(&app, &only_a).await && !stored(&app, &removed).await);
        assert!(stored(&app, &shared).await, "alice/b still links it");
        let got = app.client.get(app.url("/api/models/alice/b")).bearer_auth(&alice).send().await.unwrap();
        assert_eq!(got.status(), 200);
        // The runs are on record, with what the LFS part freed.
        let runs = app.hub.store.gc_runs(1).await.unwrap();
        assert!(runs[0].report.as_deref().unwrap().contains("\"objects_deleted\":2"), "{:?}", runs[0].report);

        // The same content uploaded again is stored and linked anew, and can be committed.
        create(&app, &alice, "c").await;
        assert_eq!(upload(&app, &alice, "alice/c", &only_a).await, 200);
        assert_eq!(commit(&app, &alice, "alice/c", "w.bin", &only_a).await, 200);
        let r = app.client.get(app.url("/alice/c/resolve/main/w.bin")).bearer_auth(&alice).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), only_a.as_slice());
        assert_eq!(gc::collect(&app.hub, Duration::ZERO).await.unwrap().lfs.objects_deleted, 0);
    }
}

#[tokio::test]
async fn a_deletion_in_progress_refuses_links_and_an_interrupted_one_is_finished() {
    for backend in BACKENDS {
        let app = TestApp::start(backend).await;
        let alice = app.user("alice").await;
        create(&app, &alice, "m").await;
        let data = content("doomed");
        let oid = oid_of(&data);
        assert_eq!(upload(&app, &alice, "alice/m", &data).await, 200);
        assert!(app.hub.store.unlink_lfs_object(repo_id(&app, "m").await, &oid).await.unwrap());

        // A collector dooms it, then stops before deleting (its process died).
        let long_ago = gatehouse_core::time::now_millis() - 2 * 3600 * 1000;
        assert!(app.hub.store.doom_lfs_blob(&oid, 7, long_ago).await.unwrap());
        assert!(!app.hub.store.doom_lfs_blob(&oid, 8, long_ago).await.unwrap(), "one collector at a time");
        // Meanwhile an upload of the same content is refused (503, retried by clients), and nothing links.
        let (s, code) = upload_raw(&app, &alice, "alice/m", &data).await;
        assert_eq!((s, code.as_str()), (503, "Unavailable"));
        assert!(!app.hub.store.lfs_object_referenced(&oid).await.unwrap());
        assert_eq!(commit(&app, &alice, "alice/m", "w.bin", &data).await, 400);

        // The stale doom is taken over and finished; then the upload works.
        assert_eq!(lfs_gc::resume(&app.hub).await.unwrap(), 1);
        assert!(!stored(&app, &data).await);
        assert_eq!(upload(&app, &alice, "alice/m", &data).await, 200);
        assert!(stored(&app, &data).await);
        assert_eq!(commit(&app, &alice, "alice/m", "w.bin", &data).await, 200);

        // Bytes that vanished between an upload and its link: the link is taken back, the caller retries.
        let missing = content("never stored");
        let e = lfs_gc::link_stored(&app.hub, repo_id(&app, "m").await, &oid_of(&missing), missing.len() as u64)
            .await
            .unwrap_err();
        assert_eq!(e.code, gatehouse_types::ErrorCode::Unavailable);
        assert!(!app.hub.store.lfs_object_referenced(&oid_of(&missing)).await.unwrap());
    }
}

async fn repo_id(app: &TestApp, name: &str) -> i64 {
    app.hub.repo_by_name(gatehouse_types::RepoType::Model, "alice", name).await.unwrap().unwrap().id
}

/// The PUT's status and `X-Error-Code`.
async fn upload_raw(app: &TestApp, token: &str, repo: &str, data: &[u8]) -> (u16, String) {
    let (oid, size) = (oid_of(data), data.len());
    let body = json!({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]});
    let (_, _, b) = app.call(Some(token), M::POST, &format!("/{repo}.git/info/lfs/objects/batch"), Some(body)).await;
    let href = b["objects"][0]["actions"]["upload"]["href"].as_str().expect("an upload action").to_string();
    let r = app.client.put(href).body(data.to_vec()).send().await.unwrap();
    let code = r.headers().get("x-error-code").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (r.status().as_u16(), code)
}
