//! Notifications mailed through a real SMTP server (`gatehouse_testkit::smtp`: aiosmtpd storing into a
//! Maildir), by the mailer of `gatehouse_core::notify`: who receives what, headers, AUTH, retries after
//! refusals, a crash mid-send or between sending and recording, two server processes on one database,
//! and mail switched off. Skipped (with a message) only where python3-aiosmtpd is not installed.
//!
//! Leases and backoff are minutes long; where a test needs that time to pass, it moves the rows'
//! `mail_next_at` to now in the database instead of waiting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_authz::OrgRole;
use gatehouse_core::notify::{self, MailConfig, Mailer};
use gatehouse_core::time::now_millis;
use gatehouse_core::{Hub, HubConfig};
use gatehouse_store::{AccountStore, MailState, NewNotification, Notification, NotificationStore, Store};
use gatehouse_testkit::smtp::{Mail, SinkOptions, SmtpSink};
use gatehouse_testkit::{Backend, TestApp, TestOptions, BACKENDS};
use sqlx::{AnyConnection, Connection};

const FROM: &str = "Gatehouse <hub@hub.test>";
const DOMAIN: &str = "hub.test";

fn mail_config(sink: Option<&SmtpSink>) -> MailConfig {
    MailConfig { smtp_url: sink.map(SmtpSink::url), from: FROM.into(), public_url: Some("https://hub.test".into()) }
}

async fn app(backend: Backend, mail: MailConfig) -> TestApp {
    TestApp::start_custom(backend, TestOptions { mail, ..Default::default() }).await
}

/// Another server process on the same database and data directory.
async fn second_hub(app: &TestApp, mail: MailConfig) -> Arc<Hub> {
    let store = Store::connect(app.database_url()).await.expect("connect");
    let config = HubConfig {
        data_dir: app.dir.path().to_path_buf(),
        signing_key: b"test-signing-key".to_vec(),
        xet: Default::default(),
        accounts: Default::default(),
        mail,
    };
    let git = gatehouse_git::GitStore::new(app.dir.path().join("repos"));
    let blobs = gatehouse_blob::BlobStore::local(&app.dir.path().join("blobs")).expect("blobs");
    Hub::new(config, store, git, blobs)
}

/// A mailer task, aborted (like a killed process) when dropped.
struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn start_mailer(hub: &Arc<Hub>) -> Running {
    Running(tokio::spawn(notify::run_mailer(hub.clone())))
}

fn mail_to(key: &str, email: &str) -> NewNotification {
    NewNotification {
        user_id: None,
        email: Some(email.into()),
        subject: format!("Subject {key}"),
        body: format!("Body of {key}."),
        link: Some(format!("/alice/{key}")),
        dedupe_key: key.into(),
    }
}

/// A connection of the test's own to the app's database (waiting for SQLite's lock like the app does).
async fn raw(app: &TestApp) -> AnyConnection {
    let mut conn = AnyConnection::connect(app.database_url()).await.expect("connect");
    if app.backend == Backend::Sqlite {
        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut conn).await.expect("busy timeout");
    }
    conn
}

/// Every notification row, by dedupe key.
async fn rows(app: &TestApp) -> BTreeMap<String, Notification> {
    let mut conn = raw(app).await;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM notifications ORDER BY id").fetch_all(&mut conn).await.expect("ids");
    let _ = conn.close().await;
    let mut out = BTreeMap::new();
    for id in ids {
        let n = app.hub.store.notification(id).await.expect("get").expect("row");
        out.insert(n.dedupe_key.clone(), n);
    }
    out
}

/// Lets the leases and backoff of queued mail run out: makes it due now.
async fn time_passes(app: &TestApp) {
    let mut conn = raw(app).await;
    sqlx::query("UPDATE notifications SET mail_next_at = $1 WHERE mail_state = 'queued'")
        .bind(now_millis())
        .execute(&mut conn)
        .await
        .expect("fast-forward");
    let _ = conn.close().await;
}

fn by_message_id(mails: &[Mail]) -> BTreeMap<String, Vec<&Mail>> {
    let mut out: BTreeMap<String, Vec<&Mail>> = BTreeMap::new();
    for m in mails {
        out.entry(m.header("Message-ID").expect("Message-ID").to_string()).or_default().push(m);
    }
    out
}

/// Gives a mailer time to (wrongly) send more, then returns everything stored.
async fn settle(sink: &SmtpSink) -> Vec<Mail> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sink.messages()
}

async fn wait_state(app: &TestApp, key: &str, want: MailState) -> Notification {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = rows(app).await.remove(key).expect("row");
        if row.mail_state == want {
            return row;
        }
        assert!(Instant::now() < deadline, "{key} stayed {:?}", row.mail_state);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------------------------------------

/// The Hub's rules for who hears of access requests, each mail with its headers, sent exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_notices_reach_the_right_people_once() {
    for backend in BACKENDS {
        let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
        let app = app(backend, mail_config(Some(&sink))).await;
        let hub = &app.hub;
        for u in ["alice", "b1", "b2", "b3", "b4", "b5", "carol"] {
            app.user(u).await;
        }
        app.org("acme", "alice").await;
        for u in ["b1", "b2", "b3", "b4", "b5"] {
            app.member("acme", u, OrgRole::Admin).await;
        }
        app.member("acme", "carol", OrgRole::Write).await;
        let account = |n: &'static str| async move { hub.store.account_by_name(n).await.unwrap().unwrap() };
        let (alice, acme, b5) = (account("alice").await, account("acme").await, account("b5").await);

        // A user's gate: the user, at their primary address.
        let r = notify::gate_recipients(hub, &alice, None).await.expect("recipients");
        assert_eq!((r.user_ids(), r.emails()), (vec![alice.id], vec!["alice@example.com".to_string()]));
        let mut all =
            notify::notices(&r, "New access request for alice/llama", "bob asked.", Some("/alice/llama"), "g1");
        // An organization's gate: its first five admins by when they joined (not carol, a writer, nor b5).
        let r = notify::gate_recipients(hub, &acme, None).await.expect("recipients");
        assert_eq!(r.emails(), ["alice", "b1", "b2", "b3", "b4"].map(|u| format!("{u}@example.com")));
        assert!(!r.user_ids().contains(&b5.id));
        all.extend(notify::notices(&r, "New access request for acme/model", "dan asked.", Some("/acme/model"), "g2"));
        // With a notifications email: the mail goes there only; the admins still see it in the web UI.
        let r = notify::gate_recipients(hub, &acme, Some(" gate@acme.test ")).await.expect("recipients");
        assert_eq!(r.emails(), ["gate@acme.test"]);
        assert_eq!(r.user_ids().len(), 5);
        all.extend(notify::notices(&r, "New access request for acme/data", "eve asked.", None, "g3"));
        assert_eq!(notify::enqueue(hub, &all).await.expect("enqueue"), 12);
        assert_eq!(notify::enqueue(hub, &all).await.expect("again"), 0, "the same events write nothing new");

        let _mailer = start_mailer(hub);
        sink.wait_for(7, Duration::from_secs(30)).await;
        let mails = settle(&sink).await;
        assert_eq!(mails.len(), 7, "1 + 5 + 1 mails, each once: {mails:#?}");
        let rows = rows(&app).await;
        let by_id = by_message_id(&mails);
        for n in rows.values().filter(|n| n.email.is_some()) {
            assert_eq!(n.mail_state, MailState::Sent, "{}", n.dedupe_key);
            assert_eq!(n.mail_attempts, 1);
            let id = notify::message_id(n.id, n.created_at, DOMAIN);
            let got = by_id.get(&id).unwrap_or_else(|| panic!("no mail {id} for {}", n.dedupe_key));
            assert_eq!(got.len(), 1, "{id} arrived once");
            let m = got[0];
            assert_eq!(m.header("To"), n.email.as_deref());
            assert_eq!(m.header("X-Sink-Rcpt-To"), n.email.as_deref(), "the envelope matches");
            assert_eq!(m.header("Subject"), Some(n.subject.as_str()));
            assert_eq!(m.header("From"), Some(FROM));
            assert_eq!(m.header("X-Sink-Mail-From"), Some("hub@hub.test"));
            assert_eq!(m.header("Auto-Submitted"), Some("auto-generated"));
            assert!(m.body.contains(&n.body), "{}", m.body);
            if let Some(link) = &n.link {
                assert!(m.body.contains(&format!("https://hub.test{link}")), "{}", m.body);
            }
        }
        assert_eq!(rows.values().filter(|n| n.email.is_none()).count(), 5, "the admins' in-app rows for g3");

        // In the web UI: alice sees all three (her gate, and acme's twice as its admin); b5 nothing.
        let inbox = notify::inbox(hub, alice.id, 100).await.expect("inbox");
        assert_eq!(inbox.len(), 3);
        assert_eq!(notify::unread_count(hub, alice.id).await.expect("count"), 3);
        assert!(notify::inbox(hub, b5.id, 100).await.expect("inbox").is_empty());
        assert!(!notify::mark_read(hub, b5.id, inbox[0].id).await.expect("not theirs"));
        assert!(notify::mark_read(hub, alice.id, inbox[0].id).await.expect("read"));
        assert_eq!(notify::mark_all_read(hub, alice.id).await.expect("all"), 2);
        assert_eq!(notify::unread_count(hub, alice.id).await.expect("count"), 0);
    }
}

/// `smtp://user:password@host:port` authenticates; a wrong password is an error kept for a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_auth() {
    let creds = Some(("hub".to_string(), "s3cret pass".replace(' ', "-")));
    let Some(sink) = SmtpSink::start(SinkOptions { credentials: creds }) else { return };
    let app = app(Backend::Sqlite, mail_config(Some(&sink))).await;
    notify::enqueue(&app.hub, &[mail_to("authed", "x@example.com")]).await.expect("enqueue");
    let _mailer = start_mailer(&app.hub);
    let mails = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mails[0].header("X-Sink-Auth-User"), Some("hub"));
    wait_state(&app, "authed", MailState::Sent).await;

    let wrong = MailConfig { smtp_url: Some(sink.url().replace("s3cret-pass", "wrong")), ..mail_config(None) };
    let other = second_hub(&app, wrong).await;
    drop(_mailer);
    let _wrong_mailer = start_mailer(&other);
    notify::enqueue(&other, &[mail_to("refused", "y@example.com")]).await.expect("enqueue");
    let deadline = Instant::now() + Duration::from_secs(20);
    let row = loop {
        let row = rows(&app).await.remove("refused").expect("row");
        if row.mail_attempts > 0 {
            break row;
        }
        assert!(Instant::now() < deadline, "no attempt recorded");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(row.mail_state, MailState::Queued, "kept for a retry");
    assert!(row.mail_next_at.unwrap() > now_millis() + 20_000, "backoff: {row:?}");
    assert!(row.mail_error.as_deref().unwrap_or("").contains("535"), "{row:?}");
    assert!(!row.mail_error.unwrap().contains("wrong"), "no password in the error");
    assert_eq!(sink.messages().len(), 1);
}

/// A refused mail is retried after its backoff, and then sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_mail_is_retried() {
    let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
    let app = app(Backend::Sqlite, mail_config(Some(&sink))).await;
    sink.refuse(true);
    let _mailer = start_mailer(&app.hub);
    notify::enqueue(&app.hub, &[mail_to("retry", "r@example.com")]).await.expect("enqueue");
    sink.wait_event("REFUSED", 1, Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let row = loop {
        let row = rows(&app).await.remove("retry").expect("row");
        if row.mail_attempts == 1 {
            break row;
        }
        assert!(Instant::now() < deadline, "the failure was not recorded");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(row.mail_state, MailState::Queued);
    assert!(row.mail_error.as_deref().unwrap_or("").contains("451"), "{row:?}");
    let wait = row.mail_next_at.unwrap() - now_millis();
    assert!((25_000..=31_000).contains(&wait), "the first retry waits 30 s, not {wait} ms");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.count("REFUSED"), 1, "nothing is tried again before its time");

    sink.refuse(false);
    time_passes(&app).await;
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].header("To"), Some("r@example.com"));
    let row = wait_state(&app, "retry", MailState::Sent).await;
    assert_eq!((row.mail_attempts, row.mail_error), (2, None));
    assert_eq!(settle(&sink).await.len(), 1);
}

/// A process killed mid-send (its SMTP transaction never finished) leaves its claim; no other process
/// sends the mail while the lease holds, and once it ends each mail goes out exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_send_sends_each_mail_once() {
    for backend in BACKENDS {
        let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
        let app = app(backend, mail_config(Some(&sink))).await;
        sink.hold(true);
        let items: Vec<_> = (0..3).map(|i| mail_to(&format!("k{i}"), &format!("k{i}@example.com"))).collect();
        notify::enqueue(&app.hub, &items).await.expect("enqueue");
        let first = start_mailer(&app.hub);
        sink.wait_event("HELD", 3, Duration::from_secs(20)).await;
        drop(first); // killed, its connections cut mid-transaction
        sink.hold(false);

        let restarted = second_hub(&app, mail_config(Some(&sink))).await;
        let _second = start_mailer(&restarted);
        assert!(settle(&sink).await.is_empty(), "claimed mail waits for its lease");
        for n in rows(&app).await.values() {
            assert_eq!((n.mail_state, n.mail_attempts), (MailState::Queued, 0), "{n:?}");
        }
        time_passes(&app).await;
        sink.wait_for(3, Duration::from_secs(20)).await;
        let mails = settle(&sink).await;
        assert_eq!(mails.len(), 3, "{mails:#?}");
        let rows = rows(&app).await;
        let by_id = by_message_id(&mails);
        for n in rows.values() {
            assert_eq!((n.mail_state, n.mail_attempts), (MailState::Sent, 1));
            assert_eq!(by_id[&notify::message_id(n.id, n.created_at, DOMAIN)].len(), 1);
        }
    }
}

/// Killed after the server accepted a mail but before that was recorded: it is sent again, as the very
/// same message (Message-ID, Date, body), so the recipient's mail system can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_is_the_same_message() {
    let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
    let app = app(Backend::Sqlite, mail_config(Some(&sink))).await;
    app.hub.store.enqueue_notifications(&[mail_to("twice", "t@example.com")], now_millis()).await.expect("enqueue");
    let now = now_millis();
    let claim = app.hub.store.claim_due_mail(now, now + 500, 10).await.expect("claim").pop().expect("claimed");
    let mailer = Mailer::new(&mail_config(Some(&sink))).expect("config").expect("configured");
    mailer.deliver(&claim).await.expect("sent");
    // ... and the process dies here: nothing recorded. Another process picks it up when the lease ends.
    let _mailer = start_mailer(&app.hub);
    let mails = sink.wait_for(2, Duration::from_secs(20)).await;
    let row = wait_state(&app, "twice", MailState::Sent).await;
    assert_eq!(row.mail_attempts, 1);
    let id = notify::message_id(row.id, row.created_at, DOMAIN);
    assert_eq!(mails[0].header("Message-ID"), Some(id.as_str()));
    assert_eq!(mails[1].header("Message-ID"), Some(id.as_str()));
    assert_eq!(mails[0].header("Date"), mails[1].header("Date"));
    assert_eq!(mails[0].body, mails[1].body);
    assert_eq!(settle(&sink).await.len(), 2);
}

/// Two server processes on one database share the outbox without sending any mail twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_outbox() {
    for backend in BACKENDS {
        let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
        let app = app(backend, mail_config(Some(&sink))).await;
        let other = second_hub(&app, mail_config(Some(&sink))).await;
        let _a = start_mailer(&app.hub);
        let _b = start_mailer(&other);
        let items: Vec<_> = (0..30).map(|i| mail_to(&format!("m{i:02}"), &format!("u{i}@example.com"))).collect();
        // Queued from both processes, half each.
        notify::enqueue(&app.hub, &items[..15]).await.expect("enqueue");
        notify::enqueue(&other, &items[15..]).await.expect("enqueue");
        sink.wait_for(30, Duration::from_secs(60)).await;
        let mails = settle(&sink).await;
        assert_eq!(mails.len(), 30);
        assert_eq!(by_message_id(&mails).len(), 30, "every mail once");
        assert!(rows(&app).await.values().all(|n| n.mail_state == MailState::Sent && n.mail_attempts == 1));
    }
}

/// Without SMTP nothing is mailed and nothing is lost: the rows wait (and show in the web UI); a server
/// with mail on sends them later, except those too old to matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_waits() {
    let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
    let app = app(Backend::Sqlite, mail_config(None)).await;
    let mailer = tokio::spawn(notify::run_mailer(app.hub.clone()));
    tokio::time::timeout(Duration::from_secs(5), mailer).await.expect("returns at once").expect("no panic");

    app.user("alice").await;
    let alice = app.hub.store.account_by_name("alice").await.unwrap().unwrap();
    let r = notify::gate_recipients(&app.hub, &alice, None).await.expect("recipients");
    notify::enqueue(&app.hub, &notify::notices(&r, "Waiting", "body", None, "w")).await.expect("enqueue");
    let stale = NewNotification { user_id: Some(alice.id), ..mail_to("stale", "alice@example.com") };
    let four_days = 4 * 24 * 3_600_000;
    app.hub.store.enqueue_notifications(&[stale], now_millis() - four_days).await.expect("old");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notify::inbox(&app.hub, alice.id, 10).await.expect("inbox").len(), 2, "shown in the web UI");
    assert!(rows(&app).await.values().all(|n| n.mail_state == MailState::Queued));

    let on = second_hub(&app, mail_config(Some(&sink))).await;
    let _mailer = start_mailer(&on);
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].header("Subject"), Some("Waiting"));
    let stale = wait_state(&app, "stale", MailState::Failed).await;
    assert!(stale.mail_error.unwrap().contains("expired"));
    assert_eq!(settle(&sink).await.len(), 1);
}
