//! Connecting to the database, per-connection setup and migrations.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::error::{StoreError, StoreResult};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Set on every SQLite connection: these are per-connection (except `journal_mode`, which is persistent
/// but cheap to repeat). `busy_timeout` first so the others wait for a lock instead of failing.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of_url(url: &str) -> StoreResult<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(config_error(format!(
                "unsupported database URL scheme (expected sqlite: or postgres://): {}",
                redact(url)
            )))
        }
    }
}

/// The metadata store: a connection pool to one SQLite file or PostgreSQL database.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// `sqlite:///abs/path/meta.db`, `sqlite://relative.db` or `postgres://…`. Creates the SQLite file
    /// (and its directory) if missing.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let (url, options) = match backend {
            Backend::Postgres => (url.to_string(), AnyPoolOptions::new().max_connections(16)),
            Backend::Sqlite => sqlite_pool(url)?,
        };
        let pool = options
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        tracing::debug!(?backend, "metadata store connected");
        Ok(Store { pool, backend })
    }

    /// Applies pending migrations (append-only files under `migrations/<backend>/`).
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> StoreResult<()> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    /// Records that authorization-relevant state changed (see migration 0003).
    pub async fn bump_cache_epoch(&self) -> StoreResult<()> {
        sqlx::query("UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn cache_epoch(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT epoch FROM cache_epoch WHERE id = 1").fetch_one(&self.pool).await?;
        Ok(sqlx::Row::try_get(&row, "epoch")?)
    }

    /// Waits for checked-out connections to return, then closes them all.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The SQLite URL with `mode=rwc` (create if missing) and pool options. An in-memory database lives only
/// as long as its one connection, so it gets exactly one that never expires.
fn sqlite_pool(url: &str) -> StoreResult<(String, AnyPoolOptions)> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory");
    if in_memory {
        let options = AnyPoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        return Ok((url.to_string(), options));
    }
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
    }
    let url = if query.split('&').any(|kv| kv.starts_with("mode=")) {
        url.to_string()
    } else if query.is_empty() {
        format!("{url}?mode=rwc")
    } else {
        format!("{url}&mode=rwc")
    };
    // WAL lets readers run beside the one writer; a handful of connections is plenty.
    let options = AnyPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(30));
    Ok((url, options))
}

fn config_error(msg: String) -> StoreError {
    StoreError::Db(sqlx::Error::Configuration(msg.into()))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_from_urls() {
        assert_eq!(Backend::of_url("sqlite:///x/meta.db").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u@h/db").ok(), Some(Backend::Postgres));
        assert!(Backend::of_url("mysql://u@h/db").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
