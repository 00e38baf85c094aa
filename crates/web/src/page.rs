//! Rendering pages: the layout's data (`Chrome`), templates to responses, and errors as pages.

use crate::session::Viewer;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_types::{Error, ErrorCode};

/// What the layout around every page needs: who is signed in, the CSRF token for the sign-out form.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    /// The search box's current text.
    pub search: String,
    /// The signed-in user's unread notifications.
    pub unread: i64,
    /// The viewer may invite people (the settings show the invitations tab).
    pub can_invite: bool,
}

impl Chrome {
    pub fn new(viewer: &Viewer, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            user: viewer.signed_in().map(|u| u.name.clone()),
            csrf: viewer.csrf.clone(),
            search: String::new(),
            unread: viewer.unread_notifications,
            can_invite: gatehouse_authz::decide(
                &viewer.subject,
                gatehouse_authz::Action::InviteUsers,
                gatehouse_authz::Resource::Site,
            ) == gatehouse_authz::Decision::Allow,
        }
    }
    /// For pages rendered without a viewer (errors).
    pub fn bare(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            user: None,
            csrf: String::new(),
            search: String::new(),
            unread: 0,
            can_invite: false,
        }
    }

    /// The header's count: `3`, or `99+`.
    pub fn unread_label(&self) -> String {
        if self.unread > 99 {
            "99+".into()
        } else {
            self.unread.to_string()
        }
    }
}

/// Renders a template as a 200 page.
pub fn html<T: Template>(t: &T) -> Response {
    html_status(StatusCode::OK, t)
}

pub fn html_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => PageError::from(Error::internal(e)).into_response(),
    }
}

/// After a successful form: go to `to` (303, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Adds `Set-Cookie` values to a response.
pub fn with_cookies(mut resp: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Only paths on this site are followed after sign-in (`//host` and `https://…` are not).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") && !p.contains(['\r', '\n']) => {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    heading: &'a str,
    message: &'a str,
}

/// A page that could not be shown, as a page: 404 for what does not exist or may not be seen, 403, 400,
/// or a redirect to sign in.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    /// Redirect instead of a page (to sign in).
    pub redirect: Option<String>,
}

impl PageError {
    pub fn not_found() -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: "This page does not exist, or you may not see it.".into(),
            redirect: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        PageError { status: StatusCode::BAD_REQUEST, message: message.into(), redirect: None }
    }
    pub fn csrf() -> Self {
        PageError {
            status: StatusCode::FORBIDDEN,
            message: "This form could not be verified (it may be from another site, or too old). Go back, reload the page and try again.".into(),
            redirect: None,
        }
    }
    /// To the sign-in page, coming back to `here` afterwards.
    pub fn sign_in(here: &str, expired: bool) -> Self {
        let next: String = percent_encoding::utf8_percent_encode(here, percent_encoding::NON_ALPHANUMERIC).to_string();
        let to = if expired { format!("/login?expired=1&next={next}") } else { format!("/login?next={next}") };
        PageError { status: StatusCode::SEE_OTHER, message: String::new(), redirect: Some(to) }
    }
}

fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That did not work",
        401 | 403 => "Not allowed",
        404 => "Not found",
        409 => "Conflict",
        429 => "Too many attempts",
        _ => "Something went wrong",
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match e.code {
            // Hidden and missing look the same, as in the API.
            ErrorCode::RepoNotFound | ErrorCode::NotFound => PageError::not_found().message,
            ErrorCode::Internal => {
                tracing::error!(error = %e.message, "internal error");
                "Something went wrong on our side. Try again in a moment.".into()
            }
            _ => e.message,
        };
        PageError { status, message, redirect: None }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let Some(to) = &self.redirect {
            return see_other(to);
        }
        error_page(self.status, &self.message)
    }
}

/// The error page itself (also used for API errors that reach a browser).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let page =
        ErrorPage { chrome: Chrome::bare(heading(status)), status: status.as_u16(), heading: heading(status), message };
    match page.render() {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(_) => (status, message.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/alice/model")), "/alice/model");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "", "x"] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
