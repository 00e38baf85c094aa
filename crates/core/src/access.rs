//! The bridge between requests and the one decision function: load the facts a decision needs, ask
//! `gatehouse_authz::decide`, and turn a refusal into the Hub's error (hidden things answer exactly as
//! missing ones).

use crate::Hub;
use gatehouse_authz::{decide, Action, Decision, DenyReason, NamespaceFacts, RepoFacts, Resource, Subject};
use gatehouse_store::{Account, AccountKind, AccountStore, RepoRecord};
use gatehouse_types::{Error, ErrorCode, RepoType, Result};

pub fn repo_facts(r: &RepoRecord) -> RepoFacts {
    RepoFacts { owner_id: r.owner_id, owner_is_org: r.owner_is_org, private: r.private, created_by: r.created_by }
}

fn refusal(decision: Decision, hidden: Error) -> Result<()> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Hide => Err(hidden),
        Decision::Deny(DenyReason::AuthRequired) => Err(Error::auth_required()),
        Decision::Deny(DenyReason::ReadOnlyToken) => Err(Error::new(
            ErrorCode::Forbidden,
            "This operation needs a token with write access; the token used is read-only.",
        )),
        Decision::Deny(DenyReason::InsufficientRole) => {
            Err(Error::forbidden("You don't have the rights to perform this operation."))
        }
    }
}

/// Checks `action` on an already loaded repository.
pub fn check_repo(subject: &Subject, action: Action, repo: &RepoRecord) -> Result<()> {
    refusal(decide(subject, action, Resource::Repo(&repo_facts(repo))), Error::repo_not_found())
}

/// Loads `namespace/name` of type `t` and checks `action` on it. A repository that does not exist and
/// one the caller may not see give the same error.
pub async fn authorize_repo(
    hub: &Hub,
    subject: &Subject,
    t: RepoType,
    ns: &str,
    name: &str,
    action: Action,
) -> Result<RepoRecord> {
    let repo = hub.repo_by_name(t, ns, name).await?.ok_or_else(Error::repo_not_found)?;
    check_repo(subject, action, &repo)?;
    Ok(repo)
}

pub fn namespace_facts(a: &Account) -> NamespaceFacts {
    NamespaceFacts { id: a.id, is_org: a.kind == AccountKind::Org }
}

/// Loads a user or organization by name and checks a namespace action (create a repo, manage members).
pub async fn authorize_namespace(hub: &Hub, subject: &Subject, ns: &str, action: Action) -> Result<Account> {
    let not_found = || Error::new(ErrorCode::NotFound, format!("No user or organization named '{ns}'"));
    let account = hub.store.account_by_name(ns).await?.ok_or_else(not_found)?;
    refusal(decide(subject, action, Resource::Namespace(&namespace_facts(&account))), not_found())?;
    Ok(account)
}
