//! Every store test runs on both backends: SQLite in a temporary directory, and PostgreSQL in a fresh
//! database created for the test at `GATEHOUSE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). An unreachable PostgreSQL fails the PostgreSQL variants:
//! they are never skipped.

use std::collections::BTreeSet;
use std::future::Future;

use gatehouse_store::*;
use gatehouse_types::{AccountName, ErrorCode, Millis, RepoType};

mod harness {
    use super::*;
    use sqlx::{AnyConnection, Connection, Executor, Row};

    const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

    pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("meta.db").display())
    }

    /// A PostgreSQL database of its own, so tests can run in parallel.
    pub struct PgDb {
        admin: AnyConnection,
        name: String,
        pub url: String,
    }

    impl PgDb {
        pub async fn create() -> PgDb {
            sqlx::any::install_default_drivers();
            let admin_url = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG.to_string());
            let mut admin = AnyConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin_url} is unreachable ({e}); the PostgreSQL variants must run (set GATEHOUSE_TEST_POSTGRES_URL)")
            });
            let name = format!("gh_{}", uuid::Uuid::new_v4().simple());
            admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
            let url = with_database(&admin_url, &name);
            PgDb { admin, name, url }
        }

        pub async fn drop(mut self) {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            self.admin.execute(sql.as_str()).await.expect("drop test database");
            let _ = self.admin.close().await;
        }
    }

    /// The admin URL with its database replaced by `db` (query string kept).
    fn with_database(url: &str, db: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url, String::new()),
        };
        let authority_start = base.find("://").map_or(0, |i| i + 3);
        let prefix = match base[authority_start..].find('/') {
            Some(slash) => &base[..authority_start + slash],
            None => base,
        };
        format!("{prefix}/{db}{query}")
    }

    pub async fn on_sqlite<F, Fut>(test: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::connect(&sqlite_url(&dir)).await.expect("connect sqlite");
        assert_eq!(store.backend(), Backend::Sqlite);
        store.migrate().await.expect("migrate sqlite");
        test(store.clone()).await;
        store.close().await;
    }

    pub async fn on_postgres<F, Fut>(test: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let db = PgDb::create().await;
        let store = Store::connect(&db.url).await.expect("connect postgres");
        assert_eq!(store.backend(), Backend::Postgres);
        store.migrate().await.expect("migrate postgres");
        // Run the body as a task so a failing assertion still lets us drop the database.
        let outcome = tokio::spawn(test(store.clone())).await;
        store.close().await;
        db.drop().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// `(table, column)` for every application table, read from the catalog of either backend.
    pub async fn schema(url: &str) -> BTreeSet<(String, String)> {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(url).await.expect("connect for schema");
        let sql = if url.starts_with("sqlite:") {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table'"
        } else {
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
             WHERE table_schema = 'public'"
        };
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("read schema");
        let _ = conn.close().await;
        rows.iter()
            .map(|r| (r.get::<String, _>("table_name"), r.get::<String, _>("column_name")))
            .filter(|(t, _)| !t.starts_with("sqlite_") && !t.starts_with("_sqlx"))
            .collect()
    }

    pub async fn sqlite_journal_mode(url: &str) -> String {
        let mut conn = AnyConnection::connect(url).await.expect("connect");
        let row = sqlx::query("PRAGMA journal_mode").fetch_one(&mut conn).await.expect("pragma");
        row.get::<String, _>(0)
    }
}

/// `both!(name)` runs `async fn name(store: Store)` as `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::harness::on_sqlite(super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::harness::on_postgres(super::$name).await
            }
        }
    )*};
}

both!(
    xet_index,
    xet_gc_races,
    lfs_blob_gc,
    lfs_blob_gc_races,
    connection_basics,
    users_and_orgs,
    memberships,
    tokens,
    repo_create_and_lookup,
    repo_move,
    repo_delete_cascades_lfs_links,
    repo_visibility_and_touch,
    list_repos_author_search_sort_paging,
    list_repos_equals_point_checks,
    lfs_links,
    concurrent_writes,
    moved_repos_answer_under_their_old_name,
    lfs_content_facts,
    cache_epoch_moves_forward,
    gate_setting,
    sessions,
    totp_enrolment,
    recovery_codes,
    invitations,
    password_resets,
    profile_and_email_lookup,
    repo_tags,
);

// ---------------------------------------------------------------------------------------------------
// Fixtures

fn name(s: &str) -> AccountName {
    AccountName::parse(s).expect("valid name")
}

async fn user(store: &Store, n: &str) -> Account {
    let u = NewUser {
        name: name(n),
        fullname: format!("{n} Full"),
        email: format!("{n}@example.com"),
        password_hash: None,
        site_admin: false,
    };
    store.create_user(u, 1_000).await.expect("create user")
}

async fn org(store: &Store, n: &str) -> Account {
    store.create_org(NewOrg { name: name(n), fullname: format!("{n} Inc") }, 1_000).await.expect("create org")
}

fn new_repo(t: RepoType, owner: &Account, n: &str, private: bool) -> NewRepo {
    NewRepo {
        repo_type: t,
        owner_id: owner.id,
        name: n.to_string(),
        private,
        created_by: Some(owner.id),
        storage_key: format!("key-{}", uuid::Uuid::new_v4().simple()),
    }
}

async fn repo(store: &Store, t: RepoType, owner: &Account, n: &str, private: bool, now: Millis) -> RepoRecord {
    store.create_repo(new_repo(t, owner, n, private), now).await.expect("create repo")
}

fn query(filter: RepoFilter) -> RepoQuery {
    RepoQuery {
        repo_type: RepoType::Model,
        filter,
        author: None,
        search: None,
        tag: None,
        sort: RepoSort::Name,
        offset: 0,
        limit: 1000,
    }
}

fn everything() -> RepoFilter {
    RepoFilter { all: true, private_owners: vec![] }
}

fn public_only() -> RepoFilter {
    RepoFilter { all: false, private_owners: vec![] }
}

fn assert_conflict<T: std::fmt::Debug>(r: StoreResult<T>, needle: &str) {
    match r {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains(needle), "conflict message {msg:?} lacks {needle:?}"),
        other => panic!("expected a conflict mentioning {needle:?}, got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(r: StoreResult<T>) {
    assert!(matches!(r, Err(StoreError::NotFound(_))), "expected NotFound, got {r:?}");
}

fn names(repos: &[RepoRecord]) -> Vec<String> {
    repos.iter().map(|r| format!("{}/{}", r.owner_name, r.name)).collect()
}

// ---------------------------------------------------------------------------------------------------
// Tests

async fn connection_basics(store: Store) {
    store.ping().await.expect("ping");
    // Migrations are recorded: running them again is a no-op.
    store.migrate().await.expect("second migrate");
    store.ping().await.expect("ping after migrate");
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("meta.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("connect creates the file");
    store.migrate().await.expect("migrate");
    assert!(path.exists());
    assert_eq!(harness::sqlite_journal_mode(&url).await, "wal");
    store.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_keeps_its_data() {
    let store = Store::connect("sqlite::memory:").await.expect("connect");
    store.migrate().await.expect("migrate");
    let a = user(&store, "alice").await;
    assert_eq!(store.account_by_id(a.id).await.expect("lookup").map(|x| x.name), Some("alice".into()));
    store.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    assert!(Store::connect("mysql://root@localhost/db").await.is_err());
}

#[tokio::test]
async fn schema_is_the_same_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite_url = harness::sqlite_url(&dir);
    let sqlite = Store::connect(&sqlite_url).await.expect("connect sqlite");
    sqlite.migrate().await.expect("migrate sqlite");
    sqlite.close().await;

    let pg = harness::PgDb::create().await;
    let store = Store::connect(&pg.url).await.expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    store.close().await;
    let pg_schema = harness::schema(&pg.url).await;
    pg.drop().await;

    let sqlite_schema = harness::schema(&sqlite_url).await;
    assert!(sqlite_schema.contains(&("repos".to_string(), "storage_key".to_string())), "{sqlite_schema:?}");
    assert!(sqlite_schema.contains(&("tokens".to_string(), "scopes".to_string())), "{sqlite_schema:?}");
    assert_eq!(sqlite_schema, pg_schema);
}

#[test]
fn store_errors_map_to_domain_codes() {
    let e: gatehouse_types::Error = StoreError::Conflict("taken".into()).into();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Conflict, "taken"));
    let e: gatehouse_types::Error = StoreError::NotFound("x".into()).into();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e: gatehouse_types::Error = StoreError::Corrupt("bad row".into()).into();
    assert_eq!(e.code, ErrorCode::Internal);
}

async fn users_and_orgs(store: Store) {
    let alice = store
        .create_user(
            NewUser {
                name: name("Alice"),
                fullname: "Alice A.".into(),
                email: "Alice@Example.com".into(),
                password_hash: Some("h1".into()),
                site_admin: true,
            },
            42,
        )
        .await
        .expect("create alice");
    assert_eq!(alice.kind, AccountKind::User);
    assert_eq!(alice.name, "Alice");
    assert_eq!(alice.email.as_deref(), Some("Alice@Example.com"));
    assert!(alice.site_admin);
    assert_eq!(alice.created_at, 42);

    for spelling in ["alice", "ALICE", "Alice"] {
        assert_eq!(store.account_by_name(spelling).await.expect("by name").as_ref(), Some(&alice), "{spelling}");
    }
    assert_eq!(store.account_by_id(alice.id).await.expect("by id").as_ref(), Some(&alice));
    assert_eq!(store.account_by_name("nobody").await.expect("by name"), None);
    assert_eq!(store.account_by_id(alice.id + 1000).await.expect("by id"), None);

    // Users and orgs share one case-insensitive namespace; emails are unique case-insensitively.
    let dup = |n: &str, email: &str| NewUser {
        name: name(n),
        fullname: String::new(),
        email: email.into(),
        password_hash: None,
        site_admin: false,
    };
    assert_conflict(store.create_user(dup("alice", "other@example.com"), 1).await, "name");
    assert_conflict(store.create_org(NewOrg { name: name("ALICE"), fullname: String::new() }, 1).await, "name");
    assert_conflict(store.create_user(dup("bob", "alice@EXAMPLE.com"), 1).await, "email");

    let acme = org(&store, "Acme").await;
    assert_eq!(acme.kind, AccountKind::Org);
    assert_eq!((acme.email.clone(), acme.password_hash.clone(), acme.site_admin), (None, None, false));
    assert_eq!(store.account_by_name("acme").await.expect("by name"), Some(acme.clone()));
    assert_conflict(store.create_user(dup("ACME", "acme@example.com"), 1).await, "name");
    assert_conflict(store.create_org(NewOrg { name: name("acme"), fullname: String::new() }, 1).await, "name");
    // A second org has no email: NULL emails never collide.
    org(&store, "umbrella").await;

    let bob = user(&store, "bob").await;
    assert!(!bob.site_admin);
    assert_eq!(bob.password_hash, None);

    store.set_password_hash(alice.id, "h2").await.expect("set hash");
    let reread = store.account_by_id(alice.id).await.expect("by id").expect("exists");
    assert_eq!(reread.password_hash.as_deref(), Some("h2"));
    assert_not_found(store.set_password_hash(acme.id, "h").await);
    assert_not_found(store.set_password_hash(alice.id + 1000, "h").await);
}

async fn memberships(store: Store) {
    let zeta = org(&store, "zeta").await;
    let beta = org(&store, "Beta").await;
    let carol = user(&store, "carol").await;
    let alice = user(&store, "Alice").await;
    let bob = user(&store, "bob").await;

    store.set_membership(zeta.id, bob.id, OrgRole::Write, 5).await.expect("add bob");
    store.set_membership(zeta.id, alice.id, OrgRole::Read, 5).await.expect("add alice");
    store.set_membership(zeta.id, alice.id, OrgRole::Admin, 6).await.expect("upsert alice");
    store.set_membership(beta.id, alice.id, OrgRole::Contributor, 7).await.expect("add alice to beta");

    let members = store.members_of_org(zeta.id).await.expect("members");
    let summary: Vec<(&str, OrgRole)> = members.iter().map(|(a, r)| (a.name.as_str(), *r)).collect();
    assert_eq!(summary, vec![("Alice", OrgRole::Admin), ("bob", OrgRole::Write)]);
    assert_eq!(members[0].0, alice);

    let orgs = store.memberships_of_user(alice.id).await.expect("orgs");
    let summary: Vec<(&str, OrgRole)> = orgs.iter().map(|(a, r)| (a.name.as_str(), *r)).collect();
    assert_eq!(summary, vec![("Beta", OrgRole::Contributor), ("zeta", OrgRole::Admin)]);
    assert!(store.memberships_of_user(carol.id).await.expect("none").is_empty());

    assert!(store.remove_membership(zeta.id, bob.id).await.expect("remove"));
    assert!(!store.remove_membership(zeta.id, bob.id).await.expect("remove again"));
    assert_eq!(store.members_of_org(zeta.id).await.expect("members").len(), 1);

    // Only a user can join, only an org can be joined, and both must exist.
    assert_not_found(store.set_membership(alice.id, bob.id, OrgRole::Read, 8).await);
    assert_not_found(store.set_membership(zeta.id, beta.id, OrgRole::Read, 8).await);
    assert_not_found(store.set_membership(zeta.id, 999_999, OrgRole::Read, 8).await);
    assert_not_found(store.set_membership(999_999, bob.id, OrgRole::Read, 8).await);
}

async fn tokens(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let acme = org(&store, "acme").await;
    let new = |user_id, n: &str, role, hash: &str| NewToken { user_id, name: n.into(), role, secret_hash: hash.into() };

    let t1 = store.create_token(new(alice.id, "laptop", TokenRole::Read, "aa11"), 100).await.expect("t1");
    let t2 = store.create_token(new(alice.id, "ci", TokenRole::Write, "bb22"), 200).await.expect("t2");
    let t3 = store.create_token(new(alice.id, "same-time", TokenRole::Read, "cc33"), 200).await.expect("t3");
    store.create_token(new(bob.id, "bob", TokenRole::Write, "dd44"), 300).await.expect("bob's");
    assert_eq!((t1.user_id, t1.name.as_str(), t1.role, t1.created_at), (alice.id, "laptop", TokenRole::Read, 100));
    assert_eq!((t1.last_used_at, t1.revoked_at), (None, None));

    assert_eq!(store.token_by_hash("aa11").await.expect("by hash"), Some(t1.clone()));
    assert_eq!(store.token_by_hash("bb22").await.expect("by hash"), Some(t2.clone()));
    assert_eq!(store.token_by_hash("nope").await.expect("by hash"), None);

    assert_conflict(store.create_token(new(bob.id, "dup", TokenRole::Read, "aa11"), 400).await, "token");
    assert_not_found(store.create_token(new(acme.id, "org", TokenRole::Read, "ee55"), 400).await);
    assert_not_found(store.create_token(new(999_999, "ghost", TokenRole::Read, "ff66"), 400).await);

    store.touch_token(t1.id, 500).await.expect("touch");
    assert_eq!(store.token_by_hash("aa11").await.expect("by hash").and_then(|t| t.last_used_at), Some(500));
    assert_not_found(store.touch_token(999_999, 500).await);

    assert!(store.revoke_token(t1.id, 600).await.expect("revoke"));
    assert!(!store.revoke_token(t1.id, 700).await.expect("revoke again"));
    assert!(!store.revoke_token(999_999, 700).await.expect("revoke unknown"));
    let revoked = store.token_by_hash("aa11").await.expect("by hash").expect("still returned");
    assert_eq!(revoked.revoked_at, Some(600));

    let listed = store.tokens_of_user(alice.id).await.expect("list");
    let ids: Vec<i64> = listed.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![t3.id, t2.id, t1.id], "newest first, ties by id");
    assert_eq!(listed[2], revoked);
    assert!(store.tokens_of_user(acme.id).await.expect("none").is_empty());
}

async fn repo_create_and_lookup(store: Store) {
    let alice = user(&store, "Alice").await;
    let acme = org(&store, "acme").await;

    let demo = repo(&store, RepoType::Model, &alice, "Demo", false, 10).await;
    assert_eq!(demo.repo_type, RepoType::Model);
    assert_eq!((demo.owner_id, demo.owner_name.as_str(), demo.owner_is_org), (alice.id, "Alice", false));
    assert_eq!((demo.name.as_str(), demo.private, demo.created_by), ("Demo", false, Some(alice.id)));
    assert_eq!((demo.created_at, demo.updated_at), (10, 10));

    assert_conflict(store.create_repo(new_repo(RepoType::Model, &alice, "demo", true), 11).await, "already exists");
    assert_conflict(store.create_repo(new_repo(RepoType::Model, &alice, "DEMO", true), 11).await, "already exists");
    // Same name, other type or other owner: fine.
    let ds = repo(&store, RepoType::Dataset, &alice, "demo", true, 12).await;
    let org_demo = store
        .create_repo(NewRepo { created_by: Some(alice.id), ..new_repo(RepoType::Model, &acme, "demo", true) }, 13)
        .await
        .expect("org repo");
    assert!(org_demo.owner_is_org);
    assert_eq!(org_demo.created_by, Some(alice.id));

    let mut same_key = new_repo(RepoType::Space, &alice, "space", false);
    same_key.storage_key = demo.storage_key.clone();
    assert_conflict(store.create_repo(same_key, 14).await, "storage key");
    let mut ghost_owner = new_repo(RepoType::Model, &alice, "ghost", false);
    ghost_owner.owner_id = 999_999;
    assert_not_found(store.create_repo(ghost_owner, 14).await);

    assert_eq!(store.repo_by_name(RepoType::Model, "ALICE", "dEmO").await.expect("by name"), Some(demo.clone()));
    assert_eq!(store.repo_by_name(RepoType::Dataset, "alice", "demo").await.expect("by name"), Some(ds.clone()));
    assert_eq!(store.repo_by_name(RepoType::Space, "alice", "demo").await.expect("by name"), None);
    assert_eq!(store.repo_by_name(RepoType::Model, "acme", "demo").await.expect("by name"), Some(org_demo.clone()));
    assert_eq!(store.repo_by_name(RepoType::Model, "bob", "demo").await.expect("by name"), None);
    assert_eq!(store.repo_by_id(demo.id).await.expect("by id"), Some(demo.clone()));
    assert_eq!(store.repo_by_id(999_999).await.expect("by id"), None);

    let keys: BTreeSet<String> = store.storage_keys().await.expect("keys").into_iter().collect();
    let expected: BTreeSet<String> = [&demo, &ds, &org_demo].iter().map(|r| r.storage_key.clone()).collect();
    assert_eq!(keys, expected);
}

async fn repo_move(store: Store) {
    let alice = user(&store, "alice").await;
    let acme = org(&store, "acme").await;
    let demo = repo(&store, RepoType::Model, &alice, "demo", false, 10).await;
    let other = repo(&store, RepoType::Model, &acme, "Taken", false, 10).await;
    repo(&store, RepoType::Dataset, &acme, "new", false, 10).await;

    // A change of case only is a valid move onto itself.
    let renamed = store.move_repo(demo.id, alice.id, "DEMO", 20).await.expect("rename");
    assert_eq!((renamed.name.as_str(), renamed.updated_at), ("DEMO", 20));

    assert_conflict(store.move_repo(demo.id, acme.id, "taken", 30).await, "already exists");
    assert_eq!(store.repo_by_id(demo.id).await.expect("by id").map(|r| r.owner_id), Some(alice.id), "unchanged");

    // The dataset acme/new does not block the model acme/new.
    let moved = store.move_repo(demo.id, acme.id, "new", 40).await.expect("move");
    assert_eq!(
        (moved.id, moved.owner_id, moved.owner_name.as_str(), moved.owner_is_org),
        (demo.id, acme.id, "acme", true)
    );
    assert_eq!((moved.name.as_str(), moved.updated_at, moved.created_at), ("new", 40, 10));
    assert_eq!((moved.storage_key.as_str(), moved.created_by), (demo.storage_key.as_str(), Some(alice.id)));
    assert_eq!(store.repo_by_name(RepoType::Model, "acme", "NEW").await.expect("by name"), Some(moved.clone()));
    // The old name redirects to the moved repository.
    assert_eq!(store.repo_by_name(RepoType::Model, "alice", "demo").await.expect("by name"), Some(moved.clone()));

    assert_not_found(store.move_repo(999_999, acme.id, "x", 50).await);
    assert_not_found(store.move_repo(other.id, 999_999, "x", 50).await);
}

async fn repo_delete_cascades_lfs_links(store: Store) {
    let alice = user(&store, "alice").await;
    let a = repo(&store, RepoType::Model, &alice, "a", false, 10).await;
    let b = repo(&store, RepoType::Model, &alice, "b", false, 10).await;
    store.link_lfs_object(a.id, "shared", 5, 11).await.expect("link");
    store.link_lfs_object(a.id, "only-a", 6, 11).await.expect("link");
    store.link_lfs_object(b.id, "shared", 5, 12).await.expect("link");

    assert!(store.delete_repo(a.id).await.expect("delete"));
    assert!(!store.delete_repo(a.id).await.expect("delete again"));
    assert_eq!(store.repo_by_id(a.id).await.expect("by id"), None);
    assert_eq!(store.repo_lfs_object(a.id, "only-a").await.expect("lookup"), None);
    assert!(!store.lfs_object_referenced("only-a").await.expect("referenced"));
    assert!(store.lfs_object_referenced("shared").await.expect("referenced"));
    assert!(store.list_lfs_objects(a.id, 0, 100).await.expect("list").is_empty());

    // The name is free again.
    let again = repo(&store, RepoType::Model, &alice, "a", false, 20).await;
    assert_ne!(again.id, a.id, "ids are not reused");
    assert!(store.repo_lfs_object(again.id, "only-a").await.expect("lookup").is_none());
}

async fn repo_visibility_and_touch(store: Store) {
    let alice = user(&store, "alice").await;
    let r = repo(&store, RepoType::Model, &alice, "r", false, 10).await;

    store.set_private(r.id, true, 20).await.expect("private");
    let got = store.repo_by_id(r.id).await.expect("by id").expect("exists");
    assert_eq!((got.private, got.updated_at, got.created_at), (true, 20, 10));
    store.set_private(r.id, false, 30).await.expect("public");
    assert_eq!(store.repo_by_id(r.id).await.expect("by id").map(|r| r.private), Some(false));

    store.touch_repo(r.id, 40).await.expect("touch");
    let got = store.repo_by_id(r.id).await.expect("by id").expect("exists");
    assert_eq!((got.updated_at, got.created_at, got.private), (40, 10, false));

    assert_not_found(store.set_private(999_999, true, 50).await);
    assert_not_found(store.touch_repo(999_999, 50).await);
}

async fn list_repos_author_search_sort_paging(store: Store) {
    let alice = user(&store, "Alice").await;
    let bob = user(&store, "bob").await;
    let acme = org(&store, "acme").await;
    let a_b = repo(&store, RepoType::Model, &alice, "a_b", false, 30).await;
    let axb = repo(&store, RepoType::Model, &alice, "AXB", false, 10).await;
    let pct = repo(&store, RepoType::Model, &bob, "zz", true, 20).await;
    let org_r = repo(&store, RepoType::Model, &acme, "m-1", false, 20).await;
    repo(&store, RepoType::Dataset, &alice, "a_b", false, 40).await;
    store.touch_repo(axb.id, 50).await.expect("touch");

    let list = |q: RepoQuery| {
        let store = store.clone();
        async move { names(&store.list_repos(&q).await.expect("list")) }
    };

    // Filters.
    assert_eq!(list(query(public_only())).await, ["Alice/a_b", "Alice/AXB", "acme/m-1"]);
    assert_eq!(list(query(everything())).await, ["Alice/a_b", "Alice/AXB", "acme/m-1", "bob/zz"]);
    let bobs = RepoFilter { all: false, private_owners: vec![bob.id] };
    assert_eq!(list(query(bobs.clone())).await, ["Alice/a_b", "Alice/AXB", "acme/m-1", "bob/zz"]);
    let others = RepoFilter { all: false, private_owners: vec![alice.id, acme.id] };
    assert_eq!(list(query(others)).await, ["Alice/a_b", "Alice/AXB", "acme/m-1"]);

    // Author: case-insensitive exact owner name.
    let by = |author: &str| RepoQuery { author: Some(author.into()), ..query(everything()) };
    assert_eq!(list(by("alice")).await, ["Alice/a_b", "Alice/AXB"]);
    assert_eq!(list(by("BOB")).await, ["bob/zz"]);
    assert!(list(by("ali")).await.is_empty());
    assert!(list(RepoQuery { author: Some("bob".into()), ..query(public_only()) }).await.is_empty());

    // Search: case-insensitive substring of owner/name, wildcards literal.
    let find = |s: &str| RepoQuery { search: Some(s.into()), ..query(everything()) };
    assert_eq!(list(find("a_b")).await, ["Alice/a_b"]);
    assert_eq!(list(find("_")).await, ["Alice/a_b"]);
    assert_eq!(list(find("A_B")).await, ["Alice/a_b"]);
    assert_eq!(list(find("axb")).await, ["Alice/AXB"]);
    assert!(list(find("%")).await.is_empty());
    assert!(list(find("a%b")).await.is_empty());
    assert!(list(find("\\")).await.is_empty());
    assert_eq!(list(find("e/a")).await, ["Alice/a_b", "Alice/AXB"], "spans the slash");
    assert_eq!(list(find("/M-")).await, ["acme/m-1"]);
    assert_eq!(list(find("")).await.len(), 4);
    assert_eq!(
        list(RepoQuery { search: Some("b".into()), author: Some("alice".into()), ..query(everything()) }).await,
        ["Alice/a_b", "Alice/AXB"]
    );

    // Sorts: dates descending, ties by id descending; names ascending.
    let sorted = |sort| RepoQuery { sort, ..query(everything()) };
    assert_eq!(list(sorted(RepoSort::LastModified)).await, ["Alice/AXB", "Alice/a_b", "acme/m-1", "bob/zz"]);
    assert_eq!(list(sorted(RepoSort::CreatedAt)).await, ["Alice/a_b", "acme/m-1", "bob/zz", "Alice/AXB"]);
    assert_eq!(list(sorted(RepoSort::Name)).await, ["Alice/a_b", "Alice/AXB", "acme/m-1", "bob/zz"]);
    assert!(pct.id < org_r.id && a_b.id < axb.id);

    // Paging.
    let page = |offset, limit| RepoQuery { offset, limit, ..sorted(RepoSort::LastModified) };
    assert_eq!(list(page(0, 2)).await, ["Alice/AXB", "Alice/a_b"]);
    assert_eq!(list(page(2, 2)).await, ["acme/m-1", "bob/zz"]);
    assert_eq!(list(page(3, 10)).await, ["bob/zz"]);
    assert!(list(page(4, 10)).await.is_empty());
    assert!(list(page(0, 0)).await.is_empty());
    assert!(list(page(u64::MAX, 10)).await.is_empty());

    // Other types are separate listings.
    assert_eq!(list(RepoQuery { repo_type: RepoType::Dataset, ..query(everything()) }).await, ["Alice/a_b"]);
    assert!(list(RepoQuery { repo_type: RepoType::Space, ..query(everything()) }).await.is_empty());
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The listing is exactly the repositories `RepoFilter::admits` accepts (and author/search select),
/// in the documented order, and paging through it yields the same sequence.
async fn list_repos_equals_point_checks(store: Store) {
    let seed = std::env::var("GATEHOUSE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0 | 1);
    let mut rng = Rng(seed);

    let mut owners = Vec::new();
    for n in ["User0", "user1", "USER2"] {
        owners.push(user(&store, n).await);
    }
    for n in ["Org0", "org1"] {
        owners.push(org(&store, n).await);
    }
    let mut all = Vec::new();
    let letters = ['a', 'B', '_', 'x', '-', '.'];
    for _ in 0..60 {
        let owner = rng.pick(&owners).clone();
        let t = if rng.chance(4) { RepoType::Dataset } else { RepoType::Model };
        let len = 1 + rng.below(3);
        let n: String = (0..len).map(|_| *rng.pick(&letters)).collect();
        let created = rng.below(8) as Millis;
        // A creator other than the owner, so a filter keyed on the wrong column would show.
        let created_by = if rng.chance(4) { None } else { Some(rng.pick(&owners).id) };
        let new = NewRepo { created_by, ..new_repo(t, &owner, &n, rng.chance(2)) };
        match store.create_repo(new, created).await {
            Ok(r) => {
                if rng.chance(2) {
                    store.touch_repo(r.id, rng.below(8) as Millis).await.expect("touch");
                }
                all.push(store.repo_by_id(r.id).await.expect("by id").expect("exists"));
            }
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("create failed: {e}"),
        }
    }
    let ids: Vec<AccountId> = owners.iter().map(|o| o.id).collect();

    for round in 0..40 {
        let mut private_owners: Vec<AccountId> = ids.iter().copied().filter(|_| rng.chance(3)).collect();
        if rng.chance(4) {
            private_owners.push(999_999);
        }
        let filter = RepoFilter { all: rng.chance(6), private_owners };
        let author = if rng.chance(3) {
            let o = rng.pick(&owners).name.clone();
            Some(if rng.chance(2) { o.to_ascii_uppercase() } else { o })
        } else {
            None
        };
        let search = if rng.chance(3) {
            let r = rng.pick(&all);
            let full = format!("{}/{}", r.owner_name, r.name).to_ascii_uppercase();
            let start = rng.below(full.len());
            let end = (start + 1 + rng.below(3)).min(full.len());
            Some(full[start..end].to_string())
        } else if rng.chance(10) {
            Some(rng.pick(&["%", "_", "a_", "%_"]).to_string())
        } else {
            None
        };
        let sort = *rng.pick(&[RepoSort::LastModified, RepoSort::CreatedAt, RepoSort::Name]);
        let repo_type = if rng.chance(3) { RepoType::Dataset } else { RepoType::Model };
        let q =
            RepoQuery { repo_type, filter: filter.clone(), author, search, tag: None, sort, offset: 0, limit: 10_000 };

        let mut expected: Vec<&RepoRecord> = all
            .iter()
            .filter(|r| r.repo_type == repo_type && filter.admits(r.owner_id, r.private))
            .filter(|r| q.author.as_ref().is_none_or(|a| a.eq_ignore_ascii_case(&r.owner_name)))
            .filter(|r| {
                q.search.as_ref().is_none_or(|s| {
                    format!("{}/{}", r.owner_name, r.name).to_ascii_lowercase().contains(&s.to_ascii_lowercase())
                })
            })
            .collect();
        expected.sort_by(|a, b| match sort {
            RepoSort::LastModified => b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)),
            RepoSort::CreatedAt => b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)),
            RepoSort::Name => a.name.to_ascii_lowercase().cmp(&b.name.to_ascii_lowercase()).then(a.id.cmp(&b.id)),
        });
        let expected: Vec<RepoRecord> = expected.into_iter().cloned().collect();

        let got = store.list_repos(&q).await.expect("list");
        assert_eq!(got, expected, "seed {seed}, round {round}, query {q:?}");

        let page_size = 1 + rng.below(7) as u32;
        let mut paged = Vec::new();
        loop {
            let page = store
                .list_repos(&RepoQuery { offset: paged.len() as u64, limit: page_size, ..q.clone() })
                .await
                .expect("page");
            assert!(page.len() <= page_size as usize);
            let done = page.len() < page_size as usize;
            paged.extend(page);
            if done {
                break;
            }
        }
        assert_eq!(paged, expected, "paging, seed {seed}, round {round}, page size {page_size}");
    }
}

async fn lfs_links(store: Store) {
    let alice = user(&store, "alice").await;
    let r = repo(&store, RepoType::Model, &alice, "r", false, 10).await;
    let s = repo(&store, RepoType::Model, &alice, "s", false, 10).await;

    store.link_lfs_object(r.id, "oid-b", 200, 100).await.expect("link");
    store.link_lfs_object(r.id, "oid-a", 100, 100).await.expect("link");
    store.link_lfs_object(r.id, "oid-c", 300, 300).await.expect("link");
    // Idempotent, and the first push wins.
    store.link_lfs_object(r.id, "oid-a", 999, 500).await.expect("relink");
    store.link_lfs_object(r.id, "big", u64::from(u32::MAX) * 4, 50).await.expect("big");

    let rec = |oid: &str, size, pushed_at| LfsObjectRecord { oid: oid.into(), size, pushed_at, xet_hash: None };
    assert_eq!(store.repo_lfs_object(r.id, "oid-a").await.expect("get"), Some(rec("oid-a", 100, 100)));
    assert_eq!(store.repo_lfs_object(r.id, "big").await.expect("get").map(|o| o.size), Some(u64::from(u32::MAX) * 4));
    assert_eq!(store.repo_lfs_object(s.id, "oid-a").await.expect("get"), None);
    assert_eq!(store.repo_lfs_object(r.id, "nope").await.expect("get"), None);

    let all = store.list_lfs_objects(r.id, 0, 100).await.expect("list");
    let oids: Vec<&str> = all.iter().map(|o| o.oid.as_str()).collect();
    assert_eq!(oids, ["oid-c", "oid-a", "oid-b", "big"], "newest first, ties by oid");
    assert_eq!(store.list_lfs_objects(r.id, 1, 2).await.expect("page"), all[1..3].to_vec());
    assert!(store.list_lfs_objects(r.id, 4, 2).await.expect("past the end").is_empty());
    assert!(store.list_lfs_objects(r.id, 0, 0).await.expect("zero limit").is_empty());
    assert!(store.list_lfs_objects(s.id, 0, 10).await.expect("empty").is_empty());

    assert!(store.lfs_object_referenced("oid-b").await.expect("referenced"));
    store.link_lfs_object(s.id, "oid-b", 200, 600).await.expect("link to s");
    assert!(store.unlink_lfs_object(r.id, "oid-b").await.expect("unlink"));
    assert!(!store.unlink_lfs_object(r.id, "oid-b").await.expect("unlink again"));
    assert!(store.lfs_object_referenced("oid-b").await.expect("still referenced by s"));
    assert!(store.unlink_lfs_object(s.id, "oid-b").await.expect("unlink from s"));
    assert!(!store.lfs_object_referenced("oid-b").await.expect("unreferenced"));
    assert!(!store.lfs_object_referenced("never").await.expect("unknown"));

    assert_not_found(store.link_lfs_object(999_999, "oid", 1, 1).await);
}

/// Many writers at once: on SQLite, WAL plus `busy_timeout` must absorb the contention (no "database is
/// locked"), and every pooled connection must enforce foreign keys.
async fn concurrent_writes(store: Store) {
    let alice = user(&store, "alice").await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            let r = repo(&store, RepoType::Model, &alice, &format!("r{i}"), i % 2 == 0, i).await;
            store.link_lfs_object(r.id, &format!("oid{i}"), 1, i).await.expect("link");
            store.touch_repo(r.id, 100 + i).await.expect("touch");
            assert_not_found(store.link_lfs_object(r.id + 10_000, "orphan", 1, i).await);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let all = store.list_repos(&RepoQuery { limit: 100, ..query(everything()) }).await.expect("list");
    assert_eq!(all.len(), 32);
    assert!(!store.lfs_object_referenced("orphan").await.expect("referenced"));
}

// LFS blob garbage collection (migration 0010): a link and a deletion never interleave.
async fn lfs_blob_gc(store: Store) {
    let alice = user(&store, "alice").await;
    let r = repo(&store, RepoType::Model, &alice, "r", false, 10).await;
    store.link_lfs_object(r.id, "x", 5, 10).await.expect("link");
    assert!(!store.doom_lfs_blob("x", 1, 20).await.expect("linked"), "a linked object is never doomed");
    assert!(store.unlink_lfs_object(r.id, "x").await.expect("unlink"));
    assert!(store.doom_lfs_blob("x", 1, 30).await.expect("doom"));
    assert!(!store.doom_lfs_blob("x", 2, 31).await.expect("second"), "one collector at a time");
    assert!(matches!(store.link_lfs_object(r.id, "x", 5, 40).await, Err(StoreError::Conflict(_))));
    assert!(!store.lfs_object_referenced("x").await.expect("referenced"));
    // Only dooms older than the cutoff are stale; a wrong claim takes nothing over or releases nothing.
    assert_eq!(store.stale_lfs_dooms(30, 10).await.expect("stale"), []);
    assert_eq!(store.stale_lfs_dooms(31, 10).await.expect("stale"), [("x".to_string(), 1)]);
    assert!(!store.take_over_lfs_doom("x", 2, 3).await.expect("wrong claim"));
    store.lfs_blob_deleted("x", 2).await.expect("wrong release");
    assert!(matches!(store.link_lfs_object(r.id, "x", 5, 41).await, Err(StoreError::Conflict(_))));
    assert!(store.take_over_lfs_doom("x", 1, 3).await.expect("take over"));
    store.lfs_blob_deleted("x", 1).await.expect("the stopped collector's release");
    assert!(matches!(store.link_lfs_object(r.id, "x", 5, 42).await, Err(StoreError::Conflict(_))));
    store.lfs_blob_deleted("x", 3).await.expect("release");
    assert_eq!(store.stale_lfs_dooms(i64::MAX, 10).await.expect("stale"), []);
    store.link_lfs_object(r.id, "x", 5, 50).await.expect("linked again");
    assert!(!store.doom_lfs_blob("x", 4, 60).await.expect("linked"));
}

/// Links and dooms of the same objects from many tasks at once: whenever a doom succeeds nothing links
/// the object until it is released, and a link made is never to a doomed object.
async fn lfs_blob_gc_races(store: Store) {
    let alice = user(&store, "alice").await;
    let r = repo(&store, RepoType::Model, &alice, "r", false, 10).await;
    for round in 0..20 {
        let oid = format!("oid-{round}");
        let mut tasks = Vec::new();
        for i in 0..8i64 {
            let (store, oid) = (store.clone(), oid.clone());
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    match store.link_lfs_object(r.id, &oid, 1, i).await {
                        Ok(()) => assert!(store.lfs_object_referenced(&oid).await.expect("referenced")),
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => panic!("link: {e}"),
                    }
                } else if store.doom_lfs_blob(&oid, i, i).await.expect("doom") {
                    // While doomed, nothing may link it, whatever the other tasks do.
                    tokio::task::yield_now().await;
                    assert!(!store.lfs_object_referenced(&oid).await.expect("referenced"), "{oid} linked while doomed");
                    store.lfs_blob_deleted(&oid, i).await.expect("release");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Redirects and LFS content facts (migration 0002)

async fn moved_repos_answer_under_their_old_name(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let r = repo(&store, RepoType::Model, &alice, "Old", false, 1).await;
    store.move_repo(r.id, bob.id, "new", 2).await.expect("move");
    let via_old = store.repo_by_name(RepoType::Model, "ALICE", "old").await.expect("lookup").expect("redirect");
    assert_eq!((via_old.id, via_old.owner_name.as_str(), via_old.name.as_str()), (r.id, "bob", "new"));
    // Only for the same type.
    assert!(store.repo_by_name(RepoType::Dataset, "alice", "old").await.expect("lookup").is_none());
    // Moving again keeps both old names working.
    store.move_repo(r.id, bob.id, "newer", 3).await.expect("move again");
    assert_eq!(store.repo_by_name(RepoType::Model, "alice", "old").await.unwrap().unwrap().name, "newer");
    assert_eq!(store.repo_by_name(RepoType::Model, "bob", "new").await.unwrap().unwrap().name, "newer");
    // A new repository under the old name wins over the redirect.
    let fresh = repo(&store, RepoType::Model, &alice, "old", false, 4).await;
    assert_eq!(store.repo_by_name(RepoType::Model, "alice", "old").await.unwrap().unwrap().id, fresh.id);
    // Moving back onto the old name is fine, and a failed move leaves no redirect behind.
    assert!(matches!(store.move_repo(r.id, alice.id, "old", 5).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.repo_by_name(RepoType::Model, "bob", "newer").await.unwrap().unwrap().id, r.id);
    // Deleting the repository removes its redirects.
    assert!(store.delete_repo(r.id).await.unwrap());
    assert!(store.repo_by_name(RepoType::Model, "bob", "new").await.unwrap().is_none());
}

async fn lfs_content_facts(store: Store) {
    let oid = "a".repeat(64);
    assert_eq!(store.lfs_git_blob_oid(&oid).await.unwrap(), None);
    store.set_lfs_git_blob_oid(&oid, &"1".repeat(40)).await.unwrap();
    // First writer wins (the value is a function of the content, so a second one is the same anyway).
    store.set_lfs_git_blob_oid(&oid, &"2".repeat(40)).await.unwrap();
    assert_eq!(store.lfs_git_blob_oid(&oid).await.unwrap(), Some("1".repeat(40)));
}

async fn cache_epoch_moves_forward(store: Store) {
    let start = store.cache_epoch().await.expect("epoch");
    store.bump_cache_epoch().await.expect("bump");
    store.bump_cache_epoch().await.expect("bump");
    assert_eq!(store.cache_epoch().await.expect("epoch"), start + 2);
}

async fn gate_setting(store: Store) {
    let alice = user(&store, "alice").await;
    let r = repo(&store, RepoType::Model, &alice, "g", false, 1).await;
    assert_eq!(r.gated, None);
    assert_eq!(r.own_gate.notifications_mode, gatehouse_types::NotificationsMode::RealTime);
    let manual = gatehouse_store::GateSettings {
        mode: Some(gatehouse_types::GateMode::Manual),
        notifications_mode: gatehouse_types::NotificationsMode::Daily,
        notifications_email: Some("gate@example.com".into()),
    };
    store.set_gate_settings(r.id, &manual, None, 2).await.expect("gate");
    let got = store.repo_by_id(r.id).await.unwrap().unwrap();
    assert_eq!((got.gated, got.updated_at), (Some(gatehouse_types::GateMode::Manual), 2));
    assert_eq!(got.own_gate, manual);
    let off = gatehouse_store::GateSettings { mode: None, ..manual.clone() };
    store.set_gate_settings(r.id, &off, None, 3).await.expect("ungate");
    assert_eq!(store.repo_by_id(r.id).await.unwrap().unwrap().gated, None);
    assert!(matches!(store.set_gate_settings(999_999, &off, None, 4).await, Err(StoreError::NotFound(_))));
}

fn xh(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn xorb_rec(hash: &str, now: Millis) -> XorbRecord {
    XorbRecord {
        hash: hash.into(),
        stored_bytes: 1000,
        unpacked_bytes: 4000,
        chunk_count: 4,
        created_at: now,
        last_used_at: now,
    }
}

fn shard_for(repo: i64, file: u8, xorbs: &[u8], sha: &str) -> ShardRegistration {
    let terms: Vec<FileTerm> = xorbs
        .iter()
        .map(|x| FileTerm { xorb_hash: xh(*x), chunk_start: 0, chunk_end: 4, unpacked_bytes: 4000 })
        .collect();
    ShardRegistration {
        shard_hash: format!("shard-{file}"),
        shard_size: 432,
        xorbs_used: xorbs.iter().map(|x| xh(*x)).collect(),
        files: vec![XetFile { file_hash: xh(file), size: 4000 * xorbs.len() as u64, terms }],
        dedup_chunks: vec![(format!("chunk-{file}"), xh(xorbs[0]))],
        links: vec![XetLink {
            repo_id: repo,
            sha256: sha.into(),
            size: 4000 * xorbs.len() as u64,
            file_hash: xh(file),
        }],
    }
}

async fn xet_index(store: Store) {
    let alice = user(&store, "alice").await;
    let r = repo(&store, RepoType::Model, &alice, "r", false, 10).await;
    let s = repo(&store, RepoType::Model, &alice, "s", false, 10).await;

    assert!(store.insert_xorb(&xorb_rec(&xh(1), 100)).await.expect("insert"));
    assert!(
        !store.insert_xorb(&xorb_rec(&xh(1), 200)).await.expect("known"),
        "content-addressed: second insert is a no-op"
    );
    assert_eq!(store.xorb(&xh(1)).await.expect("get").map(|x| (x.created_at, x.last_used_at)), Some((100, 200)));
    store.insert_xorb(&xorb_rec(&xh(2), 100)).await.expect("insert");

    // A shard naming a xorb that is not stored applies nothing.
    let bad = shard_for(r.id, 50, &[1, 3], "sha-bad");
    assert!(matches!(store.register_shard(&bad, 300).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.xet_file(&xh(50)).await.expect("file"), None);
    assert!(store.repo_lfs_object(r.id, "sha-bad").await.expect("link").is_none());
    assert_eq!(store.dedup_xorb("chunk-50").await.expect("dedup"), None);

    let good = shard_for(r.id, 60, &[1, 2], "sha-60");
    store.register_shard(&good, 300).await.expect("register");
    store.register_shard(&good, 400).await.expect("idempotent");
    let f = store.xet_file(&xh(60)).await.expect("file").expect("exists");
    assert_eq!(f.size, 8000);
    assert_eq!(f.terms.iter().map(|t| t.xorb_hash.clone()).collect::<Vec<_>>(), [xh(1), xh(2)]);
    let link = store.repo_lfs_object(r.id, "sha-60").await.expect("link").expect("linked");
    assert_eq!(link.xet_hash, Some(xh(60)));
    assert!(store.repo_has_xet_file(r.id, &xh(60)).await.expect("has"));
    assert!(!store.repo_has_xet_file(s.id, &xh(60)).await.expect("other repo"), "links are per repository");
    assert_eq!(store.dedup_xorb("chunk-60").await.expect("dedup"), Some(xh(1)));
    assert_eq!(store.files_using_xorb(&xh(2), 10).await.expect("files"), [(xh(60), r.id)]);
    assert_eq!(store.xorb(&xh(2)).await.expect("get").map(|x| x.last_used_at), Some(400), "registration marks use");

    // A proven upload of the same oid replaces the claim; a later claim never replaces proof.
    store.link_lfs_object(r.id, "sha-60", 8000, 500).await.expect("proven");
    assert_eq!(store.repo_lfs_object(r.id, "sha-60").await.expect("link").and_then(|l| l.xet_hash), None);
    store.register_shard(&good, 600).await.expect("claim again");
    assert_eq!(store.repo_lfs_object(r.id, "sha-60").await.expect("link").and_then(|l| l.xet_hash), None);

    let stats = store.xet_stats().await.expect("stats");
    assert_eq!((stats.xorbs, stats.xorb_bytes, stats.files, stats.shards, stats.dedup_chunks), (2, 2000, 1, 1, 1));
    assert!(store.shard_known("shard-60").await.expect("shard"));
}

async fn xet_gc_races(store: Store) {
    let alice = user(&store, "alice").await;
    let r = repo(&store, RepoType::Model, &alice, "r", false, 10).await;
    for x in [1, 2, 3] {
        store.insert_xorb(&xorb_rec(&xh(x), 100)).await.expect("insert");
    }
    store.register_shard(&shard_for(r.id, 60, &[1, 2], "sha-60"), 100).await.expect("register");

    let run = store.start_gc_run(0, 1000).await.expect("run");
    // Linked files stay whatever their age; unused, unlinked xorbs older than the cutoff go.
    assert_eq!(store.gc_delete_unlinked_files(1000).await.expect("files"), 0);
    let candidates: Vec<String> =
        store.gc_candidate_xorbs(1000, 10).await.expect("cand").into_iter().map(|x| x.hash).collect();
    assert_eq!(candidates, [xh(3)]);
    // Used again since the cutoff (a shard or a dedup answer named it): not deleted.
    store.touch_xorb(&xh(3), 1500).await.expect("touch");
    assert!(!store.gc_delete_xorb(&xh(3), 1000, &["k3".into()], 1600).await.expect("raced"));
    assert!(store.gc_pending(10).await.expect("pending").is_empty());
    // A referenced xorb is never deleted, even when asked directly.
    assert!(!store.gc_delete_xorb(&xh(1), 2000, &["k1".into()], 2000).await.expect("referenced"));
    assert!(store.gc_delete_xorb(&xh(3), 2000, &["k3".into(), "k3.idx".into()], 2000).await.expect("delete"));
    assert_eq!(store.gc_pending(10).await.expect("pending"), ["k3", "k3.idx"]);
    store.gc_pending_done("k3").await.expect("done");
    assert_eq!(store.gc_pending(10).await.expect("pending"), ["k3.idx"]);
    // A shard that names a collected xorb is refused as a whole.
    assert!(matches!(
        store.register_shard(&shard_for(r.id, 61, &[1, 3], "sha-61"), 2100).await,
        Err(StoreError::NotFound(_))
    ));

    // Once the repository lets go of the file, its file and then its xorbs are collectable.
    assert!(store.unlink_lfs_object(r.id, "sha-60").await.expect("unlink"));
    assert_eq!(store.gc_delete_unlinked_files(50).await.expect("too young"), 0);
    assert_eq!(store.gc_delete_unlinked_files(3000).await.expect("files"), 1);
    let mut left: Vec<String> =
        store.gc_candidate_xorbs(3000, 10).await.expect("cand").into_iter().map(|x| x.hash).collect();
    left.sort();
    assert_eq!(left, [xh(1), xh(2)]);
    store.finish_gc_run(run, "done", "{}", 3000).await.expect("finish");
    // A crashed run is closed as failed when the next one starts.
    let crashed = store.start_gc_run(0, 4000).await.expect("run");
    store.start_gc_run(0, 5000).await.expect("next");
    let runs = store.gc_runs(10).await.expect("runs");
    let state = |id| runs.iter().find(|r| r.id == id).map(|r| r.state.clone());
    assert_eq!(state(run).as_deref(), Some("done"));
    assert_eq!(state(crashed).as_deref(), Some("failed"));
}

// ---------------------------------------------------------------------------------------------------
// The web UI (migration 0006): sessions, TOTP, recovery codes, invitations, profiles, repository tags

fn new_session(id_hash: &str, user_id: AccountId, expires_at: Millis) -> NewSession {
    NewSession { id_hash: id_hash.into(), user_id, expires_at, second_factor_pending: false }
}

async fn sessions(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let acme = org(&store, "acme").await;

    let s1 = store
        .create_session(NewSession { second_factor_pending: true, ..new_session("s1", alice.id, 1_000) }, 100)
        .await
        .expect("create");
    assert_eq!(
        s1,
        SessionRecord {
            id_hash: "s1".into(),
            user_id: alice.id,
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1_000,
            second_factor_pending: true,
        }
    );
    assert_eq!(store.session("s1").await.expect("lookup"), Some(s1.clone()));
    assert_eq!(store.session("nope").await.expect("lookup"), None);
    assert_conflict(store.create_session(new_session("s1", bob.id, 1_000), 100).await, "session");
    // Only users sign in.
    assert_not_found(store.create_session(new_session("org", acme.id, 1_000), 100).await);
    assert_not_found(store.create_session(new_session("ghost", 999_999, 1_000), 100).await);
    assert_eq!(store.session("org").await.expect("lookup"), None);

    // Sliding expiry.
    assert!(store.touch_session("s1", 500, 2_000).await.expect("touch"));
    let touched = store.session("s1").await.expect("lookup").expect("exists");
    assert_eq!((touched.created_at, touched.last_seen_at, touched.expires_at), (100, 500, 2_000));
    assert!(!store.touch_session("nope", 500, 2_000).await.expect("touch unknown"));

    // Expired sessions are still returned; cleanup removes those with expires_at <= now.
    store.create_session(new_session("s2", alice.id, 600), 100).await.expect("s2");
    store.create_session(new_session("s3", alice.id, 3_000), 100).await.expect("s3");
    store.create_session(new_session("b1", bob.id, 700), 100).await.expect("b1");
    assert!(store.session("s2").await.expect("lookup").is_some_and(|s| s.expires_at < 650));
    assert_eq!(store.delete_expired_sessions(600).await.expect("expire"), 1, "expires_at == now is expired");
    assert_eq!(store.session("s2").await.expect("lookup"), None);
    assert!(store.session("b1").await.expect("lookup").is_some());
    assert_eq!(store.delete_expired_sessions(700).await.expect("expire"), 1);
    assert_eq!(store.delete_expired_sessions(700).await.expect("expire again"), 0);

    // Sign out everywhere else.
    store.create_session(new_session("s4", alice.id, 3_000), 100).await.expect("s4");
    store.create_session(new_session("b2", bob.id, 3_000), 100).await.expect("b2");
    assert_eq!(store.delete_sessions_of_user(alice.id, Some("s1")).await.expect("others"), 2);
    assert!(store.session("s1").await.expect("lookup").is_some());
    assert_eq!(store.session("s3").await.expect("lookup"), None);
    assert_eq!(store.session("s4").await.expect("lookup"), None);
    assert!(store.session("b2").await.expect("lookup").is_some(), "another user's sessions stay");
    assert_eq!(store.delete_sessions_of_user(alice.id, Some("s1")).await.expect("none left"), 0);

    assert!(store.delete_session("s1").await.expect("delete"));
    assert!(!store.delete_session("s1").await.expect("delete again"));
    store.create_session(new_session("b3", bob.id, 3_000), 100).await.expect("b3");
    assert_eq!(store.delete_sessions_of_user(bob.id, None).await.expect("all"), 2);
    assert_eq!(store.session("b2").await.expect("lookup"), None);
}

fn hashes(codes: &[&str]) -> Vec<String> {
    codes.iter().map(|c| c.to_string()).collect()
}

async fn totp_enrolment(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let acme = org(&store, "acme").await;

    assert_eq!(store.totp(alice.id).await.expect("none"), None);
    assert_not_found(store.begin_totp(acme.id, "sealed", 10).await);
    assert_not_found(store.begin_totp(999_999, "sealed", 10).await);
    assert_eq!(store.totp(acme.id).await.expect("none"), None);

    store.begin_totp(alice.id, "sealed-1", 10).await.expect("begin");
    let pending = TotpRecord {
        user_id: alice.id,
        sealed_secret: "sealed-1".into(),
        confirmed_at: None,
        last_step: 0,
        created_at: 10,
    };
    assert_eq!(store.totp(alice.id).await.expect("get"), Some(pending));
    // An unconfirmed TOTP proves nothing yet: its steps are not accepted.
    assert!(!store.use_totp_step(alice.id, 5).await.expect("unconfirmed"));
    // Beginning again replaces the unconfirmed secret.
    store.begin_totp(alice.id, "sealed-2", 20).await.expect("begin again");
    let restarted = store.totp(alice.id).await.expect("get").expect("exists");
    assert_eq!(
        (restarted.sealed_secret.as_str(), restarted.created_at, restarted.confirmed_at),
        ("sealed-2", 20, None)
    );

    // Confirming needs the secret that is stored now.
    let codes = hashes(&["c1", "c2", "c3", "c2"]);
    assert!(!store.confirm_totp(alice.id, "sealed-1", 100, &codes, 30).await.expect("stale secret"));
    assert_eq!(store.totp(alice.id).await.expect("get").and_then(|t| t.confirmed_at), None);
    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 0, "nothing written");
    assert!(!store.confirm_totp(bob.id, "sealed-2", 100, &codes, 30).await.expect("bob has none"));

    assert!(store.confirm_totp(alice.id, "sealed-2", 100, &codes, 30).await.expect("confirm"));
    let confirmed = store.totp(alice.id).await.expect("get").expect("exists");
    assert_eq!((confirmed.confirmed_at, confirmed.last_step), (Some(30), 100));
    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 3, "duplicates ignored");
    assert!(!store.confirm_totp(alice.id, "sealed-2", 200, &codes, 40).await.expect("already confirmed"));
    assert_eq!(store.totp(alice.id).await.expect("get").map(|t| t.last_step), Some(100));

    // Replay protection: only a later step is accepted, once.
    assert!(!store.use_totp_step(alice.id, 100).await.expect("the confirming step again"));
    assert!(!store.use_totp_step(alice.id, 99).await.expect("older"));
    assert!(store.use_totp_step(alice.id, 101).await.expect("next"));
    assert!(!store.use_totp_step(alice.id, 101).await.expect("replayed"));
    assert!(store.use_totp_step(alice.id, 105).await.expect("later"));
    assert!(!store.use_totp_step(alice.id, 103).await.expect("earlier than the last"));
    assert_eq!(store.totp(alice.id).await.expect("get").map(|t| t.last_step), Some(105));
    assert!(!store.use_totp_step(bob.id, 1_000).await.expect("no totp"));

    // A confirmed TOTP must be disabled before enrolling again.
    assert_conflict(store.begin_totp(alice.id, "sealed-3", 50).await, "already");
    assert_eq!(store.totp(alice.id).await.expect("get").map(|t| t.sealed_secret), Some("sealed-2".into()));

    // Disabling removes the secret and every recovery code.
    assert!(store.delete_totp(alice.id).await.expect("delete"));
    assert_eq!(store.totp(alice.id).await.expect("get"), None);
    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 0);
    assert!(!store.use_recovery_code(alice.id, "c1", 60).await.expect("gone"));
    assert!(!store.delete_totp(alice.id).await.expect("delete again"));
    store.begin_totp(alice.id, "sealed-4", 70).await.expect("enrol again");
    assert_eq!(store.totp(alice.id).await.expect("get").map(|t| t.last_step), Some(0));
}

async fn recovery_codes(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store.begin_totp(alice.id, "sealed", 10).await.expect("begin");
    assert!(store.confirm_totp(alice.id, "sealed", 1, &hashes(&["a", "b", "c"]), 20).await.expect("confirm"));

    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 3);
    assert!(store.use_recovery_code(alice.id, "b", 30).await.expect("use"));
    assert!(!store.use_recovery_code(alice.id, "b", 31).await.expect("second use"));
    assert!(!store.use_recovery_code(alice.id, "zzz", 31).await.expect("unknown"));
    assert!(!store.use_recovery_code(bob.id, "a", 31).await.expect("another user's code"));
    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 2);
    assert_eq!(store.recovery_codes_left(bob.id).await.expect("bob"), 0);

    // Replacing drops every old code, used or not.
    store.replace_recovery_codes(alice.id, &hashes(&["b", "d", "e", "f"]), 40).await.expect("replace");
    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 4);
    assert!(!store.use_recovery_code(alice.id, "a", 41).await.expect("old code"));
    assert!(store.use_recovery_code(alice.id, "b", 41).await.expect("reissued code is fresh"));
    assert!(store.use_recovery_code(alice.id, "f", 42).await.expect("new code"));
    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 2);
    store.replace_recovery_codes(alice.id, &[], 50).await.expect("clear");
    assert_eq!(store.recovery_codes_left(alice.id).await.expect("left"), 0);
    assert_not_found(store.replace_recovery_codes(999_999, &hashes(&["x"]), 50).await);
}

fn invitee(n: &str, email: &str) -> NewUser {
    NewUser {
        name: name(n),
        fullname: format!("{n} Full"),
        email: email.into(),
        password_hash: Some("h".into()),
        site_admin: false,
    }
}

fn invite(code_hash: &str, email: Option<&str>, created_by: Option<AccountId>, expires_at: Millis) -> NewInvitation {
    NewInvitation { code_hash: code_hash.into(), email: email.map(Into::into), created_by, expires_at }
}

async fn invitations(store: Store) {
    let ada = user(&store, "ada").await;
    let taken = user(&store, "taken").await;

    let open = store.create_invitation(invite("open", None, Some(ada.id), 1_000), 100).await.expect("create");
    assert_eq!(
        open,
        InvitationRecord {
            id: open.id,
            code_hash: "open".into(),
            email: None,
            created_by: Some(ada.id),
            created_at: 100,
            expires_at: 1_000,
            used_by: None,
            used_at: None,
        }
    );
    assert_eq!(store.invitation("open").await.expect("get"), Some(open.clone()));
    assert_eq!(store.invitation("nope").await.expect("get"), None);
    assert_conflict(store.create_invitation(invite("open", None, None, 1_000), 100).await, "invitation");
    assert_not_found(store.create_invitation(invite("ghost", None, Some(999_999), 1_000), 100).await);
    let bound =
        store.create_invitation(invite("bound", Some("Carol@Example.com"), None, 1_000), 200).await.expect("bound");
    let old = store.create_invitation(invite("old", None, None, 300), 150).await.expect("old");
    let listed: Vec<String> = store.list_invitations().await.expect("list").into_iter().map(|i| i.code_hash).collect();
    assert_eq!(listed, ["bound", "old", "open"], "newest first");
    assert_eq!(bound.email.as_deref(), Some("Carol@Example.com"));

    // A name or email that is taken: the same conflicts as create_user, and the invitation stays unused.
    assert_conflict(store.create_user_with_invitation(invitee("TAKEN", "new@example.com"), "open", 500).await, "name");
    assert_conflict(
        store.create_user_with_invitation(invitee("fresh", "Taken@example.com"), "open", 500).await,
        "email",
    );
    assert_eq!(store.invitation("open").await.expect("get"), Some(open.clone()));
    assert_eq!(store.account_by_name("fresh").await.expect("lookup"), None);
    assert_eq!(taken.kind, AccountKind::User);

    // Redeeming creates the user and records who used the invitation.
    let dave =
        store.create_user_with_invitation(invitee("dave", "dave@example.com"), "open", 500).await.expect("redeem");
    assert_eq!((dave.name.as_str(), dave.email.as_deref(), dave.created_at), ("dave", Some("dave@example.com"), 500));
    assert_eq!(store.account_by_name("dave").await.expect("lookup"), Some(dave.clone()));
    let used = store.invitation("open").await.expect("get").expect("exists");
    assert_eq!((used.used_by, used.used_at), (Some(dave.id), Some(500)));

    // Once only: a second redemption is NotFound and creates nobody.
    assert_not_found(store.create_user_with_invitation(invitee("erin", "erin@example.com"), "open", 600).await);
    assert_eq!(store.account_by_name("erin").await.expect("lookup"), None);
    assert_eq!(store.invitation("open").await.expect("get"), Some(used));
    assert_not_found(store.create_user_with_invitation(invitee("erin", "erin@example.com"), "nope", 600).await);

    // Expired (expires_at <= now).
    assert_not_found(store.create_user_with_invitation(invitee("erin", "erin@example.com"), "old", 300).await);
    assert_eq!(store.invitation("old").await.expect("get"), Some(old));
    assert_eq!(store.account_by_name("erin").await.expect("lookup"), None);

    // Bound to an email: another address is refused, the same one in any case is accepted.
    assert_not_found(store.create_user_with_invitation(invitee("erin", "erin@example.com"), "bound", 600).await);
    assert_eq!(store.invitation("bound").await.expect("get"), Some(bound));
    assert_eq!(store.account_by_name("erin").await.expect("lookup"), None);
    let carol =
        store.create_user_with_invitation(invitee("carol", "carol@EXAMPLE.com"), "bound", 700).await.expect("redeem");
    assert_eq!(store.invitation("bound").await.expect("get").and_then(|i| i.used_by), Some(carol.id));
}

async fn password_resets(store: Store) {
    let ada = user(&store, "ada").await;
    let bob = user(&store, "bob").await;
    let acme = org(&store, "acme").await;
    store.create_password_reset(ada.id, "r1", 1_000, 100).await.expect("r1");
    store.create_password_reset(ada.id, "r2", 1_000, 200).await.expect("r2");
    store.create_password_reset(bob.id, "b1", 1_000, 200).await.expect("b1");
    assert_conflict(store.create_password_reset(bob.id, "r1", 1_000, 200).await, "token");
    assert_not_found(store.create_password_reset(acme.id, "org", 1_000, 200).await);
    assert_not_found(store.create_password_reset(999_999, "ghost", 1_000, 200).await);
    assert_eq!(store.password_resets_since(ada.id, 0).await.expect("count"), 2);
    assert_eq!(store.password_resets_since(ada.id, 150).await.expect("count"), 1);

    // Valid until expires_at (exclusive), then neither shown nor usable.
    assert_eq!(store.password_reset_user("r1", 999).await.expect("get"), Some(ada.id));
    assert_eq!(store.password_reset_user("r1", 1_000).await.expect("get"), None);
    assert_eq!(store.reset_password("r1", "late-hash", 1_000).await.expect("late"), None);
    assert_eq!(store.account_by_id(ada.id).await.expect("get").unwrap().password_hash, None);

    // Using one link sets the password, ends every session and uses up the user's other links, not others'.
    store.create_session(new_session("ada-s", ada.id, 5_000), 100).await.expect("session");
    store.create_session(new_session("bob-s", bob.id, 5_000), 100).await.expect("session");
    assert_eq!(store.reset_password("r1", "new-hash", 500).await.expect("reset"), Some(ada.id));
    assert_eq!(store.account_by_id(ada.id).await.expect("get").unwrap().password_hash.as_deref(), Some("new-hash"));
    assert_eq!(store.session("ada-s").await.expect("get"), None);
    assert!(store.session("bob-s").await.expect("get").is_some());
    assert_eq!(store.reset_password("r1", "again", 600).await.expect("twice"), None);
    assert_eq!(store.password_reset_user("r2", 600).await.expect("r2"), None, "the other link is used up");
    assert_eq!(store.password_reset_user("b1", 600).await.expect("b1"), Some(bob.id));
    assert_eq!(store.account_by_id(ada.id).await.expect("get").unwrap().password_hash.as_deref(), Some("new-hash"));

    // Expired links are swept.
    assert_eq!(store.delete_expired_password_resets(1_000).await.expect("sweep"), 3);
    assert_eq!(store.password_resets_since(ada.id, 0).await.expect("count"), 0);

    // An unused invitation can be revoked; a used one stays on record.
    store.create_invitation(invite("unused", None, Some(ada.id), 9_000), 100).await.expect("invite");
    let unused = store.invitation("unused").await.expect("get").expect("exists");
    assert!(store.revoke_invitation(unused.id).await.expect("revoke"));
    assert!(!store.revoke_invitation(unused.id).await.expect("again"));
    store.create_invitation(invite("used", None, None, 9_000), 100).await.expect("invite");
    store.create_user_with_invitation(invitee("cy", "cy@example.com"), "used", 200).await.expect("redeem");
    let used = store.invitation("used").await.expect("get").expect("exists");
    assert!(!store.revoke_invitation(used.id).await.expect("used"));
    assert!(store.invitation("used").await.expect("get").is_some());
}

async fn profile_and_email_lookup(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let acme = org(&store, "acme").await;

    assert_eq!(store.user_by_email("ALICE@example.COM").await.expect("lookup"), Some(alice.clone()));
    assert_eq!(store.user_by_email("nobody@example.com").await.expect("lookup"), None);

    let updated = store.update_profile(alice.id, "Alice Liddell", "Alice@Wonder.land").await.expect("update");
    assert_eq!((updated.fullname.as_str(), updated.email.as_deref()), ("Alice Liddell", Some("Alice@Wonder.land")));
    assert_eq!((updated.id, updated.name.as_str(), updated.created_at), (alice.id, "alice", alice.created_at));
    assert_eq!(store.user_by_email("alice@wonder.land").await.expect("lookup"), Some(updated.clone()));
    assert_eq!(store.user_by_email("alice@example.com").await.expect("old email"), None);
    // The old address is free again; the same address (in another case) for oneself is fine.
    store.update_profile(bob.id, "Bob", "alice@example.com").await.expect("reuse freed email");
    store.update_profile(alice.id, "Alice", "ALICE@wonder.land").await.expect("own email, new case");

    assert_conflict(store.update_profile(bob.id, "Bob", "alice@WONDER.LAND").await, "email");
    assert_eq!(
        store.account_by_id(bob.id).await.expect("lookup").and_then(|b| b.email),
        Some("alice@example.com".into())
    );
    assert_conflict(store.create_user(invitee("carol", "Alice@Wonder.Land"), 1).await, "email");
    assert_not_found(store.update_profile(acme.id, "Acme", "acme@example.com").await);
    assert_not_found(store.update_profile(999_999, "Ghost", "ghost@example.com").await);
    assert_eq!(store.user_by_email("acme@example.com").await.expect("lookup"), None);
}

async fn repo_tags(store: Store) {
    let alice = user(&store, "alice").await;
    let a = repo(&store, RepoType::Model, &alice, "a", false, 10).await;
    let b = repo(&store, RepoType::Model, &alice, "b", true, 20).await;
    let c = repo(&store, RepoType::Model, &alice, "c", false, 30).await;
    let d = repo(&store, RepoType::Dataset, &alice, "d", false, 40).await;

    assert!(store.repo_tags(a.id).await.expect("tags").is_empty());
    store.set_repo_tags(a.id, &hashes(&["text", "PyTorch", "en", "text"])).await.expect("set");
    assert_eq!(store.repo_tags(a.id).await.expect("tags"), ["PyTorch", "en", "text"], "sorted bytewise, deduplicated");
    store.set_repo_tags(b.id, &hashes(&["text", "de"])).await.expect("set");
    store.set_repo_tags(c.id, &hashes(&["vision"])).await.expect("set");
    store.set_repo_tags(d.id, &hashes(&["text"])).await.expect("set");
    assert_not_found(store.set_repo_tags(999_999, &hashes(&["x"])).await);
    assert_not_found(store.set_repo_tags(999_999, &[]).await);
    // Setting tags is not a change to the repository.
    assert_eq!(store.repo_by_id(a.id).await.expect("get").map(|r| r.updated_at), Some(10));

    let tagged = |tag: &str, filter| RepoQuery { tag: Some(tag.into()), ..query(filter) };
    let list = |q: RepoQuery| {
        let store = store.clone();
        async move { names(&store.list_repos(&q).await.expect("list")) }
    };
    assert_eq!(list(tagged("text", everything())).await, ["alice/a", "alice/b"]);
    assert_eq!(list(tagged("text", public_only())).await, ["alice/a"], "visibility still applies");
    assert!(list(tagged("Text", everything())).await.is_empty(), "case-sensitive");
    assert!(list(tagged("nope", everything())).await.is_empty());
    assert_eq!(list(RepoQuery { repo_type: RepoType::Dataset, ..tagged("text", everything()) }).await, ["alice/d"]);
    assert_eq!(
        list(RepoQuery { search: Some("B".into()), ..tagged("text", everything()) }).await,
        ["alice/b"],
        "combines with search"
    );

    // Replacing drops the old tags.
    store.set_repo_tags(a.id, &hashes(&["vision"])).await.expect("replace");
    assert_eq!(store.repo_tags(a.id).await.expect("tags"), ["vision"]);
    assert_eq!(list(tagged("text", everything())).await, ["alice/b"]);
    assert_eq!(list(tagged("vision", everything())).await, ["alice/a", "alice/c"]);
    store.set_repo_tags(c.id, &[]).await.expect("clear");
    assert!(store.repo_tags(c.id).await.expect("tags").is_empty());

    // Deleting a repository deletes its tags.
    assert!(store.delete_repo(a.id).await.expect("delete"));
    assert!(store.repo_tags(a.id).await.expect("tags").is_empty());
    assert!(list(tagged("vision", everything())).await.is_empty());
}

// ---------------------------------------------------------------------------------------------------
// Notifications

both!(
    notifications_insert_is_idempotent,
    notifications_claims_are_exclusive,
    notifications_retry_and_give_up,
    notifications_in_app,
    first_admins_of_org,
);

fn notice(key: &str, user: Option<AccountId>, email: Option<&str>) -> NewNotification {
    NewNotification {
        user_id: user,
        email: email.map(str::to_string),
        subject: format!("subject {key}"),
        body: format!("body {key}"),
        link: Some(format!("/link/{key}")),
        dedupe_key: key.to_string(),
    }
}

async fn notifications_insert_is_idempotent(store: Store) {
    let alice = user(&store, "alice").await;
    let batch = [
        notice("both", Some(alice.id), Some("alice@example.com")),
        notice("in-app", Some(alice.id), None),
        notice("mail-only", None, Some("gate@example.com")),
    ];
    assert_eq!(store.enqueue_notifications(&batch, 100).await.expect("enqueue"), 3);
    // The same keys again (even with other content) write nothing.
    let again: Vec<_> = batch.iter().map(|n| NewNotification { subject: "changed".into(), ..n.clone() }).collect();
    assert_eq!(store.enqueue_notifications(&again, 200).await.expect("enqueue again"), 0);
    // A batch with an old key and a new one writes only the new one.
    let mixed = [notice("both", Some(alice.id), None), notice("fresh", Some(alice.id), None)];
    assert_eq!(store.enqueue_notifications(&mixed, 300).await.expect("mixed"), 1);

    let mine = store.notifications_of_user(alice.id, 10).await.expect("list");
    assert_eq!(mine.iter().map(|n| n.dedupe_key.as_str()).collect::<Vec<_>>(), ["fresh", "in-app", "both"]);
    let both = &mine[2];
    assert_eq!(both.subject, "subject both", "the first write wins");
    assert_eq!((both.mail_state, both.mail_next_at, both.created_at), (MailState::Queued, Some(100), 100));
    assert_eq!((both.email.as_deref(), both.link.as_deref()), (Some("alice@example.com"), Some("/link/both")));
    assert_eq!(
        (both.mail_attempts, both.mail_sent_at, both.read_at, both.mail_error.as_deref()),
        (0, None, None, None)
    );
    let in_app = &mine[1];
    assert_eq!((in_app.mail_state, in_app.mail_next_at, in_app.email.as_deref()), (MailState::None, None, None));

    // A batch naming a missing account writes nothing at all.
    let bad = [notice("ok", Some(alice.id), None), notice("ghost", Some(999_999), None)];
    assert_not_found(store.enqueue_notifications(&bad, 400).await);
    assert_eq!(store.notifications_of_user(alice.id, 10).await.expect("list").len(), 3);
    assert_eq!(store.enqueue_notifications(&bad[..1], 400).await.expect("the good one alone"), 1);
    assert_eq!(store.enqueue_notifications(&[], 400).await.expect("nothing"), 0);

    // Only mail waits in the outbox: the mail-only one and "both", due at 100.
    assert_eq!(store.next_mail_due().await.expect("next"), Some(100));
    let claimed = store.claim_due_mail(100, 1_000, 10).await.expect("claim");
    let mut emails: Vec<_> = claimed.iter().map(|c| c.email.as_str()).collect();
    emails.sort_unstable();
    assert_eq!(emails, ["alice@example.com", "gate@example.com"]);
    assert!(store.notification(999_999).await.expect("get").is_none());
}

async fn notifications_claims_are_exclusive(store: Store) {
    let batch: Vec<_> = (0..40).map(|i| notice(&format!("m{i}"), None, Some(&format!("u{i}@example.com")))).collect();
    store.enqueue_notifications(&batch, 100).await.expect("enqueue");
    assert!(store.claim_due_mail(99, 10_000, 100).await.expect("early").is_empty(), "not due before created");

    // Eight claimers race with the very same lease value; each row goes to exactly one of them.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_due_mail(200, 60_200, 3).await.expect("claim");
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|c| c.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("claimer"));
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every row claimed once: {all:?}");
    assert_eq!(distinct.len(), 40);

    // Under the lease nobody else gets them; the claim is visible as mail_next_at.
    assert!(store.claim_due_mail(60_199, 120_000, 100).await.expect("leased").is_empty());
    assert_eq!(store.next_mail_due().await.expect("next"), Some(60_200));
    let first = *distinct.iter().next().expect("one");
    assert!(store.mark_mail_sent(first, 300).await.expect("sent"));
    assert!(!store.mark_mail_sent(first, 301).await.expect("sent twice"), "already sent");
    let sent = store.notification(first).await.expect("get").expect("exists");
    assert_eq!(
        (sent.mail_state, sent.mail_sent_at, sent.mail_next_at, sent.mail_attempts),
        (MailState::Sent, Some(300), None, 1)
    );

    // A sender that died holding its lease: the rows come back when the lease ends, except the sent one.
    let again = store.claim_due_mail(60_200, 120_200, 100).await.expect("after the lease");
    assert_eq!(again.len(), 39);
    assert!(again.iter().all(|c| c.id != first && c.lease_until == 120_200 && c.attempts == 0));
    // The old claim's lease is no longer the row's: its failure report is ignored.
    assert!(!store.mark_mail_failed(again[0].id, 60_200, "late", Some(1)).await.expect("stale"));
    assert_eq!(store.notification(again[0].id).await.expect("get").expect("row").mail_next_at, Some(120_200));
}

async fn notifications_retry_and_give_up(store: Store) {
    store.enqueue_notifications(&[notice("r", None, Some("r@example.com"))], 0).await.expect("enqueue");
    let claim = store.claim_due_mail(0, 1_000, 10).await.expect("claim").pop().expect("claimed");
    assert_eq!((claim.attempts, claim.lease_until, claim.email.as_str()), (0, 1_000, "r@example.com"));
    assert_eq!((claim.subject.as_str(), claim.body.as_str(), claim.created_at), ("subject r", "body r", 0));

    assert!(store.mark_mail_failed(claim.id, 1_000, "connection refused", Some(5_000)).await.expect("failed"));
    let row = store.notification(claim.id).await.expect("get").expect("row");
    assert_eq!((row.mail_state, row.mail_attempts, row.mail_next_at), (MailState::Queued, 1, Some(5_000)));
    assert_eq!(row.mail_error.as_deref(), Some("connection refused"));
    assert!(store.claim_due_mail(4_999, 10_000, 10).await.expect("too early").is_empty());
    assert_eq!(store.next_mail_due().await.expect("next"), Some(5_000));

    let claim = store.claim_due_mail(5_000, 6_000, 10).await.expect("retry").pop().expect("claimed again");
    assert_eq!(claim.attempts, 1);
    assert!(!store.mark_mail_failed(claim.id, 1_000, "stale", None).await.expect("stale lease"));
    assert!(store.mark_mail_failed(claim.id, 6_000, "550 no such user", None).await.expect("give up"));
    let row = store.notification(claim.id).await.expect("get").expect("row");
    assert_eq!((row.mail_state, row.mail_attempts, row.mail_next_at), (MailState::Failed, 2, None));
    assert_eq!(row.mail_error.as_deref(), Some("550 no such user"));
    assert!(store.claim_due_mail(i64::MAX, i64::MAX, 10).await.expect("never").is_empty());
    assert_eq!(store.next_mail_due().await.expect("next"), None);
    assert!(!store.mark_mail_failed(claim.id, 6_000, "again", Some(7_000)).await.expect("no longer queued"));
}

async fn notifications_in_app(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    for (i, at) in [10, 30, 20].into_iter().enumerate() {
        store.enqueue_notifications(&[notice(&format!("a{i}"), Some(alice.id), None)], at).await.expect("alice");
    }
    store.enqueue_notifications(&[notice("b", Some(bob.id), Some("bob@example.com"))], 15).await.expect("bob");
    store.enqueue_notifications(&[notice("mail", None, Some("x@example.com"))], 15).await.expect("mail only");

    let keys = |ns: Vec<Notification>| ns.into_iter().map(|n| n.dedupe_key).collect::<Vec<_>>();
    assert_eq!(
        keys(store.notifications_of_user(alice.id, 10).await.expect("list")),
        ["a1", "a2", "a0"],
        "newest first"
    );
    assert_eq!(keys(store.notifications_of_user(alice.id, 2).await.expect("list")), ["a1", "a2"]);
    assert_eq!(keys(store.notifications_of_user(bob.id, 10).await.expect("list")), ["b"]);
    assert_eq!(store.unread_count(alice.id).await.expect("count"), 3);
    assert_eq!(store.unread_count(bob.id).await.expect("count"), 1);

    let bobs = store.notifications_of_user(bob.id, 1).await.expect("list").remove(0);
    assert!(!store.mark_read(alice.id, bobs.id, 50).await.expect("not hers"));
    assert!(!store.mark_read(alice.id, 999_999, 50).await.expect("unknown"));
    let newest = store.notifications_of_user(alice.id, 1).await.expect("list").remove(0);
    assert!(store.mark_read(alice.id, newest.id, 50).await.expect("read"));
    assert!(!store.mark_read(alice.id, newest.id, 60).await.expect("read twice"));
    assert_eq!(store.notification(newest.id).await.expect("get").expect("row").read_at, Some(50));
    assert_eq!(store.unread_count(alice.id).await.expect("count"), 2);

    assert_eq!(store.mark_all_read(alice.id, 70).await.expect("all"), 2);
    assert_eq!(store.mark_all_read(alice.id, 80).await.expect("all again"), 0);
    assert_eq!(store.unread_count(alice.id).await.expect("count"), 0);
    let read_at: Vec<_> =
        store.notifications_of_user(alice.id, 10).await.expect("list").iter().map(|n| n.read_at).collect();
    assert_eq!(read_at, [Some(50), Some(70), Some(70)]);
    assert_eq!(store.unread_count(bob.id).await.expect("count"), 1, "another user's stay unread");
    assert_eq!(store.unread_count(999_999).await.expect("nobody"), 0);
}

async fn first_admins_of_org(store: Store) {
    let acme = org(&store, "acme").await;
    let mut admins = Vec::new();
    // Joined in this order (names deliberately not alphabetical); one writer and one reader among them.
    for (i, n) in ["zed", "yan", "writer", "xia", "wu", "vic", "reader", "uma"].into_iter().enumerate() {
        let u = user(&store, n).await;
        let role = match n {
            "writer" => OrgRole::Write,
            "reader" => OrgRole::Read,
            _ => OrgRole::Admin,
        };
        store.set_membership(acme.id, u.id, role, 100 + i64::try_from(i).expect("small")).await.expect("join");
        if role == OrgRole::Admin {
            admins.push(u.name);
        }
    }
    let first: Vec<_> =
        store.first_admins_of_org(acme.id, 5).await.expect("admins").into_iter().map(|a| a.name).collect();
    assert_eq!(first, admins[..5], "the first five admins by when they joined");
    // A promotion keeps the membership's age: the writer made admin now ranks third.
    let writer = store.account_by_name("writer").await.expect("get").expect("writer");
    store.set_membership(acme.id, writer.id, OrgRole::Admin, 10_000).await.expect("promote");
    let first: Vec<_> =
        store.first_admins_of_org(acme.id, 3).await.expect("admins").into_iter().map(|a| a.name).collect();
    assert_eq!(first, ["zed", "yan", "writer"]);
    assert!(store.first_admins_of_org(999_999, 5).await.expect("no org").is_empty());
}

// ---------------------------------------------------------------------------------------------------
// Collections and gating groups

both!(collections_crud, collections_listing_equals_point_checks, collection_items, gating_groups, gating_group_races);

fn new_collection(owner: &Account, title: &str, private: bool) -> NewCollection {
    let object_id = format!("{:024x}", uuid::Uuid::new_v4().as_u128() >> 32);
    let slug_title = title.to_ascii_lowercase().replace(' ', "-");
    NewCollection { object_id, owner_id: owner.id, title: title.into(), slug_title, description: None, private }
}

async fn collection(store: &Store, owner: &Account, title: &str, private: bool, now: Millis) -> CollectionRecord {
    store.create_collection(new_collection(owner, title, private), now).await.expect("create collection")
}

fn new_item(t: ItemType, repo: Option<&RepoRecord>, text: &str) -> NewCollectionItem {
    NewCollectionItem {
        object_id: format!("{:024x}", uuid::Uuid::new_v4().as_u128() >> 32),
        item_type: t,
        repo_id: repo.map(|r| r.id),
        text_id: text.into(),
        note: None,
    }
}

async fn add(store: &Store, c: &CollectionRecord, item: NewCollectionItem, now: Millis) -> CollectionItemRecord {
    store.add_collection_item(c.id, item, now).await.expect("add item").expect("not refused")
}

fn collections_query(filter: RepoFilter) -> CollectionQuery {
    CollectionQuery { filter, owners: None, items: None, sort: CollectionSort::LastModified, offset: 0, limit: 1000 }
}

fn titles(cs: &[CollectionRecord]) -> Vec<&str> {
    cs.iter().map(|c| c.title.as_str()).collect()
}

async fn collections_crud(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let acme = org(&store, "acme").await;

    let first = collection(&store, &alice, "My Models", false, 10).await;
    assert_eq!((first.owner_id, first.owner_name.as_str(), first.owner_is_org), (alice.id, "alice", false));
    assert_eq!(
        (first.title.as_str(), first.slug_title.as_str(), first.theme.as_str()),
        ("My Models", "my-models", "default")
    );
    assert_eq!((first.position, first.private, first.created_at, first.updated_at), (0, false, 10, 10));
    assert_eq!(first.gate.mode, None);
    assert_eq!(first.description, None);

    // Titles are unique per owner, case-insensitively; another owner may use the same.
    assert_conflict(store.create_collection(new_collection(&alice, " my models ", true), 11).await, "already exists");
    let bobs = collection(&store, &bob, "My Models", true, 12).await;
    let second = collection(&store, &alice, "Second", true, 13).await;
    assert_eq!(second.position, 1, "appended after the owner's others");
    let mut taken = new_collection(&bob, "Other", false);
    taken.object_id = first.object_id.clone();
    assert_conflict(store.create_collection(taken, 14).await, "object id");
    let ghost = NewCollection { owner_id: 999_999, ..new_collection(&alice, "Ghost", false) };
    assert_not_found(store.create_collection(ghost, 14).await);

    assert_eq!(store.collection_by_object_id(&first.object_id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.collection_by_object_id("0".repeat(24).as_str()).await.unwrap(), None);
    assert_eq!(store.collection_by_id(bobs.id).await.unwrap(), Some(bobs.clone()));
    assert_eq!(store.collection_by_title(alice.id, "MY MODELS").await.unwrap(), Some(first.clone()));
    assert_eq!(store.collection_by_title(acme.id, "My Models").await.unwrap(), None);

    let u = CollectionUpdate {
        title: Some(("Renamed".into(), "renamed".into())),
        description: Some(Some("about".into())),
        private: Some(true),
        theme: Some("pink".into()),
        position: Some(5),
    };
    let renamed = store.update_collection(first.id, &u, 20).await.expect("update");
    assert_eq!(
        (renamed.title.as_str(), renamed.slug_title.as_str(), renamed.description.as_deref()),
        ("Renamed", "renamed", Some("about"))
    );
    assert_eq!((renamed.private, renamed.theme.as_str(), renamed.position, renamed.updated_at), (true, "pink", 5, 20));
    assert_eq!((renamed.object_id.as_str(), renamed.created_at), (first.object_id.as_str(), 10));
    // Only what is given changes.
    let cleared = store
        .update_collection(first.id, &CollectionUpdate { description: Some(None), ..Default::default() }, 21)
        .await
        .unwrap();
    assert_eq!((cleared.description, cleared.title.as_str(), cleared.private), (None, "Renamed", true));
    assert_not_found(store.update_collection(999_999, &CollectionUpdate::default(), 22).await);

    // Listing: by owner, by visibility, newest change first or in the owner's order.
    let everyone = store.list_collections(&collections_query(everything())).await.unwrap();
    assert_eq!(titles(&everyone), ["Renamed", "Second", "My Models"]);
    let public = store.list_collections(&collections_query(public_only())).await.unwrap();
    assert!(public.is_empty(), "all three are private now: {:?}", titles(&public));
    let mine = RepoFilter { all: false, private_owners: vec![alice.id] };
    let q = CollectionQuery { owners: Some(vec![alice.id, bob.id]), ..collections_query(mine) };
    assert_eq!(titles(&store.list_collections(&q).await.unwrap()), ["Renamed", "Second"]);
    let q = CollectionQuery {
        sort: CollectionSort::Position,
        owners: Some(vec![alice.id]),
        ..collections_query(everything())
    };
    assert_eq!(titles(&store.list_collections(&q).await.unwrap()), ["Second", "Renamed"]);
    let q = CollectionQuery { owners: Some(vec![]), ..collections_query(everything()) };
    assert!(store.list_collections(&q).await.unwrap().is_empty());
    let q = CollectionQuery { offset: 1, limit: 1, ..collections_query(everything()) };
    assert_eq!(titles(&store.list_collections(&q).await.unwrap()), ["Second"]);

    assert!(store.delete_collection(second.id).await.unwrap());
    assert!(!store.delete_collection(second.id).await.unwrap());
    assert_eq!(store.collection_by_id(second.id).await.unwrap(), None);
    // The title is free again.
    collection(&store, &alice, "Second", false, 30).await;
}

/// The listing admits exactly the collections `RepoFilter::admits` would, as for repositories.
async fn collections_listing_equals_point_checks(store: Store) {
    let mut owners = Vec::new();
    for n in ["u0", "u1"] {
        owners.push(user(&store, n).await);
    }
    owners.push(org(&store, "o0").await);
    let mut all = Vec::new();
    for (i, owner) in owners.iter().enumerate() {
        for private in [false, true] {
            all.push(collection(&store, owner, &format!("c{i}-{private}"), private, i as Millis).await);
        }
    }
    let ids: Vec<AccountId> = owners.iter().map(|o| o.id).collect();
    for mask in 0..(1 << ids.len()) {
        for everything in [false, true] {
            let private_owners: Vec<AccountId> =
                ids.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, id)| *id).collect();
            let filter = RepoFilter { all: everything, private_owners };
            let got = store.list_collections(&collections_query(filter.clone())).await.unwrap();
            let mut want: Vec<&CollectionRecord> =
                all.iter().filter(|c| filter.admits(c.owner_id, c.private)).collect();
            want.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "{filter:?}");
        }
    }
}

async fn collection_items(store: Store) {
    let alice = user(&store, "alice").await;
    let m = repo(&store, RepoType::Model, &alice, "m", false, 1).await;
    let d = repo(&store, RepoType::Dataset, &alice, "d", true, 1).await;
    let s = repo(&store, RepoType::Space, &alice, "s", false, 1).await;
    let c = collection(&store, &alice, "Stuff", false, 2).await;
    let other = collection(&store, &alice, "Other", false, 2).await;

    let im = add(&store, &c, new_item(ItemType::Model, Some(&m), ""), 3).await;
    assert_eq!(
        (im.item_type, im.position, im.key.clone(), im.note.clone()),
        (ItemType::Model, 0, format!("repo:{}", m.id), None)
    );
    assert_eq!(im.repo.as_ref().map(|r| r.id), Some(m.id));
    let mut noted = new_item(ItemType::Dataset, Some(&d), "");
    noted.note = Some("a note".into());
    let id = add(&store, &c, noted, 4).await;
    assert_eq!((id.position, id.note.as_deref()), (1, Some("a note")));
    let is = add(&store, &c, new_item(ItemType::Space, Some(&s), ""), 5).await;
    let ip = add(&store, &c, new_item(ItemType::Paper, None, "2311.12983"), 6).await;
    assert_eq!((ip.key.as_str(), ip.repo.is_none(), ip.position), ("2311.12983", true, 3));
    assert_eq!(store.collection_by_id(c.id).await.unwrap().unwrap().updated_at, 6, "adding touches the collection");

    // Once per collection; a repository may be in any number of collections.
    assert_conflict(
        store.add_collection_item(c.id, new_item(ItemType::Model, Some(&m), ""), 7).await.map(|_| ()),
        "already",
    );
    assert_conflict(
        store.add_collection_item(c.id, new_item(ItemType::Paper, None, "2311.12983"), 7).await.map(|_| ()),
        "already",
    );
    add(&store, &other, new_item(ItemType::Model, Some(&m), ""), 7).await;
    assert_not_found(store.add_collection_item(999_999, new_item(ItemType::Paper, None, "1"), 7).await.map(|_| ()));
    let ghost = NewCollectionItem { repo_id: Some(999_999), ..new_item(ItemType::Model, None, "") };
    assert_not_found(store.add_collection_item(c.id, ghost, 7).await.map(|_| ()));

    let order = |items: Vec<CollectionItemRecord>| -> Vec<(String, i64)> {
        items.into_iter().filter(|i| i.collection_id == c.id).map(|i| (i.object_id, i.position)).collect()
    };
    let items = store.collection_items(&[c.id]).await.unwrap();
    assert_eq!(items, vec![im.clone(), id.clone(), is.clone(), ip.clone()]);

    // Moving an item shifts the others; a note can be set and removed.
    let moved = store
        .update_collection_item(
            c.id,
            &ip.object_id,
            &ItemUpdate { position: Some(0), note: Some(Some("first".into())) },
            8,
        )
        .await
        .unwrap();
    assert_eq!((moved.position, moved.note.as_deref()), (0, Some("first")));
    let want = vec![
        (ip.object_id.clone(), 0),
        (im.object_id.clone(), 1),
        (id.object_id.clone(), 2),
        (is.object_id.clone(), 3),
    ];
    assert_eq!(order(store.collection_items(&[c.id]).await.unwrap()), want);
    store
        .update_collection_item(c.id, &im.object_id, &ItemUpdate { position: Some(99), note: Some(None) }, 9)
        .await
        .unwrap();
    let want = vec![
        (ip.object_id.clone(), 0),
        (id.object_id.clone(), 1),
        (is.object_id.clone(), 2),
        (im.object_id.clone(), 3),
    ];
    assert_eq!(order(store.collection_items(&[c.id]).await.unwrap()), want);
    assert_eq!(store.collection_items(&[c.id]).await.unwrap()[3].note, None);
    assert_not_found(store.update_collection_item(c.id, "nope", &ItemUpdate::default(), 9).await);
    assert_not_found(store.update_collection_item(other.id, &ip.object_id, &ItemUpdate::default(), 9).await);

    // Lookups by item.
    let by_item = |key: ItemKey| CollectionQuery { items: Some(vec![key]), ..collections_query(everything()) };
    assert_eq!(titles(&store.list_collections(&by_item(ItemKey::Repo(m.id))).await.unwrap()), ["Stuff", "Other"]);
    assert_eq!(titles(&store.list_collections(&by_item(ItemKey::Repo(s.id))).await.unwrap()), ["Stuff"]);
    let paper = ItemKey::Text(ItemType::Paper, "2311.12983".into());
    assert_eq!(titles(&store.list_collections(&by_item(paper)).await.unwrap()), ["Stuff"]);
    let wrong_type = ItemKey::Text(ItemType::Bucket, "2311.12983".into());
    assert!(store.list_collections(&by_item(wrong_type)).await.unwrap().is_empty());

    // An item follows its repository's renames and goes with it when deleted.
    store.move_repo(m.id, alice.id, "renamed", 10).await.unwrap();
    let items = store.collection_items(&[c.id, other.id]).await.unwrap();
    assert!(items
        .iter()
        .filter(|i| i.key == format!("repo:{}", m.id))
        .all(|i| i.repo.as_ref().unwrap().name == "renamed"));
    assert!(store.delete_repo(s.id).await.unwrap());
    assert_eq!(store.collection_items(&[c.id]).await.unwrap().len(), 3);

    let removed = store.delete_collection_item(c.id, &id.object_id, 11).await.unwrap();
    assert_eq!(removed.object_id, id.object_id);
    assert_not_found(store.delete_collection_item(c.id, &id.object_id, 12).await);
    assert_eq!(store.collection_items(&[c.id]).await.unwrap().len(), 2);
    // Deleting a collection deletes its items, not the repositories.
    assert!(store.delete_collection(c.id).await.unwrap());
    assert!(store.collection_items(&[c.id]).await.unwrap().is_empty());
    assert!(store.repo_by_id(m.id).await.unwrap().is_some());
}

async fn gating_groups(store: Store) {
    use gatehouse_types::{GateMode, NotificationsMode};
    let alice = user(&store, "alice").await;
    let acme = org(&store, "acme").await;
    let m1 = repo(&store, RepoType::Model, &acme, "m1", false, 1).await;
    let m2 = repo(&store, RepoType::Model, &acme, "m2", true, 1).await;
    let d1 = repo(&store, RepoType::Dataset, &acme, "d1", false, 1).await;
    let s1 = repo(&store, RepoType::Space, &acme, "s1", false, 1).await;
    let foreign = repo(&store, RepoType::Model, &alice, "foreign", false, 1).await;
    let a = collection(&store, &acme, "Family", false, 2).await;
    let b = collection(&store, &acme, "Other family", false, 2).await;
    let regular = collection(&store, &acme, "Regular", false, 2).await;
    for r in [&m1, &d1] {
        add(&store, &a, new_item(ItemType::of_repo(r.repo_type), Some(r), ""), 3).await;
    }
    add(&store, &a, new_item(ItemType::Space, Some(&s1), ""), 3).await;
    add(&store, &a, new_item(ItemType::Paper, None, "2311.12983"), 3).await;
    let fi = add(&store, &a, new_item(ItemType::Model, Some(&foreign), ""), 3).await;

    let manual = GateSettings {
        mode: Some(GateMode::Manual),
        notifications_mode: NotificationsMode::Daily,
        notifications_email: Some("gate@acme.example".into()),
    };
    let group_of = |id: i64| {
        let store = store.clone();
        async move { store.repo_by_id(id).await.unwrap().unwrap().gating_group_id }
    };

    // A repository of another owner refuses the whole change.
    match store.set_collection_gate(a.id, &manual, None, 4).await.unwrap() {
        Err(GroupRefusal::ForeignRepo(r)) => assert_eq!(r.id, foreign.id),
        other => panic!("expected a foreign repository, got {other:?}"),
    }
    assert_eq!(store.collection_by_id(a.id).await.unwrap().unwrap().gate.mode, None, "nothing changed");
    assert_eq!(group_of(m1.id).await, None);

    store.delete_collection_item(a.id, &fi.object_id, 5).await.unwrap();
    let gated = store.set_collection_gate(a.id, &manual, None, 6).await.unwrap().expect("gated");
    assert_eq!((gated.gate.clone(), gated.updated_at), (manual.clone(), 6));
    assert_eq!((group_of(m1.id).await, group_of(d1.id).await), (Some(a.id), Some(a.id)));
    assert_eq!(group_of(s1.id).await, None, "spaces are not gated by the group");
    let m1_now = store.repo_by_id(m1.id).await.unwrap().unwrap();
    assert_eq!(m1_now.gated, Some(GateMode::Manual), "the group's mode applies");
    assert_eq!(m1_now.own_gate.mode, None, "the repository's own gate is kept");
    assert_eq!(store.gating_group_repos(a.id).await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), [m1.id, d1.id]);
    // Setting it again (another mode) is fine.
    let auto = GateSettings { mode: Some(GateMode::Auto), ..manual.clone() };
    store.set_collection_gate(a.id, &auto, None, 7).await.unwrap().expect("mode change");
    assert_eq!(store.repo_by_id(d1.id).await.unwrap().unwrap().gated, Some(GateMode::Auto));

    // A repository stays in any number of regular collections, but in one gating group only.
    add(&store, &regular, new_item(ItemType::Model, Some(&m1), ""), 8).await;
    add(&store, &b, new_item(ItemType::Model, Some(&m1), ""), 8).await;
    add(&store, &b, new_item(ItemType::Model, Some(&m2), ""), 8).await;
    match store.set_collection_gate(b.id, &auto, None, 9).await.unwrap() {
        Err(GroupRefusal::InOtherGroup { repo, group }) => assert_eq!((repo.id, group.id), (m1.id, a.id)),
        other => panic!("expected another group, got {other:?}"),
    }
    assert_eq!(group_of(m2.id).await, None, "a refused change changes nothing");
    assert_eq!(store.collection_by_id(b.id).await.unwrap().unwrap().gate.mode, None);

    // Adding to a gated collection: the same two rules, and the repository joins.
    match store.add_collection_item(a.id, new_item(ItemType::Model, Some(&foreign), ""), 10).await.unwrap() {
        Err(GroupRefusal::ForeignRepo(r)) => assert_eq!(r.id, foreign.id),
        other => panic!("expected a foreign repository, got {other:?}"),
    }
    let i2 = add(&store, &a, new_item(ItemType::Model, Some(&m2), ""), 11).await;
    assert_eq!(group_of(m2.id).await, Some(a.id));
    assert_eq!(store.collection_items(&[a.id]).await.unwrap().len(), 5);
    // Removing it: it leaves the group (and stays in the regular ones).
    store.delete_collection_item(a.id, &i2.object_id, 12).await.unwrap();
    assert_eq!(group_of(m2.id).await, None);
    // m2 is free; m1 still blocks b. Once a stops gating, b can.
    let off = GateSettings { mode: None, ..auto.clone() };
    store.set_collection_gate(a.id, &off, None, 13).await.unwrap().expect("off");
    assert_eq!((group_of(m1.id).await, group_of(d1.id).await), (None, None));
    assert_eq!(store.repo_by_id(m1.id).await.unwrap().unwrap().gated, None);
    store.set_collection_gate(b.id, &auto, None, 14).await.unwrap().expect("b gated");
    assert_eq!((group_of(m1.id).await, group_of(m2.id).await), (Some(b.id), Some(b.id)));
    // Now a (which still holds m1) cannot gate again, and a member of b cannot join a gated collection.
    match store.set_collection_gate(a.id, &manual, None, 15).await.unwrap() {
        Err(GroupRefusal::InOtherGroup { repo, group }) => assert_eq!((repo.id, group.id), (m1.id, b.id)),
        other => panic!("expected another group, got {other:?}"),
    }
    let c = collection(&store, &acme, "Datasets", false, 15).await;
    add(&store, &c, new_item(ItemType::Dataset, Some(&d1), ""), 15).await;
    store.set_collection_gate(c.id, &manual, None, 15).await.unwrap().expect("c gated");
    match store.add_collection_item(c.id, new_item(ItemType::Model, Some(&m2), ""), 16).await.unwrap() {
        Err(GroupRefusal::InOtherGroup { repo, group }) => assert_eq!((repo.id, group.id), (m2.id, b.id)),
        other => panic!("expected another group, got {other:?}"),
    }
    assert_eq!(store.collection_items(&[c.id]).await.unwrap().len(), 1, "nothing added");
    // Deleting a gating group frees its repositories.
    assert!(store.delete_collection(b.id).await.unwrap());
    assert_eq!((group_of(m1.id).await, group_of(m2.id).await), (None, None));
    assert_not_found(store.set_collection_gate(b.id, &auto, None, 17).await.map(|_| ()));
}

/// Two collections racing to gate the same repository: exactly one wins, and the repository is its.
async fn gating_group_races(store: Store) {
    use gatehouse_types::{GateMode, NotificationsMode};
    let acme = org(&store, "acme").await;
    let auto = GateSettings {
        mode: Some(GateMode::Auto),
        notifications_mode: NotificationsMode::RealTime,
        notifications_email: None,
    };
    let off = GateSettings { mode: None, ..auto.clone() };
    let r = repo(&store, RepoType::Model, &acme, "shared", false, 1).await;
    let x = collection(&store, &acme, "X", false, 1).await;
    let y = collection(&store, &acme, "Y", false, 1).await;
    for c in [&x, &y] {
        add(&store, c, new_item(ItemType::Model, Some(&r), ""), 1).await;
    }
    for round in 0..10 {
        let (a, b) = tokio::join!(
            store.set_collection_gate(x.id, &auto, None, 2),
            store.set_collection_gate(y.id, &auto, None, 2)
        );
        let (a, b) = (a.expect("x"), b.expect("y"));
        assert!(a.is_ok() != b.is_ok(), "round {round}: exactly one wins ({a:?}, {b:?})");
        let winner = if a.is_ok() { x.id } else { y.id };
        assert_eq!(store.repo_by_id(r.id).await.unwrap().unwrap().gating_group_id, Some(winner));
        store.set_collection_gate(winner, &off, None, 3).await.unwrap().expect("off");
    }
}
