//! "Forgot your password?": asking for a link by email, and setting a new password with it
//! (`gatehouse_core::password_reset` decides everything; these pages only show it).

use crate::csrf::CsrfForm;
use crate::forms::FormState;
use crate::page::{html_status, see_other, Chrome, PageError};
use crate::session::Viewer;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_core::password_reset;
use gatehouse_http::AppState;
use gatehouse_types::ErrorCode;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    form: FormState,
    available: bool,
    sent: bool,
}

fn forgot_page(state: &AppState, viewer: &Viewer, form: FormState, sent: bool) -> ForgotPage {
    ForgotPage {
        chrome: Chrome::new(viewer, "Reset your password"),
        form,
        available: password_reset::available(&state.hub),
        sent,
    }
}

pub async fn forgot_form(State(state): State<AppState>, viewer: Viewer) -> Response {
    html_status(StatusCode::OK, &forgot_page(&state, &viewer, FormState::new(), false))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    login: String,
}

pub async fn forgot(State(state): State<AppState>, CsrfForm { viewer, form }: CsrfForm<ForgotForm>) -> Response {
    let fs = FormState::new().with_value("login", &form.login);
    if form.login.trim().is_empty() {
        let mut fs = fs;
        fs.set_error("login", "Enter your username or email address.");
        return html_status(StatusCode::BAD_REQUEST, &forgot_page(&state, &viewer, fs, false));
    }
    match password_reset::request(&state.hub, &form.login, viewer.client.as_deref()).await {
        Ok(()) => html_status(StatusCode::OK, &forgot_page(&state, &viewer, FormState::new(), true)),
        Err(e) if e.code == ErrorCode::Internal => PageError::from(e).into_response(),
        Err(e) => {
            let status = match e.code {
                ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_REQUEST,
            };
            html_status(status, &forgot_page(&state, &viewer, fs.fail(e.message), false))
        }
    }
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    chrome: Chrome,
    form: FormState,
    token: String,
    valid: bool,
}

/// The reset pages carry the link's secret: no cache keeps them.
fn reset_page(viewer: &Viewer, form: FormState, token: &str, valid: bool, status: StatusCode) -> Response {
    let page = ResetPage { chrome: Chrome::new(viewer, "Set a new password"), form, token: token.to_string(), valid };
    let mut resp = html_status(status, &page);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A link that cannot be used is a 404 page that offers a new one.
pub async fn reset_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let valid = password_reset::link_is_valid(&state.hub, &token).await?;
    let status = if valid { StatusCode::OK } else { StatusCode::NOT_FOUND };
    Ok(reset_page(&viewer, FormState::new(), &token, valid, status))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn reset(
    State(state): State<AppState>,
    Path(token): Path<String>,
    CsrfForm { viewer, form }: CsrfForm<ResetForm>,
) -> Result<Response, PageError> {
    let mut fs = FormState::new();
    if let Some(problem) = gatehouse_core::accounts::password_problem(&form.new) {
        fs.set_error("new", problem);
    } else if form.new != form.confirm {
        fs.set_error("confirm", "The two passwords differ");
    }
    if fs.has_errors() {
        let valid = password_reset::link_is_valid(&state.hub, &token).await?;
        let status = if valid { StatusCode::BAD_REQUEST } else { StatusCode::NOT_FOUND };
        return Ok(reset_page(&viewer, fs, &token, valid, status));
    }
    match password_reset::reset(&state.hub, &token, &form.new).await {
        Ok(name) => Ok(see_other(&format!("/login?reset=1&login={}", crate::format::seg(&name)))),
        Err(e) if e.code == ErrorCode::NotFound => {
            Ok(reset_page(&viewer, FormState::new(), &token, false, StatusCode::NOT_FOUND))
        }
        Err(e) if e.code == ErrorCode::Internal => Err(e.into()),
        Err(e) => Ok(reset_page(&viewer, FormState::new().fail(e.message), &token, true, StatusCode::BAD_REQUEST)),
    }
}
