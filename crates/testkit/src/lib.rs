//! Test support shared by the crates' integration tests: a database on either backend, and the whole
//! application served in-process on a free port with users and tokens made through the domain.

use gatehouse_authz::{OrgRole, TokenRole};
use gatehouse_core::accounts::{self, NewUserRequest};
use gatehouse_core::{Hub, HubConfig};
use gatehouse_http::HttpConfig;
use gatehouse_store::Store;
use sqlx::{AnyConnection, Connection, Executor};
use std::sync::Arc;

pub mod smtp;
pub mod xet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database of the test's own: a SQLite file in `dir`, or a fresh PostgreSQL database that is dropped
/// when this is dropped (even when the test panicked). An unreachable PostgreSQL fails the test.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG.to_string())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, String::new()), |(b, q)| (b, format!("?{q}")));
    let start = base.find("://").map_or(0, |i| i + 3);
    let prefix = base[start..].find('/').map_or(base, |slash| &base[..start + slash]);
    format!("{prefix}/{db}{query}")
}

impl TestDb {
    pub async fn new(backend: Backend, dir: &std::path::Path) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb { url: format!("sqlite://{}", dir.join("meta.db").display()), pg_name: None },
            Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let admin = admin_url();
                let mut conn = AnyConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is unreachable ({e}); PostgreSQL tests must run")
                });
                let name = format!("gh_{}", uuid::Uuid::new_v4().simple());
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
                let _ = conn.close().await;
                TestDb { url: with_database(&admin, &name), pg_name: Some(name) }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop may run inside a runtime: do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut conn) = AnyConnection::connect(&admin_url()).await {
                    let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// How to build the application under test: the API alone by default; the web crate's tests pass
/// `gatehouse_web::app` (the testkit cannot depend on the crates it tests).
pub struct TestOptions {
    pub http: HttpConfig,
    pub accounts: gatehouse_core::sessions::AccountsConfig,
    /// Mail is off by default; the mailer is not started either way (tests run `notify::run_mailer`).
    pub mail: gatehouse_core::notify::MailConfig,
    pub app: fn(Arc<Hub>, HttpConfig) -> axum::Router,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            http: HttpConfig::default(),
            accounts: Default::default(),
            mail: Default::default(),
            app: gatehouse_http::router,
        }
    }
}

/// The application on a free local port.
pub struct TestApp {
    pub base: String,
    pub hub: Arc<Hub>,
    pub client: reqwest::Client,
    pub backend: Backend,
    server: tokio::task::JoinHandle<()>,
    // Dropped last: the data directory and the database.
    _db: TestDb,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, HttpConfig::default()).await
    }

    pub async fn start_with(backend: Backend, http: HttpConfig) -> TestApp {
        Self::start_custom(backend, TestOptions { http, ..Default::default() }).await
    }

    pub async fn start_custom(backend: Backend, opts: TestOptions) -> TestApp {
        let TestOptions { http, accounts, mail, app } = opts;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::new(backend, dir.path()).await;
        let store = Store::connect(&db.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let git = gatehouse_git::GitStore::new(dir.path().join("repos"));
        let blobs = gatehouse_blob::BlobStore::local(&dir.path().join("blobs")).expect("blobs");
        let config = HubConfig {
            data_dir: dir.path().to_path_buf(),
            signing_key: b"test-signing-key".to_vec(),
            xet: Default::default(),
            accounts,
            mail,
        };
        let hub = Hub::new(config, store, git, blobs);
        let app = app(hub.clone(), http).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestApp { base, hub, client: reqwest::Client::new(), backend, server, _db: db, dir }
    }

    /// The database this app runs on (for a second `Hub` on it, as another server process would be).
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One API call with an optional bearer token and JSON body: the status, the `X-Error-Code` (or ""),
    /// and the body as JSON (Null when it is not JSON).
    pub async fn call(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, String, serde_json::Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let code = resp.headers().get("x-error-code").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = resp.text().await.expect("body");
        (status, code, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// A commit to `main` as huggingface_hub sends it: NDJSON, a header with `summary`, then `ops` (e.g.
    /// `{"key": "file", …}` or `{"key": "lfsFile", …}`). `repo` is `models/alice/x` or `datasets/alice/x`.
    pub async fn commit(&self, token: &str, repo: &str, summary: &str, ops: &[serde_json::Value]) -> reqwest::Response {
        let mut body =
            serde_json::json!({"key": "header", "value": {"summary": summary, "description": ""}}).to_string();
        for op in ops {
            body.push('\n');
            body.push_str(&op.to_string());
        }
        body.push('\n');
        self.client
            .post(self.url(&format!("/api/{repo}/commit/main")))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("commit request")
    }

    /// A user with a write token, returned.
    pub async fn user(&self, name: &str) -> String {
        let req = NewUserRequest {
            name,
            email: &format!("{name}@example.com"),
            full_name: None,
            password: None,
            site_admin: false,
        };
        accounts::create_user(&self.hub, req).await.expect("create user");
        self.token(name, TokenRole::Write).await
    }

    pub async fn token(&self, user: &str, role: TokenRole) -> String {
        let account = accounts::user_by_name(&self.hub, user).await.expect("user");
        gatehouse_core::tokens::create_token(&self.hub, account.id, "test", role).await.expect("token").1
    }

    pub async fn org(&self, name: &str, admin: &str) {
        accounts::create_org(&self.hub, name, None, admin).await.expect("create org");
    }

    pub async fn member(&self, org: &str, user: &str, role: OrgRole) {
        accounts::set_member_role(&self.hub, &accounts::operator(), org, user, role).await.expect("member");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}
