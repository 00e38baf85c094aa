"""Compatibility suite: the real `huggingface_hub` library and `hf` CLI against a running Gatehouse.

The session fixture `hub` starts `gatehouse serve` on a free port with a fresh data dir (and, with
COMPAT_DATABASE=postgres, a fresh PostgreSQL database), seeds users, an organization and tokens through the
admin CLI, and stops the server with SIGTERM at the end.

Environment:
  GATEHOUSE_BIN          server binary (default: <repo>/target/debug/gatehouse)
  COMPAT_DATABASE        sqlite (default) | postgres
  COMPAT_PG_ADMIN_URL    where to CREATE/DROP the per-session database
                         (default: postgres://postgres@127.0.0.1:5432/test, then the same with user root)
  COMPAT_KEEP_DATA=1     keep the data dir (and database) after the session
  COMPAT_PORT            port for the server (default: a free one)
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

# --- isolate the client BEFORE huggingface_hub is imported (it reads most settings at import time) -------
# HF_ENDPOINT too: the client derives its URL template and its set of "Hub hosts" from it at import, exactly as
# for a user who exports HF_ENDPOINT. So the server's port is chosen now and the session fixture listens on it.
def _free_port() -> int:
    import socket as _socket

    with _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_PORT = int(os.environ.get("COMPAT_PORT") or _free_port())
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{SERVER_PORT}"
_SESSION_HF_HOME = tempfile.mkdtemp(prefix="gh-compat-hfhome-")
for _k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
           "HF_TOKEN_PATH", "HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HUGGINGFACE_CO_STAGING",
           "HF_XET_CACHE", "HF_ASSETS_CACHE", "HF_OIDC_RESOURCE"):
    os.environ.pop(_k, None)
os.environ["HF_HOME"] = _SESSION_HF_HOME
atexit.register(shutil.rmtree, _SESSION_HF_HOME, True)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_UPDATE_CHECK"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "30")

import httpx  # noqa: E402
import pytest  # noqa: E402

import huggingface_hub  # noqa: E402
from huggingface_hub import HfApi, constants  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "gatehouse"

# Identities seeded for every session. alice owns things and administers org `acme`; bob is an outsider;
# carol, dave and erin are acme members with the roles read, contributor and write.
ORG = "acme"
ORG_FULL_NAME = "Acme Research"
USERS = {
    "alice": "Alice Liddell",
    "bob": "Bob Outsider",
    "carol": "Carol Reader",
    "dave": "Dave Contributor",
    "erin": "Erin Writer",
}
ORG_ROLES = {"carol": "read", "dave": "contributor", "erin": "write"}


def unique(prefix: str = "r") -> str:
    """A fresh, valid repo name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class _Postgres:
    """A throwaway database on the local PostgreSQL server (created with psql)."""

    def __init__(self) -> None:
        if not shutil.which("psql"):
            raise RuntimeError("COMPAT_DATABASE=postgres needs the psql client (apt-get install postgresql-client)")
        candidates = [os.environ["COMPAT_PG_ADMIN_URL"]] if os.environ.get("COMPAT_PG_ADMIN_URL") else [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://root@127.0.0.1:5432/test",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ]
        errors = []
        for url in candidates:
            r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", "select 1"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                self.admin_url = url
                break
            errors.append(f"{url}: {r.stderr.strip()}")
        else:
            raise RuntimeError("cannot reach PostgreSQL: " + "; ".join(errors))
        self.name = f"gh_compat_{uuid.uuid4().hex[:12]}"
        self._psql(f'CREATE DATABASE "{self.name}"')
        base, _, _db = self.admin_url.rpartition("/")
        self.url = f"{base}/{self.name}"

    def _psql(self, sql: str) -> None:
        subprocess.run(["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True,
                       capture_output=True, text=True)

    def drop(self) -> None:
        try:
            self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except subprocess.CalledProcessError as e:  # pragma: no cover - best effort
            print(f"[compat] could not drop database {self.name}: {e.stderr}", file=sys.stderr)


@dataclass
class Hub:
    """A running Gatehouse and the identities seeded in it."""

    binary: Path
    data_dir: Path
    endpoint: str
    env: dict
    log_path: Path
    database: str
    tokens: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    org: str = ORG

    # -- admin CLI ---------------------------------------------------------------------------------------
    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([str(self.binary), *args], env=self.env, input=input, capture_output=True,
                           text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"`gatehouse {' '.join(args)}` exited {r.returncode}\nstdout: {r.stdout}\n"
                               f"stderr: {r.stderr}")
        return r

    def create_token(self, user: str, role: str = "write", name: str | None = None) -> str:
        args = ["token", "create", user, "--role", role]
        if name:
            args += ["--name", name]
        out = self.cli(*args).stdout.strip()
        assert out and len(out.split()) == 1, f"`gatehouse token create` must print the token alone, got {out!r}"
        return out

    # -- clients -----------------------------------------------------------------------------------------
    def api(self, who: str | None = "alice") -> HfApi:
        """HfApi for a seeded identity (`alice`, `alice_read`, `bob`, …) or anonymous (None)."""
        return HfApi(endpoint=self.endpoint, token=self.tokens[who] if who else False)

    def http(self, who: str | None = "alice") -> httpx.Client:
        headers = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.endpoint, headers=headers, timeout=60, follow_redirects=False)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"


def _wait_healthy(hub: Hub, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if hub.proc.poll() is not None:
            raise RuntimeError(f"gatehouse serve exited with {hub.proc.returncode} before becoming ready:\n"
                               f"{hub.log_tail()}")
        try:
            r = httpx.get(hub.endpoint + "/healthz", timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            last = repr(e)
        time.sleep(0.2)
    raise RuntimeError(f"gatehouse did not answer GET /healthz with 200 within {timeout}s (last: {last}):\n"
                       f"{hub.log_tail()}")


def _stop(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


_SESSION_STATE: dict = {}


def resolve_binary() -> Path:
    binary = Path(os.environ.get("GATEHOUSE_BIN") or DEFAULT_BIN)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"gatehouse binary not found at {binary} (build it: cargo build -p gatehouse --bin gatehouse, "
                    f"or set GATEHOUSE_BIN)", pytrace=False)
    return binary


def database_kind() -> str:
    database = os.environ.get("COMPAT_DATABASE", "sqlite").lower()
    if database not in ("sqlite", "postgres"):
        pytest.fail(f"COMPAT_DATABASE must be sqlite or postgres, not {database!r}", pytrace=False)
    return database


def launch(hub: Hub) -> Hub:
    """Start `gatehouse serve` for hub (its data dir, env and endpoint) and wait until /healthz answers 200."""
    port = hub.endpoint.rsplit(":", 1)[1]
    log = open(hub.log_path, "ab")
    hub.proc = subprocess.Popen([str(hub.binary), "serve", "--data-dir", str(hub.data_dir), "--listen",
                                 f"127.0.0.1:{port}"], env=hub.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    log.close()  # the child keeps its own descriptor
    try:
        _wait_healthy(hub, timeout=float(os.environ.get("COMPAT_STARTUP_TIMEOUT", "90")))
    except BaseException:
        _stop(hub.proc)
        raise
    return hub


def new_hub(binary: Path, database: str, port: int, pg: "_Postgres | None" = None) -> Hub:
    """A not-yet-started Hub with a fresh data dir (and the given PostgreSQL database, if any)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"gh-compat-{database}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env["GATEHOUSE_DATA_DIR"] = str(data_dir)
    env.setdefault("RUST_LOG", "info")
    if pg is not None:
        env["GATEHOUSE_DATABASE_URL"] = pg.url
    return Hub(binary=binary, data_dir=data_dir, endpoint=f"http://127.0.0.1:{port}", env=env,
               log_path=data_dir / "server.log", database=database)


@pytest.fixture(scope="session")
def hub() -> Hub:
    binary = resolve_binary()
    database = database_kind()
    pg = _Postgres() if database == "postgres" else None
    hub = new_hub(binary, database, SERVER_PORT, pg)
    assert constants.ENDPOINT == hub.endpoint, (constants.ENDPOINT, hub.endpoint)
    _SESSION_STATE["hub"] = hub
    try:
        launch(hub)
        # Seed through the admin CLI while the server runs.
        for name, full in USERS.items():
            hub.cli("user", "create", name, "--email", f"{name}@example.com", "--full-name", full)
        hub.cli("org", "create", ORG, "--admin", "alice", "--full-name", ORG_FULL_NAME)
        for name, role in ORG_ROLES.items():
            hub.cli("org", "add-member", ORG, name, "--role", role)
        for name in USERS:
            hub.tokens[name] = hub.create_token(name, "write", f"compat-{name}-write")
        hub.tokens["alice_read"] = hub.create_token("alice", "read", "compat-alice-read")
    except BaseException:
        if hub.proc is not None:
            _stop(hub.proc)
        if pg:
            pg.drop()
        raise
    yield hub
    rc = _stop(hub.proc)
    _SESSION_STATE["exit_code"] = rc
    keep = os.environ.get("COMPAT_KEEP_DATA") == "1" or _SESSION_STATE.get("failed")
    if pg and not keep:
        pg.drop()
    if not keep:
        shutil.rmtree(hub.data_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_client(monkeypatch, tmp_path):
    """Every test gets its own HF_HOME / cache / token path; the user's token file is never read."""
    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_XET_CACHE", str(home / "xet"), raising=False)
    yield


@pytest.fixture
def api(hub) -> HfApi:
    return hub.api("alice")


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    d = tmp_path / "cache"
    d.mkdir()
    return d


@pytest.fixture
def make_repo(hub):
    """Factory: make_repo(owner="alice", repo_type="model", private=False, who="alice") -> repo_id."""

    def _make(owner: str = "alice", repo_type: str = "model", private: bool = False, who: str = "alice",
              prefix: str = "r") -> str:
        repo_id = f"{owner}/{unique(prefix)}"
        url = hub.api(who).create_repo(repo_id, repo_type=repo_type, private=private)
        assert url.repo_id == repo_id
        return repo_id

    return _make


def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
        _SESSION_STATE["failed"] = True


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    hub = _SESSION_STATE.get("hub")
    if hub is None:
        return
    tr = terminalreporter
    tr.section(f"gatehouse ({hub.database})")
    tr.write_line(f"huggingface_hub {huggingface_hub.__version__}; endpoint {hub.endpoint}; data dir {hub.data_dir}")
    rc = _SESSION_STATE.get("exit_code")
    if rc not in (None, 0):
        tr.write_line(f"WARNING: gatehouse serve exited with {rc} after SIGTERM (expected 0)")
    if exitstatus != 0:
        tr.write_line(f"server log kept at {hub.log_path}; last lines:")
        tr.write_line(hub.log_tail(40))
