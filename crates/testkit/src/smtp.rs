//! A real SMTP server for tests: `support/smtp_sink.py` (aiosmtpd) on a free local port, storing every
//! message it accepts in a Maildir. Needs Python 3 with `aiosmtpd` (Debian: `python3-aiosmtpd`, which
//! `.ci/run` installs); without it [`SmtpSink::start`] says so and returns None, and the test skips.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/support/smtp_sink.py");

/// A Python 3 that can import aiosmtpd: `GATEHOUSE_TEST_PYTHON`, Debian's `/usr/bin/python3` (where the
/// package installs), or `python3` on the PATH.
pub fn python_with_aiosmtpd() -> Option<String> {
    let candidates =
        std::env::var("GATEHOUSE_TEST_PYTHON").ok().into_iter().chain(["/usr/bin/python3".into(), "python3".into()]);
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd.smtp"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One message as the sink stored it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Header names as sent, values unfolded.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The Maildir file (arrival order sorts by name).
    pub file: String,
}

impl Mail {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as a reader sees it: quoted-printable decoded when the mail says it is so encoded.
    pub fn text(&self) -> String {
        let qp = self.header("Content-Transfer-Encoding").is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return self.body.clone();
        }
        let soft = self.body.replace("=\r\n", "").replace("=\n", "");
        let bytes = soft.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'=', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn parse(file: String, raw: &str) -> Mail {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = headers.last_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Mail { headers, body: body.to_string(), file }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Require AUTH with these credentials.
    pub credentials: Option<(String, String)>,
}

/// The running sink; stopped when dropped.
pub struct SmtpSink {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
    dir: tempfile::TempDir,
    events: Arc<Mutex<Vec<String>>>,
    credentials: Option<(String, String)>,
}

impl SmtpSink {
    /// Starts the sink, or returns None after printing why the test is skipped (no aiosmtpd). Panics if
    /// aiosmtpd is there but the sink does not come up.
    pub fn start(opts: SinkOptions) -> Option<SmtpSink> {
        let Some(python) = python_with_aiosmtpd() else {
            eprintln!(
                "SKIPPED: no Python 3 with aiosmtpd (install python3-aiosmtpd, or set GATEHOUSE_TEST_PYTHON); \
                 this test needs a real SMTP server"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("maildir");
        let control = dir.path().join("control");
        std::fs::create_dir_all(&control).expect("control dir");
        let mut cmd = Command::new(&python);
        cmd.arg(SCRIPT).arg("--maildir").arg(&maildir).arg("--control").arg(&control);
        if let Some((user, password)) = &opts.credentials {
            cmd.args(["--user", user, "--password", password]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {python} {SCRIPT}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let sink_events = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("PORT ") {
                    let _ = port_tx.send(port.trim().parse::<u16>().ok());
                }
                sink_events.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(port)) => port,
            other => {
                let _ = child.kill();
                panic!("the SMTP sink did not start ({other:?})");
            }
        };
        Some(SmtpSink { child, _stdin: stdin, port, dir, events, credentials: opts.credentials })
    }

    /// `smtp://[user:password@]127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match &self.credentials {
            Some((user, password)) => format!("smtp://{user}:{password}@127.0.0.1:{}", self.port),
            None => format!("smtp://127.0.0.1:{}", self.port),
        }
    }

    fn maildir_new(&self) -> PathBuf {
        self.dir.path().join("maildir").join("new")
    }

    fn switch(&self, name: &str, on: bool) {
        let path = self.dir.path().join("control").join(name);
        if on {
            std::fs::write(&path, b"").expect("switch on");
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }

    /// While on, MAIL FROM is not answered: a sender is stuck mid-transaction and nothing is stored.
    pub fn hold(&self, on: bool) {
        self.switch("hold", on);
    }

    /// While on, MAIL FROM is answered with a transient failure (451).
    pub fn refuse(&self, on: bool) {
        self.switch("refuse", on);
    }

    /// How many lines the sink printed that are exactly `event` (`HELD`, `REFUSED`).
    pub fn count(&self, event: &str) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|l| *l == event).count()
    }

    /// Every message stored so far, in arrival order.
    pub fn messages(&self) -> Vec<Mail> {
        read_maildir(&self.maildir_new())
    }

    /// Waits (bounded) until at least `n` messages are stored, then returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} messages arrived within {timeout:?}", got.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits (bounded) until the sink printed `event` at least `n` times.
    pub async fn wait_event(&self, event: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(event) < n {
            assert!(Instant::now() < deadline, "{event} seen {} of {n} times within {timeout:?}", self.count(event));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn read_maildir(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let raw = std::fs::read(&p).ok()?;
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some(Mail::parse(name, &String::from_utf8_lossy(&raw)))
        })
        .collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
