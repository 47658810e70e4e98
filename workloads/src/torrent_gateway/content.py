"""Reading a stored file's bytes by range, reassembling chunked files on the fly.

Chunked files are read chunk by chunk through a bounded LRU cache of hot chunks (WebSeed
and range clients ask for the same pieces again and again); whole blobs are read in large
blocks straight from the store without caching, so memory stays flat whatever the file size.

A chunked file kept as one object (``Manifest.data_key``, on S3) is streamed with one ranged read
for any span longer than a chunk, past the cache; a span inside one chunk (a WebSeed piece, a
seeder's request, a Blossom range), and any span of a file small against the cache, go through the
cache chunk by chunk (each chunk a range of the object).

On a store with a round trip per read (S3), a sequential reader of a file stored chunk by chunk
keeps the next chunks in flight. Those reads share one budget per process, a quarter of the chunk cache
(:data:`READ_AHEAD_SHARE`): a single download may run up to ``store.read_ahead`` chunks ahead,
and a hundred concurrent downloads still hold no more read-ahead memory than one budget.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable

from prometheus_client import Counter

from .manifest import Manifest, blob_key
from .storage import ObjectStore

READ_BLOCK = 1024 * 1024
# A file kept as one object is read chunk by chunk through the cache when it is this small against the
# cache (a hot small file is then read from the store once, and stays served while the store is down);
# a larger one would only push everything else out of the cache, so it streams past it.
SMALL_SHARE = 8
# Blocks of a streamed read of a whole-file object: larger than READ_BLOCK since each costs a hop to
# the store's thread pool and an event of the HTTP server (1 MiB blocks cost the gateway 0.9 CPU-s per
# GiB relayed from MinIO, 4 MiB blocks 0.6-0.7: bench/bench_s3.py); two are in memory per stream.
STREAM_BLOCK = 4 * 1024 * 1024
# Read-ahead bytes of all streams together, as a fraction of the chunk cache: chunks read ahead land
# in the cache anyway, so the budget only bounds what a burst of streams holds beyond it.
READ_AHEAD_SHARE = 4
CACHE_EVENTS = Counter("tgw_chunk_cache_total", "Chunk cache lookups", ["result"])


class ChunkCache:
    """LRU of chunk bytes bounded by total size, with hit/miss counters."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, bytes | memoryview] = OrderedDict()

    def get(self, key: str) -> bytes | memoryview | None:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            CACHE_EVENTS.labels("miss").inc()
            return None
        self._items.move_to_end(key)
        self.hits += 1
        CACHE_EVENTS.labels("hit").inc()
        return value

    def put(self, key: str, value: bytes | memoryview) -> None:
        if len(value) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._items[key] = value
        self.size += len(value)
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)

    def discard(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)

    def stats(self) -> dict[str, float]:
        total = self.hits + self.misses
        return {
            "entries": len(self._items),
            "bytes": self.size,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / total if total else 0.0,
        }


class ContentReader:
    def __init__(self, store: ObjectStore, cache: ChunkCache) -> None:
        self.store = store
        self.cache = cache
        self._loading: dict[str, asyncio.Future[bytes | memoryview]] = {}
        self.read_ahead_budget = cache.max_bytes // READ_AHEAD_SHARE
        self.read_ahead_bytes = 0  # reserved by chunks read ahead and not yet consumed
        self.stream_bytes = 0  # held by streamed reads of whole-file objects (two blocks each)

    async def chunk(self, digest: str, source: tuple[str, int, int] | None = None) -> bytes | memoryview:
        """A whole chunk, from the cache or the store (concurrent misses share one read); a
        read-only view of the stored bytes where the store gives one (no copy).

        ``source`` is (key, offset, length) when the chunk is a range of its file's data object
        rather than the blob ``blobs/<digest>``."""
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        pending = self._loading.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | memoryview] = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        try:
            if source is None:
                data = await self.store.get_view(blob_key(digest))
            else:
                data = await self.store.read_range(*source)
            self.cache.put(digest, data)
            future.set_result(data)
            return data
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._loading[digest]

    def object_url(self, manifest: Manifest, *, expires: int, response_headers: dict[str, str]) -> str | None:
        """A URL of the store's that answers with exactly the file's bytes, when the file is one
        whole object there (a blob, or a large file in the one-object layout) and the store gives
        such URLs; None otherwise (files in chunk objects, chunk views, the filesystem)."""
        if manifest.kind == "blob" and manifest.data_key is None:
            key = blob_key(manifest.sha256)
        elif manifest.kind == "chunked" and manifest.data_key is not None:
            key = manifest.data_key
        else:  # chunk objects, or a chunk's view into its file's object: no one object is the file
            return None
        return self.store.presigned_get(key, expires=expires, response_headers=response_headers)

    async def iter_range(
        self, manifest: Manifest, start: int, end: int, block: int = READ_BLOCK
    ) -> AsyncIterator[bytes | memoryview]:
        """Bytes ``start``..``end`` inclusive of the file."""
        if manifest.kind == "blob" and manifest.data_key is None:
            async for data in self.store.iter_range(blob_key(manifest.sha256), start, end, block):
                yield data
            return
        first = start // manifest.chunk_size
        last = end // manifest.chunk_size
        if manifest.data_key is not None and not (
            manifest.kind == "chunked"
            and (first == last or manifest.size <= self.cache.max_bytes // SMALL_SHARE)
        ):
            # A stream holds two blocks (one being sent, the next being read). Large blocks cost less
            # per byte; while the streams together would hold more than the read-ahead budget, a new
            # stream takes small ones, so a crowd of slow clients holds no more per stream than a
            # chunk-by-chunk reader did.
            size = STREAM_BLOCK if self.stream_bytes + 2 * STREAM_BLOCK <= self.read_ahead_budget else block
            self.stream_bytes += 2 * size
            try:
                base = manifest.data_offset
                async for data in self.store.iter_range(manifest.data_key, base + start, base + end, size):
                    yield data
            finally:
                self.stream_bytes -= 2 * size
            return
        # Chunks after the one being sent are fetched meanwhile when the store asks for it (S3:
        # one round trip per chunk), as far as the shared budget allows; they go through ``chunk``
        # so the cache and shared loads apply. A chunk the budget refuses is read when its turn comes.
        ahead: dict[int, tuple[asyncio.Task[bytes | memoryview], int]] = {}
        try:
            for index in range(first, last + 1):
                for upcoming in range(index + 1, min(index + self.store.read_ahead, last) + 1):
                    if upcoming in ahead:
                        continue
                    reserve = manifest.chunk_span(upcoming)[1]
                    if self.read_ahead_bytes + reserve > self.read_ahead_budget:
                        break
                    self.read_ahead_bytes += reserve
                    task = asyncio.ensure_future(self._chunk_of(manifest, upcoming))
                    ahead[upcoming] = (task, reserve)
                offset, length = manifest.chunk_span(index)
                loading = ahead.pop(index, None)
                if loading is None:
                    chunk = await self._chunk_of(manifest, index)
                else:
                    task, reserve = loading
                    try:
                        chunk = await task
                    finally:
                        self.read_ahead_bytes -= reserve
                if len(chunk) != length:
                    raise OSError(
                        f"chunk {index} of {manifest.sha256} has {len(chunk)} bytes, expected {length}"
                    )
                lo = max(start - offset, 0)
                hi = min(end - offset + 1, length)
                yield chunk if lo == 0 and hi == length else chunk[lo:hi]
        finally:
            # The client went away or a read failed. The loads already started finish into the cache
            # (at most ``read_ahead`` chunks) rather than being cancelled: another request may be
            # waiting on the same shared load, and a cancelled one would fail it too. Their share of
            # the budget returns when they finish.
            for task, reserve in ahead.values():
                task.add_done_callback(functools.partial(self._release, reserve))

    def _chunk_of(self, manifest: Manifest, index: int) -> Awaitable[bytes | memoryview]:
        if manifest.data_key is None:
            return self.chunk(manifest.chunks[index])
        offset, length = manifest.chunk_span(index)
        return self.chunk(manifest.chunks[index], (manifest.data_key, offset, length))

    def _release(self, reserve: int, task: asyncio.Task[bytes | memoryview]) -> None:
        self.read_ahead_bytes -= reserve
        _retrieve(task)


def _retrieve(task: asyncio.Task[bytes | memoryview]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log a failed read-ahead nobody needed
