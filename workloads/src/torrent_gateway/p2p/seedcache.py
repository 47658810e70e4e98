"""The seeder's bounded local copy of files it cannot link in place.

libtorrent reads a torrent's bytes from one file per torrent file. A whole blob on the
filesystem backend already is that file (the seeder hard-links it); a chunked file, or anything
on S3, is not, so the seeder materialises it here: ``<root>/<sha256>/<file name>``. The total size
is bounded by ``dht.cache_bytes``; the least recently used file (by upload activity, not by
insertion) is evicted first, and its torrent stops being seeded until it is asked for again.

:class:`SeedCache` is the pure bookkeeping (sizes, LRU order, hit/miss counters); the seeder does
the file work.
"""

from __future__ import annotations

from collections import OrderedDict


class SeedCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self._items: OrderedDict[str, int] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def fits(self, size: int) -> bool:
        return size <= self.max_bytes

    def lookup(self, key: str) -> bool:
        """Is ``key`` materialised? Counts a hit or a miss and refreshes its place on a hit."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return True
        self.misses += 1
        return False

    def plan(self, size: int, *, keep: frozenset[str] = frozenset()) -> list[str]:
        """The keys to evict, oldest first, so that ``size`` more bytes fit (never one of ``keep``).

        Raises ValueError when it cannot fit even after evicting everything allowed.
        """
        if size > self.max_bytes:
            raise ValueError("larger than the whole cache")
        free = self.max_bytes - self.size
        victims: list[str] = []
        for key, item_size in self._items.items():
            if free >= size:
                break
            if key in keep:
                continue
            victims.append(key)
            free += item_size
        if free < size:
            raise ValueError("cannot make room")
        return victims

    def admit(self, key: str, size: int, *, keep: frozenset[str] = frozenset()) -> list[str]:
        """Record ``key`` as materialised; returns the keys evicted to make room."""
        self.discard(key)
        victims = self.plan(size, keep=keep)
        for victim in victims:
            self.discard(victim)
            self.evictions += 1
        self._items[key] = size
        self.size += size
        return victims

    def evict(self, key: str) -> bool:
        """Discard ``key`` to make room (counted as an eviction)."""
        if self.discard(key):
            self.evictions += 1
            return True
        return False

    def touch(self, key: str) -> None:
        if key in self._items:
            self._items.move_to_end(key)

    def discard(self, key: str) -> bool:
        size = self._items.pop(key, None)
        if size is None:
            return False
        self.size -= size
        return True

    def keys(self) -> list[str]:
        """Oldest first."""
        return list(self._items)

    def stats(self) -> dict[str, float]:
        total = self.hits + self.misses
        return {
            "files": len(self._items),
            "bytes": self.size,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "hit_rate": self.hits / total if total else 0.0,
        }
