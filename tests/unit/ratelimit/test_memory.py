"""The in-process limiter: the bucket rules over dicts that never grow without bound."""

from __future__ import annotations

from torrent_gateway.ratelimit.memory import MemoryLimiter

from .conftest import FakeClock


async def test_checks_follow_the_bucket(clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock)
    results = [(await limiter.check("k", rate=1.0, burst=2)).allowed for _ in range(3)]
    assert results == [True, True, False]
    clock.advance(1.0)
    assert (await limiter.check("k", rate=1.0, burst=2)).allowed
    assert (await limiter.check("other", rate=1.0, burst=2)).allowed


async def test_idle_buckets_are_swept(clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock, sweep_interval=5.0)
    for n in range(50):
        await limiter.check(f"client:{n}", rate=1.0, burst=2)
    assert len(limiter) == 50
    clock.advance(10.0)  # past idle_ttl (3 s) and the sweep interval
    await limiter.check("fresh", rate=1.0, burst=2)
    assert len(limiter) == 1


async def test_key_count_is_capped_by_evicting_the_least_recent(clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock, max_keys=10)
    for n in range(30):
        await limiter.check(f"client:{n}", rate=0.001, burst=1)
    assert len(limiter) == 10
    # client:29 is still remembered (refused); client:0 was evicted (a fresh, full bucket).
    assert not (await limiter.check("client:29", rate=0.001, burst=1)).allowed
    assert (await limiter.check("client:0", rate=0.001, burst=1)).allowed


async def test_leases_and_their_expiry(clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock, lease_ttl=30.0, sweep_interval=5.0)
    assert await limiter.acquire("f", 1, "a")
    assert not await limiter.acquire("f", 1, "b")
    clock.advance(20.0)
    await limiter.renew("f", "a")
    clock.advance(20.0)
    assert not await limiter.acquire("f", 1, "b")  # renewed at +20, lives until +50
    await limiter.release("f", "a")
    await limiter.release("f", "a")  # twice is harmless
    assert await limiter.acquire("f", 1, "b")
    clock.advance(31.0)  # "b" never released: its holder crashed
    assert await limiter.acquire("f", 1, "c")
    await limiter.release("f", "c")
    assert len(limiter) == 0
