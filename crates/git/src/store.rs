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

    /// Runs `f` on the repository, reusing a handle this thread opened before. Opening costs far more
    /// than a lookup, and the hot read paths (resolve, info, tree) run on a small pool of blocking
    /// threads. Handles stay correct while others write: libgit2 reads refs from disk on every lookup and
    /// rescans the object database when an object is missing.
    pub fn with_repo<T>(&self, key: &str, f: impl FnOnce(&Repo) -> GitResult<T>) -> GitResult<T> {
        const PER_THREAD: usize = 64;
        thread_local! {
            static OPEN: std::cell::RefCell<std::collections::HashMap<PathBuf, std::rc::Rc<Repo>>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        let path = self.path(key)?;
        let cached = OPEN.with(|open| open.borrow().get(&path).cloned());
        let repo = match cached {
            Some(r) => r,
            None => {
                let r = std::rc::Rc::new(Repo { git: git2::Repository::open_bare(&path)? });
                OPEN.with(|open| {
                    let mut open = open.borrow_mut();
                    if open.len() >= PER_THREAD {
                        open.clear();
                    }
                    open.insert(path, r.clone());
                });
                r
            }
        };
        f(&repo)
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
