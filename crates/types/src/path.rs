//! A path inside a repository, as stored in git: relative, `/`-separated, no `.`/`..` segments, nothing
//! under `.git/`. Parsed once at the edge so traversal cannot reach the storage layer.

use crate::{Error, ErrorCode, Result};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath(String);

impl RepoPath {
    /// Parses a path as the client sends it. Like the Hub, a leading `/` or `./` is dropped; `..` and `.`
    /// segments, a path starting with `..`, empty segments, `.git`, and control characters are refused
    /// (422). A backslash is an ordinary character in a git path, as on the Hub; clients guard their own
    /// file systems when they download.
    pub fn parse(raw: &str) -> Result<Self> {
        let bad = |why: &str| Err(Error::new(ErrorCode::Unprocessable, format!("Invalid path '{raw}': {why}")));
        let mut s = raw;
        while let Some(rest) = s.strip_prefix("./").or_else(|| s.strip_prefix('/')) {
            s = rest;
        }
        if s.is_empty() {
            return bad("empty path");
        }
        if s.len() > 1024 {
            return bad("path too long");
        }
        if s.chars().any(char::is_control) {
            return bad("control characters are not allowed");
        }
        if s.starts_with("..") {
            return bad("a path cannot start with '..'");
        }
        for seg in s.split('/') {
            match seg {
                "" => return bad("empty path segment"),
                "." | ".." => return bad("'.' and '..' segments are not allowed"),
                ".git" => return bad("'.git' is reserved"),
                _ => {}
            }
        }
        Ok(RepoPath(s.to_string()))
    }

    /// A folder prefix (as in `deletedFolder` or the tree route): a trailing `/` is allowed and dropped.
    pub fn parse_folder(raw: &str) -> Result<Self> {
        Self::parse(raw.trim_end_matches('/'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
    /// True when `self` is `folder` or lies below it.
    pub fn is_within(&self, folder: &RepoPath) -> bool {
        self.0 == folder.0 || (self.0.starts_with(&folder.0) && self.0.as_bytes().get(folder.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_like_the_hub() {
        assert_eq!(RepoPath::parse("/a/b.txt").unwrap().as_str(), "a/b.txt");
        assert_eq!(RepoPath::parse("./a").unwrap().as_str(), "a");
        assert_eq!(RepoPath::parse_folder("dir/").unwrap().as_str(), "dir");
        assert_eq!(RepoPath::parse("a/b c.txt").unwrap().file_name(), "b c.txt");
    }

    #[test]
    fn refuses_traversal() {
        for bad in ["", "/", "..", "a/../b", "a//b", ".git/config", "x/.git/y", "..\\ddd", "a\0b", "./.."] {
            assert!(RepoPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn backslashes_are_ordinary_characters() {
        assert_eq!(RepoPath::parse("folder/..\\..\\file").unwrap().as_str(), "folder/..\\..\\file");
        assert_eq!(RepoPath::parse("..\\ddd").unwrap_err().code, ErrorCode::Unprocessable);
    }

    #[test]
    fn within() {
        let f = RepoPath::parse("dir").unwrap();
        assert!(RepoPath::parse("dir/x").unwrap().is_within(&f));
        assert!(!RepoPath::parse("dirx/y").unwrap().is_within(&f));
    }

    proptest! {
        #[test]
        fn parsed_paths_are_normal(s in "[a-z./\\\\]{0,20}") {
            if let Ok(p) = RepoPath::parse(&s) {
                prop_assert!(!p.as_str().starts_with('/'));
                prop_assert!(p.as_str().split('/').all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg != ".git"));
            }
        }
    }
}
