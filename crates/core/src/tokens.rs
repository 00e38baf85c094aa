//! Access tokens: random, prefixed, shown once, stored as a sha256 (they are high-entropy, so a slow
//! password hash would only slow down every request), revocable, with a last-used time.

use crate::time::now_millis;
use crate::Hub;
use gatehouse_authz::{Subject, TokenGrant, TokenRole};
use gatehouse_store::{AccountStore, NewToken, TokenRecord, TokenStore};
use gatehouse_types::{Error, Result};
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

/// Recognisable in leaks and secret scanners. (The client refuses tokens that start with `api_org`.)
pub const TOKEN_PREFIX: &str = "gh_";

/// How stale `last_used_at` may get before a request writes it again (saves a write per request).
const TOUCH_INTERVAL_MS: i64 = 60_000;

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a token and returns its record and the secret, which is never stored and never shown again.
pub async fn create_token(hub: &Hub, user_id: i64, name: &str, role: TokenRole) -> Result<(TokenRecord, String)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::bad_request("Token names must be 1 to 100 characters long"));
    }
    let secret = format!("{TOKEN_PREFIX}{}", Alphanumeric.sample_string(&mut rand::rngs::OsRng, 40));
    let record = hub
        .store
        .create_token(
            NewToken { user_id, name: name.to_string(), role, secret_hash: hash_secret(&secret) },
            now_millis(),
        )
        .await?;
    Ok((record, secret))
}

/// Revokes a token of `user_id`. A server process evicts its cache at once when the revocation goes
/// through it; other processes stop accepting the token within the cache lifetime (seconds).
pub async fn revoke(hub: &Hub, user_id: i64, token_id: i64) -> Result<()> {
    let owned = hub.store.tokens_of_user(user_id).await?.iter().any(|t| t.id == token_id && t.revoked_at.is_none());
    if !owned || !hub.store.revoke_token(token_id, now_millis()).await? {
        return Err(Error::not_found(format!("No active token {token_id} for this user")));
    }
    hub.authorization_changed().await
}

/// The subject behind a bearer secret; unknown or revoked tokens are refused as invalid credentials.
pub async fn authenticate(hub: &Hub, secret: &str) -> Result<(Subject, TokenRecord)> {
    let hash = hash_secret(secret);
    if let Some(known) = hub.subjects.get(&hash) {
        return Ok(known);
    }
    let record = hub.store.token_by_hash(&hash).await?.ok_or_else(Error::invalid_credentials)?;
    if record.revoked_at.is_some() {
        return Err(Error::invalid_credentials());
    }
    let user = hub.store.account_by_id(record.user_id).await?.ok_or_else(Error::invalid_credentials)?;
    let now = now_millis();
    if record.last_used_at.is_none_or(|t| now - t > TOUCH_INTERVAL_MS) {
        hub.store.touch_token(record.id, now).await?;
    }
    let grant = TokenGrant { token_id: record.id, role: record.role };
    let subject = crate::accounts::subject_for(hub, &user, Some(grant)).await?;
    hub.subjects.insert(hash, (subject.clone(), record.clone()));
    Ok((subject, record))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(super::hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
