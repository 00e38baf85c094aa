"""Server lifecycle with the real client: a graceful SIGTERM and a restart on the same data keep everything.

These tests run their own short-lived server (same database kind as the session) next to the session one.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download

from compat_helpers import sha256
from conftest import _free_port, _Postgres, _stop, database_kind, launch, new_hub, resolve_binary


@pytest.fixture
def private_server():
    database = database_kind()
    pg = _Postgres() if database == "postgres" else None
    hub = new_hub(resolve_binary(), database, _free_port(), pg)
    yield hub
    if hub.proc is not None:
        _stop(hub.proc)
    if pg:
        pg.drop()


def test_restart_keeps_accounts_repos_refs_and_content(private_server, cache_dir):
    hub = launch(private_server)
    hub.cli("user", "create", "ruth", "--email", "ruth@example.com", "--full-name", "Ruth Restart")
    token = hub.create_token("ruth", "write", "restart-token")
    api = HfApi(endpoint=hub.endpoint, token=token)
    repo_id = "ruth/persisted"
    api.create_repo(repo_id, private=True)
    big = os.urandom(3 * 1024 * 1024)
    api.upload_file(path_or_fileobj=big, path_in_repo="w.bin", repo_id=repo_id)
    c2 = api.upload_file(path_or_fileobj=b"text\n", path_in_repo="t.txt", repo_id=repo_id).oid
    api.create_tag(repo_id, tag="v1")
    api.create_branch(repo_id, branch="dev")
    before = api.model_info(repo_id, files_metadata=True)

    assert _stop(hub.proc) == 0, f"SIGTERM must end the server cleanly:\n{hub.log_tail()}"
    launch(hub)

    assert api.whoami()["name"] == "ruth"
    after = api.model_info(repo_id, files_metadata=True)
    assert after.sha == before.sha == c2
    assert after.private is True
    assert {(s.rfilename, s.size, s.blob_id) for s in after.siblings} == \
        {(s.rfilename, s.size, s.blob_id) for s in before.siblings}
    refs = api.list_repo_refs(repo_id)
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": c2}
    assert {b.name for b in refs.branches} == {"main", "dev"}
    got = hf_hub_download(repo_id, "w.bin", cache_dir=cache_dir, endpoint=hub.endpoint, token=token)
    assert sha256(Path(got).read_bytes()) == sha256(big)
    assert _stop(hub.proc) == 0


def test_sigterm_lets_an_inflight_download_finish(private_server):
    hub = launch(private_server)
    hub.cli("user", "create", "sam", "--email", "sam@example.com")
    token = hub.create_token("sam", "write")
    api = HfApi(endpoint=hub.endpoint, token=token)
    api.create_repo("sam/big")
    data = os.urandom(24 * 1024 * 1024)
    api.upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id="sam/big")

    received = bytearray()
    errors = []
    started = threading.Event()

    def download():
        try:
            with httpx.stream("GET", f"{hub.endpoint}/sam/big/resolve/main/big.bin",
                              headers={"authorization": f"Bearer {token}"}, timeout=60) as r:
                assert r.status_code == 200
                for chunk in r.iter_bytes(64 * 1024):
                    received.extend(chunk)
                    if not started.is_set():
                        started.set()
                        time.sleep(1.0)  # hold the response open while the server is told to stop
        except Exception as e:  # noqa: BLE001
            errors.append(e)
            started.set()

    t = threading.Thread(target=download)
    t.start()
    assert started.wait(30)
    rc = _stop(hub.proc)
    t.join(60)
    assert not errors, f"in-flight download broken by SIGTERM: {errors!r}"
    assert bytes(received) == data
    assert rc == 0, hub.log_tail()
