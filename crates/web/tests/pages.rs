//! The web pages in-process, on both databases: each page's HTML (by selector) and its access rules,
//! sessions and CSRF, sign-up modes, tokens, two-factor sign-in, repository pages and settings.

mod support;

use gatehouse_authz::{Action, OrgRole};
use gatehouse_core::sessions::{AccountsConfig, SignupMode};
use gatehouse_testkit::{Backend, TestApp, TestOptions, BACKENDS};
use gatehouse_web::{table, PageAccess};
use reqwest::StatusCode;
use serde_json::json;
use support::*;

// ---- the page table ---------------------------------------------------------------------------------

/// Every page with who may use it; a page added without being declared here fails.
#[test]
fn page_table_is_fully_declared() {
    use PageAccess::*;
    let mut expected: Vec<(String, String, PageAccess)> = [
        ("GET", "/", Public),
        ("GET", "/models", Public),
        ("GET", "/datasets", Public),
        ("GET", "/static/{file}", Public),
        ("GET", "/login", Public),
        ("POST", "/login", Public),
        ("GET", "/login/two-factor", Public),
        ("POST", "/login/two-factor", Public),
        ("POST", "/logout", Public),
        ("GET", "/login/forgot", Public),
        ("POST", "/login/forgot", Public),
        ("GET", "/login/reset/{token}", Public),
        ("POST", "/login/reset/{token}", Public),
        ("GET", "/join", Public),
        ("POST", "/join", Public),
        ("GET", "/settings/profile", User),
        ("POST", "/settings/profile", User),
        ("POST", "/settings/password", User),
        ("POST", "/settings/sessions/sign-out-others", User),
        ("GET", "/settings/tokens", User),
        ("POST", "/settings/tokens", User),
        ("POST", "/settings/tokens/{id}/revoke", User),
        ("GET", "/settings/two-factor", User),
        ("POST", "/settings/two-factor/enrol", User),
        ("POST", "/settings/two-factor/cancel", User),
        ("POST", "/settings/two-factor/confirm", User),
        ("POST", "/settings/two-factor/disable", User),
        ("POST", "/settings/two-factor/recovery-codes", User),
        ("GET", "/settings/invitations", Site(Action::InviteUsers)),
        ("POST", "/settings/invitations", Site(Action::InviteUsers)),
        ("POST", "/settings/invitations/{id}/revoke", Site(Action::InviteUsers)),
        ("GET", "/new", User),
        ("POST", "/new", User),
        ("GET", "/organizations/new", User),
        ("POST", "/organizations/new", User),
        ("GET", "/organizations/{ns}/members", Org(Action::OrgManageMembers)),
        ("POST", "/organizations/{ns}/members", Org(Action::OrgManageMembers)),
        ("GET", "/notifications", User),
        ("POST", "/notifications/read-all", User),
        ("POST", "/notifications/{id}/read", User),
        ("GET", "/collections/{ns}", Public),
        ("POST", "/collections/{ns}", User),
        ("GET", "/collections/{ns}/{slug}", Collection(Action::RepoRead)),
        ("POST", "/collections/{ns}/{slug}/items", Collection(Action::CollectionManage)),
        ("POST", "/collections/{ns}/{slug}/items/remove", Collection(Action::CollectionManage)),
        ("POST", "/collections/{ns}/{slug}/delete", Collection(Action::CollectionManage)),
        ("POST", "/collections/{ns}/{slug}/gating", Collection(Action::OrgManageMembers)),
        ("GET", "/{ns}", Public),
    ]
    .into_iter()
    .map(|(m, p, a)| (m.to_string(), p.to_string(), a))
    .collect();
    for prefix in ["", "/datasets"] {
        for (m, p, a) in [
            ("GET", "/{ns}/{name}", Repo(Action::RepoRead)),
            ("GET", "/{ns}/{name}/tree/{rev}", Repo(Action::RepoRead)),
            ("GET", "/{ns}/{name}/tree/{rev}/{*path}", Repo(Action::RepoRead)),
            ("GET", "/{ns}/{name}/blob/{rev}/{*path}", Repo(Action::RepoRead)),
            ("GET", "/{ns}/{name}/commits/{rev}", Repo(Action::RepoRead)),
            ("GET", "/{ns}/{name}/commit/{rev}", Repo(Action::RepoRead)),
            ("GET", "/{ns}/{name}/refs", Repo(Action::RepoRead)),
            ("GET", "/{ns}/{name}/settings", Repo(Action::RepoManage)),
            ("POST", "/{ns}/{name}/settings/visibility", Repo(Action::RepoManage)),
            ("POST", "/{ns}/{name}/settings/move", Repo(Action::RepoManage)),
            ("POST", "/{ns}/{name}/settings/delete", Repo(Action::RepoManage)),
            ("POST", "/{ns}/{name}/ask-access", Repo(Action::RepoRead)),
            ("POST", "/{ns}/{name}/settings/gating", Repo(Action::RepoManage)),
            ("GET", "/{ns}/{name}/settings/access-requests", Repo(Action::RepoManage)),
            ("POST", "/{ns}/{name}/settings/access-requests", Repo(Action::RepoManage)),
            ("GET", "/{ns}/{name}/settings/access-requests/users", Repo(Action::RepoManage)),
        ] {
            expected.push((m.to_string(), format!("{prefix}{p}"), a));
        }
    }
    let actual: Vec<(String, String, PageAccess)> =
        table().into_iter().map(|r| (r.method.to_string(), r.path.to_string(), r.access)).collect();
    assert_eq!(actual, expected);
}

/// Concrete URLs for the table's patterns, on a world where `alice` owns `alice/secret` (private) and
/// the organization `acme`.
fn concrete(path: &str) -> String {
    path.replace("{ns}/{name}", "alice/secret")
        .replace("/organizations/{ns}", "/organizations/acme")
        .replace("{ns}", "alice")
        .replace("{rev}", "main")
        .replace("{*path}", "README.md")
        .replace("{id}", "1")
        .replace("{file}", "style.css")
        .replace("{slug}", "missing-0123456789abcdef01234567")
        .replace("{token}", "not-a-reset-link")
}

/// Every page as an anonymous visitor and as a signed-in stranger: sign-in pages redirect to the sign-in
/// page, hidden repositories are 404 pages, and no form is accepted without its CSRF token.
#[tokio::test]
async fn page_matrix() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let _ = alice;
        let token = api_token(&app, "alice").await;
        create_repo(&app, &token, "secret", "model", true).await;
        create_repo(&app, &token, "secret", "dataset", true).await;
        commit(&app, &token, "alice/secret", &[("README.md", b"# Secret")], "card").await;
        app.org("acme", "alice").await;
        let anon = Browser::new(&app);
        let bob = signed_in(&app, "bob").await;
        for r in table() {
            let url = concrete(r.path);
            if r.method == "GET" {
                let p = anon.get(&url).await;
                match r.access {
                    // A reset link that is not one is a 404 page offering a new link.
                    PageAccess::Public if r.path == "/login/reset/{token}" => {
                        assert_eq!(p.status, StatusCode::NOT_FOUND, "{url}");
                        assert!(p.has("a[href='/login/forgot']"), "{url}");
                    }
                    PageAccess::Public => {
                        assert!(p.status.is_success() || p.status == StatusCode::SEE_OTHER, "{url}: {}", p.status)
                    }
                    PageAccess::User | PageAccess::Site(_) => {
                        assert_eq!(p.status, StatusCode::SEE_OTHER, "{url}");
                        assert!(p.location.as_deref().unwrap().starts_with("/login?next="), "{url}");
                    }
                    PageAccess::Repo(_) | PageAccess::Collection(_) => {
                        assert_eq!(p.status, StatusCode::NOT_FOUND, "anonymous {url}");
                        assert!(p.has("h1"), "an HTML 404 page for {url}");
                    }
                    PageAccess::Org(_) => assert_eq!(p.status, StatusCode::SEE_OTHER, "{url}"),
                }
                let p = bob.get(&url).await;
                match r.access {
                    PageAccess::Repo(_) | PageAccess::Collection(_) => {
                        assert_eq!(p.status, StatusCode::NOT_FOUND, "stranger {url}")
                    }
                    // Organizations are public; managing one is not. Nor is inviting people to the hub.
                    PageAccess::Org(_) | PageAccess::Site(_) => {
                        assert_eq!(p.status, StatusCode::FORBIDDEN, "stranger {url}")
                    }
                    PageAccess::Public if r.path == "/login/reset/{token}" => {
                        assert_eq!(p.status, StatusCode::NOT_FOUND, "stranger {url}")
                    }
                    _ => assert!(
                        p.status.is_success() || p.status == StatusCode::SEE_OTHER,
                        "stranger {url}: {}",
                        p.status
                    ),
                }
            } else {
                // No CSRF token: refused before anything happens.
                let p = bob.post(&url, &[("name", "x")]).await;
                assert_eq!(p.status, StatusCode::FORBIDDEN, "POST {url} without a token");
                let p = bob.post(&url, &[("csrf", "0123456789abcdef0123456789abcdef01234567")]).await;
                assert_eq!(p.status, StatusCode::FORBIDDEN, "POST {url} with a forged token");
            }
        }
        // The private repository still exists and is untouched.
        assert_eq!(alice_status(&app, &token, "/api/models/alice/secret").await, 200);
    }
}

async fn alice_status(app: &TestApp, token: &str, path: &str) -> u16 {
    app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap().status().as_u16()
}

// ---- sign-up, sign-in, sessions, CSRF ---------------------------------------------------------------

#[tokio::test]
async fn sign_up_sign_in_and_out() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let b = Browser::new(&app);
        // Every field is checked on the server, each error next to its field, values kept.
        let p = b
            .submit(
                "/join",
                "/join",
                &[("name", "-bad"), ("email", "nope"), ("full_name", "Carol"), ("password", "short")],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        for field in ["name", "email", "password"] {
            assert!(p.has(&format!("#f-{field}-error")), "error for {field}");
            assert_eq!(p.attr(&format!("#f-{field}"), "aria-invalid"), "true");
        }
        assert_eq!(p.attr("#f-name", "value"), "-bad");
        assert_eq!(p.attr("#f-full_name", "value"), "Carol");
        assert!(!p.has("#f-password[value]"), "a password is never sent back");

        let p = b
            .submit(
                "/join",
                "/join",
                &[
                    ("name", "carol"),
                    ("email", "carol@example.com"),
                    ("full_name", "Carol"),
                    ("password", "long enough pw"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        // The same name again is refused at its field.
        let p = b
            .submit("/join", "/join", &[("name", "Carol"), ("email", "c2@example.com"), ("password", "long enough pw")])
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.text("#f-name-error").contains("taken"));

        // A wrong password: one message for the form, what was typed kept.
        let p = b.sign_in("carol", "wrong password").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
        assert!(p.has("[role=alert]"));
        assert_eq!(p.attr("#f-login", "value"), "carol");

        // By email, case-insensitively.
        let p = b.sign_in("CAROL@example.com", "long enough pw").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let home = b.get("/").await;
        assert_eq!(home.text("[data-testid=me]"), "carol");

        // The session cookie is HttpOnly and SameSite.
        let resp = Browser::new(&app);
        let csrf = resp.get("/login").await.csrf();
        let raw = resp
            .client
            .post(format!("{}/login", app.base))
            .header("origin", &app.base)
            .form(&[("csrf", csrf.as_str()), ("login", "carol"), ("password", "long enough pw")])
            .send()
            .await
            .unwrap();
        let cookie = session_cookie(&raw);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

        // Signing out ends the session on the server: the old cookie no longer works.
        let p = b.submit("/", "/logout", &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let p = b.get("/settings/profile").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn sign_up_modes() {
    let app = start(Backend::Sqlite, SignupMode::Closed).await;
    let b = Browser::new(&app);
    assert!(!b.get("/join").await.has("form[action='/join']"), "no form when sign-up is closed");
    // A post anyway (with a valid token from another form) is refused.
    let p = b
        .submit("/login", "/join", &[("name", "dave"), ("email", "d@example.com"), ("password", "long enough pw")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.text("[role=alert]").contains("does not accept"));
    assert!(gatehouse_store::AccountStore::account_by_name(&app.hub.store, "dave").await.unwrap().is_none());

    for backend in BACKENDS {
        let app = start(backend, SignupMode::InviteOnly).await;
        let b = Browser::new(&app);
        let fields = |code: &'static str| {
            [("name", "erin"), ("email", "erin@example.com"), ("password", "long enough pw"), ("invitation", code)]
        };
        let p = b.submit("/join", "/join", &fields("")).await;
        assert!(p.has("#f-invitation-error"));
        let p = b.submit("/join", "/join", &fields("not-a-code")).await;
        assert!(p.text("#f-invitation-error").contains("not valid"));
        // An invitation for another address does not work; one for erin works once.
        let other = gatehouse_core::signup::invite(&app.hub, Some("frank@example.com"), None, 7).await.unwrap();
        let other: &'static str = Box::leak(other.into_boxed_str());
        let p = b.submit("/join", "/join", &fields(other)).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        let code = gatehouse_core::signup::invite(&app.hub, None, None, 7).await.unwrap();
        let code: &'static str = Box::leak(code.into_boxed_str());
        let join = b.get(&format!("/join?invitation={code}")).await;
        assert_eq!(join.attr("#f-invitation", "value"), code, "the link fills the code in");
        assert_eq!(b.submit("/join", "/join", &fields(code)).await.status, StatusCode::SEE_OTHER);
        let again =
            [("name", "gina"), ("email", "gina@example.com"), ("password", "long enough pw"), ("invitation", code)];
        let p = b.submit("/join", "/join", &again).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "an invitation is used once");
    }
}

#[tokio::test]
async fn csrf_and_expired_sessions() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let bob = signed_in(&app, "bob").await;
        // A token from another session does not work.
        let bobs = bob.get("/settings/tokens").await.csrf();
        let p = alice.post("/settings/tokens", &[("csrf", bobs.as_str()), ("name", "x"), ("role", "read")]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.has("h1"));
        // A post from another origin does not work, even with the right token.
        let mine = alice.get("/settings/tokens").await.csrf();
        let resp = alice
            .client
            .post(format!("{}/settings/tokens", app.base))
            .header("origin", "https://evil.example")
            .form(&[("csrf", mine.as_str()), ("name", "x"), ("role", "read")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let user = gatehouse_core::accounts::user_by_name(&app.hub, "alice").await.unwrap();
        assert!(gatehouse_store::TokenStore::tokens_of_user(&app.hub.store, user.id).await.unwrap().is_empty());

        // The session ends on the server (as after a password change elsewhere): the page sends the
        // user to sign in again, saying why, and a form from the old page does the same.
        gatehouse_core::sessions::end_other_sessions(&app.hub, user.id, None).await.unwrap();
        let p = alice.get("/settings/tokens").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert!(p.location.as_deref().unwrap().contains("expired=1"));
        let p = alice.post("/settings/tokens", &[("csrf", mine.as_str()), ("name", "x"), ("role", "read")]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert!(p.location.as_deref().unwrap().starts_with("/login?expired=1"));
        let p = alice.get("/login?expired=1").await;
        assert!(p.text("[role=status]").contains("expired"));
    }
}

#[tokio::test]
async fn sign_in_attempts_are_throttled() {
    let accounts = AccountsConfig { signup: SignupMode::Open, max_failures_per_user: 3, ..Default::default() };
    let app =
        TestApp::start_custom(Backend::Sqlite, TestOptions { accounts, app: gatehouse_web::app, ..Default::default() })
            .await;
    let _ = signed_in(&app, "alice").await;
    let b = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(b.sign_in("alice", "wrong").await.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now.
    let p = b.sign_in("alice", "correct horse battery").await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.text("[role=alert]").contains("Too many"));
}

// ---- tokens and two-factor ---------------------------------------------------------------------------

#[tokio::test]
async fn tokens_created_shown_once_used_and_revoked() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let b = signed_in(&app, "alice").await;
        let p = b.submit("/settings/tokens", "/settings/tokens", &[("name", ""), ("role", "admin")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-name-error") && p.has("#f-role-error"));
        let p = b.submit("/settings/tokens", "/settings/tokens", &[("name", "laptop"), ("role", "write")]).await;
        assert_eq!(p.status, StatusCode::OK);
        let secret = p.text("[data-testid=new-token] #token-secret");
        let who = app.client.get(app.url("/api/whoami-v2")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(who.status(), 200);
        assert_eq!(who.json::<serde_json::Value>().await.unwrap()["name"], "alice");
        // Listed with its last use, never with its secret.
        let list = b.get("/settings/tokens").await;
        assert!(!list.has("[data-testid=new-token]"));
        assert!(!list.html.html().contains(&secret));
        let row = list.text("[data-testid=tokens] tbody tr");
        assert!(row.contains("laptop") && row.contains("write"), "{row}");
        assert!(!row.contains("never"), "its use is shown: {row}");
        let revoke = list.attr("[data-testid=tokens] form", "action");
        let p = b.submit("/settings/tokens", &revoke, &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let who = app.client.get(app.url("/api/whoami-v2")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(who.status(), 401);
        // Someone else's token cannot be revoked through this page.
        let bob = signed_in(&app, "bob").await;
        let p = bob.submit("/settings/tokens", &revoke, &[]).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);
    }
}

fn totp_at_next_step(secret_b32: &str) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_string()).to_bytes().unwrap();
    let t = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret, None, "x".into()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    t.generate(now + 30)
}

#[tokio::test]
async fn two_factor_enrolment_and_sign_in() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let b = signed_in(&app, "alice").await;
        let p = b.submit("/settings/two-factor", "/settings/two-factor/enrol", &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let page = b.get("/settings/two-factor").await;
        let secret = page.text("[data-testid=totp-secret]");
        assert!(page.has(".qr svg"), "a QR code");
        // A wrong code is shown next to the field; enrolment waits.
        let p = b.submit("/settings/two-factor", "/settings/two-factor/confirm", &[("code", "000000")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-code-error"));
        let p = b.submit("/settings/two-factor", "/settings/two-factor/confirm", &[("code", &totp_now(&secret))]).await;
        assert_eq!(p.status, StatusCode::OK);
        let codes = p.all("[data-testid=recovery-codes] li");
        assert_eq!(codes.len(), 10);
        assert!(b.get("/settings/two-factor").await.text("[data-testid='2fa-status']").contains("left: 10"));

        // Signing in now takes a second step; the half-signed-in session sees nothing private.
        let c = Browser::new(&app);
        let p = c.sign_in("alice", "correct horse battery").await;
        assert!(p.location.as_deref().unwrap().starts_with("/login/two-factor"));
        assert_eq!(c.get("/settings/profile").await.status, StatusCode::SEE_OTHER);
        let p = c.submit("/login/two-factor", "/login/two-factor", &[("code", "123456"), ("next", "/")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("[role=alert]"));
        // A code already used (at enrolment) is not accepted twice; the next one is.
        let code = totp_at_next_step(&secret);
        let p =
            c.submit("/login/two-factor", "/login/two-factor", &[("code", &code), ("next", "/settings/profile")]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "code accepted");
        assert_eq!(p.location.as_deref(), Some("/settings/profile"));
        assert_eq!(c.get("/settings/profile").await.status, StatusCode::OK);

        // A recovery code works once.
        let d = Browser::new(&app);
        d.sign_in("alice", "correct horse battery").await;
        let p = d.submit("/login/two-factor", "/login/two-factor", &[("code", &codes[0]), ("next", "/")]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let e = Browser::new(&app);
        e.sign_in("alice", "correct horse battery").await;
        let p = e.submit("/login/two-factor", "/login/two-factor", &[("code", &codes[0]), ("next", "/")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "a recovery code is used once");

        // Turning it off takes a valid code.
        let p = d.submit("/settings/two-factor", "/settings/two-factor/disable", &[("code", "999999")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        let p = d.submit("/settings/two-factor", "/settings/two-factor/disable", &[("code", &codes[1])]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let f = Browser::new(&app);
        assert_eq!(f.sign_in("alice", "correct horse battery").await.location.as_deref(), Some("/"));
    }
}

#[tokio::test]
async fn profile_and_password() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let b = signed_in(&app, "alice").await;
        let bob = signed_in(&app, "bob").await;
        let p = b
            .submit(
                "/settings/profile",
                "/settings/profile",
                &[("full_name", "Alice A."), ("email", "bob@example.com")],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.text("#f-email-error").contains("already in use"));
        assert_eq!(p.attr("#f-full_name", "value"), "Alice A.");
        let p = b
            .submit(
                "/settings/profile",
                "/settings/profile",
                &[("full_name", "Alice A."), ("email", "alice@new.example")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(b.get("/settings/profile").await.attr("#f-email", "value"), "alice@new.example");

        let other = Browser::new(&app);
        other.sign_in("alice", "correct horse battery").await;
        let p = b
            .submit(
                "/settings/profile",
                "/settings/password",
                &[("current", "wrong"), ("new", "a new password"), ("confirm", "a new password")],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-current-error"));
        let p = b
            .submit(
                "/settings/profile",
                "/settings/password",
                &[("current", "correct horse battery"), ("new", "a new password"), ("confirm", "a new password")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        // This session goes on; the other one ended; the new password works.
        assert_eq!(b.get("/settings/profile").await.status, StatusCode::OK);
        assert_eq!(other.get("/settings/profile").await.status, StatusCode::SEE_OTHER);
        let third = Browser::new(&app);
        assert_eq!(third.sign_in("alice", "a new password").await.status, StatusCode::SEE_OTHER);

        // "Sign out every other browser": this one stays, the others end, other users' are untouched.
        let p = b.submit("/settings/profile", "/settings/sessions/sign-out-others", &[]).await;
        assert_eq!(p.location.as_deref(), Some("/settings/profile?done=sessions"));
        let p = b.get("/settings/profile?done=sessions").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.text("[role=status]").contains("Every other browser was signed out"));
        assert_eq!(third.get("/settings/profile").await.status, StatusCode::SEE_OTHER);
        assert_eq!(bob.get("/settings/profile").await.status, StatusCode::OK);
    }
}

// ---- repositories -----------------------------------------------------------------------------------

const CARD: &str = "---\nlicense: mit\ntags:\n- vision\n---\n# Tiny model\n\nSee [the config](config.json).\n\n<script>alert(1)</script>\n<img src=x onerror=alert(2)>\n";

#[tokio::test]
async fn repository_pages() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let token = api_token(&app, "alice").await;
        create_repo(&app, &token, "tiny", "model", false).await;
        create_repo(&app, &token, "hidden", "model", true).await;
        commit(
            &app,
            &token,
            "alice/tiny",
            &[("README.md", CARD.as_bytes()), ("config.json", b"{\"layers\": 2}\n")],
            "first",
        )
        .await;
        commit(
            &app,
            &token,
            "alice/tiny",
            &[("config.json", b"{\"layers\": 3}\n"), ("weights.bin", &[0u8, 1, 2, 255])],
            "second",
        )
        .await;
        let anon = Browser::new(&app);

        // The card: rendered Markdown, metadata as tags, no script from the card, the snippets.
        let p = anon.get("/alice/tiny").await;
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(p.text("[data-testid=card] h1"), "Tiny model");
        assert_eq!(p.all("[data-testid=tags] li"), ["vision", "license:mit"]);
        assert!(!p.has("[data-testid=card] script"));
        // Even if markup slipped through, the page allows only this site's own scripts.
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!p.html.html().contains("onerror"));
        assert_eq!(p.attr("[data-testid=card] a[href$='config.json']", "href"), "/alice/tiny/blob/main/config.json");
        assert!(p.text("[data-testid=snippet-python]").contains("snapshot_download(\"alice/tiny\")"));
        assert!(p.text("[data-testid=snippet-git]").starts_with("git clone http://"));

        // Files and versions.
        let p = anon.get("/alice/tiny/tree/main").await;
        let names = p.all("[data-testid=files] td.name a");
        for expected in ["README.md", "config.json", "weights.bin"] {
            assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
        }
        assert!(p.text("[data-testid=latest-commit]").contains("second"));
        let p = anon.get("/alice/tiny/blob/main/config.json").await;
        assert_eq!(p.text("[data-testid=file-size]"), "14 Bytes");
        assert!(p.has("[data-testid=preview] span"), "highlighted");
        assert!(p.text("[data-testid=preview]").contains("\"layers\": 3"));
        let p = anon.get("/alice/tiny/blob/main/weights.bin").await;
        assert!(p.has("[data-testid=lfs-badge]"), "binary files go to LFS");
        let download = p.attr("[data-testid=download]", "href");
        let bytes = anon.client.get(format!("{}{download}", app.base)).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(&bytes[..], &[0u8, 1, 2, 255]);
        // An older revision by commit id, and the history with the diff of a text file.
        let p = anon.get("/alice/tiny/commits/main").await;
        let rows = p.all("[data-testid=commits] tbody tr");
        assert_eq!(rows.len(), 3, "two commits and the initial one: {rows:?}");
        let first = p.attr("[data-testid=commits] tbody tr:nth-child(2) a", "href");
        let id = first.rsplit('/').next().unwrap().to_string();
        let p = anon.get(&format!("/alice/tiny/blob/{id}/config.json")).await;
        assert!(p.text("[data-testid=preview]").contains("\"layers\": 2"));
        let p = anon.get(&p.attr("[data-testid=ref-picker] a", "href")).await;
        assert_eq!(p.status, StatusCode::OK);
        let refs = anon.get("/alice/tiny/refs").await;
        assert_eq!(refs.all("[data-testid=branches] li"), ["main"]);
        let newest =
            anon.get("/alice/tiny/commits/main").await.attr("[data-testid=commits] tbody tr:first-child a", "href");
        let p = anon.get(&newest).await;
        let diff = p.text("[data-testid=diff-file][data-path='config.json']");
        assert!(diff.contains("-{\"layers\": 2}") && diff.contains("+{\"layers\": 3}"), "{diff}");

        // A missing file or revision, a bad path: pages, not 500s.
        assert_eq!(anon.get("/alice/tiny/blob/main/nope.txt").await.status, StatusCode::NOT_FOUND);
        assert_eq!(anon.get("/alice/tiny/tree/nope").await.status, StatusCode::NOT_FOUND);
        assert_eq!(anon.get("/alice/tiny/blob/main/a/../../x").await.status.as_u16() / 100, 4);

        // The private one: 404 for others (page and download), listed only for its owner.
        assert_eq!(anon.get("/alice/hidden").await.status, StatusCode::NOT_FOUND);
        assert_eq!(anon.get("/alice/hidden/resolve/main/.gitattributes").await.status, StatusCode::NOT_FOUND);
        assert_eq!(alice.get("/alice/hidden").await.status, StatusCode::OK);
        // The owner's browser downloads with its session (GET only).
        let r =
            alice.client.get(format!("{}/alice/hidden/resolve/main/.gitattributes", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(anon.get("/models").await.all("[data-testid=repo]").iter().all(|r| !r.contains("hidden")));
        assert!(alice.get("/models").await.all("[data-testid=repo]").iter().any(|r| r.contains("hidden")));
        // Search and tag filters.
        let p = anon.get("/models?search=tin").await;
        assert_eq!(p.all("[data-testid=repo] a").len(), 1);
        assert_eq!(anon.get("/models?tag=vision").await.all("[data-testid=repo] a").len(), 1);
        assert_eq!(anon.get("/models?tag=audio").await.all("[data-testid=repo] a").len(), 0);
        assert_eq!(anon.get("/models?author=bob").await.all("[data-testid=repo] a").len(), 0);
    }
}

#[tokio::test]
async fn api_writes_never_accept_a_session_cookie() {
    let app = start(Backend::Sqlite, SignupMode::Open).await;
    let alice = signed_in(&app, "alice").await;
    let r = alice
        .client
        .post(format!("{}/api/repos/create", app.base))
        .json(&json!({"name": "via-cookie", "type": "model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a cookie is not a credential for API writes");
    let who = alice.client.get(format!("{}/api/whoami-v2", app.base)).send().await.unwrap();
    assert_eq!(who.status(), 200, "but reads act as the signed-in user");
}

#[tokio::test]
async fn creating_and_managing_repositories() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let bob = signed_in(&app, "bob").await;
        // Bad input stays in the form with its error.
        let p = alice
            .submit(
                "/new",
                "/new",
                &[("owner", "alice"), ("name", "bad name!"), ("type", "model"), ("visibility", "public")],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-name-error"));
        assert_eq!(p.attr("#f-name", "value"), "bad name!");
        let p = alice
            .submit("/new", "/new", &[("owner", "bob"), ("name", "x"), ("type", "model"), ("visibility", "public")])
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "not in someone else's namespace");
        let p = alice
            .submit(
                "/new",
                "/new",
                &[("owner", "alice"), ("name", "data"), ("type", "dataset"), ("visibility", "private")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location.as_deref(), Some("/datasets/alice/data"));
        assert_eq!(bob.get("/datasets/alice/data").await.status, StatusCode::NOT_FOUND);

        // Settings: only for its admins.
        let s = alice.get("/datasets/alice/data/settings").await;
        assert_eq!(s.text("[data-testid=visibility]"), "private");
        let p = alice
            .submit(
                "/datasets/alice/data/settings",
                "/datasets/alice/data/settings/visibility",
                &[("visibility", "public")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(bob.get("/datasets/alice/data").await.status, StatusCode::OK);
        assert_eq!(bob.get("/datasets/alice/data/settings").await.status, StatusCode::FORBIDDEN);
        let csrf = bob.get("/").await.csrf();
        let p = bob
            .post("/datasets/alice/data/settings/delete", &[("csrf", csrf.as_str()), ("confirm", "alice/data")])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);

        // Rename, then delete only after typing the name.
        let p = alice
            .submit(
                "/datasets/alice/data/settings",
                "/datasets/alice/data/settings/move",
                &[("new_id", "alice/corpus")],
            )
            .await;
        assert_eq!(p.location.as_deref(), Some("/datasets/alice/corpus/settings"));
        let p = alice
            .submit(
                "/datasets/alice/corpus/settings",
                "/datasets/alice/corpus/settings/delete",
                &[("confirm", "alice/wrong")],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-confirm-error"));
        assert_eq!(alice.get("/datasets/alice/corpus").await.status, StatusCode::OK);
        let p = alice
            .submit(
                "/datasets/alice/corpus/settings",
                "/datasets/alice/corpus/settings/delete",
                &[("confirm", "alice/corpus")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(alice.get("/datasets/alice/corpus").await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn organizations_and_members() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let bob = signed_in(&app, "bob").await;
        let p =
            alice.submit("/organizations/new", "/organizations/new", &[("name", "settings"), ("full_name", "")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "reserved name");
        assert!(p.has("#f-name-error"));
        let p =
            alice.submit("/organizations/new", "/organizations/new", &[("name", "acme"), ("full_name", "Acme")]).await;
        assert_eq!(p.location.as_deref(), Some("/acme"));
        let members = "/organizations/acme/members";
        let p = alice.submit(members, members, &[("user", "nobody"), ("role", "read")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-user-error"));
        let p = alice.submit(members, members, &[("user", "bob"), ("role", "read")]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let p = alice.get(members).await;
        assert_eq!(p.attr("[data-member=bob] option[selected]", "value"), "read");
        // A reading member may see the organization but not manage it.
        assert_eq!(bob.get(members).await.status, StatusCode::FORBIDDEN);
        assert!(bob.get("/acme").await.all("[data-testid=members] li").iter().any(|m| m.contains("bob")));
        let p = alice.submit(members, members, &[("user", "bob"), ("role", "admin")]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(bob.get(members).await.status, StatusCode::OK);
        let role = gatehouse_store::AccountStore::account_by_name(&app.hub.store, "acme").await.unwrap().unwrap();
        let list = gatehouse_core::accounts::members(&app.hub, &role).await.unwrap();
        assert!(list.iter().any(|(a, r)| a.name == "bob" && *r == OrgRole::Admin));
        // bob creates a repository in the organization from the page.
        let p = bob
            .submit(
                "/new",
                "/new",
                &[("owner", "acme"), ("name", "shared"), ("type", "model"), ("visibility", "private")],
            )
            .await;
        assert_eq!(p.location.as_deref(), Some("/acme/shared"));
    }
}

/// Behind https (`public_url`), every cookie the pages set is `Secure`.
#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let http = gatehouse_http::HttpConfig { public_url: Some("https://hub.example".into()), ..Default::default() };
    let accounts = AccountsConfig { signup: SignupMode::Open, ..Default::default() };
    let app = TestApp::start_custom(
        Backend::Sqlite,
        TestOptions { http, accounts, app: gatehouse_web::app, ..Default::default() },
    )
    .await;
    let _ = signed_in(&app, "alice").await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let first = client.get(app.url("/login")).send().await.unwrap();
    let anon: Vec<String> =
        first.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let anon_cookie = anon.iter().find(|c| c.starts_with("gh_anon=")).expect("an anonymous cookie");
    assert!(anon_cookie.contains("Secure"), "{anon_cookie}");
    let pair = anon_cookie.split(';').next().unwrap().to_string();
    let csrf = Page {
        status: first.status(),
        location: None,
        headers: Default::default(),
        body: String::new(),
        html: scraper::Html::parse_document(&first.text().await.unwrap()),
    }
    .csrf();
    let resp = client
        .post(app.url("/login"))
        .header("cookie", pair)
        .header("origin", "https://hub.example")
        .header("host", "hub.example")
        .form(&[("csrf", csrf.as_str()), ("login", "alice"), ("password", "correct horse battery")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let session = session_cookie(&resp);
    assert!(session.contains("Secure") && session.contains("HttpOnly"), "{session}");
}

/// The `Set-Cookie` value that starts a session.
fn session_cookie(resp: &reqwest::Response) -> String {
    let cookies = resp.headers().get_all("set-cookie");
    cookies.iter().map(|v| v.to_str().unwrap().to_string()).find(|c| c.starts_with("gh_session=")).unwrap()
}
