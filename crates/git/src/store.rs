//! Where repositories live: `<root>/<key[0..2]>/<key>.git`, keyed by an immutable storage key rather than
//! the repository's name, so renaming or moving a repository never touches the disk.

use crate::{GitError, GitResult};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct GitStore {
    root: PathBuf,
}

/// One open repository. Not `Sync` (libgit2): open one per blocking task.
pub struct Repo {
    pub(crate) git: git2::Repository,
}

impl GitStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        GitStore { root: root.into() }
    }

    pub fn path(&self, key: &str) -> GitResult<PathBuf> {
        if key.len() < 3 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(GitError::Invalid(format!("bad storage key {key:?}")));
        }
        Ok(self.root.join(&key[..2]).join(format!("{key}.git")))
    }

    pub fn open(&self, key: &str) -> GitResult<Repo> {
        let git = git2::Repository::open_bare(self.path(key)?)?;
        Ok(Repo { git })
    }

    /// Creates an empty bare repository whose HEAD names `main`.
    pub fn init(&self, key: &str) -> GitResult<Repo> {
        let path = self.path(key)?;
        if path.exists() {
            return Err(GitError::Conflict(format!("storage {key} already exists")));
        }
        let mut opts = git2::RepositoryInitOptions::new();
        opts.bare(true).initial_head("main").mkdir(true).mkpath(true);
        let git = git2::Repository::init_opts(&path, &opts)?;
        Ok(Repo { git })
    }

    /// Removes a repository: renamed aside first (atomic), then deleted, so a crash never leaves half a repo
    /// under its real name.
    pub fn delete(&self, key: &str) -> GitResult<()> {
        let path = self.path(key)?;
        if !path.exists() {
            return Ok(());
        }
        let trash = path.with_extension(format!("deleted-{}", std::process::id()));
        std::fs::rename(&path, &trash)?;
        std::fs::remove_dir_all(&trash)?;
        Ok(())
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path(key).map(|p| p.exists()).unwrap_or(false)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}
