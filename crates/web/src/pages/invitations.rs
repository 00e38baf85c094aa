//! Site administrators invite people to an invite-only hub: create an invitation (optionally bound to
//! an email address, and mailed there when the hub sends mail), see who used which, withdraw unused ones.
//! `gatehouse_core::signup` decides who may (`Action::InviteUsers` on the site).

use crate::csrf::CsrfForm;
use crate::format;
use crate::forms::FormState;
use crate::page::{html, html_status, see_other, Chrome, PageError};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::signup;
use gatehouse_core::time::now_millis;
use gatehouse_http::AppState;
use gatehouse_store::AccountStore;
use gatehouse_types::ErrorCode;
use serde::Deserialize;

const HERE: &str = "/settings/invitations";

struct InvitationRow {
    id: i64,
    email: String,
    created: String,
    expires: String,
    /// "pending", "used by …" or "expired".
    state: String,
    revocable: bool,
}

/// What the page shows after creating one: the code (once), the link and whether it was mailed.
struct Created {
    code: String,
    link: String,
    mailed: Option<Result<(), String>>,
    email: Option<String>,
}

#[derive(Template)]
#[template(path = "settings/invitations.html")]
struct InvitationsPage {
    chrome: Chrome,
    form: FormState,
    rows: Vec<InvitationRow>,
    created: Option<Created>,
    notice: Option<&'static str>,
    signup_mode: &'static str,
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    form: FormState,
    created: Option<Created>,
    notice: Option<&'static str>,
) -> Result<InvitationsPage, PageError> {
    let hub = &state.hub;
    let now = now_millis();
    let mut rows = Vec::new();
    for i in signup::invitations(hub, &viewer.subject).await? {
        let state = match (i.used_by, i.used_at) {
            (Some(user), _) => match hub.store.account_by_id(user).await.map_err(gatehouse_types::Error::from)? {
                Some(a) => format!("used by {}", a.name),
                None => "used".to_string(),
            },
            (None, Some(_)) => "used".to_string(),
            (None, None) if i.expires_at <= now => "expired".to_string(),
            (None, None) => "pending".to_string(),
        };
        rows.push(InvitationRow {
            id: i.id,
            email: i.email.unwrap_or_else(|| "anyone with the code".into()),
            created: format::date(i.created_at),
            expires: format::date(i.expires_at),
            revocable: i.used_at.is_none(),
            state,
        });
    }
    Ok(InvitationsPage {
        chrome: Chrome::new(viewer, "Invitations"),
        form,
        rows,
        created,
        notice,
        signup_mode: hub.config.accounts.signup.as_str(),
    })
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    viewer.require_user(HERE)?;
    let notice = (q.done.as_deref() == Some("revoked")).then_some("The invitation was withdrawn.");
    let form = FormState::new().with_value("days", "14");
    Ok(html(&page(&state, &viewer, form, None, notice).await?))
}

#[derive(Deserialize)]
pub struct NewInvitationForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    days: String,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { viewer, form }: CsrfForm<NewInvitationForm>,
) -> Result<Response, PageError> {
    let inviter = viewer.require_user(HERE)?;
    let mut fs = FormState::new().with_value("email", &form.email).with_value("days", &form.days);
    let days = form.days.trim().parse::<u32>().ok().filter(|d| (1..=365).contains(d));
    if days.is_none() {
        fs.set_error("days", "Between 1 and 365 days");
    }
    let email = Some(form.email.trim()).filter(|e| !e.is_empty());
    if let (false, Some(days)) = (fs.has_errors(), days) {
        match signup::invite_by(&state.hub, &viewer.subject, inviter, email, days).await {
            Ok(invited) => {
                // Shown to the administrator to copy, so absolute (the mailed link uses `public_url` only).
                let base = gatehouse_http::params::base_url(&state, &headers);
                let link = format!("{base}/join?invitation={}", invited.code);
                let created =
                    Created { code: invited.code, link, mailed: invited.mailed, email: email.map(str::to_string) };
                let fresh = FormState::new().with_value("days", "14");
                return Ok(html(&page(&state, &viewer, fresh, Some(created), None).await?));
            }
            Err(e) if e.code == ErrorCode::BadRequest => fs.set_error("email", e.message),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(html_status(StatusCode::BAD_REQUEST, &page(&state, &viewer, fs, None, None).await?))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    viewer.require_user(HERE)?;
    if !signup::revoke_invitation(&state.hub, &viewer.subject, id).await? {
        return Err(PageError::not_found());
    }
    Ok(see_other("/settings/invitations?done=revoked"))
}
