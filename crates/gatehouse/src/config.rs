//! The one typed configuration: defaults, then a TOML file, then `GATEHOUSE_*` variables, then flags.
//! Passed down explicitly; never a global. Secrets are redacted in `Debug`.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `sqlite://…` (default: a file in the data directory) or `postgres://…`.
    pub database_url: String,
    /// `file:///…` (default: `blobs/` in the data directory) or `s3://bucket/prefix`.
    pub storage_url: String,
    pub public_url: Option<String>,
    pub max_commit_bytes: u64,
    pub lfs_multipart_threshold: u64,
    pub lfs_multipart_chunk_size: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// Where the key for signed URLs lives (generated on first start when missing).
    pub signing_key_file: PathBuf,
    /// After SIGTERM, how long in-flight requests may take before the process exits anyway.
    pub shutdown_grace_secs: u64,
    /// The Xet CAS URL given to clients (default: `/cas` on the origin they reached us by).
    pub xet_cas_url: Option<String>,
    pub xet_token_ttl_secs: u64,
    /// Unused xorbs younger than this are never collected (clients reuse theirs for three weeks).
    pub xet_gc_grace_secs: u64,
    /// How often the server collects Xet garbage (0: only `gatehouse xet gc`).
    pub xet_gc_interval_secs: u64,
    /// Who may create an account in the browser: `open`, `invite-only` or `closed`.
    pub signup: gatehouse_core::sessions::SignupMode,
    /// A browser session ends after this long without use.
    pub session_idle_secs: u64,
    /// Where notifications are mailed through (`smtp://`, `smtp://…?tls=required`, `smtps://`); None: no mail.
    pub smtp_url: Option<String>,
    /// The From address of notification mails.
    pub mail_from: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("storage_url", &self.storage_url)
            .field("public_url", &self.public_url)
            .field("max_commit_bytes", &self.max_commit_bytes)
            .field("log_format", &self.log_format)
            .field("signing_key_file", &self.signing_key_file)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("xet_cas_url", &self.xet_cas_url)
            .field("xet_token_ttl_secs", &self.xet_token_ttl_secs)
            .field("xet_gc_grace_secs", &self.xet_gc_grace_secs)
            .field("xet_gc_interval_secs", &self.xet_gc_interval_secs)
            .field("signup", &self.signup)
            .field("session_idle_secs", &self.session_idle_secs)
            .field("smtp_url", &self.smtp_url.as_deref().map(gatehouse_core::notify::redact_smtp_url))
            .field("mail_from", &self.mail_from)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Keys of the TOML file; every one can also be set as `GATEHOUSE_<KEY IN UPPER CASE>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    database_url: Option<String>,
    storage_url: Option<String>,
    public_url: Option<String>,
    max_commit_bytes: Option<u64>,
    lfs_multipart_threshold: Option<u64>,
    lfs_multipart_chunk_size: Option<u64>,
    log_format: Option<String>,
    signing_key_file: Option<PathBuf>,
    shutdown_grace_secs: Option<u64>,
    xet_cas_url: Option<String>,
    xet_token_ttl_secs: Option<u64>,
    xet_gc_grace_secs: Option<u64>,
    xet_gc_interval_secs: Option<u64>,
    signup: Option<String>,
    session_idle_secs: Option<u64>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub config: Option<PathBuf>,
}

fn env(key: &str) -> Option<String> {
    std::env::var(format!("GATEHOUSE_{key}")).ok().filter(|v| !v.is_empty())
}

impl Config {
    pub fn load(flags: &Flags) -> anyhow::Result<Config> {
        let file_path = flags.config.clone().or_else(|| env("CONFIG").map(PathBuf::from));
        let file: FileConfig = match &file_path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let pick = |flag: Option<String>, key: &str, file: Option<String>| flag.or_else(|| env(key)).or(file);
        let num = |key: &str, file: Option<u64>, default: u64| -> anyhow::Result<u64> {
            match env(key) {
                Some(v) => v.parse().with_context(|| format!("GATEHOUSE_{key} must be a number")),
                None => Ok(file.unwrap_or(default)),
            }
        };
        let data_dir = flags
            .data_dir
            .clone()
            .or_else(|| env("DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let listen = pick(flags.listen.clone(), "LISTEN", file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen.parse().with_context(|| format!("invalid listen address {listen:?}"))?;
        let database_url = pick(None, "DATABASE_URL", file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", absolute(&data_dir.join("gatehouse.db")).display()));
        let storage_url = pick(None, "STORAGE_URL", file.storage_url)
            .unwrap_or_else(|| format!("file://{}", absolute(&data_dir.join("blobs")).display()));
        let log_format = pick(None, "LOG_FORMAT", file.log_format).unwrap_or_else(|| "text".into());
        if log_format != "text" && log_format != "json" {
            bail!("log_format must be text or json");
        }
        let signing_key_file = pick(None, "SIGNING_KEY_FILE", file.signing_key_file.map(|p| p.display().to_string()))
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("signing.key"));
        let signup = pick(None, "SIGNUP", file.signup).unwrap_or_else(|| "invite-only".into());
        let signup = gatehouse_core::sessions::SignupMode::parse(&signup).map_err(|e| anyhow::anyhow!(e.message))?;
        let smtp_url = pick(None, "SMTP_URL", file.smtp_url);
        let mail_from = pick(None, "MAIL_FROM", file.mail_from)
            .unwrap_or_else(|| gatehouse_core::notify::MailConfig::default().from);
        let mail = gatehouse_core::notify::MailConfig {
            smtp_url: smtp_url.clone(),
            from: mail_from.clone(),
            public_url: None,
        };
        mail.check().map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(Config {
            signup,
            session_idle_secs: num("SESSION_IDLE_SECS", file.session_idle_secs, 14 * 24 * 3600)?.max(60),
            public_url: pick(None, "PUBLIC_URL", file.public_url).map(|u| u.trim_end_matches('/').to_string()),
            max_commit_bytes: num("MAX_COMMIT_BYTES", file.max_commit_bytes, 64 << 30)?,
            lfs_multipart_threshold: num("LFS_MULTIPART_THRESHOLD", file.lfs_multipart_threshold, 512 << 20)?,
            lfs_multipart_chunk_size: num("LFS_MULTIPART_CHUNK_SIZE", file.lfs_multipart_chunk_size, 64 << 20)?
                .max(5 << 20),
            shutdown_grace_secs: num("SHUTDOWN_GRACE_SECS", file.shutdown_grace_secs, 60)?,
            xet_cas_url: pick(None, "XET_CAS_URL", file.xet_cas_url).map(|u| u.trim_end_matches('/').to_string()),
            xet_token_ttl_secs: num("XET_TOKEN_TTL_SECS", file.xet_token_ttl_secs, 3600)?.max(1),
            xet_gc_grace_secs: num("XET_GC_GRACE_SECS", file.xet_gc_grace_secs, 28 * 24 * 3600)?,
            xet_gc_interval_secs: num("XET_GC_INTERVAL_SECS", file.xet_gc_interval_secs, 24 * 3600)?,
            data_dir,
            listen,
            database_url,
            storage_url,
            log_format,
            signing_key_file,
            smtp_url,
            mail_from,
        })
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("sqlite:///x"), "sqlite:///x");
    }

    #[test]
    fn mail_settings_are_checked_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("g.toml");
        std::fs::write(&f, "smtp_url = \"smtp://hub:s3cret@127.0.0.1:2525\"\nmail_from = \"Hub <hub@example.com>\"\n")
            .unwrap();
        let c = Config::load(&Flags { config: Some(f), ..Default::default() }).unwrap();
        assert_eq!(c.smtp_url.as_deref(), Some("smtp://hub:s3cret@127.0.0.1:2525"));
        assert_eq!(c.mail_from, "Hub <hub@example.com>");
        let shown = format!("{c:?}");
        assert!(shown.contains("smtp://hub:***@127.0.0.1:2525") && !shown.contains("s3cret"), "{shown}");
        let c = Config::load(&Flags { data_dir: Some(dir.path().into()), ..Default::default() }).unwrap();
        assert_eq!((c.smtp_url, c.mail_from.as_str()), (None, "gatehouse@localhost"));
        std::fs::write(dir.path().join("bad.toml"), "smtp_url = \"http://mail.example.com\"\n").unwrap();
        let err = Config::load(&Flags { config: Some(dir.path().join("bad.toml")), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("smtp_url"), "{err}");
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("g.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9999\"\ndata_dir = \"/srv/gh\"\n").unwrap();
        let c = Config::load(&Flags { config: Some(f.clone()), ..Default::default() }).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.data_dir, PathBuf::from("/srv/gh"));
        assert!(c.database_url.starts_with("sqlite:///srv/gh/"));
        let c =
            Config::load(&Flags { config: Some(f), listen: Some("127.0.0.1:1".into()), ..Default::default() }).unwrap();
        assert_eq!(c.listen.port(), 1);
        std::fs::write(dir.path().join("bad.toml"), "nope = 1").unwrap();
        assert!(Config::load(&Flags { config: Some(dir.path().join("bad.toml")), ..Default::default() }).is_err());
    }
}
