"""Small helpers shared by the compat tests (no fixtures here: those live in conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import httpx

HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write {relative path: bytes} under root."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def read_tree(root: str | Path, skip_dirs: tuple[str, ...] = (".cache",)) -> dict[str, bytes]:
    """{relative posix path: bytes} of every file under root (following the cache's snapshot symlinks)."""
    root = Path(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if d not in skip_dirs]
        for f in filenames:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def without_gitattributes(files) -> set[str]:
    """The Hub's initial commit may add .gitattributes; the client does not require it."""
    return {f for f in files if f != ".gitattributes"}


# --- raw HTTP -------------------------------------------------------------------------------------------


def ndjson(*lines: dict) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def header_line(summary: str = "raw commit", parent: str | None = None) -> dict:
    value = {"summary": summary, "description": ""}
    if parent:
        value["parentCommit"] = parent
    return {"key": "header", "value": value}


def file_line(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path, "encoding": "base64"}}


def raw_commit(client: httpx.Client, repo_id: str, body: bytes, revision: str = "main",
               repo_type: str = "model") -> httpx.Response:
    from urllib.parse import quote

    return client.post(f"/api/{repo_type}s/{repo_id}/commit/{quote(revision, safe='')}", content=body,
                       headers={"content-type": "application/x-ndjson"})


def describe(resp: httpx.Response) -> str:
    req = resp.request
    return (f"{req.method} {req.url} -> {resp.status_code} X-Error-Code={resp.headers.get('x-error-code')!r} "
            f"X-Error-Message={resp.headers.get('x-error-message')!r} body={resp.text[:300]!r}")


def assert_api_error(resp: httpx.Response, status: int | tuple[int, ...] | None = None,
                     code: str | None = None) -> None:
    """A well-formed client error: 4xx, X-Error-Code and X-Error-Message headers, JSON {"error": ...} body."""
    if status is None:
        assert 400 <= resp.status_code < 500, f"expected a 4xx: {describe(resp)}"
    elif isinstance(status, int):
        assert resp.status_code == status, f"expected {status}: {describe(resp)}"
    else:
        assert resp.status_code in status, f"expected one of {status}: {describe(resp)}"
    assert resp.headers.get("x-error-code"), f"missing X-Error-Code: {describe(resp)}"
    assert resp.headers.get("x-error-message"), f"missing X-Error-Message: {describe(resp)}"
    if code is not None:
        assert resp.headers["x-error-code"] == code, f"expected X-Error-Code {code}: {describe(resp)}"
    if resp.request.method != "HEAD":
        try:
            body = resp.json()
        except ValueError:
            raise AssertionError(f"error body is not JSON: {describe(resp)}") from None
        assert isinstance(body, dict) and "error" in body, f"error body lacks 'error': {describe(resp)}"


def repo_state(api, repo_id: str, repo_type: str = "model") -> tuple[str, dict[str, int]]:
    """(head sha of main, {path: size}) — to check that a refused request changed nothing."""
    info = api.repo_info(repo_id, repo_type=repo_type, files_metadata=True)
    return info.sha, {s.rfilename: s.size for s in info.siblings}
