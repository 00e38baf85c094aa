//! The smart HTTP protocol, served by the system `git` (`upload-pack` / `receive-pack` in stateless-RPC
//! mode): the same programs `git http-backend` runs, so clones and fetches are exactly as fast and as
//! compatible as git itself. This module only builds the processes; HTTP framing is the caller's.

use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    /// `git-upload-pack` / `git-receive-pack`, as in `?service=` and the POST path.
    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    fn subcommand(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }
}

/// What a push runs before any ref moves: a `pre-receive` hook in `hooks_dir`, given `env`.
#[derive(Debug, Clone)]
pub struct PushHook {
    pub hooks_dir: PathBuf,
    pub env: Vec<(String, String)>,
}

/// `git <service> --stateless-rpc [--advertise-refs] <repo>`, with stdin and stdout piped and the process
/// killed if the request is dropped (a client that disconnects mid-push leaves no ref update: git moves
/// refs only after the whole pack arrived and was checked).
pub fn command(
    repo: &Path,
    service: Service,
    advertise: bool,
    git_protocol: Option<&str>,
    hook: Option<&PushHook>,
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("git");
    // Only what we set: no user or system config may change what the server does.
    c.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    c.env("GIT_CONFIG_NOSYSTEM", "1").env("HOME", repo);
    if let Some(p) = git_protocol.filter(|p| p.len() < 256 && p.bytes().all(|b| b.is_ascii_graphic())) {
        c.env("GIT_PROTOCOL", p);
    }
    // Pushes: objects are checked as they arrive; refs may not be deleted or rewritten by accident
    // of configuration (policy is decided by the hook and the caller's authorization).
    c.args(["-c", "receive.fsckObjects=true", "-c", "uploadpack.allowFilter=true"]);
    c.args(["-c", "receive.denyDeleteCurrent=false", "-c", "receive.denyNonFastForwards=false"]);
    match hook {
        Some(h) => {
            c.arg("-c").arg(format!("core.hooksPath={}", h.hooks_dir.display()));
            for (k, v) in &h.env {
                c.env(k, v);
            }
        }
        None => {
            c.args(["-c", "core.hooksPath=/dev/null"]);
        }
    }
    c.arg(service.subcommand()).arg("--stateless-rpc");
    if advertise {
        c.arg("--advertise-refs");
    }
    c.arg(repo);
    c.stdin(if advertise { Stdio::null() } else { Stdio::piped() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Whether git speaks protocol v2 for this request (`Git-Protocol: version=2`); the advertisement then
/// carries no `# service=` preamble.
pub fn wants_v2(git_protocol: Option<&str>) -> bool {
    git_protocol.is_some_and(|p| p.split(':').any(|kv| kv == "version=2"))
}
