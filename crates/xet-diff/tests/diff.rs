//! gatehouse-xet ("ours") against xet-core-structures 1.8.0 ("theirs", the code inside hf_xet 1.8.0), on seeded
//! random inputs: every hash, the hash string form, xorbs both ways (their chunks through our validator, our chunks
//! through their decoder, footers both ways), upload shards byte for byte, and our dedup answers through the
//! client's own import and dedup query.

use std::io::Cursor;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_xet::hash as ours;
use gatehouse_xet::shard::{
    dedup_shard, FileInfo, FileTerm, Shard, XorbChunk, XorbInfo, FILE_FLAG_WITH_METADATA_EXT,
    FILE_FLAG_WITH_VERIFICATION,
};
use gatehouse_xet::xorb::{decode_chunks, encode_chunk, footer_bytes, Scheme, XorbValidator};
use gatehouse_xet::XetHash;
use xet_core_structures::merklehash::{self as theirs, MerkleHash};
use xet_core_structures::metadata_shard::chunk_verification::range_hash_from_chunks;
use xet_core_structures::metadata_shard::file_structs::{
    FileDataSequenceEntry, FileDataSequenceHeader, FileMetadataExt, FileVerificationEntry, MDBFileInfo,
};
use xet_core_structures::metadata_shard::shard_in_memory::MDBInMemoryShard;
use xet_core_structures::metadata_shard::streaming_shard::MDBMinimalShard;
use xet_core_structures::metadata_shard::xorb_structs::{MDBXorbInfo, XorbChunkSequenceEntry, XorbChunkSequenceHeader};
use xet_core_structures::metadata_shard::{
    hash_is_global_dedup_eligible, ChunkIndexSizeEnforcement, MDBShardInfo, ShardFileManager,
};
use xet_core_structures::xorb_object::{
    deserialize_chunks, reconstruct_xorb_with_footer, serialize_chunk, CompressionScheme, XorbObject,
};

/// xorshift64* — seeded, so a failure names a reproducible case.
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
        // Now and then force the low bits that drive the Merkle cuts and dedup eligibility to zero.
        if self.below(4) == 0 {
            b[24] &= 0xfc;
        }
        if self.below(16) == 0 {
            b[24] = 0;
            b[25] &= 0xfc;
        }
        XetHash(b)
    }
    /// Data of one of three kinds: random (stored), float-like (BG4 helps) or runs (LZ4 helps).
    fn data(&mut self, len: usize) -> Vec<u8> {
        match self.below(3) {
            0 => (0..len).map(|_| self.next() as u8).collect(),
            1 => (0..len).map(|i| if i % 4 >= 2 { 0x40 } else { self.below(16) as u8 }).collect(),
            _ => (0..len).map(|i| ((i / 97) as u8).wrapping_mul(31)).collect(),
        }
    }
}

fn m(h: &XetHash) -> MerkleHash {
    MerkleHash::from(h.0)
}

fn x(h: &MerkleHash) -> XetHash {
    XetHash((*h).into())
}

#[test]
fn hashes_agree() {
    let mut rng = Rng(0x5eed_0001);
    for case in 0..200 {
        let len =
            [0, 1, 63, 64, 65, 1024, 8191][case % 7] + rng.below(if case % 2 == 0 { 64 } else { 140_000 }) as usize;
        let data = rng.data(len);
        let mine = ours::chunk_hash(&data);
        let reference = theirs::compute_data_hash(&data);
        assert_eq!(mine, x(&reference), "case {case}: chunk hash");
        assert_eq!(mine.hex(), reference.hex(), "case {case}: string form");
        assert_eq!(XetHash::from_hex(&reference.hex()).expect("parses"), mine);
        assert_eq!(MerkleHash::from_hex(&mine.hex()).expect("parses"), reference);
        assert_eq!(ours::is_global_dedup_eligible(&mine), hash_is_global_dedup_eligible(&reference));

        let n = match case % 4 {
            0 => rng.below(4),
            1 => rng.below(30),
            _ => rng.below(800),
        } as usize;
        // Huge sizes too (their sum must stay within u64: the reference panics on overflow in debug builds).
        let sizes_big = case % 5 == 0;
        let list: Vec<(XetHash, u64)> = (0..n)
            .map(|_| (rng.hash(), if sizes_big { rng.next() >> (12 + rng.below(52)) } else { rng.below(131_073) }))
            .collect();
        let their_list: Vec<(MerkleHash, u64)> = list.iter().map(|(h, s)| (m(h), *s)).collect();
        assert_eq!(ours::xorb_hash(&list), x(&theirs::xorb_hash(&their_list)), "case {case}: xorb hash, {n} leaves");
        assert_eq!(ours::file_hash(&list), x(&theirs::file_hash(&their_list)), "case {case}: file hash");
        let salt = rng.hash();
        assert_eq!(
            ours::file_hash_with_salt(&list, &salt.0),
            x(&theirs::file_hash_with_salt(&their_list, &salt.0)),
            "case {case}: salted file hash"
        );
        let (a, b) = (rng.below(n as u64 + 1) as usize, rng.below(n as u64 + 1) as usize);
        let range = &list[a.min(b)..a.max(b)];
        let hashes: Vec<XetHash> = range.iter().map(|(h, _)| *h).collect();
        let their_hashes: Vec<MerkleHash> = hashes.iter().map(m).collect();
        assert_eq!(ours::verification_hash(&hashes), x(&range_hash_from_chunks(&their_hashes)), "case {case}");
        let key = rng.hash();
        assert_eq!(ours::hmac(&key, &mine), x(&reference.hmac(m(&key))), "case {case}: hmac");
    }
}

#[test]
fn xorbs_agree() {
    let mut rng = Rng(0x5eed_0002);
    for case in 0..40 {
        let n = 1 + rng.below(if case % 4 == 0 { 200 } else { 12 }) as usize;
        let chunks: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let max = if rng.below(3) == 0 { 131_072 } else { 3_000 };
                let len = 1 + rng.below(max) as usize;
                rng.data(len)
            })
            .collect();
        let hashes: Vec<(MerkleHash, u64)> =
            chunks.iter().map(|c| (theirs::compute_data_hash(c), c.len() as u64)).collect();
        let expected = x(&theirs::xorb_hash(&hashes));

        // Their serializer (which falls back to scheme 0 when compression does not help) → our validator.
        let mut body = Vec::new();
        for c in &chunks {
            let scheme = [CompressionScheme::None, CompressionScheme::LZ4, CompressionScheme::ByteGrouping4LZ4]
                [rng.below(3) as usize];
            serialize_chunk(c, &mut body, scheme).expect("their serializer");
        }
        let mut validator = XorbValidator::new(expected);
        let mut at = 0;
        while at < body.len() {
            let step = (1 + rng.below(70_000) as usize).min(body.len() - at);
            validator.push(&body[at..at + step]).expect("their chunks are valid to us");
            at += step;
        }
        let index = validator.finish().expect("their xorb is valid to us");
        assert_eq!(index.chunks.len(), n);
        assert_eq!(index.chunk_region_len(), body.len() as u64);
        let mut plain = Vec::new();
        decode_chunks(&body, |c| plain.extend_from_slice(c)).expect("we decode their chunks");
        assert_eq!(plain, chunks.concat(), "case {case}");

        // Their footer: the same bytes as ours, and accepted by our validator.
        let mut with_footer = Vec::new();
        let (_, their_hash) = reconstruct_xorb_with_footer(&mut with_footer, &body).expect("their footer");
        assert_eq!(x(&their_hash), expected);
        let mut ours_with_footer = body.clone();
        ours_with_footer.extend_from_slice(&footer_bytes(&index));
        assert_eq!(ours_with_footer, with_footer, "case {case}: footer bytes");
        let mut validator = XorbValidator::new(expected);
        validator.push(&with_footer).expect("valid");
        assert_eq!(validator.finish().expect("their footer is valid to us"), index);

        // Our encoder (every scheme, no fallback) → their decoder and their xorb validation.
        let mut mine = Vec::new();
        for c in &chunks {
            let scheme = [Scheme::None, Scheme::Lz4, Scheme::ByteGrouping4Lz4][rng.below(3) as usize];
            mine.extend_from_slice(&encode_chunk(c, scheme));
        }
        let (decoded, _) = deserialize_chunks(&mut Cursor::new(&mine)).expect("they decode our chunks");
        assert_eq!(decoded, chunks.concat(), "case {case}");
        let mut validator = XorbValidator::new(expected);
        validator.push(&mine).expect("valid");
        let my_index = validator.finish().expect("valid");
        mine.extend_from_slice(&footer_bytes(&my_index));
        let object = XorbObject::validate_xorb_object(&mut Cursor::new(&mine), &m(&expected)).expect("no IO error");
        assert!(object.is_some(), "case {case}: they accept our xorb with our footer");
    }
}

/// A random shard as the client would write it (their constructors set term flags to 0, file flags to V/M only).
fn random_shard(rng: &mut Rng) -> Shard {
    let files = (0..rng.below(5))
        .map(|_| {
            let terms: Vec<FileTerm> = (0..1 + rng.below(6))
                .map(|_| {
                    let start = rng.below(8192) as u32;
                    FileTerm {
                        xorb_hash: rng.hash(),
                        flags: 0,
                        unpacked_bytes: rng.next() as u32,
                        chunk_start: start,
                        chunk_end: start + 1 + rng.below(100) as u32,
                    }
                })
                .collect();
            let (with_verification, with_ext) = (rng.below(2) == 0, rng.below(2) == 0);
            FileInfo {
                file_hash: rng.hash(),
                flags: if with_verification { FILE_FLAG_WITH_VERIFICATION } else { 0 }
                    | if with_ext { FILE_FLAG_WITH_METADATA_EXT } else { 0 },
                verification: if with_verification { terms.iter().map(|_| rng.hash()).collect() } else { vec![] },
                sha256: with_ext.then(|| rng.hash()),
                terms,
            }
        })
        .collect();
    let xorbs = (0..rng.below(5)).map(|_| random_xorb_info(rng)).collect();
    Shard { files, xorbs, footer: None }
}

fn random_xorb_info(rng: &mut Rng) -> XorbInfo {
    let mut start = 0u32;
    let chunks: Vec<XorbChunk> = (0..1 + rng.below(12))
        .map(|_| {
            let len = 1 + rng.below(131_072) as u32;
            let c = XorbChunk {
                hash: rng.hash(),
                unpacked_start: start,
                unpacked_len: len,
                flags: if rng.below(4) == 0 { 1 << 31 } else { 0 },
            };
            start += len;
            c
        })
        .collect();
    XorbInfo {
        xorb_hash: rng.hash(),
        flags: 0,
        unpacked_bytes: start,
        bytes_on_disk: rng.below(2) as u32 * (start + 8 * chunks.len() as u32),
        chunks,
    }
}

fn their_xorb(xi: &XorbInfo) -> MDBXorbInfo {
    MDBXorbInfo {
        metadata: XorbChunkSequenceHeader {
            xorb_hash: m(&xi.xorb_hash),
            xorb_flags: xi.flags,
            num_entries: xi.chunks.len() as u32,
            num_bytes_in_xorb: xi.unpacked_bytes,
            num_bytes_on_disk: xi.bytes_on_disk,
        },
        chunks: xi
            .chunks
            .iter()
            .map(|c| XorbChunkSequenceEntry {
                chunk_hash: m(&c.hash),
                chunk_byte_range_start: c.unpacked_start,
                unpacked_segment_bytes: c.unpacked_len,
                flags: c.flags,
                _unused: 0,
            })
            .collect(),
    }
}

fn their_file(f: &FileInfo) -> MDBFileInfo {
    let with_verification = f.flags & FILE_FLAG_WITH_VERIFICATION != 0;
    MDBFileInfo {
        metadata: FileDataSequenceHeader::new(
            m(&f.file_hash),
            f.terms.len(),
            with_verification,
            f.flags & FILE_FLAG_WITH_METADATA_EXT != 0,
        ),
        segments: f
            .terms
            .iter()
            .map(|t| FileDataSequenceEntry::new(m(&t.xorb_hash), t.unpacked_bytes, t.chunk_start, t.chunk_end))
            .collect(),
        verification: f.verification.iter().map(|h| FileVerificationEntry::new(m(h))).collect(),
        metadata_ext: f.sha256.map(|h| FileMetadataExt::new(m(&h))),
    }
}

#[test]
fn upload_shards_agree() {
    let mut rng = Rng(0x5eed_0003);
    for case in 0..150 {
        let mut shard = random_shard(&mut rng);
        let mut mem = MDBInMemoryShard::default();
        for f in &shard.files {
            mem.add_file_reconstruction_info(their_file(f)).expect("add file");
        }
        for xi in &shard.xorbs {
            mem.add_xorb_block(their_xorb(xi)).expect("add xorb");
        }
        // Their stored form (lookup tables + footer), and the upload form cut from it as the client does.
        let mut full = Vec::new();
        let info = MDBShardInfo::serialize_from(&mut full, &mem, None).expect("their serializer");
        let mut upload = full[..info.metadata.file_lookup_offset as usize].to_vec();
        upload[40..48].copy_from_slice(&0u64.to_le_bytes());

        // They keep blocks ordered by hash (as u64 words); so does the shard we compare with.
        shard.files.sort_by_key(|f| m(&f.file_hash));
        shard.xorbs.sort_by_key(|xi| m(&xi.xorb_hash));
        assert_eq!(shard.to_upload_bytes(), upload, "case {case}: upload bytes");
        assert_eq!(Shard::parse(&upload).expect("we parse their upload"), shard, "case {case}");

        let parsed = Shard::parse(&full).expect("we parse their stored shard, lookup tables and all");
        assert_eq!((&parsed.files, &parsed.xorbs), (&shard.files, &shard.xorbs), "case {case}");
        let footer = parsed.footer.expect("footer");
        assert_eq!(footer.footer_offset, info.metadata.footer_offset);
        assert_eq!(footer.chunk_lookup_num, info.metadata.chunk_lookup_num_entry);
        assert_eq!(footer.materialized_bytes, info.metadata.materialized_bytes);

        let minimal = MDBMinimalShard::from_reader(&mut Cursor::new(&shard.to_upload_bytes()), true, true)
            .expect("they parse our upload bytes");
        assert_eq!((minimal.num_files(), minimal.num_xorb()), (shard.files.len(), shard.xorbs.len()));
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[test]
fn dedup_shards_agree_byte_for_byte_without_a_key() {
    let mut rng = Rng(0x5eed_0004);
    for case in 0..50 {
        let xorbs: Vec<XorbInfo> = (0..1 + rng.below(4)).map(|_| random_xorb_info(&mut rng)).collect();
        let (now, ttl) = (now_secs() - rng.below(1000), rng.below(30 * 86_400));
        // What xet-core's own server-side helper writes for the same xorbs (the README says the client accepted it).
        let holder = Shard { files: vec![], xorbs: xorbs.clone(), footer: None }.to_upload_bytes();
        let minimal = MDBMinimalShard::from_reader(&mut Cursor::new(&holder), true, true).expect("parses");
        let mut theirs = Vec::new();
        minimal
            .serialize_xorb_subset_with_expiry(
                &mut theirs,
                Some(UNIX_EPOCH + Duration::from_secs(now + ttl)),
                Some(now),
                |_| true,
            )
            .expect("their serializer");
        assert_eq!(dedup_shard(&xorbs, XetHash::ZERO, now, ttl), theirs, "case {case}");
    }
}

/// Our HMAC'd dedup answers go through what the client does with a 200 from `GET /v1/chunks`: import the bytes into
/// its shard cache, then dedup raw chunk hashes against it.
#[test]
fn client_imports_our_dedup_shards_and_dedups_against_them() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let ctx = xet_runtime::core::XetContext::from_external(
            tokio::runtime::Handle::current(),
            xet_runtime::config::XetConfig::new(),
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let manager = ShardFileManager::new_in_cache_directory(&ctx, dir.path()).await.expect("shard cache");
        let mut rng = Rng(0x5eed_0005);
        for case in 0..20 {
            let xorbs: Vec<XorbInfo> = (0..1 + rng.below(3)).map(|_| random_xorb_info(&mut rng)).collect();
            let key = rng.hash();
            let bytes = dedup_shard(&xorbs, key, now_secs(), 7 * 86_400);

            let info = MDBShardInfo::load_from_reader(&mut Cursor::new(&bytes)).expect("their footer reader");
            assert_eq!(x(&info.metadata.chunk_hash_hmac_key), key);
            assert_eq!(info.header.footer_size, 200);
            let minimal = MDBMinimalShard::from_reader(&mut Cursor::new(&bytes), true, true).expect("parses");
            assert_eq!((minimal.num_files(), minimal.num_xorb()), (0, xorbs.len()));
            for (i, xi) in xorbs.iter().enumerate() {
                let view = minimal.xorb(i).expect("xorb");
                assert_eq!(view.header().num_bytes_on_disk, xi.bytes_on_disk);
                for (j, c) in xi.chunks.iter().enumerate() {
                    let entry = view.chunk(j);
                    assert_eq!(entry.chunk_hash, m(&c.hash).hmac(m(&key)), "case {case}: HMAC'd hash");
                    assert_eq!(
                        (entry.chunk_byte_range_start, entry.unpacked_segment_bytes),
                        (c.unpacked_start, c.unpacked_len)
                    );
                }
            }

            manager.import_shard_from_bytes(&bytes, ChunkIndexSizeEnforcement::StopAtCap).await.expect("imported");
            for xi in &xorbs {
                let k = rng.below(xi.chunks.len() as u64) as usize;
                let query: Vec<MerkleHash> = xi.chunks[k..].iter().map(|c| m(&c.hash)).collect();
                let (count, entry) = manager
                    .chunk_hash_dedup_query(&query)
                    .await
                    .expect("query")
                    .unwrap_or_else(|| panic!("case {case}: the client finds chunk {k} of xorb {}", xi.xorb_hash));
                assert_eq!(x(&entry.xorb_hash), xi.xorb_hash);
                assert_eq!((entry.chunk_index_start, count), (k as u32, xi.chunks.len() - k));
                assert_eq!(entry.chunk_index_end, xi.chunks.len() as u32);
            }
        }
    });
}
