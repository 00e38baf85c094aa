//! Gated repositories (seeds: gated models, gated datasets, gating group collections): the gate's
//! settings, users' access requests through the form the card describes, the owners' review (accept,
//! reject, cancel, grant), the access report, and the record of every decision.
//!
//! A repository's gate is its own, or its gating group's while it belongs to one: then the group's mode
//! applies and one request covers every repository of the group, including ones added later. Whether a
//! caller passed the gate is a fact for the one decision function (`access::check_repo` looks it up only
//! when the gate is what refuses). Every decision writes its log entry and its notifications in the same
//! transaction as the request, then clears the access caches on every server.

pub mod digest;
pub mod form;

use crate::access::{authorize_repo, check_repo};
use crate::content::card;
use crate::time::{iso8601, now_millis};
use crate::Hub;
use gatehouse_authz::{Action, Subject, UserSubject};
use gatehouse_store::{
    AccessRequest, Account, AccountStore, Effects, Gate, GateSettings, GatingStore, NewGateEvent, NewNotification,
    RepoRecord, RepoStore, RequestRef, StoreError,
};
use gatehouse_types::{Error, ErrorCode, GateMode, NotificationsMode, RepoType, RequestStatus, Result};
use serde_json::{json, Map, Value};

pub use form::{FieldKind, FormField, GateForm};

/// What the seeds show a rejected user.
pub const REJECTED_MESSAGE: &str = "Your request to access this repo has been rejected by the repo's authors.";
/// The longest rejection reason (the Hub's UI limit).
pub const MAX_REASON_CHARS: usize = 200;

/// The gate that applies to a repository.
pub fn gate_of(repo: &RepoRecord) -> Gate {
    match repo.gating_group_id {
        Some(group) => Gate::Group(group),
        None => Gate::Repo(repo.id),
    }
}

/// Whether `user` holds an accepted request for the repository's gate (cached for a few seconds; every
/// decision clears the cache).
pub async fn holds_access(hub: &Hub, repo: &RepoRecord, user: i64) -> Result<bool> {
    let key = (gate_of(repo), user);
    if let Some(known) = hub.gate_passes.get(&key) {
        return Ok(known);
    }
    let passed = hub.store.has_accepted_request(key.0, user).await?;
    hub.gate_passes.insert(key, passed);
    Ok(passed)
}

/// A gate as its owners see it: settings, who owns it, what to call it.
pub struct GateInfo {
    pub gate: Gate,
    pub settings: GateSettings,
    pub owner: Account,
    /// `model alice/llama`, or `collection acme/llama-family-…` for a gating group.
    pub label: String,
    /// Site path of the page where requests are reviewed.
    pub review_path: String,
}

fn repo_label(repo: &RepoRecord) -> String {
    format!("{} {}/{}", repo.repo_type, repo.owner_name, repo.name)
}

fn repo_path(repo: &RepoRecord) -> String {
    format!("/{}{}/{}", repo.repo_type.url_prefix(), repo.owner_name, repo.name)
}

pub async fn gate_info(hub: &Hub, repo: &RepoRecord) -> Result<GateInfo> {
    let review_path = format!("{}/settings/access-requests", repo_path(repo));
    match gate_of(repo) {
        Gate::Repo(_) => {
            let owner = hub.store.account_by_id(repo.owner_id).await?.ok_or_else(Error::repo_not_found)?;
            Ok(GateInfo {
                gate: Gate::Repo(repo.id),
                settings: repo.own_gate.clone(),
                owner,
                label: repo_label(repo),
                review_path,
            })
        }
        Gate::Group(id) => {
            let group = hub.store.gating_group(id).await?.ok_or_else(Error::repo_not_found)?;
            let owner = hub.store.account_by_id(group.owner_id).await?.ok_or_else(Error::repo_not_found)?;
            let label = format!("collection {}/{}-{}", owner.name, group.slug_title, group.object_id);
            Ok(GateInfo { gate: Gate::Group(id), settings: group.settings, owner, label, review_path })
        }
    }
}

fn signed_in(subject: &Subject) -> Result<&UserSubject> {
    subject.user().ok_or_else(Error::auth_required)
}

fn not_gated(repo: &RepoRecord) -> Error {
    Error::bad_request(format!("The {} is not gated: there are no access requests.", repo_label(repo)))
}

/// A log entry for `action` on `gate` (called `label`) by the subject, about `user`'s request.
fn event(
    subject: &Subject,
    action: &str,
    gate: Gate,
    label: &str,
    user: Option<&AccessRequest>,
    detail: Value,
) -> NewGateEvent {
    let actor = subject.user();
    NewGateEvent {
        // The operator CLI acts as user 0, which is no account.
        actor_id: actor.map(|u| u.user_id).filter(|id| *id > 0),
        actor_name: actor.map_or_else(|| "anonymous".to_string(), |u| u.username.clone()),
        action: action.to_string(),
        gate,
        target: label.to_string(),
        user_id: user.map(|r| r.user_id),
        user_name: user.map(|r| r.user_name.clone()),
        detail: detail.to_string(),
    }
}

// ---- the form and the user's side ------------------------------------------------------------------

pub async fn form_of(hub: &Hub, repo: &RepoRecord) -> Result<GateForm> {
    Ok(GateForm::from_card(card::data_on_main(hub, repo).await?.as_ref(), repo.repo_type.as_str()))
}

/// Where the caller stands with a gated repository.
pub enum Standing {
    /// May download: writes the repository, or was accepted.
    HasAccess,
    Pending,
    Rejected {
        reason: Option<String>,
    },
    /// Signed in, no request yet.
    CanRequest,
    /// Anonymous: must sign in to ask.
    MustSignIn,
}

pub async fn standing(hub: &Hub, subject: &Subject, repo: &RepoRecord) -> Result<Standing> {
    if check_repo(hub, subject, Action::RepoDownload, repo).await.is_ok() {
        return Ok(Standing::HasAccess);
    }
    let Some(user) = subject.user() else { return Ok(Standing::MustSignIn) };
    Ok(match hub.store.access_request(gate_of(repo), RequestRef::User(user.user_id)).await? {
        Some(r) if r.status == RequestStatus::Pending => Standing::Pending,
        Some(r) if r.status == RequestStatus::Rejected => Standing::Rejected { reason: r.rejection_reason },
        Some(_) => Standing::HasAccess,
        None => Standing::CanRequest,
    })
}

/// Why a request was refused: the form's problems by field, or an error for the whole request.
pub enum RequestError {
    Fields(Vec<(String, String)>),
    Other(Error),
}

impl From<Error> for RequestError {
    fn from(e: Error) -> Self {
        RequestError::Other(e)
    }
}

impl From<StoreError> for RequestError {
    fn from(e: StoreError) -> Self {
        RequestError::Other(e.into())
    }
}

impl RequestError {
    /// One error for the API: the fields' problems in one message.
    pub fn into_error(self) -> Error {
        match self {
            RequestError::Other(e) => e,
            RequestError::Fields(problems) => Error::bad_request(format!(
                "The access request form is incomplete: {}",
                problems.iter().map(|(f, why)| format!("\"{f}\": {why}")).collect::<Vec<_>>().join("; ")
            )),
        }
    }
}

/// A signed-in user asks for access, answering the card's form. Automatic gates accept at once, manual
/// ones queue the request and tell the owners (at once, or in the daily digest). Asking again while
/// pending or accepted changes nothing; a rejected user cannot ask again.
pub async fn request_access(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    answers: &Map<String, Value>,
) -> std::result::Result<RequestStatus, RequestError> {
    // Hidden repositories answer as missing ones, whoever asks; then only signed-in users may ask.
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoRead).await?;
    let user = signed_in(subject)?;
    let Some(mode) = repo.gated else { return Err(not_gated(&repo).into()) };
    if check_repo(hub, subject, Action::RepoDownload, &repo).await.is_ok() {
        if let Some(existing) = hub.store.access_request(gate_of(&repo), RequestRef::User(user.user_id)).await? {
            return Ok(existing.status);
        }
        return Err(Error::bad_request("You can already download this repository's files.").into());
    }
    let info = gate_info(hub, &repo).await?;
    match hub.store.access_request(info.gate, RequestRef::User(user.user_id)).await? {
        Some(r) if r.status == RequestStatus::Rejected => return Err(rejected(&r).into()),
        Some(r) => return Ok(r.status),
        None => {}
    }
    let form = form_of(hub, &repo).await?;
    let fields = form.validate(answers).map_err(RequestError::Fields)?;
    let status = match mode {
        GateMode::Auto => RequestStatus::Accepted,
        GateMode::Manual => RequestStatus::Pending,
    };
    let requester = hub.store.account_by_id(user.user_id).await?.ok_or_else(Error::invalid_credentials)?;
    let notices = match (status, info.settings.notifications_mode) {
        (RequestStatus::Pending, NotificationsMode::RealTime) => {
            let body = format!(
                "{} ({}{}) asked for access to {}. Review the request on the repository's settings page \
                 (the link below).\n",
                requester.name,
                requester.fullname,
                requester.email.as_deref().map(|e| format!(", {e}")).unwrap_or_default(),
                info.label,
            );
            owner_notices(
                hub,
                &info,
                &format!("New access request for {}", info.label),
                &body,
                &format!("request:{:?}:{}", info.gate, requester.id),
            )
            .await?
        }
        _ => Vec::new(),
    };
    let detail = json!({"status": status.as_str(), "fields": Value::Object(fields.clone())});
    let ev = NewGateEvent {
        user_id: Some(requester.id),
        user_name: Some(requester.name.clone()),
        ..event(subject, "request", info.gate, &info.label, None, detail)
    };
    let fields_text = (!fields.is_empty()).then(|| Value::Object(fields).to_string());
    let created = hub
        .store
        .create_access_request(
            info.gate,
            user.user_id,
            status,
            fields_text.as_deref(),
            Effects { event: &ev, notices: &notices },
            now_millis(),
        )
        .await;
    match created {
        Ok(r) => {
            if !notices.is_empty() {
                hub.mail_queued();
            }
            hub.authorization_changed().await?;
            Ok(r.status)
        }
        // Two requests at once from the same user: the other one won; report where it stands.
        Err(StoreError::Conflict(_)) => {
            match hub.store.access_request(info.gate, RequestRef::User(user.user_id)).await? {
                Some(r) if r.status == RequestStatus::Rejected => Err(rejected(&r).into()),
                Some(r) => Ok(r.status),
                None => Err(Error::conflict("The request could not be recorded; try again.").into()),
            }
        }
        Err(e) => Err(Error::from(e).into()),
    }
}

fn rejected(r: &AccessRequest) -> Error {
    let message = match &r.rejection_reason {
        Some(reason) => format!("{REJECTED_MESSAGE} Reason: {reason}"),
        None => REJECTED_MESSAGE.to_string(),
    };
    Error::new(ErrorCode::Forbidden, message)
}

/// Notifications for the gate's owners: the owner user or the first admins of the organization, in the
/// web UI, and by mail to them or to the gate's notifications address.
async fn owner_notices(
    hub: &Hub,
    info: &GateInfo,
    subject: &str,
    body: &str,
    key: &str,
) -> Result<Vec<NewNotification>> {
    let r = crate::notify::gate_recipients(hub, &info.owner, info.settings.notifications_email.as_deref()).await?;
    Ok(crate::notify::notices(&r, subject, body, Some(&info.review_path), key))
}

/// A notification for the user a decision is about.
fn user_notice(r: &AccessRequest, subject: String, body: String, link: &str, key: String) -> NewNotification {
    NewNotification {
        user_id: Some(r.user_id),
        email: r.user_email.clone(),
        subject,
        body,
        link: Some(link.to_string()),
        dedupe_key: key,
    }
}

// ---- the owners' side ------------------------------------------------------------------------------

/// Loads a gated repository for its owners: reviewing needs the right to manage it (a read-only token or
/// a reader gets 403; those who may not see it, 404).
async fn for_review(hub: &Hub, subject: &Subject, t: RepoType, ns: &str, name: &str) -> Result<(RepoRecord, GateInfo)> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoManage).await?;
    if repo.gated.is_none() {
        return Err(not_gated(&repo));
    }
    let info = gate_info(hub, &repo).await?;
    Ok((repo, info))
}

#[allow(clippy::too_many_arguments)]
pub async fn list_requests(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    status: Option<RequestStatus>,
    offset: u64,
    limit: u32,
) -> Result<Vec<AccessRequest>> {
    let (_, info) = for_review(hub, subject, t, ns, name).await?;
    Ok(hub.store.list_access_requests(info.gate, status, offset, limit).await?)
}

/// Which request a decision is about.
pub enum Target<'a> {
    User(&'a str),
    RequestId(&'a str),
}

async fn target_ref(hub: &Hub, target: &Target<'_>) -> Result<RequestRef> {
    match target {
        Target::User(name) => Ok(RequestRef::User(crate::accounts::user_by_name(hub, name).await?.id)),
        Target::RequestId(id) => {
            id.parse().map(RequestRef::Id).map_err(|_| Error::not_found(format!("No access request with id '{id}'")))
        }
    }
}

fn action_name(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Accepted => "accept",
        RequestStatus::Rejected => "reject",
        RequestStatus::Pending => "cancel",
    }
}

/// Accepts, rejects (with an optional reason, shown to the user) or cancels (back to pending) a request,
/// in either approval mode. The user hears of acceptance and rejection.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    target: Target<'_>,
    status: RequestStatus,
    reason: Option<&str>,
) -> Result<AccessRequest> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(Error::bad_request(format!("A rejection reason is at most {MAX_REASON_CHARS} characters long.")));
    }
    if reason.is_some() && status != RequestStatus::Rejected {
        return Err(Error::bad_request("A reason is given only when rejecting a request."));
    }
    let (repo, info) = for_review(hub, subject, t, ns, name).await?;
    let actor = signed_in(subject)?;
    let which = target_ref(hub, &target).await?;
    let before = hub
        .store
        .access_request(info.gate, which)
        .await?
        .ok_or_else(|| Error::not_found("No access request for this user"))?;
    if before.status == status {
        return Err(Error::not_found(format!("This request is already {}", status.as_str())));
    }
    let now = now_millis();
    let path = repo_path(&repo);
    let key = format!("decision:{:?}:{}:{}:{now}", info.gate, before.user_id, status.as_str());
    let notices = match status {
        RequestStatus::Accepted => vec![user_notice(
            &before,
            format!("Your request to access {} was accepted", info.label),
            format!("You now have access to the files of {}.\n", info.label),
            &path,
            key,
        )],
        RequestStatus::Rejected => vec![user_notice(
            &before,
            format!("Your request to access {} was rejected", info.label),
            format!("{REJECTED_MESSAGE}{}\n", reason.map(|r| format!("\nReason: {r}")).unwrap_or_default()),
            &path,
            key,
        )],
        RequestStatus::Pending => Vec::new(),
    };
    let detail = json!({"from": before.status.as_str(), "to": status.as_str(), "reason": reason});
    let ev = event(subject, action_name(status), info.gate, &info.label, Some(&before), detail);
    let changed = hub
        .store
        .set_request_status(
            info.gate,
            RequestRef::Id(before.id),
            status,
            reason,
            actor.user_id,
            Effects { event: &ev, notices: &notices },
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => Error::not_found(format!("This request is already {}", status.as_str())),
            other => other.into(),
        })?;
    if !notices.is_empty() {
        hub.mail_queued();
    }
    hub.authorization_changed().await?;
    Ok(changed)
}

/// Gives a user access without a request (the "Add access" of the seeds). 400 when the repository is
/// not gated or the user already has access, 404 for an unknown user.
pub async fn grant(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    user: &str,
) -> Result<AccessRequest> {
    let (repo, info) = for_review(hub, subject, t, ns, name).await?;
    let actor = signed_in(subject)?;
    let account = crate::accounts::user_by_name(hub, user).await?;
    let existing = hub.store.access_request(info.gate, RequestRef::User(account.id)).await?;
    if existing.as_ref().is_some_and(|r| r.status == RequestStatus::Accepted) {
        return Err(Error::bad_request(format!("{} already has access to this repository.", account.name)));
    }
    let now = now_millis();
    let path = repo_path(&repo);
    let subject_line = format!("You were given access to {}", info.label);
    let notice = NewNotification {
        user_id: Some(account.id),
        email: account.email.clone(),
        subject: subject_line,
        body: format!("{} gave you access to the files of {}.\n", actor.username, info.label),
        link: Some(path),
        dedupe_key: format!("grant:{:?}:{}:{now}", info.gate, account.id),
    };
    let detail = json!({"from": existing.as_ref().map(|r| r.status.as_str())});
    let ev = NewGateEvent {
        user_id: Some(account.id),
        user_name: Some(account.name.clone()),
        ..event(subject, "grant", info.gate, &info.label, None, detail)
    };
    let granted = hub
        .store
        .grant_access(
            info.gate,
            account.id,
            actor.user_id,
            Effects { event: &ev, notices: std::slice::from_ref(&notice) },
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                Error::bad_request(format!("{} already has access to this repository.", account.name))
            }
            other => other.into(),
        })?;
    hub.mail_queued();
    hub.authorization_changed().await?;
    Ok(granted)
}

/// Users whose name starts with `prefix`, for the reviewers' "Add access" search (at most 10).
pub async fn find_users(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    prefix: &str,
) -> Result<Vec<Account>> {
    for_review(hub, subject, t, ns, name).await?;
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Ok(Vec::new());
    }
    Ok(hub.store.users_by_prefix(prefix, 10).await?)
}

/// Every request of the gate with the requester's contact details (the "user access report").
pub async fn report(hub: &Hub, subject: &Subject, t: RepoType, ns: &str, name: &str) -> Result<Vec<Value>> {
    let (_, info) = for_review(hub, subject, t, ns, name).await?;
    let mut rows = Vec::new();
    let mut offset = 0;
    loop {
        let page = hub.store.list_access_requests(info.gate, None, offset, 1000).await?;
        let n = page.len();
        rows.extend(page.into_iter().map(|r| {
            json!({"user": r.user_name, "fullname": r.user_fullname, "status": r.status.as_str(),
                   "email": r.shared_email(), "time": iso8601(r.created_at)})
        }));
        if n < 1000 {
            return Ok(rows);
        }
        offset += 1000;
    }
}

// ---- settings ---------------------------------------------------------------------------------------

/// A change to a repository's own gate; None leaves that part as it is.
#[derive(Debug, Default, Clone)]
pub struct GateUpdate {
    pub mode: Option<Option<GateMode>>,
    pub notifications_mode: Option<NotificationsMode>,
    /// Some(None) goes back to the default recipients.
    pub notifications_email: Option<Option<String>>,
}

impl GateUpdate {
    /// The settings `before` becomes with this change; the notifications address is checked.
    pub fn apply(self, before: &GateSettings) -> Result<GateSettings> {
        let email = match self.notifications_email {
            Some(Some(e)) if !e.trim().is_empty() => Some(Some(crate::accounts::parse_email(&e)?)),
            Some(_) => Some(None),
            None => None,
        };
        Ok(GateSettings {
            mode: self.mode.unwrap_or(before.mode),
            notifications_mode: self.notifications_mode.unwrap_or(before.notifications_mode),
            notifications_email: email.unwrap_or_else(|| before.notifications_email.clone()),
        })
    }
}

/// The log entry for a change of `gate`'s settings by `subject`.
pub fn settings_event(
    subject: &Subject,
    gate: Gate,
    label: &str,
    before: &GateSettings,
    after: &GateSettings,
) -> NewGateEvent {
    let detail = json!({"from": settings_json(before), "to": settings_json(after)});
    event(subject, "settings", gate, label, None, detail)
}

/// Changes the repository's own gate (mode and notifications). A repository in a gating group keeps
/// its own settings for when it leaves the group; the group's apply meanwhile.
pub async fn update_settings(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    u: GateUpdate,
) -> Result<()> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoManage).await?;
    let before = repo.own_gate.clone();
    let after = u.apply(&before)?;
    if after == before {
        return Ok(());
    }
    let event = settings_event(subject, Gate::Repo(repo.id), &repo_label(&repo), &before, &after);
    hub.store.set_gate_settings(repo.id, &after, Some(&event), now_millis()).await?;
    hub.authorization_changed().await
}

/// Settings as the log and the API show them.
pub fn settings_json(s: &GateSettings) -> Value {
    json!({
        "gated": s.mode.map_or(Value::Bool(false), |m| Value::String(m.as_str().into())),
        "notifications": {"mode": s.notifications_mode.as_str(), "email": s.notifications_email},
    })
}

/// The log of a gate (newest first), for its owners.
pub async fn events(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    limit: u32,
) -> Result<Vec<gatehouse_store::GateEventRecord>> {
    let repo = authorize_repo(hub, subject, t, ns, name, Action::RepoManage).await?;
    Ok(hub.store.gate_events(gate_of(&repo), limit).await?)
}
