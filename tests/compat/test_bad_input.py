"""Hostile and malformed input against the raw HTTP API.

Every refusal must be a 4xx carrying `X-Error-Code`, `X-Error-Message` and a JSON `{"error": …}` body — never
a 500 — and must leave the repository exactly as it was.
"""

from __future__ import annotations

import base64
import json
import os
from urllib.parse import urljoin

import httpx
import pytest

from compat_helpers import (
    assert_api_error,
    describe,
    file_line,
    header_line,
    ndjson,
    raw_commit,
    repo_state,
    sha256,
)
from conftest import unique


@pytest.fixture
def repo(hub, make_repo):
    repo_id = make_repo(prefix="bad")
    hub.api("alice").upload_file(path_or_fileobj=b"original\n", path_in_repo="keep.txt", repo_id=repo_id)
    return repo_id


@pytest.fixture
def client(hub):
    with hub.http("alice") as c:
        yield c


@pytest.fixture
def refused(hub, repo):
    """refused(resp, status=None, code=None): a well-formed 4xx and the repo unchanged since the fixture ran."""
    before = repo_state(hub.api("alice"), repo)

    def check(resp, status=None, code=None):
        assert_api_error(resp, status, code)
        after = repo_state(hub.api("alice"), repo)
        assert after == before, f"repo changed after a refused request: {describe(resp)}"

    return check


# --- commit paths -----------------------------------------------------------------------------------------

TRAVERSAL = ["../x.txt", "../../etc/passwd", "sub/../../x.txt", "./../x.txt", "a/./../../x.txt", "..", "a/..",
             ".git/config", ".git/hooks/pre-receive", "sub/.git/config", "a//b.txt", ""]


@pytest.mark.parametrize("path", TRAVERSAL)
def test_commit_refuses_traversal_and_git_paths(repo, client, refused, path):
    r = raw_commit(client, repo, ndjson(header_line("evil"), file_line(path, b"pwned")))
    refused(r)


@pytest.mark.parametrize("key", ["deletedFile", "deletedFolder"])
@pytest.mark.parametrize("path", ["../keep.txt", ".git", ".git/config", "../"])
def test_delete_ops_refuse_traversal(repo, client, refused, key, path):
    r = raw_commit(client, repo, ndjson(header_line("evil delete"), {"key": key, "value": {"path": path}}))
    refused(r)


def test_commit_normalises_leading_slash_and_dot(hub, repo, client):
    r = raw_commit(client, repo, ndjson(header_line("normalise"), file_line("/abs.txt", b"abs"),
                                        file_line("./dot/x.txt", b"dot")))
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert body["commitOid"] and "/commit/" in body["commitUrl"]
    files = set(hub.api("alice").list_repo_files(repo))
    assert {"abs.txt", "dot/x.txt", "keep.txt"} <= files
    assert not any(f.startswith(("/", "./")) for f in files)
    got = client.get(f"/{repo}/resolve/main/abs.txt")
    assert got.status_code == 200 and got.content == b"abs"


# --- commit bodies ----------------------------------------------------------------------------------------

MALFORMED = {
    "not-json": b"this is not json\n",
    "truncated-json": ndjson(header_line()) + b'{"key": "file", "value": {"path": "a.txt"\n',
    "no-header": ndjson(file_line("a.txt", b"a")),
    "header-not-first": ndjson(file_line("a.txt", b"a"), header_line()),
    "empty-body": b"",
    "only-whitespace": b"\n\n  \n",
    "header-value-not-object": ndjson({"key": "header", "value": "summary"}),
    "line-is-array": ndjson(header_line()) + b'["file", "a.txt"]\n',
    "unknown-key": ndjson(header_line(), {"key": "bogus", "value": {"path": "a.txt"}}),
    "file-without-path": ndjson(header_line(), {"key": "file", "value": {"content": "YQ==", "encoding": "base64"}}),
    "file-without-content": ndjson(header_line(), {"key": "file", "value": {"path": "a.txt", "encoding": "base64"}}),
    "file-path-not-string": ndjson(header_line(), {"key": "file", "value": {"path": 7, "content": "YQ==",
                                                                              "encoding": "base64"}}),
    "unknown-encoding": ndjson(header_line(), {"key": "file", "value": {"path": "a.txt", "content": "YQ==",
                                                                          "encoding": "rot13"}}),
    "bad-base64": ndjson(header_line(), {"key": "file", "value": {"path": "a.txt", "content": "!!!not base64###",
                                                                    "encoding": "base64"}}),
    "bad-base64-padding": ndjson(header_line(), {"key": "file", "value": {"path": "a.txt", "content": "YWJj=",
                                                                            "encoding": "base64"}}),
    "binary-garbage": b"\xff\xfe\x00\x01garbage\x00\n",
    "lfs-bad-oid": ndjson(header_line(), {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256",
                                                                        "oid": "not-a-sha256", "size": 3}}),
    "lfs-unknown-object": ndjson(header_line(), {"key": "lfsFile", "value": {
        "path": "w.bin", "algo": "sha256", "oid": sha256(b"never uploaded " + os.urandom(8)), "size": 23}}),
    "parent-not-hex": ndjson(header_line(parent="not-a-commit"), file_line("a.txt", b"a")),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_commit_is_refused(repo, client, refused, case):
    refused(raw_commit(client, repo, MALFORMED[case]))


def test_commit_to_unknown_revision_and_repo(hub, repo, client, refused):
    body = ndjson(header_line(), file_line("a.txt", b"a"))
    refused(raw_commit(client, repo, body, revision="no-such-branch"), 404, "RevisionNotFound")
    r = raw_commit(client, f"alice/{unique('missing')}", body)
    assert_api_error(r, 404, "RepoNotFound")


def test_stale_parent_commit_raw_is_412(hub, repo, client, refused):
    first = hub.api("alice").list_repo_commits(repo)[-1].commit_id
    head = hub.api("alice").model_info(repo).sha
    assert first != head
    refused(raw_commit(client, repo, ndjson(header_line(parent=first), file_line("a.txt", b"a"))), 412)


def test_deleting_missing_file_is_entry_not_found(repo, client, refused):
    refused(raw_commit(client, repo, ndjson(header_line(), {"key": "deletedFile", "value": {"path": "nope.txt"}})),
            404, "EntryNotFound")


# --- repo names -------------------------------------------------------------------------------------------

BAD_NAMES = ["bad name", "a--b", "a..b", "name.git", "x" * 97, "", "caf\u00e9", "semi;colon", "q?x", "a/b",
             ".", "..", "with%2Fslash"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_repo_refuses_invalid_names(hub, client, name):
    r = client.post("/api/repos/create", json={"name": name, "organization": None, "type": "model"})
    assert_api_error(r)
    assert name not in {m.id.split("/", 1)[1] for m in hub.api("alice").list_models(author="alice")}


@pytest.mark.parametrize("org", ["bad org", "a--b", "..", "no-such-org-" + os.urandom(3).hex()])
def test_create_repo_refuses_invalid_or_unknown_namespace(client, org):
    r = client.post("/api/repos/create", json={"name": unique(), "organization": org, "type": "model"})
    assert_api_error(r)


@pytest.mark.parametrize("body,ctype", [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (json.dumps({"organization": None}).encode(), "application/json"),
    (json.dumps({"name": unique(), "type": "banana"}).encode(), "application/json"),
    (json.dumps({"name": 12}).encode(), "application/json"),
])
def test_create_repo_refuses_malformed_bodies(client, body, ctype):
    r = client.post("/api/repos/create", content=body, headers={"content-type": ctype})
    assert_api_error(r)


# --- unknown things ---------------------------------------------------------------------------------------


def test_unknown_revision_file_and_repo_codes(repo, client):
    assert_api_error(client.get(f"/api/models/{repo}/revision/no-such-rev"), 404, "RevisionNotFound")
    assert_api_error(client.get(f"/api/models/{repo}/revision/{'0' * 40}"), 404, "RevisionNotFound")
    assert_api_error(client.get(f"/api/models/{repo}/tree/no-such-rev"), 404, "RevisionNotFound")
    assert_api_error(client.get(f"/api/models/{repo}/commits/no-such-rev"), 404, "RevisionNotFound")
    assert_api_error(client.head(f"/{repo}/resolve/no-such-rev/keep.txt"), 404, "RevisionNotFound")
    assert_api_error(client.get(f"/{repo}/resolve/no-such-rev/keep.txt"), 404, "RevisionNotFound")
    assert_api_error(client.head(f"/{repo}/resolve/main/missing.txt"), 404, "EntryNotFound")
    assert_api_error(client.get(f"/{repo}/resolve/main/missing.txt"), 404, "EntryNotFound")
    assert_api_error(client.get(f"/api/models/{repo}/tree/main/no%2Fsuch"), 404, "EntryNotFound")
    missing = f"alice/{unique('missing')}"
    assert_api_error(client.get(f"/api/models/{missing}"), 404, "RepoNotFound")
    assert_api_error(client.head(f"/{missing}/resolve/main/x"), 404, "RepoNotFound")


@pytest.mark.parametrize("path", [
    "/{repo}/resolve/main/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/{repo}/resolve/main/..%2F..%2F..%2Fetc%2Fpasswd",
    "/{repo}/resolve/main/.git/config",
    "/{repo}/resolve/%2e%2e/keep.txt",
    "/api/models/{repo}/tree/main/..%2F..",
    "/api/models/{repo}/tree/main/.git",
    "/api/models/{repo}/revision/..%2F..%2Fetc",
])
def test_read_routes_refuse_traversal(repo, client, path):
    r = client.get(path.format(repo=repo))
    assert_api_error(r)
    assert b"root:" not in r.content


def test_unknown_route_and_method_are_well_formed_errors(client):
    assert_api_error(client.get("/api/this-route-does-not-exist"), 404)
    r = client.request("DELETE", "/api/whoami-v2")
    assert_api_error(r)


# --- LFS basic transfer -----------------------------------------------------------------------------------


def _lfs_batch(hub, client, repo_id, objects):
    return client.post(f"/{repo_id}.git/info/lfs/objects/batch",
                       json={"operation": "upload", "transfers": ["basic"], "objects": objects,
                             "hash_algo": "sha256", "ref": {"name": "main"}},
                       headers={"accept": "application/vnd.git-lfs+json",
                                "content-type": "application/vnd.git-lfs+json"})


def _href(hub, href):
    href = href.replace("https://huggingface.co", hub.endpoint)
    return urljoin(hub.endpoint + "/", href)


def test_lfs_upload_with_wrong_content_or_size_is_refused(hub, repo, client):
    data = os.urandom(70_000)
    oid = sha256(data)
    before = repo_state(hub.api("alice"), repo)
    r = _lfs_batch(hub, client, repo, [{"oid": oid, "size": len(data)}])
    assert r.status_code == 200, describe(r)
    obj = r.json()["objects"][0]
    assert obj["oid"] == oid and obj["size"] == len(data)
    upload = obj["actions"]["upload"]
    url = _href(hub, upload["href"])
    with httpx.Client(timeout=60) as raw:  # the client sends no auth on the PUT
        wrong = bytearray(data)
        wrong[123] ^= 0xFF
        resp = raw.put(url, content=bytes(wrong))
        assert_api_error(resp)
        resp = raw.put(url, content=data[:-1])
        assert_api_error(resp)
        resp = raw.put(url, content=data + b"x")
        assert_api_error(resp)
    # nothing stored: a commit pointing at the object is refused
    commit = ndjson(header_line("lfs"), {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid,
                                                                      "size": len(data)}})
    r = raw_commit(client, repo, commit)
    assert_api_error(r)
    assert repo_state(hub.api("alice"), repo) == before

    # positive control: the right bytes are accepted and the commit then works
    with httpx.Client(timeout=60) as raw:
        resp = raw.put(url, content=data)
        assert 200 <= resp.status_code < 300, describe(resp)
    verify = obj["actions"].get("verify")
    if verify:
        resp = client.post(_href(hub, verify["href"]), json={"oid": oid, "size": len(data)})
        assert 200 <= resp.status_code < 300, describe(resp)
    # a commit claiming the wrong size is still refused
    bad_size = ndjson(header_line("lfs"), {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256",
                                                                        "oid": oid, "size": len(data) + 1}})
    assert_api_error(raw_commit(client, repo, bad_size))
    assert repo_state(hub.api("alice"), repo) == before
    r = raw_commit(client, repo, commit)
    assert r.status_code == 200, describe(r)
    got = client.get(f"/{repo}/resolve/main/w.bin")
    assert got.status_code == 200 and got.content == data


@pytest.mark.parametrize("obj", [
    {"oid": "not-a-sha", "size": 3},
    {"oid": "0" * 64, "size": -1},
    {"oid": "../../etc/passwd", "size": 3},
])
def test_lfs_batch_refuses_bad_objects(hub, repo, client, obj):
    r = _lfs_batch(hub, client, repo, [obj])
    if r.status_code == 200:
        # git-lfs allows per-object errors inside a 200 answer
        objs = r.json()["objects"]
        assert objs and "error" in objs[0] and "actions" not in objs[0], describe(r)
        assert 400 <= objs[0]["error"]["code"] < 500
    else:
        assert_api_error(r)


def test_lfs_batch_needs_write_access(hub, repo):
    data = b"lfs by a reader"
    with hub.http("alice_read") as c:
        r = _lfs_batch(hub, c, repo, [{"oid": sha256(data), "size": len(data)}])
    assert_api_error(r, (401, 403))
    with hub.http(None) as c:
        r = _lfs_batch(hub, c, repo, [{"oid": sha256(data), "size": len(data)}])
    assert_api_error(r, (401, 403))


def test_oversized_base64_claims_do_not_crash(repo, client, refused):
    # content decodes fine but a 'size' hint contradicts it: either ignored (200) or refused (4xx) — never 5xx
    line = {"key": "file", "value": {"path": "s.txt", "content": base64.b64encode(b"abc").decode(),
                                     "encoding": "base64", "size": 999}}
    r = raw_commit(client, repo, ndjson(header_line(), line))
    assert r.status_code < 500, describe(r)


# --- structural conflicts and odd paths -------------------------------------------------------------------


@pytest.mark.parametrize("existing,new", [("dir/inner.txt", "dir"), ("plain.txt", "plain.txt/child.txt")],
                         ids=["file-over-folder", "folder-over-file"])
def test_file_folder_conflicts_are_refused(hub, repo, client, refused, existing, new):
    api = hub.api("alice")
    api.upload_file(path_or_fileobj=b"existing", path_in_repo=existing, repo_id=repo)
    before = repo_state(api, repo)
    r = raw_commit(client, repo, ndjson(header_line("conflict"), file_line(new, b"clash")))
    assert_api_error(r)
    assert repo_state(api, repo) == before


@pytest.mark.parametrize("path", ["nul\x00byte.txt", "x" * 1100 + ".txt", "a/" * 600 + "deep.txt"])
def test_commit_refuses_unstorable_paths(repo, client, refused, path):
    refused(raw_commit(client, repo, ndjson(header_line("odd path"), file_line(path, b"x"))))


@pytest.mark.parametrize("name", ["a..b", "with space", "x.lock", "/lead", "trail/", "a//b", "@{x}", "back\\slash",
                                  "~t", "^t", "c:d", "q?", "s*", "[b", "ctl\x01", "end.", ""])
@pytest.mark.parametrize("kind", ["branch", "tag"])
def test_invalid_ref_names_are_refused(hub, repo, client, name, kind):
    from urllib.parse import quote

    if kind == "branch":
        r = client.post(f"/api/models/{repo}/branch/{quote(name, safe='')}", json={})
    else:
        r = client.post(f"/api/models/{repo}/tag/main", json={"tag": name})
    assert_api_error(r)
    refs = hub.api("alice").list_repo_refs(repo)
    assert {b.name for b in refs.branches} == {"main"}
    assert not refs.tags


def test_paths_info_with_traversal_leaks_nothing(repo, client):
    r = client.post(f"/api/models/{repo}/paths-info/main",
                    data={"paths": ["../../../etc/passwd", ".git/config", "keep.txt"], "expand": "false"})
    assert r.status_code < 500, describe(r)
    if r.status_code == 200:
        assert [e["path"] for e in r.json()] == ["keep.txt"]
    else:
        assert_api_error(r)


@pytest.mark.parametrize("body", [b"{not json", b'{"files": "nope"}', b'{"files": [{"size": 1}]}', b"[]"])
def test_preupload_refuses_malformed_bodies(repo, client, body):
    r = client.post(f"/api/models/{repo}/preupload/main", content=body, headers={"content-type": "application/json"})
    assert_api_error(r)


def test_lfs_upload_href_signature_cannot_be_tampered(hub, repo, client):
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    data = os.urandom(2048)
    oid = sha256(data)
    r = _lfs_batch(hub, client, repo, [{"oid": oid, "size": len(data)}])
    assert r.status_code == 200, describe(r)
    url = _href(hub, r.json()["objects"][0]["actions"]["upload"]["href"])
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    tampered = []
    for key in list(query):
        q = dict(query)
        q[key] = (q[key][:-1] + ("0" if q[key][-1:] != "0" else "1")) if q[key] else "x"
        tampered.append(urlunsplit(parts._replace(query=urlencode(q))))
    if query:
        tampered.append(urlunsplit(parts._replace(query="")))
    other = sha256(b"other object")
    tampered.append(url.replace(oid, other))
    for t in tampered:
        with httpx.Client(timeout=60) as raw:  # a fresh connection each: see the keep-alive test below
            resp = raw.put(t, content=data if other not in t else b"other object")
        assert_api_error(resp, (401, 403))
    # none of that stored anything
    commit = ndjson(header_line("lfs"), {"key": "lfsFile", "value": {"path": "t.bin", "algo": "sha256", "oid": other,
                                                                      "size": len(b"other object")}})
    assert_api_error(raw_commit(client, repo, commit))


def test_lfs_verify_rejects_wrong_size_and_missing_object(hub, repo, client):
    data = os.urandom(4096)
    oid = sha256(data)
    r = _lfs_batch(hub, client, repo, [{"oid": oid, "size": len(data)}])
    obj = r.json()["objects"][0]
    verify = obj.get("actions", {}).get("verify")
    if not verify:
        pytest.skip("server offers no verify action")  # optional in the protocol, not a server bug
    url = _href(hub, verify["href"])
    assert_api_error(client.post(url, json={"oid": oid, "size": len(data)}))  # not uploaded yet
    with httpx.Client(timeout=60) as raw:
        assert raw.put(_href(hub, obj["actions"]["upload"]["href"]), content=data).status_code < 300
    assert_api_error(client.post(url, json={"oid": oid, "size": len(data) + 1}))
    ok = client.post(url, json={"oid": oid, "size": len(data)})
    assert 200 <= ok.status_code < 300, describe(ok)


def test_rejected_lfs_put_leaves_keepalive_connection_usable(hub, repo, client):
    """A PUT refused before its body is read must not poison the pooled connection: either the server reads
    (drains) the body or it says `Connection: close`. Otherwise the next request on that connection dies with
    'Server disconnected without sending a response'."""
    data = os.urandom(70_000)
    oid = sha256(data)
    r = _lfs_batch(hub, client, repo, [{"oid": oid, "size": len(data)}])
    href = _href(hub, r.json()["objects"][0]["actions"]["upload"]["href"])
    bad = href.replace("sig=", "sig=0") if "sig=" in href else href + ("&" if "?" in href else "?") + "sig=0"
    outcomes = {}
    with httpx.Client(timeout=60) as pooled:
        for _ in range(60):
            try:
                key = pooled.put(bad, content=data).status_code
            except httpx.TransportError as e:
                key = type(e).__name__
            outcomes[key] = outcomes.get(key, 0) + 1
    assert set(outcomes) <= {401, 403}, f"PUT {bad} on one keep-alive connection, 60 times: {outcomes}"


@pytest.mark.parametrize("size_value", ["-3", "notanumber", "99999999999999999999999"])
def test_malformed_lfs_upload_urls_are_well_formed_errors(hub, repo, client, size_value):
    """Typed URL parameters that fail to parse must go through the error table too (not a framework text body).
    The upload href the server hands out is taken apart and its size (wherever it sits) replaced."""
    from urllib.parse import urlsplit, urlunsplit

    data = b"typed url params"
    r = _lfs_batch(hub, client, repo, [{"oid": sha256(data), "size": len(data)}])
    href = _href(hub, r.json()["objects"][0]["actions"]["upload"]["href"])
    parts = urlsplit(href)
    size = str(len(data))
    segs = parts.path.split("/")
    if size in segs:
        segs[len(segs) - 1 - segs[::-1].index(size)] = size_value
        url = urlunsplit(parts._replace(path="/".join(segs)))
    elif f"size={size}" in parts.query:
        url = urlunsplit(parts._replace(query=parts.query.replace(f"size={size}", f"size={size_value}")))
    else:
        pytest.skip(f"the upload href carries no visible size: {href}")
    with httpx.Client(timeout=30) as raw:
        resp = raw.put(url, content=data)
    assert_api_error(resp)
