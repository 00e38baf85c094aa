//! Large-file storage: LFS objects addressed by their sha256, in any `object_store` backend (the local
//! filesystem by default, S3-compatible stores by URL).
//!
//! Writes go to a staging key while the bytes are hashed as they stream; only content whose sha256 (and
//! size, when announced) checks out is moved to its content address. A reader therefore never sees a
//! partial or unverified object, and a crash mid-upload leaves only staging garbage.

mod store;
mod writer;

pub use store::{BlobError, BlobResult, BlobStore, ByteStream};
pub use writer::{Verified, Writer};

/// Lower-case hex sha256, as LFS and the Hub spell object ids.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
