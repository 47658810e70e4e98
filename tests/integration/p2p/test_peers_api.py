"""``GET /api/peers/{infohash}``: tracker, DHT and WebSeed merged, de-duplicated and ranked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import httpx
import libtorrent as lt
import pytest

from tests.support.gateway import RunningGateway

from .support import (
    bare_torrent,
    client_session,
    diagnostics,
    p2p_gateway,
    scrape,
    seeding,
    upload,
    wait_until,
)

CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with p2p_gateway(
        tmp_path_factory.mktemp("peers"),
        with_tracker=True,
        storage={"blob_threshold": 100_000, "chunk_size": CHUNK},
        tracker={"interval": 60, "min_interval": 5},
    ) as running:
        yield running


def announce(gateway: RunningGateway, infohash: str, peer_id: bytes, port: int, *, seed: bool) -> None:
    query = (
        f"info_hash={quote_from_bytes(bytes.fromhex(infohash))}&peer_id={quote_from_bytes(peer_id)}"
        f"&port={port}&uploaded=0&downloaded=0&left={0 if seed else 1000}&compact=1&event=started"
    )
    response = httpx.get(f"{gateway.url}/announce?{query}", timeout=10)
    assert response.status_code == 200 and b"failure" not in response.content, response.content


def test_peers_merge_rank_and_dedupe(gateway: RunningGateway) -> None:
    info = upload(gateway, "swarmed.bin", os.urandom(CHUNK * 3 + 5))
    infohash = info["infohash"]
    wait_until(lambda: seeding(gateway, infohash), 20, what="seeding")
    wait_until(
        lambda: scrape(gateway, infohash).get(b"complete", 0) >= 1, 20, 0.2, what="the seeder in the swarm"
    )
    seeder_port = diagnostics(gateway)["p2p"]["seeder"]["port"]
    announce(gateway, infohash, b"-XX0001-leecher00001", 41001, seed=False)
    announce(gateway, infohash, b"-XX0001-seeder000001", 41002, seed=True)
    before = scrape(gateway, infohash)

    body = wait_until(
        lambda: (lambda b: b if b["sources"]["dht"]["count"] else None)(
            httpx.get(f"{gateway.url}/api/peers/{infohash.upper()}", timeout=20).json()
        ),
        30,
        0.5,
        what="the DHT to return our seeder",
    )
    assert body["infohash"] == infohash and body["sha256"] == info["sha256"]
    assert body["sources"]["tracker"]["ok"] and body["sources"]["tracker"]["count"] == 3
    peers = body["peers"]
    keys = [(p.get("ip"), p.get("port"), p.get("url")) for p in peers]
    assert len(keys) == len(set(keys)), "duplicates in the merged list"

    ours = next(p for p in peers if p.get("port") == seeder_port)
    assert ours["sources"] == ["dht", "tracker"] and ours["seed"] is True  # one entry, both sources
    webseed = next(p for p in peers if "url" in p)
    assert webseed["sources"] == ["webseed"] and webseed["url"].endswith("/swarmed.bin")
    leecher = next(p for p in peers if p.get("port") == 41001)
    assert leecher["seed"] is False and leecher["sources"] == ["tracker"]
    # Seeds (ours, the other seed, the WebSeed) before the leecher, which comes last.
    assert [p["seed"] for p in peers] == [True, True, True, False]
    assert peers[-1] is leecher
    scores = [p["score"] for p in peers[:3]]
    assert scores == sorted(scores, reverse=True)
    # Asking left no trace in the swarm.
    assert scrape(gateway, infohash) == before


def test_peers_bad_input(gateway: RunningGateway) -> None:
    assert httpx.get(f"{gateway.url}/api/peers/not-a-hash").status_code == 400
    assert httpx.get(f"{gateway.url}/api/peers/{'ab' * 21}").status_code == 400
    missing = httpx.get(f"{gateway.url}/api/peers/{'ab' * 20}")
    assert missing.status_code == 404 and "infohash" in missing.json()["detail"]


def test_coordinator_without_a_local_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Gateway pods whose DHT node runs elsewhere still answer, from the tracker and the WebSeed."""
    from torrent_gateway.p2p import install_coordinator

    from tests.support.gateway import running_gateway

    with running_gateway(tmp_path, extensions=[install_coordinator]) as gateway:
        info = upload(gateway, "alone.bin", b"hello p2p" * 100)
        body = httpx.get(f"{gateway.url}/api/peers/{info['infohash']}").json()
        assert body["sources"]["dht"] == {"ok": False, "error": "no DHT node in this process", "count": 0}
        assert body["sources"]["tracker"]["ok"] is False  # no tracker in this process either
        assert [p["sources"] for p in body["peers"]] == [["webseed"]]
        assert body["peers"][0]["url"] == info["urls"]["webseed"]


def test_a_downloading_client_shows_with_its_rtt(gateway: RunningGateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: a real libtorrent client fetching from our seeder lands in the seeder's peer book
    (libtorrent 2.1 cannot convert ``peer_info_alert.peer_info``: the book stayed empty), and
    /api/peers shows it with a round-trip time and a responsiveness from it, while it downloads."""
    data = os.urandom(2 * 1024 * 1024)
    info = upload(gateway, "watched.bin", data)
    infohash = info["infohash"]
    wait_until(lambda: seeding(gateway, infohash), 20, what="seeding")
    seeder_port = diagnostics(gateway)["p2p"]["seeder"]["port"]
    # Slow enough to be watched mid-download (loopback is exempt from limits unless told).
    session = client_session(download_rate_limit=256 * 1024, ignore_limits_on_local_network=False)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(bare_torrent(gateway, info["sha256"]))
    params.save_path = str(tmp_path)
    params.trackers = [f"{gateway.url}/announce"]
    handle = session.add_torrent(params)
    try:
        client_port = session.listen_port()

        def client_ranked() -> dict | None:  # type: ignore[type-arg]
            handle.connect_peer(("127.0.0.1", seeder_port))
            body = httpx.get(f"{gateway.url}/api/peers/{infohash}", timeout=20).json()
            ours = [p for p in body["peers"] if p.get("port") == client_port]
            return ours[0] if ours and ours[0]["rtt_ms"] is not None else None

        peer = wait_until(client_ranked, 30, 0.5, what="the client in /api/peers with an RTT")
        status = handle.status()
        assert not status.is_seeding, "the client finished before it was seen"
        assert status.total_payload_download > 0
        assert peer["seed"] is False and peer["sources"] == ["tracker"]
        assert 0 < peer["rtt_ms"] < 1000
        assert peer["responsiveness"] == pytest.approx(1 / (1 + peer["rtt_ms"] / 100), abs=1e-3)
        assert diagnostics(gateway)["p2p"]["peer_book"] >= 1
    finally:
        session.remove_torrent(handle)
        del session
