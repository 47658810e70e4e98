"""Cluster-mode records that must outlive a cache: kept in the object store, mirrored in Redis.

Redis may evict, restart empty or be flushed; moderation must not depend on it. This wrapper
sits in front of the Redis store and routes the durable keys — bans, blocked hashes, reports,
the audit log, sessions and their per-user index, the admin's user list, download counts — to
small JSON objects under ``state/`` in the object store as well (the way manifests are kept).
Everything else (file indexes, challenges, locks) stays in Redis only: it is rebuilt from the
manifests or is short-lived.

Writes go to the object store first, then to Redis, so a record Redis holds is always durable.
Reads are answered by Redis. Once Redis has been loaded from the records it holds a marker key;
a miss while the marker is present is a real miss (one extra GET, and only on misses). A missing
marker means Redis lost its data: the records are loaded back (``hydrate``) before answering,
so a flushed Redis never unbans anyone or unblocks a hash. ``torrent-gateway reindex`` reloads
them explicitly. Redis must not evict keys without a TTL (``noeviction`` or a ``volatile-*``
policy), or a single evicted record would read as absent while the marker survives.

Download counts are written behind: each increment updates Redis at once and the object store
shortly after (coalesced), so the download path never waits for the object store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable

from ..storage.base import ObjectNotFound, ObjectStore, StoreError
from .base import StateStore

log = logging.getLogger(__name__)

RECORDS_PREFIX = "state/"
MARKER_KEY = "durable:hydrated"

# Single-valued records: one object each. ``reports:seen:`` keeps a repeated report from being
# counted twice after a flush.
DURABLE_STRING_PREFIXES = ("ban:", "block:", "auth:session:", "stats:downloads:", "reports:seen:")
# Sorted sets: one object per member. ``idx:owners`` is the admin's user list: it also names users
# who own nothing any more (a banned user whose files were removed), which manifests cannot rebuild.
DURABLE_ZSET_KEYS = frozenset({"audit", "reports", "idx:owners"})
DURABLE_ZSET_PREFIXES = ("auth:sessions:",)
COUNTER_PREFIXES = ("stats:downloads:",)

COUNTER_FLUSH_DELAY = 0.2


def is_durable_string(key: str) -> bool:
    return key.startswith(DURABLE_STRING_PREFIXES)


def is_durable_zset(key: str) -> bool:
    return key in DURABLE_ZSET_KEYS or key.startswith(DURABLE_ZSET_PREFIXES)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def string_object(key: str) -> str:
    # Hashed names: keys and members are free text, object keys must stay plain.
    return f"{RECORDS_PREFIX}kv/{_digest(key)}.json"


def zset_folder(key: str) -> str:
    return f"{RECORDS_PREFIX}z/{_digest(key)}/"


def member_object(key: str, member: str) -> str:
    return f"{zset_folder(key)}{_digest(member)}.json"


class DurableStateStore(StateStore):
    def __init__(
        self, inner: StateStore, records: ObjectStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.inner = inner
        self.records = records
        self.name = f"{inner.name}+durable"
        self._clock = clock
        self._hydrating = asyncio.Lock()
        self._pending_counts: dict[str, int] = {}
        self._count_writer: asyncio.Task[None] | None = None

    # -- object store side ----------------------------------------------------------------------
    async def _put(self, name: str, record: dict[str, object]) -> None:
        await self.records.put_bytes(name, json.dumps(record, sort_keys=True).encode())

    async def _put_string(self, key: str, value: bytes, ttl: float | None) -> None:
        expires = None if ttl is None else self._clock() + ttl
        await self._put(
            string_object(key),
            {"key": key, "value": base64.b64encode(value).decode(), "expires": expires},
        )

    async def _read(self, name: str) -> dict[str, object] | None:
        try:
            raw = await self.records.get_bytes(name)
        except ObjectNotFound:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            log.warning("durable state record %s is not JSON; ignored", name)
            return None
        return record if isinstance(record, dict) else None

    async def _delete_zset_objects(self, key: str) -> None:
        names = [name async for name in self.records.list(zset_folder(key))]
        for name in names:
            await self.records.delete(name)

    # -- hydration ------------------------------------------------------------------------------
    async def _ensure_hydrated(self) -> bool:
        """Load the records into Redis when Redis lost them; True when it did."""
        if await self.inner.get(MARKER_KEY) is not None:
            return False
        async with self._hydrating:
            if await self.inner.get(MARKER_KEY) is not None:
                return False
            count = await self.hydrate()
            log.warning("state store had lost its durable records (flushed or restarted); reloaded %d", count)
            return True

    async def hydrate(self) -> int:
        """Write every durable record into the inner store (what ``reindex`` runs); returns how many."""
        now = self._clock()
        loaded = 0
        names = [name async for name in self.records.list(RECORDS_PREFIX)]
        for name in names:
            record = await self._read(name)
            if record is None:
                continue
            key = record.get("key")
            if not isinstance(key, str):
                continue
            if "member" in record:
                member, score = record.get("member"), record.get("score")
                if isinstance(member, str) and isinstance(score, (int, float)):
                    await self.inner.zadd(key, member, float(score))
                    loaded += 1
                continue
            expires = record.get("expires")
            if isinstance(expires, (int, float)) and expires <= now:
                with contextlib.suppress(StoreError):
                    await self.records.delete(name)  # an ended session: nothing to keep
                continue
            try:
                value = base64.b64decode(str(record.get("value", "")), validate=True)
            except ValueError:
                continue
            ttl = None if expires is None else float(expires) - now  # type: ignore[arg-type]
            if key.startswith(COUNTER_PREFIXES):
                # An increment that reached Redis before this load already added the durable count.
                await self.inner.set(key, value, ttl, only_new=True)
            else:
                await self.inner.set(key, value, ttl)
            loaded += 1
        await self.inner.set(MARKER_KEY, b"1")
        return loaded

    # -- strings --------------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        value = await self.inner.get(key)
        if value is None and is_durable_string(key) and await self._ensure_hydrated():
            value = await self.inner.get(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None, *, only_new: bool = False) -> bool:
        if not is_durable_string(key):
            return await self.inner.set(key, value, ttl, only_new=only_new)
        if only_new:
            await self._ensure_hydrated()
            if not await self.inner.set(key, value, ttl, only_new=True):
                return False
            await self._put_string(key, bytes(value), ttl)
            return True
        await self._put_string(key, bytes(value), ttl)
        return await self.inner.set(key, value, ttl)

    async def take(self, key: str) -> bytes | None:
        if not is_durable_string(key):
            return await self.inner.take(key)
        await self._ensure_hydrated()
        value = await self.inner.take(key)
        if value is not None:
            await self.records.delete(string_object(key))
        return value

    async def delete(self, *keys: str) -> int:
        durable = [key for key in keys if is_durable_string(key) or is_durable_zset(key)]
        if durable:
            await self._ensure_hydrated()
        for key in durable:
            if is_durable_string(key):
                await self.records.delete(string_object(key))
            else:
                await self._delete_zset_objects(key)
        return await self.inner.delete(*keys)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if not key.startswith(COUNTER_PREFIXES):
            return await self.inner.incr(key, amount, ttl)
        value = await self.inner.incr(key, amount, ttl)
        if value == amount:
            # Redis had no count: either a first download or a lost Redis. Add what was kept.
            record = await self._read(string_object(key))
            if record is not None:
                with contextlib.suppress(ValueError):
                    kept = int(base64.b64decode(str(record.get("value", ""))))
                    if kept:
                        value = await self.inner.incr(key, kept)
        self._pending_counts[key] = value
        if self._count_writer is None or self._count_writer.done():
            self._count_writer = asyncio.create_task(self._write_counts(), name="durable-download-counts")
        return value

    async def _write_counts(self) -> None:
        await asyncio.sleep(COUNTER_FLUSH_DELAY)  # coalesce a burst of downloads into one write per file
        while self._pending_counts:
            key, value = self._pending_counts.popitem()
            try:
                await self._put_string(key, str(value).encode(), None)
            except StoreError as exc:
                log.warning("download count of %s not saved durably: %s", key, exc)

    async def expire(self, key: str, ttl: float) -> bool:
        if is_durable_string(key):
            await self._ensure_hydrated()
            value = await self.inner.get(key)
            if value is not None:
                await self._put_string(key, value, ttl)
        return await self.inner.expire(key, ttl)

    # -- sorted sets ----------------------------------------------------------------------------
    async def zadd(self, key: str, member: str, score: float) -> None:
        if is_durable_zset(key):
            await self._ensure_hydrated()
            await self._put(member_object(key, member), {"key": key, "member": member, "score": float(score)})
        await self.inner.zadd(key, member, score)

    async def zrem(self, key: str, *members: str) -> int:
        if is_durable_zset(key):
            await self._ensure_hydrated()
            for member in members:
                await self.records.delete(member_object(key, member))
        return await self.inner.zrem(key, *members)

    async def zscore(self, key: str, member: str) -> float | None:
        if is_durable_zset(key):
            await self._ensure_hydrated()
        return await self.inner.zscore(key, member)

    async def zrange(
        self, key: str, start: int = 0, stop: int = -1, *, desc: bool = False
    ) -> list[tuple[str, float]]:
        if is_durable_zset(key):
            await self._ensure_hydrated()
        return await self.inner.zrange(key, start, stop, desc=desc)

    async def zcard(self, key: str) -> int:
        if is_durable_zset(key):
            await self._ensure_hydrated()
        return await self.inner.zcard(key)

    # -- hashes (indexes only: rebuilt from manifests) ------------------------------------------
    async def hset(self, key: str, field: str, value: bytes) -> None:
        await self.inner.hset(key, field, value)

    async def hget(self, key: str, field: str) -> bytes | None:
        return await self.inner.hget(key, field)

    async def hdel(self, key: str, *fields: str) -> int:
        return await self.inner.hdel(key, *fields)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        return await self.inner.hgetall(key)

    # -- admin ----------------------------------------------------------------------------------
    async def scan(self, prefix: str) -> list[str]:
        await self._ensure_hydrated()
        return [key for key in await self.inner.scan(prefix) if key != MARKER_KEY]

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        if self._count_writer is not None:
            with contextlib.suppress(Exception):
                await self._count_writer
        await self.inner.close()
