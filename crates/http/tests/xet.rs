//! Xet storage in-process, on both databases, driven by a small client built on our own format crate:
//! precise checks of what the real client (tests/compat/test_xet.py) cannot easily provoke — forged
//! shards, range arithmetic at every boundary, dedup and reconstruction scoping, garbage collection.

use gatehouse_authz::TokenRole;
use gatehouse_core::xet::gc;
use gatehouse_store::XetStore;
use gatehouse_testkit::xet::{build_file, content, shard_bytes, BuiltFile};
use gatehouse_testkit::{Backend, TestApp, BACKENDS};
use gatehouse_xet::shard::{self, FileInfo, Shard};
use gatehouse_xet::xorb::decode_chunks;
use gatehouse_xet::XetHash;
use serde_json::{json, Value};

struct Xet<'a> {
    app: &'a TestApp,
}

impl Xet<'_> {
    async fn token(&self, user_token: &str, repo: &str, scope: &str) -> String {
        let r = self
            .app
            .client
            .get(self.app.url(&format!("/api/models/{repo}/xet-{scope}-token/main")))
            .bearer_auth(user_token);
        let v: Value = r.send().await.unwrap().json().await.unwrap();
        v["accessToken"].as_str().unwrap_or_else(|| panic!("no token: {v}")).to_string()
    }

    async fn post(&self, token: &str, path: &str, body: Vec<u8>) -> (u16, String) {
        let r = self.app.client.post(self.app.url(path)).bearer_auth(token).body(body).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Uploads the xorbs and the shard; returns the shard answer.
    async fn upload(&self, token: &str, f: &BuiltFile) -> (u16, String) {
        for x in &f.xorbs {
            let (status, body) = self.post(token, &format!("/cas/v1/xorbs/default/{}", x.hash), x.bytes.clone()).await;
            assert_eq!(status, 200, "xorb upload: {body}");
        }
        self.post(token, "/cas/v1/shards", shard_bytes(f)).await
    }

    async fn commit(&self, user_token: &str, repo: &str, path: &str, sha256: &str, size: u64) -> (u16, String) {
        let body = format!(
            "{}\n{}\n",
            json!({"key": "header", "value": {"summary": "add"}}),
            json!({"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": sha256, "size": size}})
        );
        let r = self.app.client.post(self.app.url(&format!("/api/models/{repo}/commit/main"))).bearer_auth(user_token);
        let r = r.header("content-type", "application/x-ndjson").body(body).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get(&self, token: Option<&str>, path: &str, range: Option<String>) -> reqwest::Response {
        let mut r = self.app.client.get(self.app.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(range) = range {
            r = r.header("range", range);
        }
        r.send().await.unwrap()
    }

    /// The bytes `[s, e]` rebuilt as the client does: reconstruction, signed fetches, decode, trim.
    async fn reconstruct(&self, token: &str, file: &XetHash, s: u64, e: u64, v: u8) -> Vec<u8> {
        let path = format!("/cas/v{v}/reconstructions/{file}");
        let resp = self.get(Some(token), &path, Some(format!("bytes={s}-{e}"))).await;
        assert_eq!(resp.status(), 200);
        let rec: Value = resp.json().await.unwrap();
        // Every fetched range, decoded chunk by chunk: (xorb, first chunk index, chunks).
        let mut decoded: Vec<(String, u64, Vec<Vec<u8>>)> = Vec::new();
        let mut entries: Vec<(String, String, u64, u64, u64)> = Vec::new();
        if v == 2 {
            for (h, fetches) in rec["xorbs"].as_object().unwrap() {
                for f in fetches.as_array().unwrap() {
                    for r in f["ranges"].as_array().unwrap() {
                        let n = |v: &Value| v.as_u64().unwrap();
                        let url = f["url"].as_str().unwrap().to_string();
                        entries.push((
                            h.clone(),
                            url,
                            n(&r["chunks"]["start"]),
                            n(&r["bytes"]["start"]),
                            n(&r["bytes"]["end"]),
                        ));
                    }
                }
            }
        } else {
            for (h, fetches) in rec["fetch_info"].as_object().unwrap() {
                for f in fetches.as_array().unwrap() {
                    let n = |v: &Value| v.as_u64().unwrap();
                    let url = f["url"].as_str().unwrap().to_string();
                    entries.push((
                        h.clone(),
                        url,
                        n(&f["range"]["start"]),
                        n(&f["url_range"]["start"]),
                        n(&f["url_range"]["end"]),
                    ));
                }
            }
        }
        for (h, url, chunk_start, bs, be) in entries {
            // Fetch URLs are absolute and need no credentials.
            let resp = self.app.client.get(&url).header("range", format!("bytes={bs}-{be}")).send().await.unwrap();
            assert_eq!(resp.status(), 206, "{url}");
            let raw = resp.bytes().await.unwrap();
            assert_eq!(raw.len() as u64, be - bs + 1);
            let mut chunks = Vec::new();
            decode_chunks(&raw, |c| chunks.push(c.to_vec())).unwrap();
            decoded.push((h, chunk_start, chunks));
        }
        let mut bytes = Vec::new();
        for t in rec["terms"].as_array().unwrap() {
            let h = t["hash"].as_str().unwrap();
            let (cs, ce) = (t["range"]["start"].as_u64().unwrap(), t["range"]["end"].as_u64().unwrap());
            let (_, first, chunks) = decoded
                .iter()
                .find(|(x, a, c)| x == h && *a <= cs && ce <= *a + c.len() as u64)
                .expect("a fetched range covers every term");
            let term: Vec<u8> = chunks[(cs - first) as usize..(ce - first) as usize].concat();
            assert_eq!(term.len() as u64, t["unpacked_length"].as_u64().unwrap());
            bytes.extend_from_slice(&term);
        }
        let skip = rec["offset_into_first_range"].as_u64().unwrap() as usize;
        // The server clamps the end to the file; so does this client.
        bytes[skip..(skip + (e - s + 1) as usize).min(bytes.len())].to_vec()
    }
}

async fn create_repo(app: &TestApp, token: &str, name: &str, private: bool) {
    let body = json!({"name": name, "organization": null, "private": private});
    let r = app.client.post(app.url("/api/repos/create")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "create {name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_through_every_path() {
    for backend in BACKENDS {
        let app = TestApp::start(backend).await;
        let alice = app.user("alice").await;
        create_repo(&app, &alice, "m", false).await;
        let x = Xet { app: &app };
        let data = content(1, 3 << 20);
        let f = build_file(&data, 7);
        assert!(f.xorbs.len() > 3, "several xorbs and terms");
        let write = x.token(&alice, "alice/m", "write").await;
        let (status, body) = x.upload(&write, &f).await;
        assert_eq!((status, body.as_str()), (200, r#"{"result":1}"#));
        // Idempotent: the same xorb and shard again.
        assert_eq!(
            x.post(&write, &format!("/cas/v1/xorbs/default/{}", f.xorbs[0].hash), f.xorbs[0].bytes.clone()).await,
            (200, r#"{"was_inserted":false}"#.into())
        );
        assert_eq!(x.post(&write, "/cas/v1/shards", shard_bytes(&f)).await, (200, r#"{"result":0}"#.into()));
        let (status, body) = x.commit(&alice, "alice/m", "w.bin", &f.sha256, f.size).await;
        assert_eq!(status, 200, "{body}");

        // HEAD advertises Xet; tree shows the hash.
        let head = app.client.head(app.url("/alice/m/resolve/main/w.bin")).bearer_auth(&alice).send().await.unwrap();
        let h = head.headers();
        assert_eq!(h["x-xet-hash"], f.info.file_hash.hex().as_str());
        assert_eq!(h["x-linked-size"], f.size.to_string().as_str());
        let link = h["link"].to_str().unwrap();
        let commit = h["x-repo-commit"].to_str().unwrap();
        assert_eq!(link, format!("<{}/api/models/alice/m/xet-read-token/{commit}>; rel=\"xet-auth\"", app.base));
        let tree: Value = x.get(Some(&alice), "/api/models/alice/m/tree/main", None).await.json().await.unwrap();
        let entry = tree.as_array().unwrap().iter().find(|e| e["path"] == "w.bin").unwrap();
        assert_eq!(entry["xetHash"], f.info.file_hash.hex().as_str());
        assert_eq!(entry["lfs"]["oid"], f.sha256.as_str());

        // Plain GET, and ranges at chunk and xorb boundaries, mid-chunk, the last byte, past the end.
        let whole = x.get(None, "/alice/m/resolve/main/w.bin", None).await.bytes().await.unwrap();
        assert!(whole == data, "plain GET returns the bytes");
        let n = data.len() as u64;
        let first_xorb = u64::from(f.xorbs[0].info.unpacked_bytes);
        let first_chunk = u64::from(f.xorbs[0].info.chunks[0].unpacked_len);
        for (s, e) in [
            (0, 0),
            (0, first_chunk - 1),
            (first_chunk - 1, first_chunk),
            (first_xorb - 10, first_xorb + 10),
            (12345, 1_000_000),
            (n - 1, n - 1),
            (n / 2, n + 50),
        ] {
            let resp = x.get(None, "/alice/m/resolve/main/w.bin", Some(format!("bytes={s}-{e}"))).await;
            assert_eq!(resp.status(), 206, "{s}-{e}");
            let end = e.min(n - 1);
            assert!(resp.bytes().await.unwrap() == data[s as usize..=end as usize], "range {s}-{e}");
        }
        assert_eq!(x.get(None, "/alice/m/resolve/main/w.bin", Some(format!("bytes={n}-"))).await.status(), 416);

        // Reconstructions (v1 and v2) rebuild the same bytes, starting mid-chunk too.
        let read = x.token(&alice, "alice/m", "read").await;
        for (s, e, v) in [(0, n - 1, 2), (5000, 2_000_000, 2), (first_xorb - 3, first_xorb + 3, 1), (n - 7, n + 100, 1)]
        {
            let got = x.reconstruct(&read, &f.info.file_hash, s, e, v).await;
            assert!(got == data[s as usize..=(e.min(n - 1)) as usize], "reconstruction v{v} {s}-{e}");
        }
        let past = x
            .get(
                Some(&read),
                &format!("/cas/v2/reconstructions/{}", f.info.file_hash),
                Some(format!("bytes={n}-{}", n + 5)),
            )
            .await;
        assert_eq!(past.status(), 416);

        // git-lfs and old clients: the batch API hands out a download that reconstructs.
        let batch =
            json!({"operation": "download", "transfers": ["basic"], "objects": [{"oid": f.sha256, "size": f.size}]});
        let resp = app
            .client
            .post(app.url("/alice/m.git/info/lfs/objects/batch"))
            .bearer_auth(&alice)
            .json(&batch)
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        let href = v["objects"][0]["actions"]["download"]["href"].as_str().unwrap_or_else(|| panic!("{v}"));
        assert!(app.client.get(href).send().await.unwrap().bytes().await.unwrap() == data, "LFS download");

        let stats = app.hub.store.xet_stats().await.unwrap();
        assert_eq!((stats.xorbs, stats.files, stats.shards), (f.xorbs.len() as u64, 1, 1), "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_uploads_are_refused_and_store_nothing() {
    let app = TestApp::start(Backend::Sqlite).await;
    let alice = app.user("alice").await;
    create_repo(&app, &alice, "m", false).await;
    let x = Xet { app: &app };
    let write = x.token(&alice, "alice/m", "write").await;
    let f = build_file(&content(2, 600_000), 4);
    let x0 = &f.xorbs[0];
    // A xorb at the wrong address, truncated, or with trailing garbage.
    let wrong = format!("/cas/v1/xorbs/default/{}", f.xorbs[1].hash);
    assert_eq!(x.post(&write, &wrong, x0.bytes.clone()).await.0, 400);
    let at = format!("/cas/v1/xorbs/default/{}", x0.hash);
    assert_eq!(x.post(&write, &at, x0.bytes[..x0.bytes.len() - 1].to_vec()).await.0, 400);
    assert_eq!(x.post(&write, &at, [x0.bytes.clone(), b"junk".to_vec()].concat()).await.0, 400);
    assert_eq!(x.post(&write, "/cas/v1/xorbs/other/00", x0.bytes.clone()).await.0, 404);
    assert_eq!(app.hub.store.xet_stats().await.unwrap().xorbs, 0, "nothing stored");
    // A shard naming xorbs that were never uploaded.
    let (status, body) = x.post(&write, "/cas/v1/shards", shard_bytes(&f)).await;
    assert_eq!(status, 400, "{body}");
    for xb in &f.xorbs {
        assert_eq!(x.post(&write, &format!("/cas/v1/xorbs/default/{}", xb.hash), xb.bytes.clone()).await.0, 200);
    }
    // Now forge the file block in each way the checks must catch.
    let forge = |change: &dyn Fn(&mut FileInfo)| {
        let mut g = BuiltFile { xorbs: Vec::new(), info: f.info.clone(), sha256: f.sha256.clone(), size: f.size };
        change(&mut g.info);
        shard_bytes(&g)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("verification", forge(&|i| i.verification[0] = XetHash([7; 32]))),
        ("range past the xorb", forge(&|i| i.terms[0].chunk_end += 1)),
        ("size", forge(&|i| i.terms[0].unpacked_bytes -= 1)),
        ("file hash", forge(&|i| i.file_hash = XetHash([9; 32]))),
        (
            "no verification",
            forge(&|i| {
                i.flags &= !shard::FILE_FLAG_WITH_VERIFICATION;
                i.verification.clear();
            }),
        ),
        (
            "no sha256",
            forge(&|i| {
                i.flags &= !shard::FILE_FLAG_WITH_METADATA_EXT;
                i.sha256 = None;
            }),
        ),
        ("truncated", shard_bytes(&f)[..100].to_vec()),
    ];
    for (what, bytes) in cases {
        let (status, body) = x.post(&write, "/cas/v1/shards", bytes).await;
        assert_eq!(status, 400, "{what}: {body}");
    }
    let stats = app.hub.store.xet_stats().await.unwrap();
    assert_eq!((stats.files, stats.shards), (0, 0), "no forged file was recorded");
    // Without a shard, the content cannot be committed.
    assert_eq!(x.commit(&alice, "alice/m", "w.bin", &f.sha256, f.size).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xet_never_crosses_repositories() {
    for backend in BACKENDS {
        let app = TestApp::start(backend).await;
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        create_repo(&app, &alice, "private", true).await;
        create_repo(&app, &bob, "mine", false).await;
        let x = Xet { app: &app };
        let data = content(3, 400_000);
        let f = build_file(&data, 100);
        let write = x.token(&alice, "alice/private", "write").await;
        assert_eq!(x.upload(&write, &f).await.0, 200);
        assert_eq!(x.commit(&alice, "alice/private", "secret.bin", &f.sha256, f.size).await.0, 200);

        // Bob holds a read token of his own repository: alice's file is unknown to it, and the dedup
        // query says nothing about her chunks.
        let bob_read = x.token(&bob, "bob/mine", "read").await;
        let rec = format!("/cas/v2/reconstructions/{}", f.info.file_hash);
        assert_eq!(x.get(Some(&bob_read), &rec, Some("bytes=0-10".into())).await.status(), 404);
        let first_chunk = f.xorbs[0].info.chunks[0].hash;
        let dedup = format!("/cas/v1/chunks/default/{first_chunk}");
        assert_eq!(x.get(Some(&bob_read), &dedup, None).await.status(), 404);
        // Knowing the sha256 does not let him commit it.
        assert_eq!(x.commit(&bob, "bob/mine", "stolen.bin", &f.sha256, f.size).await.0, 400);
        // Alice gets a dedup answer: a shard with keyed chunk hashes that parses and names the xorb.
        let alice_read = x.token(&alice, "alice/private", "read").await;
        let resp = x.get(Some(&alice_read), &dedup, None).await;
        assert_eq!(resp.status(), 200);
        let parsed = Shard::parse(&resp.bytes().await.unwrap()).unwrap();
        let footer = parsed.footer.expect("dedup shards carry a footer with the key");
        assert_eq!(parsed.xorbs[0].xorb_hash, f.xorbs[0].hash);
        assert_eq!(
            parsed.xorbs[0].chunks[0].hash,
            gatehouse_xet::hash::hmac(&footer.chunk_hash_hmac_key, &first_chunk)
        );
        assert!(footer.key_expiry > footer.creation_ts);
        // A read token never writes.
        assert_eq!(x.post(&alice_read, "/cas/v1/shards", shard_bytes(&f)).await.0, 403);
        // A signed fetch URL serves only its ranges, and stops when its signature is tampered with.
        let rv: Value = x.get(Some(&alice_read), &rec, Some("bytes=0-10".into())).await.json().await.unwrap();
        let url = rv["xorbs"][f.xorbs[0].hash.hex()][0]["url"].as_str().unwrap().to_string();
        let end = rv["xorbs"][f.xorbs[0].hash.hex()][0]["ranges"][0]["bytes"]["end"].as_u64().unwrap();
        let fetch = |u: String, r: String| {
            let c = app.client.clone();
            async move { c.get(u).header("range", r).send().await.unwrap().status().as_u16() }
        };
        assert_eq!(fetch(url.clone(), format!("bytes=0-{end}")).await, 206);
        assert_eq!(fetch(url.clone(), format!("bytes=0-{}", end + 1)).await, 403);
        assert_eq!(fetch(url.replace("sig=", "sig=00"), "bytes=0-1".into()).await, 403);
        // A bob token for alice's repository is refused at the token route already.
        let r = app
            .client
            .get(app.url("/api/models/alice/private/xet-read-token/main"))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let read_only = app.token("alice", TokenRole::Read).await;
        let r = app
            .client
            .get(app.url("/api/models/alice/private/xet-write-token/main"))
            .bearer_auth(&read_only)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_frees_only_what_nothing_uses() {
    for backend in BACKENDS {
        let app = TestApp::start(backend).await;
        let alice = app.user("alice").await;
        create_repo(&app, &alice, "keep", false).await;
        create_repo(&app, &alice, "drop", false).await;
        let x = Xet { app: &app };
        let shared = content(4, 300_000);
        let only_drop = content(5, 300_000);
        let (fs, fd) = (build_file(&shared, 1000), build_file(&only_drop, 1000));
        for (repo, f, path) in [("keep", &fs, "a.bin"), ("drop", &fs, "a.bin"), ("drop", &fd, "b.bin")] {
            let w = x.token(&alice, &format!("alice/{repo}"), "write").await;
            assert_eq!(x.upload(&w, f).await.0, 200);
            assert_eq!(x.commit(&alice, &format!("alice/{repo}"), path, &f.sha256, f.size).await.0, 200);
        }
        // Nothing is garbage while referenced, and nothing young is garbage at all.
        let r = gc::collect(&app.hub, std::time::Duration::ZERO).await.unwrap();
        assert_eq!((r.files_deleted, r.xorbs_deleted), (0, 0));
        let del = json!({"name": "drop", "organization": "alice", "type": "model"});
        let resp = app.client.delete(app.url("/api/repos/delete")).bearer_auth(&alice).json(&del).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let r = gc::collect(&app.hub, std::time::Duration::from_secs(3600)).await.unwrap();
        assert_eq!((r.files_deleted, r.xorbs_deleted), (0, 0), "within the grace period");
        let r = gc::collect(&app.hub, std::time::Duration::ZERO).await.unwrap();
        assert_eq!((r.files_deleted, r.xorbs_deleted), (1, 1), "{r:?} ({backend:?})");
        assert_eq!(r.bytes_freed, fd.xorbs[0].bytes.len() as u64);
        assert!(
            app.hub.blobs.read_object(&gatehouse_core::xet::xorb_key(&fd.xorbs[0].hash)).await.is_err(),
            "bytes deleted"
        );
        // The shared file still downloads from the repository that keeps it.
        let got = x.get(None, "/alice/keep/resolve/main/a.bin", None).await.bytes().await.unwrap();
        assert!(got == shared);
        let runs = app.hub.store.gc_runs(10).await.unwrap();
        assert!(runs.iter().all(|r| r.state == "done") && runs.len() == 3);
    }
}
