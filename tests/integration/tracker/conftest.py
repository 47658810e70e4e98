"""Fixtures of the tracker integration tests: swarm stores on a fake clock, trackers on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from torrent_gateway.config import Settings, load_settings
from torrent_gateway.tracker import Tracker
from torrent_gateway.tracker.http_fast import TrackerHttpProtocol
from torrent_gateway.tracker.swarm import SwarmStore
from torrent_gateway.tracker.swarm_memory import MemorySwarmStore
from torrent_gateway.tracker.swarm_redis import RedisSwarmStore

from tests.support.clock import FakeClock
from tests.support.servers import RedisServer, UvicornThread

TTL = 600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000.0)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[SwarmStore]:
    """Every swarm-store driver, on the same fake clock; Redis keys under a prefix of their own."""
    if request.param == "memory":
        swarm: SwarmStore = MemorySwarmStore(TTL, clock=clock)
    else:
        redis: RedisServer = request.getfixturevalue("redis_server")
        swarm = RedisSwarmStore.from_url(redis.url, TTL, prefix=f"test:{uuid.uuid4().hex}:", clock=clock)
    try:
        yield swarm
    finally:
        await swarm.close()


def tracker_settings(**tracker: Any) -> Settings:
    values = {"policy": "open", "secret": "test-secret", "interval": 1800, "min_interval": 300}
    values.update(tracker)
    return load_settings(None, tracker=values)


@pytest.fixture(params=["fast", "asgi"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Tracker, str]]:
    """A tracker with an in-process store under uvicorn: the fast protocol, or plain ASGI."""
    settings = tracker_settings(numwant_max=30, trusted_proxies=["127.0.0.0/8"])
    tracker = Tracker(settings, MemorySwarmStore(settings.tracker.peer_ttl))
    config: dict[str, Any] = (
        {"http": TrackerHttpProtocol} if request.param == "fast" else {"http": "httptools"}
    )
    with UvicornThread(tracker.asgi(None), proxy_headers=False, **config) as server:
        yield tracker, server.url
