//! The notifications page and the header's unread count, on both databases: only the signed-in user's
//! own notifications, newest first, read one at a time or all at once (CSRF-checked forms).

use gatehouse_core::notify;
use gatehouse_store::{AccountStore, NewNotification, NotificationStore};
use gatehouse_testkit::{Backend, TestApp, TestOptions, BACKENDS};
use reqwest::StatusCode;
use scraper::{Html, Selector};

// ---- a small browser (as in tests/pages.rs) ----------------------------------------------------------

struct Browser {
    client: reqwest::Client,
    base: String,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
    html: Html,
}

impl Page {
    fn all(&self, css: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap();
        self.html.select(&sel).map(|e| e.text().collect::<String>().trim().to_string()).collect()
    }
    fn text(&self, css: &str) -> String {
        self.all(css).into_iter().next().unwrap_or_else(|| panic!("no element matches {css}"))
    }
    fn has(&self, css: &str) -> bool {
        !self.all(css).is_empty()
    }
    fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap();
        self.html.select(&sel).filter_map(|e| e.value().attr(attr).map(str::to_string)).collect()
    }
    fn csrf(&self) -> String {
        self.attrs("input[name=csrf]", "value").into_iter().next().expect("a form with a CSRF token")
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        let client =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, base: app.base.clone() }
    }

    async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status();
        let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let body = resp.text().await.unwrap();
        Page { status, location, html: Html::parse_document(&body), body }
    }

    async fn get(&self, path: &str) -> Page {
        Self::page(self.client.get(format!("{}{path}", self.base)).header("accept", "text/html").send().await.unwrap())
            .await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("accept", "text/html")
            .header("origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap();
        Self::page(resp).await
    }

    /// Posts a form of `/notifications` with that page's CSRF token.
    async fn submit(&self, action: &str) -> Page {
        let csrf = self.get("/notifications").await.csrf();
        self.post(action, &[("csrf", &csrf)]).await
    }
}

async fn start(backend: Backend) -> TestApp {
    TestApp::start_custom(backend, TestOptions { app: gatehouse_web::app, ..Default::default() }).await
}

async fn signed_in(app: &TestApp, name: &str) -> (Browser, i64) {
    let req = gatehouse_core::accounts::NewUserRequest {
        name,
        email: &format!("{name}@example.com"),
        full_name: None,
        password: Some("correct horse battery"),
        site_admin: false,
    };
    let user = gatehouse_core::accounts::create_user(&app.hub, req).await.unwrap();
    let b = Browser::new(app);
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post("/login", &[("csrf", &csrf), ("login", name), ("password", "correct horse battery"), ("next", "/")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "sign-in of {name}");
    (b, user.id)
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
        let app = start(backend).await;
        let p = Browser::new(&app).get("/notifications").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location.as_deref(), Some("/login?next=%2Fnotifications"));

        let (alice, alice_id) = signed_in(&app, "alice").await;
        let (bob, bob_id) = signed_in(&app, "bob").await;
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
        let p = alice.submit(&format!("/notifications/{}/read", newest.id)).await;
        assert_eq!((p.status, p.location.as_deref()), (StatusCode::SEE_OTHER, Some("/notifications")));
        let p = alice.get("/notifications").await;
        assert_eq!(p.all("[data-testid=unread-marker]").len(), 2);
        assert_eq!(unread_badge(&p).as_deref(), Some("2"));

        // Bob cannot mark alice's as read (nothing happens, and nothing tells him it exists).
        let alices = app.hub.store.notifications_of_user(alice_id, 10).await.unwrap();
        let p = bob.submit(&format!("/notifications/{}/read", alices[2].id)).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(notify::unread_count(&app.hub, alice_id).await.unwrap(), 2);
        assert_eq!(notify::unread_count(&app.hub, bob_id).await.unwrap(), 1);

        // Without its CSRF token, nothing is read.
        let p = alice.post("/notifications/read-all", &[("csrf", "forged")]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert_eq!(notify::unread_count(&app.hub, alice_id).await.unwrap(), 2);

        let p = alice.submit("/notifications/read-all").await;
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
    let app = start(Backend::Sqlite).await;
    let (alice, alice_id) = signed_in(&app, "alice").await;
    let items: Vec<_> =
        (0..120).map(|i| notice(alice_id, &format!("n{i:03}"), &format!("Notice {i:03}"), None)).collect();
    write(&app, &items, 5_000).await;
    let p = alice.get("/notifications").await;
    assert_eq!(unread_badge(&p).as_deref(), Some("99+"));
    assert_eq!(p.attrs("header a[data-testid=notifications]", "aria-label"), ["Notifications, 99+ unread"]);
    assert_eq!(p.all("[data-testid=notification]").len(), notify::INBOX_LIMIT as usize);
    assert!(app.hub.store.account_by_id(alice_id).await.unwrap().is_some());
}
