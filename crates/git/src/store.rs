//! Where repositories live: `<root>/<key[0..2]>/<key>.git`, keyed by an immutable storage key rather than
//! the repository's name, so renaming or moving a repository never touches the disk.

use crate::{GitError, GitResult};
use std::path::{Path, PathBuf};

/// How old a lock file must be before it is taken for the leftover of a dead process.
pub const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) fn is_stale_lock(path: &Path) -> bool {
    std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_LOCK))
}

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

    /// Removes ref locks left behind by a process killed mid-update, in every repository. Locks younger
    /// than `STALE_LOCK` may belong to a live writer (another node) and are kept. Returns how many went.
    pub fn remove_stale_locks(&self) -> GitResult<usize> {
        fn walk(dir: &Path, removed: &mut usize) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    walk(&path, removed)?;
                } else if path.extension().is_some_and(|e| e == "lock")
                    && is_stale_lock(&path)
                    && std::fs::remove_file(&path).is_ok()
                {
                    tracing::warn!(lock = %path.display(), "removed a stale git lock");
                    *removed += 1;
                }
            }
            Ok(())
        }
        let mut removed = 0;
        let Ok(shards) = std::fs::read_dir(&self.root) else { return Ok(0) };
        for shard in shards {
            let Ok(repos) = std::fs::read_dir(shard?.path()) else { continue };
            for repo in repos {
                let repo = repo?.path();
                let packed = repo.join("packed-refs.lock");
                if is_stale_lock(&packed) && std::fs::remove_file(&packed).is_ok() {
                    removed += 1;
                }
                let refs = repo.join("refs");
                if refs.is_dir() {
                    walk(&refs, &mut removed)?;
                }
            }
        }
        Ok(removed)
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path(key).map(|p| p.exists()).unwrap_or(false)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}
