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
    store.set_gated(r.id, Some(gatehouse_types::GateMode::Manual), 2).await.expect("gate");
    let got = store.repo_by_id(r.id).await.unwrap().unwrap();
    assert_eq!((got.gated, got.updated_at), (Some(gatehouse_types::GateMode::Manual), 2));
    store.set_gated(r.id, None, 3).await.expect("ungate");
    assert_eq!(store.repo_by_id(r.id).await.unwrap().unwrap().gated, None);
    assert!(matches!(store.set_gated(999_999, None, 4).await, Err(StoreError::NotFound(_))));
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
