"""Access control seen through the client: private repos, token roles, organization roles (spec §6)."""

from __future__ import annotations

import pytest
from huggingface_hub import CommitOperationAdd, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from compat_helpers import assert_api_error, repo_state
from conftest import unique


def _forbidden(excinfo) -> None:
    resp = excinfo.value.response
    assert resp.status_code == 403, f"expected 403, got {resp.status_code}: {resp.text[:200]}"
    assert resp.headers.get("x-error-code")


def _upload(hub, who, repo_id, name="w.txt", data=b"w", **kw):
    return hub.api(who).upload_file(path_or_fileobj=data, path_in_repo=name, repo_id=repo_id, **kw)


# --- private repos ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_repo(hub):
    api = hub.api("alice")
    repo_id = f"alice/{unique('secret')}"
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"top secret", path_in_repo="secret.txt", repo_id=repo_id)
    return repo_id


@pytest.mark.parametrize("who", ["bob", None], ids=["other-user", "anonymous"])
def test_private_repo_is_invisible_to_others(hub, private_repo, who, cache_dir):
    api = hub.api(who)
    token = hub.tokens[who] if who else False
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(private_repo)
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_files(private_repo)
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_refs(private_repo)
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_commits(private_repo)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(private_repo, "secret.txt", cache_dir=cache_dir, endpoint=hub.endpoint, token=token)
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download(private_repo, cache_dir=cache_dir, endpoint=hub.endpoint, token=token)
    assert not api.repo_exists(private_repo)
    assert not api.file_exists(private_repo, "secret.txt")
    name = private_repo.split("/")[1]
    assert private_repo not in {m.id for m in api.list_models(search=name)}
    assert private_repo not in {m.id for m in api.list_models(author="alice")}


@pytest.mark.parametrize("who", ["bob", None], ids=["other-user", "anonymous"])
def test_private_repo_raw_answers_are_indistinguishable_from_missing(hub, private_repo, who):
    missing = f"alice/{unique('missing')}"
    with hub.http(who) as c:
        for repo_id in (private_repo, missing):
            assert_api_error(c.get(f"/api/models/{repo_id}"), (401, 404), "RepoNotFound")
            assert_api_error(c.get(f"/{repo_id}/resolve/main/secret.txt"), (401, 404), "RepoNotFound")
            assert_api_error(c.head(f"/{repo_id}/resolve/main/secret.txt"), (401, 404), "RepoNotFound")
            assert_api_error(c.get(f"/api/models/{repo_id}/tree/main"), (401, 404), "RepoNotFound")
        a = c.get(f"/api/models/{private_repo}")
        b = c.get(f"/api/models/{missing}")
        assert (a.status_code, a.headers["x-error-code"]) == (b.status_code, b.headers["x-error-code"])


def test_owner_and_read_token_can_read_private_repo(hub, private_repo, cache_dir):
    for who in ("alice", "alice_read"):
        assert hub.api(who).model_info(private_repo).private is True
        p = hf_hub_download(private_repo, "secret.txt", cache_dir=cache_dir, endpoint=hub.endpoint,
                            token=hub.tokens[who], force_download=True)
        assert open(p, "rb").read() == b"top secret"


def test_other_user_cannot_write_or_manage_private_repo(hub, private_repo):
    bob = hub.api("bob")
    before = repo_state(hub.api("alice"), private_repo)
    with pytest.raises(RepositoryNotFoundError):
        _upload(hub, "bob", private_repo)
    with pytest.raises(RepositoryNotFoundError):
        bob.delete_repo(private_repo)
    with pytest.raises(RepositoryNotFoundError):
        bob.update_repo_settings(private_repo, visibility="public")
    with pytest.raises(RepositoryNotFoundError):
        bob.create_branch(private_repo, branch="bob")
    assert repo_state(hub.api("alice"), private_repo) == before
    assert hub.api("alice").model_info(private_repo).private is True


# --- other users' public repos ----------------------------------------------------------------------------


def test_other_user_cannot_write_public_repo(hub, make_repo):
    repo_id = make_repo()
    _upload(hub, "alice", repo_id, "a.txt", b"alice")
    before = repo_state(hub.api("alice"), repo_id)
    bob = hub.api("bob")
    assert bob.model_info(repo_id).id == repo_id
    with pytest.raises(HfHubHTTPError) as e:
        _upload(hub, "bob", repo_id, "a.txt", b"bob was here")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        bob.create_branch(repo_id, branch="bob")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        bob.create_tag(repo_id, tag="bob")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        bob.delete_repo(repo_id)
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        bob.update_repo_settings(repo_id, visibility="private")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        bob.move_repo(repo_id, f"bob/{unique('stolen')}")
    assert e.value.response.status_code in (403, 404)
    assert repo_state(hub.api("alice"), repo_id) == before
    assert hub.api("alice").model_info(repo_id).private is False


def test_cannot_create_repo_in_someone_elses_namespace(hub):
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("bob").create_repo(f"alice/{unique('intruder')}")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("bob").create_repo(f"{hub.org}/{unique('intruder')}")
    _forbidden(e)


# --- read tokens ------------------------------------------------------------------------------------------


def test_read_token_cannot_write(hub, make_repo):
    repo_id = make_repo()
    _upload(hub, "alice", repo_id, "a.txt", b"alice")
    before = repo_state(hub.api("alice"), repo_id)
    ro = hub.api("alice_read")
    with pytest.raises(HfHubHTTPError) as e:
        _upload(hub, "alice_read", repo_id, "b.txt", b"nope")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        ro.create_commit(repo_id, operations=[CommitOperationAdd("c.txt", b"nope")], commit_message="nope")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        ro.create_repo(f"alice/{unique('ro')}")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        ro.create_branch(repo_id, branch="ro")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        ro.delete_file("a.txt", repo_id)
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        ro.delete_repo(repo_id)
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        ro.update_repo_settings(repo_id, private=True)
    _forbidden(e)
    assert repo_state(hub.api("alice"), repo_id) == before
    assert ro.model_info(repo_id).sha == before[0]


# --- organization roles -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org_repos(hub):
    """acme/<private> and acme/<public>, both created by alice (org admin)."""
    api = hub.api("alice")
    private = f"{hub.org}/{unique('org-priv')}"
    public = f"{hub.org}/{unique('org-pub')}"
    api.create_repo(private, private=True)
    api.create_repo(public)
    for r in (private, public):
        api.upload_file(path_or_fileobj=b"org file", path_in_repo="org.txt", repo_id=r)
    return private, public


def test_org_read_member_can_read_but_not_write(hub, org_repos, cache_dir):
    private, public = org_repos
    carol = hub.api("carol")
    assert carol.model_info(private).private is True
    p = hf_hub_download(private, "org.txt", cache_dir=cache_dir, endpoint=hub.endpoint, token=hub.tokens["carol"])
    assert open(p, "rb").read() == b"org file"
    assert private in {m.id for m in carol.list_models(author=hub.org)}
    before = repo_state(hub.api("alice"), private)
    for repo_id in (private, public):
        with pytest.raises(HfHubHTTPError) as e:
            _upload(hub, "carol", repo_id)
        _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        carol.create_branch(private, branch="carol")
    _forbidden(e)
    with pytest.raises(HfHubHTTPError) as e:
        carol.create_repo(f"{hub.org}/{unique('carol')}")
    _forbidden(e)
    assert repo_state(hub.api("alice"), private) == before


def test_org_contributor_creates_and_writes_own_repo_only(hub, org_repos):
    private, public = org_repos
    dave = hub.api("dave")
    mine = f"{hub.org}/{unique('dave')}"
    url = dave.create_repo(mine, private=True)
    assert url.repo_id == mine
    c = _upload(hub, "dave", mine, "dave.txt", b"by dave")
    assert dave.model_info(mine).sha == c.oid
    dave.create_branch(mine, branch="dave-branch")
    # the org admin sees it too
    assert hub.api("alice").model_info(mine).sha == c.oid

    before = repo_state(hub.api("alice"), private)
    for repo_id in (private, public):
        with pytest.raises(HfHubHTTPError) as e:
            _upload(hub, "dave", repo_id)
        _forbidden(e)
    assert repo_state(hub.api("alice"), private) == before

    # a repo created by another member (erin, write role) is not dave's to write
    erins = f"{hub.org}/{unique('erin')}"
    hub.api("erin").create_repo(erins)
    with pytest.raises(HfHubHTTPError) as e:
        _upload(hub, "dave", erins)
    _forbidden(e)


def test_org_write_member_can_write_any_org_repo(hub, org_repos):
    private, public = org_repos
    erin = hub.api("erin")
    for repo_id in org_repos:
        c = _upload(hub, "erin", repo_id, "erin.txt", b"by erin")
        assert erin.model_info(repo_id).sha == c.oid
    erin.create_branch(private, branch="erin-branch")
    dave_repo = f"{hub.org}/{unique('dave2')}"
    hub.api("dave").create_repo(dave_repo)
    _upload(hub, "erin", dave_repo, "erin.txt", b"erin writes dave's repo")
    assert "erin.txt" in erin.list_repo_files(dave_repo)
    # and read members still cannot write what erin wrote
    with pytest.raises(HfHubHTTPError) as e:
        _upload(hub, "carol", dave_repo)
    _forbidden(e)


def test_non_member_cannot_see_private_org_repos(hub, org_repos, cache_dir):
    private, public = org_repos
    bob = hub.api("bob")
    with pytest.raises(RepositoryNotFoundError):
        bob.model_info(private)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(private, "org.txt", cache_dir=cache_dir, endpoint=hub.endpoint, token=hub.tokens["bob"])
    listed = {m.id for m in bob.list_models(author=hub.org)}
    assert public in listed
    assert private not in listed
    assert bob.model_info(public).id == public
    with pytest.raises(HfHubHTTPError) as e:
        _upload(hub, "bob", public)
    _forbidden(e)
    with pytest.raises(RepositoryNotFoundError):
        _upload(hub, "bob", private)


def test_org_admin_manages_org_repos(hub, org_repos):
    api = hub.api("alice")
    repo_id = f"{hub.org}/{unique('adm')}"
    api.create_repo(repo_id)
    api.update_repo_settings(repo_id, visibility="private")
    assert api.model_info(repo_id).private is True
    assert hub.api("carol").model_info(repo_id).private is True
    api.delete_repo(repo_id)
    assert not api.repo_exists(repo_id)


def test_auth_check(hub, private_repo, org_repos):
    private_org, _ = org_repos
    hub.api("alice").auth_check(private_repo)
    hub.api("alice").auth_check(private_repo, write=True)
    with pytest.raises(RepositoryNotFoundError):
        hub.api("bob").auth_check(private_repo)
    hub.api("carol").auth_check(private_org)
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("carol").auth_check(private_org, write=True)
    _forbidden(e)
    hub.api("erin").auth_check(private_org, write=True)
