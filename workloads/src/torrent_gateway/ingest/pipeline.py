"""The upload pipeline: one streamed pass from request body to a published, verified file.

A session receives the body in whatever pieces the server hands it, gathers them into
piece-aligned batches and hashes each batch off the event loop while the next one arrives:
the file's SHA-256 in one thread, SHA-1 per piece (and the chunk SHA-256s, and v2 leaves
when hybrid torrents are on) in another — hashlib releases the GIL, so the two run in
parallel. Small files go to a staging file that becomes ``blobs/<sha256>`` with one atomic
move; large ones are written chunk by chunk as content-addressed blobs. The manifest is
written last, so an upload that fails, is aborted or crashes is never visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..bencode import bencode
from ..config import Settings
from ..manifest import Manifest, blob_key, torrent_key
from ..storage import ObjectStore
from .merkle import MerkleFile
from .naming import guess_mime_type, safe_file_name
from .torrent import build_info, infohash_v1, infohash_v2, render_metainfo

if TYPE_CHECKING:
    from ..catalog import Catalog

log = logging.getLogger(__name__)
TARGET_BATCH = 8 * 1024 * 1024


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
        self.chunk_size = storage.chunk_size
        self.threshold = storage.blob_threshold
        self.hybrid = storage.hybrid_torrents
        self.batch_size = self.chunk_size * max(1, TARGET_BATCH // self.chunk_size)
        self.size = 0
        self.head = b""
        self._pending = bytearray()
        self._file_hash = hashlib.sha256()
        self._pieces: list[bytes] = []
        self._merkle = MerkleFile(self.chunk_size) if self.hybrid else None
        self._chunks: list[str] = []
        self._created_chunks: list[str] = []
        self._inflight: asyncio.Task[None] | None = None
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
        self._pending += data
        if len(self._pending) >= self.batch_size:
            cut = len(self._pending) - len(self._pending) % self.batch_size
            batch = bytes(self._pending[:cut])
            del self._pending[:cut]
            await self._submit(batch)

    async def _submit(self, batch: bytes) -> None:
        # Pipeline depth one: hash this batch while the caller receives the next.
        if self._inflight is not None:
            await self._inflight
        if not self.chunked and self.size >= self.threshold:
            await self._switch_to_chunked()
        self._inflight = asyncio.ensure_future(self._process(batch))

    async def _process(self, batch: bytes) -> None:
        view = memoryview(batch)
        file_hash = asyncio.to_thread(self._file_hash.update, view)
        if self.chunked:
            pieces = asyncio.to_thread(self._hash_chunks, view)
            _, chunks = await asyncio.gather(file_hash, pieces)
            for digest, start, end in chunks:
                await self._store_chunk(digest, view[start:end])
        else:
            await asyncio.gather(file_hash, asyncio.to_thread(self._hash_and_write, view))

    def _hash_pieces(self, view: memoryview) -> None:
        for start in range(0, len(view), self.chunk_size):
            piece = view[start : start + self.chunk_size]
            self._pieces.append(hashlib.sha1(piece).digest())
            if self._merkle is not None:
                self._merkle.add_piece(piece)

    def _hash_and_write(self, view: memoryview) -> None:
        self._hash_pieces(view)
        assert self._staging_fd is not None
        written = 0
        while written < len(view):
            written += os.write(self._staging_fd, view[written:])

    def _hash_chunks(self, view: memoryview) -> list[tuple[str, int, int]]:
        self._hash_pieces(view)
        out = []
        for start in range(0, len(view), self.chunk_size):
            end = min(start + self.chunk_size, len(view))
            out.append((hashlib.sha256(view[start:end]).hexdigest(), start, end))
        return out

    async def _store_chunk(self, digest: str, data: memoryview) -> None:
        self._chunks.append(digest)
        key = blob_key(digest)
        inflight = self.ingestor.inflight_chunks
        inflight[digest] += 1
        if inflight[digest] == 1 and not await self.store.exists(key):
            await self.store.put_bytes(key, data)
            self._created_chunks.append(digest)
        else:
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
            with open(staged, "rb") as handle:
                while block := await asyncio.to_thread(handle.read, self.chunk_size):
                    await self._store_chunk(hashlib.sha256(block).hexdigest(), memoryview(block))
        finally:
            staged.unlink(missing_ok=True)

    # -- finishing ---------------------------------------------------------------------------
    async def finish(
        self, owner: str | None = None, accept: Callable[[str, int], Awaitable[None]] | None = None
    ) -> tuple[Manifest, bool]:
        """Verify, store and publish; returns (manifest, created).

        ``accept(sha256, size)`` runs once the content hash is known and before anything becomes
        visible; it refuses the upload by raising IngestError (a hash that doesn't match what the
        client announced, a quota). Either way nothing is published.
        """
        try:
            if self._pending:
                batch, self._pending = bytes(self._pending), bytearray()
                await self._submit(batch)
            if self._inflight is not None:
                await self._inflight
                self._inflight = None
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
                if owner:
                    return await self.ingestor.catalog.publish(existing, owner)
                return existing, False
            manifest = await self._store(sha256)
            record, created = await self.ingestor.catalog.publish(manifest, owner)
            self._release_chunks(delete=False)
            self._done = True
            return record, created
        except BaseException:
            await self.abort()
            raise

    async def _store(self, sha256: str) -> Manifest:
        if not self.chunked:
            assert self._staging is not None and self._staging_fd is not None
            os.close(self._staging_fd)
            self._staging_fd = None
            staged, self._staging = self._staging, None
            await self.store.put_file(blob_key(sha256), staged)
        mime = guess_mime_type(self.name, self.content_type, self.head)
        v2_root = self._merkle.pieces_root() if self._merkle is not None else None
        info = build_info(
            self.name, self.size, self.chunk_size, b"".join(self._pieces), private=self.private, v2_root=v2_root
        )
        info_bytes = bencode(info)
        layers = None
        if self._merkle is not None and v2_root is not None and self._merkle.piece_layer():
            layers = {v2_root: self._merkle.piece_layer()}
        # Stored with no trackers: they are filled in from the current configuration when served.
        await self.store.put_bytes(torrent_key(sha256), render_metainfo(info_bytes, [], [], piece_layers=layers))
        return Manifest(
            sha256=sha256,
            size=self.size,
            name=self.name,
            mime_type=mime,
            kind="chunked" if self.chunked else "blob",
            chunk_size=self.chunk_size,
            chunks=list(self._chunks) if self.chunked else [],
            piece_length=self.chunk_size,
            infohash=infohash_v1(info),
            infohash_v2=infohash_v2(info),
            created=time.time(),
            private=self.private,
        )

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
        if self._inflight is not None:
            self._inflight.cancel()
            await asyncio.gather(self._inflight, return_exceptions=True)
            self._inflight = None
        self._discard_staging()
        state = self.ingestor.catalog.state
        for digest in self._release_chunks(delete=True):
            try:
                if await state.zcard(f"idx:refs:{digest}") == 0:
                    await self.store.delete(blob_key(digest))
            except Exception:  # cleanup is best effort; the GC pass removes what is left
                log.warning("could not remove chunk %s of an aborted upload", digest)
