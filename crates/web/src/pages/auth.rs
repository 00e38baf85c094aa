//! Signing in (with a second step for two-factor users), signing out, and signing up.

use crate::csrf::CsrfForm;
use crate::forms::FormState;
use crate::page::{html, html_status, local_path, see_other, with_cookies, Chrome, PageError};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::sessions::{self, SignupMode};
use gatehouse_core::signup::{self, Field, SignUp};
use gatehouse_http::AppState;
use gatehouse_types::ErrorCode;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
    joined: Option<String>,
    /// After a password reset: the notice, and the user's name in the form.
    reset: Option<String>,
    login: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    chrome: Chrome,
    form: FormState,
    next: String,
    notice: Option<&'static str>,
    signup_open: bool,
    reset_available: bool,
}

fn login_page(
    state: &AppState,
    viewer: &Viewer,
    form: FormState,
    next: String,
    notice: Option<&'static str>,
) -> LoginPage {
    LoginPage {
        chrome: Chrome::new(viewer, "Sign in"),
        form,
        next,
        notice,
        signup_open: state.hub.config.accounts.signup != SignupMode::Closed,
        reset_available: gatehouse_core::password_reset::available(&state.hub),
    }
}

pub async fn login_form(State(state): State<AppState>, viewer: Viewer, Query(q): Query<LoginQuery>) -> Response {
    let next = local_path(q.next.as_deref());
    if viewer.signed_in().is_some() {
        return see_other(&next);
    }
    let notice = if q.expired.is_some() || viewer.expired {
        Some("Your session has expired. Sign in again to continue.")
    } else if q.joined.is_some() {
        Some("Your account is ready. Sign in to continue.")
    } else if q.reset.is_some() {
        Some("Your password is set. Sign in with the new one.")
    } else {
        None
    };
    let form = FormState::new().with_value("login", q.login.as_deref().unwrap_or(""));
    let resp = html(&login_page(&state, &viewer, form, next, notice));
    // A stale session cookie is cleared so it stops being sent.
    if viewer.expired {
        with_cookies(resp, &[viewer.clear_session_cookie()])
    } else {
        resp
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(State(state): State<AppState>, CsrfForm { viewer, form }: CsrfForm<LoginForm>) -> Response {
    let hub = &state.hub;
    let next = local_path(Some(&form.next));
    let mut fs = FormState::new().with_value("login", &form.login);
    if form.login.trim().is_empty() {
        fs.set_error("login", "Enter your username or email address.");
    }
    if form.password.is_empty() {
        fs.set_error("password", "Enter your password.");
    }
    if fs.has_errors() {
        let page = login_page(&state, &viewer, fs, next, None);
        return html_status(StatusCode::BAD_REQUEST, &page);
    }
    match sessions::sign_in(hub, &form.login, &form.password, viewer.client.as_deref()).await {
        Ok(signed) => {
            let max_age = if signed.needs_second_factor { 300 } else { hub.config.accounts.session_idle_ms / 1000 };
            let cookie = viewer.session_cookie(&signed.secret, max_age);
            let to = if signed.needs_second_factor {
                format!("/login/two-factor?next={}", crate::format::seg(&next))
            } else {
                next
            };
            with_cookies(see_other(&to), &[cookie])
        }
        Err(e) => {
            let status = if e.code == ErrorCode::TooManyRequests {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            if e.code == ErrorCode::Internal {
                return PageError::from(e).into_response();
            }
            let page = login_page(&state, &viewer, fs.fail(e.message), next, None);
            html_status(status, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "auth/two_factor.html")]
struct TwoFactorPage {
    chrome: Chrome,
    form: FormState,
    next: String,
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn second_factor_form(viewer: Viewer, Query(q): Query<NextQuery>) -> Response {
    if !viewer.awaiting_second_factor {
        return see_other("/login");
    }
    html(&TwoFactorPage {
        chrome: Chrome::new(&viewer, "Two-factor authentication"),
        form: FormState::new(),
        next: local_path(q.next.as_deref()),
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

pub async fn second_factor(State(state): State<AppState>, CsrfForm { viewer, form }: CsrfForm<CodeForm>) -> Response {
    let next = local_path(Some(&form.next));
    let (Some(secret), true) = (viewer.session_secret.as_deref(), viewer.awaiting_second_factor) else {
        return see_other("/login?expired=1");
    };
    match sessions::complete_second_factor(&state.hub, secret, &form.code, viewer.client.as_deref()).await {
        Ok(full) => {
            let cookie = viewer.session_cookie(&full, state.hub.config.accounts.session_idle_ms / 1000);
            with_cookies(see_other(&next), &[cookie])
        }
        Err(e) if e.code == ErrorCode::InvalidCredentials => see_other("/login?expired=1"),
        Err(e) if e.code == ErrorCode::Internal => PageError::from(e).into_response(),
        Err(e) => {
            let status = if e.code == ErrorCode::TooManyRequests {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            let page = TwoFactorPage {
                chrome: Chrome::new(&viewer, "Two-factor authentication"),
                form: FormState::new().fail(e.message),
                next,
            };
            html_status(status, &page)
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn logout(
    State(state): State<AppState>,
    CsrfForm { viewer, .. }: CsrfForm<Empty>,
) -> Result<Response, PageError> {
    if let Some(secret) = &viewer.session_secret {
        sessions::sign_out(&state.hub, secret).await?;
    }
    Ok(with_cookies(see_other("/"), &[viewer.clear_session_cookie()]))
}

#[derive(Template)]
#[template(path = "auth/join.html")]
struct JoinPage {
    chrome: Chrome,
    form: FormState,
    mode: &'static str,
}

#[derive(Deserialize, Default)]
pub struct JoinQuery {
    invitation: Option<String>,
}

pub async fn join_form(State(state): State<AppState>, viewer: Viewer, Query(q): Query<JoinQuery>) -> Response {
    if viewer.signed_in().is_some() {
        return see_other("/");
    }
    let form = FormState::new().with_value("invitation", q.invitation.as_deref().unwrap_or(""));
    html(&JoinPage { chrome: Chrome::new(&viewer, "Sign up"), form, mode: state.hub.config.accounts.signup.as_str() })
}

#[derive(Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    invitation: String,
}

fn field_name(f: Field) -> &'static str {
    match f {
        Field::Name => "name",
        Field::Email => "email",
        Field::FullName => "full_name",
        Field::Password => "password",
        Field::Invitation => "invitation",
    }
}

pub async fn join(State(state): State<AppState>, CsrfForm { viewer, form }: CsrfForm<JoinForm>) -> Response {
    let hub = &state.hub;
    let req = SignUp {
        name: &form.name,
        email: &form.email,
        full_name: &form.full_name,
        password: &form.password,
        invitation: Some(form.invitation.as_str()).filter(|s| !s.trim().is_empty()),
    };
    match signup::sign_up(hub, req).await {
        Ok(_) => see_other("/login?joined=1"),
        Err(errors) => {
            let mut fs = FormState::new()
                .with_value("name", &form.name)
                .with_value("email", &form.email)
                .with_value("full_name", &form.full_name)
                .with_value("invitation", &form.invitation);
            for (field, message) in errors {
                fs.set_error(field_name(field), message);
            }
            let page = JoinPage {
                chrome: Chrome::new(&viewer, "Sign up"),
                form: fs,
                mode: hub.config.accounts.signup.as_str(),
            };
            html_status(StatusCode::BAD_REQUEST, &page)
        }
    }
}
