"""Git smart HTTP with the real `git` and `git-lfs` against the built binary (spec §10).

Every test runs git in its own HOME (GIT_CONFIG_GLOBAL there, no system config, `git lfs install
--skip-repo`, GIT_TERMINAL_PROMPT=0 so a missing credential fails at once instead of prompting). Credentials
travel in the URL (`http://hf_user:TOKEN@host/ns/name`: HTTP Basic, any username, the token as password) or as
`-c http.extraHeader="Authorization: Bearer TOKEN"`, which git-lfs honours as well.

What the server promises (and these tests check):
- `GET {repo}/info/refs?service=git-upload-pack|git-receive-pack`, `POST {repo}/git-upload-pack|git-receive-pack`
  for `{repo}` = `/{ns}/{name}[.git]`, `/datasets/{ns}/{name}[.git]`; protocol v2 when git asks for it.
- Anonymous on a private or missing repo: 401 + `WWW-Authenticate: Basic` (the same for both); a signed-in
  caller without access: 404; push without write: 401 anonymous, 403 read token or non-writer.
- A push is refused as a whole (ref unchanged) for a new non-LFS blob over 10 MiB (message mentions git-lfs)
  or an LFS pointer whose object this repository never received.
- Pushes and API commits share refs and history; racing writers never both win nor lose silently.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from compat_helpers import HEX40, HEX64, describe, git_blob_sha1, read_tree, sha256, without_gitattributes
from test_xet import Traffic, hits, show  # request counters from /metrics

LFS_BATCH = "~/info/lfs/objects/batch"
LFS_PUT = "/api/lfs/objects/{repo_id}/{oid}/{size}"
LFS_GET = "/api/lfs/objects/{repo_id}/{oid}"

MiB = 1024 * 1024
PREFIX = {"model": "", "dataset": "/datasets", "space": "/spaces"}
GIT_BIN = shutil.which("git") or "git"

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed")


# --- git in an isolated HOME ----------------------------------------------------------------------------


class Git:
    """Runs the real git with its own HOME and global config; failures carry the server log tail."""

    def __init__(self, hub, home: Path):
        self.hub = hub
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GIT_", "HF_")) and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update({
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "LC_ALL": "C",
            "LANG": "C",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        self.env = env
        for key, value in (("user.name", "Compat Tester"), ("user.email", "tester@example.com"),
                           ("init.defaultBranch", "main"), ("advice.detachedHead", "false"),
                           ("pull.rebase", "false"), ("protocol.version", "2")):
            self.run("config", "--global", key, value)
        self.run("lfs", "install", "--skip-repo")

    def run(self, *args: str, cwd: Path | None = None, check: bool = True, timeout: float = 180,
            env: dict | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
        full_env = dict(self.env, **(env or {}))
        try:
            r = subprocess.run([GIT_BIN, *args], cwd=cwd, env=full_env, capture_output=True, timeout=timeout,
                               input=input)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"`git {' '.join(args)}` timed out after {timeout}s\nstderr: "
                                 f"{(e.stderr or b'').decode(errors='replace')[-3000:]}\n"
                                 f"--- server log ---\n{self.hub.log_tail(40)}") from None
        r.stdout_text = r.stdout.decode(errors="replace")
        r.stderr_text = r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            raise AssertionError(self.explain(r, "failed"))
        return r

    def explain(self, r: subprocess.CompletedProcess, what: str) -> str:
        return (f"`{' '.join(map(str, r.args))}` {what} (exit {r.returncode})\n--- stdout ---\n"
                f"{r.stdout_text[-2000:]}\n--- stderr ---\n{r.stderr_text[-4000:]}\n"
                f"--- server log (tail) ---\n{self.hub.log_tail(40)}")

    def fails(self, *args: str, **kw) -> subprocess.CompletedProcess:
        r = self.run(*args, check=False, **kw)
        assert r.returncode != 0, self.explain(r, "succeeded but must fail")
        return r

    def out(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout_text.strip()

    def clone(self, url: str, dest: Path, *args: str, **kw) -> Path:
        self.run("clone", *args, url, str(dest), **kw)
        return dest

    def head(self, repo: Path, rev: str = "HEAD") -> str:
        return self.out("rev-parse", rev, cwd=repo)

    def commit_files(self, repo: Path, files: dict[str, bytes], message: str) -> str:
        for rel, data in files.items():
            p = repo / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        self.run("add", "--", *files, cwd=repo)
        self.run("commit", "-q", "-m", message, cwd=repo)
        return self.head(repo)

    def remote_sha(self, url: str, ref: str = "refs/heads/main") -> str | None:
        for line in self.out("ls-remote", url, ref).splitlines():
            sha, name = line.split("\t")
            if name == ref:
                return sha
        return None


@pytest.fixture
def git(hub, tmp_path) -> Git:
    return Git(hub, tmp_path / "githome")


def git_url(hub, repo_id: str, repo_type: str = "model", who: str | None = None, user: str = "hf_user",
            suffix: bool = False, token: str | None = None) -> str:
    """`http://[user:token@]127.0.0.1:port[/datasets]/ns/name[.git]`."""
    host = hub.endpoint.split("://", 1)[1]
    secret = token if token is not None else (hub.tokens[who] if who else None)
    auth = f"{quote(user, safe='')}:{quote(secret, safe='')}@" if secret else ""
    return f"http://{auth}{host}{PREFIX[repo_type]}/{repo_id}{'.git' if suffix else ''}"


def bearer(hub, who: str) -> list[str]:
    return ["-c", f"http.extraHeader=Authorization: Bearer {hub.tokens[who]}"]


def worktree(path: Path) -> dict[str, bytes]:
    return read_tree(path, skip_dirs=(".git",))


def lfs_pointer(data: bytes | None = None, *, oid: str | None = None, size: int | None = None) -> bytes:
    oid = oid or sha256(data)
    size = len(data) if size is None else size
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def download(hub, repo_id: str, filename: str, tmp_path: Path, who: str | None = "alice", **kw) -> bytes:
    path = hf_hub_download(repo_id, filename, cache_dir=tmp_path / f"hfcache-{os.urandom(4).hex()}",
                           endpoint=hub.endpoint, token=hub.tokens[who] if who else False, **kw)
    return Path(path).read_bytes()


def resolve_head(hub, repo_id: str, path: str, rev: str = "main", repo_type: str = "model",
                 who: str = "alice") -> httpx.Response:
    with hub.http(who) as c:
        return c.head(f"{PREFIX[repo_type]}/{repo_id}/resolve/{rev}/{path}")


def api_head(hub, repo_id: str, repo_type: str = "model") -> str:
    return hub.api("alice").repo_info(repo_id, repo_type=repo_type).sha


def commit_ids(hub, repo_id: str, repo_type: str = "model", rev: str = "main") -> list[str]:
    return [c.commit_id for c in hub.api("alice").list_repo_commits(repo_id, repo_type=repo_type, revision=rev)]


def refs(hub, repo_id: str) -> tuple[dict[str, str], dict[str, str]]:
    r = hub.api("alice").list_repo_refs(repo_id)
    return {b.name: b.target_commit for b in r.branches}, {t.name: t.target_commit for t in r.tags}


def random_bytes(n: int, seed: int | None = None) -> bytes:
    if seed is None:
        return os.urandom(n)
    import random

    # Offset: the Xet tests own the low seeds (random.Random(1) is the brief's vector, whose chunks must stay
    # private to them), and equal prefixes give equal chunks that dedup would rightly share.
    return random.Random(10_000 + seed).randbytes(n)


# --- raw smart HTTP ---------------------------------------------------------------------------------------


def pkt(line: bytes | str) -> bytes:
    if isinstance(line, str):
        line = line.encode()
    return b"%04x" % (len(line) + 4) + line


def pkt_lines(body: bytes) -> list[bytes]:
    """Split a pkt-line stream (flushes as b""); stops at anything that is not a pkt-line."""
    out, i = [], 0
    while i + 4 <= len(body):
        try:
            n = int(body[i:i + 4], 16)
        except ValueError:
            break
        if n < 4:
            out.append(b"")
            i += 4
            continue
        out.append(body[i + 4:i + n])
        i += n
    return out


def raw_client(hub, who: str | None = "alice", token: str | None = None) -> httpx.Client:
    """httpx with HTTP Basic (username hf_user, the token as password), as git sends it."""
    secret = token if token is not None else (hub.tokens[who] if who else None)
    return httpx.Client(base_url=hub.endpoint, timeout=60, follow_redirects=False,
                        auth=("hf_user", secret) if secret else None)


def info_refs(client: httpx.Client, repo_path: str, service: str, **headers) -> httpx.Response:
    return client.get(f"{repo_path}/info/refs", params={"service": service}, headers=headers)


def receive_pack(client: httpx.Client, repo_path: str, body: bytes) -> httpx.Response:
    return client.post(f"{repo_path}/git-receive-pack", content=body, headers={
        "content-type": "application/x-git-receive-pack-request",
        "accept": "application/x-git-receive-pack-result"})


def report_status(resp: httpx.Response) -> list[str]:
    """The report-status lines of a receive-pack answer (side-band channel 1 unwrapped if present)."""
    lines = pkt_lines(resp.content)
    data = b""
    plain = []
    for line in lines:
        if line[:1] == b"\x01":
            data += line[1:]
        elif line:
            plain.append(line)
    if data:
        plain += [l for l in pkt_lines(data) if l]
    return [l.decode(errors="replace").rstrip("\n") for l in plain]


def pack_of(git: Git, repo: Path, new: str, have: str) -> bytes:
    """The pack a client would send for `new` to a server that has `have`."""
    r = git.run("pack-objects", "--stdout", "--revs", "-q", cwd=repo, input=f"{new}\n^{have}\n".encode())
    assert r.stdout[:4] == b"PACK", r.stdout[:16]
    return r.stdout


# --- a TCP proxy that stalls a push mid-pack ----------------------------------------------------------


class StallingProxy:
    """Forwards TCP to the hub, but a connection that has sent `stall_after` bytes towards the server stops
    being forwarded: the client's request body hangs mid-stream. `close()` drops every connection, which
    is what the server sees when a client dies mid-push."""

    def __init__(self, target_port: int, stall_after: int):
        self.target_port = target_port
        self.stall_after = stall_after
        self.stalled = threading.Event()
        self.closing = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _track(self, s: socket.socket) -> socket.socket:
        with self.lock:
            self.sockets.append(s)
        return s

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(self._track(client),), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = self._track(socket.create_connection(("127.0.0.1", self.target_port)))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        sent = 0
        try:
            while not self.closing.is_set():
                ready, _, _ = select.select([client], [], [], 0.2)
                if not ready:
                    continue
                chunk = client.recv(65536)
                if not chunk:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                room = self.stall_after - sent
                if len(chunk) >= room:
                    upstream.sendall(chunk[:max(room, 0)])
                    self.stalled.set()
                    self.closing.wait()  # hold the connection open, forwarding nothing more
                    return
                upstream.sendall(chunk)
                sent += len(chunk)
        except OSError:
            return

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                dst.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


# ======================================================================================================
# Clone: URL forms, protocol versions, access
# ======================================================================================================


def test_info_refs_speaks_v0_and_v2(hub, api, make_repo, git, tmp_path):
    """Proves the smart-HTTP advertisement: v0 (`# service=` header, refs with the API's head) without
    `Git-Protocol`, v2 capabilities (ls-refs, fetch) with `Git-Protocol: version=2`, and that real git
    fetches over both protocol versions."""
    repo_id = make_repo()
    sha = api.upload_file(path_or_fileobj=b"proto\n", path_in_repo="p.txt", repo_id=repo_id).oid
    with raw_client(hub, None) as c:
        v0 = info_refs(c, f"/{repo_id}", "git-upload-pack")
        assert v0.status_code == 200, describe(v0)
        assert v0.headers["content-type"] == "application/x-git-upload-pack-advertisement", describe(v0)
        assert v0.content.startswith(b"001e# service=git-upload-pack\n0000"), v0.content[:200]
        assert f"{sha} refs/heads/main".encode() in v0.content, v0.content[:400]
        v2 = info_refs(c, f"/{repo_id}", "git-upload-pack", **{"Git-Protocol": "version=2"})
        assert v2.status_code == 200, describe(v2)
        assert v2.headers["content-type"] == "application/x-git-upload-pack-advertisement", describe(v2)
        caps = [l.decode().strip() for l in pkt_lines(v2.content) if l]
        assert "version 2" in caps, caps
        assert "ls-refs" in caps or any(c.startswith("ls-refs=") for c in caps), caps
        assert any(c == "fetch" or c.startswith("fetch=") for c in caps), caps

    url = git_url(hub, repo_id)
    trace = git.run("-c", "protocol.version=2", "ls-remote", url, env={"GIT_TRACE_PACKET": "1"})
    assert "version 2" in trace.stderr_text, "git asked for v2 and must have got it\n" + trace.stderr_text[-2000:]
    assert f"{sha}\trefs/heads/main" in trace.stdout_text
    for version in ("0", "2"):
        dest = tmp_path / f"v{version}"
        git.run("-c", f"protocol.version={version}", "clone", url, str(dest))
        assert git.head(dest) == sha
        assert worktree(dest)["p.txt"] == b"proto\n"


def test_anonymous_clone_of_public_repos_in_every_url_form(hub, api, make_repo, git, tmp_path):
    """Anonymous `git clone` of a public model and a public dataset with `{ns}/{name}`, `{ns}/{name}.git`
    and `datasets/…`: the checkout equals what was uploaded through the API (the LFS file included, smudged
    by git-lfs with no credentials at all), HEAD is the API's head and `git log` is the API's history."""
    files = {"README.md": b"# public\n", "config.json": b'{"a": 1}\n', "sub/dir/notes.txt": b"nested\n",
             "weights.safetensors": random_bytes(64 * 1024, seed=1)}
    model = make_repo()
    dataset = make_repo(repo_type="dataset")
    for repo_id, repo_type in ((model, "model"), (dataset, "dataset")):
        api.upload_folder(folder_path=_folder(tmp_path / f"src-{repo_type}", files), repo_id=repo_id,
                          repo_type=repo_type, commit_message=f"upload {repo_type}")
        api.upload_file(path_or_fileobj=b"second\n", path_in_repo="second.txt", repo_id=repo_id,
                        repo_type=repo_type)
    expected = dict(files, **{"second.txt": b"second\n"})

    for repo_id, repo_type in ((model, "model"), (dataset, "dataset")):
        head, history = api_head(hub, repo_id, repo_type), commit_ids(hub, repo_id, repo_type)
        for suffix in (False, True):
            dest = git.clone(git_url(hub, repo_id, repo_type, suffix=suffix),
                             tmp_path / f"{repo_type}-{'git' if suffix else 'plain'}")
            assert without_gitattributes(worktree(dest)) == set(expected)
            got = worktree(dest)
            for name, data in expected.items():
                assert got[name] == data, f"{repo_type} {name} differs after clone (suffix={suffix})"
            assert git.head(dest) == head
            assert git.out("log", "--format=%H", cwd=dest).split() == history
            assert "weights.safetensors" in git.out("lfs", "ls-files", "--name-only", cwd=dest)

    # A dataset is not reachable under the model prefix (anonymous: the same 401 as any unknown repo).
    git.fails("clone", git_url(hub, dataset, "model"), str(tmp_path / "wrong-prefix"))
    with raw_client(hub, None) as c:
        assert info_refs(c, f"/{dataset}", "git-upload-pack").status_code == 401


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def test_private_repo_clone_needs_credentials_and_access(hub, api, make_repo, git, tmp_path):
    """A private repository: anonymous git gets 401 + `WWW-Authenticate: Basic` exactly like a missing
    repository (no leak) and the clone fails without prompting; alice clones with Basic auth (any username)
    and with a Bearer header, her read token clones too, LFS content included; bob (signed in, no access)
    gets 404 and git says "not found", the same as for a missing repo; an invalid token is refused (401),
    never treated as anonymous or as someone else."""
    repo_id = make_repo(private=True)
    blob = random_bytes(40 * 1024, seed=2)
    api.upload_file(path_or_fileobj=b"secret\n", path_in_repo="secret.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=blob, path_in_repo="model.safetensors", repo_id=repo_id)
    head = api_head(hub, repo_id)
    missing = f"alice/{'nope-' + os.urandom(5).hex()}"

    with raw_client(hub, None) as c:
        for service in ("git-upload-pack", "git-receive-pack"):
            for path in (f"/{repo_id}", f"/{repo_id}.git", f"/{missing}"):
                r = info_refs(c, path, service)
                assert r.status_code == 401, describe(r)
                assert r.headers.get("www-authenticate", "").lower().startswith("basic"), describe(r)
        # the LFS batch endpoint answers the same way
        r = c.post(f"/{repo_id}.git/info/lfs/objects/batch", json={
            "operation": "download", "transfers": ["basic"], "objects": [{"oid": sha256(blob), "size": len(blob)}]},
            headers={"accept": "application/vnd.git-lfs+json", "content-type": "application/vnd.git-lfs+json"})
        assert r.status_code in (401, 404), describe(r)
    with raw_client(hub, "bob") as c:
        for path in (f"/{repo_id}", f"/{missing}"):
            r = info_refs(c, path, "git-upload-pack")
            assert r.status_code == 404, describe(r)
    with raw_client(hub, token="hf_" + "x" * 34) as c:
        r = info_refs(c, "/" + repo_id, "git-upload-pack")
        assert r.status_code == 401, "an invalid token must be refused, not downgraded: " + describe(r)

    r = git.fails("clone", git_url(hub, repo_id), str(tmp_path / "anon"))
    assert not (tmp_path / "anon" / "secret.txt").exists()
    r = git.fails("clone", git_url(hub, repo_id, who="bob"), str(tmp_path / "bob"))
    assert "not found" in r.stderr_text.lower(), git.explain(r, "must say 'not found'")
    r_missing = git.fails("clone", git_url(hub, missing, who="bob"), str(tmp_path / "bob-missing"))
    assert "not found" in r_missing.stderr_text.lower()
    git.fails("clone", git_url(hub, repo_id, token="hf_" + "y" * 34), str(tmp_path / "badtoken"))

    clones = {
        "basic-hf_user": git.clone(git_url(hub, repo_id, who="alice"), tmp_path / "c1"),
        "basic-username": git.clone(git_url(hub, repo_id, who="alice", user="alice", suffix=True), tmp_path / "c2"),
        "read-token": git.clone(git_url(hub, repo_id, who="alice_read"), tmp_path / "c3"),
    }
    git.run(*bearer(hub, "alice"), "clone", git_url(hub, repo_id), str(tmp_path / "c4"))
    clones["bearer"] = tmp_path / "c4"
    for how, dest in clones.items():
        got = worktree(dest)
        assert got["secret.txt"] == b"secret\n", how
        assert got["model.safetensors"] == blob, f"{how}: git-lfs must fetch the real bytes"
        assert git.head(dest) == head, how


def test_org_read_member_clones_private_org_repo_but_cannot_push(hub, make_repo, git, tmp_path):
    """Org roles apply to git: carol (acme `read`) clones a private acme repository and is refused a
    push (403); erin (acme `write`) pushes."""
    repo_id = make_repo(owner="acme", private=True)
    hub.api("alice").upload_file(path_or_fileobj=b"org\n", path_in_repo="org.txt", repo_id=repo_id)
    head = api_head(hub, repo_id)
    dest = git.clone(git_url(hub, repo_id, who="carol"), tmp_path / "carol")
    assert worktree(dest)["org.txt"] == b"org\n"
    git.commit_files(dest, {"carol.txt": b"c\n"}, "carol tries")
    r = git.fails("push", "origin", "HEAD:main", cwd=dest)
    assert "403" in r.stderr_text, git.explain(r, "must be refused with 403")
    assert api_head(hub, repo_id) == head
    sha = git.head(dest)
    git.run("push", git_url(hub, repo_id, who="erin"), "HEAD:main", cwd=dest)
    assert api_head(hub, repo_id) == sha


# ======================================================================================================
# Push: refusals, LFS, shared history with the API, refs
# ======================================================================================================


def test_push_refused_without_write(hub, api, make_repo, git, tmp_path):
    """Push needs write: anonymous → 401 (+ WWW-Authenticate: Basic, git fails without prompting), alice's
    read token → 403, bob (signed in, not a writer) → 403 on a public repo and 404 on a private one. The
    branch does not move, whatever the refusal."""
    repo_id = make_repo()
    private_id = make_repo(private=True)
    head, private_head = api_head(hub, repo_id), api_head(hub, private_id)
    with raw_client(hub, None) as c:
        r = info_refs(c, f"/{repo_id}", "git-receive-pack")
        assert r.status_code == 401 and r.headers.get("www-authenticate", "").lower().startswith("basic"), \
            describe(r)
    for who, status in (("alice_read", 403), ("bob", 403)):
        with raw_client(hub, who) as c:
            r = info_refs(c, f"/{repo_id}", "git-receive-pack")
            assert r.status_code == status, f"{who}: {describe(r)}"
            # the refusal does not depend on skipping the advertisement
            body = pkt(f"{head} {'1' * 40} refs/heads/main\0report-status\n") + b"0000"
            r = receive_pack(c, f"/{repo_id}", body)
            assert r.status_code == status, f"{who}: {describe(r)}"
    with raw_client(hub, "bob") as c:
        assert info_refs(c, f"/{private_id}", "git-receive-pack").status_code == 404

    dest = git.clone(git_url(hub, repo_id), tmp_path / "work")
    git.commit_files(dest, {"x.txt": b"x\n"}, "unauthorised")
    git.fails("push", git_url(hub, repo_id), "HEAD:main", cwd=dest)
    for who in ("alice_read", "bob"):
        r = git.fails("push", git_url(hub, repo_id, who=who), "HEAD:main", cwd=dest)
        assert "403" in r.stderr_text, git.explain(r, "must show the 403")
    r = git.fails("push", git_url(hub, private_id, who="bob"), "HEAD:main", cwd=dest)
    assert "not found" in r.stderr_text.lower(), git.explain(r, "must say 'not found'")
    assert api_head(hub, repo_id) == head
    assert api_head(hub, private_id) == private_head


def test_push_with_lfs_file_is_seen_by_the_api_and_downloads(hub, api, make_repo, git, tmp_path):
    """A push of a commit with an LFS file (git-lfs uploads it through the batch API) and regular files:
    the API's head, `X-Repo-Commit` of resolve, list_repo_commits, tree and paths-info (LFS sha256/size,
    blob ids) all show the pushed commit, and hf_hub_download returns the exact bytes. A second push
    authenticated with a Bearer header (git and git-lfs) works the same way."""
    repo_id = make_repo()
    dest = git.clone(git_url(hub, repo_id, who="alice", user="alice"), tmp_path / "work")
    weights = random_bytes(300 * 1024 + 7, seed=3)
    config = b'{"model_type": "git-pushed"}\n'
    files = {"model.safetensors": weights, "config.json": config, "nested/dir/notes.md": b"# notes\n"}
    sha = git.commit_files(dest, files, "push from git\n\nwith a body")
    assert HEX40.match(sha)
    assert "model.safetensors" in git.out("lfs", "ls-files", "--name-only", cwd=dest), \
        "the default .gitattributes must make git-lfs track *.safetensors"
    t = Traffic(hub)
    git.run("push", "origin", "HEAD:main", cwd=dest)
    seen = t.delta()
    print("push with an LFS file, " + show(seen))
    assert hits(seen, LFS_BATCH, "POST") >= 1 and hits(seen, LFS_PUT, "PUT") == 1, \
        "git-lfs must upload the object through the batch API\n" + show(seen)
    assert hits(seen, "~git-receive-pack", "POST") >= 1, show(seen)

    assert api_head(hub, repo_id) == sha
    commits = api.list_repo_commits(repo_id)
    assert commits[0].commit_id == sha and commits[0].title == "push from git"
    assert [c.commit_id for c in commits] == git.out("log", "--format=%H", cwd=dest).split()
    h = resolve_head(hub, repo_id, "config.json")
    assert h.status_code == 200 and h.headers.get("x-repo-commit") == sha, describe(h)
    h = resolve_head(hub, repo_id, "model.safetensors")
    assert h.status_code == 200 and h.headers.get("x-repo-commit") == sha, describe(h)
    assert h.headers.get("x-linked-etag", "").strip('"') == sha256(weights), describe(h)
    assert int(h.headers.get("x-linked-size", -1)) == len(weights), describe(h)

    for name, data in files.items():
        assert download(hub, repo_id, name, tmp_path) == data, name
    assert download(hub, repo_id, "model.safetensors", tmp_path, who=None, revision=sha) == weights

    tree = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True) if hasattr(e, "size")}
    assert set(files) <= set(tree), sorted(tree)
    info = {e.path: e for e in api.get_paths_info(repo_id, list(files))}
    for entries in (tree, info):
        w = entries["model.safetensors"]
        assert w.lfs is not None and w.lfs.sha256 == sha256(weights) and w.lfs.size == len(weights), w
        assert w.size == len(weights), w
        assert w.blob_id == git_blob_sha1(lfs_pointer(weights)), "blob id is the pointer's git id"
        c = entries["config.json"]
        assert c.lfs is None and c.blob_id == git_blob_sha1(config) and c.size == len(config), c

    # second push: another LFS file, this time with Bearer (git and git-lfs both send the header)
    extra = random_bytes(100 * 1024, seed=4)
    sha2 = git.commit_files(dest, {"extra.bin": extra}, "second push")
    plain = git_url(hub, repo_id)
    git.run(*bearer(hub, "alice"), "push", plain, "HEAD:main", cwd=dest)
    assert api_head(hub, repo_id) == sha2
    assert download(hub, repo_id, "extra.bin", tmp_path) == extra
    assert api.get_paths_info(repo_id, ["extra.bin"])[0].lfs.sha256 == sha256(extra)


def test_push_to_a_dataset_with_git_suffix_and_bearer(hub, api, make_repo, git, tmp_path):
    """The dataset URL form `/datasets/{ns}/{name}.git` pushes too (git and git-lfs with a Bearer header, no
    credentials in the URL): the dataset's head, its files and the LFS file's bytes are what was pushed."""
    repo_id = make_repo(repo_type="dataset")
    url = git_url(hub, repo_id, "dataset", suffix=True)
    dest = tmp_path / "work"
    git.run(*bearer(hub, "alice"), "clone", url, str(dest))
    table = random_bytes(80 * 1024, seed=13)
    sha = git.commit_files(dest, {"data/train.parquet": table, "README.md": b"---\nlicense: mit\n---\n# ds\n"},
                           "dataset push")
    assert "data/train.parquet" in git.out("lfs", "ls-files", "--name-only", cwd=dest)
    git.run(*bearer(hub, "alice"), "push", "origin", "HEAD:main", cwd=dest)
    assert api.dataset_info(repo_id).sha == sha
    assert download(hub, repo_id, "data/train.parquet", tmp_path, repo_type="dataset") == table
    entry = api.get_paths_info(repo_id, ["data/train.parquet"], repo_type="dataset")[0]
    assert entry.lfs is not None and entry.lfs.sha256 == sha256(table)
    h = resolve_head(hub, repo_id, "README.md", repo_type="dataset")
    assert h.headers.get("x-repo-commit") == sha, describe(h)
    # the same repository is not reachable under the model prefix
    r = git.fails(*bearer(hub, "alice"), "ls-remote", git_url(hub, repo_id, "model"))
    assert "not found" in r.stderr_text.lower(), git.explain(r, "must say 'not found'")


def test_api_commit_then_git_pull(hub, api, make_repo, git, tmp_path):
    """History is shared both ways: after a push, API commits build on the pushed commit, and `git pull`
    fast-forwards to them, their LFS file (stored by the API) included."""
    repo_id = make_repo()
    dest = git.clone(git_url(hub, repo_id, who="alice"), tmp_path / "work")
    pushed = git.commit_files(dest, {"a.txt": b"from git\n"}, "git commit")
    git.run("push", "origin", "HEAD:main", cwd=dest)
    blob = random_bytes(50 * 1024, seed=5)
    c1 = api.upload_file(path_or_fileobj=b"from api\n", path_in_repo="b.txt", repo_id=repo_id,
                         commit_message="api commit 1").oid
    c2 = api.upload_file(path_or_fileobj=blob, path_in_repo="api.safetensors", repo_id=repo_id,
                         commit_message="api commit 2").oid
    assert commit_ids(hub, repo_id)[:3] == [c2, c1, pushed]

    pull = git.run("pull", "--ff-only", "origin", "main", cwd=dest)
    assert "Fast-forward" in pull.stdout_text, pull.stdout_text
    assert git.head(dest) == c2
    assert git.head(dest, "HEAD~1") == c1 and git.head(dest, "HEAD~2") == pushed
    got = worktree(dest)
    assert got["a.txt"] == b"from git\n" and got["b.txt"] == b"from api\n"
    assert got["api.safetensors"] == blob, "git-lfs must smudge the API-uploaded LFS file"
    assert git.out("log", "-1", "--format=%s", cwd=dest) == "api commit 2"


def test_xet_stored_files_clone_through_git_lfs(hub, api, make_repo, git, tmp_path):
    """Files that huggingface_hub uploaded through Xet (an 11 MiB file and a small binary, both on paths the
    default .gitattributes tracks) come back byte for byte to an anonymous `git clone` with git-lfs (basic
    transfer from the batch API, decoded from Xet storage by the server)."""
    repo_id = make_repo()
    big = random_bytes(11 * MiB + 123, seed=6)
    small = bytes(range(256)) * 64  # binary: LFS (and so Xet) whatever its size
    api.upload_file(path_or_fileobj=big, path_in_repo="big.safetensors", repo_id=repo_id)
    api.upload_file(path_or_fileobj=small, path_in_repo="small.bin", repo_id=repo_id)
    for name in ("big.safetensors", "small.bin"):
        h = resolve_head(hub, repo_id, name)
        assert HEX64.match(h.headers.get("x-xet-hash", "")), f"{name} must be stored through Xet: {describe(h)}"

    t = Traffic(hub)
    dest = git.clone(git_url(hub, repo_id), tmp_path / "anon")
    seen = t.delta()
    assert hits(seen, LFS_BATCH, "POST") >= 1 and hits(seen, LFS_GET, "GET") == 2, \
        "git-lfs must download both objects through the batch API\n" + show(seen)
    got = worktree(dest)
    for name, data in (("big.safetensors", big), ("small.bin", small)):
        assert got[name] == data, mismatch(name, got[name], data)
    # the repository holds pointers; git-lfs agrees with the server about the objects
    assert git.out("show", "HEAD:big.safetensors", cwd=dest).encode() + b"\n" == lfs_pointer(big)
    git.run("lfs", "fsck", cwd=dest)


def test_api_lfs_files_outside_gitattributes_check_out_with_git_lfs(hub, api, make_repo, git, tmp_path):
    """huggingface_hub stores a file over 10 MB or a binary file as LFS (through Xet) whatever its name; on a
    path the repository's .gitattributes does not track (`*.dat`), git-lfs would leave the pointer text in
    the checkout unless the commit also tracks the path (the Hub adds such paths to .gitattributes). Proves
    both halves: the objects are served (git lfs smudge of the committed pointer gives the bytes) and a plain
    `git clone` checks out the real bytes."""
    repo_id = make_repo()
    big = random_bytes(11 * MiB + 321, seed=12)
    small = bytes(range(255, -1, -1)) * 32
    api.upload_file(path_or_fileobj=big, path_in_repo="data/big.dat", repo_id=repo_id)
    api.upload_file(path_or_fileobj=small, path_in_repo="small.dat", repo_id=repo_id)
    dest = git.clone(git_url(hub, repo_id), tmp_path / "anon")
    for name, data in (("data/big.dat", big), ("small.dat", small)):
        pointer = git.run("show", f"HEAD:{name}", cwd=dest).stdout
        assert pointer == lfs_pointer(data), f"{name}: the commit must hold the LFS pointer, got {pointer[:200]!r}"
        smudged = git.run("lfs", "smudge", "--", name, cwd=dest, input=pointer).stdout
        assert smudged == data, mismatch(f"{name} (git lfs smudge)", smudged, data)
    got = worktree(dest)
    problems = [mismatch(name, got.get(name, b""), data)
                for name, data in (("data/big.dat", big), ("small.dat", small)) if got.get(name) != data]
    attrs = got.get(".gitattributes", b"").decode(errors="replace").splitlines()
    mentioned = [l for l in attrs if "dat" in l]
    assert not problems, "\n".join(problems) + (f"\n.gitattributes of the head commit ({len(attrs)} lines) has "
                                                f"no line for these paths: {mentioned}")


def mismatch(name: str, got: bytes, want: bytes) -> str:
    first = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
    return (f"{name}: checked out {len(got)} bytes (sha256 {sha256(got)}, starting {got[:60]!r}), expected "
            f"{len(want)} (sha256 {sha256(want)}); first difference at byte {first}")


def test_push_tags_branches_deletion_and_force_push(hub, api, make_repo, git, tmp_path):
    """Refs pushed by git are the API's refs and back: lightweight and annotated tags (resolve peels to the
    commit), a new branch, API-created tag/branch visible to `git ls-remote`. Deleting a branch or tag and a
    force-push need write: a read token and bob are refused and nothing moves; alice does both."""
    repo_id = make_repo()
    url = git_url(hub, repo_id, who="alice")
    dest = git.clone(url, tmp_path / "work")
    c0 = git.head(dest)
    c1 = git.commit_files(dest, {"v.txt": b"1\n"}, "c1")
    git.run("push", "origin", "HEAD:main", cwd=dest)
    git.run("tag", "v1", cwd=dest)
    git.run("tag", "-a", "v2", "-m", "release two", cwd=dest)
    git.run("push", "origin", "v1", "v2", cwd=dest)
    c2 = git.commit_files(dest, {"feature.txt": b"f\n"}, "c2 on feature")
    git.run("push", "origin", "HEAD:refs/heads/feature", cwd=dest)

    branches, tags = refs(hub, repo_id)
    assert branches == {"main": c1, "feature": c2}
    assert tags == {"v1": c1, "v2": c1}, "an annotated tag targets its commit, like an API-created one"
    for rev in ("v1", "v2"):
        h = resolve_head(hub, repo_id, "v.txt", rev=rev)
        assert h.headers.get("x-repo-commit") == c1, describe(h)
    assert download(hub, repo_id, "feature.txt", tmp_path, revision="feature") == b"f\n"

    api.create_tag(repo_id, tag="api-tag", revision=c0)
    api.create_branch(repo_id, branch="api-branch", revision=c1)
    remote = {name: oid for oid, name in (line.split("\t") for line in git.out("ls-remote", url).splitlines())}
    assert remote["refs/tags/api-tag"] == c0 and remote["refs/heads/api-branch"] == c1, remote
    assert remote["refs/heads/feature"] == c2 and remote["refs/tags/v1"] == c1
    assert remote.get("refs/tags/v2^{}") == c1, remote

    for who in ("alice_read", "bob"):
        other = git_url(hub, repo_id, who=who)
        for args in (("--delete", "feature"), ("--delete", "v1"), ("--force", f"{c0}:refs/heads/main")):
            r = git.fails("push", other, *args, cwd=dest)
            assert "403" in r.stderr_text, git.explain(r, "must show the 403")
    assert refs(hub, repo_id) == (dict(branches, **{"api-branch": c1}), dict(tags, **{"api-tag": c0}))

    git.run("push", "origin", "--delete", "feature", "v1", cwd=dest)
    branches, tags = refs(hub, repo_id)
    assert "feature" not in branches and "v1" not in tags and tags["v2"] == c1
    assert not api.revision_exists(repo_id, "feature")

    # a plain push of an older commit is not a fast-forward; --force does it
    git.fails("push", "origin", f"{c0}:refs/heads/main", cwd=dest)
    assert api_head(hub, repo_id) == c1
    git.run("push", "--force", "origin", f"{c0}:refs/heads/main", cwd=dest)
    assert api_head(hub, repo_id) == c0
    h = resolve_head(hub, repo_id, ".gitattributes")
    assert h.headers.get("x-repo-commit") == c0, describe(h)
    assert commit_ids(hub, repo_id)[0] == c0
    assert "v.txt" not in api.list_repo_files(repo_id)


def test_oversize_blob_without_lfs_is_rejected(hub, api, make_repo, git, tmp_path):
    """A new regular blob over 10 MiB is refused: git shows a remote message that points at git-lfs, and the
    branch does not move (API head, ls-remote). Stored with git-lfs, the same file is accepted."""
    repo_id = make_repo()
    url = git_url(hub, repo_id, who="alice")
    dest = git.clone(url, tmp_path / "work")
    before = git.head(dest)
    huge = random_bytes(11 * MiB, seed=7)
    git.commit_files(dest, {"huge.dat": huge, "small.txt": b"small\n"}, "too big for git")
    r = git.fails("push", "origin", "HEAD:main", cwd=dest)
    print("oversize push:\n" + r.stderr_text)
    assert re.search(r"git[- ]lfs", r.stderr_text, re.I), git.explain(r, "must mention git-lfs")
    assert "remote" in r.stderr_text.lower(), git.explain(r, "must carry the server's message")
    assert api_head(hub, repo_id) == before
    assert git.remote_sha(url) == before
    assert "small.txt" not in api.list_repo_files(repo_id), "a refused push applies nothing"

    git.run("reset", "-q", "--soft", "HEAD~1", cwd=dest)
    git.run("rm", "-q", "--cached", "huge.dat", cwd=dest)
    git.run("lfs", "track", "huge.dat", cwd=dest)
    git.run("add", ".gitattributes", "huge.dat", cwd=dest)
    git.run("commit", "-q", "-m", "huge through git-lfs", cwd=dest)
    sha = git.head(dest)
    git.run("push", "origin", "HEAD:main", cwd=dest)
    assert api_head(hub, repo_id) == sha
    assert sha256(download(hub, repo_id, "huge.dat", tmp_path)) == sha256(huge)


def test_lfs_pointer_without_uploaded_object_is_rejected(hub, api, make_repo, git, tmp_path):
    """An LFS pointer is accepted only for an object this repository received: a pointer to an object never
    uploaded, and one to an object only ANOTHER repository holds, are refused (the message names the oid or
    the missing upload) and the ref stays; pushed with its content through git-lfs, it is accepted."""
    holder, target = make_repo(), make_repo()
    content = random_bytes(20 * 1024, seed=8)
    a = git.clone(git_url(hub, holder, who="alice"), tmp_path / "holder")
    git.commit_files(a, {"shared.bin": content}, "holder has the object")
    git.run("push", "origin", "HEAD:main", cwd=a)
    assert api.get_paths_info(holder, ["shared.bin"])[0].lfs.sha256 == sha256(content)

    url = git_url(hub, target, who="alice")
    b = git.clone(url, tmp_path / "target")
    before = git.head(b)
    never = "ab" * 32
    for name, pointer, oid in (("never.bin", lfs_pointer(oid=never, size=1234), never),
                               ("shared.bin", lfs_pointer(content), sha256(content))):
        git.commit_files(b, {name: pointer}, f"pointer only: {name}")
        assert git.out("show", f"HEAD:{name}", cwd=b).encode() + b"\n" == pointer
        # --no-verify: skip git-lfs's pre-push hook, which would refuse to push an object it does not have
        r = git.fails("push", "--no-verify", "origin", "HEAD:main", cwd=b)
        print(f"pointer push ({name}):\n" + r.stderr_text)
        assert oid in r.stderr_text or "upload" in r.stderr_text.lower(), \
            git.explain(r, "must name the oid or the missing upload")
        assert api_head(hub, target) == before, name
        assert git.remote_sha(url) == before, name
        git.run("reset", "-q", "--hard", before, cwd=b)

    sha = git.commit_files(b, {"shared.bin": content}, "now with its content")
    git.run("push", "origin", "HEAD:main", cwd=b)
    assert api_head(hub, target) == sha
    assert download(hub, target, "shared.bin", tmp_path) == content


def test_gated_repo_lfs_content_only_for_users_with_access(hub, api, make_repo, git, tmp_path):
    """A gated repository serves its LFS content only to those with access: alice (writer) clones the real
    bytes; bob and anonymous get no download action from the batch API, and whatever `git clone` gives
    them, it is never the file's content."""
    repo_id = make_repo()
    weights = random_bytes(60 * 1024, seed=9)
    dest = git.clone(git_url(hub, repo_id, who="alice"), tmp_path / "alice")
    git.commit_files(dest, {"gated.safetensors": weights, "README.md": b"# gated card\n"}, "gated content")
    git.run("push", "origin", "HEAD:main", cwd=dest)
    api.update_repo_settings(repo_id, gated="auto")
    oid = sha256(weights)

    batch = {"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(weights)}],
             "ref": {"name": "refs/heads/main"}}
    lfs_headers = {"accept": "application/vnd.git-lfs+json", "content-type": "application/vnd.git-lfs+json"}
    for who in (None, "bob"):
        with raw_client(hub, who) as c:
            r = c.post(f"/{repo_id}.git/info/lfs/objects/batch", json=batch, headers=lfs_headers)
            if r.status_code == 200:
                objs = r.json().get("objects", [])
                assert all("download" not in (o.get("actions") or {}) for o in objs), describe(r)
            else:
                assert r.status_code in ((401,) if who is None else (403, 404)), describe(r)
    with raw_client(hub, "alice") as c:
        r = c.post(f"/{repo_id}.git/info/lfs/objects/batch", json=batch, headers=lfs_headers)
        assert r.status_code == 200 and "download" in r.json()["objects"][0].get("actions", {}), describe(r)

    for who in (None, "bob"):
        out = tmp_path / f"outsider-{who}"
        r = git.run("clone", git_url(hub, repo_id, who=who), str(out), check=False)
        print(f"gated clone by {who}: exit {r.returncode}\n{r.stderr_text}")
        if out.exists():
            for rel, data in worktree(out).items():
                assert data != weights, f"{who or 'anonymous'} got the gated LFS content ({rel})"
            lfs_dir = out / ".git" / "lfs" / "objects"
            assert not (lfs_dir.exists() and any(p.name == oid for p in lfs_dir.rglob("*"))), \
                f"{who or 'anonymous'} has the gated object in .git/lfs: {git.explain(r, 'cloned')}"

    got = git.clone(git_url(hub, repo_id, who="alice"), tmp_path / "alice-again")
    assert worktree(got)["gated.safetensors"] == weights


def test_gated_repo_git_clone_does_not_serve_files_to_outsiders(hub, api, make_repo, git, tmp_path):
    """README: a gated repository's files are served only to those who may write it (or passed the gate);
    resolve refuses bob the regular config.json. `git clone` must not be a way around that: an outsider's
    clone either fails or carries no file content other than what the API shows anyway."""
    repo_id = make_repo()
    secret = b'{"hidden_size": 4242, "gated": "regular git file"}\n'
    api.upload_file(path_or_fileobj=secret, path_in_repo="config.json", repo_id=repo_id)
    api.update_repo_settings(repo_id, gated="auto")
    with hub.http("bob") as c:
        r = c.get(f"/{repo_id}/resolve/main/config.json")
        assert r.status_code in (401, 403), describe(r)
    for who in (None, "bob"):
        out = tmp_path / f"outsider-{who}"
        r = git.run("clone", git_url(hub, repo_id, who=who), str(out), check=False)
        print(f"gated clone by {who}: exit {r.returncode}\n{r.stderr_text}")
        if r.returncode == 0 or out.exists():
            got = worktree(out) if out.exists() else {}
            assert got.get("config.json") != secret, \
                f"{who or 'anonymous'} cloned a gated repository's file that resolve refuses them"


# ======================================================================================================
# Robustness: races, disconnects, malformed requests
# ======================================================================================================


def test_push_racing_api_commits(hub, api, make_repo, git, tmp_path):
    """A push and an API commit on the same branch at the same moment: with `parentCommit` exactly one wins
    (git says non-fast-forward / failed to update ref, or the API answers 412) and the branch is the
    winner's commit; without it the API rebases onto a pushed commit, so both land. A push whose old-oid
    is stale (it lost the race after the advertisement) is refused by the server's compare-and-swap. At
    the end a fresh clone is fsck-clean, history is linear and equals the API's."""
    repo_id = make_repo()
    url = git_url(hub, repo_id, who="alice")
    dest = git.clone(url, tmp_path / "work")
    client = hub.api("alice")
    landed: set[str] = set()  # files the final tree must hold

    def sync() -> str:
        git.run("fetch", "-q", "origin", cwd=dest)
        git.run("reset", "-q", "--hard", "origin/main", cwd=dest)
        return git.head(dest)

    # How long an uncontended push takes; the API commit then lands before the push starts, starts 0, ½ and 1
    # push-time after the push, and last only once the push has returned (so both orders are exercised
    # whatever the machine's load, and overlaps in between).
    sync()
    git.commit_files(dest, {"calibrate.txt": b"c\n"}, "calibration push")
    t0 = time.monotonic()
    git.run("push", "origin", "HEAD:main", cwd=dest)
    push_time = time.monotonic() - t0
    landed.add("calibrate.txt")
    outcomes = []
    rounds = [(with_parent, delay) for with_parent in (True, False)
              for delay in ("api first", 0.0, push_time / 2, push_time, None)]
    for i, (with_parent, delay) in enumerate(rounds):
        base = sync()
        local = git.commit_files(dest, {f"push-{i}.txt": f"push {i}\n".encode()}, f"push {i}")
        barrier = threading.Barrier(2)
        push_done = threading.Event()
        api_done = threading.Event()

        def do_push():
            barrier.wait()
            if delay == "api first":
                api_done.wait(120)
            try:
                return git.run("push", "origin", "HEAD:main", cwd=dest, check=False)
            finally:
                push_done.set()

        def do_api():
            barrier.wait()
            if delay is None:
                push_done.wait(120)
            elif delay != "api first":
                time.sleep(delay)
            try:
                return client.create_commit(
                    repo_id, operations=[CommitOperationAdd(f"api-{i}.txt", f"api {i}\n".encode())],
                    commit_message=f"api {i}", parent_commit=base if with_parent else None).oid
            except HfHubHTTPError as e:
                return e
            finally:
                api_done.set()

        with ThreadPoolExecutor(2) as pool:
            fp, fa = pool.submit(do_push), pool.submit(do_api)
            pushed, api_result = fp.result(), fa.result()
        push_ok = pushed.returncode == 0
        outcomes.append((with_parent, push_ok))
        print(f"race round {i} (parentCommit={with_parent}, api delay {delay}): push {'won' if push_ok else 'lost'}, "
              f"api {'lost: ' + str(api_result) if isinstance(api_result, Exception) else 'landed'}\n"
              + ("" if push_ok else pushed.stderr_text))
        api_ok = not isinstance(api_result, Exception)
        head = api_head(hub, repo_id)
        history = commit_ids(hub, repo_id)
        what = f"round {i} (parentCommit={with_parent}, api delay {delay}): push_ok={push_ok} api={api_result!r}\n" + \
               git.explain(pushed, "push")
        if not push_ok:
            assert re.search(r"non-fast-forward|fetch first|failed to update ref|rejected|stale|lock",
                             pushed.stderr_text, re.I), what
        if not api_ok:
            assert api_result.response.status_code == 412, what
        if with_parent:
            assert push_ok != api_ok, "exactly one of two writers from the same parent wins: " + what
            assert head == (local if push_ok else api_result), what
            assert history[1] == base, what
            landed.add(f"push-{i}.txt" if push_ok else f"api-{i}.txt")
        else:
            assert api_ok, "an API commit without parentCommit rebases and lands: " + what
            assert head == api_result, what
            assert history[1] == (local if push_ok else base), what
            landed.add(f"api-{i}.txt")
            if push_ok:
                landed.add(f"push-{i}.txt")

    assert (True, True) in outcomes and (True, False) in outcomes, f"both orders must have been seen: {outcomes}"

    # the server's compare-and-swap, deterministically: a receive-pack whose old-oid is no longer the head
    base = sync()
    local = git.commit_files(dest, {"stale.txt": b"stale\n"}, "stale push")
    moved = client.upload_file(path_or_fileobj=b"moved\n", path_in_repo="moved.txt", repo_id=repo_id).oid
    landed.add("moved.txt")
    body = pkt(f"{base} {local} refs/heads/main\0report-status agent=compat\n") + b"0000" + \
        pack_of(git, dest, local, base)
    with raw_client(hub, "alice") as c:
        r = receive_pack(c, f"/{repo_id}", body)
    status = report_status(r) if r.status_code == 200 else []
    print(f"stale receive-pack: {r.status_code} {status}")
    assert "ok refs/heads/main" not in status, f"a stale old-oid must not update the ref: {status} {describe(r)}"
    if r.status_code == 200:
        assert any(s.startswith("ng refs/heads/main") for s in status), status
    assert api_head(hub, repo_id) == moved

    check = git.clone(url, tmp_path / "check")
    fsck = git.run("fsck", "--full", "--strict", cwd=check)
    assert "error" not in fsck.stderr_text.lower(), fsck.stderr_text
    assert git.out("rev-list", "--merges", "HEAD", cwd=check) == ""
    assert git.out("rev-list", "HEAD", cwd=check).split() == commit_ids(hub, repo_id)
    assert landed <= set(worktree(check)), sorted(landed - set(worktree(check)))
    assert "stale.txt" not in worktree(check)


def test_disconnect_mid_push_leaves_the_branch_unchanged(hub, api, make_repo, git, tmp_path):
    """The client dies while streaming its pack (git killed with SIGKILL while a proxy holds the request
    mid-body, then the connection drops): the branch does not move and nothing of the push is visible.
    The same push afterwards succeeds at once: no ref lock or half state is left behind."""
    repo_id = make_repo()
    url = git_url(hub, repo_id, who="alice")
    dest = git.clone(url, tmp_path / "work")
    before = git.head(dest)
    files = {"part-a.dat": random_bytes(3 * MiB, seed=10), "part-b.dat": random_bytes(3 * MiB, seed=11)}
    sha = git.commit_files(dest, files, "big pack")

    port = int(hub.endpoint.rsplit(":", 1)[1])
    proxy = StallingProxy(port, stall_after=2 * MiB)
    proxied = url.replace(f":{port}/", f":{proxy.port}/")
    proc = subprocess.Popen([GIT_BIN, "push", proxied, "HEAD:main"], cwd=dest, env=git.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stalled = proxy.stalled.wait(timeout=90)
        if not stalled:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"the push never sent 2 MiB (exit {proc.returncode}):\n{err.decode(errors='replace')}\n"
                        f"server log:\n{hub.log_tail(30)}")
        assert proc.poll() is None, "git must still be pushing when it is killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proxy.close()
    time.sleep(1.0)  # let the server notice the dropped connection

    assert api_head(hub, repo_id) == before
    assert git.remote_sha(url) == before
    assert not set(files) & set(api.list_repo_files(repo_id))

    t0 = time.monotonic()
    git.run("push", url, "HEAD:main", cwd=dest, timeout=60)
    assert time.monotonic() - t0 < 30, "the push after a disconnect must not wait for a stale lock to expire"
    assert api_head(hub, repo_id) == sha
    assert sha256(download(hub, repo_id, "part-b.dat", tmp_path)) == sha256(files["part-b.dat"])


def test_malformed_git_requests_are_refused_and_change_nothing(hub, api, make_repo, git, tmp_path):
    """Garbage POST bodies to git-upload-pack / git-receive-pack get a 4xx (never a 5xx, never a hang); a
    well-formed update with a corrupt pack or naming an object that was never sent does not move the ref;
    an unknown service is refused; anonymous receive-pack POSTs are 401. The repository is unchanged and
    still clones fsck-clean, and the server stays healthy."""
    repo_id = make_repo()
    sha = api.upload_file(path_or_fileobj=b"keep\n", path_in_repo="keep.txt", repo_id=repo_id).oid
    path = f"/{repo_id}"
    garbage = [b"this is not a pkt-line at all", os.urandom(4096), b"zzzz" + os.urandom(100), b"0004" * 3 + b"PACK"]
    problems: list[str] = []  # every refusal is checked; all deviations are reported together

    def expect(cond: bool, what: str, r: httpx.Response) -> None:
        if not cond:
            problems.append(f"{what}: {describe(r)}")

    with raw_client(hub, "alice") as c:
        for body in garbage:
            r = receive_pack(c, path, body)
            expect(400 <= r.status_code < 500, f"receive-pack garbage {body[:16]!r} must be a 4xx", r)
            r = c.post(f"{path}/git-upload-pack", content=body, headers={
                "content-type": "application/x-git-upload-pack-request",
                "accept": "application/x-git-upload-pack-result"})
            expect(400 <= r.status_code < 500, f"upload-pack garbage {body[:16]!r} must be a 4xx", r)
            r = c.post(f"{path}/git-upload-pack", content=body, headers={
                "content-type": "application/x-git-upload-pack-request", "git-protocol": "version=2"})
            expect(400 <= r.status_code < 500, f"upload-pack v2 garbage {body[:16]!r} must be a 4xx", r)
        r = c.post(f"{path}/git-receive-pack", content=b"0000", headers={"content-type": "text/plain"})
        expect(400 <= r.status_code < 500, "receive-pack with the wrong content type must be a 4xx", r)

        fake = "1" * 40
        cmd = pkt(f"{sha} {fake} refs/heads/main\0report-status\n") + b"0000"
        for what, body in (("corrupt pack", cmd + b"PACK\x00\x00\x00\x02\x00\x00\x00\x01" + os.urandom(64)),
                           ("update to an object never sent", cmd),
                           ("new ref to an object never sent",
                            pkt(f"{'0' * 40} {fake} refs/heads/evil\0report-status\n") + b"0000")):
            r = receive_pack(c, path, body)
            expect(r.status_code < 500, f"{what}: no 5xx", r)
            if r.status_code == 200:
                status = report_status(r)
                expect(not any(s.startswith("ok ") for s in status), f"{what}: must not be accepted ({status})", r)
        r = info_refs(c, path, "git-bogus")
        expect(400 <= r.status_code < 500, "unknown service must be a 4xx", r)
        r = c.get(f"{path}/info/refs")  # dumb protocol: not offered, but no crash
        expect(r.status_code < 500, "dumb info/refs: no 5xx", r)
        r = c.post(f"{path}.git/info/lfs/objects/batch", content=b"{not json",
                   headers={"content-type": "application/vnd.git-lfs+json"})
        expect(400 <= r.status_code < 500, "LFS batch with a broken JSON body must be a 4xx", r)
    with raw_client(hub, None) as c:
        r = receive_pack(c, path, garbage[0])
        expect(r.status_code == 401, "anonymous receive-pack POST must be 401", r)
    assert httpx.get(hub.endpoint + "/healthz", timeout=10).status_code == 200

    assert api_head(hub, repo_id) == sha
    branches, tags = refs(hub, repo_id)
    assert branches == {"main": sha} and tags == {}
    check = git.clone(git_url(hub, repo_id), tmp_path / "check")
    git.run("fsck", "--full", cwd=check)
    assert git.head(check) == sha
    assert not problems, "\n".join(problems)
