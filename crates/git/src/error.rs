use gatehouse_types::{Error, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("revision not found: {0}")]
    RevisionNotFound(String),
    #[error("entry not found: {0}")]
    EntryNotFound(String),
    /// The branch moved since the caller read it (`parentCommit` no longer the head).
    #[error("stale parent: branch head is {current}")]
    Stale { current: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type GitResult<T> = Result<T, GitError>;

impl From<GitError> for Error {
    fn from(e: GitError) -> Self {
        match e {
            GitError::RevisionNotFound(r) => Error::revision_not_found(&r),
            GitError::EntryNotFound(p) => {
                Error::new(ErrorCode::EntryNotFound, format!("A file with this name doesn't exist: {p}"))
            }
            GitError::Stale { current } => Error::new(
                ErrorCode::PreconditionFailed,
                format!(
                    "The branch was updated since you opened this page. Please refresh and try again. \
                     (parentCommit is not the head of the branch, which is now {current})"
                ),
            ),
            GitError::Conflict(m) => Error::conflict(m),
            GitError::Invalid(m) => Error::bad_request(m),
            other => Error::internal(other),
        }
    }
}
