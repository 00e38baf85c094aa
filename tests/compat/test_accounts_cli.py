"""The administrator's account commands on the real binary: `gatehouse user set-password` (for a user who
forgot theirs on a hub without mail), `gatehouse user disable-two-factor` and `gatehouse invite list/revoke`;
password changes are checked by signing in to the web pages as a browser would."""

from __future__ import annotations

import re

import httpx

from conftest import unique


def sign_in(hub, login: str, password: str) -> int:
    with httpx.Client(base_url=hub.endpoint, timeout=60, follow_redirects=False) as c:
        page = c.get("/login", headers={"accept": "text/html"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = c.post("/login", data={"csrf": csrf, "login": login, "password": password, "next": "/"},
                   headers={"accept": "text/html", "origin": hub.endpoint})
        return r.status_code


def test_set_password_and_disable_two_factor(hub):
    name = unique("pat")
    hub.cli("user", "create", name, "--email", f"{name}@example.com", "--password-stdin", input="first password\n")
    assert sign_in(hub, name, "first password") == 303

    r = hub.cli("user", "set-password", name, input="second password\n")
    assert "sessions have ended" in r.stderr
    assert sign_in(hub, name, "first password") == 401
    assert sign_in(hub, name, "second password") == 303

    short = hub.cli("user", "set-password", name, input="short\n", check=False)
    assert short.returncode != 0 and "at least 8 characters" in short.stderr
    assert sign_in(hub, name, "second password") == 303, "a refused change leaves the password as it was"
    missing = hub.cli("user", "set-password", unique("nobody"), input="long enough pw\n", check=False)
    assert missing.returncode != 0

    r = hub.cli("user", "disable-two-factor", name)
    assert "was not on" in r.stderr


def test_invitations_listed_and_withdrawn(hub):
    email = f"{unique('inv')}@example.com"
    code = hub.cli("invite", "create", "--email", email, "--days", "3").stdout.strip()
    assert code and len(code.split()) == 1, "the code alone on stdout"
    listing = hub.cli("invite", "list").stdout
    row = next(line for line in listing.splitlines() if line.rstrip().endswith(email))
    assert code not in listing, "codes are never shown again"
    inv_id = row.split()[0]
    r = hub.cli("invite", "revoke", inv_id)
    assert f"invitation {inv_id} withdrawn" in r.stderr
    assert email not in hub.cli("invite", "list").stdout
    again = hub.cli("invite", "revoke", inv_id, check=False)
    assert again.returncode != 0 and "no unused invitation" in again.stderr
