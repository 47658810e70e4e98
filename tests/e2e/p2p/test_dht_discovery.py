"""DHT discovery end to end, on loopback only.

A libtorrent client whose *only* way to find anything is our DHT node (its sole bootstrap) gets a
magnet link carrying nothing but the infohash (no tracker, no WebSeed), finds our seeder through
``get_peers``, fetches the metadata (BEP 9) and the file over the peer wire from it, byte for byte.
An independent DHT implementation (``bittorrent-dht`` under node) sees the same announce.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import libtorrent as lt
import pytest

from tests.integration.p2p.support import (
    client_session,
    diagnostics,
    p2p_gateway,
    seeding,
    upload,
    wait_until,
)
from tests.support.gateway import RunningGateway

CHUNK = 256 * 1024
JS_DIR = Path(__file__).resolve().parents[2] / "js" / "p2p"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    # Tracker off: torrents carry no announce URL and nothing registers in a swarm.
    with p2p_gateway(
        tmp_path_factory.mktemp("data"),
        storage={"blob_threshold": 1_000_000, "chunk_size": CHUNK},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def published(gateway: RunningGateway) -> tuple[bytes, dict]:  # type: ignore[type-arg]
    data = os.urandom(CHUNK * 6 + 777)  # chunked: seeded from the bounded seed cache
    info = upload(gateway, "discovered.bin", data)
    wait_until(lambda: seeding(gateway, info["infohash"]), 30, what="our seeder to seed the file")
    # Our node must hold the seeder's announce before anyone asks it.
    wait_until(
        lambda: diagnostics(gateway)["p2p"]["node"]["stored_infohashes"] >= 1,
        30,
        0.2,
        what="our DHT node to store the seeder's announce",
    )
    return data, info


def test_libtorrent_finds_our_seeder_through_our_dht_node_only(
    gateway: RunningGateway,
    published: tuple[bytes, dict],
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    data, info = published
    p2p = diagnostics(gateway)["p2p"]
    node_port, seeder_port = p2p["node"]["port"], p2p["seeder"]["port"]
    session = client_session(dht_bootstrap=f"127.0.0.1:{node_port}")
    session.apply_settings({"alert_mask": int(lt.alert_category.connect | lt.alert_category.status)})
    try:
        wait_until(session.is_dht_running, 10, what="the client's DHT")
        params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{info['infohash']}")
        assert not params.trackers and not params.url_seeds
        params.save_path = str(tmp_path)
        handle = session.add_torrent(params)
        deadline = time.monotonic() + 60
        last_nudge = 0.0
        peers: set[tuple[str, int]] = set()
        while not handle.status().is_seeding:
            assert time.monotonic() < deadline, f"stuck at {handle.status().progress:.0%}"
            peers |= {(p.ip[0], p.ip[1]) for p in handle.get_peer_info()}
            peers |= {tuple(a.endpoint) for a in session.pop_alerts() if isinstance(a, lt.peer_connect_alert)}
            if time.monotonic() - last_nudge > 2:
                handle.force_dht_announce()  # a fresh get_peers, in case the first ran before bootstrap
                last_nudge = time.monotonic()
            time.sleep(0.1)
        status = handle.status()
        assert not handle.url_seeds() and not handle.trackers()
    finally:
        del session  # flushes libtorrent's write buffer before the file is read
    got = (tmp_path / "discovered.bin").read_bytes()
    assert hashlib.sha256(got).hexdigest() == info["sha256"] == hashlib.sha256(data).hexdigest()
    assert status.total_payload_download >= len(data)
    # Every byte came from our seeder, found through the DHT: no tracker, no web seed.
    assert peers == {("127.0.0.1", seeder_port)}


def test_bittorrent_dht_sees_our_announce(gateway: RunningGateway, published: tuple[bytes, dict]) -> None:  # type: ignore[type-arg]
    _, info = published
    node = shutil.which("node")
    assert node is not None, "node is required for the bittorrent-dht interoperability test"
    assert (JS_DIR / "node_modules" / "bittorrent-dht").is_dir(), "run `npm ci` in tests/js/p2p"
    p2p = diagnostics(gateway)["p2p"]
    node_port, seeder_port = p2p["node"]["port"], p2p["seeder"]["port"]
    result = subprocess.run(
        [node, str(JS_DIR / "dht_lookup.mjs"), f"127.0.0.1:{node_port}", info["infohash"], "15000"],
        capture_output=True,
        timeout=30,
        cwd=JS_DIR,
    )
    assert result.returncode == 0, result.stderr.decode()
    found = json.loads(result.stdout)
    # Our seeder, as answered by our node (not from the JS node's own table).
    assert {"host": "127.0.0.1", "port": seeder_port, "from": f"127.0.0.1:{node_port}"} in found["peers"]
