"""Upload (preupload + NDJSON commit) and download (HEAD + GET /resolve), byte for byte (spec §4, §5)."""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile, RepoFolder

from compat_helpers import HEX40, git_blob_sha1, read_tree, sha256, without_gitattributes, write_tree

README = b"""---
license: apache-2.0
tags:
- compat-test
language:
- en
---
# A model card

Front matter above becomes `cardData`.
"""

BINARY = bytes(range(256)) * 16  # 4 KiB with NUL bytes: stored as an LFS object
BIG = os.urandom(10 * 1024 * 1024 + 4321)  # > 10 MB: stored as an LFS object


def dl(hub, repo_id, filename, cache_dir, token="alice", **kw) -> bytes:
    path = hf_hub_download(repo_id, filename, cache_dir=cache_dir, endpoint=hub.endpoint,
                           token=hub.tokens[token] if token else False, **kw)
    return Path(path).read_bytes()


def test_upload_file_and_download_roundtrip(hub, api, make_repo, cache_dir, tmp_path):
    repo_id = make_repo()
    payload = b"hello gatehouse\n" * 100
    commit = api.upload_file(path_or_fileobj=payload, path_in_repo="hello.txt", repo_id=repo_id,
                             commit_message="add hello")
    assert HEX40.match(commit.oid)
    assert commit.repo_url.repo_id == repo_id
    assert api.model_info(repo_id).sha == commit.oid
    assert dl(hub, repo_id, "hello.txt", cache_dir) == payload

    # from a path and from a file object
    local = tmp_path / "from_path.json"
    local.write_bytes(b'{"a": 1}')
    api.upload_file(path_or_fileobj=str(local), path_in_repo="cfg/from_path.json", repo_id=repo_id)
    api.upload_file(path_or_fileobj=io.BytesIO(b"from a file object"), path_in_repo="fobj.txt", repo_id=repo_id)
    assert dl(hub, repo_id, "cfg/from_path.json", cache_dir) == b'{"a": 1}'
    assert dl(hub, repo_id, "fobj.txt", cache_dir) == b"from a file object"
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"hello.txt", "cfg/from_path.json", "fobj.txt"}


def test_empty_file_and_unusual_names(hub, api, make_repo, cache_dir):
    repo_id = make_repo()
    names = {"empty.txt": b"", "dir with space/\u00fcn\u00ef c\u00f6d\u00e9.txt": "é\n".encode(), "a+b=c&d.txt": b"q"}
    for name, data in names.items():
        api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id=repo_id)
    for name, data in names.items():
        assert dl(hub, repo_id, name, cache_dir) == data, name
    assert set(names) <= set(api.list_repo_files(repo_id))


def test_upload_folder_nested_with_readme_card_data(hub, api, make_repo, tmp_path, cache_dir):
    repo_id = make_repo()
    files = {
        "README.md": README,
        "config.json": b'{"model_type": "compat"}',
        "a/b/c.txt": b"deep file",
        "a/b/d/e.txt": b"deeper file",
        "a/weights.bin": BINARY,
    }
    folder = write_tree(tmp_path / "folder", files)
    commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="upload folder")
    assert HEX40.match(commit.oid)
    assert without_gitattributes(api.list_repo_files(repo_id)) == set(files)

    info = api.model_info(repo_id)
    assert info.sha == commit.oid
    assert info.card_data is not None, "README.md front matter must come back as cardData"
    assert info.card_data.license == "apache-2.0"
    assert "compat-test" in info.card_data.tags
    assert without_gitattributes(s.rfilename for s in info.siblings) == set(files)

    snap = snapshot_download(repo_id, cache_dir=cache_dir, endpoint=hub.endpoint, token=hub.tokens["alice"])
    got = read_tree(snap)
    assert {k: v for k, v in got.items() if k != ".gitattributes"} == files
    assert Path(snap).name == commit.oid


def test_upload_folder_path_in_repo_and_delete_patterns(hub, api, make_repo, tmp_path):
    repo_id = make_repo()
    api.upload_folder(repo_id=repo_id, folder_path=write_tree(tmp_path / "one", {"x.txt": b"1", "y.md": b"2"}),
                      path_in_repo="sub")
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"sub/x.txt", "sub/y.md"}
    api.upload_folder(repo_id=repo_id, folder_path=write_tree(tmp_path / "two", {"z.txt": b"3"}),
                      path_in_repo="sub", delete_patterns="*.txt")
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"sub/z.txt", "sub/y.md"}


def test_dataset_upload_download_and_card(hub, api, tmp_path, cache_dir):
    repo_id = f"alice/ds-{os.urandom(5).hex()}"
    api.create_repo(repo_id, repo_type="dataset")
    files = {"README.md": b"---\nlicense: cc-by-4.0\npretty_name: Compat Set\n---\n# data\n",
             "data/train.jsonl": b'{"x": 1}\n{"x": 2}\n', "data/test.jsonl": b'{"x": 3}\n'}
    api.upload_folder(repo_id=repo_id, folder_path=write_tree(tmp_path / "ds", files), repo_type="dataset")
    info = api.dataset_info(repo_id)
    assert info.card_data is not None and info.card_data.license == "cc-by-4.0"
    assert dl(hub, repo_id, "data/train.jsonl", cache_dir, repo_type="dataset") == files["data/train.jsonl"]
    snap = snapshot_download(repo_id, repo_type="dataset", cache_dir=cache_dir, endpoint=hub.endpoint,
                             token=hub.tokens["alice"])
    assert {k: v for k, v in read_tree(snap).items() if k != ".gitattributes"} == files
    # A dataset's files are not reachable as a model.
    with pytest.raises(RepositoryNotFoundError):
        dl(hub, repo_id, "data/train.jsonl", cache_dir)


@pytest.fixture(scope="module")
def versioned_repo(hub):
    """main: c1 (v1 files, tagged v1.0) -> c2; branch dev: c1 -> c_dev."""
    api = hub.api("alice")
    repo_id = f"alice/versioned-{os.urandom(5).hex()}"
    api.create_repo(repo_id)
    v1 = {"w.txt": b"version one", "d/n.txt": b"nested one"}
    c1 = api.create_commit(repo_id, operations=[_add(p, d) for p, d in v1.items()], commit_message="v1").oid
    api.create_tag(repo_id, tag="v1.0", tag_message="first release")
    api.create_branch(repo_id, branch="dev")
    c_dev = api.upload_file(path_or_fileobj=b"dev version", path_in_repo="w.txt", repo_id=repo_id,
                            revision="dev").oid
    c2 = api.upload_file(path_or_fileobj=b"version two", path_in_repo="w.txt", repo_id=repo_id).oid
    trees = {
        "main": {"w.txt": b"version two", "d/n.txt": b"nested one"},
        "dev": {"w.txt": b"dev version", "d/n.txt": b"nested one"},
        "v1.0": v1,
        c1: v1,
        c_dev: {"w.txt": b"dev version", "d/n.txt": b"nested one"},
    }
    shas = {"main": c2, "dev": c_dev, "v1.0": c1, c1: c1, c_dev: c_dev}
    return repo_id, trees, shas


def _add(path, data):
    from huggingface_hub import CommitOperationAdd

    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)


REVISIONS = ["main", "dev", "v1.0", "commit:c1", "commit:dev"]


def _rev(versioned_repo, key):
    _, trees, shas = versioned_repo
    if key == "commit:c1":
        return shas["v1.0"]
    if key == "commit:dev":
        return shas["dev"]
    return key


@pytest.mark.parametrize("which", REVISIONS)
def test_hf_hub_download_at_revision(hub, versioned_repo, cache_dir, which):
    repo_id, trees, shas = versioned_repo
    rev = _rev(versioned_repo, which)
    for path, data in trees[rev].items():
        local = hf_hub_download(repo_id, path, revision=rev, cache_dir=cache_dir, endpoint=hub.endpoint,
                                token=hub.tokens["alice"])
        assert Path(local).read_bytes() == data, (rev, path)
        assert f"snapshots/{shas[rev]}/" in Path(local).as_posix()


@pytest.mark.parametrize("which", REVISIONS)
def test_snapshot_download_at_revision(hub, versioned_repo, cache_dir, tmp_path, which):
    repo_id, trees, shas = versioned_repo
    rev = _rev(versioned_repo, which)
    snap = snapshot_download(repo_id, revision=rev, cache_dir=cache_dir, endpoint=hub.endpoint,
                             token=hub.tokens["alice"])
    assert Path(snap).name == shas[rev]
    assert {k: v for k, v in read_tree(snap).items() if k != ".gitattributes"} == trees[rev]
    local = snapshot_download(repo_id, revision=rev, local_dir=tmp_path / "local", endpoint=hub.endpoint,
                              token=hub.tokens["alice"])
    assert {k: v for k, v in read_tree(local).items() if k != ".gitattributes"} == trees[rev]


def test_snapshot_download_allow_patterns(hub, versioned_repo, cache_dir):
    repo_id, trees, _ = versioned_repo
    snap = snapshot_download(repo_id, allow_patterns=["d/*"], cache_dir=cache_dir, endpoint=hub.endpoint,
                             token=hub.tokens["alice"])
    assert read_tree(snap) == {"d/n.txt": b"nested one"}


def test_large_and_binary_files_are_lfs_and_intact(hub, api, make_repo, cache_dir):
    repo_id = make_repo()
    text = b"plain small text\n"
    api.upload_file(path_or_fileobj=BIG, path_in_repo="big/weights.bin", repo_id=repo_id)
    commit = api.upload_file(path_or_fileobj=BINARY, path_in_repo="small.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=text, path_in_repo="small.txt", repo_id=repo_id)

    assert dl(hub, repo_id, "big/weights.bin", cache_dir) == BIG
    assert dl(hub, repo_id, "small.bin", cache_dir) == BINARY
    assert dl(hub, repo_id, "small.txt", cache_dir) == text
    # also at the exact commit that added the binary (big file unchanged since)
    assert dl(hub, repo_id, "big/weights.bin", cache_dir, revision=commit.oid, force_download=True) == BIG

    siblings = {s.rfilename: s for s in api.model_info(repo_id, files_metadata=True).siblings}
    for name, data in (("big/weights.bin", BIG), ("small.bin", BINARY)):
        s = siblings[name]
        assert s.size == len(data), name
        assert s.lfs is not None, f"{name} must be reported as an LFS file in siblings"
        assert s.lfs.sha256 == sha256(data), name
        assert s.lfs.size == len(data), name
        assert s.lfs.pointer_size > 0
    assert siblings["small.txt"].lfs is None
    assert siblings["small.txt"].size == len(text)
    assert siblings["small.txt"].blob_id == git_blob_sha1(text)

    tree = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True)}
    assert isinstance(tree["big"], RepoFolder)
    for name, data in (("big/weights.bin", BIG), ("small.bin", BINARY)):
        e = tree[name]
        assert isinstance(e, RepoFile)
        assert e.size == len(data)
        assert e.lfs is not None, f"{name} must carry lfs in list_repo_tree"
        assert e.lfs.sha256 == sha256(data)
        assert e.lfs.size == len(data)
    assert tree["small.txt"].lfs is None
    assert tree["small.txt"].blob_id == git_blob_sha1(text)
    # LFS-mode files travelled through Xet (hf_xet is the client's default); git-stored files have no Xet hash.
    for name in ("big/weights.bin", "small.bin"):
        assert tree[name].xet_hash is not None and len(tree[name].xet_hash) == 64, name
    assert tree["small.txt"].xet_hash is None


def test_head_metadata_etag_and_size(hub, api, make_repo):
    repo_id = make_repo()
    text = b"etag me\n"
    api.upload_file(path_or_fileobj=BINARY, path_in_repo="b.bin", repo_id=repo_id)
    sha = api.upload_file(path_or_fileobj=text, path_in_repo="t.txt", repo_id=repo_id).oid
    token = hub.tokens["alice"]
    meta = get_hf_file_metadata(hf_hub_url(repo_id, "t.txt", endpoint=hub.endpoint), token=token)
    assert meta.commit_hash == sha
    assert meta.etag == git_blob_sha1(text)
    assert meta.size == len(text)
    meta = get_hf_file_metadata(hf_hub_url(repo_id, "b.bin", endpoint=hub.endpoint), token=token)
    assert meta.commit_hash == sha
    assert meta.etag == sha256(BINARY), "LFS files: the (linked) etag is the sha256 of the content"
    assert meta.size == len(BINARY)


@pytest.mark.parametrize("name,data", [("t.txt", b"0123456789abcdef" * 200), ("r.bin", BINARY)])
def test_range_requests_return_206(hub, api, make_repo, name, data):
    repo_id = make_repo()
    api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id=repo_id)
    url = f"/{repo_id}/resolve/main/{name}"
    with hub.http("alice") as c:
        full = c.get(url)
        assert full.status_code == 200 and full.content == data
        assert full.headers.get("accept-ranges") == "bytes"
        r = c.get(url, headers={"Range": "bytes=100-199"})
        assert r.status_code == 206, r.text[:200]
        assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
        assert r.content == data[100:200]
        r = c.get(url, headers={"Range": "bytes=1000-"})
        assert r.status_code == 206
        assert r.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
        assert r.content == data[1000:]
        r = c.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
        assert r.status_code == 416
        head = c.head(url)
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == len(data)
        assert HEX40.match(head.headers["x-repo-commit"])


def test_download_errors_map_to_exceptions(hub, api, make_repo, cache_dir):
    repo_id = make_repo()
    api.upload_file(path_or_fileobj=b"x", path_in_repo="exists.txt", repo_id=repo_id)
    with pytest.raises(EntryNotFoundError):
        dl(hub, repo_id, "missing.txt", cache_dir)
    with pytest.raises(EntryNotFoundError):
        dl(hub, repo_id, "exists.txt/child", cache_dir)
    with pytest.raises(RevisionNotFoundError):
        dl(hub, repo_id, "exists.txt", cache_dir, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        dl(hub, repo_id, "exists.txt", cache_dir, revision="0" * 40)
    with pytest.raises(RepositoryNotFoundError):
        dl(hub, f"alice/missing-{os.urandom(4).hex()}", "exists.txt", cache_dir)
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(repo_id, revision="no-such-branch", cache_dir=cache_dir, endpoint=hub.endpoint,
                          token=hub.tokens["alice"])


def test_list_repo_tree_and_paths_info(api, make_repo, tmp_path):
    repo_id = make_repo()
    files = {"top.txt": b"t", "a/one.txt": b"1", "a/b/two.txt": b"22", "c/three.txt": b"333"}
    api.upload_folder(repo_id=repo_id, folder_path=write_tree(tmp_path / "f", files))

    root = {e.path: e for e in api.list_repo_tree(repo_id)}
    assert without_gitattributes(root) == {"top.txt", "a", "c"}
    assert isinstance(root["a"], RepoFolder) and isinstance(root["top.txt"], RepoFile)
    assert root["top.txt"].size == 1

    sub = {e.path: type(e) for e in api.list_repo_tree(repo_id, path_in_repo="a")}
    assert sub == {"a/one.txt": RepoFile, "a/b": RepoFolder}
    rec = {e.path: type(e) for e in api.list_repo_tree(repo_id, path_in_repo="a", recursive=True)}
    assert rec == {"a/one.txt": RepoFile, "a/b": RepoFolder, "a/b/two.txt": RepoFile}
    full = {e.path for e in api.list_repo_tree(repo_id, recursive=True)}
    assert without_gitattributes(full) == set(files) | {"a", "a/b", "c"}
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo_id, path_in_repo="no/such/folder"))

    info = api.get_paths_info(repo_id, ["top.txt", "a/b", "missing.txt"])
    got = {e.path: e for e in info}
    assert set(got) == {"top.txt", "a/b"}
    assert isinstance(got["top.txt"], RepoFile) and got["top.txt"].blob_id == git_blob_sha1(b"t")
    assert isinstance(got["a/b"], RepoFolder)

    assert without_gitattributes(api.list_repo_files(repo_id)) == set(files)


def test_delete_file_and_folder(hub, api, make_repo, tmp_path, cache_dir):
    repo_id = make_repo()
    files = {"a.txt": b"a", "dir/b.txt": b"b", "dir/sub/c.bin": BINARY, "other/d.txt": b"d"}
    api.upload_folder(repo_id=repo_id, folder_path=write_tree(tmp_path / "f", files))
    c = api.delete_file("a.txt", repo_id, commit_message="rm a")
    assert HEX40.match(c.oid)
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"dir/b.txt", "dir/sub/c.bin", "other/d.txt"}
    with pytest.raises(EntryNotFoundError):
        dl(hub, repo_id, "a.txt", cache_dir)
    api.delete_folder("dir", repo_id)
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"other/d.txt"}
    assert dl(hub, repo_id, "other/d.txt", cache_dir) == b"d"
    # Deleting what is not there is an EntryNotFound and changes nothing.
    head = api.model_info(repo_id).sha
    with pytest.raises(EntryNotFoundError):
        api.delete_file("a.txt", repo_id)
    with pytest.raises(EntryNotFoundError):
        api.delete_folder("dir", repo_id)
    assert api.model_info(repo_id).sha == head


def test_reupload_identical_content_is_a_noop_or_same_tree(api, make_repo):
    repo_id = make_repo()
    api.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=repo_id)
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"s.txt"}


def test_upload_folder_many_files_paginated_listing(hub, api, make_repo, tmp_path, cache_dir):
    """> 256 files (preupload batches, possibly several commits) and > 1000 tree entries (Link pagination)."""
    repo_id = make_repo()
    files = {f"many/{i // 100:02d}/f{i:04d}.txt": f"file {i}\n".encode() for i in range(1100)}
    api.upload_folder(repo_id=repo_id, folder_path=write_tree(tmp_path / "many", files))
    listed = api.list_repo_files(repo_id)
    assert len(listed) == len(set(listed)), "pagination must not repeat entries"
    assert without_gitattributes(listed) == set(files)
    tree = list(api.list_repo_tree(repo_id, path_in_repo="many", recursive=True))
    assert len(tree) == 1100 + 11
    with hub.http("alice") as c:
        r = c.get(f"/api/models/{repo_id}/tree/main", params={"recursive": "true", "expand": "false"})
        assert r.status_code == 200
        link = r.headers.get("link")
        if link:
            assert re.search(r'<https?://[^>]+>;\s*rel="next"', link), f"Link must be absolute: {link}"
    snap = snapshot_download(repo_id, cache_dir=cache_dir, endpoint=hub.endpoint, token=hub.tokens["alice"],
                             allow_patterns=["many/0[0-2]/*"])
    assert read_tree(snap) == {k: v for k, v in files.items() if k.startswith(("many/00/", "many/01/", "many/02/"))}


def test_concurrent_uploads_to_one_branch_all_land(hub, make_repo):
    """Independent commits racing on one branch (no parentCommit) are serialised, none is lost."""
    repo_id = make_repo()
    api = hub.api("alice")
    n = 8

    def one(i):
        return api.upload_file(path_or_fileobj=f"writer {i}\n".encode(), path_in_repo=f"w{i}.txt", repo_id=repo_id,
                               commit_message=f"writer {i}").oid

    with ThreadPoolExecutor(max_workers=n) as pool:
        oids = list(pool.map(one, range(n)))
    assert len(set(oids)) == n
    assert without_gitattributes(api.list_repo_files(repo_id)) == {f"w{i}.txt" for i in range(n)}
    history = [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert set(oids) <= set(history)
