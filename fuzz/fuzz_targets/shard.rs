//! Shard::parse over arbitrary bytes: never panics; whatever parses re-serializes (upload form) to bytes that parse
//! to the same files and xorbs.
#![no_main]

use gatehouse_xet::shard::Shard;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(shard) = Shard::parse(data) else {
        return;
    };
    let bytes = shard.to_upload_bytes();
    let again = Shard::parse(&bytes).expect("our own upload bytes parse");
    assert_eq!(again.files, shard.files);
    assert_eq!(again.xorbs, shard.xorbs);
    assert!(again.footer.is_none());
    assert_eq!(again.to_upload_bytes(), bytes, "serialization is a fixed point");
    if shard.footer.is_none() && bytes.len() == data.len() {
        // Same length means the same records; only reserved fields may differ, and they are dropped.
        assert_eq!(Shard::parse(&bytes).ok(), Some(shard));
    }
});
