//! Collections over HTTP, in-process on both databases: the Hub's wire shapes, who may see and change
//! what (hidden collections and items answer as missing ones), and the gating-group rules.

use gatehouse_authz::{OrgRole, TokenRole};
use gatehouse_http::routes::{table, Access};
use gatehouse_store::{Gate, GatingStore, RepoStore};
use gatehouse_testkit::{Backend, TestApp, BACKENDS};
use reqwest::{Method as M, StatusCode};
use serde_json::{json, Value};

struct World {
    app: TestApp,
    /// acme's admin; owns alice/open (public) and alice/secret (private).
    alice: String,
    alice_read: String,
    /// acme's write member.
    bob: String,
    /// A stranger.
    carol: String,
    /// acme's read member.
    erin: String,
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    app.call(token, method, path, body).await
}

async fn raw(app: &TestApp, token: &str, method: M, path: &str, body: &str) -> (StatusCode, String) {
    let resp = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let code = resp.headers().get("x-error-code").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status(), code)
}

async fn create_repo(app: &TestApp, token: &str, org: Option<&str>, name: &str, kind: &str, private: bool) {
    let body = json!({"name": name, "organization": org, "type": kind, "private": private});
    let (s, _, _) = call(app, Some(token), M::POST, "/api/repos/create", Some(body)).await;
    assert_eq!(s, 200, "create {name}");
}

async fn world(backend: Backend) -> World {
    let app = TestApp::start(backend).await;
    let alice = app.user("alice").await;
    let alice_read = app.token("alice", TokenRole::Read).await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let erin = app.user("erin").await;
    app.org("acme", "alice").await;
    app.member("acme", "bob", OrgRole::Write).await;
    app.member("acme", "erin", OrgRole::Read).await;
    create_repo(&app, &alice, None, "open", "model", false).await;
    create_repo(&app, &alice, None, "secret", "model", true).await;
    World { app, alice, alice_read, bob, carol, erin }
}

/// Creates a collection and returns its slug.
async fn collection(app: &TestApp, token: &str, ns: &str, title: &str, private: bool) -> String {
    let body = json!({"title": title, "namespace": ns, "private": private});
    let (s, _, v) = call(app, Some(token), M::POST, "/api/collections", Some(body)).await;
    assert_eq!(s, 200, "create collection {title}: {v}");
    v["slug"].as_str().unwrap().to_string()
}

async fn add_item(app: &TestApp, token: &str, slug: &str, kind: &str, id: &str) -> (StatusCode, String, Value) {
    let body = json!({"item": {"id": id, "type": kind}});
    call(app, Some(token), M::POST, &format!("/api/collections/{slug}/items"), Some(body)).await
}

fn item_ids(c: &Value) -> Vec<String> {
    c["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

fn item_object_id(c: &Value, id: &str) -> String {
    let items = c["items"].as_array().unwrap();
    items.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("{id} in {c}"))["_id"].as_str().unwrap().to_string()
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn crud_and_wire_shapes() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let alice = Some(w.alice.as_str());

        // Create: the Collection, with a slug ending in a 24-hex id.
        let body = json!({"title": "My Models", "namespace": "alice", "private": false, "description": "Mine", "x": 1});
        let (s, _, c) = call(app, alice, M::POST, "/api/collections", Some(body)).await;
        assert_eq!(s, 200, "{c}");
        let slug = c["slug"].as_str().unwrap().to_string();
        let (prefix, id) = slug.rsplit_once('-').unwrap();
        assert_eq!(prefix, "alice/my-models");
        assert!(is_object_id(id), "{slug}");
        assert_eq!(
            (c["title"].as_str(), c["owner"].as_str(), c["description"].as_str()),
            (Some("My Models"), Some("alice"), Some("Mine"))
        );
        assert_eq!(
            (c["position"].as_i64(), c["private"].as_bool(), c["upvotes"].as_i64()),
            (Some(0), Some(false), Some(0))
        );
        assert_eq!(
            (c["theme"].as_str(), c["gated"].as_bool(), c["items"].as_array().map(Vec::len)),
            (Some("default"), Some(false), Some(0))
        );
        assert!(c["lastUpdated"].as_str().unwrap().ends_with('Z'), "{c}");

        // The same title again (any case): 409 with the existing slug, for `exists_ok`.
        let (s, code, v) =
            call(app, alice, M::POST, "/api/collections", Some(json!({"title": "my models", "namespace": "alice"})))
                .await;
        assert_eq!((s.as_u16(), code.as_str(), v["slug"].as_str()), (409, "Conflict", Some(slug.as_str())));
        // Without a namespace: the caller's own.
        let (s, _, v) = call(app, alice, M::POST, "/api/collections", Some(json!({"title": "Second"}))).await;
        assert_eq!((s.as_u16(), v["owner"].as_str()), (200, Some("alice")));
        // Who may create where.
        let in_bobs = Some(json!({"title": "x", "namespace": "bob"}));
        assert_eq!(call(app, alice, M::POST, "/api/collections", in_bobs.clone()).await.0, 403);
        assert_eq!(call(app, None, M::POST, "/api/collections", in_bobs.clone()).await.0, 401);
        assert_eq!(
            call(app, Some(&w.alice_read), M::POST, "/api/collections", Some(json!({"title": "y"}))).await.0,
            403
        );
        assert_eq!(
            call(app, Some(&w.bob), M::POST, "/api/collections", Some(json!({"title": "z", "namespace": "acme"})))
                .await
                .0,
            200
        );
        // Bad input is a 400, never a 500.
        for bad in [r#"{"title": 5}"#, r#"{"title": "t", "private": "yes"}"#, "not json", "[]", r#"{"title": "  "}"#] {
            let (s, code) = raw(app, &w.alice, M::POST, "/api/collections", bad).await;
            assert_eq!((s.as_u16(), code.as_str()), (400, "BadRequest"), "{bad}");
        }
        let long = "d".repeat(151);
        let (s, _, _) =
            call(app, alice, M::POST, "/api/collections", Some(json!({"title": "t", "description": long}))).await;
        assert_eq!(s, 400);

        // Items.
        create_repo(app, &w.alice, None, "data", "dataset", false).await;
        create_repo(app, &w.alice, None, "demo", "space", false).await;
        let body = json!({"item": {"id": "alice/open", "type": "model"}, "note": "The best"});
        let (s, _, c) = call(app, alice, M::POST, &format!("/api/collections/{slug}/items"), Some(body)).await;
        assert_eq!(s, 200, "{c}");
        let item = &c["items"][0];
        assert!(is_object_id(item["_id"].as_str().unwrap()), "{item}");
        assert_eq!(
            (item["id"].as_str(), item["type"].as_str(), item["position"].as_i64()),
            (Some("alice/open"), Some("model"), Some(0))
        );
        assert_eq!(item["note"]["text"], "The best");
        assert_eq!(add_item(app, &w.alice, &slug, "dataset", "datasets/alice/data").await.0, 200);
        assert_eq!(add_item(app, &w.alice, &slug, "space", "alice/demo").await.0, 200);
        assert_eq!(add_item(app, &w.alice, &slug, "paper", "2311.12983").await.0, 200);
        let (s, _, c) = add_item(app, &w.alice, &slug, "model", "alice/secret").await;
        assert_eq!(s, 200);
        assert_eq!(item_ids(&c), ["alice/open", "alice/data", "alice/demo", "2311.12983", "alice/secret"]);
        let second = c["items"][1]["_id"].as_str().unwrap().to_string();
        // Once only; unknown repositories are missing; unknown types are bad requests.
        assert_eq!(add_item(app, &w.alice, &slug, "model", "alice/open").await.0, 409);
        let (s, code, _) = add_item(app, &w.alice, &slug, "model", "alice/nope").await;
        assert_eq!((s.as_u16(), code.as_str()), (404, "RepoNotFound"));
        assert_eq!(add_item(app, &w.alice, &slug, "widget", "alice/open").await.0, 400);
        assert_eq!(add_item(app, &w.alice, &slug, "paper", "not a paper").await.0, 400);
        assert_eq!(
            raw(app, &w.alice, M::POST, &format!("/api/collections/{slug}/items"), r#"{"item": "x"}"#).await.0,
            400
        );

        // Get: position included; the title part of the slug does not matter, the owner does.
        let (s, _, got) = call(app, None, M::GET, &format!("/api/collections/{slug}"), None).await;
        assert_eq!((s.as_u16(), got["position"].as_i64()), (200, Some(0)));
        assert_eq!(
            item_ids(&got),
            ["alice/open", "alice/data", "alice/demo", "2311.12983"],
            "the private model is hidden"
        );
        assert_eq!(call(app, None, M::GET, &format!("/api/collections/alice/whatever-{id}"), None).await.0, 200);
        assert_eq!(call(app, None, M::GET, &format!("/api/collections/bob/my-models-{id}"), None).await.0, 404);
        assert_eq!(call(app, None, M::GET, "/api/collections/alice/my-models-0123", None).await.0, 404);

        // Listing: no collection `position` (the client passes its own), items with theirs, at most 4.
        let (s, _, list) = call(app, alice, M::GET, "/api/collections?owner=alice", None).await;
        assert_eq!(s, 200);
        let entry = list.as_array().unwrap().iter().find(|c| c["slug"] == slug.as_str()).unwrap();
        assert!(entry.get("position").is_none(), "{entry}");
        assert_eq!(entry["items"].as_array().unwrap().len(), 4);
        assert_eq!(entry["items"][0]["position"], 0);
        assert_eq!(list.as_array().unwrap().len(), 2, "alice's two");
        let (_, _, list) = call(app, None, M::GET, "/api/collections?item=models/alice/open", None).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        let (_, _, list) =
            call(app, None, M::GET, "/api/collections?item=papers/2311.12983&item=models/x/y", None).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        let (_, _, list) = call(app, None, M::GET, "/api/collections?owner=nobody", None).await;
        assert_eq!(list, json!([]));
        let (_, _, list) = call(app, None, M::GET, "/api/collections?limit=1&sort=trending", None).await;
        assert_eq!(list.as_array().unwrap().len(), 1);

        // Update: `{"data": …}`; the slug follows the title, the old one keeps working.
        let body = json!({"title": "Renamed", "description": "", "private": true, "theme": "pink", "position": 3});
        let (s, _, v) = call(app, alice, M::PATCH, &format!("/api/collections/{slug}"), Some(body)).await;
        assert_eq!(s, 200, "{v}");
        let data = &v["data"];
        assert_eq!(data["slug"].as_str().unwrap(), format!("alice/renamed-{id}"));
        assert_eq!(
            (data["private"].as_bool(), data["theme"].as_str(), data["position"].as_i64()),
            (Some(true), Some("pink"), Some(3))
        );
        assert!(data["description"].is_null());
        assert_eq!(call(app, alice, M::GET, &format!("/api/collections/{slug}"), None).await.0, 200);
        for bad in [json!({"theme": "neon"}), json!({"position": -1}), json!({"private": "no"}), json!({"title": ""})] {
            assert_eq!(
                call(app, alice, M::PATCH, &format!("/api/collections/{slug}"), Some(bad.clone())).await.0,
                400,
                "{bad}"
            );
        }

        // Items: move and annotate; unknown ones are 404.
        let item_path = |object_id: &str| format!("/api/collections/{slug}/items/{object_id}");
        let body = json!({"position": 0, "note": "Data first"});
        assert_eq!(call(app, alice, M::PATCH, &item_path(&second), Some(body)).await.0, 200);
        let (_, _, got) = call(app, alice, M::GET, &format!("/api/collections/{slug}"), None).await;
        assert_eq!(item_ids(&got), ["alice/data", "alice/open", "alice/demo", "2311.12983", "alice/secret"]);
        assert_eq!(got["items"][0]["note"]["text"], "Data first");
        assert_eq!(got["items"][1]["position"], 1);
        assert_eq!(call(app, alice, M::PATCH, &item_path(&"0".repeat(24)), Some(json!({"note": "x"}))).await.0, 404);
        assert_eq!(call(app, alice, M::PATCH, &item_path(&second), Some(json!({"position": "x"}))).await.0, 400);
        assert_eq!(call(app, alice, M::DELETE, &item_path(&second), None).await.0, 200);
        assert_eq!(call(app, alice, M::DELETE, &item_path(&second), None).await.0, 404);

        // Delete; then it is missing.
        assert_eq!(call(app, alice, M::DELETE, &format!("/api/collections/{slug}"), None).await.0, 200);
        let (s, code, _) = call(app, alice, M::DELETE, &format!("/api/collections/{slug}"), None).await;
        assert_eq!((s.as_u16(), code.as_str()), (404, "NotFound"));
        assert_eq!(call(app, alice, M::GET, &format!("/api/collections/{slug}"), None).await.0, 404);
    }
}

#[tokio::test]
async fn visibility_of_collections_and_items() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let private = collection(app, &w.alice, "alice", "Private", true).await;
        let public = collection(app, &w.alice, "alice", "Public", false).await;
        for id in ["alice/open", "alice/secret"] {
            assert_eq!(add_item(app, &w.alice, &public, "model", id).await.0, 200);
        }
        let get = |token: Option<String>, slug: String| async move {
            call(app, token.as_deref(), M::GET, &format!("/api/collections/{slug}"), None).await
        };
        // A private collection is hidden from strangers, exactly like a missing one — for writes too.
        for token in [None, Some(w.carol.clone()), Some(w.bob.clone())] {
            let (s, code, _) = get(token.clone(), private.clone()).await;
            assert_eq!((s.as_u16(), code.as_str()), (404, "NotFound"), "{token:?}");
            let (s, _, _) = call(
                app,
                token.as_deref(),
                M::PATCH,
                &format!("/api/collections/{private}"),
                Some(json!({"title": "x"})),
            )
            .await;
            assert_eq!(s, 404, "{token:?}");
        }
        assert_eq!(get(Some(w.alice_read.clone()), private.clone()).await.0, 200);
        // Listings agree with point checks.
        let slugs = |token: Option<String>| async move {
            let (_, _, v) = call(app, token.as_deref(), M::GET, "/api/collections?owner=alice", None).await;
            let mut s: Vec<String> =
                v.as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap().to_string()).collect();
            s.sort();
            s
        };
        assert_eq!(slugs(Some(w.carol.clone())).await, vec![public.clone()]);
        let mut both = vec![private.clone(), public.clone()];
        both.sort();
        assert_eq!(slugs(Some(w.alice.clone())).await, both);

        // Items the viewer may not see are left out, everywhere.
        let (_, _, c) = get(Some(w.carol.clone()), public.clone()).await;
        assert_eq!(item_ids(&c), ["alice/open"]);
        let (_, _, c) = get(Some(w.alice.clone()), public.clone()).await;
        assert_eq!(item_ids(&c), ["alice/open", "alice/secret"]);
        let (_, _, list) = call(app, Some(&w.carol), M::GET, "/api/collections?item=models/alice/secret", None).await;
        assert_eq!(list, json!([]));
        let (_, _, list) = call(app, Some(&w.alice), M::GET, "/api/collections?item=models/alice/secret", None).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        // Nor can they be added by someone who may not see them.
        let mine = collection(app, &w.carol, "carol", "Carol's", false).await;
        let (s, code, _) = add_item(app, &w.carol, &mine, "model", "alice/secret").await;
        assert_eq!((s.as_u16(), code.as_str()), (404, "RepoNotFound"));
        // A repository made private disappears from the collection for strangers.
        let (s, _, _) =
            call(app, Some(&w.alice), M::PUT, "/api/models/alice/open/settings", Some(json!({"private": true}))).await;
        assert_eq!(s, 200);
        let (_, _, c) = get(Some(w.carol.clone()), public.clone()).await;
        assert_eq!(item_ids(&c), Vec::<String>::new());

        // An organization's collections: members see private ones; write members change them; read ones do not.
        let org = collection(app, &w.alice, "acme", "Org", true).await;
        assert_eq!(get(Some(w.erin.clone()), org.clone()).await.0, 200);
        assert_eq!(get(Some(w.carol.clone()), org.clone()).await.0, 404);
        let rename = Some(json!({"description": "by bob"}));
        assert_eq!(call(app, Some(&w.bob), M::PATCH, &format!("/api/collections/{org}"), rename.clone()).await.0, 200);
        assert_eq!(call(app, Some(&w.erin), M::PATCH, &format!("/api/collections/{org}"), rename.clone()).await.0, 403);
        // Collections as items: a hidden one is left out like a hidden repository.
        assert_eq!(add_item(app, &w.alice, &public, "collection", &org).await.0, 200);
        assert_eq!(add_item(app, &w.alice, &public, "collection", &public).await.0, 400, "not itself");
        let (_, _, c) = get(Some(w.erin.clone()), public.clone()).await;
        assert_eq!(c["items"].as_array().unwrap().last().unwrap()["slug"], org.as_str());
        let (_, _, c) = get(Some(w.carol.clone()), public.clone()).await;
        assert!(!item_ids(&c).contains(&org), "{c}");
    }
}

/// Every collection route declared with `Access::Collection`, as callers who may not: a hidden collection
/// answers 404 whatever the action; a visible one is readable by anyone and refuses changes with 401
/// (anonymous) or 403.
#[tokio::test]
async fn collection_route_matrix() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let hidden = collection(app, &w.alice, "alice", "Hidden", true).await;
        let open = collection(app, &w.alice, "alice", "Open", false).await;
        let mut items = std::collections::HashMap::new();
        for slug in [&hidden, &open] {
            let (_, _, c) = add_item(app, &w.alice, slug, "paper", "2311.12983").await;
            items.insert(slug.clone(), c["items"][0]["_id"].as_str().unwrap().to_string());
        }
        let routes: Vec<_> = table().into_iter().filter(|r| matches!(r.access, Access::Collection(_))).collect();
        assert_eq!(routes.len(), 8);
        for r in &routes {
            let probe = |slug: &str| {
                let (owner, s) = slug.split_once('/').unwrap();
                let path = r.path.replace("{owner}", owner).replace("{slug}", s).replace("{item}", &items[slug]);
                let body = match (r.method.as_str(), r.path.rsplit('/').next().unwrap()) {
                    ("PATCH", "{slug}") => Some(json!({"title": "x"})),
                    ("POST", "items") => Some(json!({"item": {"id": "alice/open", "type": "model"}})),
                    ("PATCH", "{item}") => Some(json!({"note": "x"})),
                    ("PUT", "gating") => Some(json!({"gated": false})),
                    _ => None,
                };
                (path, body)
            };
            let m: M = r.method.as_str().parse().unwrap();
            let Access::Collection(action) = r.access else { unreachable!() };
            for token in [None, Some(w.carol.as_str()), Some(w.bob.as_str())] {
                let (path, body) = probe(&hidden);
                let (s, code, _) = call(app, token, m.clone(), &path, body).await;
                assert_eq!((s.as_u16(), code.as_str()), (404, "NotFound"), "{m} {path} as {token:?} ({backend:?})");
            }
            for (who, token, want) in [
                ("anonymous", None, 401),
                ("carol", Some(w.carol.as_str()), 403),
                ("alice-read", Some(w.alice_read.as_str()), 403),
            ] {
                let (path, body) = probe(&open);
                let (s, _, _) = call(app, token, m.clone(), &path, body).await;
                // Seeing a public collection needs nothing; everything else is refused.
                let want = if action == gatehouse_authz::Action::RepoRead { 200 } else { want };
                assert_eq!(s.as_u16(), want, "{m} {path} as {who} ({backend:?})");
            }
        }
        // Nothing changed.
        let (_, _, c) = call(app, Some(&w.alice), M::GET, &format!("/api/collections/{open}"), None).await;
        assert_eq!((c["title"].as_str(), item_ids(&c)), (Some("Open"), vec!["2311.12983".to_string()]));
    }
}

async fn gate(app: &TestApp, token: &str, slug: &str, body: Value) -> (StatusCode, String, Value) {
    call(app, Some(token), M::PUT, &format!("/api/collections/{slug}/gating"), Some(body)).await
}

async fn download(app: &TestApp, token: &str, repo: &str) -> u16 {
    let resp = app
        .client
        .get(app.url(&format!("/{repo}/resolve/main/.gitattributes")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn gating_groups() {
    for backend in BACKENDS {
        let w = world(backend).await;
        let app = &w.app;
        let org = Some("acme");
        create_repo(app, &w.alice, org, "m1", "model", false).await;
        create_repo(app, &w.alice, org, "m2", "model", false).await;
        create_repo(app, &w.alice, org, "d1", "dataset", false).await;
        create_repo(app, &w.alice, org, "s1", "space", false).await;

        // Only an organization's collection can be a gating group.
        let own = collection(app, &w.alice, "alice", "Own", false).await;
        let (s, code, _) = gate(app, &w.alice, &own, json!({"gated": "auto"})).await;
        assert_eq!((s.as_u16(), code.as_str()), (400, "BadRequest"));

        let family = collection(app, &w.alice, "acme", "Family", false).await;
        for (kind, id) in [
            ("model", "acme/m1"),
            ("dataset", "acme/d1"),
            ("space", "acme/s1"),
            ("paper", "2311.12983"),
            ("model", "alice/open"),
        ] {
            assert_eq!(add_item(app, &w.alice, &family, kind, id).await.0, 200, "{id}");
        }
        // Only the organization's admins.
        let on = json!({"gated": "manual", "notifications": {"mode": "daily", "email": "gate@acme.example"}});
        assert_eq!(gate(app, &w.bob, &family, on.clone()).await.0, 403, "a write member");
        assert_eq!(gate(app, &w.carol, &family, on.clone()).await.0, 403);
        assert_eq!(gate(app, &w.alice_read, &family, on.clone()).await.0, 403);
        assert_eq!(
            call(app, None, M::PUT, &format!("/api/collections/{family}/gating"), Some(on.clone())).await.0,
            401
        );
        // Every model and dataset must be the organization's.
        let (s, _, v) = gate(app, &w.alice, &family, on.clone()).await;
        assert_eq!(s, 400);
        assert!(v["error"].as_str().unwrap().contains("alice/open"), "{v}");
        let (_, _, c) = call(app, Some(&w.alice), M::GET, &format!("/api/collections/{family}"), None).await;
        assert_eq!(c["gated"], false, "a refused change changes nothing");
        let foreign = item_object_id(&c, "alice/open");
        assert_eq!(
            call(app, Some(&w.alice), M::DELETE, &format!("/api/collections/{family}/items/{foreign}"), None).await.0,
            200
        );

        // Bad settings are 400s.
        for bad in [
            json!({"gated": true}),
            json!({"gated": "sometimes"}),
            json!({"gated": 5}),
            json!({"notifications": {"mode": "weekly"}}),
            json!({"notifications": {"email": "not-an-email"}}),
            json!({"notifications": "daily"}),
        ] {
            assert_eq!(gate(app, &w.alice, &family, bad.clone()).await.0, 400, "{bad}");
        }

        assert_eq!(download(app, &w.erin, "acme/m1").await, 200, "not gated yet");
        let (s, _, v) = gate(app, &w.alice, &family, on.clone()).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!((v["gated"].as_str(), v["notifications"]["mode"].as_str()), (Some("manual"), Some("daily")));
        assert_eq!(v["notifications"]["email"], "gate@acme.example");
        // The organization's admins read the settings back as they were answered; nobody else can.
        let settings = format!("/api/collections/{family}/gating");
        assert_eq!(call(app, Some(&w.alice), M::GET, &settings, None).await.2, v);
        assert_eq!(call(app, Some(&w.bob), M::GET, &settings, None).await.0, 403, "a write member");
        assert_eq!(call(app, None, M::GET, &settings, None).await.0, 401);
        let (_, _, c) = call(app, None, M::GET, &format!("/api/collections/{family}"), None).await;
        assert_eq!(c["gated"], "manual");
        // Its models and datasets are gated by the group (spaces are not); writers never are.
        assert_eq!(download(app, &w.erin, "acme/m1").await, 403);
        assert_eq!(download(app, &w.erin, "datasets/acme/d1").await, 403);
        assert_eq!(download(app, &w.erin, "spaces/acme/s1").await, 200);
        assert_eq!(download(app, &w.bob, "acme/m1").await, 200);
        let (_, _, info) = call(app, Some(&w.erin), M::GET, "/api/models/acme/m1", None).await;
        assert_eq!(info["gated"], "manual", "{info}");

        // One gating group per repository; any number of regular collections.
        let other = collection(app, &w.alice, "acme", "Other", false).await;
        assert_eq!(add_item(app, &w.alice, &other, "model", "acme/m1").await.0, 200);
        let (s, code, v) = gate(app, &w.alice, &other, json!({"gated": "auto"})).await;
        assert_eq!((s.as_u16(), code.as_str()), (409, "Conflict"));
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("acme/m1") && msg.contains(&family), "{msg}");
        let solo = collection(app, &w.alice, "acme", "Solo", false).await;
        assert_eq!(gate(app, &w.alice, &solo, json!({"gated": "auto"})).await.0, 200, "an empty group is fine");
        let (s, _, v) = add_item(app, &w.alice, &solo, "model", "acme/m1").await;
        assert_eq!(s, 409, "{v}");
        let (s, _, v) = add_item(app, &w.alice, &solo, "model", "alice/open").await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(add_item(app, &w.alice, &solo, "model", "alice/secret").await.0, 400, "the admin may name it");

        // Adding a model to a gated collection puts it in the group; removing it takes it out.
        assert_eq!(download(app, &w.erin, "acme/m2").await, 200);
        let (s, _, c) = add_item(app, &w.alice, &family, "model", "acme/m2").await;
        assert_eq!(s, 200);
        assert_eq!(download(app, &w.erin, "acme/m2").await, 403);
        let m2 = item_object_id(&c, "acme/m2");
        assert_eq!(
            call(app, Some(&w.alice), M::DELETE, &format!("/api/collections/{family}/items/{m2}"), None).await.0,
            200
        );
        assert_eq!(download(app, &w.erin, "acme/m2").await, 200);

        // One request covers every repository of the group.
        let (s, _, _) =
            gate(app, &w.alice, &family, json!({"gated": "auto", "gatedNotificationsMode": "real-time"})).await;
        assert_eq!(s, 200);
        let (s, _, v) =
            call(app, Some(&w.carol), M::POST, "/api/models/acme/m1/user-access-request", Some(json!({"fields": {}})))
                .await;
        assert_eq!((s.as_u16(), v["status"].as_str()), (200, Some("accepted")), "{v}");
        assert_eq!(download(app, &w.carol, "datasets/acme/d1").await, 200);
        assert_eq!(download(app, &w.erin, "datasets/acme/d1").await, 403);

        // Every change of settings is logged.
        let group_id = app
            .hub
            .store
            .repo_by_name(gatehouse_types::RepoType::Model, "acme", "m1")
            .await
            .unwrap()
            .unwrap()
            .gating_group_id
            .unwrap();
        let events = app.hub.store.gate_events(Gate::Group(group_id), 10).await.unwrap();
        let settings: Vec<_> = events.iter().filter(|e| e.action == "settings").collect();
        assert_eq!(settings.len(), 2, "{events:?}");
        assert_eq!(settings[0].actor_name, "alice");

        // Moving a grouped repository to another owner would break the group's rule: refused, nothing moves.
        let out = json!({"fromRepo": "acme/m1", "toRepo": "alice/m1", "type": "model"});
        let (s, code, _) = call(app, Some(&w.alice), M::POST, "/api/repos/move", Some(out)).await;
        assert_eq!((s.as_u16(), code.as_str()), (409, "Conflict"));
        assert_eq!(download(app, &w.erin, "acme/m1").await, 403, "still in place and gated");

        // Off: the repositories' own gates apply again.
        let (s, _, v) = gate(app, &w.alice, &family, json!({"gated": false})).await;
        assert_eq!((s.as_u16(), v["gated"].as_bool()), (200, Some(false)));
        assert_eq!(download(app, &w.erin, "acme/m1").await, 200);
        // Deleting a gating group frees its repositories too.
        assert_eq!(gate(app, &w.alice, &family, json!({"gated": "manual"})).await.0, 200);
        assert_eq!(download(app, &w.erin, "acme/m1").await, 403);
        assert_eq!(call(app, Some(&w.alice), M::DELETE, &format!("/api/collections/{family}"), None).await.0, 200);
        assert_eq!(download(app, &w.erin, "acme/m1").await, 200);
        assert_eq!(gate(app, &w.alice, &other, json!({"gated": "auto"})).await.0, 200, "m1 is free for another group");
    }
}
