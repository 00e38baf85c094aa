//! The signed-in user's notifications: newest first, unread ones marked, each read on request or all at
//! once. Only the user's own rows are ever read or changed (the store filters by user).

use crate::csrf::CsrfForm;
use crate::format;
use crate::page::{html, local_path, see_other, Chrome, PageError};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use gatehouse_core::notify;
use gatehouse_http::AppState;
use serde::Deserialize;

struct Item {
    id: i64,
    subject: String,
    body: String,
    /// A path on this site, if the notification points somewhere.
    link: Option<String>,
    created: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    items: Vec<Item>,
    unread: usize,
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let user = viewer.require_user("/notifications")?;
    let rows = notify::inbox(&state.hub, user.id, notify::INBOX_LIMIT).await?;
    let items: Vec<Item> = rows
        .into_iter()
        .map(|n| Item {
            id: n.id,
            subject: n.subject,
            body: n.body,
            // Links are written by the hub itself; still, only ever link within the site.
            link: n.link.filter(|l| local_path(Some(l)) == *l),
            created: format::date(n.created_at),
            unread: n.read_at.is_none(),
        })
        .collect();
    let unread = items.iter().filter(|i| i.unread).count();
    Ok(html(&NotificationsPage { chrome: Chrome::new(&viewer, "Notifications"), items, unread }))
}

/// The forms carry nothing but their CSRF token.
#[derive(Deserialize)]
pub struct Empty {}

pub async fn read_all(
    State(state): State<AppState>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/notifications")?;
    notify::mark_all_read(&state.hub, user.id).await?;
    Ok(see_other("/notifications"))
}

pub async fn read_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/notifications")?;
    // Someone else's (or an unknown) notification changes nothing, and looks the same.
    notify::mark_read(&state.hub, user.id, id).await?;
    Ok(see_other("/notifications"))
}
