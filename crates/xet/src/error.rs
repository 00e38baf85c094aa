//! The one error type of this crate: every parser returns it, and its message is fit to show an uploader.

/// Why bytes were rejected. Messages name the part that failed and say what was expected, so a 400 answer can carry
/// them as they are (they never contain more than hashes, offsets and sizes).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The input ended inside the named structure.
    #[error("truncated: input ends inside the {0}")]
    Truncated(&'static str),
    /// The bytes are not a valid encoding (bad tag, version, flag, offset, compression stream...).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A count or size exceeds the limits the real client stays within.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The content hashes to something else than claimed (both in Xet string form).
    #[error("hash mismatch: expected {expected}, computed {actual}")]
    HashMismatch {
        /// The hash the caller or the data claimed.
        expected: String,
        /// The hash computed from the content.
        actual: String,
    },
}

impl FormatError {
    /// Shorthand for [`FormatError::Invalid`].
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        FormatError::Invalid(msg.into())
    }

    /// Shorthand for [`FormatError::TooLarge`].
    pub(crate) fn too_large(msg: impl Into<String>) -> Self {
        FormatError::TooLarge(msg.into())
    }
}
