"""State store fixtures: ``state`` yields every backend with a way to let time pass.

The memory and SQLite stores get an injected clock (time passes instantly; SQLite on a fresh
file per test); Redis gets real, short TTLs, in a database of its own that is flushed before each test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from torrent_gateway.state.base import StateStore
from torrent_gateway.state.durable import DurableStateStore
from torrent_gateway.state.memory import MemoryStateStore
from torrent_gateway.state.redis import RedisStateStore
from torrent_gateway.state.sqlite import SQLiteStateStore
from torrent_gateway.storage.filesystem import FilesystemStore

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


@pytest.fixture(params=["memory", "sqlite", "redis", "redis+durable"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = FakeClock()
        yield Harness(MemoryStateStore(clock=clock), clock)
        return
    if request.param == "sqlite":
        clock = FakeClock()
        sqlite = SQLiteStateStore(tmp_path / "state.sqlite3", clock=clock, checkpoint_interval=0.05)
        try:
            yield Harness(sqlite, clock)
        finally:
            await sqlite.close()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    store = RedisStateStore.from_url(redis_url(server))
    await store.client.flushdb()
    harness_store: StateStore = store
    if request.param == "redis+durable":
        # Cluster mode's composition: Redis in front, durable records in a real object store.
        harness_store = DurableStateStore(store, FilesystemStore(tmp_path / "objects", fsync=False))
    try:
        yield Harness(harness_store, None)
    finally:
        await harness_store.close()
