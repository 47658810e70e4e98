"""The state store contract: small, shared, expiring state (sessions, challenges, indexes, counters).

Nothing here is the source of truth for files — the object store's manifests are; indexes
can be rebuilt from them (``torrent-gateway reindex``). Contract (one test suite, every backend):

* values are bytes; ``ttl`` is in seconds and an expired key reads as absent;
* ``take`` reads and deletes atomically (single-use challenges);
* ``incr`` is atomic and returns the new value; a ttl given to it applies when the key is new;
* sorted sets order by score then member; ``zrange(desc=True)`` gives the highest first;
* hashes map field → bytes;
* a backend that cannot be reached raises :class:`StateUnavailable`.
"""

from __future__ import annotations

import abc


class StateUnavailable(Exception):
    """The state backend cannot be reached right now."""


class StateStore(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def set(self, key: str, value: bytes, ttl: float | None = None, *, only_new: bool = False) -> bool:
        """Store a value; with ``only_new`` nothing happens (False returned) when the key exists."""

    @abc.abstractmethod
    async def take(self, key: str) -> bytes | None:
        """Read and delete in one atomic step."""

    @abc.abstractmethod
    async def delete(self, *keys: str) -> int: ...

    @abc.abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int: ...

    @abc.abstractmethod
    async def expire(self, key: str, ttl: float) -> bool: ...

    @abc.abstractmethod
    async def zadd(self, key: str, member: str, score: float) -> None: ...

    @abc.abstractmethod
    async def zrem(self, key: str, *members: str) -> int: ...

    @abc.abstractmethod
    async def zscore(self, key: str, member: str) -> float | None: ...

    @abc.abstractmethod
    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, desc: bool = False
    ) -> list[tuple[str, float]]:
        """Members with scores by rank, ``stop`` inclusive (like Redis ZRANGE)."""

    @abc.abstractmethod
    async def zcard(self, key: str) -> int: ...

    @abc.abstractmethod
    async def hset(self, key: str, field: str, value: bytes) -> None: ...

    @abc.abstractmethod
    async def hget(self, key: str, field: str) -> bytes | None: ...

    @abc.abstractmethod
    async def hdel(self, key: str, *fields: str) -> int: ...

    @abc.abstractmethod
    async def hgetall(self, key: str) -> dict[str, bytes]: ...

    @abc.abstractmethod
    async def scan(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix`` (for admin listings and reindexing; not a hot path)."""

    async def ping(self) -> None:
        """Raise StateUnavailable when the backend is unreachable."""

    async def close(self) -> None: ...
