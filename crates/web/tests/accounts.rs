//! Getting into the hub and back into an account, on both databases: site administrators' invitations,
//! a password-reset link, both mailed through a real SMTP server (aiosmtpd; skipped with a message where
//! it is not installed), the pages without mail, and an administrator's way out (set a password, turn off
//! a lost second factor).

mod support;

use std::time::Duration;

use gatehouse_core::notify::MailConfig;
use gatehouse_core::sessions::{AccountsConfig, SignupMode};
use gatehouse_core::tokens::hash_secret;
use gatehouse_store::{AccountStore, WebStore};
use gatehouse_testkit::smtp::{SinkOptions, SmtpSink};
use gatehouse_testkit::{Backend, TestApp, TestOptions, BACKENDS};
use reqwest::StatusCode;
use support::{signed_in, start, totp_now, Browser};

const ORIGIN: &str = "https://hub.test";

async fn with_mail(backend: Backend, sink: &SmtpSink, signup: SignupMode) -> TestApp {
    let mail =
        MailConfig { smtp_url: Some(sink.url()), from: "Hub <hub@hub.test>".into(), public_url: Some(ORIGIN.into()) };
    let accounts = AccountsConfig { signup, ..Default::default() };
    TestApp::start_custom(backend, TestOptions { accounts, mail, app: gatehouse_web::app, ..Default::default() }).await
}

/// A site administrator, signed in in a browser of their own.
async fn site_admin(app: &TestApp, name: &str) -> Browser {
    let req = gatehouse_core::accounts::NewUserRequest {
        name,
        email: &format!("{name}@example.com"),
        full_name: Some("Ada Admin"),
        password: Some("correct horse battery"),
        site_admin: true,
    };
    gatehouse_core::accounts::create_user(&app.hub, req).await.unwrap();
    let b = Browser::new(app);
    assert_eq!(b.sign_in(name, "correct horse battery").await.status, StatusCode::SEE_OTHER);
    b
}

async fn join(b: &Browser, name: &str, code: &str) -> support::Page {
    let fields = [
        ("name", name),
        ("email", &format!("{name}@example.com")),
        ("full_name", ""),
        ("password", "long enough pw"),
        ("invitation", code),
    ];
    b.submit("/join", "/join", &fields).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_administrators_invite_people() {
    for backend in BACKENDS {
        let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
        let app = with_mail(backend, &sink, SignupMode::InviteOnly).await;
        let admin = site_admin(&app, "ada").await;
        let bob = signed_in(&app, "bob").await;

        // Only site administrators see the tab and the page.
        assert!(admin.get("/settings/profile").await.has("nav a[href='/settings/invitations']"));
        assert!(!bob.get("/settings/profile").await.has("nav a[href='/settings/invitations']"));
        assert_eq!(bob.get("/settings/invitations").await.status, StatusCode::FORBIDDEN);
        let p = bob.submit("/settings/profile", "/settings/invitations", &[("email", ""), ("days", "7")]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let p = admin.get("/settings/invitations").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.has(".empty") && p.text("main").contains("invite-only"));

        // Checked on the server, each error by its field, values kept.
        let p =
            admin.submit("/settings/invitations", "/settings/invitations", &[("email", "nope"), ("days", "7")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-email-error"));
        assert_eq!(p.attr("#f-email", "value"), "nope");
        let p = admin.submit("/settings/invitations", "/settings/invitations", &[("email", ""), ("days", "0")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-days-error"));

        // Bound to an address and mailed there; the code is shown once.
        let fields = [("email", "carol@example.com"), ("days", "7")];
        let p = admin.submit("/settings/invitations", "/settings/invitations", &fields).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.has("[data-testid=invitation-mailed]"), "{}", p.body);
        let carol_code = p.text("[data-testid=invitation-code]");
        let link = format!("{}/join?invitation={carol_code}", app.base);
        assert_eq!(p.attr("[data-testid=invitation-link]", "href"), link);
        let mails = sink.wait_for(1, Duration::from_secs(30)).await;
        assert_eq!(mails[0].header("To"), Some("carol@example.com"));
        let text = mails[0].text();
        assert!(text.contains(&format!("{ORIGIN}/join?invitation={carol_code}\n")), "{text}");
        assert!(text.contains("Ada Admin"));
        // For anyone with the code: nothing to mail.
        let p = admin.submit("/settings/invitations", "/settings/invitations", &[("email", ""), ("days", "3")]).await;
        assert!(!p.has("[data-testid=invitation-mailed]"));
        let open_code = p.text("[data-testid=invitation-code]");
        let rows = p.all("[data-testid=invitations] tbody tr");
        assert_eq!(rows.len(), 2);
        assert_eq!(p.all("[data-testid=invitations] td.state"), ["pending", "pending"]);

        // Carol joins with hers; the list says so, and a used invitation cannot be withdrawn.
        let visitor = Browser::new(&app);
        assert_eq!(join(&visitor, "carol", &carol_code).await.status, StatusCode::SEE_OTHER);
        let p = admin.get("/settings/invitations").await;
        assert!(p.all("[data-testid=invitations] td.state").contains(&"used by carol".to_string()));
        let ids = p.attrs("[data-testid=invitations] tbody tr", "data-invitation-id");
        let withdraw = p.attrs("[data-testid=invitations] form", "action");
        assert_eq!(withdraw.len(), 1, "only the unused one can be withdrawn");
        let used_id = ids.iter().find(|id| !withdraw[0].contains(&format!("/{id}/"))).unwrap().clone();

        // Withdrawing the other: its code no longer works.
        let p = admin.submit("/settings/invitations", &withdraw[0], &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(admin.get("/settings/invitations").await.all("[data-testid=invitations] tbody tr").len(), 1);
        let p = join(&visitor, "dave", &open_code).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert_eq!(admin.submit("/settings/invitations", &withdraw[0], &[]).await.status, StatusCode::NOT_FOUND);
        let used = format!("/settings/invitations/{used_id}/revoke");
        assert_eq!(admin.submit("/settings/invitations", &used, &[]).await.status, StatusCode::NOT_FOUND);
        assert_eq!(bob.submit("/settings/profile", &used, &[]).await.status, StatusCode::FORBIDDEN);
    }
}

/// The link's secret, from the mail's `https://hub.test/login/reset/<token>` line.
fn token_in(body: &str) -> String {
    let prefix = format!("{ORIGIN}/login/reset/");
    let line = body.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no link in {body}"));
    line[prefix.len()..].trim().to_string()
}

async fn ask_for_link(b: &Browser, login: &str) -> support::Page {
    // The token comes from the sign-in page: without mail, the reset page has no form.
    b.submit("/login", "/login/forgot", &[("login", login)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_by_mail_sets_a_new_password_once() {
    for backend in BACKENDS {
        let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
        let app = with_mail(backend, &sink, SignupMode::Open).await;
        let old_session = signed_in(&app, "alice").await;
        let alice = gatehouse_core::accounts::user_by_name(&app.hub, "alice").await.unwrap();
        let b = Browser::new(&app);
        assert!(b.get("/login").await.has("a[data-testid=forgot][href='/login/forgot']"));

        // The same answer whether or not the account exists; only the real one gets mail.
        let p = ask_for_link(&b, "nobody-here").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.has("[data-testid=reset-sent]"));
        let p = ask_for_link(&b, "Alice@Example.com").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.has("[data-testid=reset-sent]"));
        let empty = ask_for_link(&b, " ").await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        assert!(empty.has("#f-login-error"));

        let mails = sink.wait_for(1, Duration::from_secs(30)).await;
        assert_eq!(mails.len(), 1, "one mail, for alice only");
        let mail = &mails[0];
        assert_eq!(mail.header("To"), Some("alice@example.com"));
        assert_eq!(mail.header("Subject"), Some("Reset your Gatehouse password"));
        let token = token_in(&mail.text());
        // Only the hash is kept: the secret itself finds nothing.
        assert_eq!(app.hub.store.password_reset_user(&token, 0).await.unwrap(), None);
        assert_eq!(app.hub.store.password_reset_user(&hash_secret(&token), 0).await.unwrap(), Some(alice.id));

        let link = format!("/login/reset/{token}");
        let p = b.get(&link).await;
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(p.headers.get("cache-control").unwrap(), "no-store");
        assert!(p.has("#f-new") && p.has("#f-confirm"));
        // Checked on the server, each error by its field.
        let p = b.submit(&link, &link, &[("new", "short"), ("confirm", "short")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-new-error"));
        let p = b.submit(&link, &link, &[("new", "a new long password"), ("confirm", "a different one")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-confirm-error"));

        let p = b.submit(&link, &link, &[("new", "a new long password"), ("confirm", "a new long password")]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location.as_deref(), Some("/login?reset=1&login=alice"));
        let p = b.get("/login?reset=1&login=alice").await;
        assert!(p.text("[role=status]").contains("password is set"));
        assert_eq!(p.attr("#f-login", "value"), "alice");

        // Signed out everywhere; the old password no longer works, the new one does.
        let p = old_session.get("/settings/profile").await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "the old session has ended");
        assert_eq!(b.sign_in("alice", "correct horse battery").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(b.sign_in("alice", "a new long password").await.status, StatusCode::SEE_OTHER);

        // The link works once.
        let other = Browser::new(&app);
        let p = other.get(&link).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert!(p.has("[data-testid=reset-invalid]") && p.has("a[href='/login/forgot']"));
        let p = other.submit("/login", &link, &[("new", "yet another pw"), ("confirm", "yet another pw")]).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert_eq!(other.sign_in("alice", "yet another pw").await.status, StatusCode::UNAUTHORIZED);

        // At most three links an hour reach one user, however often they are asked for.
        for _ in 0..4 {
            assert_eq!(ask_for_link(&other, "alice").await.status, StatusCode::OK);
        }
        assert_eq!(app.hub.store.password_resets_since(alice.id, 0).await.unwrap(), 3);
        assert_eq!(sink.wait_for(3, Duration::from_secs(30)).await.len(), 3);
    }
}

#[tokio::test]
async fn without_mail_the_pages_say_to_ask_an_administrator() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        signed_in(&app, "alice").await;
        let b = Browser::new(&app);
        assert!(!b.get("/login").await.has("[data-testid=forgot]"));
        let p = b.get("/login/forgot").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.has("[data-testid=reset-unavailable]") && !p.has("form[action='/login/forgot']"));
        let p = ask_for_link(&b, "alice").await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("[data-testid=reset-unavailable]"));
        let alice = gatehouse_core::accounts::user_by_name(&app.hub, "alice").await.unwrap();
        assert_eq!(app.hub.store.password_resets_since(alice.id, 0).await.unwrap(), 0);
        let p = b.get("/login/reset/not-a-link").await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert!(p.has("[data-testid=reset-invalid]"));
    }
}

/// What `gatehouse user set-password` and `gatehouse user disable-two-factor` do.
#[tokio::test]
async fn an_administrator_sets_a_password_and_turns_off_a_lost_second_factor() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let b = signed_in(&app, "alice").await;
        let p = b.submit("/settings/two-factor", "/settings/two-factor/enrol", &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let secret = b.get("/settings/two-factor").await.text("[data-testid=totp-secret]");
        let p = b.submit("/settings/two-factor", "/settings/two-factor/confirm", &[("code", &totp_now(&secret))]).await;
        assert_eq!(p.status, StatusCode::OK);
        let alice = gatehouse_core::accounts::user_by_name(&app.hub, "alice").await.unwrap();
        assert!(gatehouse_core::two_factor::is_enabled(&app.hub, alice.id).await.unwrap());

        // A password set by an administrator ends the user's sessions; the second factor is still asked.
        gatehouse_core::password_reset::set_password(&app.hub, "alice", "set by the admin").await.unwrap();
        assert_eq!(b.get("/settings/profile").await.status, StatusCode::SEE_OTHER);
        let fresh = Browser::new(&app);
        let p = fresh.sign_in("alice", "set by the admin").await;
        assert!(p.location.as_deref().unwrap().starts_with("/login/two-factor"), "{:?}", p.location);
        let short = gatehouse_core::password_reset::set_password(&app.hub, "alice", "short").await;
        assert!(short.is_err(), "the password rules hold for administrators too");
        assert!(gatehouse_core::password_reset::set_password(&app.hub, "nobody", "long enough pw").await.is_err());

        // Turning the lost factor off: the next sign-in needs only the password.
        assert!(gatehouse_core::two_factor::disable_by_admin(&app.hub, alice.id).await.unwrap());
        assert!(!gatehouse_core::two_factor::disable_by_admin(&app.hub, alice.id).await.unwrap());
        let p = Browser::new(&app).sign_in("alice", "set by the admin").await;
        assert_eq!(p.location.as_deref(), Some("/"));
        assert_eq!(app.hub.store.account_by_name("alice").await.unwrap().map(|a| a.id), Some(alice.id));
    }
}
