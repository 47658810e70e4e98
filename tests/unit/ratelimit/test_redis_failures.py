"""The Redis limiter's failure handling, with a scripted stand-in for the client (no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from torrent_gateway.ratelimit import LimiterUnavailable
from torrent_gateway.ratelimit.redis import RedisLimiter

from .conftest import FakeClock


class ScriptedClient:
    """Answers every script call after ``gate`` opens: with an error while ``down``."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = True
        self.gate = asyncio.Event()
        self.gate.set()

    def register_script(self, text: str) -> Any:
        async def run(keys: list[str], args: list[Any]) -> list[Any]:
            self.calls += 1
            await self.gate.wait()
            if self.down:
                raise RedisConnectionError("connection refused")
            return [1, "4", "0"]

        return run

    async def aclose(self) -> None:
        return None


async def test_one_probe_at_a_time_while_degraded(clock: FakeClock) -> None:
    client = ScriptedClient()
    limiter = RedisLimiter(client, clock=clock, retry_interval=1.0)  # type: ignore[arg-type]
    with pytest.raises(LimiterUnavailable):
        await limiter.check("k", 1, 5)
    assert limiter.degraded and client.calls == 1

    clock.advance(1.0)
    client.gate.clear()  # Redis answers slowly: the probe hangs for a while
    probe = asyncio.create_task(limiter.check("k", 1, 5))
    await asyncio.sleep(0)
    for _ in range(10):
        with pytest.raises(LimiterUnavailable):
            await limiter.check("k", 1, 5)
    assert client.calls == 2  # only the probe reached Redis

    client.down = False
    client.gate.set()
    assert (await probe).allowed
    assert not limiter.degraded
    assert (await limiter.check("k", 1, 5)).allowed and client.calls == 3


async def test_a_hanging_redis_is_cut_off_by_the_timeout(clock: FakeClock) -> None:
    client = ScriptedClient()
    client.gate.clear()  # never answers
    limiter = RedisLimiter(client, clock=clock, timeout=0.05)  # type: ignore[arg-type]
    with pytest.raises(LimiterUnavailable):
        await limiter.check("k", 1, 5)
    assert limiter.degraded
