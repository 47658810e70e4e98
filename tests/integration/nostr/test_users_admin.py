"""Users' own files and statistics; admin rights, bans, content removal with blocking, reports,
recent uploads and the audit log — and refusals that change nothing."""

from __future__ import annotations

import hashlib
import json
import os
import time

import nostr_sdk
import pytest

from tests.integration.nostr.conftest import BASE, Gateway
from tests.integration.nostr.helpers import nip98_header


async def session(gw: Gateway, keys: nostr_sdk.Keys) -> dict[str, str]:
    """Log in (NIP-07 flow, event signed by nostr-sdk here; nostr-tools is covered elsewhere)."""
    from tests.integration.nostr.helpers import sdk_sign

    challenge = (await gw.client.get("/api/auth/challenge")).json()["challenge"]
    event = sdk_sign(keys, 22242, [["relay", BASE], ["challenge", challenge]])
    response = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": event})
    assert response.status_code == 200, response.text
    gw.client.cookies.clear()  # an API client: it authenticates with the bearer token only
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def upload(
    gw: Gateway, headers: dict[str, str], data: bytes, name: str = "file.bin"
) -> dict[str, object]:
    response = await gw.client.put(f"/api/upload?name={name}", content=data, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def test_stats_files_and_delete_own_file(gw: Gateway) -> None:
    alice = await session(gw, nostr_sdk.Keys.generate())
    a = await upload(gw, alice, os.urandom(1000), "a.bin")
    b = await upload(gw, alice, os.urandom(300_000), "b.bin")  # chunked (threshold 200 kB)
    await gw.services.state.incr(f"stats:downloads:{a['sha256']}", 3)
    await gw.services.state.incr(f"stats:downloads:{b['sha256']}", 2)

    stats = (await gw.client.get("/api/users/me/stats", headers=alice)).json()
    assert (stats["files"], stats["bytes"], stats["downloads"]) == (2, 301_000, 5)

    page = (await gw.client.get("/api/users/me/files?limit=1&offset=0", headers=alice)).json()
    assert page["total"] == 2 and len(page["files"]) == 1 and page["files"][0]["sha256"] == b["sha256"]
    page2 = (await gw.client.get("/api/users/me/files?limit=1&offset=1", headers=alice)).json()
    assert page2["files"][0]["sha256"] == a["sha256"] and page2["files"][0]["downloads"] == 3
    assert (await gw.client.get("/api/users/me/files?limit=0", headers=alice)).status_code == 422

    deleted = await gw.client.delete(f"/api/users/me/files/{a['sha256']}", headers=alice)
    assert deleted.status_code == 200
    assert deleted.json() == {"sha256": a["sha256"], "removed": True, "file_deleted": True}
    assert (await gw.client.get(f"/api/files/{a['sha256']}")).status_code == 404
    assert (await gw.client.get("/api/users/me/stats", headers=alice)).json()["files"] == 1


async def test_shared_file_survives_one_owner_leaving(gw: Gateway) -> None:
    alice, bob = await session(gw, nostr_sdk.Keys.generate()), await session(gw, nostr_sdk.Keys.generate())
    data = os.urandom(5000)
    info = await upload(gw, alice, data)
    await upload(gw, bob, data)
    response = await gw.client.delete(f"/api/users/me/files/{info['sha256']}", headers=alice)
    assert response.json()["file_deleted"] is False
    admin = await session(gw, gw.admin)
    remaining = (await gw.client.get(f"/api/files/{info['sha256']}", headers=admin)).json()
    assert len(remaining["owners"]) == 1


async def test_deleting_another_users_file_is_404_and_changes_nothing(gw: Gateway) -> None:
    alice_keys = nostr_sdk.Keys.generate()
    alice, mallory = await session(gw, alice_keys), await session(gw, nostr_sdk.Keys.generate())
    info = await upload(gw, alice, os.urandom(2000))
    admin = await session(gw, gw.admin)
    before = (await gw.client.get(f"/api/files/{info['sha256']}", headers=admin)).json()
    response = await gw.client.delete(f"/api/users/me/files/{info['sha256']}", headers=mallory)
    assert response.status_code == 404
    assert response.json() == {"detail": "you own no file with this sha256"}
    assert (await gw.client.get(f"/api/files/{info['sha256']}", headers=admin)).json() == before
    assert before["owners"] == [alice_keys.public_key().to_hex()]
    malformed = await gw.client.delete("/api/users/me/files/xyz", headers=mallory)
    assert malformed.status_code == 400
    anonymous = await gw.client.delete(f"/api/users/me/files/{info['sha256']}")
    assert anonymous.status_code == 401


ADMIN_ROUTES = [
    ("GET", "/api/admin/users"),
    ("GET", f"/api/admin/users/{'a' * 64}"),
    ("POST", f"/api/admin/users/{'a' * 64}/ban"),
    ("POST", f"/api/admin/users/{'a' * 64}/unban"),
    ("GET", "/api/admin/bans"),
    ("DELETE", f"/api/admin/files/{'b' * 64}"),
    ("GET", "/api/admin/blocks"),
    ("DELETE", f"/api/admin/blocks/{'b' * 64}"),
    ("GET", "/api/admin/reports"),
    ("GET", "/api/admin/uploads"),
    ("GET", "/api/admin/audit"),
]


async def test_admin_routes_deny_everyone_else(gw: Gateway) -> None:
    user = await session(gw, nostr_sdk.Keys.generate())
    for method, path in ADMIN_ROUTES:
        anonymous = await gw.client.request(method, path)
        assert anonymous.status_code == 401, (method, path)
        refused = await gw.client.request(method, path, headers=user)
        assert refused.status_code == 403, (method, path)
        assert refused.json() == {"detail": "admin rights required"}
    state = gw.services.state
    assert (
        await state.scan("ban:") == []
        and await state.scan("block:") == []
        and await state.zcard("audit") == 0
    )


async def test_ban_revokes_sessions_and_refuses_every_credential(gw: Gateway) -> None:
    admin = await session(gw, gw.admin)
    target_keys = nostr_sdk.Keys.generate()
    target = target_keys.public_key().to_hex()
    first, second = await session(gw, target_keys), await session(gw, target_keys)
    await upload(gw, first, os.urandom(100))

    response = await gw.client.post(f"/api/admin/users/{target}/ban", json={"reason": "spam"}, headers=admin)
    assert response.status_code == 200
    assert response.json() == {"pubkey": target, "banned": True, "sessions_revoked": 2}
    for headers in (first, second):
        assert (await gw.client.get("/api/auth/me", headers=headers)).status_code == 401

    # A fresh login, a NIP-98 request and an upload are all refused with 403.
    from tests.integration.nostr.helpers import sdk_sign

    challenge = (await gw.client.get("/api/auth/challenge")).json()["challenge"]
    event = sdk_sign(target_keys, 22242, [["relay", BASE], ["challenge", challenge]])
    login = await gw.client.post("/api/auth/login", json={"auth_type": "nip07", "event": event})
    assert login.status_code == 403 and login.json() == {"detail": "this pubkey is banned from this gateway"}
    me = await gw.client.get("/api/auth/me", headers=nip98_header(target_keys, f"{BASE}/api/auth/me", "GET"))
    assert me.status_code == 403
    data = os.urandom(64)
    put = await gw.client.put(
        "/api/upload?name=x",
        content=data,
        headers=nip98_header(target_keys, f"{BASE}/api/upload?name=x", "PUT", data),
    )
    assert put.status_code == 403
    assert await gw.services.catalog.get(hashlib.sha256(data).hexdigest()) is None

    users = (await gw.client.get("/api/admin/users", headers=admin)).json()["users"]
    assert [(u["pubkey"], u["banned"], u["files"]) for u in users] == [(target, True, 1)]
    bans = (await gw.client.get("/api/admin/bans", headers=admin)).json()["bans"]
    assert bans[0]["pubkey"] == target and bans[0]["reason"] == "spam"

    assert (await gw.client.post(f"/api/admin/users/{target}/unban", headers=admin)).json()["banned"] is False
    assert (await gw.client.post(f"/api/admin/users/{target}/unban", headers=admin)).status_code == 404
    assert (await session(gw, target_keys))["Authorization"].startswith("Bearer ")

    # Admins cannot be banned (no lock-out), malformed pubkeys are 400.
    own = gw.admin.public_key().to_hex()
    assert (await gw.client.post(f"/api/admin/users/{own}/ban", headers=admin)).status_code == 409
    assert (await gw.client.post("/api/admin/users/nothex/ban", headers=admin)).status_code == 400

    actions = [
        e["action"] for e in (await gw.client.get("/api/admin/audit", headers=admin)).json()["entries"]
    ]
    assert actions == ["unban", "ban"]


async def test_remove_content_blocks_reupload_with_451(gw: Gateway) -> None:
    admin = await session(gw, gw.admin)
    user = await session(gw, nostr_sdk.Keys.generate())
    data = os.urandom(3000)
    info = await upload(gw, user, data, "bad.bin")
    sha = info["sha256"]

    response = await gw.client.delete(f"/api/admin/files/{sha}?reason=illegal", headers=admin)
    assert response.json() == {"sha256": sha, "deleted": True, "blocked": True}
    assert (await gw.client.get(f"/api/files/{sha}")).status_code == 404
    again = await gw.client.put("/api/upload?name=again.bin", content=data, headers=user)
    assert again.status_code == 451

    blocks = (await gw.client.get("/api/admin/blocks", headers=admin)).json()["blocks"]
    assert [(b["sha256"], b["reason"]) for b in blocks] == [(sha, "illegal")]
    assert (await gw.client.delete(f"/api/admin/blocks/{sha}", headers=admin)).json()["blocked"] is False
    assert (await gw.client.put("/api/upload?name=again.bin", content=data, headers=user)).status_code == 201

    entries = (await gw.client.get("/api/admin/audit", headers=admin)).json()["entries"]
    assert [e["action"] for e in entries] == ["unblock", "remove_content"]
    removal = entries[1]
    assert removal["admin"] == gw.admin.public_key().to_hex() and removal["target"] == sha
    assert removal["details"]["reason"] == "illegal" and removal["details"]["name"] == "bad.bin"


async def test_reports_and_recent_uploads(gw: Gateway) -> None:
    admin = await session(gw, gw.admin)
    user = await session(gw, nostr_sdk.Keys.generate())
    first = await upload(gw, user, os.urandom(10), "first.bin")
    second = await upload(gw, user, os.urandom(10), "second.bin")
    for index, sha in enumerate((first["sha256"], second["sha256"])):
        report = {"sha256": sha, "type": "spam", "reporter": "c" * 64, "content": f"report {index}"}
        await gw.services.state.zadd("reports", json.dumps(report), time.time() + index)

    reports = (await gw.client.get("/api/admin/reports", headers=admin)).json()
    assert reports["total"] == 2
    assert [r["report"]["content"] for r in reports["reports"]] == ["report 1", "report 0"]
    uploads = (await gw.client.get("/api/admin/uploads?limit=10", headers=admin)).json()["files"]
    assert [u["name"] for u in uploads] == ["second.bin", "first.bin"]


@pytest.mark.parametrize("path", ["/api/admin/users?limit=0", "/api/admin/audit?offset=-1"])
async def test_admin_pagination_is_validated(gw: Gateway, path: str) -> None:
    admin = await session(gw, gw.admin)
    assert (await gw.client.get(path, headers=admin)).status_code == 422
