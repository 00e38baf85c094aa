//! The store's error type and its mapping onto the domain error table.

use gatehouse_types::Error;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the message is safe to show the caller.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row the code cannot interpret (e.g. an unknown enum spelling).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::conflict(m),
            StoreError::NotFound(m) => Error::not_found(m),
            other @ (StoreError::Db(_) | StoreError::Migrate(_) | StoreError::Corrupt(_)) => Error::internal(other),
        }
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// A foreign-key violation means the row referred to does not exist: `NotFound(what)`.
pub(crate) fn missing_on_fk(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| if is_foreign_key_violation(&e) { StoreError::NotFound(what()) } else { e.into() }
}
