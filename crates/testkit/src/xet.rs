//! A minimal Xet client built on our own format crate, for tests that must provoke what the real client
//! never sends (forged shards, kills mid-upload): files cut into content-defined chunks, packed into
//! xorbs, described by a shard with verification hashes and the sha256 metadata extension.

use gatehouse_xet::hash::{chunk_hash, file_hash, verification_hash, xorb_hash};
use gatehouse_xet::shard::{self, FileInfo, FileTerm, Shard, XorbChunk, XorbInfo};
use gatehouse_xet::xorb::{encode_chunk, Scheme};
use gatehouse_xet::{chunking, XetHash};
use sha2::{Digest, Sha256};

/// A xorb built from whole chunks, and the shard block describing it.
pub struct BuiltXorb {
    pub hash: XetHash,
    pub bytes: Vec<u8>,
    pub info: XorbInfo,
}

pub fn build_xorb(chunks: &[&[u8]]) -> BuiltXorb {
    let mut bytes = Vec::new();
    let mut entries = Vec::new();
    let mut pos = 0u32;
    for (i, c) in chunks.iter().enumerate() {
        // Every scheme appears: LZ4, byte-grouped LZ4, stored.
        let scheme = [Scheme::Lz4, Scheme::ByteGrouping4Lz4, Scheme::None][i % 3];
        bytes.extend_from_slice(&encode_chunk(c, scheme));
        entries.push(XorbChunk { hash: chunk_hash(c), unpacked_start: pos, unpacked_len: c.len() as u32, flags: 0 });
        pos += c.len() as u32;
    }
    let hash = xorb_hash(&entries.iter().map(|c| (c.hash, u64::from(c.unpacked_len))).collect::<Vec<_>>());
    BuiltXorb {
        hash,
        bytes,
        info: XorbInfo { xorb_hash: hash, flags: 0, unpacked_bytes: pos, bytes_on_disk: 0, chunks: entries },
    }
}

/// A file cut into content-defined chunks, packed `per_xorb` chunks to a xorb.
pub struct BuiltFile {
    pub xorbs: Vec<BuiltXorb>,
    pub info: FileInfo,
    pub sha256: String,
    pub size: u64,
}

pub fn build_file(data: &[u8], per_xorb: usize) -> BuiltFile {
    let mut chunks = Vec::new();
    let mut start = 0;
    for end in chunking::chunk_boundaries(data) {
        chunks.push(&data[start..end]);
        start = end;
    }
    let xorbs: Vec<BuiltXorb> = chunks.chunks(per_xorb).map(build_xorb).collect();
    let terms = xorbs
        .iter()
        .map(|x| FileTerm {
            xorb_hash: x.hash,
            flags: 0,
            unpacked_bytes: x.info.unpacked_bytes,
            chunk_start: 0,
            chunk_end: x.info.chunks.len() as u32,
        })
        .collect();
    let verification =
        xorbs.iter().map(|x| verification_hash(&x.info.chunks.iter().map(|c| c.hash).collect::<Vec<_>>())).collect();
    let all: Vec<(XetHash, u64)> =
        xorbs.iter().flat_map(|x| x.info.chunks.iter().map(|c| (c.hash, u64::from(c.unpacked_len)))).collect();
    let sha256 = hex(&Sha256::digest(data));
    let info = FileInfo {
        file_hash: file_hash(&all),
        flags: shard::FILE_FLAG_WITH_VERIFICATION | shard::FILE_FLAG_WITH_METADATA_EXT,
        terms,
        verification,
        sha256: Some(XetHash::from_hex(&sha256).unwrap()),
    };
    BuiltFile { xorbs, info, sha256, size: data.len() as u64 }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn shard_bytes(f: &BuiltFile) -> Vec<u8> {
    Shard { files: vec![f.info.clone()], xorbs: f.xorbs.iter().map(|x| x.info.clone()).collect(), footer: None }
        .to_upload_bytes()
}

/// Mixed content: random bytes, then compressible text, then floats (what BG4 is for).
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match (out.len() / 65536) % 3 {
            0 => out.extend_from_slice(&x.to_le_bytes()),
            1 => out.extend_from_slice(b"weights "),
            _ => out.extend_from_slice(&((x % 1000) as f32 / 7.0).to_le_bytes()),
        }
    }
    out.truncate(len);
    out
}
