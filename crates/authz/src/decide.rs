//! `decide`: the mapping from (subject, action, resource) to a decision. Every match is exhaustive so a
//! new action or role cannot slip through a catch-all.

use crate::subject::{AccountId, OrgRole, Subject, TokenRole, UserSubject};

/// What a repository looks like to the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFacts {
    pub owner_id: AccountId,
    pub owner_is_org: bool,
    pub private: bool,
    pub created_by: Option<AccountId>,
    /// Downloads need an accepted access request (the card stays readable).
    pub gated: bool,
    /// The subject asking holds an accepted access request for this repository.
    pub gate_passed: bool,
}

/// A user's or organization's namespace, as the target of repository creation, member management or
/// collection management.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceFacts {
    pub id: AccountId,
    pub is_org: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    Repo(&'a RepoFacts),
    Namespace(&'a NamespaceFacts),
    /// The hub as a whole (inviting people to join it).
    Site,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the repository: info, tree, refs, commits, listings.
    RepoRead,
    /// Get file content: resolve, LFS download (gated repositories will narrow this one).
    RepoDownload,
    /// Change content: commits, branches, tags, LFS upload.
    RepoWrite,
    /// Change the repository itself: settings, visibility, move, delete.
    RepoManage,
    /// Create a repository in a namespace.
    RepoCreate,
    /// Add, remove or change members of an organization.
    OrgManageMembers,
    /// Change the collections a namespace owns (metadata, items, deletion): the user itself, or an
    /// organization's write and admin members.
    CollectionManage,
    /// Invite people to sign up (an invite-only hub): site administrators.
    InviteUsers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The caller may know the resource exists but may not do this.
    Deny(DenyReason),
    /// The caller may not even know the resource exists: answer exactly as for a missing one.
    Hide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// Anonymous caller; signing in might help (401).
    AuthRequired,
    /// The user could, but the token used is read-only (403).
    ReadOnlyToken,
    /// The user's role does not allow it (403).
    InsufficientRole,
    /// Gated content without an accepted access request (401 anonymous, 403 signed in).
    Gated,
}

/// A user's rights on one repository before the token narrows them, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RepoPower {
    None,
    Read,
    Write,
    Admin,
}

/// What `subject` may do to `repo` by ownership and membership (ignoring the token's role).
pub fn repo_power(subject: &Subject, repo: &RepoFacts) -> RepoPower {
    let by_visibility =
        if subject.repo_filter().admits(repo.owner_id, repo.private) { RepoPower::Read } else { RepoPower::None };
    let by_role = match subject {
        Subject::Anonymous => RepoPower::None,
        Subject::User(u) => user_role_power(u, repo),
    };
    by_visibility.max(by_role)
}

fn user_role_power(u: &UserSubject, repo: &RepoFacts) -> RepoPower {
    if u.site_admin || repo.owner_id == u.user_id {
        return RepoPower::Admin;
    }
    if !repo.owner_is_org {
        return RepoPower::None;
    }
    match u.role_in(repo.owner_id) {
        None => RepoPower::None,
        Some(OrgRole::Read) => RepoPower::Read,
        Some(OrgRole::Contributor) if repo.created_by == Some(u.user_id) => RepoPower::Write,
        Some(OrgRole::Contributor) => RepoPower::Read,
        Some(OrgRole::Write) => RepoPower::Write,
        Some(OrgRole::Admin) => RepoPower::Admin,
    }
}

/// Whether the action only reads (a read token may do it).
fn is_read_only(action: Action) -> bool {
    match action {
        Action::RepoRead | Action::RepoDownload => true,
        Action::RepoWrite
        | Action::RepoManage
        | Action::RepoCreate
        | Action::OrgManageMembers
        | Action::CollectionManage
        | Action::InviteUsers => false,
    }
}

/// The one authorization decision.
pub fn decide(subject: &Subject, action: Action, resource: Resource<'_>) -> Decision {
    let by_role = match resource {
        Resource::Repo(repo) => decide_repo(subject, action, repo),
        Resource::Namespace(ns) => decide_namespace(subject, action, ns),
        Resource::Site => decide_site(subject, action),
    };
    if by_role != Decision::Allow {
        return by_role;
    }
    // A token never exceeds its owner; a read token never writes.
    match subject {
        Subject::User(UserSubject { token: Some(grant), .. })
            if grant.role == TokenRole::Read && !is_read_only(action) =>
        {
            Decision::Deny(DenyReason::ReadOnlyToken)
        }
        Subject::Anonymous | Subject::User(_) => Decision::Allow,
    }
}

fn decide_repo(subject: &Subject, action: Action, repo: &RepoFacts) -> Decision {
    let power = repo_power(subject, repo);
    if power == RepoPower::None {
        return Decision::Hide;
    }
    let needed = match action {
        Action::RepoRead | Action::RepoDownload => RepoPower::Read,
        Action::RepoWrite => RepoPower::Write,
        Action::RepoManage => RepoPower::Admin,
        // Namespace actions asked of a repository: nobody gets them this way.
        Action::RepoCreate | Action::OrgManageMembers | Action::CollectionManage | Action::InviteUsers => {
            return Decision::Deny(DenyReason::InsufficientRole)
        }
    };
    if power < needed {
        return deny(subject);
    }
    // Writers are never gated; everyone else needs an accepted request to get content.
    if action == Action::RepoDownload && repo.gated && power < RepoPower::Write && !repo.gate_passed {
        return Decision::Deny(DenyReason::Gated);
    }
    Decision::Allow
}

fn decide_namespace(subject: &Subject, action: Action, ns: &NamespaceFacts) -> Decision {
    let Subject::User(u) = subject else {
        return Decision::Deny(DenyReason::AuthRequired);
    };
    if u.site_admin {
        return Decision::Allow;
    }
    let allowed = match action {
        Action::RepoCreate if !ns.is_org => ns.id == u.user_id,
        Action::RepoCreate => matches!(u.role_in(ns.id), Some(OrgRole::Contributor | OrgRole::Write | OrgRole::Admin)),
        Action::OrgManageMembers => ns.is_org && u.role_in(ns.id) == Some(OrgRole::Admin),
        Action::CollectionManage if !ns.is_org => ns.id == u.user_id,
        Action::CollectionManage => matches!(u.role_in(ns.id), Some(OrgRole::Write | OrgRole::Admin)),
        Action::RepoRead | Action::RepoDownload | Action::RepoWrite | Action::RepoManage | Action::InviteUsers => false,
    };
    if allowed {
        Decision::Allow
    } else {
        deny(subject)
    }
}

fn decide_site(subject: &Subject, action: Action) -> Decision {
    let allowed = match (subject, action) {
        (Subject::User(u), Action::InviteUsers) => u.site_admin,
        (
            _,
            Action::RepoRead
            | Action::RepoDownload
            | Action::RepoWrite
            | Action::RepoManage
            | Action::RepoCreate
            | Action::OrgManageMembers
            | Action::CollectionManage,
        )
        | (Subject::Anonymous, Action::InviteUsers) => false,
    };
    if allowed {
        Decision::Allow
    } else {
        deny(subject)
    }
}

fn deny(subject: &Subject) -> Decision {
    match subject {
        Subject::Anonymous => Decision::Deny(DenyReason::AuthRequired),
        Subject::User(_) => Decision::Deny(DenyReason::InsufficientRole),
    }
}
