//! Shards: the metadata files clients upload to register files (terms over xorbs) and new xorbs (their chunk lists),
//! and the dedup answers the server sends back (spec shard; README §3.6–3.7).
//!
//! Layout, all little-endian, every record 48 bytes: a header (tag, version 2, footer size); file blocks until a
//! bookend; xorb ("CAS") blocks until a bookend; and, only in stored shards and dedup answers, lookup tables and a
//! 200-byte footer. Uploads carry no footer.
//!
//! [`Shard::parse`] is structural: it checks the encoding, not whether terms point at stored xorbs or whether
//! hashes are right; that needs the server's storage and is the caller's job (README §3.6 "Checks on upload").

use crate::hash::{hmac, XetHash};
use crate::xorb::Reader;
use crate::FormatError;

/// The 32 bytes every shard starts with: `HFRepoMetaData`, a zero byte, then 17 magic bytes.
pub const SHARD_HEADER_TAG: [u8; 32] = [
    b'H', b'F', b'R', b'e', b'p', b'o', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a', 0, 85, 105, 103, 69, 106, 123,
    129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169,
];
/// The only shard header version.
pub const SHARD_VERSION: u64 = 2;
/// The only shard footer version.
pub const SHARD_FOOTER_VERSION: u64 = 1;
/// Length of a shard footer.
pub const SHARD_FOOTER_LEN: u64 = 200;
/// Length of every shard record (headers, entries, bookends).
pub const RECORD_LEN: usize = 48;
/// Cap on a shard: the client cuts shards at 64 MiB (`MDB_SHARD_TARGET_SIZE`, before adding a block that would
/// pass it); 1 MiB of slack covers the header and a footer.
pub const MAX_SHARD_BYTES: u64 = 65 * 1024 * 1024;

/// File flag: each term is followed (after all terms) by a verification entry.
pub const FILE_FLAG_WITH_VERIFICATION: u32 = 1 << 31;
/// File flag: the block ends with a metadata-ext record holding the file's SHA-256.
pub const FILE_FLAG_WITH_METADATA_EXT: u32 = 1 << 30;
/// Chunk flag: a candidate for the global dedup index.
pub const CHUNK_FLAG_GLOBAL_DEDUP: u32 = 1 << 31;

const HEADER_LEN: usize = 48;
const BOOKEND_HASH: [u8; 32] = [0xff; 32];
/// Entries of the lookup tables between the xorb bookend and the footer: file and xorb (u64 + u32), chunk (u64 + 2×u32).
const FILE_LOOKUP_ENTRY: u64 = 12;
const XORB_LOOKUP_ENTRY: u64 = 12;
const CHUNK_LOOKUP_ENTRY: u64 = 16;

/// One term of a file: a chunk range of one xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTerm {
    /// The xorb holding the chunks.
    pub xorb_hash: XetHash,
    /// Entry flags (0 in practice).
    pub flags: u32,
    /// Decoded bytes of the chunk range.
    pub unpacked_bytes: u32,
    /// First chunk index in the xorb.
    pub chunk_start: u32,
    /// Chunk index one past the last.
    pub chunk_end: u32,
}

/// A file block: how to rebuild one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file hash.
    pub file_hash: XetHash,
    /// File flags; [`FILE_FLAG_WITH_VERIFICATION`] and [`FILE_FLAG_WITH_METADATA_EXT`] say which records follow.
    pub flags: u32,
    /// The terms, in file order.
    pub terms: Vec<FileTerm>,
    /// One verification hash per term; empty unless the verification flag is set.
    pub verification: Vec<XetHash>,
    /// The file's SHA-256 in Xet byte order (`sha256.hex()` is the ordinary sha256 hex); `None` unless the
    /// metadata-ext flag is set.
    pub sha256: Option<XetHash>,
}

impl FileInfo {
    /// Total decoded size of the file (the sum of its terms).
    pub fn size(&self) -> u64 {
        self.terms.iter().map(|t| u64::from(t.unpacked_bytes)).sum()
    }
}

/// One chunk of a xorb block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbChunk {
    /// The chunk hash (HMAC'd with the footer's key in dedup answers that have one).
    pub hash: XetHash,
    /// Offset of the chunk in the xorb's decoded bytes.
    pub unpacked_start: u32,
    /// Decoded length of the chunk.
    pub unpacked_len: u32,
    /// Chunk flags ([`CHUNK_FLAG_GLOBAL_DEDUP`]).
    pub flags: u32,
}

/// A xorb ("CAS") block: the chunk list of one xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbInfo {
    /// The xorb hash.
    pub xorb_hash: XetHash,
    /// Block flags (0 in practice).
    pub flags: u32,
    /// Total decoded bytes of the xorb.
    pub unpacked_bytes: u32,
    /// Serialized size of the xorb; the 1.8.0 client sends 0, so don't rely on it in uploads.
    pub bytes_on_disk: u32,
    /// The chunks, in xorb order.
    pub chunks: Vec<XorbChunk>,
}

/// The 200-byte shard footer (its version, always 1, and reserved bytes are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFooter {
    /// Offset of the file section (48).
    pub file_info_offset: u64,
    /// Offset of the xorb section.
    pub xorb_info_offset: u64,
    /// Offset of the file lookup table.
    pub file_lookup_offset: u64,
    /// Entries in the file lookup table (12 bytes each).
    pub file_lookup_num: u64,
    /// Offset of the xorb lookup table.
    pub xorb_lookup_offset: u64,
    /// Entries in the xorb lookup table (12 bytes each).
    pub xorb_lookup_num: u64,
    /// Offset of the chunk lookup table.
    pub chunk_lookup_offset: u64,
    /// Entries in the chunk lookup table (16 bytes each).
    pub chunk_lookup_num: u64,
    /// Key of the chunk-hash HMAC; ZERO means the chunk hashes are raw.
    pub chunk_hash_hmac_key: XetHash,
    /// Creation time, Unix seconds.
    pub creation_ts: u64,
    /// After this (Unix seconds) clients stop using the shard.
    pub key_expiry: u64,
    /// Sum of the xorbs' serialized sizes.
    pub stored_bytes_on_disk: u64,
    /// Sum of the files' sizes.
    pub materialized_bytes: u64,
    /// Sum of the xorbs' decoded sizes.
    pub stored_bytes: u64,
    /// Offset of the footer itself.
    pub footer_offset: u64,
}

/// A parsed shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// The file blocks, in shard order.
    pub files: Vec<FileInfo>,
    /// The xorb blocks, in shard order.
    pub xorbs: Vec<XorbInfo>,
    /// The footer, when the header announced one.
    pub footer: Option<ShardFooter>,
}

/// Reads the 32-byte hash + four u32 layout shared by most records.
fn record(r: &mut Reader<'_>) -> Result<(XetHash, [u32; 4]), FormatError> {
    let hash = r.hash()?;
    Ok((hash, [r.u32()?, r.u32()?, r.u32()?, r.u32()?]))
}

/// Fails unless `n` records of 48 bytes fit in what is left, so no count is trusted before allocating.
fn ensure_records(r: &Reader<'_>, n: u64, what: &'static str) -> Result<usize, FormatError> {
    match n.checked_mul(RECORD_LEN as u64) {
        Some(bytes) if bytes <= r.remaining() as u64 => Ok(n as usize),
        _ => Err(FormatError::invalid(format!("{what} declares {n} records, more than the shard holds"))),
    }
}

impl Shard {
    /// Parses untrusted bytes: tag and version checked, counts checked against remaining bytes BEFORE allocating,
    /// both bookends required, trailing garbage rejected; a footer (footer_size != 0, which must then be 200) is
    /// parsed and its offsets checked against the layout (the lookup tables' contents are not read). Reserved
    /// fields are ignored and the bookends are recognized by their all-FF hash, as the client does.
    pub fn parse(bytes: &[u8]) -> Result<Shard, FormatError> {
        if bytes.len() as u64 > MAX_SHARD_BYTES {
            return Err(FormatError::too_large(format!("shard over {MAX_SHARD_BYTES} bytes")));
        }
        let mut head = Reader::named(bytes, "shard header");
        if head.array::<32>()? != SHARD_HEADER_TAG {
            return Err(FormatError::invalid("not a shard (bad header tag)"));
        }
        let version = head.u64()?;
        if version != SHARD_VERSION {
            return Err(FormatError::invalid(format!("shard header version {version} (expected {SHARD_VERSION})")));
        }
        let footer_size = head.u64()?;
        let body_end = match footer_size {
            0 => bytes.len(),
            SHARD_FOOTER_LEN if bytes.len() as u64 >= HEADER_LEN as u64 + SHARD_FOOTER_LEN => {
                bytes.len() - SHARD_FOOTER_LEN as usize
            }
            SHARD_FOOTER_LEN => return Err(FormatError::Truncated("shard footer")),
            n => return Err(FormatError::invalid(format!("shard footer size {n} (expected 0 or 200)"))),
        };

        let mut r = Reader::named(&bytes[..body_end], "shard file section");
        r.bytes(HEADER_LEN)?;
        let mut files = Vec::new();
        loop {
            let (file_hash, [flags, num_entries, _, _]) = record(&mut r)?;
            if file_hash.0 == BOOKEND_HASH {
                break;
            }
            let with_verification = flags & FILE_FLAG_WITH_VERIFICATION != 0;
            let with_ext = flags & FILE_FLAG_WITH_METADATA_EXT != 0;
            let n = u64::from(num_entries);
            let records = n * (1 + u64::from(with_verification)) + u64::from(with_ext);
            ensure_records(&r, records, "a file block")?;
            let n = n as usize;
            let mut terms = Vec::with_capacity(n);
            for _ in 0..n {
                let (xorb_hash, [flags, unpacked_bytes, chunk_start, chunk_end]) = record(&mut r)?;
                terms.push(FileTerm { xorb_hash, flags, unpacked_bytes, chunk_start, chunk_end });
            }
            let mut verification = Vec::with_capacity(if with_verification { n } else { 0 });
            if with_verification {
                for _ in 0..n {
                    verification.push(record(&mut r)?.0);
                }
            }
            let sha256 = if with_ext { Some(record(&mut r)?.0) } else { None };
            files.push(FileInfo { file_hash, flags, terms, verification, sha256 });
        }
        let xorb_info_offset = r.pos() as u64;

        let mut r = Reader::named(&bytes[xorb_info_offset as usize..body_end], "shard xorb section");
        let mut xorbs = Vec::new();
        loop {
            let (xorb_hash, [flags, num_entries, unpacked_bytes, bytes_on_disk]) = record(&mut r)?;
            if xorb_hash.0 == BOOKEND_HASH {
                break;
            }
            let n = ensure_records(&r, u64::from(num_entries), "a xorb block")?;
            let mut chunks = Vec::with_capacity(n);
            for _ in 0..n {
                let (hash, [unpacked_start, unpacked_len, flags, _]) = record(&mut r)?;
                chunks.push(XorbChunk { hash, unpacked_start, unpacked_len, flags });
            }
            xorbs.push(XorbInfo { xorb_hash, flags, unpacked_bytes, bytes_on_disk, chunks });
        }
        let sections_end = xorb_info_offset + r.pos() as u64;

        let footer = if footer_size == 0 {
            if sections_end != bytes.len() as u64 {
                return Err(FormatError::invalid("bytes after the shard's xorb section bookend"));
            }
            None
        } else {
            Some(parse_footer(&bytes[body_end..], body_end as u64, xorb_info_offset, sections_end)?)
        };
        Ok(Shard { files, xorbs, footer })
    }

    /// Serialized without footer (footer_size = 0), exactly as the hf_xet client uploads.
    ///
    /// The flags say which records follow a file's terms: with the verification flag, one verification entry per
    /// term (ZERO where `verification` is short); with the metadata-ext flag, the `sha256` (ZERO if `None`).
    /// Anything [`Shard::parse`] returns satisfies this already, so parse → serialize → parse is the identity.
    pub fn to_upload_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&SHARD_HEADER_TAG);
        out.extend_from_slice(&SHARD_VERSION.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        write_sections(&mut out, &self.files, &self.xorbs, None);
        out
    }
}

/// Writes one record: a hash and four u32.
fn put(out: &mut Vec<u8>, hash: &XetHash, words: [u32; 4]) {
    out.extend_from_slice(&hash.0);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

fn put_bookend(out: &mut Vec<u8>) {
    out.extend_from_slice(&BOOKEND_HASH);
    out.extend_from_slice(&[0; 16]);
}

/// Writes the file section and the xorb section, each with its bookend; chunk hashes are HMAC'd when a key is given.
fn write_sections(out: &mut Vec<u8>, files: &[FileInfo], xorbs: &[XorbInfo], hmac_key: Option<&XetHash>) {
    for f in files {
        put(out, &f.file_hash, [f.flags, f.terms.len() as u32, 0, 0]);
        for t in &f.terms {
            put(out, &t.xorb_hash, [t.flags, t.unpacked_bytes, t.chunk_start, t.chunk_end]);
        }
        if f.flags & FILE_FLAG_WITH_VERIFICATION != 0 {
            for i in 0..f.terms.len() {
                put(out, &f.verification.get(i).copied().unwrap_or_default(), [0; 4]);
            }
        }
        if f.flags & FILE_FLAG_WITH_METADATA_EXT != 0 {
            put(out, &f.sha256.unwrap_or_default(), [0; 4]);
        }
    }
    put_bookend(out);
    for x in xorbs {
        put(out, &x.xorb_hash, [x.flags, x.chunks.len() as u32, x.unpacked_bytes, x.bytes_on_disk]);
        for c in &x.chunks {
            let hash = hmac_key.map_or(c.hash, |key| hmac(key, &c.hash));
            put(out, &hash, [c.unpacked_start, c.unpacked_len, c.flags, 0]);
        }
    }
    put_bookend(out);
}

/// Parses the 200-byte footer at `footer_offset` and checks its offsets against where the sections really are:
/// file section at 48, xorb section where it starts, the three lookup tables back to back from the end of the xorb
/// section up to the footer.
fn parse_footer(
    b: &[u8],
    footer_offset: u64,
    xorb_info_offset: u64,
    sections_end: u64,
) -> Result<ShardFooter, FormatError> {
    let mut r = Reader::named(b, "shard footer");
    let version = r.u64()?;
    if version != SHARD_FOOTER_VERSION {
        return Err(FormatError::invalid(format!("shard footer version {version} (expected 1)")));
    }
    let footer = ShardFooter {
        file_info_offset: r.u64()?,
        xorb_info_offset: r.u64()?,
        file_lookup_offset: r.u64()?,
        file_lookup_num: r.u64()?,
        xorb_lookup_offset: r.u64()?,
        xorb_lookup_num: r.u64()?,
        chunk_lookup_offset: r.u64()?,
        chunk_lookup_num: r.u64()?,
        chunk_hash_hmac_key: r.hash()?,
        creation_ts: r.u64()?,
        key_expiry: r.u64()?,
        stored_bytes_on_disk: {
            r.bytes(48)?;
            r.u64()?
        },
        materialized_bytes: r.u64()?,
        stored_bytes: r.u64()?,
        footer_offset: r.u64()?,
    };
    let bad = |what: &str| FormatError::invalid(format!("shard footer: {what}"));
    if footer.file_info_offset != HEADER_LEN as u64 || footer.xorb_info_offset != xorb_info_offset {
        return Err(bad("section offsets do not match the sections"));
    }
    if footer.footer_offset != footer_offset {
        return Err(bad("footer offset is not where the footer is"));
    }
    // The tables follow each other; overflow-checked because the counts are untrusted.
    let table_end = |offset: u64, num: u64, entry: u64| num.checked_mul(entry).and_then(|l| offset.checked_add(l));
    let layout_ok = footer.file_lookup_offset == sections_end
        && table_end(footer.file_lookup_offset, footer.file_lookup_num, FILE_LOOKUP_ENTRY)
            == Some(footer.xorb_lookup_offset)
        && table_end(footer.xorb_lookup_offset, footer.xorb_lookup_num, XORB_LOOKUP_ENTRY)
            == Some(footer.chunk_lookup_offset)
        && table_end(footer.chunk_lookup_offset, footer.chunk_lookup_num, CHUNK_LOOKUP_ENTRY)
            == Some(footer.footer_offset);
    if !layout_ok {
        return Err(bad("lookup tables do not fill the space between the xorb section and the footer"));
    }
    Ok(footer)
}

/// The dedup answer (§3.7): header with footer_size=200, empty file section, xorb blocks for `xorbs` with every chunk
/// hash replaced by hmac(key, hash), bookend, 200-byte footer with empty lookup tables, the key,
/// creation_ts=now_secs, key_expiry=now_secs+ttl_secs, stored byte counts filled in.
///
/// With `hmac_key` = ZERO the chunk hashes stay raw, since that is what a zero key means to the client; pass a fresh
/// random key per answer. `bytes_on_disk` of each xorb should be its stored size.
pub fn dedup_shard(xorbs: &[XorbInfo], hmac_key: XetHash, now_secs: u64, ttl_secs: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        HEADER_LEN
            + 2 * RECORD_LEN
            + xorbs.iter().map(|x| (1 + x.chunks.len()) * RECORD_LEN).sum::<usize>()
            + SHARD_FOOTER_LEN as usize,
    );
    out.extend_from_slice(&SHARD_HEADER_TAG);
    out.extend_from_slice(&SHARD_VERSION.to_le_bytes());
    out.extend_from_slice(&SHARD_FOOTER_LEN.to_le_bytes());
    let key = (hmac_key != XetHash::ZERO).then_some(&hmac_key);
    write_sections(&mut out, &[], xorbs, key);
    let footer_offset = out.len() as u64;
    let mut words = |v: u64| out.extend_from_slice(&v.to_le_bytes());
    words(SHARD_FOOTER_VERSION);
    words(HEADER_LEN as u64);
    words((HEADER_LEN + RECORD_LEN) as u64);
    // No lookup tables: each points at the footer with zero entries, as xet-core writes for these shards.
    for _ in 0..3 {
        words(footer_offset);
        words(0);
    }
    out.extend_from_slice(&hmac_key.0);
    out.extend_from_slice(&now_secs.to_le_bytes());
    out.extend_from_slice(&now_secs.saturating_add(ttl_secs).to_le_bytes());
    out.extend_from_slice(&[0; 48]);
    let on_disk: u64 = xorbs.iter().map(|x| u64::from(x.bytes_on_disk)).sum();
    let stored: u64 = xorbs.iter().map(|x| u64::from(x.unpacked_bytes)).sum();
    for v in [on_disk, 0, stored, footer_offset] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
