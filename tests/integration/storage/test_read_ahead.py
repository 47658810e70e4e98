"""Reading a chunked file from S3 keeps the next chunks in flight (``ObjectStore.read_ahead``).

On MinIO each chunk is its own GET; without read-ahead one download waits a round trip per chunk.
The reads must overlap, return every byte in order, respect any range, and a reader that stops
early must leave nothing failing behind it. All streams together hold no more read-ahead than the
reader's budget (a quarter of the chunk cache), so memory stays flat however many downloads run.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from torrent_gateway.content import READ_AHEAD_SHARE, ChunkCache, ContentReader
from torrent_gateway.manifest import Manifest, blob_key
from torrent_gateway.storage.s3 import S3Store

from tests.support.minio import MinioServer

from .conftest import make_s3_store

CHUNK = 64 * 1024


def cache_with_budget(chunks: int) -> ChunkCache:
    """A chunk cache whose read-ahead budget is exactly ``chunks`` whole chunks."""
    return ChunkCache(chunks * CHUNK * READ_AHEAD_SHARE)


class CountingStore:
    """Wraps a store's get_view to record how many chunk reads are in flight at once."""

    def __init__(self, store: S3Store) -> None:
        self.store = store
        self.in_flight = 0
        self.most = 0
        self.reads: list[str] = []
        self.readers: list[ContentReader] = []
        self.most_reserved = 0  # the highest read-ahead reservation of any watched reader seen
        self._original = store.get_view

    async def get_view(self, key: str) -> bytes | memoryview:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.reads.append(key)
        for reader in self.readers:
            self.most_reserved = max(self.most_reserved, reader.read_ahead_bytes)
        try:
            await asyncio.sleep(0.01)  # a round trip, so overlapping reads show even on a fast machine
            return await self._original(key)
        finally:
            self.in_flight -= 1


async def stored_file(store: S3Store, chunks: int) -> tuple[Manifest, bytes]:
    data = os.urandom(chunks * CHUNK - 1000)
    digests = []
    for offset in range(0, len(data), CHUNK):
        piece = data[offset : offset + CHUNK]
        digest = hashlib.sha256(piece).hexdigest()
        await store.put_bytes(blob_key(digest), piece)
        digests.append(digest)
    manifest = Manifest(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        name="f.bin",
        mime_type="application/octet-stream",
        kind="chunked",
        chunk_size=CHUNK,
        chunks=digests,
        piece_length=CHUNK,
        infohash="00" * 20,
    )
    return manifest, data


async def test_chunk_reads_overlap_and_keep_order(minio_server: MinioServer, tmp_path: Path) -> None:
    store = make_s3_store(minio_server, tmp_path)
    counter = CountingStore(store)
    store.get_view = counter.get_view  # type: ignore[method-assign]
    try:
        manifest, data = await stored_file(store, 12)
        reader = ContentReader(store, cache_with_budget(S3Store.read_ahead))
        got = b"".join([bytes(b) async for b in reader.iter_range(manifest, 0, len(data) - 1)])
        assert got == data
        # The one being sent plus the ones ahead of it, never more.
        assert counter.most == 1 + S3Store.read_ahead, counter.most
        assert reader.read_ahead_bytes == 0
        # A range inside the file reads only the chunks it covers (plus none past its end).
        counter.reads.clear()
        reader = ContentReader(store, cache_with_budget(S3Store.read_ahead))
        start, end = CHUNK * 3 + 17, CHUNK * 6 + 5
        got = b"".join([bytes(b) async for b in reader.iter_range(manifest, start, end)])
        assert got == data[start : end + 1]
        assert sorted(counter.reads) == sorted(blob_key(d) for d in manifest.chunks[3:7])
    finally:
        await store.close()


async def test_concurrent_streams_share_one_read_ahead_budget(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    store = make_s3_store(minio_server, tmp_path)
    counter = CountingStore(store)
    store.get_view = counter.get_view  # type: ignore[method-assign]
    try:
        manifests = [await stored_file(store, 12) for _ in range(3)]
        budget_chunks = 4
        reader = ContentReader(store, cache_with_budget(budget_chunks))
        counter.readers.append(reader)

        async def download(manifest: Manifest) -> bytes:
            return b"".join([bytes(b) async for b in reader.iter_range(manifest, 0, manifest.size - 1)])

        got = await asyncio.gather(*(download(manifest) for manifest, _ in manifests))
        assert got == [data for _, data in manifests]
        # Three streams would run 3 x read_ahead chunks ahead on their own; together they stay within
        # the budget, plus the chunk each one is sending.
        assert counter.most_reserved <= budget_chunks * CHUNK
        assert counter.most <= len(manifests) + budget_chunks, counter.most
        assert counter.most > len(manifests), "the budget was never used"
        assert reader.read_ahead_bytes == 0
    finally:
        await store.close()


async def test_no_chunk_cache_means_no_read_ahead(minio_server: MinioServer, tmp_path: Path) -> None:
    store = make_s3_store(minio_server, tmp_path)
    counter = CountingStore(store)
    store.get_view = counter.get_view  # type: ignore[method-assign]
    try:
        manifest, data = await stored_file(store, 6)
        reader = ContentReader(store, ChunkCache(0))  # chunk_cache_bytes: 0 buys memory with speed
        got = b"".join([bytes(b) async for b in reader.iter_range(manifest, 0, len(data) - 1)])
        assert got == data
        assert counter.most == 1
        assert len(counter.reads) == len(manifest.chunks)
    finally:
        await store.close()


async def test_reader_that_stops_early_leaves_nothing_failing(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    store = make_s3_store(minio_server, tmp_path)
    counter = CountingStore(store)
    store.get_view = counter.get_view  # type: ignore[method-assign]
    try:
        manifest, data = await stored_file(store, 10)
        cache = cache_with_budget(S3Store.read_ahead)
        reader = ContentReader(store, cache)
        stream = reader.iter_range(manifest, 0, len(data) - 1)
        first = await anext(stream)
        assert bytes(first) == data[:CHUNK]
        await stream.aclose()  # the client went away
        await asyncio.sleep(0.2)
        # The reads started ahead finished into the cache; no more were started.
        assert counter.in_flight == 0
        assert len(counter.reads) <= 1 + S3Store.read_ahead
        assert all(cache.get(d) is not None for d in manifest.chunks[1 : len(counter.reads)])
        assert reader.read_ahead_bytes == 0, "the abandoned reads kept their share of the budget"
    finally:
        await store.close()
