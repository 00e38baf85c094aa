//! Content-defined chunking exactly as the Xet client does it (spec chunking; README §3.4): a gear hash over the
//! bytes, a boundary where `hash & MASK == 0`, never before [`MIN_CHUNK`] bytes and always at [`MAX_CHUNK`].
//!
//! The server needs it only to turn plain or LFS uploads into xorbs that dedup against what clients upload.

/// Chunks are never shorter than this (except the last one of the data).
pub const MIN_CHUNK: usize = 8 * 1024;
/// Chunks are cut here at the latest.
pub const MAX_CHUNK: usize = 128 * 1024;
/// A boundary is where the gear hash has these bits all zero (16 bits: 64 KiB average past the minimum).
pub const MASK: u64 = 0xFFFF_0000_0000_0000;

/// The exclusive end offset of each chunk of `data`, in order (the last is `data.len()`; empty data gives none).
pub fn chunk_boundaries(data: &[u8]) -> Vec<usize> {
    let mut ends = Vec::with_capacity(data.len() / (64 * 1024) + 1);
    let mut start = 0;
    while start < data.len() {
        let limit = (start + MAX_CHUNK).min(data.len());
        // The hash is reset at each cut, and a shift-left gear hash forgets all but the last 64 bytes, so starting
        // it 64 bytes before the first allowed boundary gives the same values as hashing the whole chunk.
        let first_test = start + MIN_CHUNK - 1;
        let end = if first_test >= limit {
            limit
        } else {
            let mut hasher = gearhash::Hasher::default();
            hasher.update(&data[first_test + 1 - 64..first_test]);
            match hasher.next_match(&data[first_test..limit], MASK) {
                Some(n) => first_test + n,
                None => limit,
            }
        };
        ends.push(end);
        start = end;
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, byte by byte, for comparison.
    fn reference(data: &[u8]) -> Vec<usize> {
        let (mut out, mut start, mut h) = (Vec::new(), 0usize, 0u64);
        for (i, &b) in data.iter().enumerate() {
            h = (h << 1).wrapping_add(gearhash::DEFAULT_TABLE[b as usize]);
            let size = i + 1 - start;
            if size >= MIN_CHUNK && (size >= MAX_CHUNK || h & MASK == 0) {
                out.push(i + 1);
                start = i + 1;
                h = 0;
            }
        }
        if start < data.len() {
            out.push(data.len());
        }
        out
    }

    #[test]
    fn matches_the_definition() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..3_000_000)
            .map(|i| {
                // Long runs of zeros exercise the forced cut at MAX_CHUNK.
                if (1_000_000..1_400_000).contains(&i) {
                    return 0;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in [0, 1, MIN_CHUNK - 1, MIN_CHUNK, MIN_CHUNK + 1, MAX_CHUNK + 5, data.len()] {
            assert_eq!(chunk_boundaries(&data[..len]), reference(&data[..len]), "len {len}");
        }
    }
}
