//! Process-level fault tests: the real `gatehouse` binary, killed with SIGKILL at random points of a large
//! streaming commit, stopped with SIGTERM during one, raced by concurrent committers, fed commits that fail
//! half-way, administered from the CLI while it runs, and killed while it mails notifications. Outcomes are
//! checked through the HTTP API (repo info, tree, every file downloaded and hashed), directly on disk
//! (`git fsck`, every LFS object's sha256 against its name, every LFS pointer reachable in git history
//! against the blob store), and for mail in a real SMTP server's Maildir (`gatehouse_testkit::smtp`).
//!
//! Every scenario runs on SQLite (the default: a file in the data directory) and again on PostgreSQL, in
//! a throwaway database created and dropped with `psql` (admin URL: `GATEHOUSE_TEST_PG_ADMIN_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). `GATEHOUSE_TEST_SKIP_POSTGRES=1` skips the PostgreSQL runs
//! on machines without a server; otherwise an unreachable server is a failure, not a silent skip.
//!
//! Knobs: `GATEHOUSE_FAULT_SEED` replays a run (the seed is printed), `GATEHOUSE_FAULT_ITERATIONS` sets how
//! many kill/restart rounds the SIGKILL test makes (default 10 on SQLite, 6 on PostgreSQL),
//! `GATEHOUSE_FAULT_SCALE` multiplies the size of its streamed files (default bodies: 16–48 MiB, one of
//! 128 MiB; a debug server parses ~20 MB/s, so raise it for soak runs against faster builds),
//! `GATEHOUSE_TEST_KEEP=1` keeps data dirs and databases.
//!
//! No assertion depends on timing. Every wait is bounded, so a hang fails the test instead of blocking CI;
//! when a test fails, the tail of every server log it started is printed.

use base64::Engine;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{json, Value};
use sha1::Digest as _;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Raw bytes per generated chunk of a big file: a multiple of 3, so chunks base64-encode independently.
const CHUNK_RAW: usize = 3 << 18; // 768 KiB raw, 1 MiB of base64

// ---------------------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------------------

async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs}s: {what}"),
    }
}

fn env_flag(key: &str) -> bool {
    std::env::var(key).is_ok_and(|v| v == "1" || v == "true")
}

fn seed_for(test: &str) -> u64 {
    let seed = match std::env::var("GATEHOUSE_FAULT_SEED") {
        Ok(s) if !s.is_empty() => s.parse().expect("GATEHOUSE_FAULT_SEED must be a number"),
        _ => rand::random::<u64>() >> 12,
    };
    println!("[{test}] seed {seed} (replay with GATEHOUSE_FAULT_SEED={seed})");
    seed
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

fn sha256_file(path: &Path) -> (String, u64) {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    (hex::encode(h.finalize()), n)
}

/// Runs a short command to completion (bounded), returning its output whatever its status.
fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {shown}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let wait = || match rx.recv_timeout(timeout) {
        Ok(out) => out.unwrap_or_else(|e| panic!("waiting for {shown}: {e}")),
        Err(_) => {
            // SAFETY: plain kill(2) of the child we spawned (not reaped yet: its waiter has not returned).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("{shown} did not finish within {timeout:?}");
        }
    };
    // Blocking work inside the async tests: tell tokio, so its other tasks keep running.
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(wait),
        Err(_) => wait(),
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git").arg("--git-dir").arg(dir).args(args), Duration::from_secs(120));
    assert!(
        out.status.success(),
        "git {args:?} in {} failed ({}):\n{}{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git cat-file --batch…` style commands, fed on stdin.
fn git_stdin(dir: &Path, args: &[&str], input: Vec<u8>) -> Vec<u8> {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning git");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("git output");
    writer.join().expect("stdin writer");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

// ---------------------------------------------------------------------------------------------------------
// Environments: a data directory, a database, servers started on them
// ---------------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A throwaway PostgreSQL database, dropped (forcefully) when this is dropped.
struct PgDb {
    admin_url: String,
    name: String,
    url: String,
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{url}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl PgDb {
    /// None when PostgreSQL runs are switched off; panics when PostgreSQL is expected but unreachable.
    fn create(tag: &str) -> Option<PgDb> {
        if env_flag("GATEHOUSE_TEST_SKIP_POSTGRES") {
            println!("[{tag}] GATEHOUSE_TEST_SKIP_POSTGRES=1: skipping the PostgreSQL run");
            return None;
        }
        let candidates: Vec<String> = match std::env::var("GATEHOUSE_TEST_PG_ADMIN_URL") {
            Ok(u) if !u.is_empty() => vec![u],
            _ => vec![
                "postgres://postgres@127.0.0.1:5432/test".into(),
                "postgres://postgres@127.0.0.1:5432/postgres".into(),
            ],
        };
        let mut errors = Vec::new();
        for admin_url in candidates {
            if let Err(e) = psql(&admin_url, "select 1") {
                errors.push(e);
                continue;
            }
            let name = format!("gh_faults_{tag}_{}_{:08x}", std::process::id(), rand::random::<u32>());
            psql(&admin_url, &format!("CREATE DATABASE \"{name}\"")).expect("CREATE DATABASE");
            let (prefix, _) = admin_url.rsplit_once('/').expect("admin URL names a database");
            let url = format!("{prefix}/{name}");
            return Some(PgDb { admin_url, name, url });
        }
        panic!(
            "PostgreSQL is not reachable ({}); set GATEHOUSE_TEST_PG_ADMIN_URL, or GATEHOUSE_TEST_SKIP_POSTGRES=1 to skip",
            errors.join("; ")
        );
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if env_flag("GATEHOUSE_TEST_KEEP") {
            eprintln!("keeping database {}", self.url);
            return;
        }
        if let Err(e) = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)) {
            eprintln!("could not drop database {}: {e}", self.name);
        }
    }
}

struct Env {
    tag: String,
    root: Option<tempfile::TempDir>,
    data: PathBuf,
    database_url: Option<String>,
    pg: Option<PgDb>,
    logs: Mutex<Vec<PathBuf>>,
    http: reqwest::Client,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().expect("http client")
}

impl Env {
    /// None when the backend is PostgreSQL and PostgreSQL runs are switched off.
    fn new(backend: Backend, tag: &str) -> Option<Env> {
        let tag = format!("{tag}-{}", if backend == Backend::Sqlite { "sqlite" } else { "postgres" });
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDb::create(&tag.replace('-', "_"))?),
        };
        let root = tempfile::Builder::new().prefix(&format!("gh-faults-{tag}-")).tempdir().expect("tempdir");
        let data = root.path().join("data");
        Some(Env {
            database_url: pg.as_ref().map(|p| p.url.clone()),
            pg,
            data,
            root: Some(root),
            tag,
            logs: Mutex::new(Vec::new()),
            http: client(),
        })
    }

    fn root(&self) -> &Path {
        self.root.as_ref().expect("root").path()
    }

    /// The binary with a clean environment: only this test's data dir and database.
    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GATEHOUSE_") {
                c.env_remove(k);
            }
        }
        c.arg("--data-dir").arg(&self.data);
        if let Some(url) = &self.database_url {
            c.env("GATEHOUSE_DATABASE_URL", url);
        }
        c.env("GATEHOUSE_LOG", "info").env("RUST_BACKTRACE", "1");
        c
    }

    /// Runs an operator command; asserts it succeeds and returns its stdout.
    fn cli(&self, args: &[&str]) -> String {
        let out = run(self.command().args(args), Duration::from_secs(120));
        assert!(
            out.status.success(),
            "gatehouse {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates a user and a write token for them.
    fn user_with_token(&self, name: &str) -> String {
        self.cli(&["user", "create", name, "--email", &format!("{name}@example.com")]);
        let token = self.cli(&["token", "create", name, "--role", "write"]).trim().to_string();
        assert!(!token.is_empty() && !token.contains(char::is_whitespace), "token create printed {token:?}");
        token
    }

    /// Starts `gatehouse serve` on a free port and waits (bounded) for `/healthz`.
    async fn start(&self) -> Server {
        self.start_with(&[]).await
    }

    /// `start` with more environment variables (`GATEHOUSE_SMTP_URL`, …).
    async fn start_with(&self, vars: &[(&str, &str)]) -> Server {
        for attempt in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
                l.local_addr().expect("probe address").port()
            };
            let log = {
                let mut logs = self.logs.lock().unwrap();
                let p = self.root().join(format!("server-{}.log", logs.len()));
                logs.push(p.clone());
                p
            };
            let file = std::fs::File::create(&log).expect("log file");
            let child = self
                .command()
                .envs(vars.iter().copied())
                .arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("spawning gatehouse serve");
            let mut server = Server { pid: child.id(), child: Some(child), base: format!("http://127.0.0.1:{port}") };
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                if let Some(status) = server.child.as_mut().expect("child").try_wait().expect("try_wait") {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    if text.contains("binding") && attempt < 4 {
                        break; // someone took the port between our probe and the bind: try another
                    }
                    panic!("gatehouse serve exited with {status} before it was ready:\n{text}");
                }
                let probe = self.http.get(format!("{}/healthz", server.base)).timeout(Duration::from_secs(5));
                if let Ok(r) = probe.send().await {
                    if r.status() == 200 {
                        return server;
                    }
                }
                assert!(Instant::now() < deadline, "gatehouse serve was not ready within 90s (log {})", log.display());
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        unreachable!()
    }

    fn api(&self, server: &Server, token: &str) -> Api {
        Api { http: self.http.clone(), base: server.base.clone(), token: token.to_string() }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for log in self.logs.lock().map(|l| l.clone()).unwrap_or_default() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(60)..].join("\n");
                eprintln!("----- [{}] {} (last 60 lines) -----\n{tail}", self.tag, log.display());
            }
        }
        if env_flag("GATEHOUSE_TEST_KEEP") {
            if let Some(root) = self.root.take() {
                eprintln!("[{}] keeping {}", self.tag, root.keep().display());
            }
        }
        drop(self.pg.take());
    }
}

struct Server {
    child: Option<Child>,
    pid: u32,
    base: String,
}

impl Server {
    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn sigterm(&self) {
        assert!(self.child.is_some(), "server already reaped");
        // SAFETY: kill(2) on our own, not yet reaped, child.
        let rc = unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
    }

    /// Waits (bounded) for the process to exit on its own.
    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sigkill();
    }
}

// ---------------------------------------------------------------------------------------------------------
// The HTTP API
// ---------------------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RepoId {
    ns: String,
    name: String,
}

impl RepoId {
    fn new(ns: &str, name: &str) -> Self {
        RepoId { ns: ns.into(), name: name.into() }
    }
}

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ns, self.name)
    }
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    error_code: Option<String>,
    #[allow(dead_code)] // shown in failure messages (Debug)
    text: String,
    json: Value,
}

impl Reply {
    fn oid(&self) -> String {
        let oid = self.json["commitOid"].as_str().unwrap_or_else(|| panic!("no commitOid in {self:?}"));
        assert!(oid.len() == 40 && oid.bytes().all(|b| b.is_ascii_hexdigit()), "commitOid {oid:?}");
        oid.to_string()
    }
}

async fn reply(resp: reqwest::Response) -> Result<Reply, reqwest::Error> {
    let status = resp.status().as_u16();
    let error_code = resp.headers().get("x-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = resp.text().await?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply { status, error_code, text, json })
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FileDigest {
    size: u64,
    sha256: String,
}

fn digest(content: &[u8]) -> FileDigest {
    FileDigest { size: content.len() as u64, sha256: sha256_hex(content) }
}

/// A repository's files at one commit: path → size and sha256 of the content.
type Model = BTreeMap<String, FileDigest>;

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

const API_TIMEOUT: Duration = Duration::from_secs(120);

impl Api {
    fn with_token(&self, token: &str) -> Api {
        Api { token: token.to_string(), ..self.clone() }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}/{path}", self.base)).bearer_auth(&self.token).timeout(API_TIMEOUT)
    }

    async fn whoami(&self) -> Reply {
        reply(self.get("api/whoami-v2").send().await.expect("whoami")).await.expect("whoami body")
    }

    async fn try_create_repo(&self, org: Option<&str>, name: &str) -> Reply {
        let resp = self
            .http
            .post(format!("{}/api/repos/create", self.base))
            .bearer_auth(&self.token)
            .timeout(API_TIMEOUT)
            .json(&json!({"name": name, "organization": org, "type": "model"}))
            .send()
            .await
            .expect("create repo");
        reply(resp).await.expect("create repo body")
    }

    async fn create_repo(&self, ns: &str, org: Option<&str>, name: &str) -> RepoId {
        let r = self.try_create_repo(org, name).await;
        assert_eq!(r.status, 200, "creating {ns}/{name}: {r:?}");
        RepoId::new(ns, name)
    }

    async fn sha(&self, repo: &RepoId) -> String {
        let resp = self.get(&format!("api/models/{repo}")).send().await.expect("repo info");
        let r = reply(resp).await.expect("repo info body");
        assert_eq!(r.status, 200, "repo info {repo}: {r:?}");
        r.json["sha"].as_str().unwrap_or_else(|| panic!("no sha in {r:?}")).to_string()
    }

    /// Posts a commit body (anything reqwest can send); Err only for transport failures.
    async fn commit(&self, repo: &RepoId, body: impl Into<reqwest::Body>) -> Result<Reply, reqwest::Error> {
        let resp = self
            .http
            .post(format!("{}/api/models/{repo}/commit/main", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await?;
        reply(resp).await
    }

    /// A commit that must succeed; returns its id.
    async fn commit_ok(&self, repo: &RepoId, body: String) -> String {
        let r = within(120, "commit", self.commit(repo, body)).await.expect("commit transport");
        assert_eq!(r.status, 200, "commit to {repo}: {r:?}");
        r.oid()
    }

    /// Lists the tree at `rev` and downloads every file (GET and HEAD), checking the headers, the length
    /// and the content hash against what the tree says. Returns what the repository holds.
    async fn snapshot(&self, repo: &RepoId, rev: &str) -> Model {
        let resp = self.get(&format!("api/models/{repo}/tree/{rev}?recursive=true")).send().await.expect("tree");
        assert!(resp.headers().get("link").is_none(), "tree of {repo} is paginated; the test expects one page");
        let r = reply(resp).await.expect("tree body");
        assert_eq!(r.status, 200, "tree {repo}@{rev}: {r:?}");
        let mut model = Model::new();
        for item in r.json.as_array().unwrap_or_else(|| panic!("tree is not a list: {r:?}")) {
            if item["type"] != "file" {
                continue;
            }
            let path = item["path"].as_str().expect("path").to_string();
            let size = item["size"].as_u64().expect("size");
            let url = format!("{repo}/resolve/{rev}/{path}");
            let head = self.http.head(format!("{}/{url}", self.base)).bearer_auth(&self.token).timeout(API_TIMEOUT);
            let head = head.send().await.expect("HEAD resolve");
            assert_eq!(head.status(), 200, "HEAD {url}");
            let hlen = head.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
            assert_eq!(hlen, Some(size), "HEAD {url}: Content-Length vs tree size");
            let mut resp = self.get(&url).send().await.expect("GET resolve");
            assert_eq!(resp.status(), 200, "GET {url}");
            let h = resp.headers();
            if rev.len() == 40 {
                assert_eq!(h.get("x-repo-commit").and_then(|v| v.to_str().ok()), Some(rev), "X-Repo-Commit of {url}");
            }
            assert!(h.get("etag").is_some(), "no ETag on {url}");
            let mut sha256 = sha2::Sha256::new();
            let mut gitsha = sha1::Sha1::new();
            gitsha.update(format!("blob {size}\0").as_bytes());
            let mut got = 0u64;
            while let Some(chunk) = within(120, "downloading", resp.chunk()).await.expect("download") {
                sha256.update(&chunk);
                gitsha.update(&chunk);
                got += chunk.len() as u64;
            }
            assert_eq!(got, size, "{url}: downloaded {got} bytes, the tree says {size}");
            let sha256 = hex::encode(sha256.finalize());
            match item.get("lfs") {
                Some(lfs) => {
                    assert_eq!(lfs["oid"].as_str(), Some(sha256.as_str()), "{url}: content vs LFS oid");
                    assert_eq!(lfs["size"].as_u64(), Some(size), "{url}: LFS size");
                }
                None => assert_eq!(
                    item["oid"].as_str(),
                    Some(hex::encode(gitsha.finalize()).as_str()),
                    "{url}: content vs git blob id"
                ),
            }
            model.insert(path, FileDigest { size, sha256 });
        }
        model
    }

    async fn resolve_status(&self, repo: &RepoId, rev: &str, path: &str) -> (u16, Option<String>) {
        let resp = self.get(&format!("{repo}/resolve/{rev}/{path}")).send().await.expect("resolve");
        let code = resp.headers().get("x-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
        (resp.status().as_u16(), code)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Commit bodies
// ---------------------------------------------------------------------------------------------------------

fn header_line(summary: &str, parent: Option<&str>) -> String {
    let mut value = json!({"summary": summary, "description": ""});
    if let Some(p) = parent {
        value["parentCommit"] = json!(p);
    }
    format!("{}\n", json!({"key": "header", "value": value}))
}

fn file_line(path: &str, content: &[u8]) -> String {
    format!(
        "{}\n",
        json!({"key": "file", "value": {"content": B64.encode(content), "path": path, "encoding": "base64"}})
    )
}

fn delete_line(path: &str) -> String {
    format!("{}\n", json!({"key": "deletedFile", "value": {"path": path}}))
}

fn random_bytes(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// Text of about `n` bytes (stored in git when under 10 MiB).
fn text_of(tag: &str, n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n + 64);
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!("{tag} line {i}\n"));
        i += 1;
    }
    s.into_bytes()
}

/// Progress of a streamed body: bytes handed to the HTTP client so far, and whether it has all of them.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    sent: u64,
    done: bool,
    /// When the client asked for more after the last byte.
    done_at: Option<Instant>,
}

/// The random block big files are made of, and its base64.
struct Block {
    raw: Vec<u8>,
    b64: String,
}

impl Block {
    fn new(rng: &mut StdRng) -> Arc<Block> {
        let raw = random_bytes(rng, CHUNK_RAW);
        let b64 = B64.encode(&raw);
        Arc::new(Block { raw, b64 })
    }
}

/// Bytes stamped with the seed and chunk index at the start of every chunk (a multiple of 3).
const STAMP: usize = 18;

/// A commit body with one big file generated on the fly: `prefix`, then `chunks` × 1 MiB of base64 (each
/// chunk a shared random block stamped with the seed and its index, so content differs per seed and
/// costs a memcpy to make), then `suffix`. The big file's digest is published once the body is complete.
struct BigBody {
    prefix: String,
    suffix: String,
    chunks: usize,
    seed: u64,
    block: Arc<Block>,
    /// Sleep between chunks (the "slow client").
    pace: Duration,
}

impl BigBody {
    fn open_line(path: &str) -> String {
        format!("{{\"key\":\"file\",\"value\":{{\"path\":{},\"encoding\":\"base64\",\"content\":\"", json!(path))
    }

    const CLOSE_LINE: &'static str = "\"}}\n";

    fn len(&self) -> u64 {
        (self.prefix.len() + self.chunks * (CHUNK_RAW / 3 * 4) + self.suffix.len()) as u64
    }

    fn raw_size(&self) -> u64 {
        (self.chunks * CHUNK_RAW) as u64
    }

    fn stream(
        self,
        progress: tokio::sync::watch::Sender<Progress>,
        big: Arc<Mutex<Option<FileDigest>>>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        struct St {
            body: BigBody,
            step: usize,
            sent: u64,
            hasher: sha2::Sha256,
            progress: tokio::sync::watch::Sender<Progress>,
            big: Arc<Mutex<Option<FileDigest>>>,
        }
        let st = St { body: self, step: 0, sent: 0, hasher: sha2::Sha256::new(), progress, big };
        futures::stream::unfold(st, |mut st| async move {
            let n = st.body.chunks;
            let piece = if st.step == 0 {
                Bytes::from(st.body.prefix.clone())
            } else if st.step <= n {
                if !st.body.pace.is_zero() {
                    tokio::time::sleep(st.body.pace).await;
                }
                // The block with its first 18 bytes (a whole number of base64 quanta) stamped: only those
                // are hashed and encoded apart, the rest comes from the block and its encoding as is.
                let mut stamp = [0u8; STAMP];
                stamp.copy_from_slice(&st.body.block.raw[..STAMP]);
                stamp[..8].copy_from_slice(&st.body.seed.to_le_bytes());
                stamp[8..16].copy_from_slice(&(st.step as u64).to_le_bytes());
                st.hasher.update(stamp);
                st.hasher.update(&st.body.block.raw[STAMP..]);
                let mut enc = st.body.block.b64.clone().into_bytes();
                enc[..STAMP / 3 * 4].copy_from_slice(B64.encode(stamp).as_bytes());
                Bytes::from(enc)
            } else if st.step == n + 1 {
                let sha256 = hex::encode(std::mem::take(&mut st.hasher).finalize());
                *st.big.lock().unwrap() = Some(FileDigest { size: (n * CHUNK_RAW) as u64, sha256 });
                Bytes::from(st.body.suffix.clone())
            } else {
                // Asked for more after the last piece: the client has the whole body.
                st.progress.send_replace(Progress { sent: st.sent, done: true, done_at: Some(Instant::now()) });
                return None;
            };
            st.step += 1;
            st.sent += piece.len() as u64;
            st.progress.send_replace(Progress { sent: st.sent, done: false, done_at: None });
            Some((Ok(piece), st))
        })
    }
}

/// What a streamed upload ended with: the status if the response head arrived, and the reply or the error.
#[derive(Debug)]
struct Upload {
    status: Option<u16>,
    head_at: Option<Instant>,
    reply: Result<Reply, String>,
}

/// Starts a streamed commit. When `hold_after_head` is given, the task reports the response status and
/// waits for the go-ahead before reading the response body.
fn spawn_upload(
    api: &Api,
    repo: &RepoId,
    body: BigBody,
    progress: tokio::sync::watch::Sender<Progress>,
    big: Arc<Mutex<Option<FileDigest>>>,
    hold_after_head: Option<(tokio::sync::oneshot::Sender<u16>, tokio::sync::oneshot::Receiver<()>)>,
) -> tokio::task::JoinHandle<Upload> {
    let req = api
        .http
        .post(format!("{}/api/models/{repo}/commit/main", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(body.stream(progress, big)));
    tokio::spawn(async move {
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Upload { status: None, head_at: None, reply: Err(format!("{e:?}")) },
        };
        let head_at = Some(Instant::now());
        let status = resp.status().as_u16();
        if let Some((head_tx, go_rx)) = hold_after_head {
            let _ = head_tx.send(status);
            let _ = go_rx.await;
        }
        Upload { status: Some(status), head_at, reply: reply(resp).await.map_err(|e| format!("{e:?}")) }
    })
}

// ---------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------

/// A repository's last acknowledged state.
#[derive(Clone, Debug)]
struct Snapshot {
    sha: String,
    files: Model,
}

/// A commit that was in flight when the server died.
#[derive(Clone, Debug)]
struct Pending {
    summary: String,
    /// The files the repository holds if it landed (None when the body never fully left the client).
    files: Option<Model>,
    /// The server answered 200 (the response head arrived): it must have landed.
    must_land: bool,
    /// The commit id the server acknowledged, if the response body arrived too.
    oid: Option<String>,
}

/// The bare repository holding `commit` (there must be exactly one).
fn git_dir_of(data: &Path, commit: &str) -> PathBuf {
    let mut found = Vec::new();
    for dir in git_dirs(data) {
        let out = run(
            Command::new("git").arg("--git-dir").arg(&dir).args(["cat-file", "-e", &format!("{commit}^{{commit}}")]),
            Duration::from_secs(60),
        );
        if out.status.success() {
            found.push(dir);
        }
    }
    assert_eq!(found.len(), 1, "commit {commit} should be in exactly one repository: {found:?}");
    found.remove(0)
}

fn git_dirs(data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(shards) = std::fs::read_dir(data.join("repos")) else { return out };
    for shard in shards.flatten() {
        for e in std::fs::read_dir(shard.path()).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "git") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// After a restart: the repository is at its last acknowledged commit, or at the in-flight commit (whose
/// parent must be the acknowledged one) — never anywhere else; its content matches exactly the state
/// that commit stands for, file by file, downloaded and hashed. Returns the new acknowledged state.
async fn check_after_crash(
    api: &Api,
    data: &Path,
    repo: &RepoId,
    acked: &Snapshot,
    pending: Option<&Pending>,
) -> Snapshot {
    let sha = api.sha(repo).await;
    let dir = git_dir_of(data, &acked.sha);
    assert_eq!(git(&dir, &["rev-parse", "refs/heads/main"]).trim(), sha, "{repo}: API sha vs refs/heads/main");
    let files = api.snapshot(repo, &sha).await;
    if let Some(oid) = pending.and_then(|p| p.oid.as_ref()) {
        assert_eq!(&sha, oid, "{repo}: the server acknowledged {oid}, but after the restart the head is {sha}");
    }
    if sha == acked.sha {
        assert!(
            !pending.is_some_and(|p| p.must_land),
            "{repo}: the server answered 200 to {:?} but after the restart the head is still {sha}",
            pending.map(|p| &p.summary)
        );
        assert_eq!(files, acked.files, "{repo}: content at the acknowledged commit {sha} changed");
        return acked.clone();
    }
    let Some(p) = pending else {
        panic!("{repo}: after the restart the head is {sha}, but the last acknowledged commit is {} and none was in flight", acked.sha)
    };
    let Some(expected) = &p.files else {
        panic!(
            "{repo}: head moved to {sha} although the body of {:?} never fully left the client (acknowledged: {})",
            p.summary, acked.sha
        )
    };
    let log = git(&dir, &["log", "-1", "--format=%P%x00%s", &sha]);
    let (parents, subject) = log.trim_end().split_once('\0').expect("git log format");
    assert_eq!(parents, acked.sha, "{repo}: new head {sha} does not sit on the acknowledged commit");
    assert_eq!(subject, p.summary, "{repo}: new head {sha} is not the in-flight commit");
    assert_eq!(&files, expected, "{repo}: the in-flight commit landed with the wrong content");
    Snapshot { sha, files }
}

/// What the on-disk checks saw (for the log).
#[derive(Debug, Default)]
struct Storage {
    repos: usize,
    lfs_objects: usize,
    referenced: usize,
    staging_files: usize,
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// LFS pointers reachable from any ref of a bare repository: (oid, size).
fn reachable_pointers(dir: &Path) -> Vec<(String, u64)> {
    let listing = git(dir, &["rev-list", "--objects", "--all"]);
    let oids: Vec<&str> = listing.lines().filter_map(|l| l.split(' ').next()).filter(|s| !s.is_empty()).collect();
    let input = oids.join("\n").into_bytes();
    let checks = git_stdin(dir, &["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"], input);
    let small: Vec<String> = String::from_utf8_lossy(&checks)
        .lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            let (oid, kind, size) = (it.next()?, it.next()?, it.next()?.parse::<u64>().ok()?);
            (kind == "blob" && size < 1024).then(|| oid.to_string())
        })
        .collect();
    let raw = git_stdin(dir, &["cat-file", "--batch"], small.join("\n").into_bytes());
    let mut out = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').expect("batch header");
        let head = String::from_utf8_lossy(&rest[..nl]).into_owned();
        let size: usize = head.rsplit(' ').next().and_then(|s| s.parse().ok()).expect("batch size");
        let content = &rest[nl + 1..nl + 1 + size];
        rest = &rest[nl + 1 + size + 1..];
        let text = String::from_utf8_lossy(content);
        if !text.starts_with("version https://git-lfs.github.com/spec/v1\n") {
            continue;
        }
        let oid = text.lines().find_map(|l| l.strip_prefix("oid sha256:")).expect("pointer oid").to_string();
        let size =
            text.lines().find_map(|l| l.strip_prefix("size ")).and_then(|s| s.parse().ok()).expect("pointer size");
        out.push((oid, size));
    }
    out
}

/// On-disk invariants: every bare repository passes `git fsck`; every file under `blobs/lfs` is named by
/// its own sha256 (at `lfs/ab/cd/abcd…`); every LFS pointer reachable in any repository's history names an
/// object that exists with the pointer's size; no spool file survives a (re)start. `verified` caches
/// objects already hashed (content-addressed files are immutable).
fn check_storage(data: &Path, verified: &mut HashSet<(PathBuf, u64)>) -> Storage {
    let mut report = Storage::default();
    let dirs = git_dirs(data);
    report.repos = dirs.len();
    let mut pointers = BTreeSet::new();
    for dir in &dirs {
        let out = run(
            Command::new("git").arg("--git-dir").arg(dir).args(["fsck", "--no-dangling", "--no-progress"]),
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "git fsck failed on {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pointers.extend(reachable_pointers(dir));
    }
    let lfs = data.join("blobs").join("lfs");
    let mut objects = Vec::new();
    files_under(&lfs, &mut objects);
    for p in &objects {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let rel = p.strip_prefix(&lfs).unwrap_or(p).to_string_lossy().into_owned();
        assert!(gatehouse_blob_name_ok(&name), "a file under blobs/lfs is not named by a sha256: {rel}");
        assert_eq!(rel, format!("{}/{}/{name}", &name[..2], &name[2..4]), "LFS object at the wrong place");
        let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or_else(|e| panic!("{rel}: {e}"));
        if verified.contains(&(p.clone(), len)) {
            continue;
        }
        let (sha, _) = sha256_file(p);
        assert_eq!(sha, name, "LFS object {rel} holds content whose sha256 is {sha}");
        verified.insert((p.clone(), len));
    }
    report.lfs_objects = objects.len();
    report.referenced = pointers.len();
    for (oid, size) in &pointers {
        let p = lfs.join(&oid[..2]).join(&oid[2..4]).join(oid);
        let len = std::fs::metadata(&p).map(|m| m.len());
        assert_eq!(
            len.ok(),
            Some(*size),
            "a repository references LFS object {oid} ({size} bytes) that is missing or has another size"
        );
    }
    let mut staging = Vec::new();
    files_under(&data.join("blobs").join("staging"), &mut staging);
    report.staging_files = staging.len();
    for f in &staging {
        let len = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        println!("    leftover staging file {} ({len} bytes)", f.strip_prefix(data).unwrap_or(f).display());
    }
    let mut spool = Vec::new();
    files_under(&data.join("tmp"), &mut spool);
    assert!(spool.is_empty(), "spool files survived a restart: {spool:?}");
    report
}

fn gatehouse_blob_name_ok(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Stale lock files a killed process may leave in a bare repository (reported, and they would make the
/// next commit fail).
fn lock_files(data: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files_under(&data.join("repos"), &mut all);
    all.retain(|p| p.extension().is_some_and(|x| x == "lock"));
    all
}

// ---------------------------------------------------------------------------------------------------------
// 1. SIGKILL at any moment leaves every repository at its last acknowledged commit
// ---------------------------------------------------------------------------------------------------------

/// When each round kills: U during the upload, B after the body, H after the response head, R after the
/// response (a round first measures how long the server takes to answer).
const KILL_PLAN: [char; 10] = ['R', 'U', 'B', 'U', 'B', 'H', 'U', 'B', 'U', 'B'];

#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once this fraction of the body has been handed to the client.
    DuringUpload(f64),
    /// This long after the whole body was handed over (the server is parsing, publishing, committing).
    AfterBody(Duration),
    /// As soon as the response head (200) arrives, before its body is read.
    AfterHead,
    /// After the whole response was read.
    AfterResponse,
}

/// Commits to `repo` one small file at a time until a request fails (the server died); returns the last
/// acknowledged state and the commit that was in flight when it failed.
async fn side_committer(
    api: Api,
    repo: RepoId,
    start: Snapshot,
    round: usize,
    first: Arc<tokio::sync::Notify>,
) -> (Snapshot, Pending) {
    let mut acked = start;
    for n in 0.. {
        // A few paths, rewritten over and over: the tree stays small, the history grows.
        let path = format!("side/{}.txt", n % 4);
        let content = format!("side commit {n} of round {round}\n").into_bytes();
        let summary = format!("side {round}-{n}");
        let mut files = acked.files.clone();
        files.insert(path.clone(), digest(&content));
        let body = header_line(&summary, None) + &file_line(&path, &content);
        let pending = |oid: Option<String>, must_land: bool| Pending {
            summary: summary.clone(),
            files: Some(files.clone()),
            must_land,
            oid,
        };
        match api.commit(&repo, body).await {
            Ok(r) if r.status == 200 => {
                let oid = r.oid();
                acked = Snapshot { sha: oid, files: files.clone() };
                first.notify_one();
            }
            Ok(r) => panic!("side commit {summary} to {repo} failed while the server was up: {r:?}"),
            Err(e) => {
                let must_land = e.status().is_some_and(|s| s == 200);
                return (acked, pending(None, must_land));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

async fn kill9_scenario(backend: Backend) {
    let Some(env) = Env::new(backend, "kill9") else { return };
    let tag = env.tag.clone();
    let seed = seed_for(&tag);
    let mut rng = StdRng::seed_from_u64(seed);
    let default_rounds = if backend == Backend::Sqlite { 10 } else { 6 };
    let scale: f64 = std::env::var("GATEHOUSE_FAULT_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    // How long the server takes from the end of the body to its answer (measured as rounds land):
    // AfterBody kills aim inside that window.
    let mut answer_latency = Duration::from_millis(300);
    let rounds: usize =
        std::env::var("GATEHOUSE_FAULT_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default_rounds);
    let block = Block::new(&mut rng);
    let token = env.user_with_token("alice");

    let mut server = env.start().await;
    let mut api = env.api(&server, &token);
    let big_repo = api.create_repo("alice", None, "big").await;
    let side_repo = api.create_repo("alice", None, "side").await;
    let mut a = Snapshot { sha: api.sha(&big_repo).await, files: Model::new() };
    a.files = api.snapshot(&big_repo, &a.sha).await;
    let mut b = Snapshot { sha: api.sha(&side_repo).await, files: Model::new() };
    b.files = api.snapshot(&side_repo, &b.sha).await;
    // Tell the two repositories apart on disk: give each a commit of its own.
    let content = b"side repository\n".to_vec();
    b.sha = api.commit_ok(&side_repo, header_line("side start", None) + &file_line("side/README", &content)).await;
    b.files.insert("side/README".into(), digest(&content));
    let mut verified = HashSet::new();
    let mut landed = 0;
    let started = Instant::now();

    for round in 0..rounds {
        // An acknowledged commit first: it must survive whatever happens next.
        let pre_path = format!("pre/{round}.txt");
        let pre = format!("acknowledged before the kill of round {round}\n").into_bytes();
        let oid =
            api.commit_ok(&big_repo, header_line(&format!("pre {round}"), None) + &file_line(&pre_path, &pre)).await;
        a.files.insert(pre_path.clone(), digest(&pre));
        a = Snapshot { sha: oid, files: a.files.clone() };
        assert_eq!(api.sha(&big_repo).await, a.sha, "head right after an acknowledged commit");

        // Another repository takes small commits all along.
        let first_side = Arc::new(tokio::sync::Notify::new());
        let mut side =
            tokio::spawn(side_committer(api.clone(), side_repo.clone(), b.clone(), round, first_side.clone()));
        tokio::select! {
            _ = first_side.notified() => {}
            ended = &mut side => match ended {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                other => panic!("the side committer stopped before its first commit: {other:?}"),
            },
            _ = tokio::time::sleep(Duration::from_secs(120)) => panic!("timed out after 120s: first side commit"),
        }

        // The big commit: small files (git text, in-memory LFS, spooled text), a deletion, a big LFS file
        // streamed, then a spooled LFS file and more text after it.
        let summary = format!("big {round} seed {seed}");
        let readme = format!("round {round} seed {seed}\n").into_bytes();
        let tiny = random_bytes(&mut rng, 1024);
        let medium = text_of(&format!("round {round}"), 2 << 20);
        let after_txt = format!("after the big file, round {round}\n").into_bytes();
        let after_bin = random_bytes(&mut rng, 3 << 20);
        // 12–36 MiB raw (16–48 MiB of base64); one SQLite round streams 96 MiB raw (128 MiB of base64).
        // A debug build of the server parses commit bodies at about 20 MB/s (less on a busy machine),
        // which bounds what fits in the time budget; GATEHOUSE_FAULT_SCALE multiplies the sizes.
        let chunks = if round == 2 && backend == Backend::Sqlite { 128 } else { rng.gen_range(16..=48) };
        let chunks = (chunks as f64 * scale).ceil() as usize;
        let prefix = header_line(&summary, None)
            + &file_line("small/readme.txt", &readme)
            + &file_line("small/tiny.bin", &tiny)
            + &file_line("small/medium.txt", &medium)
            + &delete_line(&pre_path)
            + &BigBody::open_line("big/weights.bin");
        let suffix = BigBody::CLOSE_LINE.to_string()
            + &file_line("small/after.txt", &after_txt)
            + &file_line("small/after.safetensors", &after_bin);
        let mut expected = a.files.clone();
        expected.remove(&pre_path);
        for (p, c) in [
            ("small/readme.txt", &readme),
            ("small/tiny.bin", &tiny),
            ("small/medium.txt", &medium),
            ("small/after.txt", &after_txt),
            ("small/after.safetensors", &after_bin),
        ] {
            expected.insert(p.to_string(), digest(c));
        }
        let body = BigBody {
            prefix,
            suffix,
            chunks,
            seed: seed ^ round as u64,
            block: block.clone(),
            pace: Duration::from_millis(2),
        };
        let total = body.len();
        let raw = body.raw_size();

        let kill_at = match KILL_PLAN[round % KILL_PLAN.len()] {
            'U' => KillAt::DuringUpload(rng.gen_range(0.02..0.99)),
            'B' => {
                let window = (answer_latency.as_millis() as u64 * 5 / 4).max(20);
                KillAt::AfterBody(Duration::from_millis(rng.gen_range(0..=window)))
            }
            'H' => KillAt::AfterHead,
            _ => KillAt::AfterResponse,
        };
        let (progress_tx, mut progress) = tokio::sync::watch::channel(Progress::default());
        let big = Arc::new(Mutex::new(None));
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel();
        let hold = matches!(kill_at, KillAt::AfterHead).then_some((head_tx, go_rx));
        let t0 = Instant::now();
        let upload = spawn_upload(&api, &big_repo, body, progress_tx, big.clone(), hold);
        let mut upload = Some(upload);
        let mut finished: Option<Upload> = None;
        let mut body_done_at = None;
        match kill_at {
            KillAt::DuringUpload(f) => {
                let threshold = (total as f64 * f) as u64;
                let _ = within(300, "upload progress", progress.wait_for(|p| p.sent >= threshold || p.done)).await;
            }
            KillAt::AfterBody(delay) => {
                let _ = within(300, "upload to finish", progress.wait_for(|p| p.done)).await;
                body_done_at = Some(Instant::now());
                tokio::time::sleep(delay).await;
            }
            KillAt::AfterHead => match within(300, "response head", head_rx).await {
                Ok(status) => assert_eq!(status, 200, "big commit answered {status}"),
                Err(_) => {
                    let up = within(60, "upload", upload.take().expect("task")).await;
                    panic!("the big commit ended without a response head: {up:?}");
                }
            },
            KillAt::AfterResponse => {
                let up = within(300, "big commit", upload.take().expect("task")).await.expect("upload task");
                finished = Some(up);
            }
        }
        server.sigkill();
        let killed_at = Instant::now();
        let _ = go_tx.send(());
        let body_complete = progress.borrow().done;
        let up = match (finished, upload) {
            (Some(up), _) => up,
            (None, Some(task)) => within(120, "upload after the kill", task).await.expect("upload task"),
            (None, None) => unreachable!(),
        };
        let elapsed = killed_at - t0;
        if let Ok(r) = &up.reply {
            assert_eq!(r.status, 200, "big commit failed while the server was up: {r:?}");
        }
        let oid = up.reply.as_ref().ok().filter(|r| r.status == 200).map(Reply::oid);
        let latency = match (progress.borrow().done_at, up.head_at) {
            (Some(done), Some(head)) if head >= done => Some(head - done),
            _ => None,
        };
        if let Some(l) = latency {
            answer_latency = l;
        }
        let pending_a = Pending {
            summary: summary.clone(),
            files: body_complete.then(|| {
                let mut files = expected.clone();
                let d = big.lock().unwrap().clone().expect("big file digest once the body is complete");
                files.insert("big/weights.bin".into(), d);
                files
            }),
            must_land: up.status == Some(200),
            oid: oid.clone(),
        };
        let (b_acked, pending_b) = within(120, "side committer to stop", side).await.expect("side committer");
        let locks = lock_files(&env.data);

        // Restart on the same data directory and check everything.
        server = env.start().await;
        api = env.api(&server, &token);
        let before = a.sha.clone();
        a = check_after_crash(&api, &env.data, &big_repo, &a, Some(&pending_a)).await;
        b = check_after_crash(&api, &env.data, &side_repo, &b_acked, Some(&pending_b)).await;
        let storage = check_storage(&env.data, &mut verified);
        let outcome = if a.sha == before { "old head" } else { "new head" };
        let side_outcome = if b.sha == b_acked.sha { "old head" } else { "new head" };
        landed += usize::from(a.sha != before);
        if !locks.is_empty() {
            // The kill left a ref lock behind: both repositories must still take commits.
            for (repo, state) in [(&big_repo, &mut a), (&side_repo, &mut b)] {
                let content = format!("probe after a stale lock in round {round}\n").into_bytes();
                let body = header_line(&format!("probe {round}"), None) + &file_line("probe.txt", &content);
                let r = within(300, "probe commit", api.commit(repo, body)).await.expect("probe commit transport");
                assert_eq!(
                    r.status, 200,
                    "{repo} no longer takes commits after a restart: the SIGKILL left {locks:?} behind, which nothing \
                     removes, and libgit2 will not move a ref whose .lock file exists: {r:?}"
                );
                state.files.insert("probe.txt".into(), digest(&content));
                state.sha = r.oid();
            }
        }
        println!(
            "[{tag}] round {round}: {kill_at:?}, {} MiB raw / {} MiB body, killed {:.2}s in{} (body complete: {body_complete}, response status: {:?}, answered {:?} after the body) -> {outcome}; side repo in flight {:?} -> {}; stale locks after the kill: {locks:?}; {storage:?}",
            raw >> 20,
            total >> 20,
            elapsed.as_secs_f64(),
            body_done_at.map(|t| format!(", {} ms after the body", (killed_at - t).as_millis())).unwrap_or_default(),
            up.status,
            latency,
            pending_b.summary,
            side_outcome,
        );
    }

    // A last restart: both repositories still take commits, and SIGTERM stops the server cleanly.
    let content = b"after all the kills\n".to_vec();
    let oid = api.commit_ok(&big_repo, header_line("final", None) + &file_line("final.txt", &content)).await;
    a.files.insert("final.txt".into(), digest(&content));
    assert_eq!(api.snapshot(&big_repo, &oid).await, a.files);
    api.commit_ok(&side_repo, header_line("final", None) + &file_line("side/final.txt", &content)).await;
    check_storage(&env.data, &mut verified);
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(60)).await.expect("server did not exit within 60s of SIGTERM");
    assert!(status.success(), "server exited with {status} after SIGTERM");
    println!(
        "[{tag}] {rounds} rounds in {:.1}s; the in-flight big commit landed in {landed} of them",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_keeps_acknowledged_commits_sqlite() {
    kill9_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_keeps_acknowledged_commits_postgres() {
    kill9_scenario(Backend::Postgres).await;
}

/// What a SIGKILL during a ref update leaves behind, made deterministic: the server is killed, the branch's
/// `refs/heads/main.lock` (libgit2's lock file, holding the new id) is left in place, the server restarts.
/// The acknowledged commit must still be the head, and the branch must still take commits.
async fn stale_lock_scenario(backend: Backend) {
    let Some(env) = Env::new(backend, "stale-lock") else { return };
    let token = env.user_with_token("alice");
    let mut server = env.start().await;
    let api = env.api(&server, &token);
    let repo = api.create_repo("alice", None, "locked").await;
    let acked = api.commit_ok(&repo, header_line("acknowledged", None) + &file_line("a.txt", b"a\n")).await;
    server.sigkill();
    let dir = git_dir_of(&env.data, &acked);
    std::fs::write(dir.join("refs/heads/main.lock"), format!("{acked}\n")).expect("writing the lock file");
    // As found after a real crash: older than any live writer's lock (the server keeps fresh ones, which
    // may belong to another node).
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(dir.join("refs/heads/main.lock"))
        .and_then(|f| f.set_modified(old))
        .expect("backdating the lock");

    let server = env.start().await;
    let api = env.api(&server, &token);
    assert_eq!(api.sha(&repo).await, acked, "head after the restart");
    let r = within(
        300,
        "commit after the restart",
        api.commit(&repo, header_line("after", None) + &file_line("b.txt", b"b\n")),
    )
    .await
    .expect("commit transport");
    assert_eq!(
        r.status,
        200,
        "a ref lock left by a killed process wedges the branch for good (lock file still there: {}): {r:?}",
        dir.join("refs/heads/main.lock").exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_ref_lock_after_kill_does_not_wedge_the_branch() {
    stale_lock_scenario(Backend::Sqlite).await;
}

// ---------------------------------------------------------------------------------------------------------
// 2. SIGTERM finishes in-flight requests, exits 0, and the commit is there after a restart
// ---------------------------------------------------------------------------------------------------------

async fn sigterm_scenario(backend: Backend) {
    let Some(env) = Env::new(backend, "sigterm") else { return };
    let seed = seed_for(&env.tag);
    let mut rng = StdRng::seed_from_u64(seed);
    let token = env.user_with_token("alice");
    let mut server = env.start().await;
    let api = env.api(&server, &token);
    let repo = api.create_repo("alice", None, "graceful").await;
    let base = api.sha(&repo).await;
    let mut expected = api.snapshot(&repo, &base).await;

    // ~48 MiB of content at a modest pace (64 chunks, 40 ms apart), plus a small file after it.
    let note = b"sent after the big file\n".to_vec();
    let body = BigBody {
        prefix: header_line("graceful", Some(&base)) + &BigBody::open_line("model.safetensors"),
        suffix: BigBody::CLOSE_LINE.to_string() + &file_line("notes.txt", &note),
        chunks: 64,
        seed,
        block: Block::new(&mut rng),
        pace: Duration::from_millis(40),
    };
    let total = body.len();
    let (progress_tx, mut progress) = tokio::sync::watch::channel(Progress::default());
    let big = Arc::new(Mutex::new(None));
    let upload = spawn_upload(&api, &repo, body, progress_tx, big.clone(), None);
    let _ = within(300, "upload progress", progress.wait_for(|p| p.sent >= total / 4 || p.done)).await;
    let done_at_signal = progress.borrow().done;
    server.sigterm();
    let up = within(300, "in-flight commit during shutdown", upload).await.expect("upload task");
    let r = up.reply.unwrap_or_else(|e| {
        panic!("in-flight commit failed after SIGTERM (body complete at the signal: {done_at_signal}): {e}")
    });
    assert_eq!(r.status, 200, "in-flight commit after SIGTERM: {r:?}");
    let oid = r.oid();
    let status = server.wait_exit(Duration::from_secs(60)).await.expect("server did not exit within 60s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert_eq!(status.code(), Some(0));

    let server = env.start().await;
    let api = env.api(&server, &token);
    assert_eq!(api.sha(&repo).await, oid, "head after the restart");
    expected.insert("model.safetensors".into(), big.lock().unwrap().clone().expect("digest"));
    expected.insert("notes.txt".into(), digest(&note));
    assert_eq!(api.snapshot(&repo, &oid).await, expected);
    let storage = check_storage(&env.data, &mut HashSet::new());
    println!("[{}] SIGTERM with the body {}% sent: request answered 200, exit 0; {storage:?}", env.tag, 25);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_commit_sqlite() {
    sigterm_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_commit_postgres() {
    sigterm_scenario(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------------------
// 3. Racing commits over HTTP
// ---------------------------------------------------------------------------------------------------------

const RACERS: usize = 8;

async fn race_scenario(backend: Backend) {
    let Some(env) = Env::new(backend, "race") else { return };
    let seed = seed_for(&env.tag);
    let mut rng = StdRng::seed_from_u64(seed);
    let token = env.user_with_token("alice");
    let server = env.start().await;
    let api = env.api(&server, &token);
    let repo = api.create_repo("alice", None, "race").await;
    let base = api.sha(&repo).await;
    let mut model = api.snapshot(&repo, &base).await;
    let dir = git_dir_of(&env.data, &base);

    // Round 1: no parentCommit. Everyone gets in, nobody is lost.
    let mut bodies = Vec::new();
    for i in 0..RACERS {
        let text = text_of(&format!("racer {i}"), 256 << 10);
        let bin = random_bytes(&mut rng, 64 << 10);
        let (tp, bp) = (format!("race/free-{i}.txt"), format!("race/free-{i}.bin"));
        model.insert(tp.clone(), digest(&text));
        model.insert(bp.clone(), digest(&bin));
        bodies.push(header_line(&format!("free {i}"), None) + &file_line(&tp, &text) + &file_line(&bp, &bin));
    }
    let replies = race(&api, &repo, bodies).await;
    let mut oids = BTreeSet::new();
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.status, 200, "racer {i} without parentCommit: {r:?}");
        oids.insert(r.oid());
    }
    assert_eq!(oids.len(), RACERS, "every racer got its own commit");
    let head = api.sha(&repo).await;
    assert!(oids.contains(&head), "head {head} is one of the racers' commits");
    let history: BTreeSet<String> =
        git(&dir, &["rev-list", &format!("{base}..{head}")]).lines().map(str::to_string).collect();
    assert_eq!(history, oids, "history from the base holds exactly the {RACERS} acknowledged commits");
    assert!(git(&dir, &["rev-list", "--merges", &head]).trim().is_empty(), "history is linear");
    assert_eq!(api.snapshot(&repo, &head).await, model, "every racer's files are at the head");

    // Round 2: everyone names the same parent. Exactly one wins; the rest get 412 PreconditionFailed.
    let parent = head;
    let mut bodies = Vec::new();
    let mut contents = Vec::new();
    for i in 0..RACERS {
        let text = text_of(&format!("pinned racer {i}"), 256 << 10);
        bodies.push(
            header_line(&format!("pinned {i}"), Some(&parent)) + &file_line(&format!("race/pinned-{i}.txt"), &text),
        );
        contents.push(text);
    }
    let replies = race(&api, &repo, bodies).await;
    let winners: Vec<usize> = (0..RACERS).filter(|&i| replies[i].status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one racer with parentCommit wins: {replies:?}");
    for (i, r) in replies.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(r.status, 412, "losing racer {i}: {r:?}");
            assert_eq!(r.error_code.as_deref(), Some("PreconditionFailed"), "losing racer {i}: {r:?}");
        }
    }
    let w = winners[0];
    let head = api.sha(&repo).await;
    assert_eq!(head, replies[w].oid(), "head is the winner's commit");
    assert_eq!(git(&dir, &["rev-parse", &format!("{head}^")]).trim(), parent, "the winner sits on the named parent");
    model.insert(format!("race/pinned-{w}.txt"), digest(&contents[w]));
    assert_eq!(api.snapshot(&repo, &head).await, model, "only the winner's file was added");
    let storage = check_storage(&env.data, &mut HashSet::new());
    println!(
        "[{}] {RACERS} free racers all landed; of {RACERS} pinned racers #{w} won, the rest got 412; {storage:?}",
        env.tag
    );
}

/// Sends the bodies concurrently (each from its own connection, released together).
async fn race(api: &Api, repo: &RepoId, bodies: Vec<String>) -> Vec<Reply> {
    let gate = Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let api = Api { http: client(), ..api.clone() };
            let (repo, gate) = (repo.clone(), gate.clone());
            tokio::spawn(async move {
                gate.wait().await;
                api.commit(&repo, body).await.expect("racing commit transport")
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(within(300, "racing commit", t).await.expect("racer task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_sqlite() {
    race_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_postgres() {
    race_scenario(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------------------
// 4. A commit that fails part-way changes nothing
// ---------------------------------------------------------------------------------------------------------

async fn atomicity_scenario(backend: Backend) {
    let Some(env) = Env::new(backend, "atomic") else { return };
    let seed = seed_for(&env.tag);
    let mut rng = StdRng::seed_from_u64(seed);
    let token = env.user_with_token("alice");
    let server = env.start().await;
    let api = env.api(&server, &token);
    let repo = api.create_repo("alice", None, "atomic").await;
    let x = b"x\n".to_vec();
    let y = b"y\n".to_vec();
    let head =
        api.commit_ok(&repo, header_line("base", None) + &file_line("x.txt", &x) + &file_line("dir/y.txt", &y)).await;
    let model = api.snapshot(&repo, &head).await;

    // Earlier operations of each failing commit: git text, an in-memory LFS file, a spooled (2 MiB) LFS
    // file, a spooled text file and a nested path.
    let big_bin = random_bytes(&mut rng, 2 << 20);
    let earlier = file_line("new/a.txt", b"a\n")
        + &file_line("new/b.bin", &random_bytes(&mut rng, 4096))
        + &file_line("new/c.safetensors", &big_bin)
        + &file_line("new/d.txt", &text_of("d", 3 << 20))
        + &file_line("x.txt", b"overwritten\n")
        + &delete_line("dir/y.txt");
    let new_paths = ["new/a.txt", "new/b.bin", "new/c.safetensors", "new/d.txt"];
    let unknown_oid = sha256_hex(b"never uploaded anywhere");
    // (what, commit body, acceptable (status, error code) answers)
    type Case<'a> = (&'a str, String, &'a [(u16, &'a str)]);
    let cases: Vec<Case> = vec![
        ("delete of a missing file", delete_line("does-not-exist"), &[(404, "EntryNotFound")]),
        (
            "delete of a missing folder",
            format!("{}\n", json!({"key":"deletedFolder","value":{"path":"nope/"}})),
            &[(404, "EntryNotFound")],
        ),
        (
            "deletedFolder on a file",
            format!("{}\n", json!({"key":"deletedFolder","value":{"path":"x.txt/"}})),
            &[(404, "EntryNotFound")],
        ),
        ("a file below a file", file_line("x.txt/inner.txt", b"i\n"), &[(400, "BadRequest")]),
        (
            "invalid base64",
            "{\"key\":\"file\",\"value\":{\"path\":\"z.txt\",\"content\":\"%%%\"}}\n".into(),
            &[(400, "BadRequest")],
        ),
        ("truncated last line", "{\"key\":\"file\",\"value\":{\"path\":\"z.txt\",\"con".into(), &[(400, "BadRequest")]),
        ("not JSON", "this is not json\n".into(), &[(400, "BadRequest")]),
        ("unknown key", format!("{}\n", json!({"key":"copy","value":{"path":"z"}})), &[(400, "BadRequest")]),
        ("path escaping the repo", file_line("../escape.txt", b"e"), &[(400, "BadRequest"), (422, "Unprocessable")]),
        (
            "lfsFile never uploaded",
            format!(
                "{}\n",
                json!({"key":"lfsFile","value":{"path":"z.bin","algo":"sha256","oid": unknown_oid,"size": 5}})
            ),
            &[(400, "BadRequest")],
        ),
    ];
    for (what, last, allowed) in &cases {
        let body = header_line(&format!("fails: {what}"), None) + &earlier + last;
        let r = within(120, what, api.commit(&repo, body)).await.expect("commit transport");
        let got = (r.status, r.error_code.as_deref().unwrap_or("-"));
        assert!(allowed.contains(&got), "{what}: expected one of {allowed:?}, got {r:?}");
        assert_unchanged(&api, &repo, &head, &model, &new_paths, what).await;
    }

    // A stale parentCommit: 412, nothing changes.
    let stale = "0123456789abcdef0123456789abcdef01234567";
    let r = api.commit(&repo, header_line("stale parent", Some(stale)) + &earlier).await.expect("commit");
    assert_eq!((r.status, r.error_code.as_deref()), (412, Some("PreconditionFailed")), "stale parent: {r:?}");
    assert_unchanged(&api, &repo, &head, &model, &new_paths, "stale parent").await;

    // A client that gives up half-way through a big body: nothing changes, the spool is cleaned up.
    let (progress_tx, mut progress) = tokio::sync::watch::channel(Progress::default());
    let body = BigBody {
        prefix: header_line("abandoned", None) + &earlier + &BigBody::open_line("abandoned.bin"),
        suffix: BigBody::CLOSE_LINE.to_string(),
        chunks: 48,
        seed,
        block: Block::new(&mut rng),
        pace: Duration::from_millis(20),
    };
    let total = body.len();
    let upload = spawn_upload(&api, &repo, body, progress_tx, Arc::new(Mutex::new(None)), None);
    let _ = within(300, "upload progress", progress.wait_for(|p| p.sent >= total / 2 || p.done)).await;
    assert!(!progress.borrow().done, "the abandoned body was sent whole");
    upload.abort();
    let _ = upload.await;
    let spool = env.data.join("tmp");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut left = Vec::new();
        files_under(&spool, &mut left);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "spool files of an abandoned upload were not removed within 60s: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_unchanged(&api, &repo, &head, &model, &new_paths, "abandoned upload").await;

    // The repository still takes commits, and nothing on disk is broken.
    let oid = api.commit_ok(&repo, header_line("works", None) + &earlier).await;
    assert_eq!(api.resolve_status(&repo, &oid, "new/c.safetensors").await.0, 200);
    assert_eq!(api.resolve_status(&repo, &oid, "dir/y.txt").await.0, 404);
    let storage = check_storage(&env.data, &mut HashSet::new());
    println!("[{}] {} failing commits left the repository unchanged; {storage:?}", env.tag, cases.len() + 2);
}

async fn assert_unchanged(api: &Api, repo: &RepoId, head: &str, model: &Model, new_paths: &[&str], what: &str) {
    assert_eq!(api.sha(repo).await, head, "{what}: the head moved");
    for p in new_paths {
        let (status, code) = api.resolve_status(repo, "main", p).await;
        assert_eq!((status, code.as_deref()), (404, Some("EntryNotFound")), "{what}: {p} appeared");
    }
    assert_eq!(&api.snapshot(repo, "main").await, model, "{what}: content changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_commit_changes_nothing_sqlite() {
    atomicity_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_commit_changes_nothing_postgres() {
    atomicity_scenario(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------------------
// 5. Operator commands against the data directory of a running server
// ---------------------------------------------------------------------------------------------------------

/// Retries `attempt` until it yields a value, for at most 30 s; returns it and how many attempts failed.
async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> (T, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failed = 0;
    loop {
        if let Some(v) = attempt().await {
            return (v, failed);
        }
        failed += 1;
        assert!(Instant::now() < deadline, "not within 30s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn admin_scenario(backend: Backend) {
    let Some(env) = Env::new(backend, "admin") else { return };
    let alice = env.user_with_token("alice");
    let server = env.start().await;
    let api = env.api(&server, &alice);
    let busy = api.create_repo("alice", None, "busy").await;

    // Keep the server writing to the database while the operator commands run.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let first = Arc::new(tokio::sync::Notify::new());
    let writer = {
        let (api, busy, stop, count, first) = (api.clone(), busy.clone(), stop.clone(), count.clone(), first.clone());
        tokio::spawn(async move {
            let mut files = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let n = count.load(Ordering::SeqCst);
                let path = format!("load/{n}.txt");
                let r = api
                    .commit(&busy, header_line(&format!("load {n}"), None) + &file_line(&path, path.as_bytes()))
                    .await;
                let r = r.expect("load commit transport");
                assert_eq!(r.status, 200, "a commit failed while operator commands ran: {r:?}");
                files.push(path);
                count.fetch_add(1, Ordering::SeqCst);
                first.notify_one();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            files
        })
    };
    within(120, "first load commit", first.notified()).await;

    // New user and tokens, made by separate processes, accepted at once by the running server.
    let bob = env.user_with_token("bob");
    let who = api.with_token(&bob).whoami().await;
    assert_eq!((who.status, who.json["name"].as_str()), (200, Some("bob")), "new token: {who:?}");
    let bob_api = api.with_token(&bob);
    let bobs = bob_api.create_repo("bob", None, "fresh").await;
    let oid = bob_api.commit_ok(&bobs, header_line("hello", None) + &file_line("hello.txt", b"hi\n")).await;
    assert_eq!(bob_api.resolve_status(&bobs, &oid, "hello.txt").await.0, 200);

    let read_token = env.cli(&["token", "create", "bob", "--role", "read", "--name", "ro"]).trim().to_string();
    let ro = api.with_token(&read_token);
    assert_eq!(ro.whoami().await.status, 200, "read token");
    let r = ro.commit(&bobs, header_line("nope", None) + &file_line("nope.txt", b"n")).await.expect("commit");
    assert_eq!(r.status, 403, "a read token commits: {r:?}");
    assert_eq!(api.with_token("hf_thisisnotavalidtoken0000000000000").whoami().await.status, 401);

    // An organization made and populated from the CLI. The server caches who a token is (memberships
    // included) for a few seconds and only evicts on changes it makes itself, so a change made by another
    // process may lag: wait for each to take effect (bounded), and report how long it took.
    env.cli(&["org", "create", "acme", "--admin", "alice"]);
    let t = Instant::now();
    let (_, lag_create) = eventually("alice can create a repo in the org she was just made admin of", || async {
        let r = api.try_create_repo(Some("acme"), "shared").await;
        assert!(r.status == 200 || r.status == 403, "creating acme/shared: {r:?}");
        (r.status == 200).then_some(())
    })
    .await;
    let lag_create = (lag_create, t.elapsed());
    let shared = RepoId::new("acme", "shared");
    let r = bob_api.commit(&shared, header_line("outsider", None) + &file_line("o.txt", b"o")).await.expect("commit");
    assert!(r.status == 403 || r.status == 404, "a non-member commits to an org repo: {r:?}");

    env.cli(&["org", "add-member", "acme", "bob", "--role", "write"]);
    let t = Instant::now();
    let (oid, lag_add) = eventually("a member added with --role write can commit", || async {
        let r = bob_api.commit(&shared, header_line("member", None) + &file_line("m.txt", b"m\n")).await;
        let r = r.expect("commit transport");
        assert!(matches!(r.status, 200 | 403 | 404), "member commit: {r:?}");
        (r.status == 200).then(|| r.oid())
    })
    .await;
    let lag_add = (lag_add, t.elapsed());
    let who = bob_api.whoami().await;
    let orgs: Vec<&str> =
        who.json["orgs"].as_array().into_iter().flatten().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(orgs, vec!["acme"], "bob's organizations: {who:?}");

    env.cli(&["org", "add-member", "acme", "bob", "--role", "read"]);
    let t = Instant::now();
    let head = Arc::new(Mutex::new(oid));
    let (_, lag_demote) = eventually("a member demoted to read can no longer commit", || {
        let n = rand::random::<u32>();
        let (bob_api, shared, head) = (bob_api.clone(), shared.clone(), head.clone());
        async move {
            let body = header_line(&format!("demoted {n}"), None) + &file_line(&format!("d/{n}.txt"), b"d");
            let r = bob_api.commit(&shared, body).await.expect("commit transport");
            assert!(r.status == 200 || r.status == 403, "demoted member commit: {r:?}");
            if r.status == 200 {
                *head.lock().unwrap() = r.oid();
                return None;
            }
            Some(())
        }
    })
    .await;
    let lag_demote = (lag_demote, t.elapsed());
    let head = head.lock().unwrap().clone();
    assert_eq!(api.sha(&shared).await, head, "the org repo's head is the last accepted commit");
    println!(
        "[{}] attempts refused/accepted before CLI changes took effect on the running server (count, elapsed): \
         org create {lag_create:?}, add-member write {lag_add:?}, demotion to read (writes still accepted) {lag_demote:?}",
        env.tag
    );

    stop.store(true, Ordering::SeqCst);
    let files = within(120, "load writer", writer).await.expect("load writer");
    let head = api.sha(&busy).await;
    let model = api.snapshot(&busy, &head).await;
    for f in &files {
        assert!(model.contains_key(f), "acknowledged {f} is missing");
    }
    println!("[{}] operator commands ran beside {} concurrent commits; all accepted", env.tag, files.len());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_while_serving_sqlite() {
    admin_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_while_serving_postgres() {
    admin_scenario(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------------------
// Xet: kill -9 while xorbs and shards stream in
// ---------------------------------------------------------------------------------------------------------

async fn xet_token(http: &reqwest::Client, base: &str, token: &str, repo: &str) -> String {
    let url = format!("{base}/api/models/{repo}/xet-write-token/main");
    let v: Value = http.get(url).bearer_auth(token).send().await.expect("token").json().await.expect("json");
    v["accessToken"].as_str().expect("accessToken").to_string()
}

/// Uploads files through the CAS until the server dies; returns the files whose shard was acknowledged.
async fn xet_uploader(
    http: reqwest::Client,
    base: String,
    xet: String,
    seed: u64,
) -> Vec<gatehouse_testkit::xet::BuiltFile> {
    let mut acked = Vec::new();
    for i in 0.. {
        let f = gatehouse_testkit::xet::build_file(&gatehouse_testkit::xet::content(seed + i, 1_500_000), 6);
        for x in &f.xorbs {
            // Dribble the body so kills land mid-xorb as well as between requests.
            let pieces: Vec<Result<Bytes, std::io::Error>> =
                x.bytes.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let body = futures::StreamExt::then(futures::stream::iter(pieces), |p| async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                p
            });
            let url = format!("{base}/cas/v1/xorbs/default/{}", x.hash);
            let sent = http
                .post(url)
                .bearer_auth(&xet)
                .header("content-length", x.bytes.len())
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 200 => {}
                _ => return acked,
            }
        }
        match http
            .post(format!("{base}/cas/v2/shards"))
            .bearer_auth(&xet)
            .body(gatehouse_testkit::xet::shard_bytes(&f))
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => match r.text().await {
                Ok(t) if t.contains(r#""type":"result""#) => acked.push(f),
                Ok(t) => panic!("shard refused while the server was up: {t}"),
                Err(_) => return acked,
            },
            _ => return acked,
        }
    }
    acked
}

/// A server killed during Xet uploads leaves no row without its bytes and no file pointing at missing
/// data; every acknowledged shard's file can be committed and read back after the restart.
async fn xet_kill9_scenario(backend: Backend) {
    let Some(env) = Env::new(backend, "xet-kill9") else { return };
    let token = env.user_with_token("alice");
    let mut rng = StdRng::seed_from_u64(seed_for("xet_kill9"));
    let mut server = env.start().await;
    let api = env.api(&server, &token);
    let create = api.http.post(format!("{}/api/repos/create", server.base)).bearer_auth(&token);
    assert_eq!(create.json(&json!({"name": "x", "private": false})).send().await.expect("create").status(), 200);
    let mut acked = Vec::new();
    for round in 0..3u64 {
        let xet = xet_token(&env.http, &server.base, &token, "alice/x").await;
        let uploads: Vec<_> = (0..2)
            .map(|k| {
                tokio::spawn(xet_uploader(env.http.clone(), server.base.clone(), xet.clone(), round * 1000 + k * 100))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
        server.sigkill();
        for u in uploads {
            acked.extend(u.await.expect("uploader"));
        }
        server = env.start().await;
    }
    drop(server);
    let out = run(env.command().args(["xet", "verify"]), Duration::from_secs(120));
    assert!(out.status.success(), "xet verify after kills: {}", String::from_utf8_lossy(&out.stdout));
    let server = env.start().await;
    assert!(!acked.is_empty(), "some shards were acknowledged before the kills");
    for (i, f) in acked.iter().enumerate() {
        let body = format!(
            "{}\n{}\n",
            json!({"key": "header", "value": {"summary": "add"}}),
            json!({"key": "lfsFile", "value": {"path": format!("f{i}.bin"), "algo": "sha256", "oid": f.sha256, "size": f.size}})
        );
        let r = env.http.post(format!("{}/api/models/alice/x/commit/main", server.base)).bearer_auth(&token);
        let r = r.header("content-type", "application/x-ndjson").body(body).send().await.expect("commit");
        assert_eq!(r.status(), 200, "commit of acknowledged file {i}");
        let got = env.http.get(format!("{}/alice/x/resolve/main/f{i}.bin", server.base)).send().await.expect("get");
        assert_eq!(sha256_hex(&got.bytes().await.expect("bytes")), f.sha256, "file {i} reads back");
    }
    // Garbage from the kills (half-written xorbs) is collectable without touching what is referenced.
    let out = run(env.command().args(["xet", "gc", "--grace-secs", "0"]), Duration::from_secs(120));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(env.command().args(["xet", "verify"]), Duration::from_secs(120));
    assert!(out.status.success(), "xet verify after gc: {}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xet_kill9_leaves_no_dangling_index_sqlite() {
    xet_kill9_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xet_kill9_leaves_no_dangling_index_postgres() {
    xet_kill9_scenario(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------------------
// Notification mail: kill -9 while it waits and while it is mid-send
// ---------------------------------------------------------------------------------------------------------

/// The database URL the server of `env` uses.
fn database_url_of(env: &Env) -> String {
    env.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", env.data.join("gatehouse.db").display()))
}

/// Queued mail survives a server without SMTP and two SIGKILLs — one while every mail was mid-send — and
/// then reaches a real SMTP server exactly once each, with its notification's Message-ID; the SMTP
/// password never reaches the logs.
async fn mail_kill9_scenario(backend: Backend) {
    use gatehouse_store::{MailState, NewNotification, NotificationStore};
    let creds = ("hub".to_string(), "smtp-pw-7f3a".to_string());
    let Some(sink) = gatehouse_testkit::smtp::SmtpSink::start(gatehouse_testkit::smtp::SinkOptions {
        credentials: Some(creds.clone()),
    }) else {
        return;
    };
    let Some(env) = Env::new(backend, "mail") else { return };
    let url = sink.url();
    let mail_env = [("GATEHOUSE_SMTP_URL", url.as_str()), ("GATEHOUSE_MAIL_FROM", "Hub <hub@faults.test>")];

    // 1. Mail off: the notifications are written and wait.
    let mut server = env.start().await;
    let store = gatehouse_store::Store::connect(&database_url_of(&env)).await.expect("connect");
    let items: Vec<_> = (0..4)
        .map(|i| NewNotification {
            user_id: None,
            email: Some(format!("u{i}@example.com")),
            subject: format!("Notice {i}"),
            body: format!("Body {i}"),
            link: None,
            dedupe_key: format!("faults:{i}"),
        })
        .collect();
    assert_eq!(store.enqueue_notifications(&items, gatehouse_core::time::now_millis()).await.expect("enqueue"), 4);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.sigkill();
    assert!(sink.messages().is_empty(), "mail is off");

    // 2. Mail on, the SMTP server stalls every transaction: killed while all four are mid-send.
    sink.hold(true);
    let mut server = env.start_with(&mail_env).await;
    within(30, "the mailer reaching the SMTP server", sink.wait_event("HELD", 4, Duration::from_secs(30))).await;
    server.sigkill();
    sink.hold(false);

    // 3. A new server: the dead one's claims hold until their lease ends (moved to now here, instead of
    //    waiting three minutes), then each mail goes out once.
    let server = env.start_with(&mail_env).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.messages().is_empty(), "claimed mail waits for its lease");
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&database_url_of(&env)).await.expect("connect");
    if backend == Backend::Sqlite {
        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut conn).await.expect("wait for the server's writes");
    }
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM notifications").fetch_all(&mut conn).await.expect("ids");
    assert_eq!(ids.len(), 4);
    sqlx::query("UPDATE notifications SET mail_next_at = $1 WHERE mail_state = 'queued'")
        .bind(gatehouse_core::time::now_millis())
        .execute(&mut conn)
        .await
        .expect("end the leases");
    let _ = sqlx::Connection::close(conn).await;
    let mails = within(60, "the mails", sink.wait_for(4, Duration::from_secs(60))).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails_after = sink.messages();
    assert_eq!(mails_after.len(), 4, "each mail exactly once: {mails:#?}");
    for id in ids {
        let n = store.notification(id).await.expect("get").expect("row");
        assert_eq!((n.mail_state, n.mail_attempts), (MailState::Sent, 1), "{n:?}");
        let mid = gatehouse_core::notify::message_id(n.id, n.created_at, "faults.test");
        let got: Vec<_> = mails_after.iter().filter(|m| m.header("Message-ID") == Some(mid.as_str())).collect();
        assert_eq!(got.len(), 1, "{mid}");
        assert_eq!(got[0].header("To"), n.email.as_deref());
        assert_eq!(got[0].header("Subject"), Some(n.subject.as_str()));
        assert_eq!(got[0].header("X-Sink-Auth-User"), Some("hub"));
    }
    drop(server);
    store.close().await;

    let logs: String =
        env.logs.lock().unwrap().iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect();
    assert!(logs.contains("mail is off"), "the first server said mail was off");
    assert!(logs.contains("mailer started") && logs.contains("hub:***@"), "the others named the server, redacted");
    assert!(!logs.contains(&creds.1), "the SMTP password is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_kill9_sends_each_notification_once_sqlite() {
    mail_kill9_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_kill9_sends_each_notification_once_postgres() {
    mail_kill9_scenario(Backend::Postgres).await;
}
