"""State store fixtures: ``state`` yields every backend with a way to let time pass.

The memory store gets an injected clock (time passes instantly); Redis gets real, short TTLs,
in a database of its own that is flushed before each test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from torrent_gateway.state.base import StateStore
from torrent_gateway.state.memory import MemoryStateStore
from torrent_gateway.state.redis import RedisStateStore

from tests.support.clock import FakeClock
from tests.support.servers import RedisServer

# A database number no other suite uses, so flushing it cannot disturb them.
REDIS_DB = 9


def redis_url(server: RedisServer, db: int = REDIS_DB) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{db}"


@dataclass
class Harness:
    store: StateStore
    clock: FakeClock | None

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the store's TTLs."""
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = FakeClock()
        yield Harness(MemoryStateStore(clock=clock), clock)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    store = RedisStateStore.from_url(redis_url(server))
    await store.client.flushdb()
    try:
        yield Harness(store, None)
    finally:
        await store.close()
