"""Collections through the real client (spec §8): create (and exists_ok), get, list by owner and by item,
metadata updates, items (add with exists_ok, update, delete with missing_ok), delete with missing_ok; private
collections and items the caller may not see stay hidden; gating groups through our settings endpoint."""

from __future__ import annotations

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from conftest import unique


def _status(excinfo) -> int:
    return excinfo.value.response.status_code


def test_create_get_list_update_delete(hub, make_repo):
    api = hub.api("alice")
    title = f"Models {unique('c')}"
    created = api.create_collection(title, description="My favourites")
    assert created.slug.startswith("alice/models-") and len(created.slug.rsplit("-", 1)[1]) == 24
    assert (created.title, created.owner, created.description) == (title, "alice", "My favourites")
    assert (created.private, created.upvotes, created.items) == (False, 0, [])
    assert created.last_updated.tzinfo is not None
    assert created.url.endswith(f"/collections/{created.slug}")

    # The same title again: 409, or the existing one with exists_ok.
    with pytest.raises(HfHubHTTPError) as e:
        api.create_collection(title)
    assert _status(e) == 409
    assert api.create_collection(title, exists_ok=True).slug == created.slug

    got = api.get_collection(created.slug)
    assert (got.slug, got.title, got.position) == (created.slug, title, created.position)

    # Metadata: only what is given changes; the slug follows the title.
    new_title = f"Renamed {unique('c')}"
    updated = api.update_collection_metadata(created.slug, title=new_title, theme="pink", private=True)
    assert (updated.title, updated.theme, updated.private) == (new_title, "pink", True)
    assert updated.description == "My favourites"
    assert updated.slug.endswith(created.slug.rsplit("-", 1)[1]) and updated.slug != created.slug
    # A private collection is hidden from others, like a missing one.
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("bob").get_collection(updated.slug)
    assert _status(e) == 404
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(None).get_collection(updated.slug)
    assert _status(e) == 404

    listed = list(api.list_collections(owner="alice"))
    assert updated.slug in [c.slug for c in listed]
    assert updated.slug not in [c.slug for c in hub.api("bob").list_collections(owner="alice")]

    api.delete_collection(updated.slug)
    with pytest.raises(HfHubHTTPError) as e:
        api.get_collection(updated.slug)
    assert _status(e) == 404
    api.delete_collection(updated.slug, missing_ok=True)
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_collection(updated.slug)
    assert _status(e) == 404


def test_items(hub, make_repo):
    api = hub.api("alice")
    model = make_repo()
    dataset = make_repo(repo_type="dataset")
    secret = make_repo(private=True)
    c = api.create_collection(f"Items {unique('c')}")

    c = api.add_collection_item(c.slug, model, "model", note="The one")
    assert [(i.item_id, i.item_type, i.position, i.note) for i in c.items] == [(model, "model", 0, "The one")]
    assert len(c.items[0].item_object_id) == 24
    api.add_collection_item(c.slug, dataset, "dataset")
    api.add_collection_item(c.slug, "2311.12983", "paper")
    c = api.add_collection_item(c.slug, secret, "model")
    assert [i.item_id for i in c.items] == [model, dataset, "2311.12983", secret]

    # Twice: 409, or the collection with exists_ok.
    with pytest.raises(HfHubHTTPError) as e:
        api.add_collection_item(c.slug, model, "model")
    assert _status(e) == 409
    assert len(api.add_collection_item(c.slug, model, "model", exists_ok=True).items) == 4
    # A repository that does not exist (or that the caller may not see) is a 404.
    with pytest.raises(HfHubHTTPError) as e:
        api.add_collection_item(c.slug, "alice/does-not-exist", "model")
    assert _status(e) == 404
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("bob").add_collection_item(c.slug, model, "model")
    assert _status(e) == 403

    # Items others may not see are left out for them.
    assert [i.item_id for i in hub.api("bob").get_collection(c.slug).items] == [model, dataset, "2311.12983"]

    # Listing by item; each listed collection shows at most 4 items, in order.
    for who, item, found in [("alice", f"models/{model}", True), ("alice", f"datasets/{dataset}", True),
                             ("alice", "papers/2311.12983", True), ("bob", f"models/{secret}", False),
                             ("alice", f"models/{secret}", True)]:
        slugs = [x.slug for x in hub.api(who).list_collections(item=item)]
        assert (c.slug in slugs) == found, (who, item)
    listed = [x for x in api.list_collections(owner="alice", limit=100) if x.slug == c.slug][0]
    assert [i.position for i in listed.items] == [0, 1, 2, 3]

    # Move and annotate an item.
    paper = [i for i in c.items if i.item_type == "paper"][0]
    api.update_collection_item(c.slug, paper.item_object_id, note="Read this first", position=0)
    c = api.get_collection(c.slug)
    assert [i.item_id for i in c.items] == ["2311.12983", model, dataset, secret]
    assert c.items[0].note == "Read this first"

    api.delete_collection_item(c.slug, paper.item_object_id)
    assert [i.item_id for i in api.get_collection(c.slug).items] == [model, dataset, secret]
    api.delete_collection_item(c.slug, paper.item_object_id, missing_ok=True)
    with pytest.raises(HfHubHTTPError) as e:
        api.delete_collection_item(c.slug, paper.item_object_id)
    assert _status(e) == 404
    api.delete_collection(c.slug)


def test_org_collections_and_roles(hub, make_repo):
    org = hub.org
    # A write member creates and edits the organization's collections; a read member may not edit them.
    c = hub.api("erin").create_collection(f"Org {unique('c')}", namespace=org, private=True)
    assert c.owner == org
    assert hub.api("carol").get_collection(c.slug).slug == c.slug
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("carol").update_collection_metadata(c.slug, description="no")
    assert _status(e) == 403
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("bob").get_collection(c.slug)
    assert _status(e) == 404
    with pytest.raises(HfHubHTTPError) as e:
        hub.api("alice_read").update_collection_metadata(c.slug, description="read token")
    assert _status(e) == 403
    hub.api("alice").delete_collection(c.slug)


def test_gating_group(hub, make_repo, cache_dir):
    """Our settings endpoint turns an organization's collection into a gating group: its models and datasets are
    gated by its mode, and one accepted request opens all of them."""
    org = hub.org
    api = hub.api("alice")
    model = make_repo(owner=org)
    dataset = make_repo(owner=org, repo_type="dataset")
    for repo_id, repo_type in [(model, "model"), (dataset, "dataset")]:
        api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id, repo_type=repo_type)
    c = api.create_collection(f"Family {unique('c')}", namespace=org)
    api.add_collection_item(c.slug, model, "model")
    api.add_collection_item(c.slug, dataset, "dataset")

    def gating(who, body):
        with hub.http(who) as h:
            return h.put(f"/api/collections/{c.slug}/gating", json=body)

    assert gating("erin", {"gated": "auto"}).status_code == 403, "a write member is not an admin"
    r = gating("alice", {"gated": "auto", "notifications": {"mode": "daily", "email": None}})
    assert r.status_code == 200, r.text
    assert r.json()["gated"] == "auto"
    assert api.model_info(model).gated == "auto"

    with pytest.raises(GatedRepoError):
        hf_hub_download(dataset, "config.json", repo_type="dataset", cache_dir=cache_dir, token=hub.tokens["bob"])
    # One request (on the model) opens the dataset too.
    with hub.http("bob") as h:
        r = h.post(f"/api/models/{model}/user-access-request", json={"fields": {}})
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    hf_hub_download(dataset, "config.json", repo_type="dataset", cache_dir=cache_dir, token=hub.tokens["bob"])

    # A repository belongs to one gating group only.
    other = api.create_collection(f"Other {unique('c')}", namespace=org)
    api.add_collection_item(other.slug, model, "model")
    with hub.http("alice") as h:
        r = h.put(f"/api/collections/{other.slug}/gating", json={"gated": "manual"})
    assert r.status_code == 409 and c.slug in r.json()["error"], r.text

    assert gating("alice", {"gated": False}).json()["gated"] is False
    assert api.model_info(model).gated is False
    api.delete_collection(c.slug)
    api.delete_collection(other.slug)
