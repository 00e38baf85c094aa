//! Differential tests of `gatehouse-xet` against `xet-core-structures` 1.8.0, the code inside the hf_xet client.
//!
//! The crate has no code: the tests live in `tests/diff.rs`, and the reference implementation is only a
//! dev-dependency (it pulls a client runtime of ~200 crates), so nothing that ships links it.
