//! What a commit changed: its files against the first parent (a root commit against the empty tree),
//! with line diffs of text files, bounded so that a huge commit costs a bounded amount of work.
//!
//! The tree diff compares object ids only; blob contents are read one file at a time, and never for a
//! blob larger than `DiffLimits::max_bytes_per_file` (its size comes from the object header). LFS
//! pointers are shown as the object they name, binary files as such.

use crate::pointer::LfsPointer;
use crate::read::{to_info, CommitInfo};
use crate::{GitError, GitResult, Repo};
use git2::{Delta, DiffFindOptions, DiffLineType, DiffOptions, FileMode, Oid, Patch};

/// Bounds on the work and output of one commit diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffLimits {
    /// Files beyond this many are left out (`CommitDiff::truncated_files`).
    pub max_files: usize,
    /// A file whose old or new blob is larger than this is not read (`FileDiffBody::TooLarge`).
    pub max_bytes_per_file: u64,
    /// Diff lines (context included) over all files; a file that would exceed what is left is
    /// `FileDiffBody::Truncated`.
    pub max_lines_total: usize,
}

impl Default for DiffLimits {
    fn default() -> Self {
        DiffLimits { max_files: 300, max_bytes_per_file: 512 * 1024, max_lines_total: 20_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Deleted,
    Modified,
    /// Moved without a change of content (exact renames only); `FileDiff::path` is the new path.
    Renamed {
        from: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffLineKind {
    Context,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: DiffLineKind,
    /// 1-based line number in the old file (None for added lines).
    pub old_line: Option<u32>,
    /// 1-based line number in the new file (None for removed lines).
    pub new_line: Option<u32>,
    /// The line without its trailing `\n` (a `\r` before it is kept), invalid UTF-8 replaced.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffHunk {
    /// `@@ -1,3 +1,4 @@` and the function context git finds, if any (no trailing newline).
    pub header: String,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileDiffBody {
    /// Hunks with 3 lines of context (empty when only the mode or the path changed).
    Text(Vec<DiffHunk>),
    Binary,
    /// At least one side is a Git-LFS pointer: the objects it names. A side is None when the file is
    /// absent there or is not a pointer (a file moved into or out of LFS).
    LfsPointer {
        old: Option<LfsPointer>,
        new: Option<LfsPointer>,
    },
    /// The old or new blob is over `max_bytes_per_file`; not read.
    TooLarge,
    /// A text diff that would go over `max_lines_total`; its counts are still given.
    Truncated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub change: FileChange,
    /// Added and removed lines of a text diff (also for `Truncated`); 0 for the other bodies.
    pub additions: usize,
    pub deletions: usize,
    pub body: FileDiffBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitDiff {
    pub commit: CommitInfo,
    /// The first parent the diff is against; None for a root commit.
    pub parent: Option<Oid>,
    /// Changed files in path order, at most `max_files`.
    pub files: Vec<FileDiff>,
    /// More files changed than `max_files`.
    pub truncated_files: bool,
}

/// Where git itself looks for a NUL to call content binary.
const BINARY_SNIFF: usize = 8000;
const CONTEXT_LINES: u32 = 3;

fn looks_binary(data: &[u8]) -> bool {
    data[..data.len().min(BINARY_SNIFF)].contains(&0)
}

impl Repo {
    /// The diff of `commit` against its first parent (a root commit against the empty tree).
    /// An unknown commit is `RevisionNotFound`.
    pub fn commit_diff(&self, commit: Oid, limits: &DiffLimits) -> GitResult<CommitDiff> {
        let c = self.git.find_commit(commit).map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => GitError::RevisionNotFound(commit.to_string()),
            _ => e.into(),
        })?;
        let parent = c.parents().next();
        let new_tree = c.tree()?;
        let old_tree = parent.as_ref().map(|p| p.tree()).transpose()?;

        let mut opts = DiffOptions::new();
        opts.context_lines(CONTEXT_LINES);
        let mut diff = self.git.diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), Some(&mut opts))?;
        // Exact renames compare object ids only: no blob is read to find them.
        diff.find_similar(Some(DiffFindOptions::new().renames(true).exact_match_only(true)))?;

        let mut files = Vec::new();
        let mut truncated_files = false;
        let mut lines_left = limits.max_lines_total;
        for delta in diff.deltas() {
            let change = match delta.status() {
                Delta::Added => FileChange::Added,
                Delta::Deleted => FileChange::Deleted,
                Delta::Modified | Delta::Typechange => FileChange::Modified,
                Delta::Renamed => FileChange::Renamed { from: path_of(&delta.old_file()) },
                _ => continue,
            };
            // Submodule entries (gitlinks) name commits, not content.
            let side = |f: git2::DiffFile<'_>| (f.exists() && f.mode() != FileMode::Commit).then(|| f.id());
            let (old, new) = (side(delta.old_file()), side(delta.new_file()));
            if old.is_none() && new.is_none() {
                continue;
            }
            if files.len() == limits.max_files {
                truncated_files = true;
                break;
            }
            let path = path_of(&delta.new_file());
            let mut file = FileDiff { path, change, additions: 0, deletions: 0, body: FileDiffBody::Binary };
            self.diff_file(&mut file, old, new, limits, &mut lines_left)?;
            files.push(file);
        }
        Ok(CommitDiff { commit: to_info(&c), parent: parent.map(|p| p.id()), files, truncated_files })
    }

    fn diff_file(
        &self,
        file: &mut FileDiff,
        old: Option<Oid>,
        new: Option<Oid>,
        limits: &DiffLimits,
        lines_left: &mut usize,
    ) -> GitResult<()> {
        let odb = self.git.odb()?;
        for id in [old, new].into_iter().flatten() {
            let (size, _) = odb.read_header(id)?;
            if size as u64 > limits.max_bytes_per_file {
                file.body = FileDiffBody::TooLarge;
                return Ok(());
            }
        }
        let old_blob = old.map(|id| self.git.find_blob(id)).transpose()?;
        let new_blob = new.map(|id| self.git.find_blob(id)).transpose()?;
        let old_ptr = old_blob.as_ref().and_then(|b| LfsPointer::parse(b.content()));
        let new_ptr = new_blob.as_ref().and_then(|b| LfsPointer::parse(b.content()));
        if old_ptr.is_some() || new_ptr.is_some() {
            file.body = FileDiffBody::LfsPointer { old: old_ptr, new: new_ptr };
            return Ok(());
        }
        if [&old_blob, &new_blob].into_iter().flatten().any(|b| looks_binary(b.content())) {
            file.body = FileDiffBody::Binary;
            return Ok(());
        }
        let mut opts = DiffOptions::new();
        opts.context_lines(CONTEXT_LINES);
        // An absent side diffs as empty content, as git shows an added or deleted file (`-0,0`).
        let old_bytes = old_blob.as_ref().map_or(&[][..], |b| b.content());
        let new_bytes = new_blob.as_ref().map_or(&[][..], |b| b.content());
        let patch = Patch::from_buffers(old_bytes, None, new_bytes, None, Some(&mut opts))?;
        if patch.delta().flags().is_binary() {
            file.body = FileDiffBody::Binary;
            return Ok(());
        }
        let mut hunks = Vec::with_capacity(patch.num_hunks());
        let mut total = 0;
        for h in 0..patch.num_hunks() {
            let (hunk, n) = patch.hunk(h)?;
            let mut lines = Vec::with_capacity(n);
            for l in 0..n {
                let line = patch.line_in_hunk(h, l)?;
                let kind = match line.origin_value() {
                    DiffLineType::Context => DiffLineKind::Context,
                    DiffLineType::Addition => {
                        file.additions += 1;
                        DiffLineKind::Added
                    }
                    DiffLineType::Deletion => {
                        file.deletions += 1;
                        DiffLineKind::Removed
                    }
                    // "\ No newline at end of file" markers.
                    _ => continue,
                };
                total += 1;
                if total > *lines_left {
                    // Over budget: keep counting, stop keeping text.
                    continue;
                }
                let content = line.content();
                let content = content.strip_suffix(b"\n").unwrap_or(content);
                lines.push(DiffLine {
                    kind,
                    old_line: line.old_lineno(),
                    new_line: line.new_lineno(),
                    text: String::from_utf8_lossy(content).into_owned(),
                });
            }
            let header = String::from_utf8_lossy(hunk.header()).trim_end_matches(['\n', '\r']).to_string();
            hunks.push(DiffHunk { header, lines });
        }
        if total > *lines_left {
            file.body = FileDiffBody::Truncated;
        } else {
            *lines_left -= total;
            file.body = FileDiffBody::Text(hunks);
        }
        Ok(())
    }
}

fn path_of(f: &git2::DiffFile<'_>) -> String {
    f.path_bytes().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default()
}
