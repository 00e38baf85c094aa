//! Which files are stored with LFS: files over 10 MiB, binary files, and paths that `.gitattributes`
//! marks `filter=lfs` — decided by the server, whatever path the bytes arrived by.

use gatehouse_types::{RepoType, LFS_SIZE_THRESHOLD};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

const COMMON: &[&str] = &[
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
];

const DATASET_EXTRA: &[&str] = &[
    "*.mds", "*.lz4", "*.avro", "*.mp3", "*.ogg", "*.wav", "*.flac", "*.jpg", "*.jpeg", "*.png", "*.webp", "*.gif",
    "*.mp4", "*.webm",
];

/// The `.gitattributes` of a new repository's initial commit.
pub fn default_gitattributes(t: RepoType) -> String {
    let extra: &[&str] = if t == RepoType::Dataset { DATASET_EXTRA } else { &[] };
    COMMON.iter().chain(extra).map(|p| format!("{p} filter=lfs diff=lfs merge=lfs -text\n")).collect()
}

/// The LFS rules of one revision's `.gitattributes`.
#[derive(Debug, Clone)]
pub struct LfsPolicy {
    tracked: GlobSet,
    untracked: GlobSet,
}

impl LfsPolicy {
    /// Later lines override earlier ones in git; here a pattern that unsets `filter` wins over any that
    /// sets it, which is the same for every file we have seen and keeps the check a pair of set lookups.
    pub fn from_gitattributes(text: &str) -> Self {
        let mut tracked = GlobSetBuilder::new();
        let mut untracked = GlobSetBuilder::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let Some(pattern) = parts.next() else { continue };
            let attrs: Vec<&str> = parts.collect();
            let target = if attrs.contains(&"filter=lfs") {
                &mut tracked
            } else if attrs.iter().any(|a| *a == "-filter" || *a == "!filter") {
                &mut untracked
            } else {
                continue;
            };
            if let Some(glob) = to_glob(pattern) {
                target.add(glob);
            }
        }
        LfsPolicy {
            tracked: tracked.build().unwrap_or_else(|_| GlobSet::empty()),
            untracked: untracked.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    pub fn tracks(&self, path: &str) -> bool {
        self.tracked.is_match(path) && !self.untracked.is_match(path)
    }

    /// `sample` is the start of the content (the client's preupload sends the first 512 bytes; other paths
    /// pass the same amount so every path decides alike).
    pub fn is_lfs(&self, path: &str, size: u64, sample: &[u8]) -> bool {
        if size == 0 {
            return false;
        }
        size > LFS_SIZE_THRESHOLD || self.tracks(path) || is_binary(sample)
    }
}

/// Bytes of content the binary sniff looks at.
pub const SAMPLE_LEN: usize = 512;

/// Binary: a NUL byte, or bytes that are not UTF-8 (a sequence cut off at the end of the sample is fine).
pub fn is_binary(sample: &[u8]) -> bool {
    let sample = &sample[..sample.len().min(SAMPLE_LEN)];
    if sample.contains(&0) {
        return true;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => false,
        Err(e) => e.error_len().is_some(),
    }
}

/// gitattributes pattern semantics: without a `/` a pattern matches the file name at any depth; with
/// one it matches the path from the root.
fn to_glob(pattern: &str) -> Option<globset::Glob> {
    // `git lfs track` writes spaces as the POSIX class, which globset does not know.
    let pattern = &pattern.replace("[[:space:]]", "[ ]");
    let anchored = pattern.trim_start_matches('/');
    let full =
        if pattern.trim_end_matches('/').contains('/') { anchored.to_string() } else { format!("**/{anchored}") };
    GlobBuilder::new(&full).literal_separator(true).build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_patterns() {
        let p = LfsPolicy::from_gitattributes(&default_gitattributes(RepoType::Model));
        for path in
            ["model.safetensors", "a/b/pytorch_model.bin", "x.tar.gz", "saved_model/v/vars.data", "run.tfevents.1"]
        {
            assert!(p.tracks(path), "{path}");
        }
        for path in ["config.json", "README.md", "bin/readme.txt", "x/saved_model/y"] {
            assert!(!p.tracks(path), "{path}");
        }
        let d = LfsPolicy::from_gitattributes(&default_gitattributes(RepoType::Dataset));
        assert!(d.tracks("images/cat.png"));
        assert!(!p.tracks("images/cat.png"));
    }

    #[test]
    fn size_binary_and_unset() {
        let p = LfsPolicy::from_gitattributes("*.txt filter=lfs diff=lfs merge=lfs -text\nkeep.txt -filter\n");
        assert!(p.is_lfs("a.txt", 10, b"hello"));
        assert!(!p.is_lfs("keep.txt", 10, b"hello"));
        assert!(!p.is_lfs("a.md", 10, b"hello"));
        assert!(p.is_lfs("a.md", LFS_SIZE_THRESHOLD + 1, b"hello"));
        assert!(p.is_lfs("a.md", 3, b"a\0b"));
        assert!(p.is_lfs("a.md", 2, &[0xff, 0xfe]));
        assert!(!p.is_lfs("a.md", 0, b""));
        // A multi-byte character cut at the end of the sample is still text.
        let mut s = vec![b'a'; 511];
        s.push(0xc3);
        assert!(!is_binary(&s));
    }
}
