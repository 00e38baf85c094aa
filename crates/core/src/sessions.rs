//! Browser sign-in: passwords checked against their argon2 hash, server-side sessions identified by a
//! random cookie secret of which only the sha256 is stored, a second step for users with two-factor
//! authentication, and a throttle on failed attempts.
//!
//! A session acts with the user's full rights (`Subject` without a token grant); a session still waiting
//! for its second factor authenticates nobody.

use crate::accounts::{subject_for, verify_password};
use crate::time::now_millis;
use crate::tokens::hash_secret;
use crate::Hub;
use gatehouse_authz::Subject;
use gatehouse_store::{Account, AccountKind, AccountStore, NewSession, SessionRecord, WebStore};
use gatehouse_types::{Error, ErrorCode, Millis, Result};
use moka::sync::Cache;
use rand::distributions::{Alphanumeric, DistString};
use std::time::Duration;

/// How long a session waiting for its second factor lives.
const SECOND_FACTOR_WINDOW_MS: Millis = 5 * 60_000;
/// How stale `last_seen_at` may get before a request writes it again.
const TOUCH_INTERVAL_MS: Millis = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMode {
    /// Anyone may create an account.
    Open,
    /// Only with an invitation code from an administrator.
    InviteOnly,
    /// Accounts are created by the operator only.
    Closed,
}

impl SignupMode {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "open" => Ok(SignupMode::Open),
            "invite-only" | "invite" => Ok(SignupMode::InviteOnly),
            "closed" => Ok(SignupMode::Closed),
            other => {
                Err(Error::bad_request(format!("Invalid sign-up mode '{other}': expected open, invite-only or closed")))
            }
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SignupMode::Open => "open",
            SignupMode::InviteOnly => "invite-only",
            SignupMode::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccountsConfig {
    pub signup: SignupMode,
    /// A session ends after this long without use.
    pub session_idle_ms: Millis,
    /// Failed sign-in attempts allowed per user name, and per client address, within `throttle_window`.
    pub max_failures_per_user: u32,
    pub max_failures_per_client: u32,
    pub throttle_window: Duration,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            signup: SignupMode::InviteOnly,
            session_idle_ms: 14 * 24 * 3_600_000,
            max_failures_per_user: 10,
            max_failures_per_client: 50,
            throttle_window: Duration::from_secs(15 * 60),
        }
    }
}

/// Counts failed attempts per key (a user name or a client address) over a fixed window that starts with
/// the first failure. Per process: several nodes each allow the limit.
pub struct Throttle {
    failures: Cache<String, u32>,
}

impl Throttle {
    pub fn new(window: Duration) -> Self {
        Throttle { failures: Cache::builder().max_capacity(100_000).time_to_live(window).build() }
    }
    pub(crate) fn count(&self, key: &str) -> u32 {
        self.failures.get(key).unwrap_or(0)
    }
    pub(crate) fn fail(&self, key: &str) {
        let n = self.count(key);
        // `entry().and_compute` would keep the window from sliding; insert restarts it, which only helps.
        self.failures.insert(key.to_string(), n.saturating_add(1));
    }
    fn clear(&self, key: &str) {
        self.failures.invalidate(key);
    }
}

/// A new session: the secret goes into the cookie, never into the database.
pub struct NewSignIn {
    pub secret: String,
    pub user: Account,
    /// The password was right; a code from the authenticator app is still needed.
    pub needs_second_factor: bool,
}

fn user_key(login: &str) -> String {
    format!("user:{}", login.trim().to_lowercase())
}

fn client_key(client: &str) -> String {
    format!("client:{client}")
}

fn too_many() -> Error {
    Error::new(ErrorCode::TooManyRequests, "Too many failed sign-in attempts. Wait a few minutes and try again.")
}

fn wrong_credentials() -> Error {
    Error::new(ErrorCode::InvalidCredentials, "Incorrect username or password.")
}

/// Refuses a sign-in attempt early when the user name or the client has failed too often.
fn check_throttle(hub: &Hub, login: &str, client: Option<&str>) -> Result<()> {
    let cfg = &hub.config.accounts;
    if hub.login_throttle.count(&user_key(login)) >= cfg.max_failures_per_user
        || client.is_some_and(|c| hub.login_throttle.count(&client_key(c)) >= cfg.max_failures_per_client)
    {
        return Err(too_many());
    }
    Ok(())
}

fn record_failure(hub: &Hub, login: &str, client: Option<&str>) {
    hub.login_throttle.fail(&user_key(login));
    if let Some(c) = client {
        hub.login_throttle.fail(&client_key(c));
    }
}

/// Checks a user name (or email) and password and opens a session. Unknown users and wrong passwords
/// get the same answer; both count against the throttle.
pub async fn sign_in(hub: &Hub, login: &str, password: &str, client: Option<&str>) -> Result<NewSignIn> {
    check_throttle(hub, login, client)?;
    let user = user_for_login(hub, login).await?;
    let verified = match &user {
        Some(u) => {
            let hash = u.password_hash.clone();
            let password = password.to_string();
            // argon2 is deliberately slow: keep it off the async workers.
            crate::hub::blocking(move || Ok(hash.is_some_and(|h| verify_password(&password, &h)))).await?
        }
        None => false,
    };
    let Some(user) = user.filter(|_| verified) else {
        record_failure(hub, login, client);
        return Err(wrong_credentials());
    };
    hub.login_throttle.clear(&user_key(login));
    let needs_second_factor = crate::two_factor::is_enabled(hub, user.id).await?;
    let secret = open_session(hub, user.id, needs_second_factor).await?;
    Ok(NewSignIn { secret, user, needs_second_factor })
}

/// The user a sign-in form names: by email when it has an `@`, else by user name (never an organization).
pub(crate) async fn user_for_login(hub: &Hub, login: &str) -> Result<Option<Account>> {
    let login = login.trim();
    Ok(if login.contains('@') {
        hub.store.user_by_email(login).await?
    } else {
        hub.store.account_by_name(login).await?.filter(|a| a.kind == AccountKind::User)
    })
}

async fn open_session(hub: &Hub, user_id: i64, second_factor_pending: bool) -> Result<String> {
    let secret = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 43);
    let now = now_millis();
    let ttl = if second_factor_pending { SECOND_FACTOR_WINDOW_MS } else { hub.config.accounts.session_idle_ms };
    let s = NewSession { id_hash: hash_secret(&secret), user_id, expires_at: now + ttl, second_factor_pending };
    hub.store.create_session(s, now).await?;
    Ok(secret)
}

/// The second step: a code from the authenticator app (or a recovery code) for a session waiting for
/// one. On success the waiting session is replaced by a full one with a new secret.
pub async fn complete_second_factor(
    hub: &Hub,
    pending_secret: &str,
    code: &str,
    client: Option<&str>,
) -> Result<String> {
    let session = live_session(hub, pending_secret).await?.filter(|s| s.second_factor_pending).ok_or_else(|| {
        Error::new(ErrorCode::InvalidCredentials, "Your sign-in has expired. Enter your password again.")
    })?;
    let user = hub.store.account_by_id(session.user_id).await?.ok_or_else(Error::invalid_credentials)?;
    check_throttle(hub, &user.name, client)?;
    if !crate::two_factor::verify_code(hub, user.id, code).await? {
        record_failure(hub, &user.name, client);
        return Err(Error::bad_request(
            "That code is not valid. Try the current code from your app, or a recovery code.",
        ));
    }
    hub.login_throttle.clear(&user_key(&user.name));
    hub.store.delete_session(&session.id_hash).await?;
    open_session(hub, user.id, false).await
}

/// The session behind a cookie secret, if it exists and has not expired.
async fn live_session(hub: &Hub, secret: &str) -> Result<Option<SessionRecord>> {
    let now = now_millis();
    Ok(hub.store.session(&hash_secret(secret)).await?.filter(|s| s.expires_at > now))
}

/// What a session cookie stands for.
pub enum SessionState {
    /// A signed-in user, acting with their full rights.
    Active { subject: Subject, user: Account },
    /// The password was right; the second factor is still to come.
    AwaitingSecondFactor { user: Account },
    /// The cookie names a session that expired or was ended (signed out elsewhere, password changed).
    Expired,
}

/// Looks up the session behind a cookie secret and extends its life (at most once a minute).
pub async fn authenticate(hub: &Hub, secret: &str) -> Result<SessionState> {
    let Some(session) = live_session(hub, secret).await? else { return Ok(SessionState::Expired) };
    let Some(user) = hub.store.account_by_id(session.user_id).await? else { return Ok(SessionState::Expired) };
    if session.second_factor_pending {
        return Ok(SessionState::AwaitingSecondFactor { user });
    }
    let now = now_millis();
    if now - session.last_seen_at > TOUCH_INTERVAL_MS {
        hub.store.touch_session(&session.id_hash, now, now + hub.config.accounts.session_idle_ms).await?;
    }
    let subject = subject_for(hub, &user, None).await?;
    Ok(SessionState::Active { subject, user })
}

/// Signing out ends the session on the server, not just in the browser.
pub async fn sign_out(hub: &Hub, secret: &str) -> Result<()> {
    hub.store.delete_session(&hash_secret(secret)).await?;
    Ok(())
}

/// Ends every other session of the user (after a password or two-factor change).
pub async fn end_other_sessions(hub: &Hub, user_id: i64, keep_secret: Option<&str>) -> Result<u64> {
    let keep = keep_secret.map(hash_secret);
    Ok(hub.store.delete_sessions_of_user(user_id, keep.as_deref()).await?)
}

/// Removes expired sessions and password-reset links; the server runs this periodically.
pub async fn sweep_expired(hub: &Hub) -> Result<u64> {
    let now = now_millis();
    let sessions = hub.store.delete_expired_sessions(now).await?;
    Ok(sessions + hub.store.delete_expired_password_resets(now).await?)
}

/// Changes a password after checking the current one; every other session of the user ends.
pub async fn change_password(
    hub: &Hub,
    user: &Account,
    current: &str,
    new: &str,
    keep_secret: Option<&str>,
) -> Result<()> {
    let hash = user.password_hash.clone();
    let current = current.to_string();
    let ok = crate::hub::blocking(move || Ok(hash.is_some_and(|h| verify_password(&current, &h)))).await?;
    if !ok {
        return Err(Error::bad_request("The current password is not correct."));
    }
    let new = new.to_string();
    let hash = crate::hub::blocking(move || crate::accounts::hash_password(&new)).await?;
    hub.store.set_password_hash(user.id, &hash).await?;
    end_other_sessions(hub, user.id, keep_secret).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_and_clears() {
        let t = Throttle::new(Duration::from_secs(60));
        assert_eq!(t.count("a"), 0);
        t.fail("a");
        t.fail("a");
        assert_eq!(t.count("a"), 2);
        t.clear("a");
        assert_eq!(t.count("a"), 0);
    }

    #[test]
    fn signup_modes_parse() {
        for m in [SignupMode::Open, SignupMode::InviteOnly, SignupMode::Closed] {
            assert_eq!(SignupMode::parse(m.as_str()).unwrap(), m);
        }
        assert!(SignupMode::parse("maybe").is_err());
    }
}
