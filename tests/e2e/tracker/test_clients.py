"""Real BitTorrent clients find each other through our tracker and complete a v1 torrent.

libtorrent sessions and aria2c, all on 127.0.0.1, no DHT/LSD/UPnP/PEX: the tracker is the only
way they can learn about each other. libtorrent only announces to a localhost tracker whose path
is exactly ``/announce`` and needs ``allow_multiple_connections_per_ip`` for loopback peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import libtorrent as lt
import pytest
from torrent_gateway.bencode import bdecode, bencode
from torrent_gateway.config import load_settings
from torrent_gateway.tracker import Tracker
from torrent_gateway.tracker.http_fast import TrackerHttpProtocol
from torrent_gateway.tracker.swarm_memory import MemorySwarmStore

from tests.support.servers import UvicornThread, free_port

PIECE = 16 * 1024
SIZE = 1024 * 1024 + 12345  # not a whole number of pieces
DEADLINE = 30.0

pytestmark = pytest.mark.slow


@pytest.fixture
def tracker_server() -> Iterator[tuple[Tracker, UvicornThread]]:
    settings = load_settings(
        None, tracker={"policy": "open", "secret": "e2e", "interval": 60, "min_interval": 30}
    )
    tracker = Tracker(settings, MemorySwarmStore(settings.tracker.peer_ttl))
    with UvicornThread(tracker.asgi(None), http=TrackerHttpProtocol, proxy_headers=False) as server:
        yield tracker, server


def make_torrent(seed_dir: Path, announce: str) -> tuple[bytes, bytes]:
    """(metainfo, infohash) of a single-file v1 torrent of random data written into seed_dir."""
    data = os.urandom(SIZE)
    (seed_dir / "payload.bin").write_bytes(data)
    pieces = b"".join(hashlib.sha1(data[i : i + PIECE]).digest() for i in range(0, SIZE, PIECE))
    info = {"length": SIZE, "name": "payload.bin", "piece length": PIECE, "pieces": pieces}
    metainfo = bencode({"announce": announce, "info": info})
    return metainfo, hashlib.sha1(bencode(info)).digest()


def session() -> lt.session:
    return lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True,
            "announce_to_all_trackers": True,
            "stop_tracker_timeout": 1,
            "alert_mask": 0,
        }
    )


def add(ses: lt.session, metainfo: bytes, save_path: Path) -> lt.torrent_handle:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(metainfo)
    params.save_path = str(save_path)
    return ses.add_torrent(params)


def scrape(base: str, info_hash: bytes) -> dict[bytes, int]:
    reply = bdecode(
        httpx.get(f"{base}/scrape?info_hash={quote_from_bytes(info_hash, safe='')}", timeout=5).content
    )
    return reply[b"files"].get(info_hash, {b"complete": 0, b"incomplete": 0, b"downloaded": 0})  # type: ignore[no-any-return]


async def wait_until(predicate, what: str, within: float = DEADLINE) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def aria2c(torrent: Path, directory: Path, *, seed: bool) -> list[str]:
    return [
        shutil.which("aria2c") or "aria2c",
        str(torrent),
        f"--dir={directory}",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        f"--listen-port={free_port()}",
        "--bt-tracker-connect-timeout=5",
        "--bt-tracker-timeout=5",
        "--check-integrity=true",
        "--allow-overwrite=true",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--bt-stop-timeout=60",
        f"--seed-time={60 if seed else 0}",
    ]


@contextlib.asynccontextmanager
async def process(argv: list[str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_libtorrent_seeds_aria2c_downloads_over_http(
    tracker_server: tuple[Tracker, UvicornThread], tmp_path: Path
) -> None:
    _, server = tracker_server
    seed_dir, leech_dir = tmp_path / "seed", tmp_path / "leech"
    seed_dir.mkdir()
    leech_dir.mkdir()
    metainfo, info_hash = make_torrent(seed_dir, f"{server.url}/announce")
    (tmp_path / "t.torrent").write_bytes(metainfo)
    seeder = session()
    handle = add(seeder, metainfo, seed_dir)
    await wait_until(
        lambda: scrape(server.url, info_hash)[b"complete"] == 1, "libtorrent to announce as a seed"
    )
    async with process(aria2c(tmp_path / "t.torrent", leech_dir, seed=False)) as leecher:
        await asyncio.wait_for(leecher.wait(), DEADLINE)
        assert leecher.returncode == 0, (await leecher.stderr.read()).decode()[-2000:]  # type: ignore[union-attr]
    assert (leech_dir / "payload.bin").read_bytes() == (seed_dir / "payload.bin").read_bytes()
    assert handle.status().is_seeding
    # aria2c with --seed-time=0 announces started then stopped (no completed event): it left
    await wait_until(lambda: scrape(server.url, info_hash)[b"incomplete"] == 0, "aria2c's stopped event")


async def test_aria2c_seeds_libtorrent_downloads_over_http(
    tracker_server: tuple[Tracker, UvicornThread], tmp_path: Path
) -> None:
    _, server = tracker_server
    seed_dir, leech_dir = tmp_path / "seed", tmp_path / "leech"
    seed_dir.mkdir()
    leech_dir.mkdir()
    metainfo, info_hash = make_torrent(seed_dir, f"{server.url}/announce")
    (tmp_path / "t.torrent").write_bytes(metainfo)
    async with process(aria2c(tmp_path / "t.torrent", seed_dir, seed=True)):
        await wait_until(
            lambda: scrape(server.url, info_hash)[b"complete"] == 1, "aria2c to announce as a seed"
        )
        leecher = session()
        handle = add(leecher, metainfo, leech_dir)
        await wait_until(lambda: handle.status().is_seeding, "libtorrent to finish the download")
        # libtorrent reports the completion: the scrape's downloaded counter and two seeds
        await wait_until(
            lambda: scrape(server.url, info_hash) == {b"complete": 2, b"downloaded": 1, b"incomplete": 0},
            "libtorrent's completed event",
        )
    assert (leech_dir / "payload.bin").read_bytes() == (seed_dir / "payload.bin").read_bytes()


async def test_libtorrent_sessions_over_udp(tmp_path: Path) -> None:
    settings = load_settings(
        None, tracker={"policy": "open", "secret": "e2e", "interval": 60, "min_interval": 30}
    )
    tracker = Tracker(settings, MemorySwarmStore(settings.tracker.peer_ttl))
    # libtorrent caches UDP connection ids per tracker IP for the whole process, so an id issued by
    # an earlier test's tracker (another secret) would be replayed here and dropped as forged:
    # this tracker gets a loopback address of its own.
    port = await tracker.start_udp("127.0.0.2", 0)
    try:
        seed_dir, leech_dir = tmp_path / "seed", tmp_path / "leech"
        seed_dir.mkdir()
        leech_dir.mkdir()
        metainfo, info_hash = make_torrent(seed_dir, f"udp://127.0.0.2:{port}/announce")
        seeder, leecher = session(), session()
        add(seeder, metainfo, seed_dir)

        async def seeded() -> bool:
            [counts] = await tracker.swarms.scrape([info_hash], [4])  # type: ignore[list-item]
            return counts.complete == 1

        seeder.apply_settings(
            {"alert_mask": lt.alert.category_t.tracker_notification | lt.alert.category_t.error_notification}
        )
        seen: list[str] = []
        deadline = time.monotonic() + DEADLINE
        while not await seeded():
            seen.extend(f"{a.what()}: {a.message()}" for a in seeder.pop_alerts())
            assert time.monotonic() < deadline, f"libtorrent never announced over UDP: {seen[-8:]}"
            await asyncio.sleep(0.2)
        handle = add(leecher, metainfo, leech_dir)
        await wait_until(lambda: handle.status().is_seeding, "libtorrent to download through the UDP tracker")
        assert (leech_dir / "payload.bin").read_bytes() == (seed_dir / "payload.bin").read_bytes()
    finally:
        await tracker.close()
