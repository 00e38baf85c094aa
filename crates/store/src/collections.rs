//! Collections (spec §8): a namespace's curated lists of models, datasets, spaces, papers, other
//! collections and buckets; and gating groups — collections whose gate applies to all their models and
//! datasets (`repos.gating_group_id`). Every change that touches more than one row is one transaction,
//! and each begins with a write to the collection's row (its row lock; on SQLite the write lock), so
//! changes to one collection serialize and checks read what the change will see.

use gatehouse_authz::{AccountId, RepoFilter};
use gatehouse_types::{Millis, RepoType};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::{is_foreign_key_violation, is_unique_violation, StoreError, StoreResult};
use crate::repos::{gate_mode, notifications_mode, repo_from_row, GateSettings, RepoRecord, REPO_SELECT};
use crate::sql::{flag, is_set, offset_param};
use crate::Store;

/// What a collection item is (the Hub's `item.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemType {
    Model,
    Dataset,
    Space,
    Paper,
    Collection,
    Bucket,
}

impl ItemType {
    pub const ALL: [ItemType; 6] =
        [ItemType::Model, ItemType::Dataset, ItemType::Space, ItemType::Paper, ItemType::Collection, ItemType::Bucket];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Model => "model",
            ItemType::Dataset => "dataset",
            ItemType::Space => "space",
            ItemType::Paper => "paper",
            ItemType::Collection => "collection",
            ItemType::Bucket => "bucket",
        }
    }

    pub fn parse(s: &str) -> Option<ItemType> {
        ItemType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The repository type of model, dataset and space items.
    pub fn repo_type(self) -> Option<RepoType> {
        match self {
            ItemType::Model => Some(RepoType::Model),
            ItemType::Dataset => Some(RepoType::Dataset),
            ItemType::Space => Some(RepoType::Space),
            ItemType::Paper | ItemType::Collection | ItemType::Bucket => None,
        }
    }

    pub fn of_repo(t: RepoType) -> ItemType {
        match t {
            RepoType::Model => ItemType::Model,
            RepoType::Dataset => ItemType::Dataset,
            RepoType::Space => ItemType::Space,
        }
    }

    /// Whether a gating group gates items of this type (models and datasets; not spaces or papers).
    pub fn is_gated_by_group(self) -> bool {
        matches!(self, ItemType::Model | ItemType::Dataset)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRecord {
    pub id: i64,
    /// 24 lowercase hex digits; ends the slug `owner/slug_title-object_id`.
    pub object_id: String,
    pub owner_id: AccountId,
    /// Joined from the owner's account.
    pub owner_name: String,
    pub owner_is_org: bool,
    pub title: String,
    pub slug_title: String,
    pub description: Option<String>,
    pub private: bool,
    pub theme: String,
    pub position: i64,
    /// `mode` is set while the collection is a gating group (the approval mode of all its models and
    /// datasets), with who hears of new requests.
    pub gate: GateSettings,
    pub created_at: Millis,
    pub updated_at: Millis,
}

pub struct NewCollection {
    pub object_id: String,
    pub owner_id: AccountId,
    pub title: String,
    pub slug_title: String,
    pub description: Option<String>,
    pub private: bool,
}

/// A change to a collection's metadata; None leaves that part as it is.
#[derive(Debug, Default, Clone)]
pub struct CollectionUpdate {
    /// The new title with its slug form.
    pub title: Option<(String, String)>,
    /// Some(None) removes the description.
    pub description: Option<Option<String>>,
    pub private: Option<bool>,
    pub theme: Option<String>,
    pub position: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionItemRecord {
    pub id: i64,
    pub object_id: String,
    pub collection_id: i64,
    pub item_type: ItemType,
    /// Models, datasets and spaces: the repository as it is now (it follows renames and moves).
    pub repo: Option<RepoRecord>,
    /// `repo:<id>` for repositories; the paper id, collection slug or bucket id for the others.
    pub key: String,
    pub position: i64,
    pub note: Option<String>,
    pub created_at: Millis,
}

pub struct NewCollectionItem {
    pub object_id: String,
    pub item_type: ItemType,
    /// Set for models, datasets and spaces (and only for them).
    pub repo_id: Option<i64>,
    /// The paper id, collection slug or bucket id; ignored for repositories.
    pub text_id: String,
    pub note: Option<String>,
}

/// A change to an item; None leaves that part as it is.
#[derive(Debug, Default, Clone)]
pub struct ItemUpdate {
    /// Moves the item to this index (clamped), shifting the others.
    pub position: Option<i64>,
    /// Some(None) removes the note.
    pub note: Option<Option<String>>,
}

/// An item to look collections up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKey {
    Repo(i64),
    Text(ItemType, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionSort {
    /// `updated_at` descending, then id descending (also what `trending` and `upvotes` mean here: there are
    /// no upvotes).
    LastModified,
    /// The owner's order (`position` ascending), then newest first.
    Position,
}

#[derive(Debug, Clone)]
pub struct CollectionQuery {
    /// Private collections are listed as `RepoFilter::admits(owner, private)` decides, exactly as the
    /// owner's repositories of that visibility.
    pub filter: RepoFilter,
    /// Only collections of these owners (None: any owner; empty: none).
    pub owners: Option<Vec<AccountId>>,
    /// Only collections holding one of these items (None: any; empty: none).
    pub items: Option<Vec<ItemKey>>,
    pub sort: CollectionSort,
    pub offset: u64,
    pub limit: u32,
}

/// Why a model or dataset cannot join a gating group; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRefusal {
    /// The repository is not owned by the collection's owner.
    ForeignRepo(Box<RepoRecord>),
    /// The repository belongs to another gating group already.
    InOtherGroup { repo: Box<RepoRecord>, group: Box<CollectionRecord> },
}

#[async_trait::async_trait]
pub trait CollectionStore: Send + Sync {
    /// Conflict if the owner has a collection of the same title (case-insensitive) or the object id is
    /// taken; NotFound if the owner does not exist. Appended after the owner's other collections.
    async fn create_collection(&self, c: NewCollection, now: Millis) -> StoreResult<CollectionRecord>;
    async fn collection_by_object_id(&self, object_id: &str) -> StoreResult<Option<CollectionRecord>>;
    async fn collection_by_id(&self, id: i64) -> StoreResult<Option<CollectionRecord>>;
    /// The owner's collection with this title (case-insensitive, surrounding spaces ignored).
    async fn collection_by_title(&self, owner: AccountId, title: &str) -> StoreResult<Option<CollectionRecord>>;
    async fn list_collections(&self, q: &CollectionQuery) -> StoreResult<Vec<CollectionRecord>>;
    /// Also sets `updated_at`. NotFound if there is no such collection.
    async fn update_collection(&self, id: i64, u: &CollectionUpdate, now: Millis) -> StoreResult<CollectionRecord>;
    /// Its items go with it; its repositories leave the gating group (foreign keys, same statement).
    async fn delete_collection(&self, id: i64) -> StoreResult<bool>;
    /// The items of these collections, each collection's in order (position, then id).
    async fn collection_items(&self, collection_ids: &[i64]) -> StoreResult<Vec<CollectionItemRecord>>;
    /// Appends an item. Conflict if it is in the collection already; NotFound if the collection or the
    /// repository does not exist. In a gating group a model or dataset must be the owner's and in no
    /// other group; it then joins this one (all in one transaction).
    async fn add_collection_item(
        &self,
        collection_id: i64,
        item: NewCollectionItem,
        now: Millis,
    ) -> StoreResult<Result<CollectionItemRecord, GroupRefusal>>;
    /// NotFound if the collection has no such item.
    async fn update_collection_item(
        &self,
        collection_id: i64,
        item_object_id: &str,
        u: &ItemUpdate,
        now: Millis,
    ) -> StoreResult<CollectionItemRecord>;
    /// Removes the item (its repository leaves this gating group) and returns it. NotFound if the
    /// collection has no such item.
    async fn delete_collection_item(
        &self,
        collection_id: i64,
        item_object_id: &str,
        now: Millis,
    ) -> StoreResult<CollectionItemRecord>;
    /// Sets the gate. With a mode, every model and dataset of the collection must be the owner's and in
    /// no other group, and all of them join this one; without, they all leave it. One transaction:
    /// refused, nothing changes.
    /// `event`, when given, is logged in the same transaction.
    async fn set_collection_gate(
        &self,
        collection_id: i64,
        gate: &GateSettings,
        event: Option<&crate::NewGateEvent>,
        now: Millis,
    ) -> StoreResult<Result<CollectionRecord, GroupRefusal>>;
    /// The repositories whose gating group this collection is, in id order.
    async fn gating_group_repos(&self, collection_id: i64) -> StoreResult<Vec<RepoRecord>>;
}

const COLLECTION_SELECT: &str = "SELECT c.id, c.object_id, c.owner_id, a.name AS owner_name, a.kind AS owner_kind, \
     c.title, c.slug_title, c.description, c.private, c.theme, c.position, c.gated, c.gated_notifications_mode, \
     c.gated_notifications_email, c.created_at, c.updated_at FROM collections c JOIN accounts a ON a.id = c.owner_id";

const ITEM_SELECT: &str = "SELECT i.id, i.object_id, i.collection_id, i.item_type, i.repo_id, i.item_key, i.position, \
     i.note, i.created_at FROM collection_items i";

/// The models and datasets of collection `$1`.
const GROUP_REPO_IDS: &str =
    "SELECT repo_id FROM collection_items WHERE collection_id = $1 AND item_type IN ('model', 'dataset')";

fn collection_from_row(row: &AnyRow) -> StoreResult<CollectionRecord> {
    let owner_kind: String = row.try_get("owner_kind")?;
    Ok(CollectionRecord {
        id: row.try_get("id")?,
        object_id: row.try_get("object_id")?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        owner_is_org: match owner_kind.as_str() {
            "org" => true,
            "user" => false,
            other => return Err(StoreError::Corrupt(format!("unknown account kind '{other}'"))),
        },
        title: row.try_get("title")?,
        slug_title: row.try_get("slug_title")?,
        description: row.try_get("description")?,
        private: is_set(row.try_get("private")?),
        theme: row.try_get("theme")?,
        position: row.try_get("position")?,
        gate: GateSettings {
            mode: gate_mode(row.try_get("gated")?)?,
            notifications_mode: notifications_mode(&row.try_get::<String, _>("gated_notifications_mode")?)?,
            notifications_email: row.try_get("gated_notifications_email")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An item row; its repository is filled in by the caller.
fn item_from_row(row: &AnyRow) -> StoreResult<(CollectionItemRecord, Option<i64>)> {
    let t: String = row.try_get("item_type")?;
    let item = CollectionItemRecord {
        id: row.try_get("id")?,
        object_id: row.try_get("object_id")?,
        collection_id: row.try_get("collection_id")?,
        item_type: ItemType::parse(&t).ok_or_else(|| StoreError::Corrupt(format!("unknown item type '{t}'")))?,
        repo: None,
        key: row.try_get("item_key")?,
        position: row.try_get("position")?,
        note: row.try_get("note")?,
        created_at: row.try_get("created_at")?,
    };
    Ok((item, row.try_get("repo_id")?))
}

fn same_title(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A value for a dynamically built statement.
enum Param {
    Int(i64),
    Text(Option<String>),
}

#[derive(Default)]
struct Args(Vec<Param>);

impl Args {
    fn push(&mut self, p: Param) -> String {
        self.0.push(p);
        format!("${}", self.0.len())
    }

    fn bind(self, sql: &str) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut query = sqlx::query(sql);
        for p in self.0 {
            query = match p {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
            };
        }
        query
    }
}

async fn fetch_collection(conn: &mut AnyConnection, id: i64) -> StoreResult<Option<CollectionRecord>> {
    let sql = format!("{COLLECTION_SELECT} WHERE c.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(collection_from_row).transpose()
}

async fn fetch_repos(conn: &mut AnyConnection, ids: &[i64]) -> StoreResult<Vec<RepoRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{REPO_SELECT} WHERE r.id IN ({}) ORDER BY r.id", placeholders(1, ids.len()));
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(repo_from_row).collect()
}

/// Items as rows say, with their repositories.
async fn with_repos(
    conn: &mut AnyConnection,
    rows: Vec<(CollectionItemRecord, Option<i64>)>,
) -> StoreResult<Vec<CollectionItemRecord>> {
    let mut ids: Vec<i64> = rows.iter().filter_map(|(_, r)| *r).collect();
    ids.sort_unstable();
    ids.dedup();
    let repos = fetch_repos(conn, &ids).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (mut item, repo_id) in rows {
        if let Some(id) = repo_id {
            // A deleted repository takes its items with it (foreign key), so it is always found.
            item.repo = repos.iter().find(|r| r.id == id).cloned();
        }
        out.push(item);
    }
    Ok(out)
}

async fn fetch_item(
    conn: &mut AnyConnection,
    collection_id: i64,
    object_id: &str,
) -> StoreResult<Option<CollectionItemRecord>> {
    let sql = format!("{ITEM_SELECT} WHERE i.collection_id = $1 AND i.object_id = $2");
    let row = sqlx::query(&sql).bind(collection_id).bind(object_id).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_repos(conn, vec![item_from_row(&row)?]).await?.pop())
}

/// Touches the collection (its `updated_at`), which takes its row lock for the rest of the transaction.
/// Returns the collection's owner and gate mode; NotFound if there is none.
async fn lock_collection(conn: &mut AnyConnection, id: i64, now: Millis) -> StoreResult<(AccountId, bool)> {
    let row = sqlx::query("UPDATE collections SET updated_at = $2 WHERE id = $1 RETURNING owner_id, gated")
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| no_collection(id))?;
    Ok((row.try_get("owner_id")?, row.try_get::<Option<String>, _>("gated")?.is_some()))
}

fn no_collection(id: i64) -> StoreError {
    StoreError::NotFound(format!("collection {id}"))
}

fn no_item(object_id: &str) -> StoreError {
    StoreError::NotFound(format!("collection item {object_id}"))
}

/// Why `repo` may not join group `group_id` of owner `owner`, if it may not.
async fn group_refusal(
    conn: &mut AnyConnection,
    repo: &RepoRecord,
    owner: AccountId,
    group_id: i64,
) -> StoreResult<Option<GroupRefusal>> {
    if repo.owner_id != owner {
        return Ok(Some(GroupRefusal::ForeignRepo(Box::new(repo.clone()))));
    }
    match repo.gating_group_id {
        Some(other) if other != group_id => {
            let group = fetch_collection(conn, other).await?.ok_or_else(|| no_collection(other))?;
            Ok(Some(GroupRefusal::InOtherGroup { repo: Box::new(repo.clone()), group: Box::new(group) }))
        }
        _ => Ok(None),
    }
}

/// Moves item `item_id` of a collection to index `to` (clamped) and renumbers the items 0…n-1.
async fn move_item(conn: &mut AnyConnection, collection_id: i64, item_id: i64, to: i64) -> StoreResult<()> {
    let rows = sqlx::query("SELECT id, position FROM collection_items WHERE collection_id = $1 ORDER BY position, id")
        .bind(collection_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut order: Vec<(i64, i64)> =
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("position")?))).collect::<StoreResult<_>>()?;
    let Some(from) = order.iter().position(|(id, _)| *id == item_id) else { return Ok(()) };
    let moved = order.remove(from);
    let to = usize::try_from(to.max(0)).unwrap_or(usize::MAX).min(order.len());
    order.insert(to, moved);
    for (index, (id, position)) in order.iter().enumerate() {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        if *position != index {
            sqlx::query("UPDATE collection_items SET position = $2 WHERE id = $1")
                .bind(*id)
                .bind(index)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl CollectionStore for Store {
    async fn create_collection(&self, c: NewCollection, now: Millis) -> StoreResult<CollectionRecord> {
        let mut tx = self.pool.begin().await?;
        // The owner's row lock serializes creations in one namespace, so a title is checked and taken
        // atomically (there is no unique index on titles: they are compared case-insensitively).
        let owner =
            sqlx::query("UPDATE accounts SET kind = kind WHERE id = $1").bind(c.owner_id).execute(&mut *tx).await?;
        if owner.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account {}", c.owner_id)));
        }
        let titles = sqlx::query("SELECT title FROM collections WHERE owner_id = $1")
            .bind(c.owner_id)
            .fetch_all(&mut *tx)
            .await?;
        for row in &titles {
            if same_title(&row.try_get::<String, _>("title")?, &c.title) {
                return Err(StoreError::Conflict(format!("a collection titled '{}' already exists", c.title.trim())));
            }
        }
        let next = sqlx::query("SELECT COALESCE(MAX(position) + 1, 0) AS next FROM collections WHERE owner_id = $1")
            .bind(c.owner_id)
            .fetch_one(&mut *tx)
            .await?;
        let position: i64 = next.try_get("next")?;
        let inserted = sqlx::query(
            "INSERT INTO collections (object_id, owner_id, title, slug_title, description, private, position, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(&c.object_id)
        .bind(c.owner_id)
        .bind(&c.title)
        .bind(&c.slug_title)
        .bind(c.description.as_deref())
        .bind(flag(c.private))
        .bind(position)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get("id")?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("object id '{}' is already in use", c.object_id)))
            }
            Err(e) => return Err(e.into()),
        };
        let created = fetch_collection(&mut tx, id).await?.ok_or_else(|| no_collection(id))?;
        tx.commit().await?;
        Ok(created)
    }

    async fn collection_by_object_id(&self, object_id: &str) -> StoreResult<Option<CollectionRecord>> {
        let sql = format!("{COLLECTION_SELECT} WHERE c.object_id = $1");
        let row = sqlx::query(&sql).bind(object_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(collection_from_row).transpose()
    }

    async fn collection_by_id(&self, id: i64) -> StoreResult<Option<CollectionRecord>> {
        let mut conn = self.pool.acquire().await?;
        fetch_collection(&mut conn, id).await
    }

    async fn collection_by_title(&self, owner: AccountId, title: &str) -> StoreResult<Option<CollectionRecord>> {
        let sql = format!("{COLLECTION_SELECT} WHERE c.owner_id = $1 ORDER BY c.id");
        let rows = sqlx::query(&sql).bind(owner).fetch_all(&self.pool).await?;
        for row in &rows {
            let c = collection_from_row(row)?;
            if same_title(&c.title, title) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    async fn list_collections(&self, q: &CollectionQuery) -> StoreResult<Vec<CollectionRecord>> {
        if q.owners.as_ref().is_some_and(Vec::is_empty) || q.items.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let mut args = Args::default();
        let mut sql = format!("{COLLECTION_SELECT} WHERE 1 = 1");
        // The very predicate `RepoFilter::admits(owner, private)`.
        if !q.filter.all {
            if q.filter.private_owners.is_empty() {
                sql.push_str(" AND c.private = 0");
            } else {
                let owners: Vec<String> = q.filter.private_owners.iter().map(|id| args.push(Param::Int(*id))).collect();
                sql.push_str(&format!(" AND (c.private = 0 OR c.owner_id IN ({}))", owners.join(", ")));
            }
        }
        if let Some(owners) = &q.owners {
            let owners: Vec<String> = owners.iter().map(|id| args.push(Param::Int(*id))).collect();
            sql.push_str(&format!(" AND c.owner_id IN ({})", owners.join(", ")));
        }
        if let Some(items) = &q.items {
            let any: Vec<String> = items
                .iter()
                .map(|key| match key {
                    ItemKey::Repo(id) => format!("i.repo_id = {}", args.push(Param::Int(*id))),
                    ItemKey::Text(t, k) => format!(
                        "(i.item_type = {} AND i.item_key = {})",
                        args.push(Param::Text(Some(t.as_str().into()))),
                        args.push(Param::Text(Some(k.clone())))
                    ),
                })
                .collect();
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM collection_items i WHERE i.collection_id = c.id AND ({}))",
                any.join(" OR ")
            ));
        }
        sql.push_str(match q.sort {
            CollectionSort::LastModified => " ORDER BY c.updated_at DESC, c.id DESC",
            CollectionSort::Position => " ORDER BY c.position ASC, c.id DESC",
        });
        let limit = args.push(Param::Int(i64::from(q.limit)));
        let offset = args.push(Param::Int(offset_param(q.offset)));
        sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
        let rows = args.bind(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(collection_from_row).collect()
    }

    async fn update_collection(&self, id: i64, u: &CollectionUpdate, now: Millis) -> StoreResult<CollectionRecord> {
        let mut args = Args::default();
        let mut sets = vec![format!("updated_at = {}", args.push(Param::Int(now)))];
        if let Some((title, slug)) = &u.title {
            sets.push(format!("title = {}", args.push(Param::Text(Some(title.clone())))));
            sets.push(format!("slug_title = {}", args.push(Param::Text(Some(slug.clone())))));
        }
        if let Some(description) = &u.description {
            sets.push(format!("description = {}", args.push(Param::Text(description.clone()))));
        }
        if let Some(private) = u.private {
            sets.push(format!("private = {}", args.push(Param::Int(flag(private)))));
        }
        if let Some(theme) = &u.theme {
            sets.push(format!("theme = {}", args.push(Param::Text(Some(theme.clone())))));
        }
        if let Some(position) = u.position {
            sets.push(format!("position = {}", args.push(Param::Int(position))));
        }
        let sql = format!("UPDATE collections SET {} WHERE id = {}", sets.join(", "), args.push(Param::Int(id)));
        let mut tx = self.pool.begin().await?;
        let done = args.bind(&sql).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(no_collection(id));
        }
        let updated = fetch_collection(&mut tx, id).await?.ok_or_else(|| no_collection(id))?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn delete_collection(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM collections WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn collection_items(&self, collection_ids: &[i64]) -> StoreResult<Vec<CollectionItemRecord>> {
        if collection_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{ITEM_SELECT} WHERE i.collection_id IN ({}) ORDER BY i.collection_id, i.position, i.id",
            placeholders(1, collection_ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in collection_ids {
            query = query.bind(*id);
        }
        let mut conn = self.pool.acquire().await?;
        let rows = query.fetch_all(&mut *conn).await?;
        let rows = rows.iter().map(item_from_row).collect::<StoreResult<Vec<_>>>()?;
        with_repos(&mut conn, rows).await
    }

    async fn add_collection_item(
        &self,
        collection_id: i64,
        item: NewCollectionItem,
        now: Millis,
    ) -> StoreResult<Result<CollectionItemRecord, GroupRefusal>> {
        let mut tx = self.pool.begin().await?;
        let (owner, gated) = lock_collection(&mut tx, collection_id, now).await?;
        let joins_group = gated && item.item_type.is_gated_by_group() && item.repo_id.is_some();
        if let (true, Some(repo_id)) = (joins_group, item.repo_id) {
            let repo = fetch_repos(&mut tx, &[repo_id]).await?.pop();
            let repo = repo.ok_or_else(|| StoreError::NotFound(format!("repository {repo_id}")))?;
            if let Some(refusal) = group_refusal(&mut tx, &repo, owner, collection_id).await? {
                return Ok(Err(refusal));
            }
        }
        let next =
            sqlx::query("SELECT COALESCE(MAX(position) + 1, 0) AS next FROM collection_items WHERE collection_id = $1")
                .bind(collection_id)
                .fetch_one(&mut *tx)
                .await?;
        let position: i64 = next.try_get("next")?;
        let key = match item.repo_id {
            Some(id) => format!("repo:{id}"),
            None => item.text_id.clone(),
        };
        let inserted = sqlx::query(
            "INSERT INTO collection_items (object_id, collection_id, item_type, repo_id, item_key, position, note, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&item.object_id)
        .bind(collection_id)
        .bind(item.item_type.as_str())
        .bind(item.repo_id)
        .bind(&key)
        .bind(position)
        .bind(item.note.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict("the item is already in the collection".into()))
            }
            Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::NotFound("the item's repository".into())),
            Err(e) => return Err(e.into()),
        }
        if let (true, Some(repo_id)) = (joins_group, item.repo_id) {
            // Guarded: a repository another group took meanwhile (PostgreSQL re-checks the condition
            // after waiting for that transaction) is not taken over.
            let joined = sqlx::query(
                "UPDATE repos SET gating_group_id = $1 WHERE id = $2 AND (gating_group_id IS NULL OR gating_group_id = $1)",
            )
            .bind(collection_id)
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
            if joined.rows_affected() == 0 {
                let repo = fetch_repos(&mut tx, &[repo_id]).await?.pop();
                let repo = repo.ok_or_else(|| StoreError::NotFound(format!("repository {repo_id}")))?;
                return match group_refusal(&mut tx, &repo, owner, collection_id).await? {
                    Some(refusal) => Ok(Err(refusal)),
                    None => Err(StoreError::Conflict("the repository changed gating group meanwhile".into())),
                };
            }
        }
        let added =
            fetch_item(&mut tx, collection_id, &item.object_id).await?.ok_or_else(|| no_item(&item.object_id))?;
        tx.commit().await?;
        Ok(Ok(added))
    }

    async fn update_collection_item(
        &self,
        collection_id: i64,
        item_object_id: &str,
        u: &ItemUpdate,
        now: Millis,
    ) -> StoreResult<CollectionItemRecord> {
        let mut tx = self.pool.begin().await?;
        lock_collection(&mut tx, collection_id, now).await?;
        let item = fetch_item(&mut tx, collection_id, item_object_id).await?.ok_or_else(|| no_item(item_object_id))?;
        if let Some(note) = &u.note {
            sqlx::query("UPDATE collection_items SET note = $2 WHERE id = $1")
                .bind(item.id)
                .bind(note.as_deref())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(to) = u.position {
            move_item(&mut tx, collection_id, item.id, to).await?;
        }
        let updated =
            fetch_item(&mut tx, collection_id, item_object_id).await?.ok_or_else(|| no_item(item_object_id))?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn delete_collection_item(
        &self,
        collection_id: i64,
        item_object_id: &str,
        now: Millis,
    ) -> StoreResult<CollectionItemRecord> {
        let mut tx = self.pool.begin().await?;
        lock_collection(&mut tx, collection_id, now).await?;
        let item = fetch_item(&mut tx, collection_id, item_object_id).await?.ok_or_else(|| no_item(item_object_id))?;
        sqlx::query("DELETE FROM collection_items WHERE id = $1").bind(item.id).execute(&mut *tx).await?;
        if let Some(repo) = &item.repo {
            sqlx::query("UPDATE repos SET gating_group_id = NULL WHERE id = $1 AND gating_group_id = $2")
                .bind(repo.id)
                .bind(collection_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(item)
    }

    async fn set_collection_gate(
        &self,
        collection_id: i64,
        gate: &GateSettings,
        event: Option<&crate::NewGateEvent>,
        now: Millis,
    ) -> StoreResult<Result<CollectionRecord, GroupRefusal>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE collections SET gated = $2, gated_notifications_mode = $3, gated_notifications_email = $4, \
             updated_at = $5 WHERE id = $1 RETURNING owner_id",
        )
        .bind(collection_id)
        .bind(gate.mode.map(gatehouse_types::GateMode::as_str))
        .bind(gate.notifications_mode.as_str())
        .bind(gate.notifications_email.as_deref())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| no_collection(collection_id))?;
        let owner: AccountId = row.try_get("owner_id")?;
        if gate.mode.is_some() {
            let ids = sqlx::query(GROUP_REPO_IDS).bind(collection_id).fetch_all(&mut *tx).await?;
            let ids: Vec<i64> = ids.iter().map(|r| r.try_get("repo_id")).collect::<Result<_, _>>()?;
            for repo in fetch_repos(&mut tx, &ids).await? {
                if let Some(refusal) = group_refusal(&mut tx, &repo, owner, collection_id).await? {
                    return Ok(Err(refusal));
                }
            }
            let joined = sqlx::query(&format!(
                "UPDATE repos SET gating_group_id = $1 WHERE id IN ({GROUP_REPO_IDS}) \
                 AND (gating_group_id IS NULL OR gating_group_id = $1)"
            ))
            .bind(collection_id)
            .execute(&mut *tx)
            .await?;
            if joined.rows_affected() != ids.len() as u64 {
                // Another group took one of them meanwhile: say which, and change nothing.
                for repo in fetch_repos(&mut tx, &ids).await? {
                    if let Some(refusal) = group_refusal(&mut tx, &repo, owner, collection_id).await? {
                        return Ok(Err(refusal));
                    }
                }
                return Err(StoreError::Conflict("a repository changed gating group meanwhile".into()));
            }
        } else {
            sqlx::query("UPDATE repos SET gating_group_id = NULL WHERE gating_group_id = $1")
                .bind(collection_id)
                .execute(&mut *tx)
                .await?;
        }
        let updated = fetch_collection(&mut tx, collection_id).await?.ok_or_else(|| no_collection(collection_id))?;
        if let Some(e) = event {
            crate::gating::insert_event(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(Ok(updated))
    }

    async fn gating_group_repos(&self, collection_id: i64) -> StoreResult<Vec<RepoRecord>> {
        let sql = format!("{REPO_SELECT} WHERE r.gating_group_id = $1 ORDER BY r.id");
        let rows = sqlx::query(&sql).bind(collection_id).fetch_all(&self.pool).await?;
        rows.iter().map(repo_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_types_round_trip() {
        for t in ItemType::ALL {
            assert_eq!(ItemType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ItemType::parse("Model"), None);
        assert!(ItemType::Model.is_gated_by_group() && ItemType::Dataset.is_gated_by_group());
        assert!(!ItemType::Space.is_gated_by_group() && !ItemType::Paper.is_gated_by_group());
        assert_eq!(placeholders(3, 2), "$3, $4");
    }
}
