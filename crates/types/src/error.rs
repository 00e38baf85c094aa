//! The one error-code table: every failure the domain reports maps to one HTTP status and one
//! `X-Error-Code`. The API renders it as JSON plus headers, the web as a page, from the same source.

use std::fmt;

/// What went wrong, in the vocabulary of the Hub's `X-Error-Code` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A repository that does not exist or that the caller may not see (never tell the two apart).
    RepoNotFound,
    RevisionNotFound,
    EntryNotFound,
    /// Gated content, anonymous caller (401) — reserved for the gating issue.
    GatedRepoAnonymous,
    /// Gated content, authenticated caller without an accepted request (403).
    GatedRepo,
    /// A token that does not exist, expired or was revoked.
    InvalidCredentials,
    /// An operation that needs a signed-in caller.
    AuthRequired,
    /// The caller may see the resource but not do this to it.
    Forbidden,
    BadRequest,
    /// Well-formed but refused content, e.g. a path that would escape the repository (422, as the Hub).
    Unprocessable,
    NotFound,
    Conflict,
    /// `parentCommit` is not the branch head any more.
    PreconditionFailed,
    PayloadTooLarge,
    RangeNotSatisfiable,
    MethodNotAllowed,
    /// Too many attempts (sign-in throttling).
    TooManyRequests,
    /// The server is shutting down and refuses new writes.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::RepoNotFound | ErrorCode::RevisionNotFound | ErrorCode::EntryNotFound | ErrorCode::NotFound => {
                404
            }
            ErrorCode::GatedRepoAnonymous | ErrorCode::InvalidCredentials | ErrorCode::AuthRequired => 401,
            ErrorCode::GatedRepo | ErrorCode::Forbidden => 403,
            ErrorCode::BadRequest => 400,
            ErrorCode::Unprocessable => 422,
            ErrorCode::Conflict => 409,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RangeNotSatisfiable => 416,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The value of the `X-Error-Code` header; the four the client maps to exceptions come first.
    pub fn header(self) -> &'static str {
        match self {
            ErrorCode::RepoNotFound => "RepoNotFound",
            ErrorCode::RevisionNotFound => "RevisionNotFound",
            ErrorCode::EntryNotFound => "EntryNotFound",
            ErrorCode::GatedRepoAnonymous | ErrorCode::GatedRepo => "GatedRepo",
            ErrorCode::InvalidCredentials => "InvalidCredentials",
            ErrorCode::AuthRequired => "AuthRequired",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::BadRequest => "BadRequest",
            ErrorCode::Unprocessable => "Unprocessable",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::PreconditionFailed => "PreconditionFailed",
            ErrorCode::PayloadTooLarge => "PayloadTooLarge",
            ErrorCode::RangeNotSatisfiable => "RangeNotSatisfiable",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::TooManyRequests => "TooManyRequests",
            ErrorCode::Unavailable => "Unavailable",
            ErrorCode::Internal => "InternalError",
        }
    }
}

/// A domain error: a code from the table and a message safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.header(), self.message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn entry_not_found(path: &str) -> Self {
        Self::new(ErrorCode::EntryNotFound, format!("Entry not found: {path}"))
    }
    pub fn revision_not_found(rev: &str) -> Self {
        Self::new(ErrorCode::RevisionNotFound, format!("Invalid rev id: {rev}"))
    }
    pub fn repo_not_found() -> Self {
        // The client prints its own explanation and appends ours unless it already says the same.
        Self::new(ErrorCode::RepoNotFound, "Repository not found")
    }
    pub fn invalid_credentials() -> Self {
        Self::new(ErrorCode::InvalidCredentials, "Invalid credentials in Authorization header")
    }
    pub fn auth_required() -> Self {
        Self::new(ErrorCode::AuthRequired, "You must be authenticated to do this.")
    }
    /// An unexpected failure: the detail goes to the log (once, at the boundary), never to the caller.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, format!("internal error: {detail}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mapped_codes_have_the_hub_spelling() {
        assert_eq!(ErrorCode::RepoNotFound.header(), "RepoNotFound");
        assert_eq!(ErrorCode::RevisionNotFound.header(), "RevisionNotFound");
        assert_eq!(ErrorCode::EntryNotFound.header(), "EntryNotFound");
        assert_eq!(ErrorCode::GatedRepo.header(), "GatedRepo");
        assert_eq!(ErrorCode::GatedRepo.status(), 403);
        assert_eq!(ErrorCode::GatedRepoAnonymous.status(), 401);
        assert_eq!(Error::invalid_credentials().message, "Invalid credentials in Authorization header");
    }
}
