//! Users, organizations and memberships.

use crate::access::authorize_namespace;
use crate::time::now_millis;
use crate::Hub;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gatehouse_authz::{Action, OrgRole, Subject, UserSubject};
use gatehouse_store::{Account, AccountKind, AccountStore, NewOrg, NewUser};
use gatehouse_types::{AccountName, Error, Result};

/// What is wrong with a new password, if anything (the one rule for sign-up, change and reset).
pub fn password_problem(password: &str) -> Option<&'static str> {
    if password.chars().count() < 8 {
        Some("Passwords must be at least 8 characters long")
    } else if password.len() > 1024 {
        Some("Passwords are at most 1024 bytes long")
    } else {
        None
    }
}

pub fn hash_password(password: &str) -> Result<String> {
    if let Some(problem) = password_problem(password) {
        return Err(Error::bad_request(problem));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(Error::internal)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

pub(crate) fn parse_email(email: &str) -> Result<String> {
    let e = email.trim();
    let valid = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(e.to_string())
    } else {
        Err(Error::bad_request(format!("Invalid email address '{email}'")))
    }
}

pub struct NewUserRequest<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub full_name: Option<&'a str>,
    pub password: Option<&'a str>,
    pub site_admin: bool,
}

/// Creates a user. An operator action (CLI); sign-up through the web will call this too.
pub async fn create_user(hub: &Hub, req: NewUserRequest<'_>) -> Result<Account> {
    let name = AccountName::parse(req.name)?;
    let email = parse_email(req.email)?;
    let password_hash = req.password.map(hash_password).transpose()?;
    let fullname = req.full_name.unwrap_or(req.name).to_string();
    let user = NewUser { name, fullname, email, password_hash, site_admin: req.site_admin };
    Ok(hub.store.create_user(user, now_millis()).await?)
}

/// Creates an organization with `admin` as its first admin member.
pub async fn create_org(hub: &Hub, name: &str, full_name: Option<&str>, admin: &str) -> Result<Account> {
    let name = AccountName::parse(name)?;
    let admin = user_by_name(hub, admin).await?;
    let fullname = full_name.unwrap_or(name.as_str()).to_string();
    let org = hub.store.create_org(NewOrg { name, fullname }, now_millis()).await?;
    hub.store.set_membership(org.id, admin.id, OrgRole::Admin, now_millis()).await?;
    hub.authorization_changed().await?;
    Ok(org)
}

pub async fn user_by_name(hub: &Hub, name: &str) -> Result<Account> {
    match hub.store.account_by_name(name).await? {
        Some(a) if a.kind == AccountKind::User => Ok(a),
        _ => Err(Error::not_found(format!("No user named '{name}'"))),
    }
}

/// Adds a member or changes their role; the caller must administer the organization.
pub async fn set_member_role(hub: &Hub, subject: &Subject, org: &str, user: &str, role: OrgRole) -> Result<()> {
    let org = authorize_namespace(hub, subject, org, Action::OrgManageMembers).await?;
    if org.kind != AccountKind::Org {
        return Err(Error::bad_request(format!("'{}' is a user, not an organization", org.name)));
    }
    let user = user_by_name(hub, user).await?;
    if role != OrgRole::Admin {
        let members = hub.store.members_of_org(org.id).await?;
        let admins: Vec<i64> = members.iter().filter(|(_, r)| *r == OrgRole::Admin).map(|(m, _)| m.id).collect();
        if admins == [user.id] {
            return Err(Error::bad_request("An organization needs at least one admin; make someone else admin first."));
        }
    }
    hub.store.set_membership(org.id, user.id, role, now_millis()).await?;
    hub.authorization_changed().await
}

/// Changes the signed-in user's full name and email.
pub async fn update_profile(hub: &Hub, user: &Account, full_name: &str, email: &str) -> Result<Account> {
    let full_name = full_name.trim();
    if full_name.chars().count() > 100 {
        return Err(Error::bad_request("Full names are at most 100 characters long"));
    }
    let fullname = if full_name.is_empty() { user.name.as_str() } else { full_name };
    let email = parse_email(email)?;
    Ok(hub.store.update_profile(user.id, fullname, &email).await?)
}

/// A signed-in user creates an organization and becomes its first admin.
pub async fn create_org_as(hub: &Hub, subject: &Subject, name: &str, full_name: Option<&str>) -> Result<Account> {
    let caller = subject.user().ok_or_else(Error::auth_required)?;
    if caller.token.is_some() {
        return Err(Error::forbidden("Organizations are created from a signed-in session, not with a token."));
    }
    create_org(hub, name, full_name.filter(|f| !f.trim().is_empty()), &caller.username).await
}

/// Removes a member; the caller must administer the organization, and an organization keeps at least
/// one admin.
pub async fn remove_member(hub: &Hub, subject: &Subject, org: &str, user: &str) -> Result<()> {
    let org = authorize_namespace(hub, subject, org, Action::OrgManageMembers).await?;
    let user = user_by_name(hub, user).await?;
    let members = hub.store.members_of_org(org.id).await?;
    let admins = members.iter().filter(|(_, r)| *r == OrgRole::Admin).count();
    let is_admin = members.iter().any(|(m, r)| m.id == user.id && *r == OrgRole::Admin);
    if is_admin && admins == 1 {
        return Err(Error::bad_request("An organization needs at least one admin; make someone else admin first."));
    }
    if !hub.store.remove_membership(org.id, user.id).await? {
        return Err(Error::not_found(format!("'{}' is not a member of '{}'", user.name, org.name)));
    }
    hub.authorization_changed().await
}

/// The members of an organization with their roles (visible to anyone who can see the organization).
pub async fn members(hub: &Hub, org: &Account) -> Result<Vec<(Account, OrgRole)>> {
    Ok(hub.store.members_of_org(org.id).await?)
}

/// The subject a signed-in user acts as, with their memberships loaded.
pub async fn subject_for(hub: &Hub, user: &Account, token: Option<gatehouse_authz::TokenGrant>) -> Result<Subject> {
    let memberships =
        hub.store.memberships_of_user(user.id).await?.into_iter().map(|(org, role)| (org.id, role)).collect();
    Ok(Subject::User(UserSubject {
        user_id: user.id,
        username: user.name.clone(),
        site_admin: user.site_admin,
        memberships,
        token,
    }))
}

/// An operator acting from the CLI: full rights, as a site admin would have.
pub fn operator() -> Subject {
    Subject::User(UserSubject {
        user_id: 0,
        username: "operator".into(),
        site_admin: true,
        memberships: vec![],
        token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse!", &h));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn emails() {
        assert!(parse_email("a@b.co").is_ok());
        for bad in ["", "a", "a@b", "@b.co", "a b@c.de", "a@.com"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }
}
