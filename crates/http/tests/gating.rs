//! Gated repositories over HTTP, in-process on both databases: the gate's settings, enforcement on every
//! content route, requests through the form, the owners' review, the report, pagination and the log.

use gatehouse_authz::{OrgRole, TokenRole};
use gatehouse_store::{Gate, GatingStore};
use gatehouse_testkit::{TestApp, BACKENDS};
use reqwest::StatusCode;
use serde_json::{json, Value};

const CARD: &str =
    "---\nextra_gated_fields:\n  Company: text\n  Date: date_picker\n  I agree: checkbox\n---\n# Gated\n";

struct World {
    app: TestApp,
    alice: String,
    bob: String,
    carol: String,
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

async fn world(backend: gatehouse_testkit::Backend, kind: &str, mode: &str) -> World {
    let app = TestApp::start(backend).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let (s, _, _) =
        call(&app, Some(&alice), reqwest::Method::POST, "/api/repos/create", Some(json!({"name": "g", "type": kind})))
            .await;
    assert_eq!(s, 200);
    let file = |path: &str, content: &[u8]| {
        use base64::Engine;
        json!({"key": "file", "value": {"path": path, "content": base64::engine::general_purpose::STANDARD.encode(content), "encoding": "base64"}})
    };
    let ops = [file("README.md", CARD.as_bytes()), file("weights.txt", b"secret weights")];
    let r = app.commit(&alice, &format!("{kind}s/alice/g"), "files", &ops).await;
    assert_eq!(r.status(), 200);
    let (s, _, _) = call(
        &app,
        Some(&alice),
        reqwest::Method::PUT,
        &format!("/api/{kind}s/alice/g/settings"),
        Some(json!({"gated": mode})),
    )
    .await;
    assert_eq!(s, 200);
    World { app, alice, bob, carol }
}

fn resolve(kind: &str) -> String {
    let prefix = if kind == "dataset" { "/datasets" } else { "" };
    format!("{prefix}/alice/g/resolve/main/weights.txt")
}

const ANSWERS: &str = r#"{"fields": {"Company": "Bobco", "Date": "2024-05-01", "I agree": true}}"#;

fn answers() -> Value {
    serde_json::from_str(ANSWERS).unwrap()
}

#[tokio::test]
async fn settings_round_trip_and_bad_values_change_nothing() {
    for backend in BACKENDS {
        let w = world(backend, "model", "manual").await;
        let put = |body: Value| {
            call(&w.app, Some(&w.alice), reqwest::Method::PUT, "/api/models/alice/g/settings", Some(body))
        };
        let (s, _, _) =
            put(json!({"gatedNotificationsMode": "daily", "gatedNotificationsEmail": "gate@example.com"})).await;
        assert_eq!(s, 200);
        let repo = w.app.hub.repo_by_name(gatehouse_types::RepoType::Model, "alice", "g").await.unwrap().unwrap();
        assert_eq!(repo.own_gate.notifications_mode, gatehouse_types::NotificationsMode::Daily);
        assert_eq!(repo.own_gate.notifications_email.as_deref(), Some("gate@example.com"));
        for bad in [
            json!({"gated": "sometimes"}),
            json!({"gated": true}),
            json!({"gatedNotificationsMode": "weekly"}),
            json!({"gated": false, "gatedNotificationsEmail": "not an email"}),
            json!({"gated": false, "private": "yes"}),
        ] {
            let (s, code, _) = put(bad.clone()).await;
            assert_eq!(s, 400, "{bad}");
            assert!(!code.is_empty());
        }
        let (_, _, info) = call(&w.app, Some(&w.alice), reqwest::Method::GET, "/api/models/alice/g", None).await;
        assert_eq!(info["gated"], "manual", "nothing changed");
        // Only those who manage the repository change its gate.
        let (s, _, _) = call(
            &w.app,
            Some(&w.bob),
            reqwest::Method::PUT,
            "/api/models/alice/g/settings",
            Some(json!({"gated": false})),
        )
        .await;
        assert_eq!(s, 403);
        let events = w.app.hub.store.gate_events(Gate::Repo(repo.id), 10).await.unwrap();
        assert!(events.iter().any(|e| e.action == "settings" && e.actor_name == "alice"), "{events:?}");
    }
}

#[tokio::test]
async fn requests_reviews_and_enforcement() {
    for backend in BACKENDS {
        for kind in ["model", "dataset"] {
            let w = world(backend, kind, "manual").await;
            let (app, alice, bob) = (&w.app, w.alice.as_str(), w.bob.as_str());
            let api = |rest: &str| format!("/api/{kind}s/alice/g/{rest}");
            use reqwest::Method as M;

            // Not yet: 401 anonymous, 403 signed in, both GatedRepo; the card stays readable.
            let (s, code, _) = call(app, None, M::GET, &resolve(kind), None).await;
            assert_eq!((s.as_u16(), code.as_str()), (401, "GatedRepo"));
            let (s, code, _) = call(app, Some(bob), M::GET, &resolve(kind), None).await;
            assert_eq!((s.as_u16(), code.as_str()), (403, "GatedRepo"));
            let card = resolve(kind).replace("weights.txt", "README.md");
            assert_eq!(call(app, Some(bob), M::GET, &card, None).await.0, 200);
            // The LFS batch API is gated alike.
            let prefix = if kind == "dataset" { "/datasets" } else { "" };
            let batch = json!({"operation": "download", "transfers": ["basic"], "objects": [{"oid": "0".repeat(64), "size": 1}]});
            let (s, code, _) =
                call(app, Some(bob), M::POST, &format!("{prefix}/alice/g.git/info/lfs/objects/batch"), Some(batch))
                    .await;
            assert_eq!((s.as_u16(), code.as_str()), (403, "GatedRepo"));

            // Requests: signed in only; the form is checked; then pending.
            assert_eq!(call(app, None, M::POST, &api("user-access-request"), Some(answers())).await.0, 401);
            let (s, _, _) = call(
                app,
                Some(bob),
                M::POST,
                &api("user-access-request"),
                Some(json!({"fields": {"Company": "Bobco"}})),
            )
            .await;
            assert_eq!(s, 400);
            let (s, _, body) = call(app, Some(bob), M::POST, &api("user-access-request"), Some(answers())).await;
            assert_eq!((s.as_u16(), body["status"].as_str()), (200, Some("pending")));
            let (_, _, body) = call(app, Some(bob), M::POST, &api("user-access-request"), Some(answers())).await;
            assert_eq!(body["status"], "pending", "asking again changes nothing");
            assert_eq!(call(app, Some(bob), M::GET, &resolve(kind), None).await.0, 403);

            // The owners' list, in the shape both client generations read.
            let (s, _, list) = call(app, Some(alice), M::GET, &api("user-access-request/pending"), None).await;
            assert_eq!(s, 200);
            let item = &list[0];
            assert_eq!(item["user"]["user"], "bob");
            assert_eq!(item["user"]["email"], "bob@example.com");
            assert_eq!(item["status"], "pending");
            assert_eq!(item["fields"]["I agree"], true);
            assert!(item["timestamp"].as_str().unwrap().ends_with('Z'));
            let request_id = item["requestId"].as_str().unwrap().to_string();
            // Not the requester's business, nor a stranger's.
            assert_eq!(call(app, Some(bob), M::GET, &api("user-access-request/pending"), None).await.0, 403);
            assert_eq!(call(app, Some(alice), M::GET, &api("user-access-request/everything"), None).await.0, 400);

            // Accept by request id: the files now come.
            let (s, _, _) = call(
                app,
                Some(alice),
                M::POST,
                &api("user-access-request/handle"),
                Some(json!({"requestId": request_id, "status": "accepted"})),
            )
            .await;
            assert_eq!(s, 200);
            let (s, _, _) = call(app, Some(bob), M::GET, &resolve(kind), None).await;
            assert_eq!(s, 200);
            // Deciding the same again: 404.
            let (s, _, _) = call(
                app,
                Some(alice),
                M::POST,
                &api("user-access-request/handle"),
                Some(json!({"user": "bob", "status": "accepted"})),
            )
            .await;
            assert_eq!(s, 404);

            // Revoke with a reason (at most 200 characters).
            let long = json!({"user": "bob", "status": "rejected", "rejectionReason": "x".repeat(201)});
            assert_eq!(call(app, Some(alice), M::POST, &api("user-access-request/handle"), Some(long)).await.0, 400);
            let reject = json!({"user": "bob", "status": "rejected", "rejectionReason": "No commercial use"});
            assert_eq!(call(app, Some(alice), M::POST, &api("user-access-request/handle"), Some(reject)).await.0, 200);
            let (s, code, _) = call(app, Some(bob), M::GET, &resolve(kind), None).await;
            assert_eq!((s.as_u16(), code.as_str()), (403, "GatedRepo"), "revoked at once");
            let resp = app
                .client
                .post(app.url(&api("user-access-request")))
                .bearer_auth(bob)
                .json(&answers())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403);
            let msg = resp.headers()["x-error-message"].to_str().unwrap().to_string();
            assert!(msg.contains("rejected by the repo's authors") && msg.contains("No commercial use"), "{msg}");

            // Grant: unknown user 404, already accepted 400, read token 403.
            let grant = |user: &str| json!({"user": user});
            assert_eq!(
                call(app, Some(alice), M::POST, &api("user-access-request/grant"), Some(grant("nobody"))).await.0,
                404
            );
            let (s, _, body) =
                call(app, Some(alice), M::POST, &api("user-access-request/grant"), Some(grant("carol"))).await;
            assert_eq!((s.as_u16(), body["status"].as_str()), (200, Some("accepted")));
            assert_eq!(call(app, Some(&w.carol), M::GET, &resolve(kind), None).await.0, 200);
            assert_eq!(
                call(app, Some(alice), M::POST, &api("user-access-request/grant"), Some(grant("carol"))).await.0,
                400
            );
            let read = app.token("alice", TokenRole::Read).await;
            assert_eq!(
                call(app, Some(&read), M::POST, &api("user-access-request/grant"), Some(grant("bob"))).await.0,
                403
            );

            // The report.
            let (s, _, report) = call(app, Some(alice), M::GET, &api("user-access-report"), None).await;
            assert_eq!(s, 200);
            let rows: Vec<(String, String)> = report
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["user"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
                .collect();
            assert_eq!(rows, [("bob".into(), "rejected".into()), ("carol".into(), "accepted".into())]);
            // carol was granted access without asking: she shared no contact details.
            assert_eq!(report[0]["email"], "bob@example.com");
            assert!(report[1]["email"].is_null(), "{report}");
            let (_, _, accepted) = call(app, Some(alice), M::GET, &api("user-access-request/accepted"), None).await;
            assert_eq!(accepted[0]["user"]["user"], "carol");
            assert!(accepted[0]["user"]["email"].is_null());
            assert!(report[0]["time"].as_str().unwrap().ends_with('Z') && report[0]["fullname"].is_string());

            // Every decision is in the log, with who and what.
            let repo = app
                .hub
                .repo_by_name(gatehouse_types::RepoType::parse(kind).unwrap(), "alice", "g")
                .await
                .unwrap()
                .unwrap();
            let actions: Vec<String> = app
                .hub
                .store
                .gate_events(Gate::Repo(repo.id), 100)
                .await
                .unwrap()
                .into_iter()
                .rev()
                .map(|e| e.action)
                .collect();
            assert_eq!(actions, ["settings", "request", "accept", "reject", "grant"], "{kind}");
        }
    }
}

#[tokio::test]
async fn automatic_approval_writers_and_pagination() {
    for backend in BACKENDS {
        let w = world(backend, "model", "auto").await;
        let app = &w.app;
        use reqwest::Method as M;
        let (_, _, body) =
            call(app, Some(&w.bob), M::POST, "/api/models/alice/g/user-access-request", Some(answers())).await;
        assert_eq!(body["status"], "accepted");
        assert_eq!(call(app, Some(&w.bob), M::GET, &resolve("model"), None).await.0, 200);
        // A repository that is not gated has no requests.
        let (s, _, _) =
            call(app, Some(&w.alice), M::PUT, "/api/models/alice/g/settings", Some(json!({"gated": false}))).await;
        assert_eq!(s, 200);
        assert_eq!(
            call(app, Some(&w.bob), M::POST, "/api/models/alice/g/user-access-request", Some(answers())).await.0,
            400
        );
        assert_eq!(
            call(app, Some(&w.alice), M::GET, "/api/models/alice/g/user-access-request/accepted", None).await.0,
            400
        );
        let (s, _, _) =
            call(app, Some(&w.alice), M::PUT, "/api/models/alice/g/settings", Some(json!({"gated": "auto"}))).await;
        assert_eq!(s, 200);
        // Writers of an organization's repository are never gated.
        app.org("acme", "alice").await;
        app.member("acme", "carol", OrgRole::Write).await;
        let (s, _, _) = call(
            app,
            Some(&w.alice),
            M::POST,
            "/api/repos/move",
            Some(json!({"fromRepo": "alice/g", "toRepo": "acme/g", "type": "model"})),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(call(app, Some(&w.carol), M::GET, "/acme/g/resolve/main/weights.txt", None).await.0, 200);
        // Pages of the owners' lists carry an absolute Link.
        for i in 0..3 {
            let name = format!("user{i}");
            let token = app.user(&name).await;
            let (_, _, body) =
                call(app, Some(&token), M::POST, "/api/models/acme/g/user-access-request", Some(answers())).await;
            assert_eq!(body["status"], "accepted");
        }
        let resp = app
            .client
            .get(app.url("/api/models/acme/g/user-access-request/accepted?limit=2"))
            .bearer_auth(&w.alice)
            .send()
            .await
            .unwrap();
        let link = resp.headers()["link"].to_str().unwrap().to_string();
        assert!(link.starts_with(&format!("<{}/api/models/acme/g/user-access-request/accepted?", app.base)), "{link}");
        assert_eq!(resp.json::<Value>().await.unwrap().as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn daily_digest_once_per_gate_and_day() {
    use gatehouse_store::NotificationStore;
    for backend in BACKENDS {
        let w = world(backend, "model", "manual").await;
        let app = &w.app;
        use reqwest::Method as M;
        let (s, _, _) = call(
            app,
            Some(&w.alice),
            M::PUT,
            "/api/models/alice/g/settings",
            Some(json!({"gatedNotificationsMode": "daily"})),
        )
        .await;
        assert_eq!(s, 200);
        let alice = gatehouse_core::accounts::user_by_name(&app.hub, "alice").await.unwrap();
        for who in [&w.bob, &w.carol] {
            let (_, _, body) =
                call(app, Some(who), M::POST, "/api/models/alice/g/user-access-request", Some(answers())).await;
            assert_eq!(body["status"], "pending");
        }
        // Daily mode: nothing at once.
        assert!(app.hub.store.notifications_of_user(alice.id, 10).await.unwrap().is_empty());
        // Today's digest is sent tomorrow, once, however often the job runs.
        let tomorrow = gatehouse_core::time::now_millis() + 86_400_000;
        assert_eq!(gatehouse_core::gating::digest::send_daily_digests(&app.hub, tomorrow).await.unwrap(), 1);
        assert_eq!(gatehouse_core::gating::digest::send_daily_digests(&app.hub, tomorrow).await.unwrap(), 0);
        let got = app.hub.store.notifications_of_user(alice.id, 10).await.unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].subject.starts_with("2 new access request(s) for model alice/g"), "{}", got[0].subject);
        assert!(got[0].body.contains("bob") && got[0].body.contains("carol"));
        assert_eq!(got[0].email.as_deref(), Some("alice@example.com"));
        // Real-time mode: one notification per new pending request, to the owner.
        let (s, _, _) = call(
            app,
            Some(&w.alice),
            M::PUT,
            "/api/models/alice/g/settings",
            Some(json!({"gatedNotificationsMode": "real-time"})),
        )
        .await;
        assert_eq!(s, 200);
        let dave = app.user("dave").await;
        call(app, Some(&dave), M::POST, "/api/models/alice/g/user-access-request", Some(answers())).await;
        let got = app.hub.store.notifications_of_user(alice.id, 10).await.unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().any(|n| n.subject == "New access request for model alice/g" && n.body.contains("dave")));
        // Decisions are told to the requester.
        call(
            app,
            Some(&w.alice),
            M::POST,
            "/api/models/alice/g/user-access-request/handle",
            Some(json!({"user": "dave", "status": "rejected", "rejectionReason": "No"})),
        )
        .await;
        let dave_id = gatehouse_core::accounts::user_by_name(&app.hub, "dave").await.unwrap().id;
        let told = app.hub.store.notifications_of_user(dave_id, 10).await.unwrap();
        assert_eq!(told.len(), 1);
        assert!(told[0].subject.contains("was rejected") && told[0].body.contains("Reason: No"));
    }
}

/// The owners' real-time mail, the daily digest and the requester's decision mail, read back from a real
/// SMTP server (aiosmtpd).
#[tokio::test]
async fn gating_mail_through_a_real_smtp_server() {
    use gatehouse_testkit::smtp::{SinkOptions, SmtpSink};
    use reqwest::Method as M;
    use std::time::Duration;
    let Some(sink) = SmtpSink::start(SinkOptions::default()) else { return };
    let mail = gatehouse_core::notify::MailConfig {
        smtp_url: Some(sink.url()),
        from: "Gatehouse <hub@hub.test>".into(),
        public_url: Some("https://hub.test".into()),
    };
    let app = TestApp::start_custom(
        gatehouse_testkit::Backend::Sqlite,
        gatehouse_testkit::TestOptions { mail, ..Default::default() },
    )
    .await;
    let mailer = tokio::spawn(gatehouse_core::notify::run_mailer(app.hub.clone()));
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    for (name, notify) in [("rt", "real-time"), ("daily", "daily")] {
        let (s, _, _) = call(&app, Some(&alice), M::POST, "/api/repos/create", Some(json!({"name": name}))).await;
        assert_eq!(s, 200);
        let settings = json!({"gated": "manual", "gatedNotificationsMode": notify});
        assert_eq!(
            call(&app, Some(&alice), M::PUT, &format!("/api/models/alice/{name}/settings"), Some(settings)).await.0,
            200
        );
    }
    // Real-time: one mail per new pending request, to the owner's primary address.
    call(&app, Some(&bob), M::POST, "/api/models/alice/rt/user-access-request", Some(json!({"fields": {}}))).await;
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("To"), Some("alice@example.com"));
    assert_eq!(got[0].header("Subject"), Some("New access request for model alice/rt"));
    assert!(
        got[0].body.contains("bob") && got[0].body.contains("/alice/rt/settings/access-requests"),
        "{}",
        got[0].body
    );

    // Daily: nothing at once; the digest of the day, once.
    for who in [&bob, &carol] {
        call(&app, Some(who), M::POST, "/api/models/alice/daily/user-access-request", Some(json!({"fields": {}})))
            .await;
    }
    let tomorrow = gatehouse_core::time::now_millis() + 86_400_000;
    assert_eq!(gatehouse_core::gating::digest::send_daily_digests(&app.hub, tomorrow).await.unwrap(), 1);
    let got = sink.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 2, "only the digest was added");
    let digest = &got[1];
    assert!(digest.header("Subject").unwrap().starts_with("2 new access request(s) for model alice/daily"));
    assert!(digest.body.contains("bob") && digest.body.contains("carol"));

    // The requester is told of the decision, with the reason.
    let reject = json!({"user": "bob", "status": "rejected", "rejectionReason": "Students only"});
    assert_eq!(
        call(&app, Some(&alice), M::POST, "/api/models/alice/rt/user-access-request/handle", Some(reject)).await.0,
        200
    );
    let got = sink.wait_for(3, Duration::from_secs(30)).await;
    let decision = &got[2];
    assert_eq!(decision.header("To"), Some("bob@example.com"));
    assert!(decision.header("Subject").unwrap().contains("was rejected"));
    assert!(decision.body.contains("Students only"));
    // Nothing more: every mail went once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 3);
    mailer.abort();
}
