//! Who is asking: an anonymous caller or a user (with the organizations they belong to), possibly acting
//! through an access token that narrows what they may do.

use gatehouse_types::{Error, Result};

pub type AccountId = i64;

/// A member's role in an organization, weakest first (the order is used by comparisons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrgRole {
    /// Reads the organization's private repositories.
    Read,
    /// Also creates repositories, and writes only those it created.
    Contributor,
    /// Writes every repository of the organization.
    Write,
    /// Also manages repositories (settings, delete, move) and members.
    Admin,
}

impl OrgRole {
    pub const ALL: [OrgRole; 4] = [OrgRole::Read, OrgRole::Contributor, OrgRole::Write, OrgRole::Admin];
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Read => "read",
            OrgRole::Contributor => "contributor",
            OrgRole::Write => "write",
            OrgRole::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "read" => Ok(OrgRole::Read),
            "contributor" => Ok(OrgRole::Contributor),
            "write" => Ok(OrgRole::Write),
            "admin" => Ok(OrgRole::Admin),
            other => {
                Err(Error::bad_request(format!("Invalid role '{other}': expected read, contributor, write or admin")))
            }
        }
    }
}

/// The role of an access token. A token never exceeds its owner: it can only narrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenRole {
    Read,
    Write,
}

impl TokenRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Read => "read",
            TokenRole::Write => "write",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "read" => Ok(TokenRole::Read),
            "write" => Ok(TokenRole::Write),
            other => Err(Error::bad_request(format!("Invalid token role '{other}': expected read or write"))),
        }
    }
}

/// How the user authenticated through a token. Fine-grained scopes will be added here; `decide` then
/// narrows by them as it narrows by `role` today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: i64,
    pub role: TokenRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSubject {
    pub user_id: AccountId,
    pub username: String,
    pub site_admin: bool,
    /// `(organization id, role)` for every organization the user belongs to.
    pub memberships: Vec<(AccountId, OrgRole)>,
    /// `None` when the user acts with their full rights (a web session); `Some` through a token.
    pub token: Option<TokenGrant>,
}

impl UserSubject {
    pub fn role_in(&self, org: AccountId) -> Option<OrgRole> {
        self.memberships.iter().find(|(o, _)| *o == org).map(|(_, r)| *r)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Anonymous,
    User(UserSubject),
}

impl Subject {
    pub fn user(&self) -> Option<&UserSubject> {
        match self {
            Subject::Anonymous => None,
            Subject::User(u) => Some(u),
        }
    }

    /// The listing filter: exactly the repositories `decide(…, Action::RepoRead, …)` allows.
    pub fn repo_filter(&self) -> RepoFilter {
        match self {
            Subject::Anonymous => RepoFilter { all: false, private_owners: Vec::new() },
            Subject::User(u) => {
                let mut owners: Vec<AccountId> = u.memberships.iter().map(|(org, _)| *org).collect();
                owners.push(u.user_id);
                owners.sort_unstable();
                owners.dedup();
                RepoFilter { all: u.site_admin, private_owners: owners }
            }
        }
    }
}

/// Which repositories a subject may see: every public one, and private ones whose owner is listed
/// (or all of them for a site admin). Stores translate it into SQL; `decide` applies it in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFilter {
    pub all: bool,
    pub private_owners: Vec<AccountId>,
}

impl RepoFilter {
    pub fn admits(&self, owner_id: AccountId, private: bool) -> bool {
        !private || self.all || self.private_owners.contains(&owner_id)
    }
}
