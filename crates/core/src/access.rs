//! The bridge between requests and the one decision function: load the facts a decision needs, ask
//! `gatehouse_authz::decide`, and turn a refusal into the Hub's error (hidden things answer exactly as
//! missing ones).

use crate::Hub;
use gatehouse_authz::{decide, Action, Decision, DenyReason, NamespaceFacts, RepoFacts, Resource, Subject};
use gatehouse_store::{Account, AccountKind, AccountStore, RepoRecord};
use gatehouse_types::{Error, ErrorCode, RepoType, Result};

/// The facts as stored; `gate_passed` starts false and is looked up only when the gate is what stands
/// in the way (see [`check_repo`]).
pub fn repo_facts(r: &RepoRecord) -> RepoFacts {
    RepoFacts {
        owner_id: r.owner_id,
        owner_is_org: r.owner_is_org,
        private: r.private,
        created_by: r.created_by,
        gated: r.gated.is_some(),
        gate_passed: false,
    }
}

/// The Hub's wording (spec §6), which the client shows as is.
fn gated(subject: &Subject, repo: &RepoRecord) -> Error {
    let what = format!("{} {}/{}", repo.repo_type, repo.owner_name, repo.name);
    match subject {
        Subject::Anonymous => Error::new(
            ErrorCode::GatedRepoAnonymous,
            format!("Access to {what} is restricted. You must have access to it and be authenticated to access it. Please log in."),
        ),
        Subject::User(_) => Error::new(
            ErrorCode::GatedRepo,
            format!(
                "Access to {what} is restricted and you are not in the authorized list. Visit /{}{}/{} to ask for access.",
                repo.repo_type.url_prefix(),
                repo.owner_name,
                repo.name
            ),
        ),
    }
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
        // Rendered by `check_repo`, which knows the repository's name.
        Decision::Deny(DenyReason::Gated) => {
            Err(Error::new(ErrorCode::GatedRepo, "Access to this repository is restricted."))
        }
    }
}

/// Checks `action` on an already loaded repository. When only the gate refuses, the caller's accepted
/// request is looked up (cached briefly) and the decision asked again with it: writers, readers of
/// ungated repositories and anonymous callers never cost that lookup.
pub async fn check_repo(hub: &Hub, subject: &Subject, action: Action, repo: &RepoRecord) -> Result<()> {
    let mut facts = repo_facts(repo);
    let mut decision = decide(subject, action, Resource::Repo(&facts));
    if decision == Decision::Deny(DenyReason::Gated) {
        if let Some(user) = subject.user() {
            facts.gate_passed = crate::gating::holds_access(hub, repo, user.user_id).await?;
            decision = decide(subject, action, Resource::Repo(&facts));
        }
    }
    match decision {
        Decision::Deny(DenyReason::Gated) => Err(gated(subject, repo)),
        other => refusal(other, Error::repo_not_found()),
    }
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
    check_repo(hub, subject, action, &repo).await?;
    Ok(repo)
}

pub fn namespace_facts(a: &Account) -> NamespaceFacts {
    NamespaceFacts { id: a.id, is_org: a.kind == AccountKind::Org }
}

/// Checks an action on the hub as a whole (inviting people to join it).
pub fn authorize_site(subject: &Subject, action: Action) -> Result<()> {
    refusal(decide(subject, action, Resource::Site), Error::new(ErrorCode::NotFound, "Not found"))
}

/// Loads a user or organization by name and checks a namespace action (create a repo, manage members).
pub async fn authorize_namespace(hub: &Hub, subject: &Subject, ns: &str, action: Action) -> Result<Account> {
    let not_found = || Error::new(ErrorCode::NotFound, format!("No user or organization named '{ns}'"));
    let account = hub.store.account_by_name(ns).await?.ok_or_else(not_found)?;
    refusal(decide(subject, action, Resource::Namespace(&namespace_facts(&account))), not_found())?;
    Ok(account)
}
