//! Git-LFS pointer files: what git stores in place of a large file's content.

/// Pointers are tiny; anything larger is content, not a pointer.
pub const MAX_POINTER_SIZE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsPointer {
    /// Lower-case hex sha256 of the content.
    pub oid: String,
    pub size: u64,
}

impl LfsPointer {
    /// The canonical pointer text (what git-lfs writes), so the same content always gives the same blob.
    pub fn to_text(&self) -> String {
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n", self.oid, self.size)
    }

    pub fn parse(data: &[u8]) -> Option<LfsPointer> {
        if data.len() > MAX_POINTER_SIZE {
            return None;
        }
        let text = std::str::from_utf8(data).ok()?;
        let mut lines = text.lines();
        if !lines.next()?.starts_with("version https://git-lfs.github.com/spec/") {
            return None;
        }
        let (mut oid, mut size) = (None, None);
        for line in lines {
            if let Some(v) = line.strip_prefix("oid sha256:") {
                oid = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("size ") {
                size = v.parse::<u64>().ok();
            }
        }
        let oid = oid?;
        if oid.len() != 64 || !oid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(LfsPointer { oid, size: size? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = LfsPointer { oid: "a".repeat(64), size: 42 };
        assert_eq!(LfsPointer::parse(p.to_text().as_bytes()), Some(p));
    }

    #[test]
    fn not_pointers() {
        assert_eq!(LfsPointer::parse(b"hello"), None);
        assert_eq!(LfsPointer::parse(b"version https://git-lfs.github.com/spec/v1\noid sha256:xyz\nsize 1\n"), None);
        assert_eq!(LfsPointer::parse(b"version https://git-lfs.github.com/spec/v1\noid sha256:"), None);
    }
}
