"""Repository lifecycle: create, info, list, settings, move, delete (spec §2)."""

from __future__ import annotations

import uuid

import pytest
from huggingface_hub import RepoUrl
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from compat_helpers import HEX40, assert_api_error, without_gitattributes
from conftest import unique


def test_create_repo_returns_namespaced_url(hub, api):
    repo_id = f"alice/{unique()}"
    url = api.create_repo(repo_id)
    assert isinstance(url, RepoUrl)
    assert url.repo_id == repo_id
    assert url.repo_type == "model"
    assert url.endpoint == hub.endpoint
    info = api.model_info(repo_id)
    assert info.id == repo_id
    assert HEX40.match(info.sha)
    assert info.private is False
    assert info.last_modified is not None and info.created_at is not None


def test_create_repo_without_namespace_uses_token_owner(hub):
    name = unique()
    url = hub.api("bob").create_repo(name)
    assert url.repo_id == f"bob/{name}"
    assert hub.api("bob").repo_exists(f"bob/{name}")


def test_create_existing_repo_conflicts_and_exist_ok_returns_url(hub, api, make_repo):
    repo_id = make_repo()
    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo(repo_id)
    assert e.value.response.status_code == 409
    url = api.create_repo(repo_id, exist_ok=True)
    assert url.repo_id == repo_id
    # The raw 409 carries `url` (the client's exist_ok path reads it) and the error headers.
    ns, name = repo_id.split("/")
    with hub.http("alice") as c:
        r = c.post("/api/repos/create", json={"name": name, "organization": ns, "type": "model"})
    assert_api_error(r, 409)
    assert RepoUrl(r.json()["url"], endpoint=hub.endpoint).repo_id == repo_id


def test_create_private_repo(api):
    repo_id = f"alice/{unique()}"
    api.create_repo(repo_id, private=True)
    assert api.model_info(repo_id).private is True


def test_dataset_repo_lifecycle(hub, api):
    repo_id = f"alice/{unique('ds')}"
    url = api.create_repo(repo_id, repo_type="dataset")
    assert url.repo_type == "dataset" and url.repo_id == repo_id
    commit = api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data/train.csv", repo_id=repo_id,
                             repo_type="dataset")
    info = api.dataset_info(repo_id)
    assert info.id == repo_id
    assert info.sha == commit.oid
    assert "data/train.csv" in {s.rfilename for s in info.siblings}
    assert api.repo_exists(repo_id, repo_type="dataset")
    assert without_gitattributes(api.list_repo_files(repo_id, repo_type="dataset")) == {"data/train.csv"}


def test_model_and_dataset_namespaces_are_separate(api):
    repo_id = f"alice/{unique()}"
    api.create_repo(repo_id, repo_type="dataset")
    assert api.repo_exists(repo_id, repo_type="dataset")
    assert not api.repo_exists(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)
    api.create_repo(repo_id)  # same name as a model is a different repo
    assert api.repo_exists(repo_id)


def test_list_models_search_author_limit_and_privacy(hub):
    tag = uuid.uuid4().hex[:10]
    alice, bob = hub.api("alice"), hub.api("bob")
    public = {f"alice/lm-{tag}-{i}" for i in range(3)}
    for repo_id in sorted(public):
        alice.create_repo(repo_id)
    alice_private = f"alice/lm-{tag}-private"
    alice.create_repo(alice_private, private=True)
    bob_private = f"bob/lm-{tag}-bobpriv"
    bob.create_repo(bob_private, private=True)
    bob_public = f"bob/lm-{tag}-bobpub"
    bob.create_repo(bob_public)

    found = {m.id for m in alice.list_models(search=tag)}
    assert public | {alice_private, bob_public} <= found, "own private repos are listed for their owner"
    assert bob_private not in found, "another user's private repo must never be listed"

    assert {m.id for m in alice.list_models(author="alice", search=tag)} == public | {alice_private}
    assert {m.id for m in alice.list_models(author="bob", search=tag)} == {bob_public}
    assert {m.id for m in bob.list_models(author="bob", search=tag)} == {bob_public, bob_private}

    anon = {m.id for m in hub.api(None).list_models(search=tag)}
    assert anon == public | {bob_public}

    limited = list(alice.list_models(search=tag, limit=2))
    assert len(limited) == 2
    assert {m.id for m in limited} <= found

    everything = {m.id for m in hub.api(None).list_models()}
    assert public | {bob_public} <= everything
    assert not {alice_private, bob_private} & everything


def test_list_datasets(hub):
    tag = uuid.uuid4().hex[:10]
    api = hub.api("alice")
    ds = f"alice/ds-{tag}"
    model = f"alice/ds-{tag}-model"
    api.create_repo(ds, repo_type="dataset")
    api.create_repo(model)
    ids = {d.id for d in api.list_datasets(search=tag)}
    assert ids == {ds}
    assert {d.id for d in api.list_datasets(author="alice", search=tag)} == {ds}
    assert {m.id for m in api.list_models(search=tag)} == {model}


def test_delete_repo_and_missing_ok(api, make_repo):
    repo_id = make_repo()
    api.upload_file(path_or_fileobj=b"bye", path_in_repo="f.txt", repo_id=repo_id)
    api.delete_repo(repo_id)
    assert not api.repo_exists(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(repo_id)
    api.delete_repo(repo_id, missing_ok=True)
    # The name is free again, and the new repo does not resurrect the old content.
    api.create_repo(repo_id)
    assert "f.txt" not in api.list_repo_files(repo_id)


def test_delete_dataset_repo(api):
    repo_id = f"alice/{unique('ds')}"
    api.create_repo(repo_id, repo_type="dataset")
    api.delete_repo(repo_id, repo_type="dataset")
    assert not api.repo_exists(repo_id, repo_type="dataset")
    api.delete_repo(repo_id, repo_type="dataset", missing_ok=True)


def test_move_repo_keeps_content(api, make_repo):
    src = make_repo()
    commit = api.upload_file(path_or_fileobj=b"moved content", path_in_repo="m.txt", repo_id=src)
    dst = f"alice/{unique('moved')}"
    api.move_repo(src, dst)
    info = api.model_info(dst)
    assert info.id == dst
    assert info.sha == commit.oid
    assert "m.txt" in api.list_repo_files(dst)
    assert dst in {m.id for m in api.list_models(author="alice", search=dst.split("/")[1])}


def test_move_repo_into_org_namespace(hub, api, make_repo):
    src = make_repo()
    api.upload_file(path_or_fileobj=b"to the org", path_in_repo="o.txt", repo_id=src)
    dst = f"{hub.org}/{unique('moved')}"
    api.move_repo(src, dst)
    assert api.model_info(dst).id == dst
    assert "o.txt" in api.list_repo_files(dst)


def test_update_repo_settings_private_and_visibility(hub, api, make_repo):
    repo_id = make_repo()
    bob = hub.api("bob")
    assert bob.model_info(repo_id).id == repo_id

    api.update_repo_settings(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        bob.model_info(repo_id)

    api.update_repo_settings(repo_id, visibility="public")
    assert api.model_info(repo_id).private is False
    assert bob.model_info(repo_id).id == repo_id

    api.update_repo_settings(repo_id, visibility="private")
    assert api.model_info(repo_id).private is True
    assert not bob.repo_exists(repo_id)

    api.update_repo_settings(repo_id, private=False)
    assert bob.repo_exists(repo_id)


def test_exists_helpers_return_false_for_missing_things(api, make_repo):
    repo_id = make_repo()
    api.upload_file(path_or_fileobj=b"x", path_in_repo="present.txt", repo_id=repo_id)
    assert api.repo_exists(repo_id)
    assert not api.repo_exists(f"alice/{unique('missing')}")
    assert not api.repo_exists(f"nobody-{unique()}/x")
    assert api.file_exists(repo_id, "present.txt")
    assert not api.file_exists(repo_id, "absent.txt")
    assert not api.file_exists(repo_id, "present.txt", revision="no-such-branch")
    assert not api.file_exists(f"alice/{unique('missing')}", "present.txt")
    assert api.revision_exists(repo_id, "main")
    assert not api.revision_exists(repo_id, "no-such-branch")
    assert not api.revision_exists(f"alice/{unique('missing')}", "main")


def test_repo_info_unknown_revision_raises(api, make_repo):
    repo_id = make_repo()
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="no-such-branch")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"alice/{unique('missing')}")
