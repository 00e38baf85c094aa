//! Two-factor authentication with time-based one-time passwords (RFC 6238, as authenticator apps do it)
//! and single-use recovery codes.
//!
//! The TOTP secret must be readable to check codes, so it cannot be hashed: it is sealed with
//! XChaCha20-Poly1305 under a key derived from the server's signing key, and a database dump alone does
//! not reveal it. Recovery codes are random and shown once; only their hashes are kept. An accepted
//! code's time step is recorded so the same code cannot be used twice.

use crate::time::now_millis;
use crate::Hub;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use gatehouse_store::{Account, WebStore};
use gatehouse_types::{Error, Result};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};

const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "Gatehouse";

/// What a user needs to add Gatehouse to their authenticator app.
pub struct Enrolment {
    /// The secret in base32, for typing in by hand.
    pub secret_base32: String,
    /// `otpauth://totp/…`, the content of the QR code.
    pub url: String,
}

fn sealing_key(hub: &Hub) -> XChaCha20Poly1305 {
    let key = Sha256::new().chain_update(b"gatehouse totp seal v1\0").chain_update(&hub.config.signing_key).finalize();
    XChaCha20Poly1305::new(&key)
}

fn seal(hub: &Hub, secret: &[u8]) -> Result<String> {
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = sealing_key(hub).encrypt(XNonce::from_slice(&nonce), secret).map_err(Error::internal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

fn unseal(hub: &Hub, sealed: &str) -> Result<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD.decode(sealed).map_err(Error::internal)?;
    if raw.len() < 24 {
        return Err(Error::internal("sealed TOTP secret too short"));
    }
    let (nonce, body) = raw.split_at(24);
    sealing_key(hub)
        .decrypt(XNonce::from_slice(nonce), body)
        .map_err(|_| Error::internal("cannot unseal a TOTP secret (was the signing key changed?)"))
}

fn totp(secret: Vec<u8>, account: &str) -> Result<TOTP> {
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_SECS, secret, Some(ISSUER.to_string()), account.to_string())
        .map_err(Error::internal)
}

/// Starts enrolment with a fresh secret; it takes effect only once a code from it is confirmed.
pub async fn begin(hub: &Hub, user: &Account) -> Result<Enrolment> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let sealed = seal(hub, &secret)?;
    hub.store.begin_totp(user.id, &sealed, now_millis()).await.map_err(|e| match e {
        gatehouse_store::StoreError::Conflict(_) => {
            Error::conflict("Two-factor authentication is already on. Turn it off first to enrol a new device.")
        }
        other => other.into(),
    })?;
    let t = totp(secret, &user.name)?;
    Ok(Enrolment { secret_base32: t.get_secret_base32(), url: t.get_url() })
}

/// The enrolment in progress (secret not yet confirmed), to show again after a wrong code.
pub async fn pending(hub: &Hub, user: &Account) -> Result<Option<Enrolment>> {
    let Some(rec) = hub.store.totp(user.id).await? else { return Ok(None) };
    if rec.confirmed_at.is_some() {
        return Ok(None);
    }
    let t = totp(unseal(hub, &rec.sealed_secret)?, &user.name)?;
    Ok(Some(Enrolment { secret_base32: t.get_secret_base32(), url: t.get_url() }))
}

pub async fn is_enabled(hub: &Hub, user_id: i64) -> Result<bool> {
    Ok(hub.store.totp(user_id).await?.is_some_and(|t| t.confirmed_at.is_some()))
}

/// The time step a code matches, checking the current step and one on either side (clock drift).
fn matching_step(t: &TOTP, code: &str, now_secs: u64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = now_secs / STEP_SECS;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| t.generate(s * STEP_SECS) == code)
        .and_then(|s| i64::try_from(s).ok())
}

fn now_secs() -> u64 {
    u64::try_from(now_millis() / 1000).unwrap_or(0)
}

fn recovery_hash(user_id: i64, code: &str) -> String {
    let normal: String = code.trim().to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    hex::encode(Sha256::new().chain_update(user_id.to_be_bytes()).chain_update(normal.as_bytes()).finalize())
}

/// Ten codes like `k3vq-9xtm-2fhw`, each usable once instead of an app code.
fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..12).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
            chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// Confirms enrolment with a code from the app; returns the recovery codes, shown once.
pub async fn confirm(hub: &Hub, user: &Account, code: &str) -> Result<Vec<String>> {
    let rec = hub
        .store
        .totp(user.id)
        .await?
        .filter(|r| r.confirmed_at.is_none())
        .ok_or_else(|| Error::bad_request("Start the set-up again: there is no enrolment waiting for a code."))?;
    let t = totp(unseal(hub, &rec.sealed_secret)?, &user.name)?;
    let step = matching_step(&t, code, now_secs()).ok_or_else(|| {
        Error::bad_request("That code is not valid. Check the time on your device and try the current code.")
    })?;
    let codes = new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(user.id, c)).collect();
    if !hub.store.confirm_totp(user.id, &rec.sealed_secret, step, &hashes, now_millis()).await? {
        return Err(Error::conflict("The enrolment changed meanwhile; start the set-up again."));
    }
    Ok(codes)
}

/// Checks an app code (each time step accepted once) or an unused recovery code (then used up).
pub async fn verify_code(hub: &Hub, user_id: i64, code: &str) -> Result<bool> {
    let Some(rec) = hub.store.totp(user_id).await?.filter(|r| r.confirmed_at.is_some()) else { return Ok(false) };
    // The account label only matters for the enrolment URL; any label checks codes the same way.
    let t = totp(unseal(hub, &rec.sealed_secret)?, "user")?;
    if let Some(step) = matching_step(&t, code, now_secs()) {
        return Ok(hub.store.use_totp_step(user_id, step).await?);
    }
    let looks_like_recovery = code.trim().chars().filter(|c| c.is_ascii_alphanumeric()).count() == 12;
    Ok(looks_like_recovery && hub.store.use_recovery_code(user_id, &recovery_hash(user_id, code), now_millis()).await?)
}

/// Turns two-factor authentication off; a valid current code (or recovery code) is required.
pub async fn disable(hub: &Hub, user: &Account, code: &str) -> Result<()> {
    if !verify_code(hub, user.id, code).await? {
        return Err(Error::bad_request("That code is not valid."));
    }
    hub.store.delete_totp(user.id).await?;
    Ok(())
}

/// An administrator turns a user's two-factor authentication off (`gatehouse user disable-two-factor`),
/// for a user who lost both their device and their recovery codes. False if it was not on.
pub async fn disable_by_admin(hub: &Hub, user_id: i64) -> Result<bool> {
    Ok(hub.store.delete_totp(user_id).await?)
}

/// Abandons an enrolment that was never confirmed.
pub async fn cancel_pending(hub: &Hub, user: &Account) -> Result<()> {
    if hub.store.totp(user.id).await?.is_some_and(|r| r.confirmed_at.is_none()) {
        hub.store.delete_totp(user.id).await?;
    }
    Ok(())
}

/// New recovery codes replace the old ones; a valid current code is required.
pub async fn regenerate_recovery_codes(hub: &Hub, user: &Account, code: &str) -> Result<Vec<String>> {
    if !verify_code(hub, user.id, code).await? {
        return Err(Error::bad_request("That code is not valid."));
    }
    let codes = new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(user.id, c)).collect();
    hub.store.replace_recovery_codes(user.id, &hashes, now_millis()).await?;
    Ok(codes)
}

pub async fn recovery_codes_left(hub: &Hub, user_id: i64) -> Result<i64> {
    Ok(hub.store.recovery_codes_left(user_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", 8 digits at T=59 → 94287082;
        // with 6 digits the last six.
        let t = TOTP::new(Algorithm::SHA1, 6, 1, 30, b"12345678901234567890".to_vec(), None, "x".into()).unwrap();
        assert_eq!(t.generate(59), "287082");
        assert_eq!(matching_step(&t, "287082", 59), Some(1));
        assert_eq!(matching_step(&t, "287 082", 59 + 30), Some(1), "one step of drift is accepted");
        assert_eq!(matching_step(&t, "287082", 59 + 90), None);
        assert_eq!(matching_step(&t, "28708", 59), None);
        assert_eq!(matching_step(&t, "abcdef", 59), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 14 && c.matches('-').count() == 2));
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len());
        assert_eq!(recovery_hash(1, "ABCD-efgh-jkmn"), recovery_hash(1, " abcdefghjkmn "));
        assert_ne!(recovery_hash(1, "abcd-efgh-jkmn"), recovery_hash(2, "abcd-efgh-jkmn"));
    }
}
