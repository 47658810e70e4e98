"""Fixtures of the hostile-client suite: the whole serve composition on loopback, driven over HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import RunningGateway, running_gateway

# Small files are whole blobs; anything over the threshold is cut into chunks of this size.
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """`torrent-gateway serve` as users run it (gateway, Blossom at /, auth, tracker), with HLS off:
    suites that need ffmpeg start their own."""
    with running_gateway(
        tmp_path_factory.mktemp("security"),
        serve=True,
        storage={"blob_threshold": 256 * 1024, "chunk_size": CHUNK, "max_file_size": 8_000_000},
        hls={"enabled": False},
        tracker={"udp": False},
    ) as running:
        yield running


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        yield http


def upload_raw(client: httpx.Client, data: bytes, name: str, content_type: str) -> str:
    """PUT /api/upload, anonymously; the sha256 of what was stored."""
    response = client.put(
        "/api/upload", params={"name": name}, content=data, headers={"Content-Type": content_type}
    )
    assert response.status_code in (200, 201), response.text
    sha = hashlib.sha256(data).hexdigest()
    assert response.json()["sha256"] == sha
    return sha


def manifest_path(gateway: RunningGateway, sha256: str) -> Path:
    return Path(gateway.settings.storage.path) / "manifests" / f"{sha256}.json"
