//! The Xet storage formats, server side: hashes and their string form, xorb validation and decoding, shard parsing
//! and writing (uploads and dedup answers), and the client's content-defined chunking.
//!
//! Everything parses *untrusted* bytes: counts are checked against the input before allocating, decompression is
//! bounded, and limits follow the real client (hf_xet 1.8.0). The facts come from the brief in
//! `shared/specs/xet/README.md` §3; nothing here does IO.

pub mod chunking;
mod error;
pub mod hash;
pub mod shard;
pub mod xorb;

pub use error::FormatError;
pub use hash::XetHash;
