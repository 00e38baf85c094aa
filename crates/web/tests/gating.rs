//! Gated repositories in the pages, on both databases: the request form built from the card, the answers
//! checked on the server, the owners' settings and review, and what each user sees afterwards.

mod support;

use gatehouse_core::sessions::SignupMode;
use gatehouse_testkit::BACKENDS;
use reqwest::StatusCode;
use serde_json::json;
use support::*;

const CARD: &str = "---\nextra_gated_heading: Acknowledge the license\nextra_gated_prompt: Be nice.\nextra_gated_button_content: Acknowledge license\nextra_gated_fields:\n  Company: text\n  Country: country\n  Start: date_picker\n  Use:\n    type: select\n    options:\n      - Research\n      - label: Other\n        value: other\n  I agree: checkbox\n---\n# Gated model\n";

#[tokio::test]
async fn request_review_and_revoke_in_the_browser() {
    for backend in BACKENDS {
        let app = start(backend, SignupMode::Open).await;
        let alice = signed_in(&app, "alice").await;
        let bob = signed_in(&app, "bob").await;
        let _carol = signed_in(&app, "carol").await;
        let token = api_token(&app, "alice").await;
        create_repo(&app, &token, "g", "model", false).await;
        commit(&app, &token, "alice/g", &[("README.md", CARD.as_bytes()), ("weights.txt", b"w")], "card").await;

        // The owner turns access requests on, with a bad notifications address first.
        let settings = "/alice/g/settings";
        let bad = [("mode", "manual"), ("notifications_mode", "daily"), ("notifications_email", "not-an-email")];
        let p = alice.submit(settings, "/alice/g/settings/gating", &bad).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-notifications_email-error"));
        assert_eq!(p.attr("#f-notifications_email", "value"), "not-an-email");
        let good = [("mode", "manual"), ("notifications_mode", "daily"), ("notifications_email", "")];
        assert_eq!(alice.submit(settings, "/alice/g/settings/gating", &good).await.status, StatusCode::SEE_OTHER);
        let p = alice.get(settings).await;
        assert_eq!(p.attr("input[name=mode][checked]", "value"), "manual");
        assert_eq!(p.attr("#f-notifications_mode option[selected]", "value"), "daily");

        // Anonymous visitors are asked to sign in; the card itself stays readable.
        let anon = Browser::new(&app);
        let p = anon.get("/alice/g").await;
        assert_eq!(p.text("[data-testid=gate] h2"), "Acknowledge the license");
        assert!(p.attr("[data-testid=gate] a.button", "href").starts_with("/login?next="));
        assert_eq!(p.text("[data-testid=card] h1"), "Gated model");

        // bob sees the form the card describes, labelled, with the countries and options to choose from.
        let p = bob.get("/alice/g").await;
        assert_eq!(p.text("[data-testid=gate-prompt]"), "Be nice.");
        assert_eq!(p.text("[data-testid=gate-form] button"), "Acknowledge license");
        let labels = p.all("[data-testid=gate-form] label");
        assert_eq!(labels, ["Company", "Country", "Start", "Use", "I agree"]);
        assert_eq!(p.attr("#f-gate-2", "type"), "date");
        assert!(p.all("#f-gate-1 option").len() > 200, "every country");
        assert_eq!(p.all("#f-gate-3 option").len(), 3, "choose, and the two options");
        assert!(p.text("[data-testid=gate-form] .hint").contains("username and email address"));
        assert_eq!(bob.get("/alice/g/blob/main/weights.txt").await.status, StatusCode::FORBIDDEN);

        // Incomplete answers come back with an error per field and what was typed.
        let wrong = [("field-0", "Bobco"), ("field-1", "XX"), ("field-2", "2023-02-30"), ("field-3", "")];
        let p = bob.submit("/alice/g", "/alice/g/ask-access", &wrong).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        for id in ["f-gate-1", "f-gate-2", "f-gate-3", "f-gate-4"] {
            assert!(p.has(&format!("#{id}-error")), "{id}");
        }
        assert!(!p.has("#f-gate-0-error"));
        assert_eq!(p.attr("#f-gate-0", "value"), "Bobco");
        let right = [
            ("field-0", "Bobco"),
            ("field-1", "NL"),
            ("field-2", "2024-02-29"),
            ("field-3", "other"),
            ("field-4", "on"),
        ];
        assert_eq!(bob.submit("/alice/g", "/alice/g/ask-access", &right).await.status, StatusCode::SEE_OTHER);
        let p = bob.get("/alice/g").await;
        assert_eq!(p.attr("[data-testid=gate]", "data-standing"), "pending");
        assert!(!p.has("[data-testid=gate-form]"));

        // The owner reviews: bob is pending, with his answers.
        let review = "/alice/g/settings/access-requests";
        assert_eq!(bob.get(review).await.status, StatusCode::FORBIDDEN);
        let p = alice.get(review).await;
        let row = p.text("[data-testid=pending] tr[data-user=bob]");
        assert!(row.contains("Company: Bobco") && row.contains("Country: NL") && row.contains("I agree: yes"), "{row}");
        // The settings page carries the same lists in its "Review access requests" dialog; a decision
        // made there comes back to the settings page with the dialog open.
        let p = alice.get(settings).await;
        assert_eq!(p.attr("[data-testid=review-link]", "data-dialog"), "review-requests");
        assert!(p.text("dialog#review-requests [data-testid=pending] tr[data-user=bob]").contains("Company: Bobco"));
        let p =
            alice.submit(settings, review, &[("user", "bob"), ("decision", "accepted"), ("back", "settings")]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location.as_deref(), Some("/alice/g/settings#review-requests"));
        assert_eq!(bob.get("/alice/g").await.attr("[data-testid=gate]", "data-standing"), "access");
        let r = bob.client.get(format!("{}/alice/g/resolve/main/weights.txt", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "the browser downloads with its session");

        // Rejecting (revoking) with a reason: bob sees the seeds' message and the reason, and no form.
        let p = alice
            .submit(review, review, &[("user", "bob"), ("decision", "rejected"), ("reason", "Students only")])
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        let p = bob.get("/alice/g").await;
        let msg = p.text("[data-testid=gate-rejected]");
        assert!(msg.starts_with("Your request to access this repo has been rejected by the repo's authors."), "{msg}");
        assert!(msg.contains("Students only"));
        assert!(!p.has("[data-testid=gate-form]"));
        let again = bob.submit("/alice/g", "/alice/g/ask-access", &right).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN);

        // Add access: the search offers users by the start of their name (to reviewers only).
        let p = alice.get("/alice/g/settings/access-requests/users?user=CA").await;
        assert_eq!(p.all("option").len(), 1, "{} {}", p.status, p.html.html());
        assert_eq!(p.attr("option", "value"), "carol");
        assert_eq!(bob.get("/alice/g/settings/access-requests/users?user=ca").await.status, StatusCode::FORBIDDEN);
        assert!(
            alice.get("/alice/g/settings/access-requests/users?user=%25").await.all("option").is_empty(),
            "% is literal"
        );
        // An unknown user is an error next to the field; carol gets access.
        let p = alice.submit(review, review, &[("user", "nobody"), ("decision", "grant")]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(p.has("#f-user-error"));
        assert_eq!(p.attr("#f-user", "value"), "nobody");
        assert_eq!(
            alice.submit(review, review, &[("user", "carol"), ("decision", "grant")]).await.status,
            StatusCode::SEE_OTHER
        );
        let p = alice.get(review).await;
        assert_eq!(p.all("[data-testid=accepted] tr[data-user]").len(), 1);
        assert_eq!(p.all("[data-testid=rejected] tr[data-user]").len(), 1);
        let log = p.all("[data-testid=gate-log] tbody tr");
        assert!(log.len() >= 4 && log[0].contains("grant"), "{log:?}");

        // The report is linked from the page and answers to the owner's browser.
        let report = p.attr("a[download]", "href");
        let r = alice.client.get(format!("{}{report}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let rows: serde_json::Value = r.json().await.unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 2);
        assert_eq!(rows[0]["user"], json!("bob"));
    }
}
