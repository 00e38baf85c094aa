//! Range arithmetic: which chunks of which xorbs make up bytes `[start, end)` of a Xet file, and which
//! byte ranges of the stored xorbs hold them. Pure functions over a file's terms and the xorbs' chunk
//! indexes, shared by reconstructions (the client fetches and decodes) and plain serving (we do).

use gatehouse_types::{Error, Result};
use gatehouse_xet::xorb::XorbIndex;
use gatehouse_xet::XetHash;
use std::collections::BTreeMap;

/// Chunks `[chunk_start, chunk_end)` of one xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub xorb: XetHash,
    pub chunk_start: u32,
    pub chunk_end: u32,
    /// Unpacked bytes of those chunks.
    pub unpacked_len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Bytes to skip in the first piece's unpacked output (the range may start mid-chunk).
    pub offset_into_first: u64,
    pub pieces: Vec<Piece>,
}

/// A term of the file: chunks `[start, end)` of `xorb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub xorb: XetHash,
    pub chunk_start: u32,
    pub chunk_end: u32,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::internal(format!("Xet index inconsistent: {what}"))
}

/// The pieces covering bytes `[start, end)` (`start < end <= file size`), trimmed to the chunks that
/// overlap the range. `index` yields the chunk index of each xorb a term names.
pub fn plan<'a>(
    terms: &[Term],
    index: impl Fn(&XetHash) -> Option<&'a XorbIndex>,
    start: u64,
    end: u64,
) -> Result<Plan> {
    let mut pieces = Vec::new();
    let mut offset_into_first = 0;
    let mut pos = 0u64; // file offset of the current chunk
    for t in terms {
        let ix = index(&t.xorb).ok_or_else(|| corrupt(format!("no index for xorb {}", t.xorb)))?;
        let chunks = ix
            .chunks
            .get(t.chunk_start as usize..t.chunk_end as usize)
            .ok_or_else(|| corrupt(format!("term {}..{} outside xorb {}", t.chunk_start, t.chunk_end, t.xorb)))?;
        let mut first = None;
        let mut last = 0;
        let mut len = 0u64;
        for (i, c) in chunks.iter().enumerate() {
            let (c_start, c_end) = (pos, pos + u64::from(c.unpacked_len));
            pos = c_end;
            if c_end <= start || c_start >= end {
                continue;
            }
            if first.is_none() {
                first = Some(i);
                if pieces.is_empty() {
                    offset_into_first = start - c_start;
                }
            }
            last = i;
            len += u64::from(c.unpacked_len);
        }
        if let Some(first) = first {
            pieces.push(Piece {
                xorb: t.xorb,
                chunk_start: t.chunk_start + first as u32,
                chunk_end: t.chunk_start + last as u32 + 1,
                unpacked_len: len,
            });
        }
        if pos >= end {
            break;
        }
    }
    if pos < end {
        return Err(corrupt(format!("terms cover {pos} bytes, range ends at {end}")));
    }
    Ok(Plan { offset_into_first, pieces })
}

/// A contiguous run of chunks of one xorb and where it lies in the stored xorb (`byte_end` exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRange {
    pub chunk_start: u32,
    pub chunk_end: u32,
    pub byte_start: u64,
    pub byte_end: u64,
}

/// Where in the stored xorb chunks `[start, end)` lie.
pub fn byte_range(ix: &XorbIndex, start: u32, end: u32) -> Result<(u64, u64)> {
    let (Some(a), Some(b)) =
        (ix.chunks.get(start as usize), end.checked_sub(1).and_then(|e| ix.chunks.get(e as usize)))
    else {
        return Err(corrupt(format!("chunks {start}..{end} outside xorb {}", ix.hash)));
    };
    Ok((u64::from(a.byte_start), u64::from(b.byte_end)))
}

/// The pieces grouped by xorb, overlapping or adjacent chunk ranges merged, sorted by chunk.
pub fn fetch_ranges<'a>(
    pieces: &[Piece],
    index: impl Fn(&XetHash) -> Option<&'a XorbIndex>,
) -> Result<BTreeMap<XetHash, Vec<FetchRange>>> {
    let mut by_xorb: BTreeMap<XetHash, Vec<(u32, u32)>> = BTreeMap::new();
    for p in pieces {
        by_xorb.entry(p.xorb).or_default().push((p.chunk_start, p.chunk_end));
    }
    let mut out = BTreeMap::new();
    for (xorb, mut ranges) in by_xorb {
        let ix = index(&xorb).ok_or_else(|| corrupt(format!("no index for xorb {xorb}")))?;
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::new();
        for (s, e) in ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let ranges = merged
            .into_iter()
            .map(|(s, e)| {
                let (byte_start, byte_end) = byte_range(ix, s, e)?;
                Ok(FetchRange { chunk_start: s, chunk_end: e, byte_start, byte_end })
            })
            .collect::<Result<Vec<_>>>()?;
        out.insert(xorb, ranges);
    }
    Ok(out)
}

/// Splits pieces so none spans more than `max_chunks` chunks: plain serving decodes one piece at a
/// time, so this bounds its memory (chunks are at most 128 KiB unpacked).
pub fn split(pieces: Vec<Piece>, index: &dyn Fn(&XetHash) -> Option<Vec<u32>>, max_chunks: u32) -> Vec<Piece> {
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        if p.chunk_end - p.chunk_start <= max_chunks {
            out.push(p);
            continue;
        }
        let Some(sizes) = index(&p.xorb) else {
            out.push(p);
            continue;
        };
        let mut s = p.chunk_start;
        while s < p.chunk_end {
            let e = (s + max_chunks).min(p.chunk_end);
            let len = sizes.get(s as usize..e as usize).map_or(0, |c| c.iter().map(|&l| u64::from(l)).sum());
            out.push(Piece { xorb: p.xorb, chunk_start: s, chunk_end: e, unpacked_len: len });
            s = e;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_xet::xorb::ChunkEntry;

    /// A xorb whose chunks have the given unpacked sizes; stored sizes are unpacked + 8 (scheme none).
    fn xorb(n: u8, sizes: &[u32]) -> XorbIndex {
        let mut chunks = Vec::new();
        let (mut b, mut u) = (0u32, 0u32);
        for (i, &s) in sizes.iter().enumerate() {
            chunks.push(ChunkEntry {
                hash: XetHash([n.wrapping_add(i as u8); 32]),
                byte_start: b,
                byte_end: b + 8 + s,
                unpacked_start: u,
                unpacked_len: s,
            });
            b += 8 + s;
            u += s;
        }
        XorbIndex { hash: XetHash([n; 32]), chunks }
    }

    fn term(ix: &XorbIndex, s: u32, e: u32) -> Term {
        Term { xorb: ix.hash, chunk_start: s, chunk_end: e }
    }

    #[test]
    fn ranges_trim_to_overlapping_chunks_across_terms() {
        let a = xorb(1, &[10, 20, 30, 40]);
        let b = xorb(2, &[5, 5, 5]);
        let xs = [a.clone(), b.clone()];
        let find = |h: &XetHash| xs.iter().find(|x| x.hash == *h);
        // File = a[1..4] (20+30+40 = 90 bytes) then b[0..3] (15) then a[0..2] (30): 135 bytes.
        let terms = [term(&a, 1, 4), term(&b, 0, 3), term(&a, 0, 2)];

        let whole = plan(&terms, find, 0, 135).expect("plan");
        assert_eq!(whole.offset_into_first, 0);
        assert_eq!(whole.pieces.iter().map(|p| p.unpacked_len).sum::<u64>(), 135);

        // Bytes 25..96: starts 5 bytes into a's chunk 2, ends inside b's chunk 1.
        let mid = plan(&terms, find, 25, 96).expect("plan");
        assert_eq!(mid.offset_into_first, 5);
        assert_eq!(
            mid.pieces,
            [
                Piece { xorb: a.hash, chunk_start: 2, chunk_end: 4, unpacked_len: 70 },
                Piece { xorb: b.hash, chunk_start: 0, chunk_end: 2, unpacked_len: 10 },
            ]
        );
        // The last byte alone.
        let last = plan(&terms, find, 134, 135).expect("plan");
        assert_eq!(last.offset_into_first, 19);
        assert_eq!(last.pieces, [Piece { xorb: a.hash, chunk_start: 1, chunk_end: 2, unpacked_len: 20 }]);
        // Terms that do not cover the range are an inconsistency, not a panic.
        assert!(plan(&terms, find, 0, 136).is_err());
        assert!(plan(&[term(&a, 3, 9)], find, 0, 1).is_err());
    }

    #[test]
    fn fetch_ranges_merge_per_xorb() {
        let a = xorb(1, &[10, 20, 30, 40]);
        let xs = [a.clone()];
        let find = |h: &XetHash| xs.iter().find(|x| x.hash == *h);
        let p = |s, e| Piece { xorb: a.hash, chunk_start: s, chunk_end: e, unpacked_len: 0 };
        let got = fetch_ranges(&[p(2, 4), p(0, 1), p(1, 2)], find).expect("ranges");
        assert_eq!(got[&a.hash], [FetchRange { chunk_start: 0, chunk_end: 4, byte_start: 0, byte_end: 132 }]);
        let got = fetch_ranges(&[p(3, 4), p(0, 1)], find).expect("ranges");
        assert_eq!(
            got[&a.hash],
            [
                FetchRange { chunk_start: 0, chunk_end: 1, byte_start: 0, byte_end: 18 },
                FetchRange { chunk_start: 3, chunk_end: 4, byte_start: 84, byte_end: 132 },
            ]
        );
    }

    #[test]
    fn split_bounds_piece_size() {
        let a = xorb(1, &[10, 20, 30, 40, 50]);
        let sizes = |_: &XetHash| Some(a.chunks.iter().map(|c| c.unpacked_len).collect::<Vec<_>>());
        let got = split(vec![Piece { xorb: a.hash, chunk_start: 0, chunk_end: 5, unpacked_len: 150 }], &sizes, 2);
        assert_eq!(
            got.iter().map(|p| (p.chunk_start, p.chunk_end, p.unpacked_len)).collect::<Vec<_>>(),
            [(0, 2, 30), (2, 4, 70), (4, 5, 50)]
        );
    }
}
