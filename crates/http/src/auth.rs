//! Who is calling: a bearer token (the Python client), HTTP Basic with the token as password (git and
//! git-lfs), a browser's session cookie (safe methods only), or nobody. A token that does not check out
//! is refused outright, never downgraded to anonymous.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use gatehouse_authz::Subject;
use gatehouse_store::TokenRecord;
use gatehouse_types::Error;

/// The browser session cookie (set by the web pages; its value is a random secret whose hash is stored).
pub const SESSION_COOKIE: &str = "gh_session";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub struct Caller {
    pub subject: Subject,
    pub token: Option<TokenRecord>,
}

/// The secret in an `Authorization` header, if any.
pub fn secret_from_header(value: &str) -> Result<Option<String>, Error> {
    let value = value.trim();
    if let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
        return Ok(Some(token.trim().to_string()));
    }
    if let Some(b64) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) {
        let raw =
            base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| Error::invalid_credentials())?;
        let text = String::from_utf8(raw).map_err(|_| Error::invalid_credentials())?;
        // Any username (git uses `hf_user` or the real one); the password is the token.
        let password = text.split_once(':').map(|(_, p)| p).unwrap_or("");
        return Ok((!password.is_empty()).then(|| password.to_string()));
    }
    Err(Error::invalid_credentials())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Caller { subject: session_subject(parts, state).await?, token: None });
        };
        let value = header.to_str().map_err(|_| Error::invalid_credentials())?;
        match secret_from_header(value)? {
            None => Ok(Caller { subject: Subject::Anonymous, token: None }),
            Some(secret) => {
                let (subject, token) = gatehouse_core::tokens::authenticate(&state.hub, &secret).await?;
                Ok(Caller { subject, token: Some(token) })
            }
        }
    }
}

/// A signed-in browser following a link (a download on a file's page) acts as its user. Only for GET and
/// HEAD: the API's writes never accept a cookie, so no other site can make a browser change anything
/// through them. A cookie that names no live session is simply anonymous (browsers keep stale cookies).
async fn session_subject(parts: &Parts, state: &AppState) -> Result<Subject, ApiError> {
    use axum::http::Method;
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        return Ok(Subject::Anonymous);
    }
    let Some(secret) = cookie_value(&parts.headers, SESSION_COOKIE) else { return Ok(Subject::Anonymous) };
    Ok(match gatehouse_core::sessions::authenticate(&state.hub, &secret).await? {
        gatehouse_core::sessions::SessionState::Active { subject, .. } => subject,
        _ => Subject::Anonymous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        assert_eq!(secret_from_header("Bearer abc").unwrap().as_deref(), Some("abc"));
        let basic = base64::engine::general_purpose::STANDARD.encode("hf_user:tok");
        assert_eq!(secret_from_header(&format!("Basic {basic}")).unwrap().as_deref(), Some("tok"));
        let empty = base64::engine::general_purpose::STANDARD.encode("user:");
        assert_eq!(secret_from_header(&format!("Basic {empty}")).unwrap(), None);
        assert!(secret_from_header("Digest x").is_err());
        assert!(secret_from_header("Basic %%%").is_err());
    }

    #[test]
    fn cookies_by_name() {
        let mut h = axum::http::HeaderMap::new();
        h.append(axum::http::header::COOKIE, "a=1; gh_session=s3cret".parse().unwrap());
        h.append(axum::http::header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie_value(&h, SESSION_COOKIE).as_deref(), Some("s3cret"));
        assert_eq!(cookie_value(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(&h, "gh"), None);
    }
}
