//! Repository content: every repository is a bare git repository under the data directory, so the git
//! protocol can serve it and every commit is a real git commit with a 40-hex id.
//!
//! The API is blocking (libgit2); async callers run it on `spawn_blocking`. Writes are atomic: objects
//! are written first (harmless if a crash strands them), then the branch moves by compare-and-swap, so a
//! reader or a crash only ever sees the old head or the new one.

mod commit;
mod diff;
mod error;
mod pointer;
pub mod push;
mod read;
mod refs;
mod rewrite;
mod store;
pub mod transport;

pub use commit::{CommitOutcome, CommitRequest, Signature, TreeOp};
pub use diff::{CommitDiff, DiffHunk, DiffLimits, DiffLine, DiffLineKind, FileChange, FileDiff, FileDiffBody};
pub use error::{GitError, GitResult};
pub use pointer::LfsPointer;
pub use read::{CommitInfo, EntryKind, TreeEntry};
pub use refs::{RefInfo, Refs, ResolvedRev};
pub use store::{GitStore, Repo};

pub use git2::Oid;
