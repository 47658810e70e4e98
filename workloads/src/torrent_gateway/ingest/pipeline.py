"""The upload pipeline: one streamed pass from request body to a published, verified file.

A session receives the body in whatever pieces the server hands it, gathers them into
piece-aligned batches and hashes each batch off the event loop while the next ones arrive
(a few batches in flight): the file's SHA-256 as an ordered chain in one worker thread, the
SHA-1 per piece and the chunk SHA-256s (and v2 leaves when hybrid torrents are on) in two
more — hashlib releases the GIL, so they run in parallel on every core. Small files go to a
staging file that becomes ``blobs/<sha256>`` with one atomic move; large ones are written as
content-addressed chunk blobs, a batch's chunks side by side as soon as they are hashed, or, on a
store that keeps a large file whole (S3), as one object written in parts, a batch per part, that
appears only when the upload completes. The manifest is written last, so an upload that fails, is
aborted or crashes is never visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..bencode import bencode
from ..config import Settings
from ..manifest import Manifest, blob_key, data_key, torrent_key
from ..storage import ObjectStore, ObjectUpload
from ..storage.base import settle
from .merkle import MerkleFile
from .naming import guess_mime_type, safe_file_name
from .torrent import build_info, infohash_v1, infohash_v2, render_metainfo

if TYPE_CHECKING:
    from ..catalog import Catalog

log = logging.getLogger(__name__)
TARGET_BATCH = 8 * 1024 * 1024
BATCHES_IN_FLIGHT = 4  # 8 MiB each: bounded memory whatever the file size
# S3 numbers the parts of one object 1..10000; a file kept whole needs batches large enough for its limit.
MAX_PARTS = 10000
# State keys ``upload:<object key>`` -> {"token", "active"}: whole-file uploads begun and not yet
# completed or aborted, so the garbage collector can drop the parts of one whose process died (S3
# keeps an incomplete multipart upload, invisible and billed, until someone aborts it).
UPLOAD_REGISTRY = "upload:"
# How often a long upload tells the registry it is still alive (the collector waits gc.grace_period).
REGISTRY_REFRESH = 60.0


class IngestError(Exception):
    """An upload refused for a reason the client may see; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Ingestor:
    """Creates upload sessions; owns the limits and the set of chunks being written right now."""

    def __init__(self, settings: Settings, store: ObjectStore, catalog: Catalog) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.inflight_chunks: Counter[str] = Counter()

    @property
    def max_file_size(self) -> int:
        return min(self.settings.storage.max_file_size, self.settings.rate_limiting.upload.max_file_size)

    def begin(
        self,
        name: str | None,
        content_type: str | None = None,
        expected_size: int | None = None,
        *,
        max_size: int | None = None,
        private: bool = False,
    ) -> IngestSession:
        limit = min(max_size or self.max_file_size, self.max_file_size)
        if expected_size is not None and expected_size > limit:
            raise IngestError(413, f"file of {expected_size} bytes exceeds the limit of {limit} bytes")
        return IngestSession(self, safe_file_name(name), content_type, expected_size, limit, private)


class IngestSession:
    def __init__(
        self,
        ingestor: Ingestor,
        name: str,
        content_type: str | None,
        expected_size: int | None,
        limit: int,
        private: bool,
    ) -> None:
        self.ingestor = ingestor
        self.store = ingestor.store
        storage = ingestor.settings.storage
        self.name = name
        self.content_type = content_type
        self.limit = limit
        self.private = private
        # The uploader's announce_dht; a multipart field may set it after the file part has begun.
        self.announce_dht = True
        self.chunk_size = storage.chunk_size
        self.threshold = storage.blob_threshold
        self.hybrid = storage.hybrid_torrents
        self.batch_size = self.chunk_size * max(1, TARGET_BATCH // self.chunk_size)
        # A large file on a store that keeps it whole: one object written in parts, a batch each.
        self.whole = self.store.whole_file_objects
        if self.whole:
            chunks_per_part = -(-limit // (MAX_PARTS * self.chunk_size))
            self.batch_size = max(self.batch_size, chunks_per_part * self.chunk_size)
        self._upload: ObjectUpload | None = None
        self._upload_completed = False
        self._registering: asyncio.Future[None] | None = None
        self._upload_token: str | None = None
        self._registry_refreshed = 0.0
        self._parts = 0  # parts handed to the upload so far
        self.size = 0
        self.head = b""
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._file_hash = hashlib.sha256()
        self._pieces: list[bytes] = []
        self._merkle = MerkleFile(self.chunk_size) if self.hybrid else None
        self._chunks: list[str] = []
        self._created_chunks: list[str] = []
        # Per batch in flight: its step of the file-hash chain, its chunk hashing + writing, and
        # the buffer holding its bytes (None for a batch of joined pieces).
        self._batches: deque[tuple[asyncio.Future[None], asyncio.Future[None], bytearray | None]] = deque()
        self._pooled = False
        self._buffer: bytearray | None = None
        self._filled = 0
        self._spare: list[bytearray] = []
        self._done = False
        self.chunked = expected_size is not None and expected_size >= self.threshold
        self._staging: Path | None = None
        self._staging_fd: int | None = None
        if not self.chunked:
            fd, path = tempfile.mkstemp(dir=self.store.staging_dir(), prefix="upload-")
            self._staging, self._staging_fd = Path(path), fd

    # -- feeding -----------------------------------------------------------------------------
    async def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.limit:
            raise IngestError(413, f"file exceeds the limit of {self.limit} bytes")
        if len(self.head) < 512:
            self.head += bytes(data[: 512 - len(self.head)])
        if not self._pooled and self._pending_size + len(data) < self.batch_size:
            # Small so far: keep the pieces; a file that never fills a batch never takes a buffer.
            self._pending.append(data if isinstance(data, bytes) else bytes(data))
            self._pending_size += len(data)
            return
        self._pooled = True
        if self._pending:
            pending, self._pending, self._pending_size = self._pending, [], 0
            for piece in pending:
                await self._copy_in(piece)
        await self._copy_in(data)

    async def _copy_in(self, data: bytes | bytearray | memoryview) -> None:
        """Copy into the batch buffer; a full one goes to hashing and writing.

        Batch buffers are allocated once per upload and reused (at most BATCHES_IN_FLIGHT + 1):
        a fresh 8 MiB allocation per batch costs the kernel a page fault and a zeroed page for
        every 4 KiB, more than the copy itself.
        """
        view = memoryview(data)
        while view:
            if self._buffer is None:
                self._buffer = self._spare.pop() if self._spare else bytearray(self.batch_size)
                self._filled = 0
            take = min(len(view), self.batch_size - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == self.batch_size:
                buffer, self._buffer = self._buffer, None
                await self._submit(memoryview(buffer), buffer)

    async def _submit(self, batch: memoryview, buffer: bytearray | None = None) -> None:
        # Up to BATCHES_IN_FLIGHT batches are hashed and written while the next one arrives, so
        # neither the receiving loop nor the hashing threads wait for each other. The file's
        # SHA-256 is an ordered chain (one update after another, in a worker thread); the chunk
        # hashes of a batch run beside it in two more, and each batch publishes its piece
        # hashes only after the batch before it has (its chunks are written without waiting).
        if not self.chunked and self.size >= self.threshold:
            await self._drain_batches()
            await self._switch_to_chunked()
        while len(self._batches) >= BATCHES_IN_FLIGHT:
            await self._retire_oldest_batch()
        previous_hash, previous_step = self._batches[-1][:2] if self._batches else (None, None)
        if not self.chunked:
            step = self._blob_batch(previous_step, batch)
        elif self.whole:
            step = self._part_batch(previous_step, batch, self._next_part())
        else:
            step = self._chunk_batch(previous_step, batch)
        self._batches.append(
            (
                asyncio.ensure_future(self._hash_file(previous_hash, batch)),
                asyncio.ensure_future(step),
                buffer,
            )
        )

    def _next_part(self) -> tuple[int, int]:
        """(number, offset) of the next part of the whole-file object; parts are whole batches."""
        number, offset = self._parts + 1, self._parts * self.batch_size
        self._parts += 1
        if self._upload is None:
            self._upload = self.store.begin_upload(data_key(uuid.uuid4().hex))
        return number, offset

    async def _retire_oldest_batch(self) -> None:
        hashing, step, buffer = self._batches.popleft()
        await asyncio.gather(hashing, step)
        if buffer is not None:
            self._spare.append(buffer)  # hashed and written: nothing refers to its bytes any more

    async def _hash_file(self, previous: asyncio.Future[None] | None, view: memoryview) -> None:
        if previous is not None:
            await previous
        await asyncio.to_thread(self._file_hash.update, view)

    async def _blob_batch(self, previous: asyncio.Future[None] | None, view: memoryview) -> None:
        # Blob mode: SHA-1 pieces and the staging write, in order (the file hash runs beside it).
        if previous is not None:
            await previous
        await asyncio.to_thread(self._hash_and_write, view)

    async def _chunk_batch(self, previous: asyncio.Future[None] | None, view: memoryview) -> None:
        spans = [
            (start, min(start + self.chunk_size, len(view))) for start in range(0, len(view), self.chunk_size)
        ]
        half = (len(spans) + 1) // 2
        first, second = await asyncio.gather(
            asyncio.to_thread(self._hash_chunks, view, spans[:half]),
            asyncio.to_thread(self._hash_chunks, view, spans[half:]),
        )
        hashed = first + second
        # The chunks go to the store side by side and without waiting for earlier batches:
        # only the piece list must be in file order, and a write that waits on the disk then
        # holds up nothing else.
        await asyncio.gather(*(self._store_chunk(digest, view[a:b]) for digest, _, a, b in hashed))
        if previous is not None:
            await previous
        if self._merkle is not None:
            await asyncio.to_thread(self._merkle_pieces, view, spans)
        for digest, sha1, _, _ in hashed:
            self._pieces.append(sha1)
            self._chunks.append(digest)

    async def _part_batch(
        self, previous: asyncio.Future[None] | None, view: memoryview, part: tuple[int, int]
    ) -> None:
        # The batch is one part of the file's object: written while its chunks are hashed.
        assert self._upload is not None
        await self._registered()
        spans = [
            (start, min(start + self.chunk_size, len(view))) for start in range(0, len(view), self.chunk_size)
        ]
        half = (len(spans) + 1) // 2
        first, second, _ = await asyncio.gather(
            asyncio.to_thread(self._hash_chunks, view, spans[:half]),
            asyncio.to_thread(self._hash_chunks, view, spans[half:]),
            self._upload.write_part(part[0], part[1], view),
        )
        if time.monotonic() - self._registry_refreshed > REGISTRY_REFRESH:
            await self._record_upload()
        if previous is not None:
            await previous
        if self._merkle is not None:
            await asyncio.to_thread(self._merkle_pieces, view, spans)
        for digest, sha1, _, _ in first + second:
            self._pieces.append(sha1)
            self._chunks.append(digest)

    @staticmethod
    def _hash_chunks(view: memoryview, spans: list[tuple[int, int]]) -> list[tuple[str, bytes, int, int]]:
        return [
            (hashlib.sha256(view[a:b]).hexdigest(), hashlib.sha1(view[a:b]).digest(), a, b) for a, b in spans
        ]

    def _merkle_pieces(self, view: memoryview, spans: list[tuple[int, int]]) -> None:
        assert self._merkle is not None
        for a, b in spans:
            self._merkle.add_piece(view[a:b])

    def _hash_and_write(self, view: memoryview) -> None:
        for start in range(0, len(view), self.chunk_size):
            piece = view[start : start + self.chunk_size]
            self._pieces.append(hashlib.sha1(piece).digest())
            if self._merkle is not None:
                self._merkle.add_piece(piece)
        assert self._staging_fd is not None
        written = 0
        while written < len(view):
            written += os.write(self._staging_fd, view[written:])

    async def _drain_batches(self) -> None:
        while self._batches:
            await self._retire_oldest_batch()

    async def _store_chunk(self, digest: str, data: memoryview) -> None:
        key = blob_key(digest)
        inflight = self.ingestor.inflight_chunks
        inflight[digest] += 1
        if inflight[digest] == 1:
            try:
                created = await self.store.put_bytes_if_absent(key, data, sha256=digest)
            except BaseException:
                # Perhaps stored before the failure: ours to remove on abort, unless a file uses it.
                self._created_chunks.append(digest)
                raise
            if created:
                self._created_chunks.append(digest)
                return
        # Reusing a stored chunk: refresh it so a concurrent GC pass sees it as young.
        await self.store.touch(key)
        inflight[digest] -= 1
        if not inflight[digest]:
            del inflight[digest]

    async def _switch_to_chunked(self) -> None:
        """The body outgrew the blob threshold: turn what was staged into chunks, then go on chunked."""
        assert self._staging is not None and self._staging_fd is not None
        os.close(self._staging_fd)
        self._staging_fd = None
        staged, self._staging = self._staging, None
        self.chunked = True
        try:
            with await asyncio.to_thread(open, staged, "rb") as handle:
                if self.whole:
                    # Staged batches were whole batches: each becomes a part, in order.
                    while block := await asyncio.to_thread(handle.read, self.batch_size):
                        view = memoryview(block)
                        spans = [
                            (start, min(start + self.chunk_size, len(view)))
                            for start in range(0, len(view), self.chunk_size)
                        ]
                        # Their SHA-1 pieces were taken in blob mode; the chunks need their names.
                        digests = await asyncio.to_thread(_chunk_names, view, spans)
                        self._chunks.extend(digests)
                        number, offset = self._next_part()
                        assert self._upload is not None
                        await self._registered()
                        await self._upload.write_part(number, offset, view)
                while not self.whole and (block := await asyncio.to_thread(handle.read, self.chunk_size)):
                    digest = await asyncio.to_thread(_sha256_hex, block)
                    self._chunks.append(digest)
                    await self._store_chunk(digest, memoryview(block))
        finally:
            staged.unlink(missing_ok=True)

    # -- finishing ---------------------------------------------------------------------------
    async def finish(
        self, owner: str | None = None, accept: Callable[[str, int], Awaitable[None]] | None = None
    ) -> tuple[Manifest, bool]:
        """Verify, store and publish; returns (manifest, created).

        ``accept(sha256, size)`` runs once the content hash is known and before anything becomes
        visible; it refuses the upload by raising IngestError (a hash that doesn't match what the
        client announced, a quota). Either way nothing is published. It may also settle the
        file's ``name`` and ``content_type`` on this session (Blossom names blobs by their hash).
        """
        try:
            if self._pending:
                batch = b"".join(self._pending)
                self._pending, self._pending_size = [], 0
                await self._submit(memoryview(batch))
            elif self._buffer is not None and self._filled:
                buffer, self._buffer = self._buffer, None
                await self._submit(memoryview(buffer)[: self._filled], buffer)
            await self._drain_batches()
            if self.size == 0:
                raise IngestError(400, "empty file: nothing to store")
            sha256 = self._file_hash.hexdigest()
            if accept is not None:
                await accept(sha256, self.size)
            if await self.ingestor.catalog.state.get(f"block:{sha256}") is not None:
                raise IngestError(451, "this content has been removed by an administrator")
            existing = await self.ingestor.catalog.get(sha256)
            if existing is not None:
                self._discard_staging()
                self._release_chunks(delete=False)
                await self._drop_upload()
                # Anonymous too: the catalog records that someone relies on these bytes without
                # owning them, so no owner can delete them from under that someone.
                return await self.ingestor.catalog.publish(existing, owner)
            inflight = self.ingestor.inflight_chunks
            # The whole-file blob or object is being committed: the GC keeps its hands off.
            committing = [sha256] + ([self._upload.key] if self._upload is not None else [])
            for name in committing:
                inflight[name] += 1
            try:
                manifest = await self._store(sha256)
                record, created = await self.ingestor.catalog.publish(manifest, owner)
                if not created and manifest.data_key is not None and record.data_key != manifest.data_key:
                    # Another upload of the same bytes was published first: ours is not needed.
                    await self._drop_upload()
            finally:
                for name in committing:
                    inflight[name] -= 1
                    if inflight[name] <= 0:
                        del inflight[name]
            self._release_chunks(delete=False)
            self._done = True
            return record, created
        except BaseException:
            await self.abort()
            raise

    async def _store(self, sha256: str) -> Manifest:
        if self.chunked and self._upload is not None:
            await self._upload.complete()
            self._upload_completed = True
            await self._forget_upload()
        elif self.chunked:
            # Chunks were written without a sync each; make them all durable before the manifest exists.
            try:
                await self.store.make_durable([blob_key(digest) for digest in dict.fromkeys(self._chunks)])
            except FileNotFoundError:
                raise IngestError(503, "a chunk vanished while the upload was committed; retry") from None
        else:
            assert self._staging is not None and self._staging_fd is not None
            os.close(self._staging_fd)
            self._staging_fd = None
            staged, self._staging = self._staging, None
            await self.store.put_file(blob_key(sha256), staged)
        mime = guess_mime_type(self.name, self.content_type, self.head)
        v2_root = self._merkle.pieces_root() if self._merkle is not None else None
        info = build_info(
            self.name,
            self.size,
            self.chunk_size,
            b"".join(self._pieces),
            private=self.private,
            v2_root=v2_root,
        )
        info_bytes = bencode(info)
        layers = None
        if self._merkle is not None and v2_root is not None and self._merkle.piece_layer():
            layers = {v2_root: self._merkle.piece_layer()}
        # Stored with no trackers: they are filled in from the current configuration when served.
        await self.store.put_bytes(
            torrent_key(sha256), render_metainfo(info_bytes, [], [], piece_layers=layers)
        )
        return Manifest(
            sha256=sha256,
            size=self.size,
            name=self.name,
            mime_type=mime,
            kind="chunked" if self.chunked else "blob",
            chunk_size=self.chunk_size,
            chunks=list(self._chunks) if self.chunked else [],
            data_key=self._upload.key if self.chunked and self._upload is not None else None,
            piece_length=self.chunk_size,
            infohash=infohash_v1(info),
            infohash_v2=infohash_v2(info),
            created=time.time(),
            private=self.private,
            announce_dht=self.announce_dht,
        )

    async def _registered(self) -> None:
        """Begin the upload and record it before its first part (once, whichever batch comes first)."""
        if self._registering is None:
            self._registering = asyncio.ensure_future(self._register())
        await asyncio.shield(self._registering)

    async def _register(self) -> None:
        assert self._upload is not None
        self._upload_token = await self._upload.start()
        await self._record_upload()

    async def _record_upload(self) -> None:
        if self._upload is None or self._upload_token is None:
            return
        self._registry_refreshed = time.monotonic()
        record = {"token": self._upload_token, "active": time.time()}
        await self.ingestor.catalog.state.set(UPLOAD_REGISTRY + self._upload.key, json.dumps(record).encode())

    async def _forget_upload(self, key: str | None = None) -> None:
        key = key or (self._upload.key if self._upload is not None else None)
        if key is not None and self._upload_token is not None:
            await _best_effort(
                f"the record of {key}", self.ingestor.catalog.state.take(UPLOAD_REGISTRY + key)
            )

    async def _drop_upload(self) -> None:
        """Remove this session's whole-file object: abort its upload, or delete it once completed."""
        upload, self._upload = self._upload, None
        if upload is None:
            return
        if self._registering is not None:
            await settle(self._registering)
        if self._upload_completed:
            await _best_effort(upload.key, self.store.delete(upload.key))
        else:
            try:
                await upload.abort()
            except Exception:  # the collector aborts it later, from the record kept for that
                log.warning("could not abort the upload of %s; the garbage collector will", upload.key)
                return
        await self._forget_upload(upload.key)

    def _discard_staging(self) -> None:
        if self._staging_fd is not None:
            os.close(self._staging_fd)
            self._staging_fd = None
        if self._staging is not None:
            self._staging.unlink(missing_ok=True)
            self._staging = None

    def _release_chunks(self, *, delete: bool) -> list[str]:
        """Forget the chunks this session wrote; return those nobody else is writing (to delete)."""
        inflight = self.ingestor.inflight_chunks
        orphans = []
        for digest in self._created_chunks:
            inflight[digest] -= 1
            if inflight[digest] <= 0:
                del inflight[digest]
                orphans.append(digest)
        self._created_chunks = []
        return orphans if delete else []

    async def abort(self) -> None:
        """Drop everything this session wrote that no published file uses."""
        if self._done:
            return
        self._done = True
        pending = [future for hashing, step, _ in self._batches for future in (hashing, step)]
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._batches.clear()
        self._discard_staging()
        await self._drop_upload()
        state = self.ingestor.catalog.state
        for digest in self._release_chunks(delete=True):
            try:
                if await state.zcard(f"idx:refs:{digest}") == 0:
                    await self.store.delete(blob_key(digest))
            except Exception:  # cleanup is best effort; the GC pass removes what is left
                log.warning("could not remove chunk %s of an aborted upload", digest)


async def _best_effort(what: str, action: Awaitable[object]) -> None:
    """Run a cleanup step; a failure is logged, not raised: the collector removes what is left."""
    try:
        await action
    except Exception:
        log.warning("could not remove %s", what)


def _chunk_names(view: memoryview, spans: list[tuple[int, int]]) -> list[str]:
    return [_sha256_hex(view[a:b]) for a, b in spans]


def _sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
