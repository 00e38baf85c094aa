//! XorbValidator over arbitrary bytes split at arbitrary points, and XorbIndex::from_bytes over arbitrary bytes.
//!
//! Input: 2 control bytes (seed of the split points), then the body. The validator runs once expecting a wrong hash
//! to learn the content's real hash (from the HashMismatch error), then again expecting it, split up, so the fuzzer
//! reaches the paths behind the hash check (footers, the index). Both runs must agree on everything but the hash.
#![no_main]

use gatehouse_xet::xorb::{decode_chunks, XorbIndex, XorbValidator};
use gatehouse_xet::{FormatError, XetHash};
use libfuzzer_sys::fuzz_target;

fn run(expected: XetHash, body: &[u8], mut seed: u16) -> Result<XorbIndex, FormatError> {
    let mut v = XorbValidator::new(expected);
    let mut rest = body;
    while !rest.is_empty() {
        // A tiny LCG turns the seed into piece lengths of 1..=64 (seed 0: one push).
        seed = seed.wrapping_mul(25173).wrapping_add(13849);
        let n = if seed == 0 { rest.len() } else { (usize::from(seed >> 10) + 1).min(rest.len()) };
        v.push(&rest[..n])?;
        rest = &rest[n..];
    }
    v.finish()
}

fuzz_target!(|data: &[u8]| {
    let _ = XorbIndex::from_bytes(data);
    if data.len() < 2 {
        return;
    }
    let (ctrl, body) = data.split_at(2);
    let seed = u16::from_le_bytes([ctrl[0], ctrl[1]]);

    let probe = XorbValidator::new(XetHash([0xAB; 32]));
    let whole = (|| {
        let mut probe = probe;
        probe.push(body)?;
        probe.finish()
    })();
    let actual = match whole {
        Err(FormatError::HashMismatch { actual, .. }) => XetHash::from_hex(&actual).expect("we print valid hashes"),
        Err(_) => {
            assert!(run(XetHash([0xAB; 32]), body, seed).is_err(), "split points change nothing");
            return;
        }
        Ok(index) => index.hash,
    };
    match run(actual, body, seed) {
        Ok(index) => {
            assert_eq!(index.hash, actual);
            assert_eq!(XorbIndex::from_bytes(&index.to_bytes()).as_ref(), Ok(&index));
            let region = &body[..index.chunk_region_len() as usize];
            let mut decoded = 0usize;
            let total = decode_chunks(region, |c| decoded += c.len()).expect("validated chunks decode");
            assert_eq!(total, index.unpacked_len());
            assert_eq!(decoded as u64, total);
            for (i, c) in index.chunks.iter().enumerate() {
                assert_eq!(c.byte_start, if i == 0 { 0 } else { index.chunks[i - 1].byte_end });
            }
        }
        // Only a footer can still be wrong once the hash is right.
        Err(FormatError::Invalid(m)) => assert!(m.starts_with("xorb footer") || m.contains("needs at least"), "{m}"),
        Err(FormatError::Truncated(what)) => assert_eq!(what, "xorb footer"),
        Err(e) => panic!("the hash is right, yet: {e}"),
    }
});
