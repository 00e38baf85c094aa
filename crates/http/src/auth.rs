//! Who is calling: a bearer token (the Python client), HTTP Basic with the token as password (git and
//! git-lfs), or nobody. A token that does not check out is refused outright, never downgraded to
//! anonymous.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use gatehouse_authz::Subject;
use gatehouse_store::TokenRecord;
use gatehouse_types::Error;

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
            return Ok(Caller { subject: Subject::Anonymous, token: None });
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
}
