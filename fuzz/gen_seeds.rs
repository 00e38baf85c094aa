//! Writes the seed corpus for the fuzz targets: `gen-seeds <dir>` creates `<dir>/xorb/*` and `<dir>/shard/*`.
//!
//! Seeds come from the bytes the real client uploaded (crates/xet/tests/data/vectors.json) and from our own encoders
//! (every chunk scheme, a footer, an index, a dedup shard, shards with every file flag), so the fuzzer starts past
//! the magic numbers and hashes it could not guess.

use std::path::Path;

use gatehouse_xet::hash::{chunk_hash, xorb_hash};
use gatehouse_xet::shard::{dedup_shard, FileInfo, FileTerm, Shard, XorbChunk, XorbInfo};
use gatehouse_xet::xorb::{encode_chunk, footer_bytes, Scheme, XorbValidator};
use gatehouse_xet::XetHash;

const VECTORS: &str = include_str!("../crates/xet/tests/data/vectors.json");

/// The hex string value of `"key": "..."` in the vectors file (a plain search keeps this free of a JSON parser).
fn vector_hex(key: &str) -> Vec<u8> {
    let at = VECTORS.find(&format!("\"{key}\": \"")).expect("key present") + key.len() + 5;
    let hex = &VECTORS[at..at + VECTORS[at..].find('"').expect("closing quote")];
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let root = std::env::args().nth(1).expect("usage: gen-seeds <dir>");
    let (xorbs, shards) = (Path::new(&root).join("xorb"), Path::new(&root).join("shard"));
    std::fs::create_dir_all(&xorbs).expect("mkdir");
    std::fs::create_dir_all(&shards).expect("mkdir");

    // Xorb seeds: 2 control bytes (split seed), then the body.
    let small = vector_hex("uploaded_xorb_hex");
    write(&xorbs, "client-small", &[[0, 0].as_slice(), &small].concat());
    write(&xorbs, "client-small-split", &[[7, 1].as_slice(), &small].concat());
    let data: Vec<Vec<u8>> = vec![
        b"tiny file content\n".repeat(12),
        (0..300u32).map(|i| if i % 4 >= 2 { 0x40 } else { (i % 7) as u8 }).collect(),
        b"xyz".to_vec(),
    ];
    let mut body = Vec::new();
    for (d, scheme) in data.iter().zip([Scheme::Lz4, Scheme::ByteGrouping4Lz4, Scheme::None]) {
        body.extend_from_slice(&encode_chunk(d, scheme));
    }
    let hash = xorb_hash(&data.iter().map(|d| (chunk_hash(d), d.len() as u64)).collect::<Vec<_>>());
    let mut v = XorbValidator::new(hash);
    v.push(&body).expect("valid");
    let index = v.finish().expect("valid");
    write(&xorbs, "three-schemes", &[[0, 0].as_slice(), &body].concat());
    write(&xorbs, "three-schemes-footer", &[[3, 9].as_slice(), &body, &footer_bytes(&index)].concat());
    write(&xorbs, "index", &index.to_bytes());

    // Shard seeds.
    let upload = vector_hex("uploaded_shard_hex");
    write(&shards, "client-small", &upload);
    let parsed = Shard::parse(&upload).expect("vector parses");
    write(&shards, "dedup", &dedup_shard(&parsed.xorbs, XetHash([0x11; 32]), 1_700_000_000, 604_800));
    let h = |b: u8| XetHash([b; 32]);
    let mixed = Shard {
        files: [0u32, 1 << 31, 1 << 30]
            .iter()
            .enumerate()
            .map(|(i, &flags)| FileInfo {
                file_hash: h(i as u8 + 1),
                flags,
                terms: vec![
                    FileTerm { xorb_hash: h(9), flags: 0, unpacked_bytes: 10, chunk_start: 0, chunk_end: 1 },
                    FileTerm { xorb_hash: h(8), flags: 0, unpacked_bytes: 20, chunk_start: 1, chunk_end: 3 },
                ],
                verification: if flags == 1 << 31 { vec![h(5), h(6)] } else { vec![] },
                sha256: (flags == 1 << 30).then(|| h(7)),
            })
            .collect(),
        xorbs: vec![XorbInfo {
            xorb_hash: h(9),
            flags: 0,
            unpacked_bytes: 30,
            bytes_on_disk: 0,
            chunks: vec![
                XorbChunk { hash: h(3), unpacked_start: 0, unpacked_len: 10, flags: 0 },
                XorbChunk { hash: h(4), unpacked_start: 10, unpacked_len: 20, flags: 1 << 31 },
            ],
        }],
        footer: None,
    };
    write(&shards, "mixed-flags", &mixed.to_upload_bytes());
    write(&shards, "empty", &Shard { files: vec![], xorbs: vec![], footer: None }.to_upload_bytes());
}
