//! Xorbs: the serialized chunk containers clients upload (spec xorb).
//!
//! A xorb is a run of `[8-byte header][payload]` records, optionally followed by a `XorbObjectInfoV1` footer that
//! starts with the ASCII ident `XETBLOB`. [`XorbValidator`] checks an upload as it streams in and yields the
//! [`XorbIndex`] the server keeps beside the stored bytes; [`decode_chunks`] turns stored byte ranges back into data.
//!
//! Everything here treats its input as hostile: every length is checked against the client's own limits before it
//! is used, and decompression output is bounded by the header's length.

use std::io::{Read, Write};

use crate::hash::{chunk_hash, xorb_hash, XetHash};
use crate::FormatError;

/// Largest uncompressed chunk the client writes (2 × its 64 KiB target); it enforces this strictly.
pub const MAX_CHUNK_UNPACKED: u32 = 128 * 1024;
/// Largest compressed payload the client accepts in a chunk header (`XorbChunkHeader::validate`: 2 × max chunk).
pub const MAX_CHUNK_COMPRESSED: u32 = 256 * 1024;
/// Most chunks the client puts in one xorb.
pub const MAX_XORB_CHUNKS: usize = 8192;
/// Most uncompressed bytes the client puts in one xorb.
pub const MAX_XORB_UNPACKED: u64 = 64 * 1024 * 1024;
/// Cap on a serialized xorb: the unpacked cap, 8 header bytes per chunk, and 1 MiB for an optional footer.
///
/// Not 64 MiB: real xorbs exceed that (observed 64 MiB + 7,566 B), since the client caps the *unpacked* size.
pub const MAX_XORB_BYTES: u64 = MAX_XORB_UNPACKED + 8 * MAX_XORB_CHUNKS as u64 + 1024 * 1024;

/// The 7 bytes that start a xorb footer where a chunk header would otherwise be.
pub const FOOTER_IDENT: [u8; 7] = *b"XETBLOB";
const FOOTER_VERSION: u8 = 1;
const FOOTER_HASHES_IDENT: [u8; 7] = *b"XBLBHSH";
const FOOTER_HASHES_VERSION: u8 = 0;
const FOOTER_BOUNDARIES_IDENT: [u8; 7] = *b"XBLBBND";
const FOOTER_BOUNDARIES_VERSION: u8 = 1;
const FOOTER_NONCE_LEN: usize = 16;

/// How a chunk's payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Scheme {
    /// Stored as is (the client's choice when compression does not help).
    None = 0,
    /// One or more LZ4 *frames* (not raw blocks).
    Lz4 = 1,
    /// Byte-grouped by 4 (bytes k, k+4, k+8… together, for k = 0..3), then LZ4 frames.
    ByteGrouping4Lz4 = 2,
}

impl Scheme {
    /// The scheme with this wire number, if any.
    pub fn from_u8(v: u8) -> Option<Scheme> {
        match v {
            0 => Some(Scheme::None),
            1 => Some(Scheme::Lz4),
            2 => Some(Scheme::ByteGrouping4Lz4),
            _ => None,
        }
    }
}

/// A parsed chunk header: `version u8 (0) | compressed_len u24 LE | scheme u8 | uncompressed_len u24 LE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Length of the payload that follows the header.
    pub compressed_len: u32,
    /// How the payload is encoded.
    pub scheme: Scheme,
    /// Length of the chunk once decoded.
    pub uncompressed_len: u32,
}

fn u24(b: &[u8]) -> u32 {
    u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16
}

impl ChunkHeader {
    /// Serialized length of a header.
    pub const LEN: usize = 8;

    /// Parses and checks a header: version 0, a known scheme, lengths within the client's limits, no empty chunk,
    /// and for scheme None equal lengths. Bytes starting with the footer ident are rejected: callers that accept a
    /// footer look for it first.
    pub fn parse(b: &[u8; 8]) -> Result<ChunkHeader, FormatError> {
        if b[..7] == FOOTER_IDENT {
            return Err(FormatError::invalid("found the xorb footer ident XETBLOB where a chunk header was expected"));
        }
        if b[0] != 0 {
            return Err(FormatError::invalid(format!("chunk header version {} (only 0 exists)", b[0])));
        }
        let scheme = Scheme::from_u8(b[4])
            .ok_or_else(|| FormatError::invalid(format!("unknown chunk compression scheme {}", b[4])))?;
        let header = ChunkHeader { compressed_len: u24(&b[1..4]), scheme, uncompressed_len: u24(&b[5..8]) };
        if header.uncompressed_len > MAX_CHUNK_UNPACKED {
            return Err(FormatError::too_large(format!(
                "chunk of {} bytes uncompressed (at most {MAX_CHUNK_UNPACKED})",
                header.uncompressed_len
            )));
        }
        if header.compressed_len > MAX_CHUNK_COMPRESSED {
            return Err(FormatError::too_large(format!(
                "chunk payload of {} bytes (at most {MAX_CHUNK_COMPRESSED})",
                header.compressed_len
            )));
        }
        // Stricter than the client, which never writes empty chunks (empty files do not reach Xet at all).
        if header.uncompressed_len == 0 {
            return Err(FormatError::invalid("empty chunk"));
        }
        if scheme == Scheme::None && header.compressed_len != header.uncompressed_len {
            return Err(FormatError::invalid(format!(
                "uncompressed chunk whose lengths differ ({} stored, {} declared)",
                header.compressed_len, header.uncompressed_len
            )));
        }
        Ok(header)
    }

    /// The 8 header bytes. Lengths above 24 bits are truncated; [`ChunkHeader::parse`] never yields such lengths.
    pub fn to_bytes(&self) -> [u8; 8] {
        let c = self.compressed_len.to_le_bytes();
        let u = self.uncompressed_len.to_le_bytes();
        [0, c[0], c[1], c[2], self.scheme as u8, u[0], u[1], u[2]]
    }
}

/// Decodes LZ4 frames from `payload`, appending exactly `expected` bytes to `out` or failing.
fn lz4_decode_into(payload: &[u8], expected: usize, out: &mut Vec<u8>) -> Result<(), FormatError> {
    out.reserve(expected);
    // One byte more than allowed tells "too much" from "exactly right" without decoding the whole bomb; the same
    // decoder as the client (lz4_flex) so that a payload we accept is one the client can read back.
    let limit = expected as u64 + 1;
    let mut reader = lz4_flex::frame::FrameDecoder::new(payload).take(limit);
    match reader.read_to_end(out) {
        Err(e) => Err(FormatError::invalid(format!("bad LZ4 frame in chunk payload: {e}"))),
        Ok(n) if n > expected => Err(FormatError::invalid(format!(
            "chunk payload decompresses to more than the {expected} bytes its header declares"
        ))),
        Ok(n) if n < expected => Err(FormatError::invalid(format!(
            "chunk payload decompresses to {n} bytes, its header declares {expected}"
        ))),
        Ok(_) => Ok(()),
    }
}

/// Undoes the 4-way byte grouping: `grouped` holds groups k = 0..3 of sizes q+1 (k < r) or q, for n = 4q + r.
fn bg4_regroup_into(grouped: &[u8], out: &mut Vec<u8>) {
    let n = grouped.len();
    let (q, r) = (n / 4, n % 4);
    let (g0, rest) = grouped.split_at(q + usize::from(r > 0));
    let (g1, rest) = rest.split_at(q + usize::from(r > 1));
    let (g2, g3) = rest.split_at(q + usize::from(r > 2));
    out.reserve(n);
    for i in 0..q {
        out.extend_from_slice(&[g0[i], g1[i], g2[i], g3[i]]);
    }
    // The tail bytes live at index q of the first r groups.
    for g in [g0, g1, g2].into_iter().take(r) {
        out.push(g[q]);
    }
}

/// Splits data into its 4 byte groups (inverse of [`bg4_regroup_into`]).
fn bg4_split(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for k in 0..4 {
        out.extend(data.iter().skip(k).step_by(4));
    }
    out
}

/// Decodes one chunk payload into `out` (appends), bounded to header.uncompressed_len (a decompression bomb or short
/// output is an error). On error `out` is left as it was.
pub fn decode_chunk(header: &ChunkHeader, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
    if payload.len() != header.compressed_len as usize {
        return Err(FormatError::invalid(format!(
            "chunk payload is {} bytes, its header declares {}",
            payload.len(),
            header.compressed_len
        )));
    }
    let expected = header.uncompressed_len as usize;
    let start = out.len();
    let result = match header.scheme {
        Scheme::None if payload.len() == expected => {
            out.extend_from_slice(payload);
            Ok(())
        }
        Scheme::None => Err(FormatError::invalid("uncompressed chunk whose lengths differ")),
        Scheme::Lz4 => lz4_decode_into(payload, expected, out),
        Scheme::ByteGrouping4Lz4 => {
            let mut grouped = Vec::new();
            lz4_decode_into(payload, expected, &mut grouped).map(|()| bg4_regroup_into(&grouped, out))
        }
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Encodes a chunk as header + payload with exactly the given scheme (no fallback to None when compression does not
/// help, unlike the client), so tests can produce every scheme. LZ4 uses lz4_flex's default frame settings, as the
/// client does.
///
/// # Panics
/// If `data` or its encoding exceed the 24-bit length fields (16 MiB); real chunks are at most 128 KiB.
pub fn encode_chunk(data: &[u8], scheme: Scheme) -> Vec<u8> {
    fn lz4_frame(data: &[u8]) -> Vec<u8> {
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2 + 64));
        // Writing into a Vec cannot fail.
        enc.write_all(data).expect("LZ4 into a Vec");
        enc.finish().expect("LZ4 into a Vec")
    }
    let payload = match scheme {
        Scheme::None => data.to_vec(),
        Scheme::Lz4 => lz4_frame(data),
        Scheme::ByteGrouping4Lz4 => lz4_frame(&bg4_split(data)),
    };
    assert!(data.len() < 1 << 24 && payload.len() < 1 << 24, "chunk too large for a 24-bit length");
    let header =
        ChunkHeader { compressed_len: payload.len() as u32, scheme, uncompressed_len: data.len() as u32 }.to_bytes();
    let mut out = Vec::with_capacity(ChunkHeader::LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&payload);
    out
}

/// Decodes a contiguous run of whole chunks (header + payload, …) as served from storage, passing each decoded chunk
/// to `sink` in order. Returns the total decoded bytes. A footer, a partial chunk or any bad chunk is an error
/// (the sink may already have received the chunks before it).
pub fn decode_chunks(mut bytes: &[u8], mut sink: impl FnMut(&[u8])) -> Result<u64, FormatError> {
    let mut scratch = Vec::new();
    let mut total = 0u64;
    while !bytes.is_empty() {
        let Some((head, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(FormatError::Truncated("chunk header"));
        };
        let header = ChunkHeader::parse(head)?;
        let len = header.compressed_len as usize;
        if rest.len() < len {
            return Err(FormatError::Truncated("chunk payload"));
        }
        scratch.clear();
        decode_chunk(&header, &rest[..len], &mut scratch)?;
        sink(&scratch);
        total += u64::from(header.uncompressed_len);
        bytes = &rest[len..];
    }
    Ok(total)
}

/// Where one chunk sits in a stored xorb and in its decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkEntry {
    /// The chunk hash of the decoded bytes.
    pub hash: XetHash,
    /// Offset of its 8-byte header in the serialized xorb.
    pub byte_start: u32,
    /// Exclusive end of its payload in the serialized xorb.
    pub byte_end: u32,
    /// Offset of its bytes in the xorb's decoded (unpacked) bytes.
    pub unpacked_start: u32,
    /// Its decoded length.
    pub unpacked_len: u32,
}

/// The per-xorb chunk index the server keeps beside each stored xorb: enough to answer reconstructions (byte ranges
/// of chunk runs), check shards (hashes, sizes) and serve plain bytes. Describes the chunk region only; a footer, if
/// the upload had one, lies beyond [`XorbIndex::chunk_region_len`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbIndex {
    /// The xorb hash (computed, and equal to the one the upload claimed).
    pub hash: XetHash,
    /// The chunks in xorb order; contiguous from byte 0 and unpacked offset 0.
    pub chunks: Vec<ChunkEntry>,
}

/// Magic of the [`XorbIndex`] storage format; the trailing digit is the format version.
const INDEX_MAGIC: [u8; 8] = *b"GHXIDX\0\x01";
const INDEX_HEADER_LEN: usize = 8 + 4 + 32;
const INDEX_ENTRY_LEN: usize = 32 + 4 + 4;
const INDEX_CHECKSUM_LEN: usize = 32;

impl XorbIndex {
    /// Total decoded bytes of the xorb.
    pub fn unpacked_len(&self) -> u64 {
        self.chunks.last().map_or(0, |c| u64::from(c.unpacked_start) + u64::from(c.unpacked_len))
    }

    /// Length of the chunk region of the serialized xorb (= last `byte_end`): the bytes to store and serve.
    pub fn chunk_region_len(&self) -> u64 {
        self.chunks.last().map_or(0, |c| u64::from(c.byte_end))
    }

    /// The `(chunk hash, decoded size)` list the xorb and file hashes are computed over.
    pub fn hashes_and_sizes(&self) -> Vec<(XetHash, u64)> {
        self.chunks.iter().map(|c| (c.hash, u64::from(c.unpacked_len))).collect()
    }

    /// Our storage format (not a Xet format): magic+version, chunk count, xorb hash, then per chunk its hash, byte
    /// end and decoded length (starts follow from contiguity), then a BLAKE3 checksum of all that. 40 B a chunk.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(INDEX_HEADER_LEN + INDEX_ENTRY_LEN * self.chunks.len() + INDEX_CHECKSUM_LEN);
        out.extend_from_slice(&INDEX_MAGIC);
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.hash.0);
        for c in &self.chunks {
            out.extend_from_slice(&c.hash.0);
            out.extend_from_slice(&c.byte_end.to_le_bytes());
            out.extend_from_slice(&c.unpacked_len.to_le_bytes());
        }
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        out
    }

    /// Reads [`XorbIndex::to_bytes`] output back, checking the checksum, the limits, that offsets grow as real chunks
    /// would, and that the chunk list hashes to the stored xorb hash.
    pub fn from_bytes(b: &[u8]) -> Result<XorbIndex, FormatError> {
        if b.len() < INDEX_HEADER_LEN + INDEX_CHECKSUM_LEN {
            return Err(FormatError::Truncated("xorb index"));
        }
        if b[..8] != INDEX_MAGIC {
            return Err(FormatError::invalid("not a xorb index (bad magic or version)"));
        }
        let mut r = Reader::new(&b[8..]);
        let n = r.u32()? as usize;
        if n == 0 || n > MAX_XORB_CHUNKS {
            return Err(FormatError::invalid(format!("xorb index with {n} chunks")));
        }
        if b.len() != INDEX_HEADER_LEN + INDEX_ENTRY_LEN * n + INDEX_CHECKSUM_LEN {
            return Err(FormatError::invalid("xorb index length does not match its chunk count"));
        }
        let (body, checksum) = b.split_at(b.len() - INDEX_CHECKSUM_LEN);
        if blake3::hash(body).as_bytes() != checksum {
            return Err(FormatError::invalid("xorb index checksum mismatch"));
        }
        let hash = r.hash()?;
        let mut chunks = Vec::with_capacity(n);
        let (mut byte_start, mut unpacked_start) = (0u32, 0u64);
        for _ in 0..n {
            let chunk_hash = r.hash()?;
            let byte_end = r.u32()?;
            let unpacked_len = r.u32()?;
            let payload = byte_end.checked_sub(byte_start).and_then(|l| l.checked_sub(ChunkHeader::LEN as u32));
            if !matches!(payload, Some(p) if (1..=MAX_CHUNK_COMPRESSED).contains(&p)) {
                return Err(FormatError::invalid("xorb index chunk offsets are not those of a valid chunk"));
            }
            if unpacked_len == 0 || unpacked_len > MAX_CHUNK_UNPACKED {
                return Err(FormatError::invalid("xorb index chunk length out of range"));
            }
            if unpacked_start + u64::from(unpacked_len) > MAX_XORB_UNPACKED {
                return Err(FormatError::too_large("xorb index decodes to more than 64 MiB"));
            }
            chunks.push(ChunkEntry {
                hash: chunk_hash,
                byte_start,
                byte_end,
                unpacked_start: unpacked_start as u32,
                unpacked_len,
            });
            byte_start = byte_end;
            unpacked_start += u64::from(unpacked_len);
        }
        if u64::from(byte_start) > MAX_XORB_BYTES {
            return Err(FormatError::too_large("xorb index describes more bytes than a xorb may have"));
        }
        let index = XorbIndex { hash, chunks };
        let computed = xorb_hash(&index.hashes_and_sizes());
        if computed != hash {
            return Err(FormatError::HashMismatch { expected: hash.hex(), actual: computed.hex() });
        }
        Ok(index)
    }
}

/// Little-endian cursor over a byte slice; running out is [`FormatError::Truncated`] naming `what`.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0, what: "structure" }
    }

    /// The same cursor, naming `what` in truncation errors.
    pub(crate) fn named(b: &'a [u8], what: &'static str) -> Self {
        Reader { b, pos: 0, what }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.remaining() < n {
            return Err(FormatError::Truncated(self.what));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FormatError> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FormatError> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn hash(&mut self) -> Result<XetHash, FormatError> {
        self.array().map(XetHash)
    }
}

/// What the validator expects next.
#[derive(Debug, Clone, Copy)]
enum State {
    /// A chunk header (or the footer ident); `pending` holds the bytes seen so far.
    Header,
    /// The payload of this chunk; `pending` holds the bytes seen so far when they came split.
    Payload(ChunkHeader),
    /// Everything left is the footer, collected in `footer`.
    Footer,
}

/// Streaming validator: feed the body as it arrives (arbitrary split points); memory stays O(one chunk) plus the
/// index (40 B a chunk) and an optional footer (bounded by [`MAX_XORB_BYTES`]).
///
/// Every chunk is decoded (bounded) and hashed as soon as it is complete; the xorb hash is compared at
/// [`XorbValidator::finish`]. A footer (`XETBLOB` at a record boundary) is checked fully: ident and versions, the
/// xorb hash, every chunk hash, every compressed and unpacked boundary, the section offsets and the trailing
/// length; legacy v0 footers are refused. After an error the validator keeps returning that error.
pub struct XorbValidator {
    expected: XetHash,
    received: u64,
    state: State,
    pending: Vec<u8>,
    footer: Vec<u8>,
    chunks: Vec<ChunkEntry>,
    /// Serialized offset of the next record.
    offset: u32,
    unpacked: u64,
    /// Reused decode buffer (one chunk).
    scratch: Vec<u8>,
    failed: Option<FormatError>,
}

impl std::fmt::Debug for XorbValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the buffers: they can hold a chunk or a footer.
        f.debug_struct("XorbValidator")
            .field("expected", &self.expected)
            .field("received", &self.received)
            .field("state", &self.state)
            .field("chunks", &self.chunks.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl XorbValidator {
    /// A validator for an upload that claims to hash to `expected`.
    pub fn new(expected: XetHash) -> Self {
        XorbValidator {
            expected,
            received: 0,
            state: State::Header,
            pending: Vec::new(),
            footer: Vec::new(),
            chunks: Vec::new(),
            offset: 0,
            unpacked: 0,
            scratch: Vec::new(),
            failed: None,
        }
    }

    /// Bytes received so far; beyond the final index's [`XorbIndex::chunk_region_len`] they are the footer.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Feeds the next bytes. Fails early on a bad header, over-limit counts or sizes, bad compression, or more than
    /// [`MAX_XORB_BYTES`] in total.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FormatError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.push_inner(bytes);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn push_inner(&mut self, mut bytes: &[u8]) -> Result<(), FormatError> {
        self.received += bytes.len() as u64;
        if self.received > MAX_XORB_BYTES {
            return Err(FormatError::too_large(format!("xorb body over {MAX_XORB_BYTES} bytes")));
        }
        while !bytes.is_empty() {
            match self.state {
                State::Footer => {
                    // A footer's size follows from the chunk count; refusing more keeps junk after XETBLOB from
                    // being buffered up to the body cap.
                    if (self.footer.len() + bytes.len()) as u64 > footer_len(self.chunks.len()) {
                        return Err(FormatError::invalid("xorb footer: longer than a footer for these chunks"));
                    }
                    self.footer.extend_from_slice(bytes);
                    return Ok(());
                }
                State::Header => {
                    let take = (ChunkHeader::LEN - self.pending.len()).min(bytes.len());
                    self.pending.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    let Some(head) = self.pending.first_chunk::<8>().copied() else {
                        continue;
                    };
                    self.pending.clear();
                    if head[..7] == FOOTER_IDENT {
                        self.state = State::Footer;
                        self.footer.extend_from_slice(&head);
                        continue;
                    }
                    let header = ChunkHeader::parse(&head)?;
                    if self.chunks.len() >= MAX_XORB_CHUNKS {
                        return Err(FormatError::too_large(format!("more than {MAX_XORB_CHUNKS} chunks in a xorb")));
                    }
                    if self.unpacked + u64::from(header.uncompressed_len) > MAX_XORB_UNPACKED {
                        return Err(FormatError::too_large(format!(
                            "xorb decodes to more than {MAX_XORB_UNPACKED} bytes"
                        )));
                    }
                    self.state = State::Payload(header);
                }
                State::Payload(header) => {
                    let need = header.compressed_len as usize - self.pending.len();
                    if self.pending.is_empty() && bytes.len() >= need {
                        // The whole payload is in this piece: decode it in place.
                        let (payload, rest) = bytes.split_at(need);
                        self.complete_chunk(&header, payload)?;
                        bytes = rest;
                    } else {
                        let take = need.min(bytes.len());
                        self.pending.extend_from_slice(&bytes[..take]);
                        bytes = &bytes[take..];
                        if self.pending.len() == header.compressed_len as usize {
                            let payload = std::mem::take(&mut self.pending);
                            let result = self.complete_chunk(&header, &payload);
                            self.pending = payload;
                            self.pending.clear();
                            result?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Decodes and hashes a complete chunk and records it.
    fn complete_chunk(&mut self, header: &ChunkHeader, payload: &[u8]) -> Result<(), FormatError> {
        self.scratch.clear();
        decode_chunk(header, payload, &mut self.scratch)?;
        // Offsets fit in u32: the running total is capped at MAX_XORB_BYTES (< 4 GiB).
        let byte_end = self.offset + ChunkHeader::LEN as u32 + header.compressed_len;
        self.chunks.push(ChunkEntry {
            hash: chunk_hash(&self.scratch),
            byte_start: self.offset,
            byte_end,
            unpacked_start: self.unpacked as u32,
            unpacked_len: header.uncompressed_len,
        });
        self.offset = byte_end;
        self.unpacked += u64::from(header.uncompressed_len);
        self.state = State::Header;
        Ok(())
    }

    /// Ends the upload: fails on truncation, zero chunks, a computed xorb hash other than the expected one
    /// ([`FormatError::HashMismatch`]), or a footer that disagrees with the chunks.
    pub fn finish(self) -> Result<XorbIndex, FormatError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.state {
            State::Header if !self.pending.is_empty() => return Err(FormatError::Truncated("chunk header")),
            State::Payload(_) => return Err(FormatError::Truncated("chunk payload")),
            _ => {}
        }
        if self.chunks.is_empty() {
            return Err(FormatError::invalid("a xorb needs at least one chunk"));
        }
        let index = XorbIndex { hash: self.expected, chunks: self.chunks };
        let computed = xorb_hash(&index.hashes_and_sizes());
        if computed != self.expected {
            return Err(FormatError::HashMismatch { expected: self.expected.hex(), actual: computed.hex() });
        }
        if matches!(self.state, State::Footer) {
            check_footer(&self.footer, &index)?;
        }
        Ok(index)
    }
}

/// Serialized length of a `XorbObjectInfoV1` footer for `n` chunks, trailing info length included: ident, version
/// and hash (40), the hash section (12 + 32n), the boundary section (12 + 8n), counts and offsets (12), the nonce
/// (16) and the info length (4).
fn footer_len(n: usize) -> u64 {
    96 + 40 * n as u64
}

/// Checks a `XorbObjectInfoV1` footer (+ trailing u32 info length) against the validated chunks.
fn check_footer(footer: &[u8], index: &XorbIndex) -> Result<(), FormatError> {
    let bad = |what: &str| FormatError::invalid(format!("xorb footer: {what}"));
    let mut r = Reader::named(footer, "xorb footer");
    let n = index.chunks.len();
    if r.array::<7>()? != FOOTER_IDENT {
        return Err(bad("bad ident"));
    }
    match r.u8()? {
        FOOTER_VERSION => {}
        0 => return Err(bad("legacy version 0 footers are not accepted")),
        v => return Err(bad(&format!("unknown version {v}"))),
    }
    if r.hash()? != index.hash {
        return Err(bad("names another xorb hash than its content has"));
    }
    let hashes_at = r.pos();
    if r.array::<7>()? != FOOTER_HASHES_IDENT || r.u8()? != FOOTER_HASHES_VERSION {
        return Err(bad("bad hash section ident or version"));
    }
    if r.u32()? as usize != n {
        return Err(bad("hash section chunk count differs from the chunks"));
    }
    for c in &index.chunks {
        if r.hash()? != c.hash {
            return Err(bad("a chunk hash differs from the chunk's content"));
        }
    }
    let boundaries_at = r.pos();
    if r.array::<7>()? != FOOTER_BOUNDARIES_IDENT || r.u8()? != FOOTER_BOUNDARIES_VERSION {
        return Err(bad("bad boundary section ident or version"));
    }
    if r.u32()? as usize != n {
        return Err(bad("boundary section chunk count differs from the chunks"));
    }
    for c in &index.chunks {
        if r.u32()? != c.byte_end {
            return Err(bad("a chunk boundary differs from the chunks"));
        }
    }
    for c in &index.chunks {
        if r.u32()? != c.unpacked_start + c.unpacked_len {
            return Err(bad("an unpacked chunk boundary differs from the chunks"));
        }
    }
    if r.u32()? as usize != n {
        return Err(bad("chunk count differs from the chunks"));
    }
    let hashes_from_end = r.u32()? as usize;
    let boundaries_from_end = r.u32()? as usize;
    r.bytes(FOOTER_NONCE_LEN)?;
    let info_end = r.pos();
    if hashes_from_end != info_end - hashes_at || boundaries_from_end != info_end - boundaries_at {
        return Err(bad("section offsets are wrong"));
    }
    if r.u32()? as usize != info_end {
        return Err(bad("info length is wrong"));
    }
    if r.remaining() != 0 {
        return Err(bad("bytes after the footer"));
    }
    Ok(())
}

/// Serializes a `XorbObjectInfoV1` footer (+ trailing info length) for the chunks of `index`, as the client would
/// (zero nonce). For tests of the footer path; the 1.8.0 client never sends one.
pub fn footer_bytes(index: &XorbIndex) -> Vec<u8> {
    let n = index.chunks.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&FOOTER_IDENT);
    out.push(FOOTER_VERSION);
    out.extend_from_slice(&index.hash.0);
    let hashes_at = out.len();
    out.extend_from_slice(&FOOTER_HASHES_IDENT);
    out.push(FOOTER_HASHES_VERSION);
    out.extend_from_slice(&n.to_le_bytes());
    for c in &index.chunks {
        out.extend_from_slice(&c.hash.0);
    }
    let boundaries_at = out.len();
    out.extend_from_slice(&FOOTER_BOUNDARIES_IDENT);
    out.push(FOOTER_BOUNDARIES_VERSION);
    out.extend_from_slice(&n.to_le_bytes());
    for c in &index.chunks {
        out.extend_from_slice(&c.byte_end.to_le_bytes());
    }
    for c in &index.chunks {
        out.extend_from_slice(&(c.unpacked_start + c.unpacked_len).to_le_bytes());
    }
    out.extend_from_slice(&n.to_le_bytes());
    // Both offsets count to the end of the info, which is 12 + 16 bytes further on.
    let end = out.len() + 4 + 4 + FOOTER_NONCE_LEN;
    out.extend_from_slice(&((end - hashes_at) as u32).to_le_bytes());
    out.extend_from_slice(&((end - boundaries_at) as u32).to_le_bytes());
    out.extend_from_slice(&[0; FOOTER_NONCE_LEN]);
    out.extend_from_slice(&(out.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bg4_round_trips_every_remainder() {
        for n in 0..20usize {
            let data: Vec<u8> = (0..n as u8).collect();
            let mut out = Vec::new();
            bg4_regroup_into(&bg4_split(&data), &mut out);
            assert_eq!(out, data, "n = {n}");
        }
    }

    #[test]
    fn footer_ident_is_not_a_header() {
        let mut b = [0u8; 8];
        b[..7].copy_from_slice(b"XETBLOB");
        assert!(ChunkHeader::parse(&b).is_err());
    }
}
