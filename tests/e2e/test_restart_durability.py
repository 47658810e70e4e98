"""Nothing an admin or a user did is lost when `torrent-gateway serve` restarts.

A real ``serve`` process on a data directory: users log in, upload, download; an admin bans a
user, removes and blocks a file; someone reports a file. Then the process is stopped (SIGTERM),
started again, killed (SIGKILL) and started again. After each start every session, ban, block,
report, audit entry, file list and download count is what it was, the blocked file is still
refused with 451 and the banned user still cannot log in.

Three compositions: one process on its SQLite state file (the default), and cluster mode (Redis
state, the object store keeping the durable records) with Redis flushed before each start — as if
Redis had restarted empty — once on the filesystem object store and once on S3 (a real MinIO).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk
import pytest
import redis

from tests.integration.nostr.helpers import sdk_sign
from tests.support.minio import MinioServer
from tests.support.process import GatewayProcess
from tests.support.servers import RedisServer

# A database of its own on the shared test Redis, so FLUSHDB here disturbs no other suite.
REDIS_DB = 13


def login(base: str, keys: nostr_sdk.Keys) -> httpx.Response:
    """One login, in the form the server is moving to and, failing that, the form it had.

    First a NIP-98 kind 27235 event bound to the login URL and method, carrying the challenge;
    a server that still wants the NIP-42-style kind 22242 event gets one with the challenge and
    our public URL as ``relay``.
    """
    url = f"{base}/api/auth/login"
    challenge = httpx.get(f"{base}/api/auth/challenge").json()["challenge"]
    event = sdk_sign(keys, 27235, [["u", url], ["method", "POST"], ["challenge", challenge]])
    response = httpx.post(url, json={"auth_type": "nip07", "event": event})
    if response.status_code in (400, 401, 422):
        challenge = httpx.get(f"{base}/api/auth/challenge").json()["challenge"]
        event = sdk_sign(keys, 22242, [["relay", base], ["challenge", challenge]])
        response = httpx.post(url, json={"auth_type": "nip07", "event": event})
    return response


def bearer(base: str, keys: nostr_sdk.Keys) -> dict[str, str]:
    response = login(base, keys)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def upload(base: str, headers: dict[str, str], data: bytes, name: str) -> httpx.Response:
    return httpx.put(f"{base}/api/upload?name={name}", content=data, headers=headers, timeout=30)


def snapshot(base: str, admin: dict[str, str], users: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Everything the scenario created, as the API shows it."""
    view: dict[str, Any] = {}
    for path in ("bans", "blocks", "reports?limit=100", "audit?limit=100", "users?limit=100"):
        response = httpx.get(f"{base}/api/admin/{path}", headers=admin)
        assert response.status_code == 200, (path, response.text)
        view[path] = response.json()
    for name, headers in users.items():
        me = httpx.get(f"{base}/api/auth/me", headers=headers)
        files = httpx.get(f"{base}/api/users/me/files", headers=headers)
        stats = httpx.get(f"{base}/api/users/me/stats", headers=headers)
        view[name] = {
            "me": (me.status_code, me.json()),
            "files": (files.status_code, files.json()),
            "stats": (stats.status_code, stats.json()),
        }
    return view


@pytest.fixture(params=["sqlite", "cluster", "cluster-s3"])
def mode(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str], Any]]:
    """(name, extra environment, a function run before each start)."""
    if request.param == "sqlite":
        yield "sqlite", {}, lambda: None
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    url = server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    env = {"TGW_STATE__BACKEND": "redis", "TGW_STATE__REDIS_URL": url}
    if request.param == "cluster-s3":
        s3: MinioServer = request.getfixturevalue("s3_server")
        tmp_path: Path = request.getfixturevalue("tmp_path")
        env |= {
            "TGW_STORAGE__BACKEND": "s3",
            "TGW_STORAGE__S3__ENDPOINT": s3.endpoint,
            "TGW_STORAGE__S3__ACCESS_KEY": s3.access_key,
            "TGW_STORAGE__S3__SECRET_KEY": s3.secret_key,
            "TGW_STORAGE__S3__BUCKET": f"restart-{os.getpid()}-{time.monotonic_ns()}",
            "TGW_STORAGE__S3__CACHE_DIR": str(tmp_path / "s3-cache"),
        }
    try:
        yield request.param, env, client.flushdb
    finally:
        client.close()


def test_everything_survives_sigterm_and_sigkill(
    tmp_path: Path, mode: tuple[str, dict[str, str], Any]
) -> None:
    name, env, before_start = mode
    admin_keys, alice_keys, mallory_keys, reporter = (nostr_sdk.Keys.generate() for _ in range(4))
    env = {**env, "TGW_AUTH__ADMIN_PUBKEYS": json.dumps([admin_keys.public_key().to_hex()])}
    data = tmp_path / "data"
    gateway = GatewayProcess(data, env=env)
    gateway.start()
    try:
        base = gateway.url
        admin, alice, mallory = bearer(base, admin_keys), bearer(base, alice_keys), bearer(base, mallory_keys)

        kept_bytes, bad_bytes = os.urandom(5000), os.urandom(3000)
        kept = upload(base, alice, kept_bytes, "kept.bin")
        bad = upload(base, mallory, bad_bytes, "bad.bin")
        assert kept.status_code == 201 and bad.status_code == 201, (kept.text, bad.text)
        kept_sha, bad_sha = kept.json()["sha256"], bad.json()["sha256"]
        for _ in range(3):
            download = httpx.get(f"{base}/api/download/{kept_sha}")
            assert download.status_code == 200 and download.content == kept_bytes

        mallory_pubkey = mallory_keys.public_key().to_hex()
        ban = httpx.post(
            f"{base}/api/admin/users/{mallory_pubkey}/ban", json={"reason": "spam"}, headers=admin
        )
        assert ban.status_code == 200, ban.text
        removal = httpx.delete(f"{base}/api/admin/files/{bad_sha}?reason=illegal", headers=admin)
        assert removal.json() == {"sha256": bad_sha, "deleted": True, "blocked": True}
        report = sdk_sign(reporter, 1984, [["x", kept_sha, "spam"]], content="looks like spam")
        assert httpx.put(f"{base}/report", json=report).status_code in (200, 201)

        before = snapshot(base, admin, {"alice": alice})
        # What the scenario must have produced, so that "unchanged" below means something.
        assert [b["pubkey"] for b in before["bans"]["bans"]] == [mallory_pubkey]
        assert [b["sha256"] for b in before["blocks"]["blocks"]] == [bad_sha]
        assert before["reports?limit=100"]["total"] == 1
        assert [e["action"] for e in before["audit?limit=100"]["entries"]] == ["remove_content", "ban"]
        assert before["alice"]["me"][0] == 200
        assert [f["sha256"] for f in before["alice"]["files"][1]["files"]] == [kept_sha]
        assert before["alice"]["files"][1]["files"][0]["downloads"] == 3
        assert before["alice"]["stats"][1]["downloads"] == 3

        time.sleep(1)  # cluster mode writes download counts to the object store just behind Redis
        for stop in (gateway.stop, gateway.kill):
            stop()
            before_start()
            gateway.start()

            after = snapshot(base, admin, {"alice": alice})
            assert after == before, f"{name}: state changed across {stop.__name__}"
            again = upload(base, alice, bad_bytes, "again.bin")
            assert again.status_code == 451, again.text
            assert login(base, mallory_keys).status_code == 403
            assert httpx.get(f"{base}/api/auth/me", headers=mallory).status_code == 401
    finally:
        gateway.stop()
