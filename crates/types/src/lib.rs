//! Identifiers and validated newtypes shared by every Gatehouse crate, and the one error-code table.
//!
//! Everything that arrives from outside (repo names, paths inside a repository, revisions) is parsed into
//! one of these types at the edge; code behind the edge never re-validates.

mod error;
mod names;
mod path;
mod repo;

pub use error::{Error, ErrorCode, Result};
pub use names::{AccountName, RESERVED_NAMES};
pub use path::RepoPath;
pub use repo::{GateMode, NotificationsMode, RepoId, RepoType, RequestStatus, Revision, Visibility};

/// Files larger than this go to LFS whatever their content (the Hub's threshold, 10 MiB).
pub const LFS_SIZE_THRESHOLD: u64 = 10 * 1024 * 1024;

/// Milliseconds since the Unix epoch; how every timestamp is stored.
pub type Millis = i64;
