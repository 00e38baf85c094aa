//! One commit's page: its message and what it changed, file by file. A diff shows content, so it goes
//! through `core::content::diff`, which asks for `RepoDownload` like a download does.

use crate::format;
use crate::page::{html, html_status, Chrome, PageError};
use crate::pages::repo::load;
use crate::session::Viewer;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::content::diff::commit_diff;
use gatehouse_git::{DiffLineKind, FileChange, FileDiffBody};
use gatehouse_http::AppState;
use gatehouse_types::{ErrorCode, RepoType, Revision};

pub struct Line {
    /// `add`, `del` or `ctx`: the CSS class.
    pub class: &'static str,
    pub old: String,
    pub new: String,
    pub text: String,
}

pub struct Hunk {
    pub header: String,
    pub lines: Vec<Line>,
}

pub struct FileView {
    pub path: String,
    pub change: String,
    pub additions: usize,
    pub deletions: usize,
    pub hunks: Vec<Hunk>,
    /// Why there are no lines to show (binary, LFS, too large), or "".
    pub note: String,
}

#[derive(Template)]
#[template(path = "repo/commit.html")]
struct CommitPage {
    chrome: Chrome,
    repo: crate::pages::repo::RepoHead,
    id: String,
    title: String,
    message: String,
    author: String,
    date: String,
    parent: Option<(String, String)>,
    files: Vec<FileView>,
    truncated: bool,
    tree_href: String,
    gated_message: String,
}

fn number(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn lfs_note(old: &Option<gatehouse_git::LfsPointer>, new: &Option<gatehouse_git::LfsPointer>) -> String {
    let side = |p: &Option<gatehouse_git::LfsPointer>| match p {
        Some(p) => format!("{} ({})", &p.oid[..p.oid.len().min(12)], format::size(p.size)),
        None => "none".to_string(),
    };
    format!("Stored with Git LFS: {} → {}", side(old), side(new))
}

fn file_view(f: gatehouse_git::FileDiff) -> FileView {
    let change = match &f.change {
        FileChange::Added => "added".to_string(),
        FileChange::Deleted => "deleted".to_string(),
        FileChange::Modified => "modified".to_string(),
        FileChange::Renamed { from } => format!("renamed from {from}"),
    };
    let (hunks, note) = match f.body {
        FileDiffBody::Text(hunks) => (
            hunks
                .into_iter()
                .map(|h| Hunk {
                    header: h.header,
                    lines: h
                        .lines
                        .into_iter()
                        .map(|l| Line {
                            class: match l.kind {
                                DiffLineKind::Added => "add",
                                DiffLineKind::Removed => "del",
                                DiffLineKind::Context => "ctx",
                            },
                            old: number(l.old_line),
                            new: number(l.new_line),
                            text: l.text,
                        })
                        .collect(),
                })
                .collect(),
            String::new(),
        ),
        FileDiffBody::Binary => (Vec::new(), "Binary file.".to_string()),
        FileDiffBody::LfsPointer { old, new } => (Vec::new(), lfs_note(&old, &new)),
        FileDiffBody::TooLarge => (Vec::new(), "This file is too large to show its changes.".to_string()),
        FileDiffBody::Truncated => (Vec::new(), "Not shown: this commit changes too many lines.".to_string()),
    };
    FileView { path: f.path, change, additions: f.additions, deletions: f.deletions, hunks, note }
}

pub async fn commit(
    state: AppState,
    viewer: Viewer,
    t: RepoType,
    ns: String,
    name: String,
    rev: String,
) -> Result<Response, PageError> {
    let repo = load(&state, &viewer, t, &ns, &name, "commits").await?;
    let revision = Revision::parse(&rev)?;
    let mut page = CommitPage {
        chrome: Chrome::new(&viewer, format!("Commit {} · {}", &rev[..rev.len().min(7)], repo.head.id)),
        id: rev.clone(),
        title: String::new(),
        message: String::new(),
        author: String::new(),
        date: String::new(),
        parent: None,
        files: Vec::new(),
        truncated: false,
        tree_href: String::new(),
        gated_message: String::new(),
        repo: repo.head,
    };
    let diff = match commit_diff(&state.hub, &viewer.subject, t, &repo.record.owner_name, &repo.record.name, &revision)
        .await
    {
        Ok(d) => d,
        Err(e) if matches!(e.code, ErrorCode::GatedRepo | ErrorCode::GatedRepoAnonymous) => {
            page.gated_message = e.message;
            return Ok(html_status(StatusCode::FORBIDDEN, &page));
        }
        Err(e) => return Err(e.into()),
    };
    let id = diff.commit.id.to_string();
    page.tree_href = format!("{}/tree/{id}", page.repo.base);
    page.parent = diff.parent.map(|p| {
        let p = p.to_string();
        (p[..7].to_string(), format!("{}/commit/{p}", page.repo.base))
    });
    page.title = diff.commit.title;
    page.message = diff.commit.message;
    page.author = diff.commit.author_name;
    page.date = format::date(diff.commit.time_millis);
    page.id = id;
    page.truncated = diff.truncated_files;
    page.files = diff.files.into_iter().map(file_view).collect();
    Ok(html(&page))
}
