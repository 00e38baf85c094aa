//! What the page tests share: a small browser (cookies, forms, pages parsed as HTML) and the world it
//! browses (the whole application in-process, users with passwords, repositories made through the API).
#![allow(dead_code)]

use base64::Engine;
use gatehouse_core::sessions::{AccountsConfig, SignupMode};
use gatehouse_testkit::{Backend, TestApp, TestOptions};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::json;

// ---- a small browser: cookies, forms, pages parsed as HTML -------------------------------------------

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    /// The raw HTML, for checks that parsing would hide (escaping).
    pub body: String,
    pub html: Html,
}

impl Page {
    pub fn all(&self, css: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap();
        self.html.select(&sel).map(|e| e.text().collect::<String>().trim().to_string()).collect()
    }
    pub fn text(&self, css: &str) -> String {
        self.all(css).into_iter().next().unwrap_or_else(|| panic!("no element matches {css}"))
    }
    pub fn has(&self, css: &str) -> bool {
        !self.all(css).is_empty()
    }
    pub fn attr(&self, css: &str, attr: &str) -> String {
        let sel = Selector::parse(css).unwrap();
        let el = self.html.select(&sel).next().unwrap_or_else(|| panic!("no element matches {css}"));
        el.value().attr(attr).unwrap_or_else(|| panic!("{css} has no {attr}")).to_string()
    }
    pub fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap();
        self.html.select(&sel).filter_map(|e| e.value().attr(attr).map(str::to_string)).collect()
    }
    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        self.attr("input[name=csrf]", "value")
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        let client =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, base: app.base.clone() }
    }

    pub async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status();
        let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        Page { status, location, headers, html: Html::parse_document(&body), body }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(self.client.get(format!("{}{path}", self.base)).header("accept", "text/html").send().await.unwrap())
            .await
    }

    /// Posts a form as a browser would (with an `Origin` of this site).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
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

    /// Fetches `form_page`, then posts `fields` with its CSRF token to `action`.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> Page {
        self.submit("/login", "/login", &[("login", login), ("password", password), ("next", "/")]).await
    }
}

pub async fn start(backend: Backend, signup: SignupMode) -> TestApp {
    let accounts = AccountsConfig { signup, ..Default::default() };
    TestApp::start_custom(backend, TestOptions { accounts, app: gatehouse_web::app, ..Default::default() }).await
}

/// A user with a password, signed in in a browser of their own.
pub async fn signed_in(app: &TestApp, name: &str) -> Browser {
    let req = gatehouse_core::accounts::NewUserRequest {
        name,
        email: &format!("{name}@example.com"),
        full_name: None,
        password: Some("correct horse battery"),
        site_admin: false,
    };
    gatehouse_core::accounts::create_user(&app.hub, req).await.unwrap();
    let b = Browser::new(app);
    let p = b.sign_in(name, "correct horse battery").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "sign-in of {name}");
    b
}

pub async fn api_token(app: &TestApp, user: &str) -> String {
    app.token(user, gatehouse_authz::TokenRole::Write).await
}

pub async fn create_repo(app: &TestApp, token: &str, name: &str, kind: &str, private: bool) {
    let body = json!({"name": name, "type": kind, "private": private});
    let r = app.client.post(app.url("/api/repos/create")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "create {name}");
}

/// Commits text files through the API, as huggingface_hub does.
pub async fn commit(app: &TestApp, token: &str, repo: &str, files: &[(&str, &[u8])], summary: &str) {
    let ops: Vec<serde_json::Value> = files
        .iter()
        .map(|(path, content)| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(content);
            json!({"key": "file", "value": {"path": path, "content": b64, "encoding": "base64"}})
        })
        .collect();
    let r = app.commit(token, &format!("models/{repo}"), summary, &ops).await;
    assert_eq!(r.status(), 200, "commit to {repo}: {}", r.text().await.unwrap());
}

/// The current code of an authenticator app holding `secret_b32`.
pub fn totp_now(secret_b32: &str) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_string()).to_bytes().unwrap();
    let t = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret, None, "x".into()).unwrap();
    t.generate_current().unwrap()
}
