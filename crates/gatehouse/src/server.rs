//! Opening the data directory and running the HTTP server until SIGTERM or Ctrl-C.

use crate::config::{redact_url, Config};
use anyhow::Context;
use gatehouse_blob::BlobStore;
use gatehouse_core::{Hub, HubConfig};
use gatehouse_git::GitStore;
use gatehouse_http::HttpConfig;
use gatehouse_store::Store;
use rand::RngCore;
use std::sync::Arc;

/// Opens (and on first use initialises) the data directory, the database and the blob store.
pub async fn open_hub(config: &Config) -> anyhow::Result<Arc<Hub>> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("connecting to {}", redact_url(&config.database_url)))?;
    store.migrate().await.context("migrating the database")?;
    let git = GitStore::new(config.data_dir.join("repos"));
    let blobs =
        BlobStore::from_url(&config.storage_url).with_context(|| format!("opening storage {}", config.storage_url))?;
    let signing_key = signing_key(config)?;
    let xet = gatehouse_core::xet::XetConfig {
        token_ttl_secs: config.xet_token_ttl_secs,
        gc_grace_secs: config.xet_gc_grace_secs,
        ..Default::default()
    };
    let accounts = gatehouse_core::sessions::AccountsConfig {
        signup: config.signup,
        session_idle_ms: i64::try_from(config.session_idle_secs).unwrap_or(i64::MAX / 1000) * 1000,
        ..Default::default()
    };
    let mail = gatehouse_core::notify::MailConfig {
        smtp_url: config.smtp_url.clone(),
        from: config.mail_from.clone(),
        public_url: config.public_url.clone(),
    };
    let hub_config = HubConfig { data_dir: config.data_dir.clone(), signing_key, xet, accounts, mail };
    Ok(Hub::new(hub_config, store, git, blobs))
}

/// The key behind signed URLs: read from its file, or generated (mode 0600) on first start.
fn signing_key(config: &Config) -> anyhow::Result<Vec<u8>> {
    let path = &config.signing_key_file;
    if let Ok(text) = std::fs::read_to_string(path) {
        return hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()));
    }
    let mut key = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, hex::encode(&key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(key)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(&config);
    let hub = open_hub(&config).await?;
    clean_up_after_crash(&hub).await;
    let http = HttpConfig {
        public_url: config.public_url.clone(),
        max_commit_bytes: config.max_commit_bytes,
        multipart: gatehouse_core::lfs::Multipart {
            threshold: config.lfs_multipart_threshold,
            chunk_size: config.lfs_multipart_chunk_size,
        },
        xet_cas_url: config.xet_cas_url.clone(),
        git_hook: Some(install_push_hook(&config)?),
    };
    tokio::spawn(hub.clone().watch_changes());
    tokio::spawn(finish_interrupted_lfs_gc(hub.clone()));
    if config.xet_gc_interval_secs > 0 {
        tokio::spawn(collect_xet_garbage(hub.clone(), config.xet_gc_interval_secs));
    }
    tokio::spawn(sweep_sessions(hub.clone()));
    tokio::spawn(gatehouse_core::gating::digest::run(hub.clone()));
    tokio::spawn(gatehouse_core::notify::run_mailer(hub.clone()));
    // Client addresses (ConnectInfo) throttle sign-in attempts per client.
    let app = gatehouse_web::app(hub.clone(), http).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), database = %redact_url(&config.database_url), "gatehouse listening");
    print_getting_started(&config, addr);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let graceful = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(graceful);
    // In-flight requests get `shutdown_grace_secs` to finish; a client stalled mid-upload cannot hold
    // the process forever (its commit is simply not applied).
    let grace = std::time::Duration::from_secs(config.shutdown_grace_secs);
    let deadline = async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served?,
        () = deadline => tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the grace period; exiting"),
    }
    tracing::info!("closing the database");
    hub.store.close().await;
    Ok(())
}

/// What a killed process can leave behind: spool files and multipart parts (never referenced), ref
/// locks that would wedge a branch, and half-written uploads in the blob store's staging area. Only the
/// spool must go before serving (it is this process's own scratch space); the rest is swept in the
/// background, so start-up does not walk every repository — and a commit that meets a stale lock clears
/// it itself anyway.
async fn clean_up_after_crash(hub: &Arc<Hub>) {
    let _ = std::fs::remove_dir_all(hub.spool_dir());
    let hub = hub.clone();
    tokio::task::spawn_blocking(move || {
        match hub.git.remove_stale_locks() {
            Ok(n) if n > 0 => tracing::warn!(removed = n, "removed stale git locks left by a crash"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not sweep git locks"),
        }
        let staged = hub.blobs.remove_stale_staging(std::time::Duration::from_secs(3600));
        if staged > 0 {
            tracing::warn!(removed = staged, "removed abandoned uploads from blob staging");
        }
    });
}

/// Writes `data_dir/hooks/pre-receive`, which runs `gatehouse hook pre-receive` (this very binary) to
/// check push rules before git moves any ref, and `post-receive`, which refreshes the card's tags after
/// a push; and the environment they need to find the same database and storage as this server.
fn install_push_hook(config: &Config) -> anyhow::Result<gatehouse_git::transport::PushHook> {
    let dir = absolute_dir(&config.data_dir.join("hooks"))?;
    for (hook, what) in [("pre-receive", "push rules"), ("post-receive", "the card's tags after a push")] {
        let text = format!(
            "#!/bin/sh\n# Installed by gatehouse serve: {what} (see `gatehouse hook {hook}`).\nexec \"$GATEHOUSE_HOOK_EXE\" hook {hook}\n"
        );
        let tmp = dir.join(format!("{hook}.tmp"));
        std::fs::write(&tmp, text)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::rename(&tmp, dir.join(hook))?;
    }
    let exe = std::env::current_exe().context("locating the gatehouse binary for the push hook")?;
    let mut env = vec![
        ("GATEHOUSE_HOOK_EXE".to_string(), exe.display().to_string()),
        ("GATEHOUSE_DATA_DIR".to_string(), absolute_dir(&config.data_dir)?.display().to_string()),
        ("GATEHOUSE_DATABASE_URL".to_string(), config.database_url.clone()),
        ("GATEHOUSE_STORAGE_URL".to_string(), config.storage_url.clone()),
        ("GATEHOUSE_SIGNING_KEY_FILE".to_string(), config.signing_key_file.display().to_string()),
        ("GATEHOUSE_LOG".to_string(), "warn".to_string()),
    ];
    // Object-store credentials, for checking that pushed LFS pointers name stored objects.
    env.extend(std::env::vars().filter(|(k, _)| k.starts_with("AWS_")));
    Ok(gatehouse_git::transport::PushHook { hooks_dir: dir, env })
}

fn absolute_dir(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.canonicalize()?)
}

/// An LFS blob a stopped collector left doomed is deleted soon after its doom goes stale, rather than at
/// the next collection, so uploads of the same content are not refused for long.
async fn finish_interrupted_lfs_gc(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(gatehouse_core::lfs_gc::RESUME_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = gatehouse_core::lfs_gc::resume(&hub).await {
            tracing::warn!(error = %e, "could not finish an interrupted LFS garbage collection");
        }
    }
}

/// Periodic garbage collection of Xet and LFS storage (the first run an interval after start). Several
/// servers sharing a database may each run it: every deletion re-checks its conditions, so they only
/// duplicate work.
async fn collect_xet_garbage(hub: Arc<Hub>, interval_secs: u64) {
    let grace = std::time::Duration::from_secs(hub.config.xet.gc_grace_secs);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval_secs));
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = gatehouse_core::xet::gc::collect(&hub, grace).await {
            tracing::warn!(error = %e, "xet garbage collection failed");
        }
    }
}

/// Expired browser sessions are deleted hourly (they are refused when expired anyway; this keeps the
/// table small).
async fn sweep_sessions(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(e) = gatehouse_core::sessions::sweep_expired(&hub).await {
            tracing::warn!(error = %e, "could not sweep expired sessions");
        }
    }
}

/// What to do next, on the terminal (not the log): point clients here and make a token.
fn print_getting_started(config: &Config, addr: std::net::SocketAddr) {
    let endpoint = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let exe = std::env::args().next().unwrap_or_else(|| "gatehouse".into());
    let dd = format!(" --data-dir {}", config.data_dir.display());
    eprintln!(
        "\nGatehouse is ready at {endpoint}\n\n  Point the Hugging Face tools at it:\n    export HF_ENDPOINT={endpoint}\n\n  \
         Create a user and an access token (in another terminal; works while the server runs):\n    \
         {exe}{dd} user create alice --email alice@example.com\n    \
         export HF_TOKEN=$({exe}{dd} token create alice --role write)\n"
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}
