"""The seed cache's bookkeeping: bounded by bytes, least recently used out first."""

from __future__ import annotations

import pytest
from torrent_gateway.p2p.seedcache import SeedCache


def test_admit_evicts_least_recently_used_first() -> None:
    cache = SeedCache(100)
    assert cache.admit("a", 40) == [] and cache.admit("b", 40) == []
    assert cache.lookup("a")  # a is now the most recent
    assert cache.admit("c", 40) == ["b"]
    assert cache.keys() == ["a", "c"] and cache.size == 80
    cache.touch("a")
    assert cache.admit("d", 60) == ["c"]  # a was used more recently
    assert cache.keys() == ["a", "d"] and cache.size == 100
    assert cache.admit("e", 100) == ["a", "d"]
    assert cache.stats()["evictions"] == 4


def test_plan_respects_keep_and_capacity() -> None:
    cache = SeedCache(100)
    cache.admit("a", 50)
    cache.admit("b", 50)
    assert cache.plan(30) == ["a"]
    assert cache.plan(30, keep=frozenset({"a"})) == ["b"]
    with pytest.raises(ValueError):
        cache.plan(60, keep=frozenset({"a", "b"}))
    with pytest.raises(ValueError):
        cache.plan(101)
    assert not cache.fits(101) and cache.fits(100)


def test_counters_and_removal() -> None:
    cache = SeedCache(10)
    assert not cache.lookup("x")
    cache.admit("x", 5)
    assert cache.lookup("x") and "x" in cache and len(cache) == 1
    assert cache.evict("x") and not cache.evict("x") and not cache.discard("x")
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["hit_rate"], stats["bytes"]) == (1, 1, 0.5, 0)
    cache.admit("y", 5)
    cache.admit("y", 7)  # re-admitting replaces the size
    assert cache.size == 7
