//! What a push brings, seen from its `pre-receive` hook: git has received and checked the pack but moved
//! no ref yet; the new objects sit in a quarantine directory that the hook's environment points at. This
//! lists the new blobs (path, size, LFS pointer) by asking the system git, so push rules can be checked
//! before anything becomes visible.

use crate::pointer::LfsPointer;
use crate::{GitError, GitResult};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

/// One line of the hook's input: `<old> <new> <ref>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

const ZERO: &str = "0000000000000000000000000000000000000000";

impl RefUpdate {
    pub fn parse_all(input: &str) -> Vec<RefUpdate> {
        input
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some(RefUpdate { old: it.next()?.into(), new: it.next()?.into(), name: it.next()?.into() })
            })
            .collect()
    }

    pub fn is_delete(&self) -> bool {
        self.new == ZERO
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlob {
    pub oid: String,
    pub path: String,
    pub size: u64,
    pub lfs: Option<LfsPointer>,
}

fn git(args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.args(args).stderr(Stdio::inherit());
    c
}

fn io(e: std::io::Error) -> GitError {
    GitError::Invalid(format!("running git: {e}"))
}

/// Blobs reachable from the updated refs and from no existing ref, with the first path they appear at.
/// Runs in the hook's environment (current directory and `GIT_*` variables set by receive-pack).
pub fn new_blobs(updates: &[RefUpdate]) -> GitResult<Vec<NewBlob>> {
    let tips: Vec<&str> = updates.iter().filter(|u| !u.is_delete()).map(|u| u.new.as_str()).collect();
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["rev-list", "--objects"];
    args.extend(tips.iter().copied());
    args.extend(["--not", "--all"]);
    let out = git(&args).stdout(Stdio::piped()).output().map_err(io)?;
    if !out.status.success() {
        return Err(GitError::Invalid("git rev-list failed on the pushed objects".into()));
    }
    // "<oid> <path>" for trees and blobs (commits have no path); keep the ones with a path.
    let listed: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(o, p)| (o.to_string(), p.to_string())))
        .collect();
    let mut check = git(&["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io)?;
    let input: String = listed.iter().map(|(o, _)| format!("{o}\n")).collect();
    let mut stdin = check.stdin.take().ok_or_else(|| GitError::Invalid("git cat-file stdin".into()))?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut kinds = Vec::with_capacity(listed.len());
    for line in
        BufReader::new(check.stdout.take().ok_or_else(|| GitError::Invalid("git cat-file stdout".into()))?).lines()
    {
        let line = line.map_err(io)?;
        let mut it = line.split(' ');
        let (Some(_), Some(kind), Some(size)) = (it.next(), it.next(), it.next()) else { continue };
        kinds.push((kind == "blob", size.parse::<u64>().unwrap_or(0)));
    }
    let _ = writer.join();
    check.wait().map_err(io)?;
    let blobs: Vec<(String, String, u64)> = listed
        .into_iter()
        .zip(kinds)
        .filter(|(_, (is_blob, _))| *is_blob)
        .map(|((oid, path), (_, size))| (oid, path, size))
        .collect();
    // Only small blobs can be LFS pointers; read them all through one `git cat-file --batch`.
    let small: Vec<&str> = blobs.iter().filter(|b| b.2 <= 1024).map(|b| b.0.as_str()).collect();
    let contents = read_blobs(&small)?;
    Ok(blobs
        .into_iter()
        .map(|(oid, path, size)| {
            let lfs = contents.get(&oid).and_then(|c| LfsPointer::parse(c));
            NewBlob { oid, path, size, lfs }
        })
        .collect())
}

/// The content of each blob, read through one `git cat-file --batch` process.
fn read_blobs(oids: &[&str]) -> GitResult<std::collections::HashMap<String, Vec<u8>>> {
    let mut out = std::collections::HashMap::new();
    if oids.is_empty() {
        return Ok(out);
    }
    let mut child = git(&["cat-file", "--batch"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().map_err(io)?;
    let input: String = oids.iter().map(|o| format!("{o}\n")).collect();
    let mut stdin = child.stdin.take().ok_or_else(|| GitError::Invalid("git cat-file stdin".into()))?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut reader =
        BufReader::new(child.stdout.take().ok_or_else(|| GitError::Invalid("git cat-file stdout".into()))?);
    // "<oid> <type> <size>\n<content>\n" per object ("<oid> missing\n" for none).
    let mut header = String::new();
    while reader.read_line(&mut header).map_err(io)? > 0 {
        let mut it = header.split_whitespace();
        let (Some(oid), Some(_kind), Some(size)) = (it.next(), it.next(), it.next()) else {
            header.clear();
            continue;
        };
        let size: usize = size.parse().map_err(|_| GitError::Invalid(format!("git cat-file said {header:?}")))?;
        let mut data = vec![0u8; size + 1];
        reader.read_exact(&mut data).map_err(io)?;
        data.truncate(size);
        out.insert(oid.to_string(), data);
        header.clear();
    }
    let _ = writer.join();
    child.wait().map_err(io)?;
    Ok(out)
}
