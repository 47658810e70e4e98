"""Finding 3 (an owner deleting bytes others rely on) and finding 12's privacy parts (owner
pubkeys in public views, the public recent-files list), against a real serve-mode gateway."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import httpx
import nostr_sdk
import pytest

from tests.security.authkit import bearer, serve
from tests.support.gateway import RunningGateway

ADMIN = nostr_sdk.Keys.generate()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with serve(tmp_path_factory.mktemp("owners") / "data", admin=ADMIN) as running:
        yield running


def upload(base: str, data: bytes, headers: dict[str, str] | None = None) -> dict[str, object]:
    response = httpx.put(f"{base}/api/upload?name=shared.bin", content=data, headers=headers or {})
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def download(base: str, sha: str) -> httpx.Response:
    return httpx.get(f"{base}/api/download/{sha}")


# -- finding 3 --------------------------------------------------------------------------------------
def test_a_claimant_cannot_delete_an_anonymous_upload(gateway: RunningGateway) -> None:
    """The attack: re-upload someone's anonymous file while logged in, then 'delete my file'."""
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    upload(gateway.url, data)  # anonymous
    mallory = bearer(gateway.url, nostr_sdk.Keys.generate())
    upload(gateway.url, data, mallory)  # now an owner of the same bytes
    listed = httpx.get(f"{gateway.url}/api/users/me/files", headers=mallory).json()
    assert [f["sha256"] for f in listed["files"]] == [sha]
    gone = httpx.delete(f"{gateway.url}/api/users/me/files/{sha}", headers=mallory)
    assert gone.status_code == 200
    assert gone.json() == {"sha256": sha, "removed": True, "file_deleted": False}
    # Mallory's ownership is gone; the anonymous uploader's file is intact.
    assert httpx.get(f"{gateway.url}/api/users/me/files", headers=mallory).json()["total"] == 0
    got = download(gateway.url, sha)
    assert got.status_code == 200 and got.content == data
    assert httpx.delete(f"{gateway.url}/api/users/me/files/{sha}", headers=mallory).status_code == 404


def test_claiming_before_the_anonymous_upload_does_not_help_either(gateway: RunningGateway) -> None:
    data = os.urandom(3100)
    sha = hashlib.sha256(data).hexdigest()
    mallory = bearer(gateway.url, nostr_sdk.Keys.generate())
    upload(gateway.url, data, mallory)
    upload(gateway.url, data)  # someone else relies on it, anonymously
    assert (
        httpx.delete(f"{gateway.url}/api/users/me/files/{sha}", headers=mallory).json()["file_deleted"]
        is False
    )
    assert download(gateway.url, sha).content == data


def test_owned_bytes_go_with_the_last_owner_only(gateway: RunningGateway) -> None:
    data = os.urandom(3200)
    sha = hashlib.sha256(data).hexdigest()
    alice, bob = (
        bearer(gateway.url, nostr_sdk.Keys.generate()),
        bearer(gateway.url, nostr_sdk.Keys.generate()),
    )
    upload(gateway.url, data, alice)
    upload(gateway.url, data, bob)
    assert (
        httpx.delete(f"{gateway.url}/api/users/me/files/{sha}", headers=alice).json()["file_deleted"] is False
    )
    assert download(gateway.url, sha).content == data
    assert httpx.delete(f"{gateway.url}/api/users/me/files/{sha}", headers=bob).json()["file_deleted"] is True
    assert download(gateway.url, sha).status_code == 404


# -- finding 12: owners are not public, nor is the recent list by default ------------------------------
def test_file_views_name_no_owner_but_the_caller(gateway: RunningGateway) -> None:
    alice_keys, bob_keys = nostr_sdk.Keys.generate(), nostr_sdk.Keys.generate()
    alice, bob = bearer(gateway.url, alice_keys), bearer(gateway.url, bob_keys)
    data = os.urandom(3300)
    sha = hashlib.sha256(data).hexdigest()
    upload(gateway.url, data, alice)
    upload(gateway.url, data, bob)
    url = f"{gateway.url}/api/files/{sha}"
    assert httpx.get(url).json()["owners"] == []
    assert httpx.get(url, headers=alice).json()["owners"] == [alice_keys.public_key().to_hex()]
    mine = httpx.get(f"{gateway.url}/api/users/me/files", headers=bob).json()["files"]
    assert [f["owners"] for f in mine] == [[bob_keys.public_key().to_hex()]]
    admin = bearer(gateway.url, ADMIN)
    assert sorted(httpx.get(url, headers=admin).json()["owners"]) == sorted(
        [alice_keys.public_key().to_hex(), bob_keys.public_key().to_hex()]
    )


def test_recent_files_list_is_for_admins_unless_made_public(
    gateway: RunningGateway, tmp_path_factory: pytest.TempPathFactory
) -> None:
    upload(gateway.url, os.urandom(3400))
    anonymous = httpx.get(f"{gateway.url}/api/files")
    assert anonymous.status_code == 401 and "public_file_list" in anonymous.json()["detail"]
    user = bearer(gateway.url, nostr_sdk.Keys.generate())
    assert httpx.get(f"{gateway.url}/api/files", headers=user).status_code == 403
    listing = httpx.get(f"{gateway.url}/api/files", headers=bearer(gateway.url, ADMIN))
    assert listing.status_code == 200 and listing.json()["files"]
    with serve(tmp_path_factory.mktemp("public") / "data", gateway={"public_file_list": True}) as public:
        data = os.urandom(3500)
        mallory = bearer(public.url, nostr_sdk.Keys.generate())
        upload(public.url, data, mallory)
        files = httpx.get(f"{public.url}/api/files").json()["files"]
        assert [f["sha256"] for f in files] == [hashlib.sha256(data).hexdigest()]
        assert files[0]["owners"] == []  # public list, still no owner pubkeys
