"""What only the Redis backend has: a server that can die and come back, and its settings."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr
from torrent_gateway.config import StateSettings
from torrent_gateway.state import open_state
from torrent_gateway.state.base import StateUnavailable
from torrent_gateway.state.redis import RedisStateStore

from tests.support.servers import RedisServer, free_port, run_redis_server

from .conftest import redis_url

FAIL_FAST = 3.0


async def assert_unavailable_fast(call: Callable[[], Awaitable[Any]]) -> None:
    started = time.monotonic()
    with pytest.raises(StateUnavailable):
        await call()
    assert time.monotonic() - started < FAIL_FAST


async def test_killed_server_raises_unavailable_then_recovers() -> None:
    with run_redis_server() as server:
        store = RedisStateStore.from_url(server.url)
        try:
            await store.set("k", b"before")
            assert await store.incr("window", ttl=60) == 1  # loads the Lua script

            server.stop()
            await assert_unavailable_fast(store.ping)
            await assert_unavailable_fast(lambda: store.get("k"))
            await assert_unavailable_fast(lambda: store.set("k", b"v", ttl=5, only_new=True))
            await assert_unavailable_fast(lambda: store.take("k"))
            await assert_unavailable_fast(lambda: store.incr("window", ttl=60))
            await assert_unavailable_fast(lambda: store.zadd("z", "m", 1))
            await assert_unavailable_fast(lambda: store.zrange("z"))
            await assert_unavailable_fast(lambda: store.hgetall("h"))
            await assert_unavailable_fast(lambda: store.scan(""))

            server.start()
            # Same store object: it reconnects by itself. The restarted server lost its data (no
            # persistence in tests) and its script cache, which the store reloads transparently.
            await store.ping()
            assert await store.get("k") is None
            assert await store.set("k", b"after") is True
            assert await store.get("k") == b"after"
            assert await store.incr("window", ttl=60) == 1
        finally:
            await store.close()


async def test_restart_between_commands_is_invisible_to_callers() -> None:
    with run_redis_server() as server:
        store = RedisStateStore.from_url(server.url)
        try:
            await store.set("k", b"v")
            server.stop()
            server.start()
            # The pooled connection died with the old server; the very next command still succeeds.
            assert await store.get("k") is None
            assert await store.incr("c", ttl=10) == 1
        finally:
            await store.close()


async def test_unreachable_server_from_the_start() -> None:
    store = RedisStateStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        await assert_unavailable_fast(store.ping)
        await assert_unavailable_fast(lambda: store.get("k"))
    finally:
        await store.close()


async def test_open_state_picks_redis(redis_server: RedisServer) -> None:
    settings = StateSettings(backend="redis", redis_url=SecretStr(redis_url(redis_server, db=10)))
    store = open_state(settings)
    try:
        assert isinstance(store, RedisStateStore)
        await store.client.flushdb()
        await store.set("k", b"v", ttl=5)
        assert await store.get("k") == b"v"
    finally:
        await store.close()
