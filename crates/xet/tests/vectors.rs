//! The crate's one integration test binary: the captured client vectors (tests/data/vectors.json), the reference
//! Merkle cases, round trips, and hostile inputs that must be rejected without panicking or over-allocating.

use gatehouse_xet::chunking::chunk_boundaries;
use gatehouse_xet::hash::{
    chunk_hash, file_hash, file_hash_with_salt, hmac, is_global_dedup_eligible, verification_hash, xorb_hash,
};
use gatehouse_xet::shard::{
    dedup_shard, FileInfo, FileTerm, Shard, XorbChunk, XorbInfo, CHUNK_FLAG_GLOBAL_DEDUP, FILE_FLAG_WITH_METADATA_EXT,
    FILE_FLAG_WITH_VERIFICATION, SHARD_HEADER_TAG,
};
use gatehouse_xet::xorb::{
    decode_chunk, decode_chunks, encode_chunk, footer_bytes, ChunkHeader, Scheme, XorbIndex, XorbValidator,
    MAX_CHUNK_COMPRESSED, MAX_CHUNK_UNPACKED, MAX_XORB_BYTES, MAX_XORB_CHUNKS,
};
use gatehouse_xet::{FormatError, XetHash};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/vectors.json")).expect("vectors.json parses")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("a string")
}

fn h(v: &Value) -> XetHash {
    XetHash::from_hex(s(v)).expect("a hash")
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

fn plain_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A small deterministic generator for test data (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn hash(&mut self) -> XetHash {
        let mut b = [0u8; 32];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        XetHash(b)
    }
}

/// Runs a whole body through a validator in one push.
fn validate(expected: XetHash, body: &[u8]) -> Result<XorbIndex, FormatError> {
    let mut v = XorbValidator::new(expected);
    v.push(body)?;
    v.finish()
}

/// Builds a xorb from chunks of data with the given schemes; returns its bytes and expected hash.
fn build_xorb(chunks: &[(&[u8], Scheme)]) -> (Vec<u8>, XetHash) {
    let mut body = Vec::new();
    let mut list = Vec::new();
    for (data, scheme) in chunks {
        body.extend_from_slice(&encode_chunk(data, *scheme));
        list.push((chunk_hash(data), data.len() as u64));
    }
    (body, xorb_hash(&list))
}

// ---------------------------------------------------------------------------------------------------------------
// Hashes

#[test]
fn hash_string_form() {
    let v = vectors();
    for case in v["hash_string_conversion"].as_array().expect("cases") {
        let raw: Vec<u8> =
            case["raw_bytes"].as_array().expect("bytes").iter().map(|b| b.as_u64().expect("u8") as u8).collect();
        let hash = XetHash(raw.try_into().expect("32 bytes"));
        let expected = s(&case["xet_string"]);
        assert_eq!(hash.hex(), expected);
        assert_eq!(hash.to_string(), expected);
        assert_eq!(format!("{hash:?}"), expected);
        assert_eq!(XetHash::from_hex(expected).expect("parses"), hash);
        assert_eq!(expected.to_uppercase().parse::<XetHash>().expect("parses"), hash);
        let json = serde_json::to_string(&hash).expect("serializes");
        assert_eq!(json, format!("\"{expected}\""));
        assert_eq!(serde_json::from_str::<XetHash>(&json).expect("deserializes"), hash);
    }
    // The spec's 62-character example must not parse.
    assert!(XetHash::from_hex("07060504030201000f0e0d0c0b0a0908171615141312111f1e1d1c1b1a1918").is_err());
    assert!(serde_json::from_str::<XetHash>("\"xyz\"").is_err());
    assert_eq!(XetHash::ZERO.hex(), "0".repeat(64));
}

#[test]
fn chunk_hashes() {
    let v = vectors();
    assert_eq!(chunk_hash(b"").hex(), s(&v["chunk_hash"]["empty"]));
    assert_eq!(chunk_hash(b"hello").hex(), s(&v["chunk_hash"]["hello"]));
}

#[test]
fn merkle_reference_cases() {
    let v = vectors();
    let cases = v["merkle_reference"].as_array().expect("cases");
    assert_eq!(cases.len(), 18);
    for (i, case) in cases.iter().enumerate() {
        let chunks: Vec<(XetHash, u64)> = case["chunks"]
            .as_array()
            .expect("chunks")
            .iter()
            .map(|c| (h(&c[0]), c[1].as_u64().expect("size")))
            .collect();
        assert_eq!(xorb_hash(&chunks).hex(), s(&case["xorb_hash"]), "case {i}: xorb hash");
        for salted in case["file_hashes"].as_array().expect("file hashes") {
            let salt = h(&salted["salt"]);
            let expected = s(&salted["file_hash"]);
            assert_eq!(file_hash_with_salt(&chunks, &salt.0).hex(), expected, "case {i}: salted file hash");
            if salt == XetHash::ZERO {
                assert_eq!(file_hash(&chunks).hex(), expected, "case {i}: file hash");
            }
        }
    }
}

#[test]
fn dedup_eligibility_and_hmac() {
    let mut b = [0u8; 32];
    assert!(is_global_dedup_eligible(&XetHash(b)));
    b[24] = 1;
    assert!(!is_global_dedup_eligible(&XetHash(b)));
    b[24] = 0;
    b[25] = 4; // 1024 = 0x400: byte 25 holds bits 8..15
    assert!(is_global_dedup_eligible(&XetHash(b)));
    let key = XetHash([7; 32]);
    let chunk = chunk_hash(b"x");
    assert_eq!(hmac(&key, &chunk).0, *blake3::keyed_hash(&key.0, &chunk.0).as_bytes());
}

// ---------------------------------------------------------------------------------------------------------------
// The small file: the exact xorb and shard the client uploaded

fn small_content(v: &Value) -> Vec<u8> {
    s(&v["small_file"]["content"]).repeat(v["small_file"]["content_repeat"].as_u64().expect("n") as usize).into_bytes()
}

#[test]
fn small_file_xorb_at_every_split() {
    let v = vectors();
    let sf = &v["small_file"];
    let content = small_content(&v);
    assert_eq!(content.len(), 180);
    assert_eq!(chunk_hash(&content).hex(), s(&sf["chunk_hash"]));
    let xorb = unhex(s(&sf["uploaded_xorb_hex"]));
    assert_eq!(xorb.len(), 53);
    let expected = h(&sf["xorb_hash"]);
    let want = XorbIndex {
        hash: expected,
        chunks: vec![gatehouse_xet::xorb::ChunkEntry {
            hash: h(&sf["chunk_hash"]),
            byte_start: 0,
            byte_end: 53,
            unpacked_start: 0,
            unpacked_len: 180,
        }],
    };
    for split in 0..=xorb.len() {
        let mut val = XorbValidator::new(expected);
        val.push(&xorb[..split]).expect("first part");
        val.push(&xorb[split..]).expect("second part");
        assert_eq!(val.finish().expect("valid"), want, "split at {split}");
    }
    let mut val = XorbValidator::new(expected);
    for b in &xorb {
        val.push(std::slice::from_ref(b)).expect("byte");
    }
    assert_eq!(val.finish().expect("valid byte by byte"), want);

    let header = ChunkHeader::parse(xorb[..8].try_into().expect("8")).expect("header");
    assert_eq!(header.scheme, Scheme::Lz4);
    assert_eq!(header.to_bytes(), xorb[..8]);
    let mut out = Vec::new();
    assert_eq!(decode_chunks(&xorb, |c| out.extend_from_slice(c)).expect("decodes"), 180);
    assert_eq!(out, content);
}

#[test]
fn small_file_shard() {
    let v = vectors();
    let sf = &v["small_file"];
    let content = small_content(&v);
    let bytes = unhex(s(&sf["uploaded_shard_hex"]));
    assert_eq!(bytes.len(), 432);
    let shard = Shard::parse(&bytes).expect("parses");
    assert!(shard.footer.is_none());
    assert_eq!(shard.files.len(), 1);
    let f = &shard.files[0];
    assert_eq!(f.file_hash.hex(), s(&sf["file_hash"]));
    assert_eq!(f.flags, FILE_FLAG_WITH_VERIFICATION | FILE_FLAG_WITH_METADATA_EXT);
    assert_eq!(f.size(), 180);
    let chunk = h(&sf["chunk_hash"]);
    assert_eq!(
        f.terms,
        vec![FileTerm { xorb_hash: h(&sf["xorb_hash"]), flags: 0, unpacked_bytes: 180, chunk_start: 0, chunk_end: 1 }]
    );
    assert_eq!(f.verification, vec![h(&sf["verification_hash_term0"])]);
    assert_eq!(verification_hash(&[chunk]).hex(), s(&sf["verification_hash_term0"]));
    let sha = f.sha256.expect("metadata ext");
    assert_eq!(sha.hex(), s(&sf["sha256"]));
    assert_eq!(sha.hex(), plain_hex(&Sha256::digest(&content)));
    assert_eq!(file_hash(&[(chunk, 180)]).hex(), s(&sf["file_hash"]));
    assert_eq!(
        shard.xorbs,
        vec![XorbInfo {
            xorb_hash: h(&sf["xorb_hash"]),
            flags: 0,
            unpacked_bytes: 180,
            bytes_on_disk: 0,
            chunks: vec![XorbChunk { hash: chunk, unpacked_start: 0, unpacked_len: 180, flags: 0 }],
        }]
    );
    assert_eq!(shard.to_upload_bytes(), bytes, "re-serializes byte for byte");
}

// ---------------------------------------------------------------------------------------------------------------
// The 20 MiB random file

/// Python's `random.Random(1).randbytes(n)` for n a multiple of 4: MT19937 seeded by `init_by_array([1])`, each
/// 32-bit output written little-endian (getrandbits fills the integer from its least significant word).
fn python_randbytes_seed1(n: usize) -> Vec<u8> {
    const N: usize = 624;
    let mut mt = [0u32; N];
    mt[0] = 19_650_218;
    for i in 1..N {
        mt[i] = 1_812_433_253u32.wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_add(i as u32);
    }
    let key = [1u32];
    let (mut i, mut j) = (1usize, 0usize);
    for _ in 0..N.max(key.len()) {
        mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
            .wrapping_add(key[j])
            .wrapping_add(j as u32);
        i += 1;
        j += 1;
        if i >= N {
            mt[0] = mt[N - 1];
            i = 1;
        }
        if j >= key.len() {
            j = 0;
        }
    }
    for _ in 0..N - 1 {
        mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
        i += 1;
        if i >= N {
            mt[0] = mt[N - 1];
            i = 1;
        }
    }
    mt[0] = 0x8000_0000;
    let mut out = Vec::with_capacity(n);
    let mut idx = N;
    while out.len() < n {
        if idx >= N {
            for k in 0..N {
                let y = (mt[k] & 0x8000_0000) | (mt[(k + 1) % N] & 0x7fff_ffff);
                mt[k] = mt[(k + 397) % N] ^ (y >> 1) ^ if y & 1 == 1 { 0x9908_b0df } else { 0 };
            }
            idx = 0;
        }
        let mut y = mt[idx];
        idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        out.extend_from_slice(&y.to_le_bytes());
    }
    out
}

#[test]
fn random_20mib_file() {
    let v = vectors();
    let rv = &v["random_20MiB"];
    let data = python_randbytes_seed1(20 * 1024 * 1024);
    let digest = Sha256::digest(&data);
    assert_eq!(plain_hex(&digest), s(&rv["sha256"]), "the generator reproduces Python's bytes");
    // The metadata-ext byte order: raw bytes are the digest with each 8-byte group reversed.
    let sha = XetHash::from_hex(s(&rv["sha256"])).expect("hash");
    assert_eq!(plain_hex(&sha.0), s(&rv["shard_metadata_ext_sha256_raw_hex"]));

    let ends = chunk_boundaries(&data);
    assert_eq!(ends.len() as u64, rv["n_chunks"].as_u64().expect("n"));
    let lengths: Vec<u64> = ends.iter().scan(0, |prev, &e| Some((e - std::mem::replace(prev, e)) as u64)).collect();
    let first: Vec<u64> =
        rv["first_chunk_lengths"].as_array().expect("lengths").iter().map(|x| x.as_u64().expect("n")).collect();
    assert_eq!(lengths[..first.len()], first[..]);
    assert_eq!(chunk_hash(&data[..ends[0]]).hex(), s(&rv["first_chunk_hash"]));

    // Random data does not compress: the client stores every chunk with scheme 0, as here.
    let mut body = Vec::with_capacity(data.len() + 8 * ends.len());
    let mut list = Vec::new();
    let mut start = 0;
    for &end in &ends {
        body.extend_from_slice(&encode_chunk(&data[start..end], Scheme::None));
        list.push((chunk_hash(&data[start..end]), (end - start) as u64));
        start = end;
    }
    assert_eq!(body.len(), 20_974_296, "the serialized size the client uploaded");
    assert_eq!(xorb_hash(&list).hex(), s(&rv["xorb_hash"]));
    assert_eq!(file_hash(&list).hex(), s(&rv["file_hash"]));

    let mut val = XorbValidator::new(h(&rv["xorb_hash"]));
    let mut rng = Rng(20);
    let mut at = 0;
    while at < body.len() {
        let n = (1 + rng.below(300_000) as usize).min(body.len() - at);
        val.push(&body[at..at + n]).expect("valid piece");
        at += n;
    }
    let index = val.finish().expect("valid xorb");
    assert_eq!(index.chunks.len(), ends.len());
    assert_eq!(index.unpacked_len(), data.len() as u64);
    assert_eq!(index.chunk_region_len(), body.len() as u64);
    assert_eq!(XorbIndex::from_bytes(&index.to_bytes()).expect("round trip"), index);
    // A byte range of whole chunks from the middle decodes to the matching plain bytes.
    let (c0, c1) = (&index.chunks[10], &index.chunks[20]);
    let mut out = Vec::new();
    let n = decode_chunks(&body[c0.byte_start as usize..c1.byte_end as usize], |c| out.extend_from_slice(c))
        .expect("decodes");
    assert_eq!(n as usize, out.len());
    assert_eq!(out, data[c0.unpacked_start as usize..(c1.unpacked_start + c1.unpacked_len) as usize]);
}

// ---------------------------------------------------------------------------------------------------------------
// Xorbs: every scheme, footers, the index format

fn compressible(len: usize, seed: u64) -> Vec<u8> {
    // Little-endian f32-like values with shared high bytes: LZ4 and BG4 both help.
    let mut rng = Rng(seed);
    (0..len).map(|i| if i % 4 >= 2 { 0x3f } else { rng.below(8) as u8 }).collect()
}

#[test]
fn every_scheme_round_trips_through_the_validator() {
    let pieces: Vec<Vec<u8>> = vec![compressible(70_000, 1), compressible(131_072, 2), compressible(3, 3), vec![9; 1]];
    let chunks: Vec<(&[u8], Scheme)> = vec![
        (&pieces[0], Scheme::ByteGrouping4Lz4),
        (&pieces[1], Scheme::Lz4),
        (&pieces[2], Scheme::ByteGrouping4Lz4),
        (&pieces[3], Scheme::None),
        (&pieces[1], Scheme::ByteGrouping4Lz4),
    ];
    let (body, hash) = build_xorb(&chunks);
    let mut rng = Rng(7);
    for _ in 0..50 {
        let mut val = XorbValidator::new(hash);
        let mut at = 0;
        while at < body.len() {
            let n = (1 + rng.below(5_000) as usize).min(body.len() - at);
            val.push(&body[at..at + n]).expect("valid");
            at += n;
        }
        let index = val.finish().expect("valid");
        assert_eq!(index.chunks.len(), 5);
        assert_eq!(index.chunk_region_len(), body.len() as u64);
    }
    let index = validate(hash, &body).expect("valid");
    let mut out = Vec::new();
    decode_chunks(&body, |c| out.extend_from_slice(c)).expect("decodes");
    let plain: Vec<u8> = chunks.iter().flat_map(|(d, _)| d.iter().copied()).collect();
    assert_eq!(out, plain);
    for (c, (d, _)) in index.chunks.iter().zip(&chunks) {
        assert_eq!(c.hash, chunk_hash(d));
        assert_eq!(&plain[c.unpacked_start as usize..][..c.unpacked_len as usize], *d);
    }

    // A footer is accepted when it agrees with the chunks, and changes nothing in the index.
    let mut with_footer = body.clone();
    with_footer.extend_from_slice(&footer_bytes(&index));
    for split in [body.len() - 1, body.len(), body.len() + 1, body.len() + 5, with_footer.len() - 1] {
        let mut val = XorbValidator::new(hash);
        val.push(&with_footer[..split]).expect("first part");
        val.push(&with_footer[split..]).expect("rest");
        assert_eq!(val.finish().expect("footer accepted"), index);
    }
    // Any single corrupted footer byte is caught (the 4 nonce bytes and the 12 reserved ones are free).
    let footer_len = with_footer.len() - body.len();
    let nonce = footer_len - 4 - 16..footer_len - 4;
    for i in 0..footer_len {
        let mut bad = with_footer.clone();
        bad[body.len() + i] ^= 0x01;
        let result = validate(hash, &bad);
        assert_eq!(result.is_ok(), nonce.contains(&i), "footer byte {i}: {result:?}");
    }
    // A footer without chunks is not a xorb.
    assert!(matches!(validate(hash, &with_footer[body.len()..]), Err(FormatError::Invalid(_))));
}

#[test]
fn xorb_index_storage_format() {
    let data = compressible(50_000, 4);
    let (body, hash) = build_xorb(&[(&data, Scheme::Lz4), (b"tail", Scheme::None)]);
    let index = validate(hash, &body).expect("valid");
    let bytes = index.to_bytes();
    assert_eq!(bytes.len(), 44 + 40 * 2 + 32);
    assert_eq!(XorbIndex::from_bytes(&bytes).expect("parses"), index);
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x80;
        assert!(XorbIndex::from_bytes(&bad).is_err(), "flipped byte {i}");
    }
    for len in 0..bytes.len() {
        assert!(XorbIndex::from_bytes(&bytes[..len]).is_err());
    }
    // A well-formed index whose chunk list does not hash to the stored hash is refused even with a good checksum.
    let mut forged = index.clone();
    forged.hash = XetHash([3; 32]);
    assert!(matches!(XorbIndex::from_bytes(&forged.to_bytes()), Err(FormatError::HashMismatch { .. })));
}

// ---------------------------------------------------------------------------------------------------------------
// Hostile xorbs

fn small_xorb() -> (Vec<u8>, XetHash) {
    let v = vectors();
    (unhex(s(&v["small_file"]["uploaded_xorb_hex"])), h(&v["small_file"]["xorb_hash"]))
}

#[test]
fn bad_chunk_headers() {
    let (xorb, hash) = small_xorb();
    let reject = |body: &[u8]| {
        let mut val = XorbValidator::new(hash);
        let err = val.push(body).expect_err("rejected at push");
        // The validator stays failed.
        assert_eq!(val.push(b"more").expect_err("still failed"), err);
        assert_eq!(val.finish().expect_err("still failed"), err);
        err
    };
    let mut bad = xorb.clone();
    bad[0] = 1;
    assert!(matches!(reject(&bad), FormatError::Invalid(m) if m.contains("version")));
    let mut bad = xorb.clone();
    bad[4] = 3;
    assert!(matches!(reject(&bad), FormatError::Invalid(m) if m.contains("scheme")));
    let over_unpacked = (MAX_CHUNK_UNPACKED + 1).to_le_bytes();
    let mut bad = xorb.clone();
    bad[5..8].copy_from_slice(&over_unpacked[..3]);
    assert!(matches!(reject(&bad), FormatError::TooLarge(_)));
    let over_payload = (MAX_CHUNK_COMPRESSED + 1).to_le_bytes();
    let mut bad = xorb.clone();
    bad[1..4].copy_from_slice(&over_payload[..3]);
    assert!(matches!(reject(&bad), FormatError::TooLarge(_)));
    // Declared lengths that disagree with the frame: both directions.
    for declared in [179u32, 181, 1] {
        let mut bad = xorb.clone();
        bad[5..8].copy_from_slice(&declared.to_le_bytes()[..3]);
        assert!(matches!(reject(&bad), FormatError::Invalid(_)), "declared {declared}");
    }
    // A corrupted frame.
    let mut bad = xorb.clone();
    bad[12] ^= 0xff;
    assert!(matches!(reject(&bad), FormatError::Invalid(_)));
    // Empty chunks and scheme-0 chunks whose lengths differ.
    assert!(ChunkHeader::parse(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(ChunkHeader::parse(&[0, 5, 0, 0, 0, 6, 0, 0]).is_err());
}

#[test]
fn decompression_bombs_are_bounded() {
    // 4 MiB of zeros compresses to a few KiB; a header claiming 128 KiB must fail after at most that much output.
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let encoded = encode_chunk(&zeros, Scheme::Lz4);
    let payload = &encoded[8..];
    assert!(payload.len() < MAX_CHUNK_COMPRESSED as usize);
    for scheme in [Scheme::Lz4, Scheme::ByteGrouping4Lz4] {
        let header = ChunkHeader { compressed_len: payload.len() as u32, scheme, uncompressed_len: MAX_CHUNK_UNPACKED };
        let mut out = vec![1, 2, 3];
        let err = decode_chunk(&header, payload, &mut out).expect_err("bomb");
        assert!(matches!(err, FormatError::Invalid(m) if m.contains("more than")));
        assert_eq!(out, [1, 2, 3], "output left as it was");
        let mut body = header.to_bytes().to_vec();
        body.extend_from_slice(payload);
        assert!(validate(XetHash::ZERO, &body).is_err());
    }
    // A payload length other than the header's.
    let header = ChunkHeader { compressed_len: 10, scheme: Scheme::Lz4, uncompressed_len: 10 };
    assert!(decode_chunk(&header, &[0; 9], &mut Vec::new()).is_err());
}

#[test]
fn truncation_trailing_bytes_and_wrong_hash() {
    let (xorb, hash) = small_xorb();
    for len in 1..xorb.len() {
        let mut val = XorbValidator::new(hash);
        val.push(&xorb[..len]).expect("a prefix is fine so far");
        let err = val.finish().expect_err("truncated");
        assert!(matches!(err, FormatError::Truncated(_)), "len {len}: {err:?}");
    }
    assert!(matches!(validate(hash, b""), Err(FormatError::Invalid(_))));
    // Trailing bytes that are not a footer: a partial header, a bad header, a wrong footer.
    for tail in [&b"\0\0\0"[..], b"garbage!", b"XETBLOB\x01 but not a footer"] {
        let mut body = xorb.clone();
        body.extend_from_slice(tail);
        assert!(validate(hash, &body).is_err(), "tail {tail:?}");
    }
    let err = validate(XetHash([1; 32]), &xorb).expect_err("wrong hash");
    assert_eq!(err, FormatError::HashMismatch { expected: XetHash([1; 32]).hex(), actual: hash.hex() });
    assert!(err.to_string().contains(&hash.hex()));
    assert!(matches!(decode_chunks(&xorb[..52], |_| {}), Err(FormatError::Truncated(_))));
    assert!(matches!(decode_chunks(&xorb[..5], |_| {}), Err(FormatError::Truncated(_))));
    assert_eq!(decode_chunks(&[], |_| {}), Ok(0));
}

#[test]
fn xorb_count_and_size_limits() {
    // One chunk more than allowed, each 1 byte stored as is.
    let one = encode_chunk(b"a", Scheme::None);
    let body = one.repeat(MAX_XORB_CHUNKS + 1);
    let err = validate(XetHash::ZERO, &body).expect_err("too many chunks");
    assert!(matches!(err, FormatError::TooLarge(m) if m.contains("chunks")));
    // 64 MiB + 128 KiB of zeros in 128 KiB LZ4 chunks: refused at the header that passes the cap.
    let zeros = encode_chunk(&vec![0u8; MAX_CHUNK_UNPACKED as usize], Scheme::Lz4);
    let body = zeros.repeat(513);
    let err = validate(XetHash::ZERO, &body).expect_err("too much data");
    assert!(matches!(err, FormatError::TooLarge(m) if m.contains("decodes")));
    // More bytes than any xorb may have: refused as they arrive, before looking at them.
    let mut val = XorbValidator::new(XetHash::ZERO);
    let err = val.push(&vec![0; MAX_XORB_BYTES as usize + 1]).expect_err("too long");
    assert!(matches!(err, FormatError::TooLarge(_)));
    // Junk after a footer ident is refused once it passes the size a footer for the chunks seen can have.
    let (xorb, hash) = small_xorb();
    let mut val = XorbValidator::new(hash);
    val.push(&xorb).expect("valid");
    val.push(b"XETBLOB\x01").expect("could be a footer");
    val.push(&[0; 96 + 40 - 8]).expect("could still be a footer");
    let err = val.push(&[0]).expect_err("longer than a footer for one chunk");
    assert!(matches!(err, FormatError::Invalid(m) if m.contains("longer")));
}

// ---------------------------------------------------------------------------------------------------------------
// Shards

fn small_shard() -> Vec<u8> {
    unhex(s(&vectors()["small_file"]["uploaded_shard_hex"]))
}

fn random_shard(rng: &mut Rng) -> Shard {
    let files = (0..rng.below(4))
        .map(|_| {
            let n = rng.below(5) as usize;
            let flags = [0, FILE_FLAG_WITH_VERIFICATION, FILE_FLAG_WITH_METADATA_EXT, 0xC000_0000, 0x1234]
                [rng.below(5) as usize];
            FileInfo {
                file_hash: rng.hash(),
                flags,
                terms: (0..n)
                    .map(|_| FileTerm {
                        xorb_hash: rng.hash(),
                        flags: rng.below(2) as u32,
                        unpacked_bytes: rng.next() as u32,
                        chunk_start: rng.next() as u32,
                        chunk_end: rng.next() as u32,
                    })
                    .collect(),
                verification: if flags & FILE_FLAG_WITH_VERIFICATION != 0 {
                    (0..n).map(|_| rng.hash()).collect()
                } else {
                    vec![]
                },
                sha256: (flags & FILE_FLAG_WITH_METADATA_EXT != 0).then(|| rng.hash()),
            }
        })
        .collect();
    let xorbs = (0..rng.below(4))
        .map(|_| XorbInfo {
            xorb_hash: rng.hash(),
            flags: rng.below(2) as u32,
            unpacked_bytes: rng.next() as u32,
            bytes_on_disk: rng.next() as u32,
            chunks: (0..rng.below(6))
                .map(|_| XorbChunk {
                    hash: rng.hash(),
                    unpacked_start: rng.next() as u32,
                    unpacked_len: rng.next() as u32,
                    flags: if rng.below(2) == 0 { 0 } else { CHUNK_FLAG_GLOBAL_DEDUP },
                })
                .collect(),
        })
        .collect();
    Shard { files, xorbs, footer: None }
}

#[test]
fn shard_round_trips() {
    let mut rng = Rng(99);
    for _ in 0..300 {
        let shard = random_shard(&mut rng);
        let bytes = shard.to_upload_bytes();
        assert_eq!(Shard::parse(&bytes).expect("parses"), shard);
    }
}

#[test]
fn hostile_shards() {
    let good = small_shard();
    let invalid = |b: &[u8]| Shard::parse(b).expect_err("rejected");
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(invalid(&bad), FormatError::Invalid(m) if m.contains("tag")));
    let mut bad = good.clone();
    bad[32] = 3;
    assert!(matches!(invalid(&bad), FormatError::Invalid(m) if m.contains("version")));
    let mut bad = good.clone();
    bad[40] = 7;
    assert!(matches!(invalid(&bad), FormatError::Invalid(m) if m.contains("footer size")));
    // Huge counts in the file block and in the xorb block: refused before allocating anything for them.
    for at in [48 + 36, 288 + 36] {
        let mut bad = good.clone();
        bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(invalid(&bad), FormatError::Invalid(m) if m.contains("records")), "at {at}");
    }
    // Every truncation fails, and so do missing bookends.
    for len in 0..good.len() {
        assert!(Shard::parse(&good[..len]).is_err(), "len {len}");
    }
    let without_file_bookend = [&good[..240], &good[288..]].concat();
    assert!(Shard::parse(&without_file_bookend).is_err());
    let without_xorb_bookend = &good[..good.len() - 48];
    assert!(matches!(invalid(without_xorb_bookend), FormatError::Truncated(_)));
    // Trailing garbage, whole records or not.
    for extra in [1usize, 47, 48, 200] {
        let mut bad = good.clone();
        bad.extend(std::iter::repeat_n(0u8, extra));
        assert!(matches!(invalid(&bad), FormatError::Invalid(m) if m.contains("after")), "extra {extra}");
    }
    // A footer announced but absent.
    let mut bad = good.clone();
    bad[40] = 200;
    assert!(Shard::parse(&bad).is_err());
    assert!(Shard::parse(&SHARD_HEADER_TAG).is_err());
}

#[test]
fn dedup_shard_answer() {
    let v = vectors();
    let good = Shard::parse(&small_shard()).expect("parses");
    let mut xorb = good.xorbs[0].clone();
    xorb.bytes_on_disk = 53;
    let key = XetHash([0x5a; 32]);
    let bytes = dedup_shard(std::slice::from_ref(&xorb), key, 1_700_000_000, 7 * 86_400);
    assert_eq!(bytes.len(), 48 + 48 + 48 * 2 + 48 + 200);
    assert_eq!(&bytes[40..48], &200u64.to_le_bytes());
    let parsed = Shard::parse(&bytes).expect("our own dedup shard parses");
    assert!(parsed.files.is_empty());
    let footer = parsed.footer.expect("footer");
    assert_eq!(footer.chunk_hash_hmac_key, key);
    assert_eq!((footer.creation_ts, footer.key_expiry), (1_700_000_000, 1_700_000_000 + 7 * 86_400));
    assert_eq!((footer.file_info_offset, footer.xorb_info_offset), (48, 96));
    assert_eq!(footer.footer_offset, bytes.len() as u64 - 200);
    assert_eq!((footer.stored_bytes_on_disk, footer.stored_bytes, footer.materialized_bytes), (53, 180, 0));
    assert_eq!(footer.file_lookup_offset, footer.footer_offset);
    assert_eq!(footer.chunk_lookup_num, 0);
    let chunk = h(&v["small_file"]["chunk_hash"]);
    let mut expected = xorb.clone();
    expected.chunks[0].hash = hmac(&key, &chunk);
    assert_eq!(parsed.xorbs, vec![expected]);
    // A zero key means raw hashes to the client, so they stay raw.
    let raw = Shard::parse(&dedup_shard(std::slice::from_ref(&xorb), XetHash::ZERO, 1, 1)).expect("parses");
    assert_eq!(raw.xorbs, vec![xorb.clone()]);
    // Footer offsets are checked: moving the footer offset or the lookup counts breaks the parse.
    for (field, value) in [(0usize, 2u64), (8, 40), (16, 0), (32, 1), (192, 10)] {
        let mut bad = bytes.clone();
        let at = bytes.len() - 200 + field;
        bad[at..at + 8].copy_from_slice(&value.to_le_bytes());
        assert!(Shard::parse(&bad).is_err(), "footer field at {field}");
    }
    // Huge lookup counts do not overflow.
    let mut bad = bytes.clone();
    let at = bytes.len() - 200 + 32;
    bad[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Shard::parse(&bad).is_err());
    // No xorbs at all is a valid (useless) answer.
    assert_eq!(Shard::parse(&dedup_shard(&[], key, 1, 1)).expect("parses").xorbs, vec![]);
    assert_eq!(dedup_shard(&[], key, u64::MAX, 5).len(), 48 + 96 + 200, "expiry saturates");
}
