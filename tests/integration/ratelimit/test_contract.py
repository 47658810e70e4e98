"""One contract, every limiter backend: the in-process one and Redis (real redis-server), both
driven through the same injected timeline, must decide exactly as the pure math does."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from torrent_gateway.ratelimit import Limiter
from torrent_gateway.ratelimit.buckets import check_bucket, idle_ttl
from torrent_gateway.ratelimit.memory import MemoryLimiter
from torrent_gateway.ratelimit.redis import RedisLimiter, connect

from tests.support.servers import RedisServer

from .conftest import FakeClock

LEASE_TTL = 30.0


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Limiter]:
    if request.param == "memory":
        yield MemoryLimiter(clock=clock, lease_ttl=LEASE_TTL)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    backend = RedisLimiter(
        connect(server.url), prefix=f"test:{secrets.token_hex(4)}:", lease_ttl=LEASE_TTL, script_clock=clock
    )
    yield backend
    await backend.aclose()


async def test_matches_the_pure_math(limiter: Limiter, clock: FakeClock) -> None:
    state = None
    for step in range(40):
        clock.advance(0.13 * (step % 5))
        expected, state = check_bucket(state, clock.now, 2.5, 4)
        got = await limiter.check("k", 2.5, 4)
        assert got.allowed == expected.allowed
        assert got.remaining == pytest.approx(expected.remaining, abs=1e-9)
        assert got.retry_after == pytest.approx(expected.retry_after, abs=1e-9)


async def test_keys_are_independent(limiter: Limiter) -> None:
    assert (await limiter.check("a", 1, 1)).allowed
    assert not (await limiter.check("a", 1, 1)).allowed
    assert (await limiter.check("b", 1, 1)).allowed


async def test_concurrent_checks_never_overspend(limiter: Limiter) -> None:
    results = await asyncio.gather(*(limiter.check("burst", 0.001, 10) for _ in range(50)))
    assert sum(r.allowed for r in results) == 10


async def test_leases(limiter: Limiter, clock: FakeClock) -> None:
    assert await limiter.acquire("f", 2, "a")
    assert await limiter.acquire("f", 2, "b")
    assert not await limiter.acquire("f", 2, "c")
    assert await limiter.acquire("f", 2, "a")  # the holder again: renewal, not a third slot
    await limiter.release("f", "a")
    await limiter.release("f", "a")
    await limiter.release("f", "never-held")
    assert await limiter.acquire("f", 2, "c")
    clock.advance(LEASE_TTL / 2)
    await limiter.renew("f", "c")
    clock.advance(LEASE_TTL / 2)  # "b" lapses (its replica died); "c" was renewed
    assert await limiter.acquire("f", 2, "d")
    assert not await limiter.acquire("f", 2, "e")


async def test_redis_keys_always_expire(redis_server: RedisServer, clock: FakeClock) -> None:
    prefix = f"test:{secrets.token_hex(4)}:"
    limiter = RedisLimiter(connect(redis_server.url), prefix=prefix, lease_ttl=LEASE_TTL, script_clock=clock)
    raw = Redis.from_url(redis_server.url)
    try:
        await limiter.check("bucket", 0.5, 3)
        await limiter.acquire("file", 3, "a")
        clock.advance(5.0)
        await limiter.acquire("file", 3, "b")
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in await raw.keys(prefix + "*"))
        assert keys == [prefix + "b:bucket", prefix + "c:file"]
        assert 0 < await raw.pttl(prefix + "b:bucket") <= idle_ttl(0.5, 3) * 1000
        # The lease set lives as long as its newest lease, and no longer.
        assert LEASE_TTL * 1000 - 1000 < await raw.pttl(prefix + "c:file") <= LEASE_TTL * 1000
        await limiter.release("file", "a")
        await limiter.release("file", "b")
        assert await raw.exists(prefix + "c:file") == 0
    finally:
        await limiter.aclose()
        await raw.aclose()


async def test_redis_uses_its_own_clock_by_default(redis_server: RedisServer) -> None:
    limiter = RedisLimiter(connect(redis_server.url), prefix=f"test:{secrets.token_hex(4)}:")
    try:
        assert [(await limiter.check("k", 20, 2)).allowed for _ in range(3)] == [True, True, False]
        refused = await limiter.check("k", 20, 2)
        assert 0 < refused.retry_after <= 0.05
        await asyncio.sleep(refused.retry_after + 0.02)
        assert (await limiter.check("k", 20, 2)).allowed
    finally:
        await limiter.aclose()
