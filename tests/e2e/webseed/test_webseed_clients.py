"""Real BitTorrent clients complete a multi-chunk torrent purely from our WebSeed (BEP 19).

No tracker answers and DHT is off, so every byte must come from ``url-list``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import libtorrent as lt
import pytest

from tests.support.gateway import RunningGateway, running_gateway

CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    # The tracker is disabled so torrents carry no announce URL: the WebSeed is the only source.
    with running_gateway(
        tmp_path_factory.mktemp("data"),
        storage={"blob_threshold": 1_000_000, "chunk_size": CHUNK},
        tracker={"enabled": False},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def published(gateway: RunningGateway) -> tuple[bytes, dict]:  # type: ignore[type-arg]
    data = os.urandom(CHUNK * 9 + 4321)  # ten pieces, the last one short
    response = httpx.put(f"{gateway.url}/api/upload?name=movie.bin", content=data)
    assert response.status_code == 201
    return data, response.json()


def test_aria2c_downloads_from_webseed_only(
    gateway: RunningGateway, published: tuple[bytes, dict], tmp_path: Path
) -> None:  # type: ignore[type-arg]
    data, info = published
    torrent = tmp_path / "movie.torrent"
    torrent.write_bytes(httpx.get(info["urls"]["torrent"]).content)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            "aria2c",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-time=0",
            "--bt-stop-timeout=60",
            "--follow-torrent=mem",
            "--allow-overwrite=true",
            "--summary-interval=0",
            "--console-log-level=warn",
            f"--dir={out}",
            str(torrent),
        ],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    got = (out / "movie.bin").read_bytes()
    assert hashlib.sha256(got).hexdigest() == info["sha256"] == hashlib.sha256(data).hexdigest()


def test_libtorrent_downloads_from_webseed_only(
    gateway: RunningGateway, published: tuple[bytes, dict], tmp_path: Path
) -> None:  # type: ignore[type-arg]
    data, info = published
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
        }
    )
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(lt.bdecode(httpx.get(info["urls"]["torrent"]).content))
    params.save_path = str(tmp_path)
    handle = session.add_torrent(params)
    deadline = time.monotonic() + 90
    while not handle.status().is_seeding:
        assert time.monotonic() < deadline, f"stuck at {handle.status().progress:.0%}"
        time.sleep(0.1)
    got = (tmp_path / "movie.bin").read_bytes()
    assert hashlib.sha256(got).hexdigest() == info["sha256"]
    assert handle.status().total_payload_download >= len(data)
    session.remove_torrent(handle)
    del session
