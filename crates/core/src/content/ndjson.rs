//! The commit body: NDJSON, one `{"key": …, "value": …}` object per line. Parsed as a stream — inline
//! file content (base64, possibly gigabytes in one line) is decoded, hashed and spooled to disk as it
//! arrives, never held whole in memory.
//!
//! Blocking: runs on a `spawn_blocking` thread over a synchronous view of the request body.

use super::spool::{Spooled, Spooler};
use base64::engine::general_purpose::STANDARD;
use gatehouse_types::{Error, RepoPath, Result};
use std::io::Read;
use struson::reader::{JsonReader, JsonStreamReader, ReaderError, ReaderSettings, ValueType};

/// No commit needs more operations than this; it bounds the memory a body can make us hold.
pub const MAX_OPERATIONS: usize = 200_000;
/// Bound for short strings (paths, oids, summaries), checked while reading.
const MAX_SHORT_STRING: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub summary: String,
    pub description: String,
    pub parent_commit: Option<String>,
}

#[derive(Debug)]
pub enum Operation {
    /// Content sent inline (base64).
    File {
        path: RepoPath,
        content: Spooled,
    },
    /// Content already uploaded through LFS, named by sha256 (size omitted for copies).
    LfsFile {
        path: RepoPath,
        oid: String,
        size: Option<u64>,
    },
    DeletedFile {
        path: RepoPath,
    },
    DeletedFolder {
        path: RepoPath,
    },
}

#[derive(Debug)]
pub struct ParsedCommit {
    pub header: Header,
    pub operations: Vec<Operation>,
}

fn malformed(detail: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Malformed commit payload: {detail}"))
}

/// A read error means the client sent something broken or went away. (An oversize body is recognised
/// by the HTTP layer's cap, which knows it stopped the read.)
fn io_err(error: &std::io::Error) -> Error {
    malformed(format!("could not read the body: {error}"))
}

fn json_err(e: ReaderError) -> Error {
    match e {
        ReaderError::IoError { error, .. } => io_err(&error),
        other => malformed(other),
    }
}

/// Parses a whole commit body. Any error ends parsing at once (the reader is never used after one).
pub fn parse(body: impl Read, spooler: &Spooler) -> Result<ParsedCommit> {
    let settings = ReaderSettings { allow_multiple_top_level: true, ..ReaderSettings::default() };
    let mut json = JsonStreamReader::new_custom(body, settings);
    let mut header = None;
    let mut operations = Vec::new();
    // An empty body has no first value: peek reports the end of input as an error.
    json.peek().map_err(|_| malformed("the body is empty"))?;
    loop {
        let line = read_line(&mut json, spooler)?;
        match (line, &header) {
            (Line::Header(h), None) => header = Some(h),
            (Line::Header(_), Some(_)) => return Err(malformed("more than one header")),
            (Line::Op(_), None) => return Err(malformed("the first line must be the header")),
            (Line::Op(op), Some(_)) => {
                if operations.len() == MAX_OPERATIONS {
                    return Err(malformed(format!("more than {MAX_OPERATIONS} operations")));
                }
                operations.push(op);
            }
        }
        if !json.has_next().map_err(json_err)? {
            break;
        }
    }
    json.consume_trailing_whitespace().map_err(json_err)?;
    let header = header.ok_or_else(|| malformed("missing header"))?;
    Ok(ParsedCommit { header, operations })
}

enum Line {
    Header(Header),
    Op(Operation),
}

fn read_line<R: Read>(json: &mut JsonStreamReader<R>, spooler: &Spooler) -> Result<Line> {
    if json.peek().map_err(json_err)? != ValueType::Object {
        return Err(malformed("each line must be a JSON object"));
    }
    json.begin_object().map_err(json_err)?;
    let mut key: Option<String> = None;
    let mut line = None;
    while json.has_next().map_err(json_err)? {
        let name = json.next_name_owned().map_err(json_err)?;
        match name.as_str() {
            "key" => key = Some(short_string(json, "key")?),
            "value" => {
                let Some(k) = key.as_deref() else {
                    return Err(malformed("\"key\" must come before \"value\""));
                };
                line = Some(read_value(json, k, spooler)?);
            }
            _ => json.skip_value().map_err(json_err)?,
        }
    }
    json.end_object().map_err(json_err)?;
    line.ok_or_else(|| malformed(format!("line with key {:?} has no value", key.unwrap_or_default())))
}

fn read_value<R: Read>(json: &mut JsonStreamReader<R>, key: &str, spooler: &Spooler) -> Result<Line> {
    if json.peek().map_err(json_err)? != ValueType::Object {
        return Err(malformed(format!("the value of a {key:?} line must be an object")));
    }
    json.begin_object().map_err(json_err)?;
    let mut fields = Fields::default();
    while json.has_next().map_err(json_err)? {
        let name = json.next_name_owned().map_err(json_err)?;
        match (key, name.as_str()) {
            ("header", "summary") => fields.summary = Some(short_string(json, "summary")?),
            ("header", "description") => fields.description = Some(short_string(json, "description")?),
            ("header", "parentCommit") => fields.parent = optional_string(json, "parentCommit")?,
            ("file", "content") => fields.content = Some(spool_base64(json, spooler)?),
            ("file", "encoding") => fields.encoding = Some(short_string(json, "encoding")?),
            ("lfsFile", "oid") => fields.oid = Some(short_string(json, "oid")?),
            ("lfsFile", "algo") => fields.algo = Some(short_string(json, "algo")?),
            ("lfsFile", "size") => fields.size = Some(number(json, "size")?),
            (_, "path") => fields.path = Some(short_string(json, "path")?),
            _ => json.skip_value().map_err(json_err)?,
        }
    }
    json.end_object().map_err(json_err)?;
    fields.into_line(key)
}

#[derive(Default)]
struct Fields {
    summary: Option<String>,
    description: Option<String>,
    parent: Option<String>,
    path: Option<String>,
    content: Option<Spooled>,
    encoding: Option<String>,
    oid: Option<String>,
    algo: Option<String>,
    size: Option<u64>,
}

impl Fields {
    fn path(&self, key: &str) -> Result<String> {
        self.path.clone().ok_or_else(|| malformed(format!("a {key:?} line has no path")))
    }

    fn into_line(self, key: &str) -> Result<Line> {
        match key {
            "header" => {
                let parent_commit = match self.parent {
                    Some(p) if p.len() == 40 && p.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        Some(p.to_ascii_lowercase())
                    }
                    Some(p) => return Err(malformed(format!("parentCommit {p:?} is not a 40-character commit id"))),
                    None => None,
                };
                let summary = self.summary.unwrap_or_default();
                if summary.trim().is_empty() {
                    return Err(malformed("the commit summary is empty"));
                }
                Ok(Line::Header(Header { summary, description: self.description.unwrap_or_default(), parent_commit }))
            }
            "file" => {
                let path = RepoPath::parse(&self.path(key)?)?;
                if let Some(enc) = self.encoding.as_deref().filter(|e| *e != "base64") {
                    return Err(malformed(format!("unsupported encoding {enc:?}; only base64 is accepted")));
                }
                let content = self.content.ok_or_else(|| malformed(format!("file {path} has no content")))?;
                Ok(Line::Op(Operation::File { path, content }))
            }
            "lfsFile" => {
                let path = RepoPath::parse(&self.path(key)?)?;
                if self.algo.as_deref().is_some_and(|a| a != "sha256") {
                    return Err(malformed("lfsFile algo must be sha256"));
                }
                let oid = self.oid.clone().unwrap_or_default().to_ascii_lowercase();
                if !gatehouse_blob::is_sha256_hex(&oid) {
                    return Err(malformed(format!("lfsFile {path} has no valid sha256 oid")));
                }
                Ok(Line::Op(Operation::LfsFile { path, oid, size: self.size }))
            }
            "deletedFile" => Ok(Line::Op(Operation::DeletedFile { path: RepoPath::parse(&self.path(key)?)? })),
            "deletedFolder" => {
                Ok(Line::Op(Operation::DeletedFolder { path: RepoPath::parse_folder(&self.path(key)?)? }))
            }
            other => Err(malformed(format!("unknown key {other:?}"))),
        }
    }
}

/// Reads a string of bounded length without ever buffering more than the bound.
fn short_string<R: Read>(json: &mut JsonStreamReader<R>, what: &str) -> Result<String> {
    if json.peek().map_err(json_err)? != ValueType::String {
        return Err(malformed(format!("{what} must be a string")));
    }
    let mut out = Vec::new();
    let mut reader = json.next_string_reader().map_err(json_err)?.take(MAX_SHORT_STRING as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| io_err(&e))?;
    if out.len() > MAX_SHORT_STRING {
        return Err(malformed(format!("{what} is too long")));
    }
    // The limit was not reached, so the string reader returned its end: the JSON reader is usable again.
    String::from_utf8(out).map_err(|_| malformed(format!("{what} is not UTF-8")))
}

fn optional_string<R: Read>(json: &mut JsonStreamReader<R>, what: &str) -> Result<Option<String>> {
    if json.peek().map_err(json_err)? == ValueType::Null {
        json.next_null().map_err(json_err)?;
        return Ok(None);
    }
    short_string(json, what).map(Some)
}

fn number<R: Read>(json: &mut JsonStreamReader<R>, what: &str) -> Result<u64> {
    if json.peek().map_err(json_err)? != ValueType::Number {
        return Err(malformed(format!("{what} must be a number")));
    }
    let s = json.next_number_as_string().map_err(json_err)?;
    s.parse().map_err(|_| malformed(format!("{what} must be a non-negative integer, got {s}")))
}

/// Decodes a base64 string value straight into the spooler (hashing as it goes).
fn spool_base64<R: Read>(json: &mut JsonStreamReader<R>, spooler: &Spooler) -> Result<Spooled> {
    if json.peek().map_err(json_err)? != ValueType::String {
        return Err(malformed("content must be a base64 string"));
    }
    let raw = json.next_string_reader().map_err(json_err)?;
    let mut decoder = base64::read::DecoderReader::new(raw, &STANDARD);
    let mut spool = spooler.start()?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(malformed(format!("content is not valid base64 or could not be read ({e})"))),
        };
        spool.write(&buf[..n])?;
    }
    spool.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spooler() -> (tempfile::TempDir, Spooler) {
        let d = tempfile::tempdir().unwrap();
        let s = Spooler::new(d.path().to_path_buf(), 16);
        (d, s)
    }

    fn b64(s: &[u8]) -> String {
        use base64::Engine;
        STANDARD.encode(s)
    }

    #[test]
    fn parses_every_operation() {
        let (_d, sp) = spooler();
        let file = format!(
            r#"{{"key":"file","value":{{"content":"{}","path":"./dir/a.txt","encoding":"base64"}}}}"#,
            b64(&[7u8; 100])
        );
        let body = format!(
            "{}\n{}\n{}\n{}\n{}\n",
            r#"{"key":"header","value":{"summary":"s","description":"d","parentCommit":"ABCDEF0123456789abcdef0123456789abcdef01"}}"#,
            file,
            r#"{"key":"lfsFile","value":{"path":"w.bin","algo":"sha256","oid":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5}}"#,
            r#"{"key":"deletedFile","value":{"path":"old.txt"}}"#,
            r#"{"key":"deletedFolder","value":{"path":"gone/"}}"#,
        );
        let p = parse(body.as_bytes(), &sp).unwrap();
        assert_eq!(p.header.parent_commit.as_deref(), Some("abcdef0123456789abcdef0123456789abcdef01"));
        assert_eq!(p.operations.len(), 4);
        match &p.operations[0] {
            Operation::File { path, content } => {
                assert_eq!(path.as_str(), "dir/a.txt");
                assert_eq!(content.size, 100);
                assert_eq!(content.read_all().unwrap(), vec![7u8; 100]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&p.operations[3], Operation::DeletedFolder { path } if path.as_str() == "gone"));
    }

    #[test]
    fn refuses_bad_bodies() {
        let (_d, sp) = spooler();
        let h = r#"{"key":"header","value":{"summary":"s"}}"#;
        let cases = [
            "".to_string(),
            "not json".to_string(),
            r#"{"key":"file","value":{"content":"","path":"a"}}"#.to_string(),
            format!("{h}\n{h}"),
            format!("{h}\n{{\"key\":\"file\",\"value\":{{\"content\":\"%%%\",\"path\":\"a\"}}}}"),
            format!("{h}\n{{\"key\":\"file\",\"value\":{{\"content\":\"aGk=\",\"path\":\"../x\"}}}}"),
            format!("{h}\n{{\"key\":\"file\",\"value\":{{\"content\":\"aGk=\",\"path\":\".git/config\"}}}}"),
            format!("{h}\n{{\"key\":\"copy\",\"value\":{{\"path\":\"a\"}}}}"),
            format!("{h}\n{{\"key\":\"lfsFile\",\"value\":{{\"path\":\"a\",\"oid\":\"xyz\"}}}}"),
            format!("{h}\n{{\"key\":\"file\",\"value\":{{\"content\":\"aGk=\",\"path\":\"a\"}}"),
            format!("{h}\n[1]"),
            r#"{"value":{"summary":"s"},"key":"header"}"#.to_string(),
            r#"{"key":"header","value":{"summary":"s","parentCommit":"main"}}"#.to_string(),
        ];
        for body in cases {
            let err = parse(body.as_bytes(), &sp).unwrap_err();
            assert!(matches!(err.code.status(), 400 | 422), "{body}: {err}");
        }
    }

    #[test]
    fn large_content_spools_to_disk() {
        let (d, sp) = spooler();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let body = format!(
            "{}\n{{\"key\":\"file\",\"value\":{{\"content\":\"{}\",\"path\":\"big\"}}}}\n",
            r#"{"key":"header","value":{"summary":"s"}}"#,
            b64(&data)
        );
        let p = parse(body.as_bytes(), &sp).unwrap();
        let Operation::File { content, .. } = &p.operations[0] else { panic!() };
        assert!(content.file_path().is_some());
        assert_eq!(content.read_all().unwrap(), data);
        use sha2::Digest;
        assert_eq!(content.sha256, hex::encode(sha2::Sha256::digest(&data)));
        drop(p);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "spool files are removed when dropped");
    }
}
