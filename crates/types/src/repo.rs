//! Repository identity: type, `namespace/name`, revision and visibility.

use crate::names::validate_segment;
use crate::{Error, Result};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    Model,
    Dataset,
    Space,
}

impl RepoType {
    pub const ALL: [RepoType; 3] = [RepoType::Model, RepoType::Dataset, RepoType::Space];

    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
        }
    }
    /// `model` → `models`, as in `/api/models/…`.
    pub fn plural(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }
    /// The prefix of web, resolve and git URLs: models have none.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "model" | "models" => Ok(RepoType::Model),
            "dataset" | "datasets" => Ok(RepoType::Dataset),
            "space" | "spaces" => Ok(RepoType::Space),
            other => Err(Error::bad_request(format!("Invalid repo type '{other}'"))),
        }
    }
}

impl fmt::Display for RepoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `namespace/name`, both parts validated. Lookups are case-insensitive; this keeps the spelling given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoId {
    namespace: String,
    name: String,
}

impl RepoId {
    pub fn new(namespace: &str, name: &str) -> Result<Self> {
        validate_segment(namespace, "namespace")?;
        validate_segment(name, "repository name")?;
        Ok(RepoId { namespace: namespace.to_string(), name: name.to_string() })
    }
    /// Parses `namespace/name`; a single segment is refused (every Gatehouse repository is namespaced).
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once('/') {
            Some((ns, name)) if !name.contains('/') => Self::new(ns, name),
            _ => Err(Error::bad_request(format!("Invalid repo id '{s}': expected 'namespace/name'"))),
        }
    }
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn is_private(self) -> bool {
        self == Visibility::Private
    }
    pub fn from_private(private: bool) -> Self {
        if private {
            Visibility::Private
        } else {
            Visibility::Public
        }
    }
    /// `protected` is a Spaces notion (public page, private files); for models and datasets it is private.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "public" => Ok(Visibility::Public),
            "private" | "protected" => Ok(Visibility::Private),
            other => Err(Error::bad_request(format!("Invalid visibility '{other}'"))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// How access requests to a gated repository are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateMode {
    Auto,
    Manual,
}

impl GateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GateMode::Auto => "auto",
            GateMode::Manual => "manual",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(GateMode::Auto),
            "manual" => Ok(GateMode::Manual),
            other => {
                Err(Error::bad_request(format!("Invalid gated mode '{other}': expected \"auto\", \"manual\" or false")))
            }
        }
    }
}

/// How often the owners of a gated repository hear of new access requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationsMode {
    /// One message per new pending request.
    RealTime,
    /// One digest per gate and day.
    Daily,
}

impl NotificationsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationsMode::RealTime => "real-time",
            NotificationsMode::Daily => "daily",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "real-time" => Ok(NotificationsMode::RealTime),
            "daily" => Ok(NotificationsMode::Daily),
            other => Err(Error::bad_request(format!(
                "Invalid notifications mode '{other}': expected \"real-time\" or \"daily\""
            ))),
        }
    }
}

/// Where an access request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Pending,
    Accepted,
    Rejected,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 3] = [RequestStatus::Pending, RequestStatus::Accepted, RequestStatus::Rejected];
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Accepted => "accepted",
            RequestStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(RequestStatus::Pending),
            "accepted" => Ok(RequestStatus::Accepted),
            "rejected" => Ok(RequestStatus::Rejected),
            other => Err(Error::bad_request(format!(
                "Invalid status '{other}': expected \"pending\", \"accepted\" or \"rejected\""
            ))),
        }
    }
}

/// A revision as the caller wrote it (already percent-decoded): a branch, a tag, `refs/…` or a commit id.
/// Resolution against a repository happens in the git crate; this only refuses what can never be valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Revision(String);

impl Revision {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Err(Error::revision_not_found(s));
        if s.is_empty() || s.len() > 255 {
            return bad();
        }
        if s.bytes()
            .any(|b| b < 0x20 || b == 0x7f || matches!(b, b' ' | b'~' | b'^' | b':' | b'?' | b'*' | b'[' | b'\\'))
        {
            return bad();
        }
        if s.starts_with('/')
            || s.ends_with('/')
            || s.ends_with('.')
            || s.contains("..")
            || s.contains("//")
            || s.contains("@{")
        {
            return bad();
        }
        if s.split('/').any(|seg| seg.starts_with('.') || seg.ends_with(".lock")) {
            return bad();
        }
        Ok(Revision(s.to_string()))
    }
    pub fn main() -> Self {
        Revision("main".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A full 40-hex commit id (the only form the client treats as immutable).
    pub fn is_commit_id(&self) -> bool {
        self.0.len() == 40 && self.0.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        let id = RepoId::parse("alice/demo").unwrap();
        assert_eq!((id.namespace(), id.name()), ("alice", "demo"));
        assert_eq!(id.to_string(), "alice/demo");
        for bad in ["demo", "a/b/c", "a/", "/b", "a/b..c", "a/../b", "a/b.git"] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revisions() {
        for ok in ["main", "v1.0", "feat/x", "refs/pr/1", "refs/convert/parquet", &"a".repeat(40)] {
            Revision::parse(ok).unwrap();
        }
        for bad in ["", "a..b", "/x", "x/", "a b", "a~1", "HEAD^", "x.lock", "a/.b", "@{-1}"] {
            assert!(Revision::parse(bad).is_err(), "{bad}");
        }
        assert!(Revision::parse(&"0123456789abcdef".repeat(3)[..40]).unwrap().is_commit_id());
    }

    #[test]
    fn types() {
        assert_eq!(RepoType::parse("datasets").unwrap().url_prefix(), "datasets/");
        assert_eq!(RepoType::Model.plural(), "models");
        assert!(RepoType::parse("kernel").is_err());
    }
}
