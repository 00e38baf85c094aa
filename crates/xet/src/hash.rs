//! Xet hashes: the 32-byte hash type with its string form, and every hash the protocol defines (chunk, xorb, file,
//! term verification, dedup HMAC).
//!
//! All of them are keyed BLAKE3; only the keys and the inputs differ. The xorb and file hashes are the root of a
//! Merkle tree with variable fan-out (see [`xorb_hash`]).

use std::fmt;
use std::str::FromStr;

use crate::FormatError;

/// Key of [`chunk_hash`] (spec hashing, `DATA_KEY`).
pub const DATA_KEY: [u8; 32] = [
    102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180,
    208, 176, 75, 147, 173, 242, 41,
];

/// Key of the Merkle tree's internal nodes (spec hashing, `INTERNAL_NODE_KEY`).
pub const INTERNAL_NODE_KEY: [u8; 32] = [
    1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55, 199, 109, 210, 248,
    99, 82, 230, 74, 83, 113, 63,
];

/// Key of [`verification_hash`] (spec hashing, `VERIFICATION_KEY`).
pub const VERIFICATION_KEY: [u8; 32] = [
    127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38, 213, 181, 219, 73, 230,
    65, 36, 152, 127, 40, 251, 148, 195,
];

/// A chunk whose hash is 0 modulo this (read as in [`is_global_dedup_eligible`]) is indexed for global dedup.
pub const GLOBAL_DEDUP_MODULUS: u64 = 1024;

/// A 32-byte Xet hash, kept as the raw bytes that appear in xorbs and shards.
///
/// Its text form (paths, JSON, `X-Xet-Hash`) is *not* plain hex of these bytes: see [`XetHash::hex`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct XetHash(pub [u8; 32]);

impl XetHash {
    /// All zero bytes: the hash of nothing (empty xorb or file) and "no HMAC key" in a shard footer.
    pub const ZERO: XetHash = XetHash([0; 32]);

    /// The Xet string form: each 8-byte group read as a little-endian u64 and printed as 16 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut out = [0u8; 64];
        write_hex(&self.0, &mut out);
        // Only ASCII hex digits were written.
        out.iter().map(|&b| b as char).collect()
    }

    /// Parses the Xet string form: exactly 64 hex digits (either case). The inverse of [`XetHash::hex`].
    pub fn from_hex(s: &str) -> Result<XetHash, FormatError> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(FormatError::invalid(format!("a hash is 64 hex digits, got {} characters", s.chars().count())));
        }
        let mut raw = [0u8; 32];
        for (group, digits) in b.chunks_exact(16).enumerate() {
            let mut v: u64 = 0;
            for &c in digits {
                // Checked by hand: u64::from_str_radix would also accept a leading '+'.
                let d = match c {
                    b'0'..=b'9' => c - b'0',
                    b'a'..=b'f' => c - b'a' + 10,
                    b'A'..=b'F' => c - b'A' + 10,
                    _ => return Err(FormatError::invalid("a hash may contain only hex digits")),
                };
                v = (v << 4) | u64::from(d);
            }
            raw[group * 8..group * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        Ok(XetHash(raw))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The last 8 bytes as a little-endian u64: the value the Merkle cut and dedup eligibility test.
    fn tail_u64(&self) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.0[24..32]);
        u64::from_le_bytes(w)
    }
}

/// Writes the 64-character string form of `raw` into `out`.
fn write_hex(raw: &[u8; 32], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (group, bytes) in raw.chunks_exact(8).enumerate() {
        // Reversing the group gives the big-endian digits of its little-endian u64.
        for (i, &byte) in bytes.iter().rev().enumerate() {
            let at = group * 16 + i * 2;
            out[at] = DIGITS[usize::from(byte >> 4)];
            out[at + 1] = DIGITS[usize::from(byte & 0xf)];
        }
    }
}

impl From<[u8; 32]> for XetHash {
    fn from(raw: [u8; 32]) -> Self {
        XetHash(raw)
    }
}

impl AsRef<[u8]> for XetHash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for XetHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for XetHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl FromStr for XetHash {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        XetHash::from_hex(s)
    }
}

impl serde::Serialize for XetHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.hex())
    }
}

impl<'de> serde::Deserialize<'de> for XetHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = XetHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 64-hex-digit Xet hash")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<XetHash, E> {
                XetHash::from_hex(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The hash of one chunk's uncompressed bytes.
pub fn chunk_hash(data: &[u8]) -> XetHash {
    XetHash(*blake3::keyed_hash(&DATA_KEY, data).as_bytes())
}

/// Groups never exceed this many children (2 × the mean fan-out 4, + 1).
const MAX_GROUP: usize = 9;
/// One `"{64 hex} : {u64 decimal}\n"` line is at most 64 + 3 + 20 + 1 bytes.
const MAX_LINE: usize = 88;

/// How many of `nodes` (from the front) form the next group of the Merkle pass.
fn next_cut(nodes: &[(XetHash, u64)]) -> usize {
    if nodes.len() <= 2 {
        return nodes.len();
    }
    let end = MAX_GROUP.min(nodes.len());
    // A node whose hash is 0 mod 4 closes the group; groups have at least 3 members unless at the end.
    (2..end).find(|&i| nodes[i].0.tail_u64().is_multiple_of(4)).map_or(end, |i| i + 1)
}

/// Hashes one group into its parent node: keyed BLAKE3 over `"{hex} : {size}\n"` per child; sizes add up.
fn merge(group: &[(XetHash, u64)]) -> (XetHash, u64) {
    let mut buf = [0u8; MAX_GROUP * MAX_LINE];
    let mut len = 0;
    let mut total = 0u64;
    for (hash, size) in group {
        write_hex(&hash.0, &mut buf[len..len + 64]);
        len += 64;
        buf[len..len + 3].copy_from_slice(b" : ");
        len += 3;
        let mut digits = [0u8; 20];
        let mut d = digits.len();
        let mut v = *size;
        loop {
            d -= 1;
            digits[d] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        buf[len..len + (20 - d)].copy_from_slice(&digits[d..]);
        len += 20 - d;
        buf[len] = b'\n';
        len += 1;
        // Sizes are u64 in the reference too; wrapping only matters for inputs no xorb or file can have.
        total = total.wrapping_add(*size);
    }
    (XetHash(*blake3::keyed_hash(&INTERNAL_NODE_KEY, &buf[..len]).as_bytes()), total)
}

/// The root of the aggregated (variable fan-out) Merkle tree over `(hash, size)` leaves; ZERO when empty.
fn merkle_root(leaves: &[(XetHash, u64)]) -> XetHash {
    if leaves.is_empty() {
        return XetHash::ZERO;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        // Each pass shrinks the level in place: the write index never passes the read index.
        let (mut read, mut write) = (0, 0);
        while read < level.len() {
            let cut = next_cut(&level[read..]);
            level[write] = merge(&level[read..read + cut]);
            write += 1;
            read += cut;
        }
        level.truncate(write);
    }
    level[0].0
}

/// The xorb hash: Merkle root over the xorb's `(chunk hash, uncompressed size)` list, in xorb order.
///
/// Groups are cut where a hash is 0 mod 4 (3 to 9 children, a final group of 1 or 2), each group hashed as text;
/// passes repeat until one node is left. Empty gives ZERO; a single chunk gives that chunk's hash.
pub fn xorb_hash(chunks: &[(XetHash, u64)]) -> XetHash {
    merkle_root(chunks)
}

/// The file hash: the same tree over the file's chunks in file order, then keyed with 32 zero bytes. Empty → ZERO.
pub fn file_hash(chunks: &[(XetHash, u64)]) -> XetHash {
    file_hash_with_salt(chunks, &[0; 32])
}

/// [`file_hash`] with another key than zeros (the reference implementation's salted variant; kept for its vectors).
pub fn file_hash_with_salt(chunks: &[(XetHash, u64)], salt: &[u8; 32]) -> XetHash {
    if chunks.is_empty() {
        return XetHash::ZERO;
    }
    hmac(&XetHash(*salt), &merkle_root(chunks))
}

/// A shard term's verification hash: keyed BLAKE3 over the raw chunk hashes of the term, concatenated.
pub fn verification_hash(chunk_hashes: &[XetHash]) -> XetHash {
    let mut hasher = blake3::Hasher::new_keyed(&VERIFICATION_KEY);
    for h in chunk_hashes {
        hasher.update(&h.0);
    }
    XetHash(*hasher.finalize().as_bytes())
}

/// The dedup-shard "HMAC" of a chunk hash: keyed BLAKE3 with `key` over the raw hash (not RFC 2104).
pub fn hmac(key: &XetHash, hash: &XetHash) -> XetHash {
    XetHash(*blake3::keyed_hash(&key.0, &hash.0).as_bytes())
}

/// Whether a chunk hash is indexed for global dedup by its value alone (u64 of bytes 24..32, LE, ≡ 0 mod 1024).
///
/// The first chunk of every file and chunks flagged in a shard are eligible too; callers add those.
pub fn is_global_dedup_eligible(hash: &XetHash) -> bool {
    hash.tail_u64().is_multiple_of(GLOBAL_DEDUP_MODULUS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_case() {
        let mut raw = [0u8; 32];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = i as u8;
        }
        let h = XetHash(raw);
        assert_eq!(h.hex(), "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918");
        assert_eq!(XetHash::from_hex(&h.hex().to_uppercase()).unwrap(), h);
        assert!(XetHash::from_hex(&h.hex()[..62]).is_err());
        assert!(XetHash::from_hex(&format!("+{}", &h.hex()[1..])).is_err());
        assert!(XetHash::from_hex(&format!("{}é", &h.hex()[..62])).is_err());
    }

    #[test]
    fn cut_rule_needs_three_unless_at_end() {
        assert_eq!(next_cut(&[(XetHash::ZERO, 1); 2]), 2);
        // ZERO is 0 mod 4, so the third node closes a group of 3.
        assert_eq!(next_cut(&[(XetHash::ZERO, 1); 12]), 3);
        let odd = XetHash([1; 32]);
        assert_eq!(next_cut(&[(odd, 1); 12]), 9);
    }
}
