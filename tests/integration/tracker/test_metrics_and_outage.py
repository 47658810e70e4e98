"""Metrics follow the traffic; a Redis outage gives generic errors, and service resumes after it."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from torrent_gateway.bencode import bdecode
from torrent_gateway.tracker import Tracker
from torrent_gateway.tracker.model import Event, SwarmKind
from torrent_gateway.tracker.swarm import SwarmUnavailable
from torrent_gateway.tracker.swarm_memory import MemorySwarmStore
from torrent_gateway.tracker.swarm_redis import RedisSwarmStore

from tests.support.servers import RedisServer, UvicornThread, run_redis_server

from .conftest import tracker_settings

IH = b"\x42" * 20


def url(base: str, peer: int) -> str:
    return (
        f"{base}/announce?info_hash={quote_from_bytes(IH, safe='')}&peer_id=-MT0001-{peer:012d}"
        f"&port={7000 + peer}&left=1&compact=1"
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters() -> None:
    tracker = Tracker(tracker_settings(), MemorySwarmStore(600))
    with UvicornThread(tracker.asgi(None), proxy_headers=False) as server:
        before = sample("tgw_tracker_announces_total", protocol="http")
        errors = sample("tgw_tracker_client_errors_total", protocol="http")
        with httpx.Client(timeout=10) as client:
            for peer in range(3):
                client.get(url(server.url, peer))
            client.get(f"{server.url}/announce?info_hash=bad")
        assert sample("tgw_tracker_announces_total", protocol="http") == before + 3
        assert sample("tgw_tracker_client_errors_total", protocol="http") == errors + 1


async def test_gauges_follow_the_store() -> None:
    store = MemorySwarmStore(600)
    other = Tracker(tracker_settings(), store)
    await store.announce(IH, 4, b"p" * 20, b"\x01" * 6, seeder=False, event=0, numwant=0)  # type: ignore[arg-type]
    await other.collect()
    assert sample("tgw_tracker_swarms") == 1 and sample("tgw_tracker_peers") == 1


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with run_redis_server() as server:
        yield server


def test_redis_outage_is_an_internal_error_then_service_resumes(private_redis: RedisServer) -> None:
    store = RedisSwarmStore.from_url(private_redis.url, 600)
    tracker = Tracker(tracker_settings(), store)
    with UvicornThread(tracker.asgi(None), proxy_headers=False) as server, httpx.Client(timeout=20) as client:
        assert bdecode(client.get(url(server.url, 1)).content)[b"incomplete"] == 1
        private_redis.stop()
        down = client.get(url(server.url, 2))
        assert down.status_code == 500 and bdecode(down.content) == {b"failure reason": b"internal error"}
        private_redis.start()
        back = client.get(url(server.url, 3))
        assert back.status_code == 200 and bdecode(back.content)[b"incomplete"] == 1  # fresh Redis: only us


async def test_a_hung_redis_fails_announces_within_the_deadline_then_recovers() -> None:
    """Redis stops answering (SIGSTOP) rather than refusing: an announce batch gives up at the
    client's socket timeout instead of hanging, and the next one after SIGCONT succeeds."""
    with run_redis_server() as redis:
        client = aioredis.Redis.from_url(redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        store = RedisSwarmStore(client, 600)
        try:
            view = await store.announce(
                IH,
                SwarmKind.IPV4,
                b"-HU0001-000000000001",
                b"\x7f\x00\x00\x01\x1b\x58",
                seeder=False,
                event=Event.STARTED,
                numwant=10,
            )
            assert view.incomplete == 1
            redis.process.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.raises(SwarmUnavailable):
                    await store.announce(
                        IH,
                        SwarmKind.IPV4,
                        b"-HU0001-000000000002",
                        b"\x7f\x00\x00\x01\x1b\x59",
                        seeder=True,
                        event=Event.STARTED,
                        numwant=10,
                    )
                assert time.monotonic() - started < 3
            finally:
                redis.process.send_signal(signal.SIGCONT)
            view = await store.announce(
                IH,
                SwarmKind.IPV4,
                b"-HU0001-000000000003",
                b"\x7f\x00\x00\x01\x1b\x5a",
                seeder=True,
                event=Event.STARTED,
                numwant=10,
            )
            # The timed-out announce had been sent: Redis applies it once resumed, as a server may
            # after any timeout. Either way the swarm stays consistent.
            assert view.complete in (1, 2) and view.incomplete == 1
            # the leecher first; the other seeder too if the timed-out announce was applied
            ids = [p.peer_id for p in view.peers]
            assert ids[0] == b"-HU0001-000000000001" and ids[1:] in ([], [b"-HU0001-000000000002"])
        finally:
            await store.close()
