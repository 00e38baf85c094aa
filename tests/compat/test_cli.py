"""The `hf` CLI as a subprocess, configured only through HF_ENDPOINT / HF_TOKEN (spec §12)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from compat_helpers import read_tree, repo_state, without_gitattributes, write_tree
from conftest import ORG, unique

HF = Path(sys.executable).parent / "hf"


def hf(hub, tmp_path, *args, who="alice", check=True, timeout=300):
    exe = str(HF) if HF.exists() else shutil.which("hf")
    assert exe, "the `hf` CLI is not installed next to this Python"
    home = tmp_path / "cli_home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(home), HF_HUB_DISABLE_UPDATE_CHECK="1",
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1", NO_COLOR="1")
    if who:
        env["HF_TOKEN"] = hub.tokens[who]
    r = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, cwd=tmp_path)
    if check and r.returncode != 0:
        raise AssertionError(f"`hf {' '.join(args)}` exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def test_hf_auth_whoami(hub, tmp_path):
    r = hf(hub, tmp_path, "auth", "whoami")
    assert "alice" in r.stdout
    assert ORG in r.stdout
    r = hf(hub, tmp_path, "auth", "whoami", "--format", "json")
    data = json.loads(r.stdout)
    assert data.get("name", data.get("user")) == "alice", data


def test_hf_auth_whoami_rejects_bad_token(hub, tmp_path):
    hub.tokens["bogus"] = "hf_notARealTokenForGatehouse000000"
    r = hf(hub, tmp_path, "auth", "whoami", who="bogus", check=False)
    assert r.returncode != 0
    assert "alice" not in r.stdout


def test_hf_upload_file_and_download(hub, tmp_path):
    repo_id = f"alice/{unique('cli')}"
    src = tmp_path / "model.safetensors"
    data = os.urandom(300_000)
    src.write_bytes(data)
    # creates the repo (create_repo exist_ok) and uploads
    hf(hub, tmp_path, "upload", repo_id, str(src), "weights/model.safetensors")
    # again: the 409-with-url path of create_repo(exist_ok=True)
    (tmp_path / "notes.txt").write_text("cli notes\n")
    hf(hub, tmp_path, "upload", repo_id, str(tmp_path / "notes.txt"))
    api = hub.api("alice")
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"weights/model.safetensors", "notes.txt"}

    out = tmp_path / "dl"
    hf(hub, tmp_path, "download", repo_id, "weights/model.safetensors", "--local-dir", str(out))
    assert (out / "weights" / "model.safetensors").read_bytes() == data
    out2 = tmp_path / "dl-all"
    hf(hub, tmp_path, "download", repo_id, "--local-dir", str(out2))
    got = {k: v for k, v in read_tree(out2).items() if k != ".gitattributes"}
    assert got == {"weights/model.safetensors": data, "notes.txt": b"cli notes\n"}
    # cache-dir download prints the path of the file
    r = hf(hub, tmp_path, "download", repo_id, "notes.txt", "--cache-dir", str(tmp_path / "cache"),
           "--format", "quiet")
    printed = Path(r.stdout.strip().splitlines()[-1])
    assert printed.read_bytes() == b"cli notes\n"


def test_hf_upload_folder_private_dataset_and_revision(hub, tmp_path):
    repo_id = f"alice/{unique('clids')}"
    files = {"README.md": b"---\nlicense: mit\n---\n# cli dataset\n", "data/a.csv": b"x\n1\n",
             "data/deep/b.csv": b"y\n2\n"}
    folder = write_tree(tmp_path / "folder", files)
    hf(hub, tmp_path, "upload", repo_id, str(folder), ".", "--repo-type", "dataset", "--private",
       "--commit-message", "from the cli")
    api = hub.api("alice")
    info = api.dataset_info(repo_id)
    assert info.private is True
    assert without_gitattributes(s.rfilename for s in info.siblings) == set(files)
    assert api.list_repo_commits(repo_id, repo_type="dataset")[0].title == "from the cli"
    # --revision with a new branch: the CLI creates it (POST /branch) and uploads there
    (tmp_path / "extra.txt").write_bytes(b"on a branch")
    hf(hub, tmp_path, "upload", repo_id, str(tmp_path / "extra.txt"), "extra.txt", "--repo-type", "dataset",
       "--revision", "cli-branch")
    assert "extra.txt" in api.list_repo_files(repo_id, repo_type="dataset", revision="cli-branch")
    assert "extra.txt" not in api.list_repo_files(repo_id, repo_type="dataset")
    out = tmp_path / "dl"
    hf(hub, tmp_path, "download", repo_id, "--repo-type", "dataset", "--revision", "cli-branch",
       "--local-dir", str(out))
    got = {k: v for k, v in read_tree(out).items() if k != ".gitattributes"}
    assert got == {**files, "extra.txt": b"on a branch"}
    # other users do not see the private dataset
    r = hf(hub, tmp_path, "download", repo_id, "--repo-type", "dataset", "--local-dir", str(tmp_path / "bob"),
           who="bob", check=False)
    assert r.returncode != 0
    assert not (tmp_path / "bob" / "data" / "a.csv").exists()


def test_hf_upload_with_read_token_fails(hub, tmp_path, make_repo):
    repo_id = make_repo()
    hub.api("alice").upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id=repo_id)
    before = repo_state(hub.api("alice"), repo_id)
    (tmp_path / "b.txt").write_text("b")
    r = hf(hub, tmp_path, "upload", repo_id, str(tmp_path / "b.txt"), who="alice_read", check=False)
    assert r.returncode != 0
    assert repo_state(hub.api("alice"), repo_id) == before


def test_hf_repos_create_tag_and_branch(hub, tmp_path):
    name = unique("clirepo")
    hf(hub, tmp_path, "repos", "create", name, "--private")
    repo_id = f"alice/{name}"
    api = hub.api("alice")
    assert api.model_info(repo_id).private is True
    api.upload_file(path_or_fileobj=b"t", path_in_repo="t.txt", repo_id=repo_id)
    hf(hub, tmp_path, "repos", "tag", "create", repo_id, "v0.1")
    hf(hub, tmp_path, "repos", "branch", "create", repo_id, "cli-dev")
    refs = api.list_repo_refs(repo_id)
    assert "v0.1" in {t.name for t in refs.tags}
    assert "cli-dev" in {b.name for b in refs.branches}
    r = hf(hub, tmp_path, "repos", "create", name, check=False)
    assert r.returncode != 0, "creating an existing repo without --exist-ok fails"
    hf(hub, tmp_path, "repos", "create", name, "--exist-ok")
    hf(hub, tmp_path, "repos", "delete", repo_id, "--yes")
    assert not api.repo_exists(repo_id)
    hf(hub, tmp_path, "repos", "delete", repo_id, "--yes", "--missing-ok")


def test_hf_download_public_anonymously(hub, tmp_path, make_repo):
    repo_id = make_repo()
    hub.api("alice").upload_file(path_or_fileobj=b"public bytes", path_in_repo="p.txt", repo_id=repo_id)
    out = tmp_path / "anon"
    hf(hub, tmp_path, "download", repo_id, "p.txt", "--local-dir", str(out), who=None)
    assert (out / "p.txt").read_bytes() == b"public bytes"
