"""BUD-04 mirroring from a real origin on loopback (allowed here by configuration) and BUD-09 reports."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.blossom.reports import REPORTS_KEY, list_reports

from tests.support.gateway import RunningGateway
from tests.unit.blossom.tokens import Signer, tamper_signature

from .conftest import MAX_BLOB, Origin, blossom_gateway, now, staging_files, store_keys


@pytest.fixture(scope="module")
def mirroring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    data_dir = tmp_path_factory.mktemp("mirroring") / "data"
    with blossom_gateway(data_dir, blossom={"mirror_allow_private": True, "mirror_timeout_s": 10}) as gateway:
        yield gateway


def mirror(gateway: RunningGateway, url: str, auth: str | None, **headers: str) -> httpx.Response:
    sent = dict(headers)
    if auth is not None:
        sent["Authorization"] = auth
    return httpx.put(f"{gateway.url}/mirror", content=json.dumps({"url": url}), headers=sent, timeout=30)


def test_mirror_fetches_verifies_and_describes(
    mirroring: RunningGateway, origin: tuple[Origin, str], alice: Signer
) -> None:
    server, base = origin
    data = os.urandom(90_000)
    sha = hashlib.sha256(data).hexdigest()
    server.blobs[f"{sha}.webm"] = (data, "video/webm")
    created = mirror(mirroring, f"{base}/blob/{sha}.webm", alice.token("upload", sha, now=now()))
    assert created.status_code == 201, created.headers.get("x-reason")
    body = created.json()
    assert body["sha256"] == sha and body["size"] == len(data) and body["type"] == "video/webm"
    assert body["url"] == f"{mirroring.url}/{sha}.webm"
    got = httpx.get(body["url"])
    assert got.content == data and got.headers["content-type"] == "video/webm"
    assert sha in [d["sha256"] for d in httpx.get(f"{mirroring.url}/list/{alice.pubkey}").json()]
    # Through a redirect, by someone else: same blob, a new owner, 200.
    bob = Signer()
    again = mirror(
        mirroring, f"{base}/hop/{sha}.webm", bob.token("upload", sha, now=now()), **{"X-SHA-256": sha}
    )
    assert again.status_code == 200 and again.json()["sha256"] == sha
    assert sha in [d["sha256"] for d in httpx.get(f"{mirroring.url}/list/{bob.pubkey}").json()]


def test_mirror_type_comes_from_the_content_when_origin_says_nothing_useful(
    mirroring: RunningGateway, origin: tuple[Origin, str], alice: Signer
) -> None:
    server, base = origin
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    sha = hashlib.sha256(data).hexdigest()
    server.blobs["picture"] = (data, "application/octet-stream")
    response = mirror(mirroring, f"{base}/blob/picture", alice.token("upload", sha, now=now()))
    assert response.status_code == 201 and response.json()["type"] == "image/png"
    assert response.json()["url"].endswith(".png")


@pytest.fixture
def unchanged(mirroring: RunningGateway) -> Iterator[None]:
    before = store_keys(mirroring)
    yield
    assert store_keys(mirroring) == before
    assert staging_files(mirroring) == []


def test_mirror_hash_mismatch_is_409_and_stores_nothing(
    mirroring: RunningGateway, origin: tuple[Origin, str], alice: Signer, unchanged: None
) -> None:
    server, base = origin
    data = os.urandom(50_000)
    server.blobs["swapped"] = (data, "image/jpeg")
    expected = hashlib.sha256(b"what the user meant").hexdigest()
    response = mirror(mirroring, f"{base}/blob/swapped", alice.token("upload", expected, now=now()))
    assert response.status_code == 409 and "does not cover" in response.headers["x-reason"]
    assert response.headers["access-control-allow-origin"] == "*"
    announced = mirror(
        mirroring,
        f"{base}/blob/swapped",
        alice.token("upload", expected, hashlib.sha256(data).hexdigest(), now=now()),
        **{"X-SHA-256": expected},
    )
    assert announced.status_code == 409 and announced.headers["x-reason"]


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/blob/missing", 502, "HTTP 404"),
        ("/loop", 502, "redirected more than"),
    ],
)
def test_mirror_origin_failures(
    mirroring: RunningGateway,
    origin: tuple[Origin, str],
    alice: Signer,
    unchanged: None,
    path: str,
    status: int,
    reason: str,
) -> None:
    _, base = origin
    response = mirror(mirroring, f"{base}{path}", alice.token("upload", "ab" * 32, now=now()))
    assert response.status_code == status and reason in response.headers["x-reason"]


def test_mirror_over_size_and_dead_origin(
    mirroring: RunningGateway, origin: tuple[Origin, str], alice: Signer, unchanged: None
) -> None:
    server, base = origin
    server.blobs["huge"] = (os.urandom(MAX_BLOB + 10), "video/mp4")
    big = mirror(mirroring, f"{base}/blob/huge", alice.token("upload", "ab" * 32, now=now()))
    assert big.status_code == 413 and "limit" in big.headers["x-reason"]
    from tests.support.servers import free_port

    dead = mirror(mirroring, f"http://127.0.0.1:{free_port()}/x", alice.token("upload", "ab" * 32, now=now()))
    assert dead.status_code == 502 and "failed" in dead.headers["x-reason"]


def test_reports_are_kept_for_admins(gateway: RunningGateway, alice: Signer, bob: Signer) -> None:
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    put = httpx.put(
        f"{gateway.url}/upload",
        content=data,
        headers={"Authorization": alice.token("upload", sha, now=now()), "Content-Type": "image/png"},
    )
    assert put.status_code == 201
    report = bob.report((sha, "nudity"), now=now(), content="not ok")
    first = httpx.put(f"{gateway.url}/report", json=report)
    assert first.status_code == 200 and first.json()["stored"] == 1
    assert first.headers["access-control-allow-origin"] == "*"
    repeat = httpx.put(f"{gateway.url}/report", json=report)
    assert repeat.status_code == 200 and repeat.json()["stored"] == 0
    rows = asyncio.run(list_reports(gateway.services.state))
    mine = [row for row in rows if row["event"]["id"] == report["id"]]
    assert len(mine) == 1 and mine[0]["sha256"] == sha and mine[0]["reason"] == "nudity"
    raw = asyncio.run(gateway.services.state.zrange(REPORTS_KEY, 0, -1))
    assert all(abs(score - now()) < 60 for _, score in raw)

    forged = httpx.put(f"{gateway.url}/report", json=tamper_signature(bob.report((sha, "spam"), now=now())))
    assert forged.status_code == 400 and "signature" in forged.headers["x-reason"]
    unknown = httpx.put(f"{gateway.url}/report", json=bob.report(("ee" * 32, "spam"), now=now()))
    assert unknown.status_code == 404 and unknown.headers["x-reason"]
    garbage = httpx.put(f"{gateway.url}/report", content=b"[1,2")
    assert garbage.status_code == 400 and garbage.headers["x-reason"]


def test_mirror_allowed_without_token_when_configured(tmp_path: Path, origin: tuple[Origin, str]) -> None:
    server, base = origin
    data = os.urandom(1000)
    server.blobs["open"] = (data, "text/plain")
    blossom = {"mirror_allow_private": True, "require_auth": ["upload", "delete"]}
    with blossom_gateway(tmp_path / "data", blossom=blossom) as gateway:
        response = mirror(gateway, f"{base}/blob/open", None)
        assert response.status_code == 201 and response.json()["sha256"] == hashlib.sha256(data).hexdigest()
