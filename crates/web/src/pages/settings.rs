//! The signed-in user's settings: profile and password, access tokens, two-factor authentication.

use crate::csrf::CsrfForm;
use crate::format;
use crate::forms::FormState;
use crate::page::{html, html_status, see_other, Chrome, PageError};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_authz::TokenRole;
use gatehouse_core::{accounts, sessions, tokens, two_factor};
use gatehouse_http::AppState;
use gatehouse_store::{Account, TokenStore};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "profile" => Some("Your profile was saved."),
        "password" => Some("Your password was changed. Other sessions were signed out."),
        "sessions" => Some("Every other browser was signed out."),
        "revoked" => Some("The token was revoked."),
        "2fa-off" => Some("Two-factor authentication is off."),
        _ => None,
    }
}

// ---- profile and password ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "settings/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    user: Account,
    profile: FormState,
    password: FormState,
    notice: Option<&'static str>,
}

fn profile_page(
    viewer: &Viewer,
    user: &Account,
    profile: FormState,
    password: FormState,
    notice: Option<&'static str>,
) -> ProfilePage {
    ProfilePage { chrome: Chrome::new(viewer, "Profile settings"), user: user.clone(), profile, password, notice }
}

fn profile_values(user: &Account) -> FormState {
    FormState::new().with_value("full_name", &user.fullname).with_value("email", user.email.as_deref().unwrap_or(""))
}

pub async fn profile(viewer: Viewer, Query(q): Query<DoneQuery>) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/profile")?;
    Ok(html(&profile_page(&viewer, user, profile_values(user), FormState::new(), notice(q.done.as_deref()))))
}

/// Ends every session of the user but this one.
pub async fn sign_out_others(
    State(state): State<AppState>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/profile")?;
    sessions::end_other_sessions(&state.hub, user.id, viewer.session_secret.as_deref()).await?;
    Ok(see_other("/settings/profile?done=sessions"))
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    email: String,
}

pub async fn save_profile(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<ProfileForm>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/profile")?;
    match accounts::update_profile(&state.hub, user, &form.full_name, &form.email).await {
        Ok(_) => Ok(see_other("/settings/profile?done=profile")),
        Err(e) if e.code == gatehouse_types::ErrorCode::Internal => Err(e.into()),
        Err(e) => {
            let mut fs = FormState::new().with_value("full_name", &form.full_name).with_value("email", &form.email);
            let field = if e.message.to_lowercase().contains("email") { "email" } else { "full_name" };
            fs.set_error(field, e.message);
            Ok(html_status(StatusCode::BAD_REQUEST, &profile_page(&viewer, user, fs, FormState::new(), None)))
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/profile")?;
    let mut fs = FormState::new();
    if let Some(problem) = gatehouse_core::accounts::password_problem(&form.new) {
        fs.set_error("new", problem);
    } else if form.new != form.confirm {
        fs.set_error("confirm", "The two new passwords differ");
    }
    if !fs.has_errors() {
        match sessions::change_password(&state.hub, user, &form.current, &form.new, viewer.session_secret.as_deref())
            .await
        {
            Ok(()) => return Ok(see_other("/settings/profile?done=password")),
            Err(e) if e.code == gatehouse_types::ErrorCode::Internal => return Err(e.into()),
            Err(e) => fs.set_error("current", e.message),
        }
    }
    Ok(html_status(StatusCode::BAD_REQUEST, &profile_page(&viewer, user, profile_values(user), fs, None)))
}

// ---- access tokens ----------------------------------------------------------------------------------

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub role: &'static str,
    pub created: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "settings/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    form: FormState,
    /// A token just created: its secret, shown this once.
    created: Option<(String, String)>,
    notice: Option<&'static str>,
}

async fn tokens_page(
    state: &AppState,
    viewer: &Viewer,
    user: &Account,
    form: FormState,
    created: Option<(String, String)>,
    notice: Option<&'static str>,
) -> Result<TokensPage, PageError> {
    let rows = state
        .hub
        .store
        .tokens_of_user(user.id)
        .await
        .map_err(|e| PageError::from(gatehouse_types::Error::from(e)))?
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            role: t.role.as_str(),
            created: format::date(t.created_at),
            last_used: t.last_used_at.map_or_else(|| "never".to_string(), format::date),
        })
        .collect();
    Ok(TokensPage { chrome: Chrome::new(viewer, "Access tokens"), tokens: rows, form, created, notice })
}

pub async fn tokens_list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/tokens")?;
    let page = tokens_page(
        &state,
        &viewer,
        user,
        FormState::new().with_value("role", "read"),
        None,
        notice(q.done.as_deref()),
    )
    .await?;
    Ok(html(&page))
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<NewTokenForm>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/tokens")?;
    let mut fs = FormState::new().with_value("name", &form.name).with_value("role", &form.role);
    let role = TokenRole::parse(&form.role);
    if role.is_err() {
        fs.set_error("role", "Choose read or write");
    }
    if form.name.trim().is_empty() || form.name.trim().len() > 100 {
        fs.set_error("name", "Give the token a name of 1 to 100 characters");
    }
    if let (false, Ok(role)) = (fs.has_errors(), role) {
        let (record, secret) = tokens::create_token(&state.hub, user.id, &form.name, role).await?;
        let page = tokens_page(
            &state,
            &viewer,
            user,
            FormState::new().with_value("role", "read"),
            Some((record.name, secret)),
            None,
        )
        .await?;
        return Ok(html(&page));
    }
    Ok(html_status(StatusCode::BAD_REQUEST, &tokens_page(&state, &viewer, user, fs, None, None).await?))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/tokens")?;
    tokens::revoke(&state.hub, user.id, id).await?;
    Ok(see_other("/settings/tokens?done=revoked"))
}

// ---- two-factor authentication ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "settings/two_factor.html")]
struct TwoFactorPage {
    chrome: Chrome,
    enabled: bool,
    codes_left: i64,
    /// Enrolment in progress: the secret, and the QR code as inline SVG (generated here, trusted).
    enrolment: Option<(String, String)>,
    /// Recovery codes just generated, shown this once.
    recovery: Vec<String>,
    form: FormState,
    notice: Option<&'static str>,
}

async fn two_factor_page(
    state: &AppState,
    viewer: &Viewer,
    user: &Account,
    form: FormState,
    recovery: Vec<String>,
    notice: Option<&'static str>,
) -> Result<TwoFactorPage, PageError> {
    let hub = &state.hub;
    let enabled = two_factor::is_enabled(hub, user.id).await?;
    let enrolment = two_factor::pending(hub, user).await?.map(|e| (e.secret_base32, qr_svg(&e.url)));
    let codes_left = if enabled { two_factor::recovery_codes_left(hub, user.id).await? } else { 0 };
    Ok(TwoFactorPage {
        chrome: Chrome::new(viewer, "Two-factor authentication"),
        enabled,
        codes_left,
        enrolment,
        recovery,
        form,
        notice,
    })
}

fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
        Err(_) => String::new(),
    }
}

pub async fn two_factor_settings(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/two-factor")?;
    Ok(html(&two_factor_page(&state, &viewer, user, FormState::new(), Vec::new(), notice(q.done.as_deref())).await?))
}

pub async fn two_factor_begin(
    State(state): State<AppState>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/two-factor")?;
    two_factor::begin(&state.hub, user).await?;
    Ok(see_other("/settings/two-factor"))
}

pub async fn two_factor_cancel(
    State(state): State<AppState>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/two-factor")?;
    two_factor::cancel_pending(&state.hub, user).await?;
    Ok(see_other("/settings/two-factor"))
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// Runs a two-factor action that needs a code; a wrong code is shown on the page, next to its field.
async fn with_code(
    state: &AppState,
    viewer: &Viewer,
    user: &Account,
    result: gatehouse_types::Result<Vec<String>>,
    then: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(codes) if !codes.is_empty() => {
            let page = two_factor_page(state, viewer, user, FormState::new(), codes, None).await?;
            Ok(html(&page))
        }
        Ok(_) => Ok(see_other(then)),
        Err(e) if e.code == gatehouse_types::ErrorCode::Internal => Err(e.into()),
        Err(e) => {
            let mut fs = FormState::new();
            fs.set_error("code", e.message);
            Ok(html_status(StatusCode::BAD_REQUEST, &two_factor_page(state, viewer, user, fs, Vec::new(), None).await?))
        }
    }
}

pub async fn two_factor_confirm(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/two-factor")?;
    let result = two_factor::confirm(&state.hub, user, &form.code).await;
    if result.is_ok() {
        // Sessions opened without the second factor end; this one was just proven with it.
        sessions::end_other_sessions(&state.hub, user.id, viewer.session_secret.as_deref()).await?;
    }
    with_code(&state, &viewer, user, result, "/settings/two-factor").await
}

pub async fn two_factor_disable(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/two-factor")?;
    let result = two_factor::disable(&state.hub, user, &form.code).await.map(|()| Vec::new());
    with_code(&state, &viewer, user, result, "/settings/two-factor?done=2fa-off").await
}

pub async fn two_factor_recovery(
    State(state): State<AppState>,
    CsrfForm { viewer, form }: CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let user = viewer.require_user("/settings/two-factor")?;
    let result = two_factor::regenerate_recovery_codes(&state.hub, user, &form.code).await;
    with_code(&state, &viewer, user, result, "/settings/two-factor").await
}
