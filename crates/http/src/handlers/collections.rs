//! Collections (spec §8) and their gating-group settings: thin handlers over `gatehouse_core::collections`.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{base_url, json_body, next_link, page, query_get, query_pairs, Path};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_core::collections::{
    self, AddItem, ChangeItem, Collection, CreateCollection, CreateOutcome, Item, ListCollections, UpdateCollection,
};
use gatehouse_core::time::iso8601;
use gatehouse_store::{CollectionSort, ItemType};
use gatehouse_types::{Error, GateMode, NotificationsMode};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct CollectionParams {
    owner: String,
    slug: String,
    #[serde(default)]
    item: Option<String>,
}

fn gated_json(mode: Option<GateMode>) -> Value {
    mode.map_or(Value::Bool(false), |m| Value::String(m.as_str().into()))
}

fn item_json(i: &Item) -> Value {
    let r = &i.record;
    let mut v = json!({"_id": r.object_id, "id": i.id, "type": r.item_type.as_str(), "position": r.position});
    if let Some(note) = &r.note {
        v["note"] = json!({"text": note});
    }
    if r.item_type == ItemType::Collection {
        v["slug"] = json!(i.id);
    }
    if let Some(repo) = &r.repo {
        v["author"] = json!(repo.owner_name);
        v["private"] = json!(repo.private);
        v["gated"] = gated_json(repo.gated);
    }
    v
}

/// The Hub's Collection. Listings leave out the collection's `position`: huggingface_hub passes its own
/// (`Collection(position=…, **data)`), and a second one is a `TypeError`.
fn collection_json(c: &Collection, with_position: bool) -> Value {
    let r = &c.record;
    let mut v = json!({
        "slug": c.slug,
        "title": r.title,
        "description": r.description,
        "owner": r.owner_name,
        "items": c.items.iter().map(item_json).collect::<Vec<_>>(),
        "lastUpdated": iso8601(r.updated_at),
        "private": r.private,
        "theme": r.theme,
        "upvotes": 0,
        // Our extension: whether this collection is a gating group, and its approval mode.
        "gated": gated_json(r.gate.mode),
    });
    if with_position {
        v["position"] = json!(r.position);
    }
    v
}

/// `GET /api/collections?owner=…&item=…&sort=…&limit=…`, paged with `Link`; each collection shows its
/// first 4 items (those the caller may see).
pub async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri, caller: Caller) -> ApiResult<Response> {
    let pairs = query_pairs(&uri);
    let (offset, limit) = page(&pairs, 100, 1000)?;
    let all = |key: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, v)| (k == key || *k == format!("{key}[]")) && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    };
    let req = ListCollections {
        owners: all("owner"),
        items: all("item"),
        // There are no upvotes or trends here: every order is the most recently changed first.
        sort: CollectionSort::LastModified,
        offset: offset as u64,
        limit: limit as u32 + 1,
        items_per_collection: 4,
    };
    let mut found = collections::list(&state.hub, &caller.subject, req).await?;
    let more = found.len() > limit;
    found.truncate(limit);
    let body: Vec<Value> = found.iter().map(|c| collection_json(c, false)).collect();
    let mut resp = Json(body).into_response();
    if more && query_get(&pairs, "limit").is_none() {
        if let Some(link) = next_link(&base_url(&state, &headers), &uri, offset + limit) {
            resp.headers_mut().insert("link", link);
        }
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct CreateBody {
    title: String,
    namespace: Option<String>,
    #[serde(default)]
    private: Option<bool>,
    /// Resource groups are not offered: `resourceGroupId`, like any unknown key, is ignored.
    description: Option<String>,
}

/// `POST /api/collections`: the new Collection, or 409 with the existing one's `slug` (the client's
/// `exists_ok` reads it).
pub async fn create(State(state): State<AppState>, caller: Caller, body: Body) -> ApiResult<Response> {
    let b: CreateBody = json_body(body).await?;
    let req = CreateCollection {
        namespace: b.namespace.as_deref(),
        title: &b.title,
        description: b.description.as_deref(),
        private: b.private.unwrap_or(false),
    };
    match collections::create(&state.hub, &caller.subject, req).await? {
        CreateOutcome::Created(c) => Ok(Json(collection_json(&c, true)).into_response()),
        CreateOutcome::AlreadyExists(c) => {
            let message = format!("A collection titled '{}' already exists: {}", c.record.title, c.slug);
            let mut resp = (StatusCode::CONFLICT, Json(json!({"error": message, "slug": c.slug}))).into_response();
            resp.headers_mut().insert("x-error-code", HeaderValue::from_static("Conflict"));
            if let Ok(v) = HeaderValue::from_str(&message) {
                resp.headers_mut().insert("x-error-message", v);
            }
            Ok(resp)
        }
    }
}

/// `GET /api/collections/{owner}/{slug}`.
pub async fn get(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let c = collections::get(&state.hub, &caller.subject, &p.owner, &p.slug).await?;
    Ok(Json(collection_json(&c, true)))
}

#[derive(Deserialize)]
pub struct UpdateBody {
    title: Option<String>,
    description: Option<String>,
    private: Option<bool>,
    theme: Option<String>,
    position: Option<i64>,
}

/// `PATCH /api/collections/{owner}/{slug}`: `{"data": <Collection>}`.
pub async fn update(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b: UpdateBody = json_body(body).await?;
    let u = UpdateCollection {
        title: b.title,
        description: b.description,
        private: b.private,
        theme: b.theme,
        position: b.position,
    };
    let c = collections::update(&state.hub, &caller.subject, &p.owner, &p.slug, u).await?;
    Ok(Json(json!({"data": collection_json(&c, true)})))
}

/// `DELETE /api/collections/{owner}/{slug}`.
pub async fn delete(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    collections::delete(&state.hub, &caller.subject, &p.owner, &p.slug).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct ItemRef {
    id: String,
    #[serde(rename = "type")]
    item_type: String,
}

#[derive(Deserialize)]
pub struct AddItemBody {
    item: ItemRef,
    note: Option<String>,
}

/// `POST /api/collections/{owner}/{slug}/items`: the Collection; 409 when the item is in it already.
pub async fn add_item(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b: AddItemBody = json_body(body).await?;
    let req = AddItem { item_type: &b.item.item_type, id: &b.item.id, note: b.note.as_deref() };
    let c = collections::add_item(&state.hub, &caller.subject, &p.owner, &p.slug, req).await?;
    Ok(Json(collection_json(&c, true)))
}

#[derive(Deserialize)]
pub struct UpdateItemBody {
    position: Option<i64>,
    note: Option<String>,
}

fn item_id(p: &CollectionParams) -> ApiResult<&str> {
    p.item.as_deref().ok_or_else(|| ApiError::from(Error::bad_request("Missing item id")))
}

/// `PATCH /api/collections/{owner}/{slug}/items/{item}` (the client ignores the answer).
pub async fn update_item(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b: UpdateItemBody = json_body(body).await?;
    let u = ChangeItem { position: b.position, note: b.note };
    collections::update_item(&state.hub, &caller.subject, &p.owner, &p.slug, item_id(&p)?, u).await?;
    Ok(Json(json!({})))
}

/// `DELETE /api/collections/{owner}/{slug}/items/{item}`.
pub async fn delete_item(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    collections::delete_item(&state.hub, &caller.subject, &p.owner, &p.slug, item_id(&p)?).await?;
    Ok(Json(json!({})))
}

/// Tells an explicit `null` (Some(None)) from an absent key (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
pub struct NotificationsBody {
    mode: Option<String>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatingBody {
    gated: Option<Value>,
    #[serde(default)]
    notifications: Option<NotificationsBody>,
    gated_notifications_mode: Option<String>,
    #[serde(default, deserialize_with = "present")]
    gated_notifications_email: Option<Option<String>>,
}

/// `GET /api/collections/{owner}/{slug}/gating`: the group's settings as `PUT` answers them (the
/// organization's admins).
pub async fn get_gating(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let c = collections::gating(&state.hub, &caller.subject, &p.owner, &p.slug).await?;
    Ok(Json(gating_json(&c)))
}

fn gating_json(c: &gatehouse_store::CollectionRecord) -> Value {
    let mut v = gatehouse_core::gating::settings_json(&c.gate);
    v["slug"] = json!(collections::slug_of(c));
    v
}

/// `PUT /api/collections/{owner}/{slug}/gating` with `{"gated": "auto"|"manual"|false, "notifications":
/// {"mode": "real-time"|"daily", "email": "…"|null}}` (or the repository settings' top-level
/// `gatedNotificationsMode`/`gatedNotificationsEmail`): the settings as they are now.
pub async fn set_gating(
    State(state): State<AppState>,
    Path(p): Path<CollectionParams>,
    caller: Caller,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b: GatingBody = json_body(body).await?;
    let mode = match &b.gated {
        None => None,
        Some(Value::Bool(false)) => Some(None),
        Some(Value::String(mode)) => Some(Some(GateMode::parse(mode)?)),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid gated value {other}: expected \"auto\", \"manual\" or false"
            ))
            .into())
        }
    };
    let notifications = b.notifications.unwrap_or_default();
    let u = gatehouse_core::gating::GateUpdate {
        mode,
        notifications_mode: notifications
            .mode
            .or(b.gated_notifications_mode)
            .as_deref()
            .map(NotificationsMode::parse)
            .transpose()?,
        notifications_email: notifications.email.or(b.gated_notifications_email),
    };
    let c = collections::set_gating(&state.hub, &caller.subject, &p.owner, &p.slug, u).await?;
    Ok(Json(gating_json(&c)))
}
