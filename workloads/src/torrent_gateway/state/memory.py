"""In-process state store for one-process mode; an injectable clock makes TTLs testable."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .base import StateStore

Clock = Callable[[], float]


class MemoryStateStore(StateStore):
    name = "memory"

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, Any] = {}
        self._expiry: dict[str, float] = {}
        self._ops = 0

    # -- expiry ---------------------------------------------------------------------------------
    def _alive(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= self._clock():
            self._data.pop(key, None)
            self._expiry.pop(key, None)
            return False
        return key in self._data

    def _sweep(self) -> None:
        # Amortised purge so keys nobody reads again still go away.
        self._ops += 1
        if self._ops % 1024:
            return
        now = self._clock()
        for key in [k for k, d in self._expiry.items() if d <= now]:
            self._data.pop(key, None)
            self._expiry.pop(key, None)

    def _set_ttl(self, key: str, ttl: float | None) -> None:
        if ttl is None:
            self._expiry.pop(key, None)
        else:
            self._expiry[key] = self._clock() + ttl

    # -- strings --------------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        if not self._alive(key):
            return None
        value = self._data[key]
        if isinstance(value, int):
            return str(value).encode()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float | None = None, *, only_new: bool = False) -> bool:
        self._sweep()
        if only_new and self._alive(key):
            return False
        self._data[key] = bytes(value)
        self._set_ttl(key, ttl)
        return True

    async def take(self, key: str) -> bytes | None:
        value = await self.get(key)
        if value is not None:
            self._data.pop(key, None)
            self._expiry.pop(key, None)
        return value

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._alive(key):
                removed += 1
            self._data.pop(key, None)
            self._expiry.pop(key, None)
        return removed

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        self._sweep()
        if self._alive(key):
            current = self._data[key]
            value = (int(current) if isinstance(current, (bytes, int)) else 0) + amount
            self._data[key] = value
        else:
            value = amount
            self._data[key] = value
            self._set_ttl(key, ttl)
        return value

    async def expire(self, key: str, ttl: float) -> bool:
        if not self._alive(key):
            return False
        self._set_ttl(key, ttl)
        return True

    # -- sorted sets ----------------------------------------------------------------------------
    def _zset(self, key: str, create: bool = False) -> dict[str, float] | None:
        if self._alive(key):
            value = self._data[key]
            return value if isinstance(value, dict) and not value.get("\0hash") else None
        if create:
            created: dict[str, float] = {}
            self._data[key] = created
            return created
        return None

    async def zadd(self, key: str, member: str, score: float) -> None:
        self._sweep()
        zset = self._zset(key, create=True)
        assert zset is not None
        zset[member] = float(score)

    async def zrem(self, key: str, *members: str) -> int:
        zset = self._zset(key)
        if zset is None:
            return 0
        removed = sum(1 for m in members if zset.pop(m, None) is not None)
        if not zset:
            await self.delete(key)
        return removed

    async def zscore(self, key: str, member: str) -> float | None:
        zset = self._zset(key)
        return None if zset is None else zset.get(member)

    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, desc: bool = False
    ) -> list[tuple[str, float]]:
        zset = self._zset(key)
        if not zset:
            return []
        ordered = sorted(zset.items(), key=lambda item: (item[1], item[0]), reverse=desc)
        size = len(ordered)
        if start < 0:
            start = max(size + start, 0)
        if stop < 0:
            stop = size + stop
        return ordered[start : stop + 1] if start <= stop else []

    async def zcard(self, key: str) -> int:
        zset = self._zset(key)
        return 0 if zset is None else len(zset)

    # -- hashes ---------------------------------------------------------------------------------
    def _hash(self, key: str, create: bool = False) -> dict[str, bytes] | None:
        if self._alive(key):
            value = self._data[key]
            return value if isinstance(value, dict) and value.get("\0hash") else None
        if create:
            created: dict[str, bytes] = {"\0hash": b"1"}
            self._data[key] = created
            return created
        return None

    async def hset(self, key: str, field: str, value: bytes) -> None:
        self._sweep()
        table = self._hash(key, create=True)
        assert table is not None
        table[field] = bytes(value)

    async def hget(self, key: str, field: str) -> bytes | None:
        table = self._hash(key)
        return None if table is None or field == "\0hash" else table.get(field)

    async def hdel(self, key: str, *fields: str) -> int:
        table = self._hash(key)
        if table is None:
            return 0
        removed = sum(1 for f in fields if f != "\0hash" and table.pop(f, None) is not None)
        if len(table) == 1:
            await self.delete(key)
        return removed

    async def hgetall(self, key: str) -> dict[str, bytes]:
        table = self._hash(key)
        if table is None:
            return {}
        return {k: v for k, v in table.items() if k != "\0hash"}

    async def scan(self, prefix: str) -> list[str]:
        return sorted(k for k in list(self._data) if k.startswith(prefix) and self._alive(k))
