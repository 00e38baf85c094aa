//! Collections (spec §8) and gating groups (seeds: "Gating Group Collections").
//!
//! Who may do what is the one decision function's answer:
//! - creating in a namespace needs `RepoCreate` there, as creating a repository does;
//! - a collection is seen as its owner's repositories of the same visibility are (a private one only by
//!   those who see the owner's private repositories: the very `RepoFilter` the listing uses); hidden
//!   collections answer exactly as missing ones;
//! - changing it (metadata, items, deletion) needs `CollectionManage` on the owner's namespace;
//! - its gating settings need `OrgManageMembers` (the organization's admins), and the owner must be an
//!   organization.
//!
//! Items are filtered with the same decision: a repository the viewer may not see (`RepoRead`) is left
//! out of every answer and cannot be added (404, as if missing), so lists and point checks agree.
//!
//! A gating group's models and datasets must all belong to the organization and to no other gating group;
//! they carry the group in `repos.gating_group_id` (set and cleared in the transaction that changes the
//! group or its items), so its mode and its access requests apply to them.

use crate::access::{authorize_namespace, authorize_repo, check_repo};
use crate::time::now_millis;
use crate::Hub;
use gatehouse_authz::{decide, Action, Decision, NamespaceFacts, Resource, Subject};
use gatehouse_store::{
    AccountStore, CollectionItemRecord, CollectionQuery, CollectionRecord, CollectionSort, CollectionStore,
    CollectionUpdate, Gate, GroupRefusal, ItemKey, ItemType, ItemUpdate, NewCollection, NewCollectionItem, RepoRecord,
    StoreError,
};
use gatehouse_types::{Error, ErrorCode, RepoId, RepoType, Result};
use rand::RngCore;

pub const MAX_TITLE_CHARS: usize = 100;
/// The Hub's limits (huggingface_hub's docstrings).
pub const MAX_DESCRIPTION_CHARS: usize = 150;
pub const MAX_NOTE_CHARS: usize = 500;
/// The slug form of a title is cut to this many characters.
const MAX_SLUG_TITLE: usize = 60;
pub const THEMES: [&str; 7] = ["default", "orange", "blue", "green", "purple", "pink", "indigo"];

/// A collection as the caller may see it.
#[derive(Debug, Clone)]
pub struct Collection {
    pub record: CollectionRecord,
    /// `owner/slug-title-<object id>`.
    pub slug: String,
    /// The items the caller may see, in order.
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub record: CollectionItemRecord,
    /// `owner/name` for a repository (as it is named now), the collection's slug, or the paper or bucket id.
    pub id: String,
}

impl Item {
    pub fn item_type(&self) -> ItemType {
        self.record.item_type
    }

    /// The site path of a repository or collection item (papers and buckets have none here).
    pub fn path(&self) -> Option<String> {
        match (&self.record.repo, self.record.item_type) {
            (Some(r), _) => Some(format!("/{}{}/{}", r.repo_type.url_prefix(), r.owner_name, r.name)),
            (None, ItemType::Collection) => Some(format!("/collections/{}", self.id)),
            (None, _) => None,
        }
    }
}

pub fn slug_of(c: &CollectionRecord) -> String {
    format!("{}/{}-{}", c.owner_name, c.slug_title, c.object_id)
}

/// How the gate log names a gating group (as `gating::gate_info` does).
fn group_label(c: &CollectionRecord) -> String {
    format!("collection {}", slug_of(c))
}

/// The slug form of a title: lowercase ASCII letters and digits, runs of anything else as one `-`.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() {
            if out.len() >= MAX_SLUG_TITLE {
                break;
            }
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "collection".to_string()
    } else {
        trimmed.to_string()
    }
}

/// 24 random lowercase hex digits, the Hub's object id shape.
pub fn new_object_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The object id that ends a slug's last segment (`title-<24 hex>`, or the bare id).
pub fn object_id_of(slug_segment: &str) -> Option<&str> {
    let start = slug_segment.len().checked_sub(24)?;
    let id = slug_segment.get(start..)?;
    let before = &slug_segment[..start];
    (is_object_id(id) && (before.is_empty() || before.ends_with('-'))).then_some(id)
}

pub fn collection_not_found() -> Error {
    Error::not_found("Collection not found")
}

fn item_not_found() -> Error {
    Error::not_found("Item not found in this collection")
}

fn owner_facts(c: &CollectionRecord) -> NamespaceFacts {
    NamespaceFacts { id: c.owner_id, is_org: c.owner_is_org }
}

/// Whether the subject may see the collection: the listing's own predicate.
pub fn can_see(subject: &Subject, c: &CollectionRecord) -> bool {
    subject.repo_filter().admits(c.owner_id, c.private)
}

/// Whether the subject may change the collection's metadata and items.
pub fn can_manage(subject: &Subject, c: &CollectionRecord) -> bool {
    can_see(subject, c)
        && decide(subject, Action::CollectionManage, Resource::Namespace(&owner_facts(c))) == Decision::Allow
}

/// Whether the subject may change the collection's gating settings.
pub fn can_manage_gating(subject: &Subject, c: &CollectionRecord) -> bool {
    c.owner_is_org
        && can_manage(subject, c)
        && decide(subject, Action::OrgManageMembers, Resource::Namespace(&owner_facts(c))) == Decision::Allow
}

/// The collection `owner/slug` if the subject may see it; otherwise (missing or hidden) `NotFound`.
async fn visible(hub: &Hub, subject: &Subject, owner: &str, slug: &str) -> Result<CollectionRecord> {
    let id = object_id_of(slug).ok_or_else(collection_not_found)?;
    let c = hub.store.collection_by_object_id(id).await?.ok_or_else(collection_not_found)?;
    if !c.owner_name.eq_ignore_ascii_case(owner) || !can_see(subject, &c) {
        return Err(collection_not_found());
    }
    Ok(c)
}

/// The visible collection, if the subject may also do `action` on its owner's namespace.
async fn authorized(hub: &Hub, subject: &Subject, owner: &str, slug: &str, action: Action) -> Result<CollectionRecord> {
    let c = visible(hub, subject, owner, slug).await?;
    authorize_namespace(hub, subject, &c.owner_name, action).await?;
    Ok(c)
}

/// The items the subject may see, with the ids to show. Repositories go through the same decision as
/// their own routes; collections through the collection rule; papers and buckets are public.
async fn visible_items(hub: &Hub, subject: &Subject, items: Vec<CollectionItemRecord>) -> Result<Vec<Item>> {
    let mut out = Vec::with_capacity(items.len());
    for record in items {
        let id = match (&record.repo, record.item_type) {
            (Some(repo), _) => match check_repo(hub, subject, Action::RepoRead, repo).await {
                Ok(()) => format!("{}/{}", repo.owner_name, repo.name),
                Err(e) if e.code == ErrorCode::Internal => return Err(e),
                Err(_) => continue,
            },
            (None, ItemType::Collection) => {
                let target = match record.key.rsplit_once('/').and_then(|(_, s)| object_id_of(s)) {
                    Some(id) => hub.store.collection_by_object_id(id).await?,
                    None => None,
                };
                match target {
                    Some(t) if can_see(subject, &t) => slug_of(&t),
                    _ => continue,
                }
            }
            (None, ItemType::Model | ItemType::Dataset | ItemType::Space) => continue,
            (None, ItemType::Paper | ItemType::Bucket) => record.key.clone(),
        };
        out.push(Item { record, id });
    }
    Ok(out)
}

async fn view(hub: &Hub, subject: &Subject, record: CollectionRecord) -> Result<Collection> {
    let items = hub.store.collection_items(&[record.id]).await?;
    Ok(Collection { slug: slug_of(&record), items: visible_items(hub, subject, items).await?, record })
}

// ---- reading ------------------------------------------------------------------------------------------

pub async fn get(hub: &Hub, subject: &Subject, owner: &str, slug: &str) -> Result<Collection> {
    let c = visible(hub, subject, owner, slug).await?;
    view(hub, subject, c).await
}

pub struct ListCollections {
    /// Owner names (any of them); empty: any owner.
    pub owners: Vec<String>,
    /// Items as the Hub writes them (`models/ns/name`, `datasets/…`, `spaces/…`, `papers/<id>`,
    /// `collections/<slug>`, `buckets/ns/name`), any of them; empty: any.
    pub items: Vec<String>,
    pub sort: CollectionSort,
    pub offset: u64,
    pub limit: u32,
    /// Items shown per collection (the Hub shows 4 in listings).
    pub items_per_collection: usize,
}

/// An item filter as the store knows it, if it names something the subject may see.
async fn item_key(hub: &Hub, subject: &Subject, item: &str) -> Result<Option<ItemKey>> {
    let Some((kind, rest)) = item.split_once('/') else { return Ok(None) };
    let repo_type = match kind {
        "models" => Some(RepoType::Model),
        "datasets" => Some(RepoType::Dataset),
        "spaces" => Some(RepoType::Space),
        _ => None,
    };
    if let Some(t) = repo_type {
        let Ok(id) = RepoId::parse(rest) else { return Ok(None) };
        return match authorize_repo(hub, subject, t, id.namespace(), id.name(), Action::RepoRead).await {
            Ok(repo) => Ok(Some(ItemKey::Repo(repo.id))),
            Err(e) if e.code == ErrorCode::Internal => Err(e),
            Err(_) => Ok(None),
        };
    }
    Ok(match kind {
        "papers" => Some(ItemKey::Text(ItemType::Paper, rest.to_string())),
        "buckets" => Some(ItemKey::Text(ItemType::Bucket, rest.to_string())),
        "collections" => {
            let target = match rest.rsplit_once('/').and_then(|(_, s)| object_id_of(s)) {
                Some(id) => hub.store.collection_by_object_id(id).await?,
                None => None,
            };
            target.filter(|t| can_see(subject, t)).map(|t| ItemKey::Text(ItemType::Collection, slug_of(&t)))
        }
        _ => None,
    })
}

/// The collections the subject may see (the store applies the same filter), each with its first visible
/// items.
pub async fn list(hub: &Hub, subject: &Subject, req: ListCollections) -> Result<Vec<Collection>> {
    let mut owners = None;
    if !req.owners.is_empty() {
        let mut ids = Vec::new();
        for name in &req.owners {
            if let Some(a) = hub.store.account_by_name(name).await? {
                ids.push(a.id);
            }
        }
        owners = Some(ids);
    }
    let mut items = None;
    if !req.items.is_empty() {
        let mut keys = Vec::new();
        for item in &req.items {
            if let Some(k) = item_key(hub, subject, item).await? {
                keys.push(k);
            }
        }
        items = Some(keys);
    }
    let q = CollectionQuery {
        filter: subject.repo_filter(),
        owners,
        items,
        sort: req.sort,
        offset: req.offset,
        limit: req.limit,
    };
    let records = hub.store.list_collections(&q).await?;
    let ids: Vec<i64> = records.iter().map(|c| c.id).collect();
    let mut all_items = hub.store.collection_items(&ids).await?;
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let (mine, rest): (Vec<_>, Vec<_>) = all_items.into_iter().partition(|i| i.collection_id == record.id);
        all_items = rest;
        let mut items = visible_items(hub, subject, mine).await?;
        items.truncate(req.items_per_collection);
        out.push(Collection { slug: slug_of(&record), items, record });
    }
    Ok(out)
}

// ---- creating and changing ------------------------------------------------------------------------------

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn parse_title(title: &str) -> Result<String> {
    let t = title.trim();
    if t.is_empty() {
        return Err(Error::bad_request("A collection needs a title."));
    }
    if chars(t) > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
        return Err(Error::bad_request(format!("Invalid title: at most {MAX_TITLE_CHARS} characters, on one line.")));
    }
    Ok(t.to_string())
}

/// An empty description is none.
fn parse_description(d: &str) -> Result<Option<String>> {
    let d = d.trim();
    if chars(d) > MAX_DESCRIPTION_CHARS {
        return Err(Error::bad_request(format!(
            "The description is too long: at most {MAX_DESCRIPTION_CHARS} characters."
        )));
    }
    Ok((!d.is_empty()).then(|| d.to_string()))
}

/// An empty note is none.
fn parse_note(n: &str) -> Result<Option<String>> {
    let n = n.trim();
    if chars(n) > MAX_NOTE_CHARS {
        return Err(Error::bad_request(format!("The note is too long: at most {MAX_NOTE_CHARS} characters.")));
    }
    Ok((!n.is_empty()).then(|| n.to_string()))
}

fn parse_theme(t: &str) -> Result<String> {
    if THEMES.contains(&t) {
        Ok(t.to_string())
    } else {
        Err(Error::bad_request(format!("Invalid theme '{t}': expected one of {}", THEMES.join(", "))))
    }
}

fn parse_position(p: i64) -> Result<i64> {
    if p < 0 {
        return Err(Error::bad_request("A position cannot be negative."));
    }
    Ok(p)
}

pub struct CreateCollection<'a> {
    /// None: the caller's own namespace.
    pub namespace: Option<&'a str>,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub private: bool,
}

pub enum CreateOutcome {
    Created(Collection),
    /// The owner has a collection of that title (the caller may see it: they may create there).
    AlreadyExists(Collection),
}

pub async fn create(hub: &Hub, subject: &Subject, req: CreateCollection<'_>) -> Result<CreateOutcome> {
    let caller = subject.user().ok_or_else(Error::auth_required)?;
    let ns = req.namespace.unwrap_or(&caller.username);
    let owner = authorize_namespace(hub, subject, ns, Action::RepoCreate).await?;
    let title = parse_title(req.title)?;
    let new = NewCollection {
        object_id: new_object_id(),
        owner_id: owner.id,
        slug_title: slugify(&title),
        title,
        description: req.description.map(parse_description).transpose()?.flatten(),
        private: req.private,
    };
    let title = new.title.clone();
    match hub.store.create_collection(new, now_millis()).await {
        Ok(record) => Ok(CreateOutcome::Created(view(hub, subject, record).await?)),
        Err(StoreError::Conflict(message)) => match hub.store.collection_by_title(owner.id, &title).await? {
            Some(existing) => Ok(CreateOutcome::AlreadyExists(view(hub, subject, existing).await?)),
            None => Err(Error::conflict(message)),
        },
        Err(e) => Err(e.into()),
    }
}

/// A change to a collection's metadata; None leaves that part as it is.
#[derive(Debug, Default, Clone)]
pub struct UpdateCollection {
    pub title: Option<String>,
    /// Empty removes the description.
    pub description: Option<String>,
    pub private: Option<bool>,
    pub theme: Option<String>,
    pub position: Option<i64>,
}

pub async fn update(hub: &Hub, subject: &Subject, owner: &str, slug: &str, u: UpdateCollection) -> Result<Collection> {
    let c = authorized(hub, subject, owner, slug, Action::CollectionManage).await?;
    let title = u.title.as_deref().map(parse_title).transpose()?;
    let change = CollectionUpdate {
        title: title.map(|t| {
            let s = slugify(&t);
            (t, s)
        }),
        description: u.description.as_deref().map(parse_description).transpose()?,
        private: u.private,
        theme: u.theme.as_deref().map(parse_theme).transpose()?,
        position: u.position.map(parse_position).transpose()?,
    };
    let updated = hub.store.update_collection(c.id, &change, now_millis()).await?;
    view(hub, subject, updated).await
}

pub async fn delete(hub: &Hub, subject: &Subject, owner: &str, slug: &str) -> Result<()> {
    let c = authorized(hub, subject, owner, slug, Action::CollectionManage).await?;
    if !hub.store.delete_collection(c.id).await? {
        return Err(collection_not_found());
    }
    if c.gate.mode.is_some() {
        // Its repositories left the group (foreign key): their gate is their own again.
        hub.authorization_changed().await?;
    }
    Ok(())
}

// ---- items --------------------------------------------------------------------------------------------

pub struct AddItem<'a> {
    /// `model`, `dataset`, `space`, `paper`, `collection` or `bucket`.
    pub item_type: &'a str,
    /// A repository id (optionally with its `models/`-style prefix), paper id, collection slug or bucket id.
    pub id: &'a str,
    pub note: Option<&'a str>,
}

pub fn parse_item_type(t: &str) -> Result<ItemType> {
    ItemType::parse(t).ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid item type '{t}': expected model, dataset, space, paper, collection or bucket"
        ))
    })
}

/// A text id (paper or bucket): one short token without spaces.
fn parse_text_id(t: ItemType, id: &str) -> Result<String> {
    let ok = !id.is_empty() && id.len() <= 200 && !id.chars().any(|c| c.is_whitespace() || c.is_control());
    let ok = ok
        && match t {
            ItemType::Bucket => RepoId::parse(id).is_ok(),
            _ => !id.contains('/'),
        };
    if ok {
        Ok(id.to_string())
    } else {
        Err(Error::bad_request(format!("Invalid {} id '{id}'", t.as_str())))
    }
}

/// Why a repository cannot join the gating group, as an error the caller may read (a repository they may
/// not see is not named).
async fn refusal_error(hub: &Hub, subject: &Subject, c: &CollectionRecord, refusal: GroupRefusal) -> Result<Error> {
    let named = |repo: &RepoRecord| format!("The {} {}/{}", repo.repo_type, repo.owner_name, repo.name);
    Ok(match refusal {
        GroupRefusal::ForeignRepo(repo) => {
            let what = match check_repo(hub, subject, Action::RepoRead, &repo).await {
                Ok(()) => named(&repo),
                Err(_) => "A model or dataset of this collection".to_string(),
            };
            Error::bad_request(format!(
                "{what} is not owned by {}: every model and dataset of a gating group must belong to the organization that owns the collection.",
                c.owner_name
            ))
        }
        GroupRefusal::InOtherGroup { repo, group } => {
            let what = match check_repo(hub, subject, Action::RepoRead, &repo).await {
                Ok(()) => named(&repo),
                Err(_) => "A model or dataset of this collection".to_string(),
            };
            let other = if can_see(subject, &group) {
                format!("the gating group {}", slug_of(&group))
            } else {
                "another gating group".to_string()
            };
            Error::conflict(format!(
                "{what} already belongs to {other}; a model or dataset can be in one gating group only."
            ))
        }
    })
}

pub async fn add_item(hub: &Hub, subject: &Subject, owner: &str, slug: &str, req: AddItem<'_>) -> Result<Collection> {
    let c = authorized(hub, subject, owner, slug, Action::CollectionManage).await?;
    let t = parse_item_type(req.item_type)?;
    let note = req.note.map(parse_note).transpose()?.flatten();
    let mut item =
        NewCollectionItem { object_id: new_object_id(), item_type: t, repo_id: None, text_id: String::new(), note };
    match t {
        ItemType::Model | ItemType::Dataset | ItemType::Space => {
            let repo_type = t.repo_type().unwrap_or(RepoType::Model);
            // `datasets/ns/name` is accepted for a dataset, as the Hub does.
            let id = req.id.strip_prefix(&format!("{}/", repo_type.plural())).unwrap_or(req.id);
            let id = RepoId::parse(id).map_err(|_| Error::repo_not_found())?;
            let repo = authorize_repo(hub, subject, repo_type, id.namespace(), id.name(), Action::RepoRead).await?;
            item.repo_id = Some(repo.id);
        }
        ItemType::Collection => {
            let id = req.id.strip_prefix("collections/").unwrap_or(req.id);
            let (target_owner, target_slug) = id.split_once('/').ok_or_else(collection_not_found)?;
            let target = visible(hub, subject, target_owner, target_slug).await?;
            if target.id == c.id {
                return Err(Error::bad_request("A collection cannot contain itself."));
            }
            item.text_id = slug_of(&target);
        }
        ItemType::Paper | ItemType::Bucket => item.text_id = parse_text_id(t, req.id)?,
    }
    let joins_group = c.gate.mode.is_some() && t.is_gated_by_group();
    match hub.store.add_collection_item(c.id, item, now_millis()).await {
        Ok(Ok(_)) => {}
        Ok(Err(refusal)) => return Err(refusal_error(hub, subject, &c, refusal).await?),
        Err(StoreError::Conflict(_)) => return Err(Error::conflict("The item is already in the collection.")),
        Err(StoreError::NotFound(_)) => return Err(Error::repo_not_found()),
        Err(e) => return Err(e.into()),
    }
    if joins_group {
        hub.authorization_changed().await?;
    }
    get(hub, subject, &c.owner_name, &slug_of(&c)).await
}

/// A change to an item; None leaves that part as it is.
#[derive(Debug, Default, Clone)]
pub struct ChangeItem {
    pub position: Option<i64>,
    /// Empty removes the note.
    pub note: Option<String>,
}

pub async fn update_item(
    hub: &Hub,
    subject: &Subject,
    owner: &str,
    slug: &str,
    item_object_id: &str,
    u: ChangeItem,
) -> Result<()> {
    let c = authorized(hub, subject, owner, slug, Action::CollectionManage).await?;
    let change = ItemUpdate {
        position: u.position.map(parse_position).transpose()?,
        note: u.note.as_deref().map(parse_note).transpose()?,
    };
    match hub.store.update_collection_item(c.id, item_object_id, &change, now_millis()).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound(_)) => Err(item_not_found()),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_item(hub: &Hub, subject: &Subject, owner: &str, slug: &str, item_object_id: &str) -> Result<()> {
    let c = authorized(hub, subject, owner, slug, Action::CollectionManage).await?;
    let removed = match hub.store.delete_collection_item(c.id, item_object_id, now_millis()).await {
        Ok(item) => item,
        Err(StoreError::NotFound(_)) => return Err(item_not_found()),
        Err(e) => return Err(e.into()),
    };
    if c.gate.mode.is_some() && removed.item_type.is_gated_by_group() {
        hub.authorization_changed().await?;
    }
    Ok(())
}

// ---- gating groups --------------------------------------------------------------------------------------

/// Turns a collection into a gating group (or back), or changes who hears of its requests. Only the
/// organization's admins may; every model and dataset must be the organization's and in no other group.
/// The change is logged and the access caches cleared on every server.
/// The collection, if the subject may see and change its gating-group settings: the organization's admins.
async fn gating_admin(hub: &Hub, subject: &Subject, owner: &str, slug: &str) -> Result<CollectionRecord> {
    let c = authorized(hub, subject, owner, slug, Action::CollectionManage).await?;
    if !c.owner_is_org {
        return Err(Error::bad_request("Only a collection owned by an organization can be a gating group."));
    }
    authorize_namespace(hub, subject, &c.owner_name, Action::OrgManageMembers).await.map_err(|e| match e.code {
        ErrorCode::Forbidden => Error::forbidden("Only the organization's admins can change its gating groups."),
        _ => e,
    })?;
    Ok(c)
}

/// A gating group's settings (approval mode and notifications), for the organization's admins.
pub async fn gating(hub: &Hub, subject: &Subject, owner: &str, slug: &str) -> Result<CollectionRecord> {
    gating_admin(hub, subject, owner, slug).await
}

pub async fn set_gating(
    hub: &Hub,
    subject: &Subject,
    owner: &str,
    slug: &str,
    u: crate::gating::GateUpdate,
) -> Result<CollectionRecord> {
    let c = gating_admin(hub, subject, owner, slug).await?;
    let before = c.gate.clone();
    let after = u.apply(&before)?;
    if after == before {
        return Ok(c);
    }
    // The change and its log entry are one transaction.
    let event = crate::gating::settings_event(subject, Gate::Group(c.id), &group_label(&c), &before, &after);
    let updated = match hub.store.set_collection_gate(c.id, &after, Some(&event), now_millis()).await? {
        Ok(updated) => updated,
        Err(refusal) => return Err(refusal_error(hub, subject, &c, refusal).await?),
    };
    hub.authorization_changed().await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("My Coll"), "my-coll");
        assert_eq!(slugify("  ICCV 2023 — models & demos!! "), "iccv-2023-models-demos");
        assert_eq!(slugify("日本語"), "collection");
        assert_eq!(slugify(&"x".repeat(200)).len(), MAX_SLUG_TITLE);
        let id = new_object_id();
        assert!(is_object_id(&id), "{id}");
        assert_ne!(id, new_object_id());
        assert_eq!(object_id_of(&format!("my-coll-{id}")), Some(id.as_str()));
        assert_eq!(object_id_of(&id), Some(id.as_str()));
        assert_eq!(object_id_of(&format!("my-coll{id}")), None);
        assert_eq!(object_id_of("my-coll-64F9A55BB3115B4F513EC026"), None);
        assert_eq!(object_id_of("short"), None);
        assert_eq!(object_id_of("é-64f9a55bb3115b4f513ec026"), Some("64f9a55bb3115b4f513ec026"));
    }

    #[test]
    fn limits() {
        assert!(parse_title(" ").is_err());
        assert_eq!(parse_title(" Hi ").unwrap(), "Hi");
        assert!(parse_title("a\nb").is_err());
        assert_eq!(parse_description("").unwrap(), None);
        assert!(parse_description(&"d".repeat(151)).is_err());
        assert!(parse_note(&"n".repeat(501)).is_err());
        assert!(parse_theme("pink").is_ok() && parse_theme("neon").is_err());
        assert!(parse_text_id(ItemType::Paper, "2311.12983").is_ok());
        assert!(parse_text_id(ItemType::Paper, "a b").is_err());
        assert!(parse_text_id(ItemType::Bucket, "ns/bucket").is_ok());
        assert!(parse_text_id(ItemType::Bucket, "bucket").is_err());
    }
}
