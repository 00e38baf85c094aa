//! A Xet file as plain bytes: what `/resolve` (GET and Range GET), the LFS download URLs and every client
//! without Xet receive. The file's terms are planned for the range, each piece's compressed bytes are read
//! with one ranged read of its xorb, decoded, and trimmed to the range. Two pieces are in flight (the next
//! is read while the current one is sent), and a piece is at most `PIECE_CHUNKS` chunks, so a download
//! holds a few MiB however large the file.

use super::cas::{load_indexes, terms_of};
use super::plan::{self, Piece};
use super::xorb_key;
use crate::Hub;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use gatehouse_store::{XetFile, XetStore};
use gatehouse_types::{Error, Result};
use gatehouse_xet::xorb::decode_chunks;
use gatehouse_xet::XetHash;
use std::ops::Range;
use std::sync::Arc;

/// 8 chunks: at most 1 MiB decoded (chunks are at most 128 KiB; typically 64 KiB). Small pieces keep
/// memory flat: decoding one takes well under a millisecond, so it runs inline on the worker, and buffers
/// this size are recycled rather than accumulating in per-thread allocator arenas.
const PIECE_CHUNKS: u32 = 8;

/// A Xet file's term list (immutable for a given hash, so cached).
pub async fn file(hub: &Hub, hash: &XetHash) -> Result<Option<Arc<XetFile>>> {
    if let Some(f) = hub.xet.files.get(hash) {
        return Ok(Some(f));
    }
    let Some(f) = hub.store.xet_file(&hash.hex()).await? else { return Ok(None) };
    let f = Arc::new(f);
    hub.xet.files.insert(*hash, f.clone());
    Ok(Some(f))
}

/// The bytes `range` (end exclusive, within the file) of the Xet file `hash`.
pub async fn bytes(
    hub: Arc<Hub>,
    hash: &XetHash,
    range: Range<u64>,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
    let f = file(&hub, hash).await?.ok_or_else(|| Error::not_found(format!("Xet file {hash} is not stored")))?;
    if range.end > f.size || range.start > range.end {
        return Err(Error::internal(format!("range {range:?} outside Xet file {hash} of {} bytes", f.size)));
    }
    let (pieces, skip) = if range.is_empty() {
        (Vec::new(), 0)
    } else {
        let terms = terms_of(&f)?;
        let indexes = load_indexes(&hub, &terms).await?;
        let p = plan::plan(&terms, |h| indexes.get(h).map(|a| a.as_ref()), range.start, range.end)?;
        let sizes = |h: &XetHash| indexes.get(h).map(|ix| ix.chunks.iter().map(|c| c.unpacked_len).collect::<Vec<_>>());
        (plan::split(p.pieces, &sizes, PIECE_CHUNKS), p.offset_into_first)
    };
    let want = range.end - range.start;
    let decoded = futures::stream::iter(pieces).map(move |p| decode_piece(hub.clone(), p)).buffered(2);
    // Trim: drop `skip` bytes from the front, stop after `want` bytes.
    let trimmed = decoded.scan((skip, want), |(skip, left), piece| {
        let out = piece.map(|mut b| {
            let drop = usize::try_from((*skip).min(b.len() as u64)).unwrap_or(b.len());
            *skip -= drop as u64;
            b = b.slice(drop..);
            let keep = usize::try_from((*left).min(b.len() as u64)).unwrap_or(b.len());
            *left -= keep as u64;
            b.slice(..keep)
        });
        futures::future::ready(Some(out))
    });
    Ok(trimmed.filter(|r| futures::future::ready(!matches!(r, Ok(b) if b.is_empty()))))
}

async fn decode_piece(hub: Arc<Hub>, p: Piece) -> std::io::Result<Bytes> {
    let io = |e: Error| std::io::Error::other(e.message);
    let ix = super::xorb_index(&hub, &p.xorb).await.map_err(io)?;
    let (start, end) = plan::byte_range(&ix, p.chunk_start, p.chunk_end).map_err(io)?;
    let raw = hub.blobs.read_object_range(&xorb_key(&p.xorb), start..end).await.map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(usize::try_from(p.unpacked_len).unwrap_or(0));
    decode_chunks(&raw, |d| out.extend_from_slice(d))
        .map_err(|e| io(Error::internal(format!("stored xorb {} does not decode: {e}", p.xorb))))?;
    if out.len() as u64 != p.unpacked_len {
        let msg = format!("xorb {} chunks decode to {} bytes, expected {}", p.xorb, out.len(), p.unpacked_len);
        return Err(io(Error::internal(msg)));
    }
    Ok(Bytes::from(out))
}
