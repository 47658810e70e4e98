"""The seeder serves our files over the peer wire: hard-linked blobs on the filesystem backend, and
files materialised into the bounded seed cache from S3 (with LRU eviction and demand-driven return)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from torrent_gateway.services import Services

from tests.support.gateway import RunningGateway
from tests.support.minio import MinioServer

from .support import bare_torrent, diagnostics, download_from_peer, p2p_gateway, seeding, upload, wait_until

CHUNK = 64 * 1024


def _entry(gateway: RunningGateway, infohash: str) -> dict:  # type: ignore[type-arg]
    return next(e for e in diagnostics(gateway)["p2p"]["seeder"]["files"] if e["infohash"] == infohash)


def _delete_route(app: FastAPI, services: Services) -> None:
    """A test-only route deleting a file through the catalog on the server's loop (as admins do)."""

    @app.delete("/test/files/{sha256}")
    async def delete(sha256: str) -> dict[str, bool]:
        return {"deleted": await services.catalog.delete_file(sha256) is not None}


@pytest.fixture(scope="module")
def fs_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with p2p_gateway(
        tmp_path_factory.mktemp("fs"),
        extra_extensions=[_delete_route],
        storage={"blob_threshold": 300_000, "chunk_size": CHUNK},
    ) as gw:
        yield gw


def test_blob_is_seeded_from_a_hard_link_to_the_store(fs_gateway: RunningGateway, tmp_path: Path) -> None:
    data = os.urandom(200_000)  # below blob_threshold: one blob file
    info = upload(fs_gateway, "small file.bin", data)
    entry = wait_until(lambda: seeding(fs_gateway, info["infohash"]), 20, what="seeding")
    assert entry["source"] == "link"
    blob = Path(fs_gateway.settings.storage.path) / "blobs" / info["sha256"]
    assert blob.stat().st_nlink == 2  # the store's file and the seeder's link: no copy
    port = diagnostics(fs_gateway)["p2p"]["seeder"]["port"]
    got, status = download_from_peer(bare_torrent(fs_gateway, info["sha256"]), port, tmp_path)
    assert hashlib.sha256(got).hexdigest() == info["sha256"]
    assert status.total_payload_download >= len(data)


def test_removed_file_is_no_longer_seeded(fs_gateway: RunningGateway) -> None:
    data = os.urandom(150_000)
    info = upload(fs_gateway, "gone.bin", data)
    wait_until(lambda: seeding(fs_gateway, info["infohash"]), 20, what="seeding")
    assert httpx.delete(f"{fs_gateway.url}/test/files/{info['sha256']}").json() == {"deleted": True}
    wait_until(
        lambda: all(
            e["infohash"] != info["infohash"] for e in diagnostics(fs_gateway)["p2p"]["seeder"]["files"]
        ),
        20,
        what="the seeder to drop the torrent",
    )
    links = Path(fs_gateway.settings.storage.path) / "p2p" / "links" / info["sha256"]
    assert not links.exists()


@pytest.fixture
def s3_gateway(tmp_path: Path, s3_server: MinioServer) -> Iterator[RunningGateway]:
    with p2p_gateway(
        tmp_path,
        storage={
            "backend": "s3",
            "blob_threshold": 300_000,
            "chunk_size": CHUNK,
            "s3": {
                "endpoint": s3_server.endpoint,
                "bucket": f"tgw-p2p-{uuid.uuid4().hex[:12]}",
                "access_key": s3_server.access_key,
                "secret_key": s3_server.secret_key,
                "cache_dir": str(tmp_path / "s3-cache"),
            },
        },
        dht={"cache_bytes": 700_000},
    ) as gw:
        yield gw


def test_s3_files_are_materialised_into_a_bounded_cache(s3_gateway: RunningGateway, tmp_path: Path) -> None:
    first = os.urandom(CHUNK * 8 + 100)  # chunked, 524 388 bytes
    second = os.urandom(250_000)  # a whole blob, but on S3: materialised too
    a = upload(s3_gateway, "first.bin", first)
    wait_until(lambda: seeding(s3_gateway, a["infohash"]), 30, what="the first file to seed")
    b = upload(s3_gateway, "second.bin", second)
    wait_until(lambda: seeding(s3_gateway, b["infohash"]), 30, what="the second file to seed")
    # Both (774 388 bytes) do not fit in 700 000: the least recently used one was parked.
    assert _entry(s3_gateway, a["infohash"])["state"] == "parked"
    assert _entry(s3_gateway, b["infohash"])["source"] == "cache"
    diag = diagnostics(s3_gateway)["p2p"]
    assert diag["seed_cache"]["bytes"] <= 700_000 and diag["seed_cache"]["evictions"] >= 1
    port = diag["seeder"]["port"]
    got, _ = download_from_peer(bare_torrent(s3_gateway, b["sha256"]), port, tmp_path / "b")
    assert hashlib.sha256(got).hexdigest() == b["sha256"]

    # Asking the coordinator for the parked file's peers brings it back (evicting the other).
    assert httpx.get(f"{s3_gateway.url}/api/peers/{a['infohash']}", timeout=20).status_code == 200
    wait_until(lambda: seeding(s3_gateway, a["infohash"]), 30, what="the parked file to return")
    assert _entry(s3_gateway, b["infohash"])["state"] == "parked"
    got, _ = download_from_peer(bare_torrent(s3_gateway, a["sha256"]), port, tmp_path / "a")
    assert got == first
