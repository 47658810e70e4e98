"""The StateStore contract (state/base.py), checked against every backend through one fixture."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import Harness

# Real TTLs on Redis: short enough to keep the suite quick, long enough for a loaded machine.
TTL = 0.2
PAST_TTL = 0.3


# -- strings -----------------------------------------------------------------------------------


async def test_get_set_overwrite(state: Harness) -> None:
    s = state.store
    assert await s.get("missing") is None
    assert await s.set("k", b"v1") is True
    assert await s.get("k") == b"v1"
    assert await s.set("k", b"v2") is True
    assert await s.get("k") == b"v2"
    await s.set("bin", bytes(range(256)))
    assert await s.get("bin") == bytes(range(256))


async def test_set_only_new(state: Harness) -> None:
    s = state.store
    assert await s.set("n", b"first", only_new=True) is True
    assert await s.set("n", b"second", only_new=True) is False
    assert await s.get("n") == b"first"


async def test_set_only_new_after_expiry(state: Harness) -> None:
    s = state.store
    assert await s.set("n", b"first", ttl=TTL, only_new=True) is True
    await state.advance(PAST_TTL)
    assert await s.set("n", b"again", only_new=True) is True
    assert await s.get("n") == b"again"


async def test_set_only_new_concurrently_has_one_winner(state: Harness) -> None:
    s = state.store
    results = await asyncio.gather(
        *(s.set("lock", str(i).encode(), ttl=30, only_new=True) for i in range(10))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await s.get("lock") == str(winner).encode()


async def test_ttl_expiry(state: Harness) -> None:
    s = state.store
    await s.set("t", b"short-lived", ttl=TTL)
    await s.set("forever", b"stays")
    assert await s.get("t") == b"short-lived"
    await state.advance(PAST_TTL)
    assert await s.get("t") is None
    assert await s.get("forever") == b"stays"
    assert await s.scan("t") == []


async def test_set_without_ttl_clears_a_previous_ttl(state: Harness) -> None:
    s = state.store
    await s.set("k", b"1", ttl=TTL)
    await s.set("k", b"2")
    await state.advance(PAST_TTL)
    assert await s.get("k") == b"2"


async def test_delete(state: Harness) -> None:
    s = state.store
    await s.set("a", b"1")
    await s.set("b", b"2")
    assert await s.delete("a", "b", "never-there") == 2
    assert await s.get("a") is None
    assert await s.delete("a") == 0
    assert await s.delete() == 0


# -- take --------------------------------------------------------------------------------------


async def test_take_reads_and_deletes(state: Harness) -> None:
    s = state.store
    await s.set("challenge", b"nonce")
    assert await s.take("challenge") == b"nonce"
    assert await s.take("challenge") is None
    assert await s.get("challenge") is None
    assert await s.take("never-there") is None


async def test_take_of_expired_key_is_none(state: Harness) -> None:
    s = state.store
    await s.set("challenge", b"nonce", ttl=TTL)
    await state.advance(PAST_TTL)
    assert await s.take("challenge") is None


async def test_take_is_single_use_under_concurrency(state: Harness) -> None:
    s = state.store
    for round_ in range(5):
        await s.set("c", b"once-%d" % round_, ttl=30)
        results = await asyncio.gather(*(s.take("c") for _ in range(10)))
        assert [r for r in results if r is not None] == [b"once-%d" % round_]


# -- counters ----------------------------------------------------------------------------------


async def test_incr(state: Harness) -> None:
    s = state.store
    assert await s.incr("c") == 1
    assert await s.incr("c", 5) == 6
    assert await s.incr("c", -2) == 4
    assert await s.get("c") == b"4"
    await s.set("from-set", b"10")
    assert await s.incr("from-set") == 11


async def test_incr_is_atomic_under_concurrency(state: Harness) -> None:
    s = state.store
    results = await asyncio.gather(*(s.incr("hits", ttl=30) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await s.get("hits") == b"50"


async def test_incr_ttl_applies_only_when_the_key_is_new(state: Harness) -> None:
    s = state.store
    # A fixed window: the second increment must not push the window's end further away.
    assert await s.incr("window", ttl=0.6) == 1
    await state.advance(0.3)
    assert await s.incr("window", ttl=0.6) == 2
    await state.advance(0.4)
    assert await s.get("window") is None
    assert await s.incr("window", ttl=0.6) == 1  # a new window


async def test_incr_with_ttl_does_not_add_expiry_to_an_existing_key(state: Harness) -> None:
    s = state.store
    await s.set("persistent", b"1")
    assert await s.incr("persistent", ttl=TTL) == 2
    await state.advance(PAST_TTL)
    assert await s.get("persistent") == b"2"


async def test_expire(state: Harness) -> None:
    s = state.store
    assert await s.expire("missing", TTL) is False
    await s.set("k", b"v")
    await s.zadd("z", "m", 1)
    await s.hset("h", "f", b"v")
    assert await s.expire("k", TTL) is True
    assert await s.expire("z", TTL) is True
    assert await s.expire("h", TTL) is True
    await state.advance(PAST_TTL)
    assert await s.get("k") is None
    assert await s.zcard("z") == 0
    assert await s.hgetall("h") == {}
    assert await s.scan("") == []


# -- sorted sets -------------------------------------------------------------------------------


async def test_zset_order_by_score_then_member(state: Harness) -> None:
    s = state.store
    for member, score in [("carol", 2), ("bob", 1), ("alice", 1), ("dave", -1.5), ("erin", 10)]:
        await s.zadd("z", member, score)
    ascending = [("dave", -1.5), ("alice", 1.0), ("bob", 1.0), ("carol", 2.0), ("erin", 10.0)]
    assert await s.zrange("z") == ascending
    assert await s.zrange("z", desc=True) == ascending[::-1]
    assert await s.zrange("z", 0, 1) == ascending[:2]
    assert await s.zrange("z", 0, 0, desc=True) == [("erin", 10.0)]
    assert await s.zrange("z", -2, -1) == ascending[-2:]
    assert await s.zrange("z", -2) == ascending[-2:]
    assert await s.zrange("z", 1, -2) == ascending[1:-1]
    assert await s.zrange("z", 3, 100) == ascending[3:]
    assert await s.zrange("z", -100, 1) == ascending[:2]
    assert await s.zrange("z", 3, 1) == []
    assert await s.zrange("z", 10, 20) == []
    assert await s.zrange("z", 0, -100) == []
    assert await s.zrange("missing") == []


async def test_zset_update_score_and_remove(state: Harness) -> None:
    s = state.store
    await s.zadd("z", "a", 1)
    await s.zadd("z", "b", 2)
    await s.zadd("z", "a", 3)  # an update, not a second member
    assert await s.zcard("z") == 2
    assert await s.zscore("z", "a") == 3.0
    assert await s.zscore("z", "nobody") is None
    assert await s.zscore("missing", "a") is None
    assert await s.zrange("z", desc=True) == [("a", 3.0), ("b", 2.0)]
    assert await s.zrem("z", "a", "nobody") == 1
    assert await s.zrem("missing", "a") == 0
    assert await s.zrem("z") == 0
    assert await s.zrem("z", "b") == 1
    # An emptied sorted set is gone altogether.
    assert await s.zcard("z") == 0
    assert await s.scan("z") == []


# -- hashes ------------------------------------------------------------------------------------


async def test_hashes(state: Harness) -> None:
    s = state.store
    assert await s.hgetall("h") == {}
    assert await s.hget("h", "f") is None
    await s.hset("h", "name", b"file.bin")
    await s.hset("h", "size", b"123")
    await s.hset("h", "size", b"456")
    assert await s.hget("h", "size") == b"456"
    assert await s.hget("h", "nope") is None
    assert await s.hgetall("h") == {"name": b"file.bin", "size": b"456"}
    assert await s.hdel("h", "size", "nope") == 1
    assert await s.hdel("missing", "x") == 0
    assert await s.hdel("h") == 0
    assert await s.hdel("h", "name") == 1
    assert await s.hgetall("h") == {}
    assert await s.scan("h") == []


# -- scan --------------------------------------------------------------------------------------


async def test_scan_prefix_sorted(state: Harness) -> None:
    s = state.store
    for key in ["idx:b", "idx:a", "idx:c:1", "other", "idxx"]:
        await s.set(key, b"1")
    await s.zadd("idx:z", "m", 1)
    await s.hset("idx:h", "f", b"v")
    assert await s.scan("idx:") == ["idx:a", "idx:b", "idx:c:1", "idx:h", "idx:z"]
    assert await s.scan("idx") == ["idx:a", "idx:b", "idx:c:1", "idx:h", "idx:z", "idxx"]
    assert await s.scan("") == ["idx:a", "idx:b", "idx:c:1", "idx:h", "idx:z", "idxx", "other"]
    assert await s.scan("nothing") == []


@pytest.mark.parametrize("prefix", ["a*", "a?", "a[b]", "a\\", "*"])
async def test_scan_prefix_is_literal(state: Harness, prefix: str) -> None:
    s = state.store
    for key in ["a*1", "a?1", "a[b]1", "a\\1", "*1", "ab1", "axb]1", "zzz"]:
        await s.set(key, b"1")
    assert await s.scan(prefix) == [prefix + "1"]


async def test_scan_many_keys(state: Harness) -> None:
    s = state.store
    for i in range(1500):
        await s.set(f"many:{i:04d}", b"1")
    assert await s.scan("many:") == [f"many:{i:04d}" for i in range(1500)]


async def test_ping(state: Harness) -> None:
    assert await state.store.ping() is None  # answers without raising StateUnavailable


async def test_counter_then_take_and_overwrite(state: Harness) -> None:
    s = state.store
    assert await s.incr("counter", 7) == 7
    assert await s.take("counter") == b"7"
    assert await s.incr("counter") == 1
    await s.set("counter", b"41")
    assert await s.incr("counter") == 42
