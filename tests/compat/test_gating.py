"""Gated repositories through the real client (spec §6, §7): GatedRepoError for downloads without access, the
owners' review with list/accept/reject/cancel/grant_access_request, and our request endpoint for pipelines."""

from __future__ import annotations

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from conftest import unique

CARD = """---
extra_gated_prompt: You agree not to use the model to cause harm.
extra_gated_fields:
  Company: text
  Country: country
  Intended use:
    type: select
    options:
      - Research
      - label: Other
        value: other
  I agree to the license: checkbox
---
# A gated model
"""
ANSWERS = {"Company": "Bobco", "Country": "fr", "Intended use": "other", "I agree to the license": True}


@pytest.fixture
def gated_repo(hub, make_repo):
    def _make(mode: str = "manual", repo_type: str = "model") -> str:
        repo_id = make_repo(repo_type=repo_type)
        api = hub.api("alice")
        api.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo_id, repo_type=repo_type)
        api.upload_file(path_or_fileobj=b'{"layers": 2}', path_in_repo="config.json", repo_id=repo_id,
                        repo_type=repo_type)
        api.update_repo_settings(repo_id, gated=mode, repo_type=repo_type)
        return repo_id

    return _make


def ask(hub, who: str, repo_id: str, fields: dict, repo_type: str = "model"):
    with hub.http(who) as c:
        return c.post(f"/api/{repo_type}s/{repo_id}/user-access-request", json={"fields": fields})


def download(hub, who, repo_id, cache_dir, repo_type="model"):
    return hf_hub_download(repo_id, "config.json", repo_type=repo_type, cache_dir=cache_dir,
                           token=hub.tokens[who] if who else False)


def test_gated_state_round_trips(hub, gated_repo):
    repo_id = gated_repo("manual")
    api = hub.api("alice")
    assert api.model_info(repo_id).gated == "manual"
    # Spaces may be gated too.
    space = f"alice/{unique('space')}"
    api.create_repo(space, repo_type="space", space_sdk="static")
    api.update_repo_settings(space, gated="auto", repo_type="space")
    assert api.space_info(space).gated == "auto"
    api.update_repo_settings(repo_id, gated="auto")
    assert api.model_info(repo_id).gated == "auto"
    api.update_repo_settings(repo_id, gated=False)
    assert api.model_info(repo_id).gated is False


def test_downloads_without_access_raise_gated_repo_error(hub, gated_repo, cache_dir):
    repo_id = gated_repo("manual")
    # The repository exists for everyone; its files are what the gate keeps (spec 7.1).
    assert hub.api("bob").repo_exists(repo_id)
    with pytest.raises(GatedRepoError):
        hub.api("bob").file_exists(repo_id, "config.json")
    for who in ("bob", None):
        with pytest.raises(GatedRepoError) as e:
            download(hub, who, repo_id, cache_dir)
        assert e.value.response.status_code == (403 if who else 401)
    # The card stays readable, and the owner is never gated.
    card = hf_hub_download(repo_id, "README.md", cache_dir=cache_dir, token=hub.tokens["bob"])
    assert "extra_gated_fields" in open(card).read()
    assert open(download(hub, "alice", repo_id, cache_dir)).read() == '{"layers": 2}'


def test_manual_review_with_the_client(hub, gated_repo, cache_dir):
    repo_id = gated_repo("manual")
    owner = hub.api("alice")
    # The form is checked on the server: every field, the checkbox ticked, a real country.
    r = ask(hub, "bob", repo_id, {**ANSWERS, "Country": "XX", "I agree to the license": False})
    assert r.status_code == 400 and r.headers["x-error-code"], r.text
    assert "Country" in r.headers["x-error-message"] and "I agree" in r.headers["x-error-message"]
    assert list(owner.list_pending_access_requests(repo_id)) == []

    r = ask(hub, "bob", repo_id, ANSWERS)
    assert r.status_code == 200 and r.json() == {"status": "pending"}, r.text
    pending = list(owner.list_pending_access_requests(repo_id))
    assert [p.username for p in pending] == ["bob"]
    assert pending[0].fullname == "Bob Outsider" and pending[0].status == "pending"
    assert pending[0].fields == {**ANSWERS, "Country": "FR"}
    with pytest.raises(GatedRepoError):
        download(hub, "bob", repo_id, cache_dir)

    owner.accept_access_request(repo_id, "bob")
    assert [a.username for a in list(owner.list_accepted_access_requests(repo_id))] == ["bob"]
    assert open(download(hub, "bob", repo_id, cache_dir)).read() == '{"layers": 2}'

    # Owners can revoke at any time; the reason is shown to the user, who cannot ask again.
    owner.reject_access_request(repo_id, "bob", rejection_reason="Not for commercial use")
    assert [a.username for a in list(owner.list_rejected_access_requests(repo_id))] == ["bob"]
    # A fresh cache: on any HTTP error the client falls back to a copy it already has.
    with pytest.raises(GatedRepoError):
        download(hub, "bob", repo_id, cache_dir / "after-revoke")
    again = ask(hub, "bob", repo_id, ANSWERS)
    assert again.status_code == 403
    assert "rejected by the repo's authors" in again.headers["x-error-message"]
    assert "Not for commercial use" in again.headers["x-error-message"]

    # Cancel moves it back to pending; deciding what is already decided is a 404.
    owner.cancel_access_request(repo_id, "bob")
    assert [p.username for p in list(owner.list_pending_access_requests(repo_id))] == ["bob"]
    with pytest.raises(HfHubHTTPError) as e:
        owner.cancel_access_request(repo_id, "bob")
    assert e.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as e:
        owner.reject_access_request(repo_id, "bob", rejection_reason="x" * 201)
    assert e.value.response.status_code == 400


def test_automatic_approval(hub, gated_repo, cache_dir):
    repo_id = gated_repo("auto", repo_type="dataset")
    assert ask(hub, "bob", repo_id, ANSWERS, repo_type="dataset").json() == {"status": "accepted"}
    assert open(download(hub, "bob", repo_id, cache_dir, repo_type="dataset")).read() == '{"layers": 2}'
    accepted = list(hub.api("alice").list_accepted_access_requests(repo_id, repo_type="dataset"))
    assert [a.username for a in accepted] == ["bob"]


def test_grant_access(hub, gated_repo, make_repo, cache_dir):
    repo_id = gated_repo("manual")
    owner = hub.api("alice")
    owner.grant_access(repo_id, "bob")
    assert open(download(hub, "bob", repo_id, cache_dir)).read() == '{"layers": 2}'
    granted = list(owner.list_accepted_access_requests(repo_id))
    assert [(g.username, g.email) for g in granted] == [("bob", None)]
    for user, status in (("bob", 400), ("nobody-at-all", 404)):
        with pytest.raises(HfHubHTTPError) as e:
            owner.grant_access(repo_id, user)
        assert e.value.response.status_code == status, user
    # Not gated: 400. A read-only token: 403.
    with pytest.raises(HfHubHTTPError) as e:
        owner.grant_access(make_repo(), "bob")
    assert e.value.response.status_code == 400
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("alice_read").grant_access(repo_id, "carol")
    assert e.value.response.status_code == 403
    # Someone else's repository: its requests are not theirs to see.
    with pytest.raises(HfHubHTTPError) as e:
        list(hub.api("bob").list_pending_access_requests(repo_id))
    assert e.value.response.status_code == 403


def test_access_report(hub, gated_repo):
    repo_id = gated_repo("manual")
    ask(hub, "bob", repo_id, ANSWERS)
    hub.api("alice").grant_access(repo_id, "carol")
    with hub.http("alice") as c:
        r = c.get(f"/api/models/{repo_id}/user-access-report")
    assert r.status_code == 200, r.text
    rows = {row["user"]: row for row in r.json()}
    assert rows["bob"]["status"] == "pending" and rows["carol"]["status"] == "accepted"
    assert rows["bob"]["fullname"] == "Bob Outsider" and rows["bob"]["email"] == "bob@example.com"
    assert rows["carol"]["email"] is None, "granted without asking: no contact details shared"
    assert all(row["time"].endswith("Z") for row in rows.values())
