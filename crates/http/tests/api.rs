//! The HTTP surface in-process, on both databases: the route table, the access matrix over every
//! route, and the Git-LFS transfer flows.

use gatehouse_authz::{Action, OrgRole, TokenRole};
use gatehouse_http::routes::{table, Access};
use gatehouse_testkit::{Backend, TestApp, BACKENDS};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Every route and who may call it. Adding a route without adding it here (and so to the matrix
/// below) fails this test.
#[test]
fn route_table_is_fully_declared() {
    use Access::*;
    use Action::*;
    let expected: &[(&str, &str, Access)] = &[
        ("GET", "/healthz", Public),
        ("GET", "/metrics", Public),
        ("GET", "/api/agent-harnesses", Public),
        ("POST", "/api/validate-yaml", Public),
        ("GET", "/api/whoami-v2", User),
        ("POST", "/api/repos/create", Namespace(RepoCreate)),
        ("DELETE", "/api/repos/delete", Repo(RepoManage)),
        ("POST", "/api/repos/move", Repo(RepoManage)),
        ("GET", "/api/collections", Filtered),
        ("POST", "/api/collections", Namespace(RepoCreate)),
        ("GET", "/api/collections/{owner}/{slug}", Collection(RepoRead)),
        ("PATCH", "/api/collections/{owner}/{slug}", Collection(CollectionManage)),
        ("DELETE", "/api/collections/{owner}/{slug}", Collection(CollectionManage)),
        ("POST", "/api/collections/{owner}/{slug}/items", Collection(CollectionManage)),
        ("PATCH", "/api/collections/{owner}/{slug}/items/{item}", Collection(CollectionManage)),
        ("DELETE", "/api/collections/{owner}/{slug}/items/{item}", Collection(CollectionManage)),
        ("GET", "/api/collections/{owner}/{slug}/gating", Collection(OrgManageMembers)),
        ("PUT", "/api/collections/{owner}/{slug}/gating", Collection(OrgManageMembers)),
        ("GET", "/api/{kind}", Filtered),
        ("GET", "/api/{kind}/{ns}", Public),
        ("GET", "/api/{kind}/{ns}/{name}", Repo(RepoRead)),
        ("GET", "/api/{kind}/{ns}/{name}/revision/{rev}", Repo(RepoRead)),
        ("PUT", "/api/{kind}/{ns}/{name}/settings", Repo(RepoManage)),
        ("GET", "/api/{kind}/{ns}/{name}/auth-check", Repo(RepoDownload)),
        ("GET", "/api/{kind}/{ns}/{name}/auth-check/write", Repo(RepoWrite)),
        ("GET", "/api/{kind}/{ns}/{name}/tree/{rev}", Repo(RepoRead)),
        ("GET", "/api/{kind}/{ns}/{name}/tree/{rev}/{*path}", Repo(RepoRead)),
        ("POST", "/api/{kind}/{ns}/{name}/paths-info/{rev}", Repo(RepoRead)),
        ("GET", "/api/{kind}/{ns}/{name}/refs", Repo(RepoRead)),
        ("GET", "/api/{kind}/{ns}/{name}/commits/{rev}", Repo(RepoRead)),
        ("POST", "/api/{kind}/{ns}/{name}/branch/{rev}", Repo(RepoWrite)),
        ("DELETE", "/api/{kind}/{ns}/{name}/branch/{rev}", Repo(RepoWrite)),
        ("POST", "/api/{kind}/{ns}/{name}/tag/{rev}", Repo(RepoWrite)),
        ("DELETE", "/api/{kind}/{ns}/{name}/tag/{rev}", Repo(RepoWrite)),
        ("POST", "/api/{kind}/{ns}/{name}/super-squash/{rev}", Repo(RepoWrite)),
        ("POST", "/api/{kind}/{ns}/{name}/preupload/{rev}", Repo(RepoWrite)),
        ("POST", "/api/{kind}/{ns}/{name}/commit/{rev}", Repo(RepoWrite)),
        ("GET", "/api/{kind}/{ns}/{name}/lfs-files", Repo(RepoWrite)),
        ("POST", "/api/{kind}/{ns}/{name}/lfs-files/batch", Repo(RepoManage)),
        ("PUT", "/api/lfs/objects/{repo_id}/{oid}/{size}", Signed),
        ("POST", "/api/lfs/objects/{repo_id}/{oid}/{size}", Signed),
        ("PUT", "/api/lfs/objects/{repo_id}/{oid}/{size}/parts/{part}", Signed),
        ("GET", "/api/lfs/objects/{repo_id}/{oid}", Signed),
        ("POST", "/api/{kind}/{ns}/{name}/user-access-request", AccessRequest),
        ("GET", "/api/{kind}/{ns}/{name}/user-access-request/{status}", Repo(RepoManage)),
        ("POST", "/api/{kind}/{ns}/{name}/user-access-request/handle", Repo(RepoManage)),
        ("POST", "/api/{kind}/{ns}/{name}/user-access-request/grant", Repo(RepoManage)),
        ("GET", "/api/{kind}/{ns}/{name}/user-access-report", Repo(RepoManage)),
        ("GET", "/api/{kind}/{ns}/{name}/xet-read-token/{rev}", Repo(RepoDownload)),
        ("GET", "/api/{kind}/{ns}/{name}/xet-write-token/{rev}", Repo(RepoWrite)),
        ("GET", "/cas/v1/chunks/{prefix}/{hash}", XetRead),
        ("POST", "/cas/v1/xorbs/{prefix}/{hash}", XetWrite),
        ("POST", "/cas/v1/shards", XetWrite),
        ("POST", "/cas/v2/shards", XetWrite),
        ("GET", "/cas/v1/reconstructions/{file_id}", XetRead),
        ("GET", "/cas/v2/reconstructions/{file_id}", XetRead),
        ("GET", "/cas/fetch/{xorb}", Signed),
        ("POST", "/cas/v1/telemetry", Public),
        ("POST", "/v1/telemetry", Public),
        ("GET", "/{ns}/{name}/resolve/{rev}/{*path}", Repo(RepoDownload)),
        ("HEAD", "/{ns}/{name}/resolve/{rev}/{*path}", Repo(RepoDownload)),
        ("GET", "/{ns}/{name}/info/refs", Git),
        ("POST", "/{ns}/{name}/git-upload-pack", Git),
        ("POST", "/{ns}/{name}/git-receive-pack", Git),
        ("POST", "/{ns}/{name}/info/lfs/objects/batch", LfsBatch),
        ("POST", "/{ns}/{name}/info/lfs/objects/verify", Repo(RepoWrite)),
        ("GET", "/{ns}/{name}/info/lfs/locks", Public),
        ("POST", "/{ns}/{name}/info/lfs/locks", Public),
        ("POST", "/{ns}/{name}/info/lfs/locks/verify", Public),
        ("GET", "/datasets/{ns}/{name}/resolve/{rev}/{*path}", Repo(RepoDownload)),
        ("HEAD", "/datasets/{ns}/{name}/resolve/{rev}/{*path}", Repo(RepoDownload)),
        ("GET", "/datasets/{ns}/{name}/info/refs", Git),
        ("POST", "/datasets/{ns}/{name}/git-upload-pack", Git),
        ("POST", "/datasets/{ns}/{name}/git-receive-pack", Git),
        ("POST", "/datasets/{ns}/{name}/info/lfs/objects/batch", LfsBatch),
        ("POST", "/datasets/{ns}/{name}/info/lfs/objects/verify", Repo(RepoWrite)),
        ("GET", "/datasets/{ns}/{name}/info/lfs/locks", Public),
        ("POST", "/datasets/{ns}/{name}/info/lfs/locks", Public),
        ("POST", "/datasets/{ns}/{name}/info/lfs/locks/verify", Public),
        ("GET", "/spaces/{ns}/{name}/resolve/{rev}/{*path}", Repo(RepoDownload)),
        ("HEAD", "/spaces/{ns}/{name}/resolve/{rev}/{*path}", Repo(RepoDownload)),
        ("GET", "/spaces/{ns}/{name}/info/refs", Git),
        ("POST", "/spaces/{ns}/{name}/git-upload-pack", Git),
        ("POST", "/spaces/{ns}/{name}/git-receive-pack", Git),
        ("POST", "/spaces/{ns}/{name}/info/lfs/objects/batch", LfsBatch),
        ("POST", "/spaces/{ns}/{name}/info/lfs/objects/verify", Repo(RepoWrite)),
        ("GET", "/spaces/{ns}/{name}/info/lfs/locks", Public),
        ("POST", "/spaces/{ns}/{name}/info/lfs/locks", Public),
        ("POST", "/spaces/{ns}/{name}/info/lfs/locks/verify", Public),
    ];
    let actual: Vec<(String, &str, Access)> =
        table().iter().map(|r| (r.method.to_string(), r.path, r.access)).collect();
    let expected: Vec<(String, &str, Access)> = expected.iter().map(|(m, p, a)| (m.to_string(), *p, *a)).collect();
    assert_eq!(actual, expected);
}

const NDJSON_HEADER: &str = r#"{"key":"header","value":{"summary":"probe"}}"#;

/// A concrete request for a route on `ns/name`, with a body that would succeed if allowed.
fn probe(method: &str, pattern: &str, ns: &str, name: &str) -> (Method, String, Option<(String, &'static str)>) {
    let path = pattern
        .replace("{kind}", "models")
        .replace("{ns}", ns)
        .replace("{name}", name)
        .replace("{rev}", "main")
        .replace("{status}", "pending")
        .replace("{*path}", "README.md");
    let json_body = |v: Value| Some((v.to_string(), "application/json"));
    let body = match (method, pattern.rsplit('/').nth(1).unwrap_or(""), pattern.rsplit('/').next().unwrap_or("")) {
        (_, _, "settings") => json_body(json!({"private": true})),
        ("POST", "branch", _) => json_body(json!({})),
        ("POST", "user-access-request", "handle") => json_body(json!({"user": "bob", "status": "accepted"})),
        ("POST", "user-access-request", "grant") => json_body(json!({"user": "bob"})),
        ("POST", "tag", _) => json_body(json!({"tag": "probe-tag"})),
        ("POST", "super-squash", _) => json_body(json!({"message": "squash"})),
        ("POST", "preupload", _) => json_body(json!({"files": [{"path": "x.txt", "size": 1, "sample": ""}]})),
        ("POST", "commit", _) => Some((format!("{NDJSON_HEADER}\n"), "application/x-ndjson")),
        ("POST", "paths-info", _) => Some(("paths=README.md".to_string(), "application/x-www-form-urlencoded")),
        (_, _, "verify") => json_body(json!({"oid": "0".repeat(64), "size": 1})),
        ("POST", "lfs-files", "batch") => json_body(json!({"deletions": {"sha": [], "rewriteHistory": true}})),
        _ if pattern == "/api/repos/delete" => json_body(json!({"name": name, "organization": ns, "type": "model"})),
        _ if pattern == "/api/repos/move" => json_body(
            json!({"fromRepo": format!("{ns}/{name}"), "toRepo": format!("{ns}/{name}-moved"), "type": "model"}),
        ),
        _ => None,
    };
    (method.parse().unwrap(), path, body)
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<(String, &str)>,
) -> (StatusCode, String) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((b, ct)) = body {
        req = req.header("content-type", ct).body(b);
    }
    let resp = req.send().await.unwrap();
    let code = resp.headers().get("x-error-code").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status(), code)
}

struct World {
    app: TestApp,
    alice: String,
    alice_read: String,
    bob: String,
}

async fn world(backend: Backend) -> World {
    let app = TestApp::start(backend).await;
    let alice = app.user("alice").await;
    let alice_read = app.token("alice", TokenRole::Read).await;
    let bob = app.user("bob").await;
    for (name, private, t) in [
        ("secret", true, "model"),
        ("open", false, "model"),
        ("secret", true, "dataset"),
        ("open", false, "dataset"),
        ("secret", true, "space"),
        ("open", false, "space"),
    ] {
        let body = json!({"name": name, "organization": null, "private": private, "type": t});
        let r = app.client.post(app.url("/api/repos/create")).bearer_auth(&alice).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "create {name}");
    }
    World { app, alice, alice_read, bob }
}

/// Every repository route, asked by callers who may not: hidden repositories answer exactly as missing
/// ones; visible ones refuse writes with 401 (anonymous) or 403 (signed in).
#[tokio::test]
async fn access_matrix() {
    for backend in BACKENDS {
        let w = world(backend).await;
        for r in table() {
            let Access::Repo(action) = r.access else { continue };
            let m = r.method.as_str();
            // Hidden: anonymous and a stranger see a private repository as missing, whatever the action.
            for token in [None, Some(w.bob.as_str())] {
                let (method, path, body) = probe(m, r.path, "alice", "secret");
                let (status, code) = call(&w.app, token, method, &path, body).await;
                assert_eq!(
                    (status.as_u16(), code.as_str()),
                    (404, "RepoNotFound"),
                    "{m} {path} as {token:?} ({backend:?})"
                );
            }
            let writes = !matches!(action, Action::RepoRead | Action::RepoDownload);
            for (who, token) in
                [("anonymous", None), ("bob", Some(w.bob.as_str())), ("alice-read", Some(w.alice_read.as_str()))]
            {
                let (method, path, body) = probe(m, r.path, "alice", "open");
                let (status, code) = call(&w.app, token, method, &path, body).await;
                if writes {
                    let want = if token.is_none() { 401 } else { 403 };
                    assert_eq!(status.as_u16(), want, "{m} {path} as {who} ({backend:?}): {code}");
                } else {
                    assert!(
                        ![401, 403].contains(&status.as_u16()) && code != "RepoNotFound",
                        "{m} {path} as {who} ({backend:?}) refused: {status} {code}"
                    );
                }
            }
        }
        // The owner may do everything on both (checked on the private one for reads).
        for r in table() {
            let Access::Repo(Action::RepoRead | Action::RepoDownload) = r.access else { continue };
            let (method, path, body) = probe(r.method.as_str(), r.path, "alice", "secret");
            let (status, code) = call(&w.app, Some(&w.alice), method, &path, body).await;
            assert!(status.is_success() || code == "EntryNotFound", "{path} as owner: {status} {code}");
        }
    }
}

/// A Xet token from the token route (its JSON body).
async fn xet_token(app: &TestApp, token: &str, repo: &str, scope: &str) -> String {
    let url = app.url(&format!("/api/models/{repo}/xet-{scope}-token/main"));
    let r = app.client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "xet-{scope}-token for {repo}");
    assert!(r.headers().contains_key("x-xet-access-token") && r.headers().contains_key("x-xet-token-expiration"));
    let v: Value = r.json().await.unwrap();
    assert!(v["casUrl"].as_str().unwrap().ends_with("/cas"), "{v}");
    v["accessToken"].as_str().unwrap().to_string()
}

/// Every CAS route checks its Xet token: missing or forged is 401, the wrong scope 403, and a token is
/// re-checked against the decision on every call (a repository made private cuts its readers off).
#[tokio::test]
async fn xet_routes_check_their_tokens() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let bob_read = xet_token(app, &w.bob, "alice/open", "read").await;
        let alice_write = xet_token(app, &w.alice, "alice/open", "write").await;
        let h = "ab".repeat(32);
        let xet_routes: Vec<_> =
            table().into_iter().filter(|r| matches!(r.access, Access::XetRead | Access::XetWrite)).collect();
        for r in &xet_routes {
            let path = r.path.replace("{prefix}", "default").replace("{hash}", &h).replace("{file_id}", &h);
            let m: Method = r.method.as_str().parse().unwrap();
            let body = (m == Method::POST).then(|| ("garbage".to_string(), "application/octet-stream"));
            for token in [None, Some("xet1.r.1.-.-.99999999999.00"), Some("gh_not-a-token")] {
                let (status, _) = call(app, token, m.clone(), &path, body.clone()).await;
                assert_eq!(status, 401, "{m} {path} with {token:?} ({backend:?})");
            }
            let (status, code) = call(app, Some(&bob_read), m.clone(), &path, body.clone()).await;
            if r.access == Access::XetWrite {
                assert_eq!(status, 403, "{m} {path} with a read token ({backend:?})");
            } else {
                assert_eq!(status, 404, "{m} {path}: unknown content is not found ({backend:?}) {code}");
            }
            // With the right token, bad input is a 400, never stored.
            if r.access == Access::XetWrite && path == "/cas/v2/shards" {
                // v2 reports the outcome as the last NDJSON event of a 200.
                let resp =
                    app.client.post(app.url(&path)).bearer_auth(&alice_write).body("garbage").send().await.unwrap();
                assert_eq!(resp.status(), 200);
                let text = resp.text().await.unwrap();
                let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
                assert_eq!(
                    (last["type"].as_str(), last["retryable"].as_bool()),
                    (Some("error"), Some(false)),
                    "{text}"
                );
            } else if r.access == Access::XetWrite {
                let (status, _) = call(app, Some(&alice_write), m.clone(), &path, body.clone()).await;
                assert_eq!(status, 400, "{m} {path} with garbage ({backend:?})");
            }
        }
        // Unimplemented optional CAS routes answer 404 (never 405 or 401), so clients fall back.
        for (m, path) in [
            (Method::POST, format!("/cas/v1/xorb-grants/default/{h}")),
            (Method::GET, format!("/cas/v2/file-chunk-hashes/{h}")),
        ] {
            assert_eq!(call(app, Some(&alice_write), m.clone(), &path, None).await.0, 404, "{m} {path}");
        }
        // The repository goes private: bob's unexpired token stops working at once.
        let body = Some((json!({"private": true}).to_string(), "application/json"));
        assert_eq!(call(app, Some(&w.alice), Method::PUT, "/api/models/alice/open/settings", body).await.0, 200);
        let path = format!("/cas/v2/reconstructions/{h}");
        assert_eq!(call(app, Some(&bob_read), Method::GET, &path, None).await.0, 403, "{backend:?}");
        assert_eq!(call(app, Some(&alice_write), Method::GET, &path, None).await.0, 404, "{backend:?}");
    }
}

/// Git smart HTTP asks anonymous callers to authenticate (one answer for missing and private
/// repositories), hides private repositories from signed-in strangers, and needs write access to push.
#[tokio::test]
async fn git_routes_challenge_hide_and_refuse() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let refs = |repo: &str, svc: &str| format!("/{repo}/info/refs?service=git-{svc}-pack");
        let get = |path: String, token: Option<String>| {
            let mut r = app.client.get(app.url(&path));
            if let Some(t) = token {
                r = r.basic_auth("hf_user", Some(t));
            }
            r.send()
        };
        let r = get(refs("alice/open", "upload"), None).await.unwrap();
        assert_eq!(r.status(), 200, "anonymous clone of a public repository ({backend:?})");
        assert_eq!(r.headers()["content-type"], "application/x-git-upload-pack-advertisement");
        let body = r.bytes().await.unwrap();
        assert!(body.starts_with(b"001e# service=git-upload-pack\n0000"), "{body:?}");
        assert!(body.windows(15).any(|w| w == b"refs/heads/main"), "advertises main");
        for repo in ["alice/secret", "alice/missing"] {
            let r = get(refs(repo, "upload"), None).await.unwrap();
            assert_eq!(r.status(), 401, "{repo} anonymous");
            assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
            assert_eq!(get(refs(repo, "upload"), Some(w.bob.clone())).await.unwrap().status(), 404, "{repo} as bob");
        }
        assert_eq!(get(refs("alice/secret.git", "upload"), Some(w.alice.clone())).await.unwrap().status(), 200);
        assert_eq!(get(refs("datasets/alice/secret", "upload"), Some(w.alice.clone())).await.unwrap().status(), 200);
        assert_eq!(get(refs("alice/open", "receive"), None).await.unwrap().status(), 401);
        assert_eq!(get(refs("alice/open", "receive"), Some(w.bob.clone())).await.unwrap().status(), 403);
        assert_eq!(get(refs("alice/open", "receive"), Some(w.alice_read.clone())).await.unwrap().status(), 403);
        assert_eq!(get(refs("alice/open", "receive"), Some(w.alice.clone())).await.unwrap().status(), 200);
        // The dumb protocol is not offered; a garbage request gets git's own refusal and changes nothing.
        assert_eq!(get("/alice/open/info/refs".into(), None).await.unwrap().status(), 403);
        let r = app.client.post(app.url("/alice/open/git-receive-pack")).basic_auth("u", Some(&w.alice));
        let r =
            r.header("content-type", "application/x-git-receive-pack-request").body("garbage").send().await.unwrap();
        let _ = r.bytes().await;
        let r = app.client.post(app.url("/alice/open/git-upload-pack")).body("0000").send().await.unwrap();
        assert_eq!(r.status(), 400, "wrong content type");
    }
}

#[tokio::test]
async fn non_repo_routes_refuse_properly() {
    let w = world(Backend::Sqlite).await;
    let app = &w.app;
    assert_eq!(call(app, None, Method::GET, "/api/whoami-v2", None).await.0, 401);
    let (status, code) = call(app, Some("gh_not-a-token"), Method::GET, "/api/whoami-v2", None).await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "InvalidCredentials"));
    // An invalid token is refused even on public routes: never silently downgraded to anonymous.
    assert_eq!(call(app, Some("gh_not-a-token"), Method::GET, "/api/models", None).await.0, 401);
    let create = |ns: &str| Some((json!({"name": "x", "organization": ns}).to_string(), "application/json"));
    assert_eq!(call(app, None, Method::POST, "/api/repos/create", create("alice")).await.0, 401);
    assert_eq!(call(app, Some(&w.bob), Method::POST, "/api/repos/create", create("alice")).await.0, 403);
    assert_eq!(call(app, Some(&w.alice_read), Method::POST, "/api/repos/create", create("alice")).await.0, 403);
    for path in [
        format!("/api/lfs/objects/1/{}/5", "a".repeat(64)),
        format!("/api/lfs/objects/1/{}/5?exp=99999999999&sig=00", "a".repeat(64)),
    ] {
        assert_eq!(
            call(app, None, Method::PUT, &path, Some(("hello".into(), "application/octet-stream"))).await.0,
            403
        );
    }
    assert_eq!(call(app, None, Method::GET, &format!("/api/lfs/objects/1/{}", "a".repeat(64)), None).await.0, 403);
}

#[tokio::test]
async fn listings_show_only_what_the_caller_may_see() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        w.app.org("acme", "alice").await;
        w.app.member("acme", "bob", OrgRole::Read).await;
        let body = json!({"name": "internal", "organization": "acme", "private": true});
        assert_eq!(
            app.client
                .post(app.url("/api/repos/create"))
                .bearer_auth(&w.alice)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let ids = |token: Option<String>| async move {
            let mut req = app.client.get(app.url("/api/models"));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let v: Vec<Value> = req.send().await.unwrap().json().await.unwrap();
            let mut ids: Vec<String> = v.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(None).await, ["alice/open"]);
        assert_eq!(ids(Some(w.bob.clone())).await, ["acme/internal", "alice/open"]);
        assert_eq!(ids(Some(w.alice.clone())).await, ["acme/internal", "alice/open", "alice/secret"]);
        // The read member sees the org repo but cannot write it.
        let (status, _) = call(
            app,
            Some(&w.bob),
            Method::POST,
            "/api/models/acme/internal/commit/main",
            Some((format!("{NDJSON_HEADER}\n"), "application/x-ndjson")),
        )
        .await;
        assert_eq!(status, 403);
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(data);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

async fn batch(app: &TestApp, token: &str, repo: &str, op: &str, oid: &str, size: usize, transfers: &[&str]) -> Value {
    let body = json!({"operation": op, "transfers": transfers, "objects": [{"oid": oid, "size": size}], "hash_algo": "sha256"});
    let r = app
        .client
        .post(app.url(&format!("/{repo}.git/info/lfs/objects/batch")))
        .bearer_auth(token)
        .header("content-type", "application/vnd.git-lfs+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.git-lfs+json");
    r.json().await.unwrap()
}

async fn commit_lfs(app: &TestApp, token: &str, repo: &str, path: &str, oid: &str, size: usize) -> reqwest::Response {
    let body = format!(
        "{NDJSON_HEADER}\n{}\n",
        json!({"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}})
    );
    app.client
        .post(app.url(&format!("/api/models/{repo}/commit/main")))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn lfs_basic_upload_verify_commit_download() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let oid = sha256_hex(&data);
        let b = batch(app, &w.alice, "alice/secret", "upload", &oid, data.len(), &["basic"]).await;
        let obj = &b["objects"][0];
        let href = obj["actions"]["upload"]["href"].as_str().unwrap().to_string();
        let verify = obj["actions"]["verify"]["href"].as_str().unwrap().to_string();
        // A wrong body is refused and nothing is stored.
        let bad = app.client.put(&href).body(vec![0u8; data.len()]).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let v = app
            .client
            .post(&verify)
            .bearer_auth(&w.alice)
            .json(&json!({"oid": oid, "size": data.len()}))
            .send()
            .await
            .unwrap();
        assert_eq!(v.status(), 404);
        // Short and long bodies are refused too.
        assert_eq!(app.client.put(&href).body(data[..10].to_vec()).send().await.unwrap().status(), 400);
        let mut long = data.clone();
        long.push(1);
        assert_eq!(app.client.put(&href).body(long).send().await.unwrap().status(), 400);
        // The real bytes, without credentials: the URL authorizes itself.
        assert_eq!(app.client.put(&href).body(data.clone()).send().await.unwrap().status(), 200);
        let v = app
            .client
            .post(&verify)
            .bearer_auth(&w.alice)
            .json(&json!({"oid": oid, "size": data.len()}))
            .send()
            .await
            .unwrap();
        assert_eq!(v.status(), 200);
        // Now the batch says it has it.
        let again = batch(app, &w.alice, "alice/secret", "upload", &oid, data.len(), &["basic"]).await;
        assert!(again["objects"][0].get("actions").is_none());
        assert_eq!(commit_lfs(app, &w.alice, "alice/secret", "w.bin", &oid, data.len()).await.status(), 200);
        let got =
            app.client.get(app.url("/alice/secret/resolve/main/w.bin")).bearer_auth(&w.alice).send().await.unwrap();
        assert_eq!(got.headers()["x-linked-etag"], format!("\"{oid}\"").as_str());
        assert_eq!(got.bytes().await.unwrap().as_ref(), data.as_slice());
        // The batch download hands out a working signed URL.
        let d = batch(app, &w.alice, "alice/secret", "download", &oid, data.len(), &["basic"]).await;
        let href = d["objects"][0]["actions"]["download"]["href"].as_str().unwrap();
        assert_eq!(app.client.get(href).send().await.unwrap().bytes().await.unwrap().as_ref(), data.as_slice());
        // Knowing the hash gives nothing: bob's own repository cannot reference alice's object.
        let body = json!({"name": "mine", "organization": null});
        app.client.post(app.url("/api/repos/create")).bearer_auth(&w.bob).json(&body).send().await.unwrap();
        let steal = commit_lfs(app, &w.bob, "bob/mine", "stolen.bin", &oid, data.len()).await;
        assert_eq!(steal.status(), 400);
        let d = batch(app, &w.bob, "bob/mine", "download", &oid, data.len(), &["basic"]).await;
        assert_eq!(d["objects"][0]["error"]["code"], 404);
    }
}

#[tokio::test]
async fn lfs_multipart_upload() {
    let http = gatehouse_http::HttpConfig {
        multipart: gatehouse_core::lfs::Multipart { threshold: 1, chunk_size: 5 << 20 },
        ..Default::default()
    };
    let app = TestApp::start_with(Backend::Sqlite, http).await;
    let alice = app.user("alice").await;
    app.client.post(app.url("/api/repos/create")).bearer_auth(&alice).json(&json!({"name": "m"})).send().await.unwrap();
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let oid = sha256_hex(&data);
    let b = batch(&app, &alice, "alice/m", "upload", &oid, data.len(), &["basic", "multipart"]).await;
    let upload = &b["objects"][0]["actions"]["upload"];
    let header = upload["header"].as_object().unwrap();
    let chunk: usize = header["chunk_size"].as_str().unwrap().parse().unwrap();
    let parts = data.len().div_ceil(chunk);
    assert_eq!(header.len(), parts + 1);
    let mut etags = Vec::new();
    for n in 1..=parts {
        let slice = data[(n - 1) * chunk..(n * chunk).min(data.len())].to_vec();
        let r = app.client.put(header[&n.to_string()].as_str().unwrap()).body(slice).send().await.unwrap();
        assert_eq!(r.status(), 200);
        etags.push(json!({"partNumber": n, "etag": r.headers()["etag"].to_str().unwrap()}));
    }
    let done = app
        .client
        .post(upload["href"].as_str().unwrap())
        .json(&json!({"oid": oid, "parts": etags}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(commit_lfs(&app, &alice, "alice/m", "big.bin", &oid, data.len()).await.status(), 200);
    let got = app.client.get(app.url("/alice/m/resolve/main/big.bin")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().len(), data.len());
}

#[tokio::test]
async fn resolve_headers_ranges_and_missing_files() {
    let w = world(Backend::Sqlite).await;
    let app = &w.app;
    let url = app.url("/alice/open/resolve/main/.gitattributes");
    let head = app.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let size: usize = head.headers()["content-length"].to_str().unwrap().parse().unwrap();
    assert!(size > 100);
    let commit = head.headers()["x-repo-commit"].to_str().unwrap().to_string();
    assert_eq!(commit.len(), 40);
    assert!(head.headers()["etag"].to_str().unwrap().starts_with('"'));
    let part = app.client.get(&url).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 10-19/{size}").as_str());
    assert_eq!(part.bytes().await.unwrap().len(), 10);
    let bad = app.client.get(&url).header("range", format!("bytes={size}-")).send().await.unwrap();
    assert_eq!(bad.status(), 416);
    assert_eq!(bad.headers()["content-range"], format!("bytes */{size}").as_str());
    // By commit id too.
    let by_sha = app.client.get(app.url(&format!("/alice/open/resolve/{commit}/.gitattributes"))).send().await.unwrap();
    assert_eq!(by_sha.status(), 200);
    let missing = app.client.head(app.url("/alice/open/resolve/main/nope.txt")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-error-code"], "EntryNotFound");
    assert_eq!(missing.headers()["x-repo-commit"], commit.as_str());
    let bad_rev = app.client.head(app.url("/alice/open/resolve/nope/x")).send().await.unwrap();
    assert_eq!(bad_rev.headers()["x-error-code"], "RevisionNotFound");
}

#[tokio::test]
async fn oversize_commits_are_413_and_change_nothing() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        gatehouse_http::HttpConfig { max_commit_bytes: 4096, ..Default::default() },
    )
    .await;
    let alice = app.user("alice").await;
    app.client.post(app.url("/api/repos/create")).bearer_auth(&alice).json(&json!({"name": "m"})).send().await.unwrap();
    let head = || async {
        let v: Value = app
            .client
            .get(app.url("/api/models/alice/m"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["sha"].as_str().unwrap().to_string()
    };
    let before = head().await;
    let big = format!(
        "{NDJSON_HEADER}\n{}\n",
        json!({"key": "file", "value": {"content": "QUFB".repeat(5000), "path": "a.txt", "encoding": "base64"}})
    );
    let url = app.url("/api/models/alice/m/commit/main");
    // Announced length: refused before reading.
    let r = app
        .client
        .post(&url)
        .bearer_auth(&alice)
        .header("content-type", "application/x-ndjson")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["x-error-code"], "PayloadTooLarge");
    // Streamed without a length: refused when the cap is hit, in the middle of a string.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.into_bytes().chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = app
        .client
        .post(&url)
        .bearer_auth(&alice)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(head().await, before);
}

#[tokio::test]
async fn unknown_shapes_answer_like_the_hub() {
    let w = world(Backend::Sqlite).await;
    // Single-segment ids (legacy canonical repos): missing repository, whatever the sub-route.
    for path in
        ["/api/models/gpt2", "/api/models/gpt2/revision/main", "/api/datasets/x/tree/main", "/gpt2/resolve/main/a.txt"]
    {
        let (status, code) = call(&w.app, None, Method::GET, path, None).await;
        assert_eq!((status.as_u16(), code.as_str()), (404, "RepoNotFound"), "{path}");
    }
    // An operation this server does not have, on a real repository: a plain 404.
    let (status, code) =
        call(&w.app, Some(&w.alice), Method::GET, "/api/models/alice/open/xet-read-token/main/extra", None).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "NotFound"));
    // A method a route does not take: 405 through the error table.
    let (status, code) = call(&w.app, Some(&w.alice), Method::DELETE, "/api/whoami-v2", None).await;
    assert_eq!((status.as_u16(), code.as_str()), (405, "MethodNotAllowed"));
}

/// A gated repository: the card and metadata stay visible, content needs an accepted request (none can
/// exist yet, so only writers get it), and the client sees the Hub's `GatedRepo` answers.
#[tokio::test]
async fn gated_repositories_serve_content_only_past_the_gate() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let put = |body: Value| {
            app.client.put(app.url("/api/models/alice/open/settings")).bearer_auth(&w.alice).json(&body).send()
        };
        assert_eq!(put(json!({"gated": "sometimes"})).await.unwrap().status(), 400);
        assert_eq!(
            call(
                app,
                Some(&w.bob),
                Method::PUT,
                "/api/models/alice/open/settings",
                Some((json!({"gated": "auto"}).to_string(), "application/json"))
            )
            .await
            .0,
            403
        );
        assert_eq!(put(json!({"gated": "manual"})).await.unwrap().status(), 200);
        let info: Value = app.client.get(app.url("/api/models/alice/open")).send().await.unwrap().json().await.unwrap();
        assert_eq!(info["gated"], "manual");
        let file = "/alice/open/resolve/main/.gitattributes";
        let (status, code) = call(app, None, Method::HEAD, file, None).await;
        assert_eq!((status.as_u16(), code.as_str()), (401, "GatedRepo"));
        let (status, code) = call(app, Some(&w.bob), Method::GET, file, None).await;
        assert_eq!((status.as_u16(), code.as_str()), (403, "GatedRepo"));
        assert_eq!(call(app, Some(&w.bob), Method::GET, "/api/models/alice/open/auth-check", None).await.0, 403);
        // Metadata and the card stay readable.
        assert_eq!(call(app, Some(&w.bob), Method::GET, "/api/models/alice/open/tree/main", None).await.0, 200);
        assert_eq!(
            call(app, Some(&w.bob), Method::GET, "/alice/open/resolve/main/README.md", None).await.1,
            "EntryNotFound"
        );
        // The owner (a writer) is never gated, even with a read token.
        assert_eq!(call(app, Some(&w.alice_read), Method::GET, file, None).await.0, 200);
        assert_eq!(put(json!({"gated": false})).await.unwrap().status(), 200);
        assert_eq!(call(app, Some(&w.bob), Method::GET, file, None).await.0, 200);
    }
}

#[tokio::test]
async fn moved_repos_redirect_until_their_old_name_is_taken_again() {
    let w = world(Backend::Sqlite).await;
    let app = &w.app;
    let r = app
        .client
        .post(app.url("/api/repos/move"))
        .bearer_auth(&w.alice)
        .json(&json!({"fromRepo": "alice/open", "toRepo": "alice/moved", "type": "model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = app.client.get(app.url("/api/models/alice/open")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["id"], "alice/moved");
    let r = app
        .client
        .post(app.url("/api/repos/create"))
        .bearer_auth(&w.alice)
        .json(&json!({"name": "open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an old name can be taken again");
    let info: Value = app.client.get(app.url("/api/models/alice/open")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["id"], "alice/open");
    let info: Value = app.client.get(app.url("/api/models/alice/moved")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["id"], "alice/moved");
}
