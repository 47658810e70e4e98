"""aria2c downloads a v1 torrent from our seeder over the peer wire, having found it through our tracker.

The .torrent is ours with the WebSeed (``url-list``) taken out, and aria2c runs with DHT, local
peer discovery and peer exchange off: the tracker's peer list is its only way to the bytes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.bencode import bdecode, bencode

from tests.integration.p2p.support import p2p_gateway, scrape, seeding, upload, wait_until
from tests.support.gateway import RunningGateway

CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with p2p_gateway(
        tmp_path_factory.mktemp("data"),
        with_tracker=True,
        storage={"blob_threshold": 1_000_000, "chunk_size": CHUNK},
        tracker={"policy": "known", "interval": 60, "min_interval": 5},
    ) as running:
        yield running


def test_aria2c_downloads_from_our_seeder_via_our_tracker(gateway: RunningGateway, tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 5 + 1234)
    info = upload(gateway, "tracked.bin", data)
    wait_until(lambda: seeding(gateway, info["infohash"]), 30, what="our seeder to seed the file")
    wait_until(
        lambda: scrape(gateway, info["infohash"]).get(b"complete", 0) >= 1,
        30,
        0.2,
        what="our seeder to announce itself to our tracker",
    )

    metainfo = bdecode(httpx.get(info["urls"]["torrent"]).content)
    assert metainfo[b"announce"] == f"{gateway.url}/announce".encode()
    assert b"url-list" in metainfo
    del metainfo[b"url-list"]  # no WebSeed: pieces can only come from peers
    torrent = tmp_path / "tracked.torrent"
    torrent.write_bytes(bencode(metainfo))

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
            "--allow-overwrite=true",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--bt-tracker-connect-timeout=10",
            "--bt-tracker-timeout=10",
            f"--dir={out}",
            str(torrent),
        ],
        capture_output=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    got = (out / "tracked.bin").read_bytes()
    assert hashlib.sha256(got).hexdigest() == info["sha256"] == hashlib.sha256(data).hexdigest()
    # The seeder really uploaded it (libtorrent's own counters, as the diagnostics report them).
    wait_until(
        lambda: (seeding(gateway, info["infohash"]) or {}).get("uploaded", 0) >= len(data),
        15,
        0.2,
        what="the seeder's upload counter",
    )
