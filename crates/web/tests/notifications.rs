//! The notifications page and the header's unread count, on both databases: only the signed-in user's
//! own notifications, newest first, read one at a time or all at once (CSRF-checked forms).

mod support;

use gatehouse_core::notify;
use gatehouse_core::sessions::SignupMode;
use gatehouse_store::{AccountStore, NewNotification, NotificationStore};
use gatehouse_testkit::{Backend, TestApp, BACKENDS};
use reqwest::StatusCode;
use support::{signed_in, start, Browser, Page};

/// A signed-in user's browser and id.
async fn signed_in_user(app: &TestApp, name: &str) -> (Browser, i64) {
    let b = signed_in(app, name).await;
    (b, gatehouse_core::accounts::user_by_name(&app.hub, name).await.unwrap().id)
}

fn notice(user: i64, key: &str, subject: &str, link: Option<&str>) -> NewNotification {
    NewNotification {
        user_id: Some(user),
        email: None,
        subject: subject.into(),
        body: format!("Details of {key}."),
        link: link.map(str::to_string),
        dedupe_key: key.into(),
    }
}

async fn write(app: &TestApp, items: &[NewNotification], at: i64) {
    app.hub.store.enqueue_notifications(items, at).await.expect("enqueue");
}

fn unread_badge(p: &Page) -> Option<String> {
    p.all("header [data-testid=unread]").into_iter().next()
}

// ---- tests ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_page() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let p = Browser::new(&app).get("/notifications").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location.as_deref(), Some("/login?next=%2Fnotifications"));

        let (alice, alice_id) = signed_in_user(&app, "alice").await;
        let (bob, bob_id) = signed_in_user(&app, "bob").await;
        let p = alice.get("/notifications").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.has("[data-testid=no-notifications]"));
        assert_eq!(p.attrs("header a[data-testid=notifications]", "href"), ["/notifications"]);
        assert_eq!(unread_badge(&p), None);

        write(&app, &[notice(alice_id, "a1", "Request for alice/llama", Some("/alice/llama"))], 1_000).await;
        write(&app, &[notice(alice_id, "a2", "<script>alert(1)</script>", Some("https://evil.example/x"))], 2_000)
            .await;
        write(&app, &[notice(alice_id, "a3", "Accepted", None)], 3_000).await;
        write(&app, &[notice(bob_id, "b1", "For bob only", None)], 4_000).await;

        // The header counts on every page.
        assert_eq!(unread_badge(&alice.get("/").await).as_deref(), Some("3"));
        assert_eq!(unread_badge(&bob.get("/models").await).as_deref(), Some("1"));

        let p = alice.get("/notifications").await;
        let subjects = p.all("[data-testid=notification] h2");
        assert_eq!(subjects.len(), 3, "only alice's: {subjects:?}");
        assert!(subjects[0].ends_with("Accepted") && subjects[2].ends_with("Request for alice/llama"), "{subjects:?}");
        assert!(subjects[1].contains("<script>alert(1)</script>"), "shown as text: {subjects:?}");
        assert!(!p.body.contains("<script>alert(1)"), "escaped");
        assert_eq!(p.all("[data-testid=unread-marker]").len(), 3);
        // Links stay on this site.
        assert_eq!(p.attrs("[data-testid=notification] h2 a", "href"), ["/alice/llama"]);
        assert!(p.text("[data-testid=notification] .body").contains("Details of a3."));

        // One read: its marker goes, the count drops.
        let newest = app.hub.store.notifications_of_user(alice_id, 1).await.unwrap().remove(0);
        let p = alice.submit("/notifications", &format!("/notifications/{}/read", newest.id), &[]).await;
        assert_eq!((p.status, p.location.as_deref()), (StatusCode::SEE_OTHER, Some("/notifications")));
        let p = alice.get("/notifications").await;
        assert_eq!(p.all("[data-testid=unread-marker]").len(), 2);
        assert_eq!(unread_badge(&p).as_deref(), Some("2"));

        // Bob cannot mark alice's as read (nothing happens, and nothing tells him it exists).
        let alices = app.hub.store.notifications_of_user(alice_id, 10).await.unwrap();
        let p = bob.submit("/notifications", &format!("/notifications/{}/read", alices[2].id), &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(notify::unread_count(&app.hub, alice_id).await.unwrap(), 2);
        assert_eq!(notify::unread_count(&app.hub, bob_id).await.unwrap(), 1);

        // Without its CSRF token, nothing is read.
        let p = alice.post("/notifications/read-all", &[("csrf", "forged")]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert_eq!(notify::unread_count(&app.hub, alice_id).await.unwrap(), 2);

        let p = alice.submit("/notifications", "/notifications/read-all", &[]).await;
        assert_eq!((p.status, p.location.as_deref()), (StatusCode::SEE_OTHER, Some("/notifications")));
        let p = alice.get("/notifications").await;
        assert_eq!(unread_badge(&p), None);
        assert!(!p.has("[data-testid=read-all]") && !p.has("[data-testid=unread-marker]"));
        assert_eq!(p.all("[data-testid=notification]").len(), 3, "read ones stay listed");
        assert_eq!(notify::unread_count(&app.hub, bob_id).await.unwrap(), 1, "bob's untouched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_notifications() {
    let app = start(Backend::Sqlite, SignupMode::Open).await;
    let (alice, alice_id) = signed_in_user(&app, "alice").await;
    let items: Vec<_> =
        (0..120).map(|i| notice(alice_id, &format!("n{i:03}"), &format!("Notice {i:03}"), None)).collect();
    write(&app, &items, 5_000).await;
    let p = alice.get("/notifications").await;
    assert_eq!(unread_badge(&p).as_deref(), Some("99+"));
    assert_eq!(p.attrs("header a[data-testid=notifications]", "aria-label"), ["Notifications, 99+ unread"]);
    assert_eq!(p.all("[data-testid=notification]").len(), notify::INBOX_LIMIT as usize);
    assert!(app.hub.store.account_by_id(alice_id).await.unwrap().is_some());
}
