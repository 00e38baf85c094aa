//! Collections in the pages, on both databases: a namespace's collections and the new-collection form, a
//! collection's page with its items (only those the viewer may see), adding and removing items, deleting,
//! and the gating-group settings for an organization's admins.

mod support;

use gatehouse_authz::OrgRole;
use gatehouse_core::sessions::SignupMode;
use gatehouse_testkit::{TestApp, BACKENDS};
use reqwest::StatusCode;
use serde_json::json;
use support::*;

async fn org_repo(app: &TestApp, token: &str, org: &str, name: &str, kind: &str) {
    let body = json!({"name": name, "organization": org, "type": kind});
    let r = app.client.post(app.url("/api/repos/create")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "create {org}/{name}");
}

/// Submits the new-collection form on `/collections/{ns}`; the page it leads to (or the refused form).
async fn new_collection(b: &Browser, ns: &str, title: &str, private: bool) -> Page {
    let visibility = if private { "private" } else { "public" };
    let here = format!("/collections/{ns}");
    b.submit(&here, &here, &[("title", title), ("description", ""), ("visibility", visibility)]).await
}

async fn created(b: &Browser, ns: &str, title: &str, private: bool) -> String {
    let p = new_collection(b, ns, title, private).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "create {title}");
    p.location.unwrap()
}

async fn add(b: &Browser, page: &str, kind: &str, id: &str) -> Page {
    b.submit(page, &format!("{page}/items"), &[("type", kind), ("id", id), ("note", "")]).await
}

#[tokio::test]
async fn collections_in_the_browser() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let bob = signed_in(&app, "bob").await;
        let anon = Browser::new(&app);
        let token = api_token(&app, "alice").await;
        create_repo(&app, &token, "open", "model", false).await;
        create_repo(&app, &token, "secret", "model", true).await;

        // The namespace's page: a form for the owner only.
        assert!(alice.get("/collections/alice").await.has("[data-testid=new-collection] form"));
        assert!(!bob.get("/collections/alice").await.has("[data-testid=new-collection]"));
        assert!(!anon.get("/collections/alice").await.has("[data-testid=new-collection]"));
        assert_eq!(anon.get("/collections/nobody").await.status, StatusCode::NOT_FOUND);
        assert!(alice.get("/alice").await.has("a[data-testid=collections-link][href='/collections/alice']"));

        // Refused forms keep what was typed, with the error next to its field.
        let p = new_collection(&alice, "alice", "  ", false).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-title-error"));
        let here = "/collections/alice";
        let long = "d".repeat(151);
        let p = alice.submit(here, here, &[("title", "Ok"), ("description", &long), ("visibility", "public")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-description-error"));
        assert_eq!(p.attr("#f-title", "value"), "Ok");

        let page = created(&alice, "alice", "Favourites", false).await;
        assert!(page.starts_with("/collections/alice/favourites-"), "{page}");
        let p = new_collection(&alice, "alice", "favourites", false).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.text("#f-title-error").contains("already"));
        // Someone else's namespace: not allowed.
        let p = new_collection(&bob, "alice", "Mine now", false).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);

        // Items: links to what the viewer may see.
        assert_eq!(add(&alice, &page, "model", "alice/open").await.status, StatusCode::SEE_OTHER);
        assert_eq!(add(&alice, &page, "model", "alice/secret").await.status, StatusCode::SEE_OTHER);
        assert_eq!(add(&alice, &page, "paper", "2311.12983").await.status, StatusCode::SEE_OTHER);
        let p = add(&alice, &page, "model", "alice/missing").await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-id-error"));
        assert_eq!(p.attr("#f-id", "value"), "alice/missing");
        let p = add(&alice, &page, "model", "alice/open").await;
        assert!(p.text("#f-id-error").contains("already"), "twice");

        let p = alice.get(&page).await;
        assert_eq!(p.text("[data-testid=title]"), "Favourites");
        assert_eq!(p.all("[data-testid=item] .id"), ["alice/open", "alice/secret", "2311.12983"]);
        assert_eq!(p.attr("[data-testid=item] a.id", "href"), "/alice/open");
        assert!(p.has("[data-testid=add-item]") && p.has("[data-testid=remove-item]"));
        assert!(!p.has("[data-testid=gating-settings]"), "a user's collection is never a gating group");
        let p = bob.get(&page).await;
        assert_eq!(p.all("[data-testid=item] .id"), ["alice/open", "2311.12983"], "the private model is hidden");
        assert!(!p.has("[data-testid=add-item]") && !p.has("[data-testid=remove-item]"));
        // A form posted by someone who may not: 403, and nothing changes.
        let p = add(&bob, &page, "model", "alice/open").await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let p =
            bob.submit(&page, &format!("{page}/gating"), &[("mode", "auto"), ("notifications_mode", "daily")]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);

        // Removing an item.
        let p = alice.get(&page).await;
        let first = p.attr("[data-testid=item] input[name=item]", "value");
        let r = alice.submit(&page, &format!("{page}/items/remove"), &[("item", &first)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(alice.get(&page).await.all("[data-testid=item] .id"), ["alice/secret", "2311.12983"]);

        // A private collection: hidden from others like a missing one, listed only for those who may see it.
        let hidden = created(&alice, "alice", "Hidden", true).await;
        assert_eq!(bob.get(&hidden).await.status, StatusCode::NOT_FOUND);
        assert_eq!(anon.get(&hidden).await.status, StatusCode::NOT_FOUND);
        let csrf = bob.get("/collections/alice").await.csrf();
        let fields = [("csrf", csrf.as_str()), ("type", "model"), ("id", "alice/open"), ("note", "")];
        assert_eq!(bob.post(&format!("{hidden}/items"), &fields).await.status, StatusCode::NOT_FOUND);
        assert_eq!(bob.get("/collections/alice").await.all("[data-testid=collection] a.id"), ["Favourites"]);
        assert_eq!(
            alice.get("/collections/alice").await.all("[data-testid=collection] a.id"),
            ["Favourites", "Hidden"]
        );

        // Deleting needs the title typed again.
        let p = alice.submit(&hidden, &format!("{hidden}/delete"), &[("confirm", "nope")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        let p = alice.submit(&hidden, &format!("{hidden}/delete"), &[("confirm", "Hidden")]).await;
        assert_eq!((p.status, p.location.as_deref()), (StatusCode::SEE_OTHER, Some("/collections/alice")));
        assert_eq!(alice.get(&hidden).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn gating_group_settings_in_the_browser() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let bob = signed_in(&app, "bob").await;
        let carol = signed_in(&app, "carol").await;
        let token = api_token(&app, "alice").await;
        app.org("acme", "alice").await;
        app.member("acme", "bob", OrgRole::Write).await;
        org_repo(&app, &token, "acme", "m1", "model").await;
        org_repo(&app, &token, "acme", "d1", "dataset").await;
        create_repo(&app, &token, "foreign", "model", false).await;

        let page = created(&alice, "acme", "Family", false).await;
        for (kind, id) in [("model", "acme/m1"), ("dataset", "acme/d1"), ("model", "alice/foreign")] {
            assert_eq!(add(&alice, &page, kind, id).await.status, StatusCode::SEE_OTHER, "{id}");
        }
        // Only the organization's admins see (and may use) the gating settings; write members manage items.
        assert!(alice.get(&page).await.has("[data-testid=gating-settings] form"));
        let p = bob.get(&page).await;
        assert!(!p.has("[data-testid=gating-settings]") && p.has("[data-testid=add-item]"));
        let p = carol.get(&page).await;
        assert!(!p.has("[data-testid=gating-settings]") && !p.has("[data-testid=add-item]"));
        assert!(!p.has("[data-testid=gating-badge]"));
        let on = [("mode", "manual"), ("notifications_mode", "daily"), ("notifications_email", "gate@acme.example")];
        assert_eq!(bob.submit(&page, &format!("{page}/gating"), &on).await.status, StatusCode::FORBIDDEN);

        // A repository of another owner: refused, the reason shown in the form.
        let p = alice.submit(&page, &format!("{page}/gating"), &on).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.text("[data-testid=gating-error]").contains("alice/foreign"));
        let bad = [("mode", "auto"), ("notifications_mode", "daily"), ("notifications_email", "nope")];
        let p = alice.submit(&page, &format!("{page}/gating"), &bad).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-notifications_email-error"));
        assert_eq!(p.attr("#f-notifications_email", "value"), "nope");

        let p = alice.get(&page).await;
        let foreign: Vec<_> = p.all("[data-testid=item] .id");
        let index = foreign.iter().position(|id| id == "alice/foreign").unwrap();
        let sel = scraper::Selector::parse("[data-testid=item] input[name=item]").unwrap();
        let ids: Vec<String> = p.html.select(&sel).map(|e| e.value().attr("value").unwrap().to_string()).collect();
        let r = alice.submit(&page, &format!("{page}/items/remove"), &[("item", &ids[index])]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);

        let p = alice.submit(&page, &format!("{page}/gating"), &on).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        // Everyone sees the gating group's badge; its admins see the settings and where requests are reviewed.
        let p = carol.get(&page).await;
        assert_eq!(p.text("[data-testid=gating-badge]"), "Gating group");
        assert!(p.has("[data-testid=gating-notice]"));
        assert_eq!(p.all("[data-testid=item] .badge.gated").len(), 2, "its models and datasets are gated");
        let p = alice.get(&page).await;
        assert_eq!(p.attr("[data-testid=gating-settings] input[name=mode][checked]", "value"), "manual");
        assert_eq!(p.attr("#f-notifications_email", "value"), "gate@acme.example");
        assert_eq!(p.attr("[data-testid=review-link]", "href"), "/acme/m1/settings/access-requests");
        assert!(carol.get("/collections/acme").await.has("[data-testid=collection] [data-testid=gating-badge]"));

        // Off again.
        let off = [("mode", "off"), ("notifications_mode", "daily"), ("notifications_email", "")];
        assert_eq!(alice.submit(&page, &format!("{page}/gating"), &off).await.status, StatusCode::SEE_OTHER);
        let p = carol.get(&page).await;
        assert!(!p.has("[data-testid=gating-badge]") && p.all("[data-testid=item] .badge.gated").is_empty());
    }
}
