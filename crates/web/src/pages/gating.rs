//! Gated repositories in the browser: the request form on the repository's page (built from the card's
//! `extra_gated_*` metadata), the gate's settings, and the owners' review of requests. Every action goes
//! through `gatehouse_core::gating`, the same functions the API calls.

use crate::csrf::CsrfForm;
use crate::format;
use crate::forms::FormState;
use crate::page::{html, html_status, see_other, Chrome, PageError};
use crate::pages::repo::{load, Repo, RepoHead};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use gatehouse_core::gating::{self, FieldKind, GateForm, GateUpdate, RequestError, Standing, Target};
use gatehouse_http::AppState;
use gatehouse_types::{Error, ErrorCode, GateMode, NotificationsMode, RepoType, RequestStatus};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Deserialize)]
pub struct RepoPath {
    ns: String,
    name: String,
}

// ---- the request form on the repository's page -------------------------------------------------------

pub struct FieldView {
    /// `f-gate-0`, …: ids and names by position (field names are free text).
    pub id: String,
    pub input: String,
    pub label: String,
    /// `text`, `checkbox`, `date`, `country`, `select`.
    pub kind: &'static str,
    pub options: Vec<(String, String)>,
    pub value: String,
    pub error: String,
}

/// The gate as the card page shows it to this viewer.
pub struct GateView {
    /// `access`, `pending`, `rejected`, `request` or `sign-in`.
    pub standing: &'static str,
    pub heading: String,
    pub description: String,
    pub prompt: String,
    pub button: String,
    pub fields: Vec<FieldView>,
    pub reason: String,
    pub error: String,
    pub action: String,
    pub sign_in: String,
    pub rejected_message: &'static str,
}

fn field_views(form: &GateForm, values: &HashMap<String, String>, errors: &HashMap<String, String>) -> Vec<FieldView> {
    let countries: Vec<(String, String)> =
        gating::form::countries().into_iter().map(|(code, name)| (name.to_string(), code.to_string())).collect();
    form.fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (kind, options) = match &f.kind {
                FieldKind::Text => ("text", Vec::new()),
                FieldKind::Checkbox => ("checkbox", Vec::new()),
                FieldKind::DatePicker => ("date", Vec::new()),
                FieldKind::Country => ("country", countries.clone()),
                FieldKind::Select(opts) => ("select", opts.clone()),
            };
            FieldView {
                id: format!("f-gate-{i}"),
                input: format!("field-{i}"),
                label: f.name.clone(),
                kind,
                options,
                value: values.get(&f.name).cloned().unwrap_or_default(),
                error: errors.get(&f.name).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// The gate section of a gated repository's card page; `None` for repositories that are not gated.
pub async fn gate_view(
    state: &AppState,
    viewer: &Viewer,
    repo: &Repo,
    card: Option<&Value>,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    error: String,
) -> Result<Option<GateView>, PageError> {
    if repo.record.gated.is_none() {
        return Ok(None);
    }
    let hub = &state.hub;
    let (standing, reason) = match gating::standing(hub, &viewer.subject, &repo.record).await? {
        Standing::HasAccess => ("access", None),
        Standing::Pending => ("pending", None),
        Standing::Rejected { reason } => ("rejected", reason),
        Standing::CanRequest => ("request", None),
        Standing::MustSignIn => ("sign-in", None),
    };
    let form = GateForm::from_card(card, repo.t.as_str());
    Ok(Some(GateView {
        standing,
        fields: field_views(&form, values, errors),
        heading: form.heading,
        description: form.description.unwrap_or_default(),
        prompt: form.prompt.unwrap_or_default(),
        button: form.button,
        reason: reason.unwrap_or_default(),
        error,
        action: format!("{}/ask-access", repo.head.base),
        sign_in: format!("/login?next={}", format::seg(&repo.head.base)),
        rejected_message: gating::REJECTED_MESSAGE,
    }))
}

/// `POST /{repo}/ask-access`: the form's answers (`field-N`) become the request.
pub async fn ask_access(
    State(state): State<AppState>,
    Extension(t): Extension<RepoType>,
    Path(p): Path<RepoPath>,
    headers: axum::http::HeaderMap,
    CsrfForm { viewer, form }: CsrfForm<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let here = format!("/{}{}/{}", t.url_prefix(), p.ns, p.name);
    viewer.require_user(&here)?;
    let repo = load(&state, &viewer, t, &p.ns, &p.name, "card").await?;
    let gate_form = gating::form_of(&state.hub, &repo.record).await?;
    // Answers by field name; a checkbox that is not ticked is simply absent.
    let mut answers = Map::new();
    let mut typed = HashMap::new();
    for (i, f) in gate_form.fields.iter().enumerate() {
        if let Some(v) = form.get(&format!("field-{i}")) {
            answers.insert(f.name.clone(), Value::String(v.clone()));
            typed.insert(f.name.clone(), v.clone());
        }
    }
    match gating::request_access(&state.hub, &viewer.subject, t, repo.ns(), repo.name(), &answers).await {
        Ok(_) => Ok(see_other(&repo.head.base)),
        Err(RequestError::Fields(problems)) => {
            let errors: HashMap<String, String> = problems.into_iter().collect();
            let page =
                crate::pages::repo::card_page(&state, &viewer, &headers, repo, &typed, &errors, String::new()).await?;
            Ok(html_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(RequestError::Other(e)) if e.code == ErrorCode::Internal => Err(e.into()),
        Err(RequestError::Other(e)) => {
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let page =
                crate::pages::repo::card_page(&state, &viewer, &headers, repo, &typed, &HashMap::new(), e.message)
                    .await?;
            Ok(html_status(status, &page))
        }
    }
}

// ---- the gate's settings ----------------------------------------------------------------------------

/// The gate part of the settings page.
pub struct GateSettingsView {
    pub mode: &'static str,
    pub notifications_mode: &'static str,
    pub notifications_email: String,
    /// The gating group whose settings apply, if any.
    pub group: String,
    pub form: FormState,
    pub review: String,
    pub report: String,
}

pub async fn settings_view(state: &AppState, repo: &Repo, form: FormState) -> Result<GateSettingsView, PageError> {
    let own = &repo.record.own_gate;
    let group = match repo.record.gating_group_id {
        Some(_) => gating::gate_info(&state.hub, &repo.record).await?.label,
        None => String::new(),
    };
    Ok(GateSettingsView {
        mode: own.mode.map_or("off", GateMode::as_str),
        notifications_mode: own.notifications_mode.as_str(),
        notifications_email: own.notifications_email.clone().unwrap_or_default(),
        group,
        form,
        review: format!("{}/settings/access-requests", repo.head.base),
        report: format!("/api/{}s/{}/user-access-report", repo.t.as_str(), repo.head.id),
    })
}

/// The gate settings form, of a repository or a gating group.
#[derive(Deserialize)]
pub struct GateSettingsForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    notifications_mode: String,
    #[serde(default)]
    notifications_email: String,
}

impl GateSettingsForm {
    /// The form as typed.
    pub fn typed(&self) -> FormState {
        FormState::new()
            .with_value("mode", &self.mode)
            .with_value("notifications_mode", &self.notifications_mode)
            .with_value("notifications_email", &self.notifications_email)
    }

    /// The change to make (the address is checked by the domain), or the form with an error per bad field.
    pub fn update(&self) -> Result<GateUpdate, FormState> {
        let mode = match self.mode.as_str() {
            "off" => Ok(None),
            other => GateMode::parse(other).map(Some),
        };
        match (mode, NotificationsMode::parse(&self.notifications_mode)) {
            (Ok(mode), Ok(notifications_mode)) => {
                let email = self.notifications_email.trim();
                Ok(GateUpdate {
                    mode: Some(mode),
                    notifications_mode: Some(notifications_mode),
                    notifications_email: Some((!email.is_empty()).then(|| email.to_string())),
                })
            }
            (mode, notifications_mode) => {
                let mut fs = self.typed();
                if let Err(e) = mode {
                    fs.set_error("mode", e.message);
                }
                if let Err(e) = notifications_mode {
                    fs.set_error("notifications_mode", e.message);
                }
                Err(fs)
            }
        }
    }

    /// The form as typed, with `message` next to the address (the domain refused it).
    pub fn with_email_error(&self, message: String) -> FormState {
        let mut fs = self.typed();
        fs.set_error("notifications_email", message);
        fs
    }
}

/// `POST /{repo}/settings/gating`.
pub async fn save_settings(
    State(state): State<AppState>,
    Extension(t): Extension<RepoType>,
    Path(p): Path<RepoPath>,
    CsrfForm { viewer, form }: CsrfForm<GateSettingsForm>,
) -> Result<Response, PageError> {
    let here = format!("/{}{}/{}/settings", t.url_prefix(), p.ns, p.name);
    viewer.require_user(&here)?;
    let fs = match form.update() {
        Ok(update) => match gating::update_settings(&state.hub, &viewer.subject, t, &p.ns, &p.name, update).await {
            Ok(()) => return Ok(see_other(&here)),
            Err(e) if e.code == ErrorCode::BadRequest => form.with_email_error(e.message),
            Err(e) => return Err(e.into()),
        },
        Err(fs) => fs,
    };
    let repo = load(&state, &viewer, t, &p.ns, &p.name, "settings").await?;
    let page = crate::pages::manage::settings_page(&state, &viewer, repo, fs).await?;
    Ok(html_status(StatusCode::BAD_REQUEST, &page))
}

// ---- reviewing requests -----------------------------------------------------------------------------

pub struct RequestRow {
    pub user: String,
    pub fullname: String,
    pub email: String,
    pub time: String,
    /// The form's answers, as "name: value".
    pub fields: Vec<String>,
    pub reason: String,
}

pub struct EventRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub user: String,
}

/// The three lists, the "Add access" form and the log: shown in the settings page's dialog and, without
/// JavaScript, on a page of their own.
pub struct Review {
    pub pending: Vec<RequestRow>,
    pub accepted: Vec<RequestRow>,
    pub rejected: Vec<RequestRow>,
    pub events: Vec<EventRow>,
    pub group: String,
    pub action: String,
    pub report: String,
    pub add: FormState,
}

#[derive(Template)]
#[template(path = "repo/access_requests.html")]
struct ReviewPage {
    chrome: Chrome,
    repo: RepoHead,
    review: Review,
}

/// How many requests of each status the page lists (the API pages through all of them).
const REVIEW_LIMIT: u32 = 500;

fn row(r: &gatehouse_store::AccessRequest) -> RequestRow {
    let fields = r
        .fields
        .as_deref()
        .and_then(|f| serde_json::from_str::<Map<String, Value>>(f).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {s}"),
                    Value::Bool(true) => format!("{k}: yes"),
                    other => format!("{k}: {other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    RequestRow {
        user: r.user_name.clone(),
        fullname: r.user_fullname.clone(),
        email: r.shared_email().unwrap_or_default().to_string(),
        time: format::date(r.created_at),
        fields,
        reason: r.rejection_reason.clone().unwrap_or_default(),
    }
}

/// The review of a gated repository the viewer manages.
pub async fn review_of(state: &AppState, viewer: &Viewer, repo: &Repo, add: FormState) -> Result<Review, PageError> {
    let hub = &state.hub;
    let t = repo.t;
    let list = |s: RequestStatus| {
        gating::list_requests(hub, &viewer.subject, t, repo.ns(), repo.name(), Some(s), 0, REVIEW_LIMIT)
    };
    let pending = list(RequestStatus::Pending).await?.iter().map(row).collect();
    let accepted = list(RequestStatus::Accepted).await?.iter().map(row).collect();
    let rejected = list(RequestStatus::Rejected).await?.iter().map(row).collect();
    let events = gating::events(hub, &viewer.subject, t, repo.ns(), repo.name(), 50)
        .await?
        .into_iter()
        .map(|e| EventRow {
            at: format::date(e.at),
            actor: e.actor_name,
            action: e.action,
            user: e.user_name.unwrap_or_default(),
        })
        .collect();
    let group = match repo.record.gating_group_id {
        Some(_) => gating::gate_info(hub, &repo.record).await?.label,
        None => String::new(),
    };
    Ok(Review {
        pending,
        accepted,
        rejected,
        events,
        group,
        action: format!("{}/settings/access-requests", repo.head.base),
        report: format!("/api/{}s/{}/user-access-report", t.as_str(), repo.head.id),
        add,
    })
}

async fn review_page(
    state: &AppState,
    viewer: &Viewer,
    t: RepoType,
    p: &RepoPath,
    add: FormState,
) -> Result<ReviewPage, PageError> {
    let repo = load(state, viewer, t, &p.ns, &p.name, "settings").await?;
    let review = review_of(state, viewer, &repo, add).await?;
    Ok(ReviewPage {
        chrome: Chrome::new(viewer, format!("Access requests of {}", repo.head.id)),
        review,
        repo: repo.head,
    })
}

/// `GET /{repo}/settings/access-requests`: the pending, accepted and rejected lists.
pub async fn review(
    State(state): State<AppState>,
    Extension(t): Extension<RepoType>,
    Path(p): Path<RepoPath>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    // Hidden repositories are 404 pages for everyone; visible ones ask anonymous visitors to sign in.
    let repo = load(&state, &viewer, t, &p.ns, &p.name, "settings").await?;
    viewer.require_user(&format!("{}/settings/access-requests", repo.head.base))?;
    Ok(html(&review_page(&state, &viewer, t, &p, FormState::new()).await?))
}

#[derive(Template)]
#[template(path = "repo/user_options.html")]
struct UserOptions {
    users: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct UserQuery {
    #[serde(default)]
    user: String,
}

/// `GET /{repo}/settings/access-requests/users?user=pre`: `<option>`s for the "Add access" field (htmx
/// fills its datalist as the reviewer types).
pub async fn user_options(
    State(state): State<AppState>,
    Extension(t): Extension<RepoType>,
    Path(p): Path<RepoPath>,
    viewer: Viewer,
    axum::extract::Query(q): axum::extract::Query<UserQuery>,
) -> Result<Response, PageError> {
    let found = gating::find_users(&state.hub, &viewer.subject, t, &p.ns, &p.name, &q.user).await?;
    Ok(html(&UserOptions { users: found.into_iter().map(|a| (a.name, a.fullname)).collect() }))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    user: String,
    /// `accepted`, `rejected`, `pending` (cancel) or `grant`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    /// `settings`: the decision came from the settings page's dialog, which opens again.
    #[serde(default)]
    back: String,
}

/// `POST /{repo}/settings/access-requests`: Accept, Reject, Cancel, or Add access.
pub async fn decide(
    State(state): State<AppState>,
    Extension(t): Extension<RepoType>,
    Path(p): Path<RepoPath>,
    CsrfForm { viewer, form }: CsrfForm<DecisionForm>,
) -> Result<Response, PageError> {
    let here = format!("/{}{}/{}/settings/access-requests", t.url_prefix(), p.ns, p.name);
    viewer.require_user(&here)?;
    let hub = &state.hub;
    let user = form.user.trim();
    let result: Result<(), Error> = if form.decision == "grant" {
        gating::grant(hub, &viewer.subject, t, &p.ns, &p.name, user).await.map(|_| ())
    } else {
        match RequestStatus::parse(&form.decision) {
            Ok(status) => {
                let reason = Some(form.reason.as_str()).filter(|r| !r.trim().is_empty());
                gating::handle(hub, &viewer.subject, t, &p.ns, &p.name, Target::User(user), status, reason)
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) if form.back == "settings" => {
            Ok(see_other(&format!("/{}{}/{}/settings#review-requests", t.url_prefix(), p.ns, p.name)))
        }
        Ok(()) => Ok(see_other(&here)),
        Err(e) if matches!(e.code, ErrorCode::BadRequest | ErrorCode::NotFound) && !form.user.is_empty() => {
            // Shown next to the "Add access" field (or above the lists for a decision).
            let mut add = FormState::new().with_value("user", &form.user);
            if form.decision == "grant" {
                add.set_error("user", e.message);
            } else {
                add = add.fail(e.message);
            }
            Ok(html_status(StatusCode::BAD_REQUEST, &review_page(&state, &viewer, t, &p, add).await?))
        }
        Err(e) => Err(e.into()),
    }
}
