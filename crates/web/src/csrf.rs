//! Cross-site request forgery protection for every form: a token derived (HMAC) from the session secret,
//! or for signed-out visitors from their anonymous cookie, sent back in a hidden field. A forged or
//! missing token is refused before the form is read; a token from a session that has since ended sends
//! the user to sign in again. Cookies are `SameSite=Lax` and cross-origin posts are refused as well.

use crate::page::PageError;
use crate::session::Viewer;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use gatehouse_http::AppState;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// Forms are small; anything larger is not one of ours.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The CSRF token for a binding (a session secret or an anonymous cookie value).
pub fn token(key: &[u8], binding: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return String::new() };
    mac.update(b"gatehouse csrf v1\n");
    mac.update(binding.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..20])
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A submitted form whose CSRF token checked out, with the viewer who sent it.
pub struct CsrfForm<T> {
    pub viewer: Viewer,
    pub form: T,
}

/// Whether `Origin` (when the browser sends one) is this very site.
fn same_origin(parts: &axum::http::request::Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin != "null" && origin_host.eq_ignore_ascii_case(host)
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let here = parts.uri.path().to_string();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts) {
            return Err(PageError::csrf());
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| PageError::bad_request("This form is too large."))?;
        let sent = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
        if !sent.is_some_and(|s| !viewer.csrf.is_empty() && same(&s, &viewer.csrf)) {
            // A form from a session that has ended: sign in again rather than a puzzling refusal.
            return Err(if viewer.expired { PageError::sign_in(&here, true) } else { PageError::csrf() });
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::bad_request(format!("This form could not be read: {e}")))?;
        Ok(CsrfForm { viewer, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_key_and_binding() {
        let a = token(b"k", "session-1");
        assert_eq!(a.len(), 40);
        assert_eq!(a, token(b"k", "session-1"));
        assert_ne!(a, token(b"k", "session-2"));
        assert_ne!(a, token(b"other", "session-1"));
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &a[..39]));
    }
}
