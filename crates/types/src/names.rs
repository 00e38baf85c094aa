//! Account (user and organization) names. Users and organizations share one namespace, as on the Hub.

use crate::{Error, Result};
use std::fmt;

/// Names that would collide with routes (`/datasets/…`, `/api/…`) or pages.
pub const RESERVED_NAMES: &[&str] = &[
    "api",
    "datasets",
    "spaces",
    "models",
    "kernels",
    "collections",
    "settings",
    "login",
    "logout",
    "join",
    "signup",
    "new",
    "organizations",
    "docs",
    "static",
    "assets",
    "healthz",
    "metrics",
    "admin",
    "search",
    "oauth",
    "users",
    "orgs",
    "pricing",
    "blog",
    "buckets",
    "papers",
    "notifications",
];

/// A validated user or organization name: `[A-Za-z0-9_.-]{1,96}`, no `--` or `..`, not starting or
/// ending with `-` or `.`, not a reserved route word. Comparison on the Hub is case-insensitive, so the
/// store keeps a lower-cased copy for lookups and the original spelling for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(s: &str) -> Result<Self> {
        validate_segment(s, "name")?;
        if RESERVED_NAMES.contains(&s.to_ascii_lowercase().as_str()) {
            return Err(Error::bad_request(format!("'{s}' is a reserved name")));
        }
        Ok(AccountName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rule shared by account names and repository names (the client's own `validate_repo_id`).
pub(crate) fn validate_segment(s: &str, what: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::bad_request(format!("Invalid {what} '{s}': {why}")));
    if s.is_empty() || s.len() > 96 {
        return bad("must be 1 to 96 characters long");
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    if s.contains("--") || s.contains("..") {
        return bad("'--' and '..' are not allowed");
    }
    if s.starts_with(['-', '.']) || s.ends_with(['-', '.']) {
        return bad("cannot start or end with '-' or '.'");
    }
    if s.ends_with(".git") {
        return bad("cannot end with '.git'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_hub_style_names() {
        for ok in ["alice", "__DUMMY_TRANSFORMERS_USER__", "valid_org_hub", "Org-1", "a.b", "x"] {
            AccountName::parse(ok).unwrap();
        }
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "a/b", "..", "a..b", "a--b", "-a", "a.", "a b", "ü", "datasets", "API", "x.git"] {
            assert!(AccountName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AccountName::parse(&"a".repeat(97)).is_err());
    }

    proptest! {
        #[test]
        fn parsed_names_never_contain_separators(s in "\\PC{0,40}") {
            if let Ok(n) = AccountName::parse(&s) {
                prop_assert!(!n.as_str().contains('/'));
                prop_assert!(!n.as_str().contains(".."));
                prop_assert!(!n.as_str().is_empty());
            }
        }
    }
}
