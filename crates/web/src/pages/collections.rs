//! Collections in the browser: a namespace's collections (and a form to start one), a collection's page
//! with its items, the forms to add and remove items, and — for an organization's admins — the gating
//! group settings. Every form calls the same `gatehouse_core::collections` function as the API, so the one
//! decision function answers; hidden collections are 404 pages.

use crate::csrf::CsrfForm;
use crate::format;
use crate::forms::FormState;
use crate::page::{html, html_status, see_other, Chrome, PageError};
use crate::pages::gating::GateSettingsForm;
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_authz::{decide, Action, Decision, Resource};
use gatehouse_core::access::namespace_facts;
use gatehouse_core::collections::{self, AddItem, Collection, CreateCollection, CreateOutcome, ListCollections};
use gatehouse_http::AppState;
use gatehouse_store::{AccountStore, CollectionSort, ItemType};
use gatehouse_types::{Error, ErrorCode, GateMode};
use serde::Deserialize;

fn is_internal(e: &Error) -> bool {
    e.code == ErrorCode::Internal
}

/// A collection as lists show it.
pub struct CollectionCard {
    pub title: String,
    pub href: String,
    pub description: String,
    pub private: bool,
    pub gated: bool,
    pub items: usize,
    pub updated: String,
}

impl CollectionCard {
    fn from(c: &Collection) -> CollectionCard {
        CollectionCard {
            title: c.record.title.clone(),
            href: format!("/collections/{}", c.slug),
            description: c.record.description.clone().unwrap_or_default(),
            private: c.record.private,
            gated: c.record.gate.mode.is_some(),
            items: c.items.len(),
            updated: format::date(c.record.updated_at),
        }
    }
}

// ---- a namespace's collections ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "collections/list.html")]
struct ListPage {
    chrome: Chrome,
    owner: String,
    collections: Vec<CollectionCard>,
    can_create: bool,
    form: FormState,
}

async fn list_page(state: &AppState, viewer: &Viewer, ns: &str, form: FormState) -> Result<ListPage, PageError> {
    let account = state.hub.store.account_by_name(ns).await.map_err(Error::from)?.ok_or_else(PageError::not_found)?;
    let req = ListCollections {
        owners: vec![account.name.clone()],
        items: Vec::new(),
        sort: CollectionSort::Position,
        offset: 0,
        limit: 500,
        items_per_collection: usize::MAX,
    };
    let found = collections::list(&state.hub, &viewer.subject, req).await?;
    let facts = namespace_facts(&account);
    let can_create = decide(&viewer.subject, Action::RepoCreate, Resource::Namespace(&facts)) == Decision::Allow;
    Ok(ListPage {
        chrome: Chrome::new(viewer, format!("Collections of {}", account.name)),
        collections: found.iter().map(CollectionCard::from).collect(),
        owner: account.name,
        can_create,
        form,
    })
}

/// `GET /collections/{ns}`: the collections of a user or organization the viewer may see.
pub async fn namespace(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(ns): Path<String>,
) -> Result<Response, PageError> {
    let form = FormState::new().with_value("visibility", "public");
    Ok(html(&list_page(&state, &viewer, &ns, form).await?))
}

#[derive(Deserialize)]
pub struct NewCollectionForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: String,
}

/// `POST /collections/{ns}`: a new collection in that namespace.
pub async fn create(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<NewCollectionForm>,
) -> Result<Response, PageError> {
    viewer.require_user(&format!("/collections/{ns}"))?;
    let mut fs = FormState::new()
        .with_value("title", &form.title)
        .with_value("description", &form.description)
        .with_value("visibility", &form.visibility);
    let private = match form.visibility.as_str() {
        "public" => Some(false),
        "private" => Some(true),
        _ => {
            fs.set_error("visibility", "Choose public or private");
            None
        }
    };
    if let Some(private) = private {
        let req = CreateCollection {
            namespace: Some(&ns),
            title: &form.title,
            description: Some(&form.description),
            private,
        };
        match collections::create(&state.hub, &viewer.subject, req).await {
            Ok(CreateOutcome::Created(c)) => return Ok(see_other(&format!("/collections/{}", c.slug))),
            Ok(CreateOutcome::AlreadyExists(_)) => {
                fs.set_error("title", "There is a collection with this title already")
            }
            Err(e) if is_internal(&e) => return Err(e.into()),
            Err(e) if matches!(e.code, ErrorCode::Forbidden | ErrorCode::AuthRequired | ErrorCode::NotFound) => {
                return Err(e.into())
            }
            Err(e) if e.message.contains("description") => fs.set_error("description", e.message),
            Err(e) => fs.set_error("title", e.message),
        }
    }
    Ok(html_status(StatusCode::BAD_REQUEST, &list_page(&state, &viewer, &ns, fs).await?))
}

// ---- a collection -------------------------------------------------------------------------------------

pub struct ItemRow {
    pub object_id: String,
    pub id: String,
    pub kind: &'static str,
    /// Empty for papers and buckets (no page here).
    pub href: String,
    pub note: String,
    pub private: bool,
    pub gated: bool,
}

/// The gating group's settings as its admins see them.
pub struct GatingView {
    pub mode: &'static str,
    pub notifications_mode: &'static str,
    pub notifications_email: String,
    /// Where requests are reviewed: the settings of any of its repositories.
    pub review: String,
    pub form: FormState,
}

#[derive(Template)]
#[template(path = "collections/show.html")]
struct ShowPage {
    chrome: Chrome,
    title: String,
    slug: String,
    owner: String,
    description: String,
    private: bool,
    /// The approval mode when the collection is a gating group, else empty.
    gated: &'static str,
    updated: String,
    items: Vec<ItemRow>,
    can_manage: bool,
    /// Set for the organization's admins.
    gating: Option<GatingView>,
    add: FormState,
    item_types: Vec<&'static str>,
}

#[derive(Deserialize)]
pub struct CollectionPath {
    ns: String,
    slug: String,
}

impl CollectionPath {
    fn here(&self) -> String {
        format!("/collections/{}/{}", self.ns, self.slug)
    }
}

fn item_row(i: &collections::Item) -> ItemRow {
    let repo = i.record.repo.as_ref();
    ItemRow {
        object_id: i.record.object_id.clone(),
        id: i.id.clone(),
        kind: i.item_type().as_str(),
        href: i.path().unwrap_or_default(),
        note: i.record.note.clone().unwrap_or_default(),
        private: repo.is_some_and(|r| r.private),
        gated: repo.is_some_and(|r| r.gated.is_some()),
    }
}

async fn show_page(
    state: &AppState,
    viewer: &Viewer,
    p: &CollectionPath,
    add: FormState,
    gating_form: FormState,
) -> Result<ShowPage, PageError> {
    let c = collections::get(&state.hub, &viewer.subject, &p.ns, &p.slug).await?;
    let r = &c.record;
    let items: Vec<ItemRow> = c.items.iter().map(item_row).collect();
    let gating = collections::can_manage_gating(&viewer.subject, r).then(|| GatingView {
        mode: r.gate.mode.map_or("off", GateMode::as_str),
        notifications_mode: r.gate.notifications_mode.as_str(),
        notifications_email: r.gate.notifications_email.clone().unwrap_or_default(),
        review: c
            .items
            .iter()
            .filter(|i| r.gate.mode.is_some() && i.item_type().is_gated_by_group())
            .find_map(|i| i.path())
            .map(|path| format!("{path}/settings/access-requests"))
            .unwrap_or_default(),
        form: gating_form,
    });
    Ok(ShowPage {
        chrome: Chrome::new(viewer, r.title.clone()),
        title: r.title.clone(),
        slug: c.slug.clone(),
        owner: r.owner_name.clone(),
        description: r.description.clone().unwrap_or_default(),
        private: r.private,
        gated: r.gate.mode.map_or("", GateMode::as_str),
        updated: format::date(r.updated_at),
        items,
        can_manage: collections::can_manage(&viewer.subject, r),
        gating,
        add,
        item_types: ItemType::ALL.iter().map(|t| t.as_str()).collect(),
    })
}

/// `GET /collections/{ns}/{slug}`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(p): Path<CollectionPath>,
) -> Result<Response, PageError> {
    let add = FormState::new().with_value("type", "model");
    Ok(html(&show_page(&state, &viewer, &p, add, FormState::new()).await?))
}

/// The collection if the viewer may change it: hidden is a 404 page, visible but not theirs a 403.
async fn manageable(state: &AppState, viewer: &Viewer, p: &CollectionPath) -> Result<Collection, PageError> {
    viewer.require_user(&p.here())?;
    let c = collections::get(&state.hub, &viewer.subject, &p.ns, &p.slug).await?;
    if !collections::can_manage(&viewer.subject, &c.record) {
        return Err(Error::forbidden("You may not change this collection.").into());
    }
    Ok(c)
}

#[derive(Deserialize)]
pub struct AddItemForm {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    note: String,
}

/// `POST /collections/{ns}/{slug}/items`.
pub async fn add_item(
    State(state): State<AppState>,
    Path(p): Path<CollectionPath>,
    CsrfForm { viewer, form }: CsrfForm<AddItemForm>,
) -> Result<Response, PageError> {
    let c = manageable(&state, &viewer, &p).await?;
    let mut fs =
        FormState::new().with_value("type", &form.kind).with_value("id", &form.id).with_value("note", &form.note);
    let req = AddItem { item_type: &form.kind, id: form.id.trim(), note: Some(&form.note) };
    match collections::add_item(&state.hub, &viewer.subject, &c.record.owner_name, &p.slug, req).await {
        Ok(_) => return Ok(see_other(&format!("/collections/{}", c.slug))),
        Err(e) if is_internal(&e) || matches!(e.code, ErrorCode::Forbidden | ErrorCode::AuthRequired) => {
            return Err(e.into())
        }
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::RepoNotFound) => {
            fs.set_error("id", "Nothing by that name (or you may not see it)")
        }
        Err(e) if e.message.contains("item type") => fs.set_error("type", e.message),
        Err(e) if e.message.contains("note") => fs.set_error("note", e.message),
        Err(e) => fs.set_error("id", e.message),
    }
    let page = show_page(&state, &viewer, &p, fs, FormState::new()).await?;
    Ok(html_status(StatusCode::BAD_REQUEST, &page))
}

#[derive(Deserialize)]
pub struct RemoveItemForm {
    #[serde(default)]
    item: String,
}

/// `POST /collections/{ns}/{slug}/items/remove`: an item that is gone already is fine.
pub async fn remove_item(
    State(state): State<AppState>,
    Path(p): Path<CollectionPath>,
    CsrfForm { viewer, form }: CsrfForm<RemoveItemForm>,
) -> Result<Response, PageError> {
    let c = manageable(&state, &viewer, &p).await?;
    match collections::delete_item(&state.hub, &viewer.subject, &c.record.owner_name, &p.slug, &form.item).await {
        Ok(()) => {}
        Err(e) if e.code == ErrorCode::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&format!("/collections/{}", c.slug)))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /collections/{ns}/{slug}/delete`: the title typed again confirms.
pub async fn delete(
    State(state): State<AppState>,
    Path(p): Path<CollectionPath>,
    CsrfForm { viewer, form }: CsrfForm<DeleteForm>,
) -> Result<Response, PageError> {
    let c = manageable(&state, &viewer, &p).await?;
    if form.confirm.trim() != c.record.title {
        return Err(PageError::bad_request(format!("Type the title, {}, to delete the collection.", c.record.title)));
    }
    collections::delete(&state.hub, &viewer.subject, &c.record.owner_name, &p.slug).await?;
    Ok(see_other(&format!("/collections/{}", c.record.owner_name)))
}

/// `POST /collections/{ns}/{slug}/gating`: the organization's admins turn the gating group on or off and
/// choose who hears of requests.
pub async fn set_gating(
    State(state): State<AppState>,
    Path(p): Path<CollectionPath>,
    CsrfForm { viewer, form }: CsrfForm<GateSettingsForm>,
) -> Result<Response, PageError> {
    let c = manageable(&state, &viewer, &p).await?;
    if !collections::can_manage_gating(&viewer.subject, &c.record) {
        let why = if c.record.owner_is_org {
            "Only the organization's admins can change its gating groups."
        } else {
            "Only a collection owned by an organization can be a gating group."
        };
        return Err(Error::forbidden(why).into());
    }
    let fs = match form.update() {
        Ok(u) => match collections::set_gating(&state.hub, &viewer.subject, &c.record.owner_name, &p.slug, u).await {
            Ok(_) => return Ok(see_other(&format!("/collections/{}", c.slug))),
            Err(e) if is_internal(&e) || matches!(e.code, ErrorCode::Forbidden | ErrorCode::AuthRequired) => {
                return Err(e.into())
            }
            Err(e) if e.message.to_ascii_lowercase().contains("email") => form.with_email_error(e.message),
            // Refused by the group rules: a repository of another owner, or in another group.
            Err(e) => form.typed().fail(e.message),
        },
        Err(fs) => fs,
    };
    let add = FormState::new().with_value("type", "model");
    let page = show_page(&state, &viewer, &p, add, fs).await?;
    Ok(html_status(StatusCode::BAD_REQUEST, &page))
}
