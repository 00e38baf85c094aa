"""Branches, tags, refs, commit history and optimistic concurrency (spec §3.4–3.6, §4.2)."""

from __future__ import annotations

import re

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

from compat_helpers import HEX40, repo_state, without_gitattributes


def _refs(api, repo_id, repo_type=None):
    refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    return ({b.name: b for b in refs.branches}, {t.name: t for t in refs.tags})


def test_branches_and_tags_lifecycle(api, make_repo):
    repo_id = make_repo()
    c1 = api.upload_file(path_or_fileobj=b"1", path_in_repo="f.txt", repo_id=repo_id).oid
    c2 = api.upload_file(path_or_fileobj=b"2", path_in_repo="f.txt", repo_id=repo_id).oid

    api.create_branch(repo_id, branch="dev")
    api.create_branch(repo_id, branch="old", revision=c1)
    api.create_tag(repo_id, tag="v2", tag_message="second")
    api.create_tag(repo_id, tag="v1", revision=c1)

    branches, tags = _refs(api, repo_id)
    assert set(branches) == {"main", "dev", "old"}
    assert branches["main"].ref == "refs/heads/main" and branches["main"].target_commit == c2
    assert branches["dev"].target_commit == c2
    assert branches["old"].target_commit == c1
    assert set(tags) == {"v1", "v2"}
    assert tags["v1"].ref == "refs/tags/v1" and tags["v1"].target_commit == c1
    assert tags["v2"].target_commit == c2
    assert api.model_info(repo_id, revision="old").sha == c1
    assert api.model_info(repo_id, revision="v1").sha == c1

    with pytest.raises(HfHubHTTPError) as e:
        api.create_branch(repo_id, branch="dev")
    assert e.value.response.status_code == 409
    api.create_branch(repo_id, branch="dev", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_tag(repo_id, tag="v1")
    assert e.value.response.status_code == 409
    api.create_tag(repo_id, tag="v1", exist_ok=True)
    assert _refs(api, repo_id)[1]["v1"].target_commit == c1, "exist_ok must not move the tag"

    api.delete_branch(repo_id, branch="dev")
    api.delete_tag(repo_id, tag="v2")
    branches, tags = _refs(api, repo_id)
    assert set(branches) == {"main", "old"}
    assert set(tags) == {"v1"}
    assert not api.revision_exists(repo_id, "dev")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="v2")
    # Deleting a ref twice is an error, not a silent success.
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_branch(repo_id, branch="dev")
    assert e.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_tag(repo_id, tag="v2")
    assert e.value.response.status_code == 404


def test_branch_from_unknown_revision_fails(api, make_repo):
    repo_id = make_repo()
    with pytest.raises(RevisionNotFoundError):
        api.create_branch(repo_id, branch="x", revision="no-such-rev")
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo_id, tag="t", revision="no-such-rev")
    branches, tags = _refs(api, repo_id)
    assert set(branches) == {"main"} and tags == {}


def test_branch_with_slash_upload_and_download(hub, api, make_repo, cache_dir):
    repo_id = make_repo()
    api.upload_file(path_or_fileobj=b"main", path_in_repo="f.txt", repo_id=repo_id)
    api.create_branch(repo_id, branch="feat/x")
    commit = api.upload_file(path_or_fileobj=b"feature", path_in_repo="f.txt", repo_id=repo_id, revision="feat/x")
    branches, _ = _refs(api, repo_id)
    assert branches["feat/x"].ref == "refs/heads/feat/x"
    assert branches["feat/x"].target_commit == commit.oid
    got = hf_hub_download(repo_id, "f.txt", revision="feat/x", cache_dir=cache_dir, endpoint=hub.endpoint,
                          token=hub.tokens["alice"])
    assert open(got, "rb").read() == b"feature"
    assert api.list_repo_commits(repo_id, revision="feat/x")[0].commit_id == commit.oid
    assert {e.path for e in api.list_repo_tree(repo_id, revision="feat/x")} >= {"f.txt"}
    api.create_tag(repo_id, tag="rel/1.0", revision="feat/x")
    assert _refs(api, repo_id)[1]["rel/1.0"].target_commit == commit.oid
    api.delete_branch(repo_id, branch="feat/x")
    assert "feat/x" not in _refs(api, repo_id)[0]


def test_upload_to_unknown_branch_is_revision_not_found(api, make_repo):
    repo_id = make_repo()
    before = repo_state(api, repo_id)
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id, revision="no-such-branch")
    assert repo_state(api, repo_id) == before


def test_list_repo_commits(api, make_repo):
    repo_id = make_repo()
    c1 = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id,
                         commit_message="first change").oid
    c2 = api.create_commit(repo_id, operations=[CommitOperationAdd("b.txt", b"2")],
                           commit_message="second change", commit_description="with a longer description").oid
    c3 = api.create_commit(repo_id, operations=[CommitOperationDelete("a.txt")], commit_message="third change").oid
    commits = api.list_repo_commits(repo_id)
    ids = [c.commit_id for c in commits]
    assert ids[:3] == [c3, c2, c1], "newest first"
    assert all(HEX40.match(i) for i in ids)
    assert [c.title for c in commits[:3]] == ["third change", "second change", "first change"]
    assert "with a longer description" in commits[1].message
    assert "alice" in commits[0].authors
    assert commits[0].created_at is not None

    formatted = api.list_repo_commits(repo_id, formatted=True)
    assert [c.commit_id for c in formatted] == ids

    api.create_branch(repo_id, branch="from-c1", revision=c1)
    assert api.list_repo_commits(repo_id, revision="from-c1")[0].commit_id == c1
    assert [c.commit_id for c in api.list_repo_commits(repo_id, revision=c2)][:2] == [c2, c1]
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_commits(repo_id, revision="no-such-branch")


def test_stale_parent_commit_is_412_and_repo_unchanged(api, make_repo):
    repo_id = make_repo()
    c1 = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id).oid
    c2 = api.create_commit(repo_id, operations=[CommitOperationAdd("b.txt", b"2")], commit_message="on c1",
                           parent_commit=c1).oid
    before = repo_state(api, repo_id)
    assert before[0] == c2
    with pytest.raises(HfHubHTTPError) as e:
        api.create_commit(repo_id, operations=[CommitOperationAdd("c.txt", b"3")], commit_message="stale",
                          parent_commit=c1)
    assert e.value.response.status_code == 412
    assert e.value.response.headers.get("x-error-code")
    assert repo_state(api, repo_id) == before
    assert "c.txt" not in api.list_repo_files(repo_id)
    # the current head as parent works
    c3 = api.create_commit(repo_id, operations=[CommitOperationAdd("c.txt", b"3")], commit_message="fresh",
                           parent_commit=c2).oid
    assert api.model_info(repo_id).sha == c3
    assert without_gitattributes(api.list_repo_files(repo_id)) == {"a.txt", "b.txt", "c.txt"}


def test_refs_on_dataset(api):
    from conftest import unique

    repo_id = f"alice/{unique('ds')}"
    api.create_repo(repo_id, repo_type="dataset")
    c = api.upload_file(path_or_fileobj=b"d", path_in_repo="d.csv", repo_id=repo_id, repo_type="dataset").oid
    api.create_branch(repo_id, branch="b1", repo_type="dataset")
    api.create_tag(repo_id, tag="t1", repo_type="dataset")
    branches, tags = _refs(api, repo_id, repo_type="dataset")
    assert branches["b1"].target_commit == c and tags["t1"].target_commit == c
    assert [x.commit_id for x in api.list_repo_commits(repo_id, repo_type="dataset")][0] == c


def test_long_history_is_paginated_completely(hub, api, make_repo):
    repo_id = make_repo()
    from compat_helpers import file_line, header_line, ndjson, raw_commit

    made = []
    with hub.http("alice") as c:
        for i in range(130):
            r = raw_commit(c, repo_id, ndjson(header_line(f"commit {i}"), file_line("counter.txt", str(i).encode())))
            assert r.status_code == 200, r.text
            made.append(r.json()["commitOid"])
        r = c.get(f"/api/models/{repo_id}/commits/main")
        link = r.headers.get("link")
        if link:
            assert re.search(r'<https?://[^>]+>;\s*rel="next"', link), f"Link must be absolute: {link}"
    commits = api.list_repo_commits(repo_id)
    ids = [x.commit_id for x in commits]
    assert len(ids) == len(set(ids)), "pagination must not repeat commits"
    assert ids[:130] == made[::-1]
    assert commits[0].title == "commit 129"
