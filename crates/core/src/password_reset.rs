//! "Forgot your password?": a one-time link by email, and setting a password with it.
//!
//! The link's secret exists only in the mail (the database keeps its hash), so the mail is sent at once
//! rather than through the durable outbox; a lost mail costs the user one more request. The answer to a
//! request is the same whether or not the account exists, and the mail leaves in the background, so the
//! page does not say who has an account and the SMTP exchange never slows it. Links are offered only when
//! both SMTP and the hub's public URL are configured: the link is never built from a request's Host
//! header, which a caller controls.
//! A reset ends every session of the user; a user with two-factor authentication still needs their code
//! to sign in. Without mail, an administrator sets a password with `gatehouse user set-password`.

use std::time::Duration;

use gatehouse_store::{AccountStore, WebStore};
use gatehouse_types::{Error, ErrorCode, Result};
use rand::distributions::{Alphanumeric, DistString};

use crate::accounts::{hash_password, password_problem};
use crate::notify::Mailer;
use crate::time::now_millis;
use crate::tokens::hash_secret;
use crate::Hub;

/// How long a link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(3600);
/// At most this many links are mailed to one user per [`LINK_LIFETIME`] (counted, then written: requests
/// racing each other may pass it by one or two, which only matters for abuse, not for access).
pub const LINKS_PER_LIFETIME: i64 = 3;

/// Whether this hub can mail reset links.
pub fn available(hub: &Hub) -> bool {
    hub.config.mail.smtp_url.is_some() && hub.config.mail.public_url.is_some()
}

fn client_key(client: &str) -> String {
    format!("reset-client:{client}")
}

/// Mails a reset link to the user that `login` (a user name or email address) names, if there is one
/// with an email address and they have not had too many links lately. Refuses only when reset by email
/// is unavailable, or the client asked too often (the same limit as failed sign-ins).
pub async fn request(hub: &Hub, login: &str, client: Option<&str>) -> Result<()> {
    let mailer = match Mailer::new(&hub.config.mail)? {
        Some(m) if m.public_url().is_some() => m,
        _ => return Err(Error::bad_request("Password reset by email is not available on this hub.")),
    };
    if let Some(c) = client {
        if hub.login_throttle.count(&client_key(c)) >= hub.config.accounts.max_failures_per_client {
            return Err(Error::new(ErrorCode::TooManyRequests, "Too many requests. Wait a few minutes and try again."));
        }
        hub.login_throttle.fail(&client_key(c));
    }
    let Some(user) = crate::sessions::user_for_login(hub, login).await? else { return Ok(()) };
    let Some(email) = user.email.clone() else { return Ok(()) };
    let now = now_millis();
    let lifetime = i64::try_from(LINK_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    if hub.store.password_resets_since(user.id, now - lifetime).await? >= LINKS_PER_LIFETIME {
        tracing::info!(user = user.id, "password reset not mailed: too many links lately");
        return Ok(());
    }
    let token = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 43);
    hub.store.create_password_reset(user.id, &hash_secret(&token), now + lifetime, now).await?;
    let origin = mailer.public_url().unwrap_or_default().to_string();
    let body = format!(
        "Someone asked to reset the password of the Gatehouse account {name}. If it was you, set a new \
         password here within the hour:\n\n{origin}/login/reset/{token}\n\nThe link works once. If you did \
         not ask for it, ignore this mail: your password stays as it is.",
        name = user.name.as_str(),
    );
    let user_id = user.id;
    tokio::spawn(async move {
        match mailer.send_now(&email, "Reset your Gatehouse password", &body).await {
            Ok(()) => tracing::info!(user = user_id, "password reset link mailed"),
            Err(e) => tracing::warn!(user = user_id, error = %e, "password reset link not mailed"),
        }
    });
    Ok(())
}

/// Whether `token` is a link that can still be used.
pub async fn link_is_valid(hub: &Hub, token: &str) -> Result<bool> {
    Ok(hub.store.password_reset_user(&hash_secret(token), now_millis()).await?.is_some())
}

/// Sets the password of the link's user, uses the link up and ends the user's sessions, all at once.
/// Returns the user's name (to prefill the sign-in form).
pub async fn reset(hub: &Hub, token: &str, new_password: &str) -> Result<String> {
    if let Some(problem) = password_problem(new_password) {
        return Err(Error::bad_request(problem));
    }
    let password = new_password.to_string();
    let hash = crate::hub::blocking(move || hash_password(&password)).await?;
    let Some(user) = hub.store.reset_password(&hash_secret(token), &hash, now_millis()).await? else {
        return Err(Error::new(ErrorCode::NotFound, "This link has expired or was already used. Ask for a new one."));
    };
    let account = hub.store.account_by_id(user).await?.ok_or_else(|| Error::internal("reset user vanished"))?;
    tracing::info!(user, "password reset");
    Ok(account.name.as_str().to_string())
}

/// An administrator sets a user's password (`gatehouse user set-password`); every session of theirs ends.
pub async fn set_password(hub: &Hub, name: &str, new_password: &str) -> Result<()> {
    let user = crate::accounts::user_by_name(hub, name).await?;
    let password = new_password.to_string();
    let hash = crate::hub::blocking(move || hash_password(&password)).await?;
    hub.store.set_password_hash(user.id, &hash).await?;
    crate::sessions::end_other_sessions(hub, user.id, None).await?;
    Ok(())
}
