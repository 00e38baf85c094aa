//! Repositories: identity, ownership, visibility, and the filtered listing.

use std::collections::BTreeSet;

use gatehouse_authz::{AccountId, RepoFilter};
use gatehouse_types::{GateMode, Millis, NotificationsMode, RepoType};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{is_foreign_key_violation, is_unique_violation, missing_on_fk, StoreError, StoreResult};
use crate::sql::{contains_pattern, flag, fold, is_set, offset_param};
use crate::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRecord {
    pub id: i64,
    pub repo_type: RepoType,
    pub owner_id: AccountId,
    /// Joined from the owner's account, so it follows renames and moves.
    pub owner_name: String,
    pub owner_is_org: bool,
    pub name: String,
    pub private: bool,
    pub created_by: Option<AccountId>,
    pub storage_key: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Set when downloads need an accepted access request: the gating group's mode when the repository
    /// belongs to one, else its own.
    pub gated: Option<GateMode>,
    /// The gating group (a collection) whose requests and settings apply instead of the repository's own.
    pub gating_group_id: Option<i64>,
    /// The repository's own gate settings (shown and changed in its settings even while a group applies).
    pub own_gate: GateSettings,
}

/// A gate's settings: the approval mode (None: not gated) and who hears of new requests, how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSettings {
    pub mode: Option<GateMode>,
    pub notifications_mode: NotificationsMode,
    /// None: the owner's primary email, or the first admins of an organization.
    pub notifications_email: Option<String>,
}

pub struct NewRepo {
    pub repo_type: RepoType,
    pub owner_id: AccountId,
    pub name: String,
    pub private: bool,
    pub created_by: Option<AccountId>,
    pub storage_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoSort {
    /// `updated_at` descending, then id descending.
    LastModified,
    /// `created_at` descending, then id descending.
    CreatedAt,
    /// Repository name (case-folded, bytewise) ascending, then id ascending.
    Name,
}

#[derive(Debug, Clone)]
pub struct RepoQuery {
    pub repo_type: RepoType,
    pub filter: RepoFilter,
    /// Owner name, case-insensitive exact.
    pub author: Option<String>,
    /// Case-insensitive substring of "owner/name"; `%` and `_` are literal.
    pub search: Option<String>,
    /// Only repositories whose card has exactly this tag (case-sensitive, see [`RepoStore::set_repo_tags`]).
    pub tag: Option<String>,
    pub sort: RepoSort,
    pub offset: u64,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait RepoStore: Send + Sync {
    /// Conflict if (repo_type, owner, lower(name)) already exists (or the storage key is in use);
    /// NotFound if the owner or creator does not exist.
    async fn create_repo(&self, r: NewRepo, now: Millis) -> StoreResult<RepoRecord>;
    /// Case-insensitive on owner name and repo name.
    /// Case-insensitive; a name a repository was moved away from still finds it (unless reused).
    async fn repo_by_name(&self, t: RepoType, owner: &str, name: &str) -> StoreResult<Option<RepoRecord>>;
    async fn repo_by_id(&self, id: i64) -> StoreResult<Option<RepoRecord>>;
    /// Also removes its LFS links (foreign-key cascade, in the same statement).
    async fn delete_repo(&self, id: i64) -> StoreResult<bool>;
    /// Conflict if the target exists; NotFound if the repository or new owner does not. Returns the updated record.
    async fn move_repo(&self, id: i64, new_owner: AccountId, new_name: &str, now: Millis) -> StoreResult<RepoRecord>;
    /// Also sets `updated_at`. NotFound if there is no such repository.
    async fn set_private(&self, id: i64, private: bool, now: Millis) -> StoreResult<()>;
    /// The repository's own gate: mode and notification settings; `event`, when given, is logged in the
    /// same transaction. Also sets `updated_at`. NotFound if there is no such repository.
    async fn set_gate_settings(
        &self,
        id: i64,
        gate: &GateSettings,
        event: Option<&crate::NewGateEvent>,
        now: Millis,
    ) -> StoreResult<()>;
    /// Sets `updated_at`. NotFound if there is no such repository.
    async fn touch_repo(&self, id: i64, now: Millis) -> StoreResult<()>;
    /// Only repos admitted by `q.filter`, exactly as `RepoFilter::admits` decides.
    async fn list_repos(&self, q: &RepoQuery) -> StoreResult<Vec<RepoRecord>>;
    /// Every repository's storage key (for maintenance), in id order.
    async fn storage_keys(&self) -> StoreResult<Vec<String>>;
    /// Replaces the repository's tags (one transaction; duplicates ignored). Tags are kept as given:
    /// matching is exact and case-sensitive. NotFound if no such repo.
    async fn set_repo_tags(&self, repo_id: i64, tags: &[String]) -> StoreResult<()>;
    /// The repository's tags, sorted bytewise (empty for an unknown repository).
    async fn repo_tags(&self, repo_id: i64) -> StoreResult<Vec<String>>;
}

// A repository in a gating group is gated as the group says (the group is gated while it is set).
pub(crate) const REPO_SELECT: &str =
    "SELECT r.id, r.repo_type, r.owner_id, a.name AS owner_name, a.kind AS owner_kind, r.name, \
     r.private, r.created_by, r.storage_key, r.created_at, r.updated_at, r.gated AS own_gated, \
     r.gated_notifications_mode, r.gated_notifications_email, r.gating_group_id, \
     CASE WHEN r.gating_group_id IS NULL THEN r.gated ELSE g.gated END AS gated \
     FROM repos r JOIN accounts a ON a.id = r.owner_id LEFT JOIN collections g ON g.id = r.gating_group_id";

pub(crate) fn gate_mode(value: Option<String>) -> StoreResult<Option<GateMode>> {
    value.map(|g| GateMode::parse(&g).map_err(|_| StoreError::Corrupt(format!("unknown gate mode '{g}'")))).transpose()
}

pub(crate) fn notifications_mode(value: &str) -> StoreResult<NotificationsMode> {
    NotificationsMode::parse(value).map_err(|_| StoreError::Corrupt(format!("unknown notifications mode '{value}'")))
}

pub(crate) fn repo_from_row(row: &AnyRow) -> StoreResult<RepoRecord> {
    let repo_type: String = row.try_get("repo_type")?;
    let owner_kind: String = row.try_get("owner_kind")?;
    Ok(RepoRecord {
        id: row.try_get("id")?,
        repo_type: RepoType::parse(&repo_type)
            .map_err(|_| StoreError::Corrupt(format!("unknown repo type '{repo_type}'")))?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        owner_is_org: match owner_kind.as_str() {
            "org" => true,
            "user" => false,
            other => return Err(StoreError::Corrupt(format!("unknown account kind '{other}'"))),
        },
        name: row.try_get("name")?,
        private: is_set(row.try_get("private")?),
        created_by: row.try_get("created_by")?,
        storage_key: row.try_get("storage_key")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        gated: gate_mode(row.try_get("gated")?)?,
        gating_group_id: row.try_get("gating_group_id")?,
        own_gate: GateSettings {
            mode: gate_mode(row.try_get("own_gated")?)?,
            notifications_mode: notifications_mode(&row.try_get::<String, _>("gated_notifications_mode")?)?,
            notifications_email: row.try_get("gated_notifications_email")?,
        },
    })
}

/// A value for a dynamically built query; `Args::push` hands out its `$n`.
enum Param {
    Int(i64),
    Text(String),
}

#[derive(Default)]
struct Args(Vec<Param>);

impl Args {
    fn push(&mut self, p: Param) -> String {
        self.0.push(p);
        format!("${}", self.0.len())
    }
}

/// The `WHERE` fragment for `RepoFilter::admits(owner_id, private)`: `!private || all || owner ∈ private_owners`.
fn filter_clause(filter: &RepoFilter, args: &mut Args) -> String {
    if filter.all {
        return String::new();
    }
    if filter.private_owners.is_empty() {
        return " AND r.private = 0".into();
    }
    let owners: Vec<String> = filter.private_owners.iter().map(|id| args.push(Param::Int(*id))).collect();
    format!(" AND (r.private = 0 OR r.owner_id IN ({}))", owners.join(", "))
}

impl Store {
    async fn fetch_repo(&self, id: i64) -> StoreResult<RepoRecord> {
        self.repo_by_id(id).await?.ok_or_else(|| StoreError::NotFound(format!("repository {id}")))
    }

    /// Tells which unique rule a failed insert or move broke.
    async fn repo_conflict(
        &self,
        t: RepoType,
        owner: AccountId,
        name: &str,
        storage_key: Option<&str>,
    ) -> StoreResult<StoreError> {
        let taken = sqlx::query("SELECT id FROM repos WHERE repo_type = $1 AND owner_id = $2 AND name_lower = $3")
            .bind(t.as_str())
            .bind(owner)
            .bind(fold(name))
            .fetch_optional(&self.pool)
            .await?;
        Ok(match (taken, storage_key) {
            (None, Some(key)) => StoreError::Conflict(format!("storage key '{key}' is already in use")),
            _ => StoreError::Conflict(format!("a {t} named '{name}' already exists in this namespace")),
        })
    }
}

fn found_repo(done: sqlx::any::AnyQueryResult, id: i64) -> StoreResult<()> {
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("repository {id}")));
    }
    Ok(())
}

#[async_trait::async_trait]
impl RepoStore for Store {
    async fn create_repo(&self, r: NewRepo, now: Millis) -> StoreResult<RepoRecord> {
        let inserted = sqlx::query(
            "INSERT INTO repos (repo_type, owner_id, name, name_lower, private, created_by, storage_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(r.repo_type.as_str())
        .bind(r.owner_id)
        .bind(&r.name)
        .bind(fold(&r.name))
        .bind(flag(r.private))
        .bind(r.created_by)
        .bind(&r.storage_key)
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => self.fetch_repo(row.try_get("id")?).await,
            Err(e) if is_unique_violation(&e) => {
                Err(self.repo_conflict(r.repo_type, r.owner_id, &r.name, Some(&r.storage_key)).await?)
            }
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound("owner or creator account".into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn repo_by_name(&self, t: RepoType, owner: &str, name: &str) -> StoreResult<Option<RepoRecord>> {
        let sql = format!("{REPO_SELECT} WHERE r.repo_type = $1 AND a.name_lower = $2 AND r.name_lower = $3");
        let row =
            sqlx::query(&sql).bind(t.as_str()).bind(fold(owner)).bind(fold(name)).fetch_optional(&self.pool).await?;
        if let Some(row) = row {
            return repo_from_row(&row).map(Some);
        }
        // A repository that was moved away answers under its old name too (a live one of that name wins).
        let sql = format!(
            "{REPO_SELECT} JOIN repo_redirects d ON d.repo_id = r.id \
             WHERE d.repo_type = $1 AND d.owner_lower = $2 AND d.name_lower = $3"
        );
        let row =
            sqlx::query(&sql).bind(t.as_str()).bind(fold(owner)).bind(fold(name)).fetch_optional(&self.pool).await?;
        row.as_ref().map(repo_from_row).transpose()
    }

    async fn repo_by_id(&self, id: i64) -> StoreResult<Option<RepoRecord>> {
        let sql = format!("{REPO_SELECT} WHERE r.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(repo_from_row).transpose()
    }

    async fn delete_repo(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM repos WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn move_repo(&self, id: i64, new_owner: AccountId, new_name: &str, now: Millis) -> StoreResult<RepoRecord> {
        let before = self.fetch_repo(id).await?;
        // The rename and the redirect from the old name commit together.
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE repos SET owner_id = $2, name = $3, name_lower = $4, updated_at = $5 WHERE id = $1 RETURNING repo_type",
        )
        .bind(id)
        .bind(new_owner)
        .bind(new_name)
        .bind(fold(new_name))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await;
        match moved {
            Ok(Some(_)) => {}
            Ok(None) => return Err(StoreError::NotFound(format!("repository {id}"))),
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                return Err(self.repo_conflict(before.repo_type, new_owner, new_name, None).await?);
            }
            Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::NotFound(format!("account {new_owner}"))),
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "INSERT INTO repo_redirects (repo_type, owner_lower, name_lower, repo_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (repo_type, owner_lower, name_lower) DO UPDATE SET repo_id = excluded.repo_id, created_at = excluded.created_at",
        )
        .bind(before.repo_type.as_str())
        .bind(fold(&before.owner_name))
        .bind(fold(&before.name))
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.fetch_repo(id).await
    }

    async fn set_gate_settings(
        &self,
        id: i64,
        gate: &GateSettings,
        event: Option<&crate::NewGateEvent>,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE repos SET gated = $2, gated_notifications_mode = $3, gated_notifications_email = $4, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(gate.mode.map(GateMode::as_str))
        .bind(gate.notifications_mode.as_str())
        .bind(gate.notifications_email.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        found_repo(done, id)?;
        if let Some(e) = event {
            crate::gating::insert_event(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_private(&self, id: i64, private: bool, now: Millis) -> StoreResult<()> {
        let done = sqlx::query("UPDATE repos SET private = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(flag(private))
            .bind(now)
            .execute(&self.pool)
            .await?;
        found_repo(done, id)
    }

    async fn touch_repo(&self, id: i64, now: Millis) -> StoreResult<()> {
        let done = sqlx::query("UPDATE repos SET updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        found_repo(done, id)
    }

    async fn list_repos(&self, q: &RepoQuery) -> StoreResult<Vec<RepoRecord>> {
        let mut args = Args::default();
        let mut sql =
            format!("{REPO_SELECT} WHERE r.repo_type = {}", args.push(Param::Text(q.repo_type.as_str().into())));
        sql.push_str(&filter_clause(&q.filter, &mut args));
        if let Some(author) = &q.author {
            sql.push_str(&format!(" AND a.name_lower = {}", args.push(Param::Text(fold(author)))));
        }
        if let Some(search) = &q.search {
            let pattern = args.push(Param::Text(contains_pattern(&fold(search))));
            sql.push_str(&format!(" AND (a.name_lower || '/' || r.name_lower) LIKE {pattern} ESCAPE '\\'"));
        }
        if let Some(tag) = &q.tag {
            let tag = args.push(Param::Text(tag.clone()));
            sql.push_str(&format!(" AND EXISTS (SELECT 1 FROM repo_tags t WHERE t.repo_id = r.id AND t.tag = {tag})"));
        }
        sql.push_str(match q.sort {
            RepoSort::LastModified => " ORDER BY r.updated_at DESC, r.id DESC",
            RepoSort::CreatedAt => " ORDER BY r.created_at DESC, r.id DESC",
            RepoSort::Name => " ORDER BY r.name_lower ASC, r.id ASC",
        });
        let limit = args.push(Param::Int(i64::from(q.limit)));
        let offset = args.push(Param::Int(offset_param(q.offset)));
        sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));

        let mut query = sqlx::query(&sql);
        for p in args.0 {
            query = match p {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(repo_from_row).collect()
    }

    async fn storage_keys(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT storage_key FROM repos ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("storage_key")?)).collect()
    }

    async fn set_repo_tags(&self, repo_id: i64, tags: &[String]) -> StoreResult<()> {
        let tags: BTreeSet<&str> = tags.iter().map(String::as_str).collect();
        let mut tx = self.pool.begin().await?;
        // A write first: it tells whether the repository exists and takes its row lock (SQLite: the write
        // lock), so concurrent replacements serialize instead of merging.
        let done =
            sqlx::query("UPDATE repos SET private = private WHERE id = $1").bind(repo_id).execute(&mut *tx).await?;
        found_repo(done, repo_id)?;
        sqlx::query("DELETE FROM repo_tags WHERE repo_id = $1").bind(repo_id).execute(&mut *tx).await?;
        for tag in tags {
            sqlx::query("INSERT INTO repo_tags (repo_id, tag) VALUES ($1, $2)")
                .bind(repo_id)
                .bind(tag)
                .execute(&mut *tx)
                .await
                .map_err(missing_on_fk(|| format!("repository {repo_id}")))?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn repo_tags(&self, repo_id: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT tag FROM repo_tags WHERE repo_id = $1 ORDER BY tag")
            .bind(repo_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("tag")?)).collect()
    }
}
