//! Creating an account from the web: open, by invitation, or not at all (`SignupMode`). Invitations are
//! random codes shown once (only their hash is stored), optionally bound to one email address, and used
//! up in the same transaction that creates the account.

use crate::access::authorize_site;
use crate::accounts::{hash_password, parse_email, password_problem};
use crate::notify::Mailer;
use crate::sessions::SignupMode;
use crate::time::now_millis;
use crate::tokens::hash_secret;
use crate::Hub;
use gatehouse_authz::{Action, Subject};
use gatehouse_store::{Account, AccountStore, InvitationRecord, NewInvitation, NewUser, StoreError, WebStore};
use gatehouse_types::{AccountName, Error, ErrorCode, Result};
use rand::distributions::{Alphanumeric, DistString};

pub struct SignUp<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub full_name: &'a str,
    pub password: &'a str,
    pub invitation: Option<&'a str>,
}

/// Which field a sign-up error is about, so the form can show it in the right place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Email,
    FullName,
    Password,
    Invitation,
}

/// Validates every field and reports each problem against its field (not just the first).
pub fn validate(req: &SignUp<'_>, mode: SignupMode) -> Vec<(Field, String)> {
    let mut errors = Vec::new();
    if let Err(e) = AccountName::parse(req.name.trim()) {
        errors.push((Field::Name, e.message));
    }
    if let Err(e) = parse_email(req.email) {
        errors.push((Field::Email, e.message));
    }
    if req.full_name.trim().chars().count() > 100 {
        errors.push((Field::FullName, "Full names are at most 100 characters long".into()));
    }
    if let Some(problem) = password_problem(req.password) {
        errors.push((Field::Password, problem.into()));
    }
    if mode == SignupMode::InviteOnly && req.invitation.is_none_or(|c| c.trim().is_empty()) {
        errors.push((Field::Invitation, "An invitation code is needed to join this hub".into()));
    }
    errors
}

/// Creates the account, or explains per field why not.
pub async fn sign_up(hub: &Hub, req: SignUp<'_>) -> std::result::Result<Account, Vec<(Field, String)>> {
    let mode = hub.config.accounts.signup;
    if mode == SignupMode::Closed {
        return Err(vec![(
            Field::Name,
            "This hub does not accept sign-ups; ask an administrator for an account.".into(),
        )]);
    }
    let errors = validate(&req, mode);
    if !errors.is_empty() {
        return Err(errors);
    }
    let internal = |e: Error| vec![(Field::Name, e.message)];
    let name = AccountName::parse(req.name.trim()).map_err(internal)?;
    let email = parse_email(req.email).map_err(internal)?;
    let password = req.password.to_string();
    let password_hash = crate::hub::blocking(move || hash_password(&password)).await.map_err(internal)?;
    let full_name = req.full_name.trim();
    let fullname = if full_name.is_empty() { name.as_str().to_string() } else { full_name.to_string() };
    let user = NewUser { name, fullname, email, password_hash: Some(password_hash), site_admin: false };
    let created = match (mode, req.invitation) {
        (SignupMode::InviteOnly, Some(code)) => {
            hub.store.create_user_with_invitation(user, &hash_secret(code.trim()), now_millis()).await
        }
        _ => hub.store.create_user(user, now_millis()).await,
    };
    created.map_err(|e| match e {
        StoreError::Conflict(m) if m.contains("email") => vec![(Field::Email, m)],
        StoreError::Conflict(m) => vec![(Field::Name, m)],
        StoreError::NotFound(_) => vec![(
            Field::Invitation,
            "This invitation is not valid: it may have been used, expired, or be meant for another email address."
                .into(),
        )],
        other => {
            let e: Error = other.into();
            tracing::error!(error = %e, "sign-up failed");
            vec![(Field::Name, "Something went wrong; try again.".into())]
        }
    })
}

/// Creates an invitation and returns its code (shown once). `email`, if given, is the only address that
/// may use it.
pub async fn invite(hub: &Hub, email: Option<&str>, created_by: Option<i64>, valid_days: u32) -> Result<String> {
    let email = email.map(parse_email).transpose()?;
    if valid_days == 0 || valid_days > 365 {
        return Err(Error::bad_request("Invitations are valid for 1 to 365 days"));
    }
    let code = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24);
    let now = now_millis();
    let inv = NewInvitation {
        code_hash: hash_secret(&code),
        email,
        created_by,
        expires_at: now + i64::from(valid_days) * 86_400_000,
    };
    hub.store.create_invitation(inv, now).await.map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
    Ok(code)
}

/// An invitation made in the web UI: its code (shown once) and, when it names an email address and the
/// hub sends mail, whether the mail went out.
pub struct Invited {
    pub code: String,
    pub mailed: Option<std::result::Result<(), String>>,
}

/// A site administrator invites someone; with an email address and mail configured, the invitation is
/// mailed to them (at once, not through the outbox: the code must not be stored).
pub async fn invite_by(
    hub: &Hub,
    subject: &Subject,
    inviter: &Account,
    email: Option<&str>,
    valid_days: u32,
) -> Result<Invited> {
    authorize_site(subject, Action::InviteUsers)?;
    let code = invite(hub, email, Some(inviter.id), valid_days).await?;
    let mailer = Mailer::new(&hub.config.mail)?.filter(|m| m.public_url().is_some());
    let mailed = match (email, mailer) {
        (Some(to), Some(mailer)) => {
            let origin = mailer.public_url().unwrap_or_default();
            let body = format!(
                "{who} invites you to join the Gatehouse hub at {origin}. Create your account here within \
                 {valid_days} days:\n\n{origin}/join?invitation={code}\n\nThe invitation works once, for {to}.",
                who = inviter.fullname,
                to = to.trim(),
            );
            Some(mailer.send_now(to.trim(), "You are invited to Gatehouse", &body).await.map_err(|e| e.to_string()))
        }
        _ => None,
    };
    tracing::info!(by = inviter.id, mailed = matches!(mailed, Some(Ok(()))), "invitation created");
    Ok(Invited { code, mailed })
}

/// Every invitation, newest first (site administrators).
pub async fn invitations(hub: &Hub, subject: &Subject) -> Result<Vec<InvitationRecord>> {
    authorize_site(subject, Action::InviteUsers)?;
    Ok(hub.store.list_invitations().await?)
}

/// Withdraws an invitation nobody has used (site administrators). False if there is none such.
pub async fn revoke_invitation(hub: &Hub, subject: &Subject, id: i64) -> Result<bool> {
    authorize_site(subject, Action::InviteUsers)?;
    Ok(hub.store.revoke_invitation(id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_reported() {
        let req = SignUp { name: "-bad", email: "nope", full_name: "", password: "short", invitation: None };
        let fields: Vec<Field> = validate(&req, SignupMode::InviteOnly).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec![Field::Name, Field::Email, Field::Password, Field::Invitation]);
        let ok = SignUp { name: "alice", email: "a@b.co", full_name: "A", password: "long enough", invitation: None };
        assert!(validate(&ok, SignupMode::Open).is_empty());
    }
}
