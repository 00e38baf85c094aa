"""whoami and token handling (spec §1)."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from compat_helpers import assert_api_error
from conftest import ORG, ORG_FULL_NAME, USERS


def test_whoami_returns_name_fullname_and_orgs(hub):
    me = hub.api("alice").whoami()
    assert me["name"] == "alice"
    assert me.get("type", "user") == "user"
    assert me.get("fullname") == USERS["alice"]
    assert [o["name"] for o in me["orgs"]] == [ORG]
    assert me["orgs"][0].get("fullname") == ORG_FULL_NAME
    token = me["auth"]["accessToken"]
    assert token["role"] == "write"
    assert token["displayName"] == "compat-alice-write"


@pytest.mark.parametrize("user", ["carol", "dave", "erin"])
def test_whoami_lists_org_membership_of_members(hub, user):
    me = hub.api(user).whoami()
    assert me["name"] == user
    assert ORG in [o["name"] for o in me["orgs"]]


def test_whoami_outsider_has_no_orgs(hub):
    me = hub.api("bob").whoami()
    assert me["name"] == "bob"
    assert me["orgs"] == []


def test_whoami_read_token_reports_read_role(hub):
    me = hub.api("alice_read").whoami()
    assert me["name"] == "alice"
    assert me["auth"]["accessToken"]["role"] == "read"


def test_whoami_with_invalid_token_is_401(hub):
    api = HfApi(endpoint=hub.endpoint, token="hf_thisIsNotAValidTokenAtAll0000000")
    with pytest.raises(HfHubHTTPError) as e:
        api.whoami()
    assert e.value.response.status_code == 401
    with hub.http(None) as c:
        r = c.get("/api/whoami-v2", headers={"authorization": "Bearer hf_thisIsNotAValidTokenAtAll0000000"})
    assert_api_error(r, 401)
    assert r.headers["x-error-message"] == "Invalid credentials in Authorization header"


def test_whoami_anonymous_is_401(hub):
    with hub.http(None) as c:
        r = c.get("/api/whoami-v2")
    assert_api_error(r, 401)


def test_invalid_token_is_refused_even_on_public_reads(hub, make_repo):
    repo_id = make_repo()
    with hub.http(None) as c:
        r = c.get(f"/api/models/{repo_id}", headers={"authorization": "Bearer hf_bogus_bogus_bogus"})
    assert_api_error(r, 401)
    assert r.headers["x-error-message"] == "Invalid credentials in Authorization header"


def test_token_created_later_works_immediately(hub):
    """Admin commands work while the server runs."""
    token = hub.create_token("bob", "read", "late-token")
    me = HfApi(endpoint=hub.endpoint, token=token).whoami()
    assert me["name"] == "bob"
    assert me["auth"]["accessToken"]["role"] == "read"
