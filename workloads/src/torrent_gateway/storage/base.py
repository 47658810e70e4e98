"""The object store contract every backend honours.

Keys are slash-separated strings such as ``blobs/<sha256>`` or ``manifests/<sha256>.json``.
Contract (checked by one test suite against every backend):

* ``put_*`` is atomic: a reader sees either no object or the whole object, never a part.
  A failed or interrupted put leaves no object under the key.
* Writing an existing key replaces it atomically.
* ``read_range`` returns exactly the requested bytes (clamped at the end of the object).
* ``list`` yields keys under a prefix in lexicographic order, without staging garbage.
* Missing objects raise :class:`ObjectNotFound`; a backend that cannot be reached raises
  :class:`StoreUnavailable`, so callers can answer 503 instead of 500.
* An object written in parts (``begin_upload``) appears whole at ``complete`` and never before;
  ``abort`` leaves nothing behind.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class StoreError(Exception):
    """Base of object store failures."""


class ObjectNotFound(StoreError, KeyError):
    """The key holds no object."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached right now; retry later."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified: float


class ObjectUpload(abc.ABC):
    """One object written in numbered parts, side by side, that appears whole at ``complete``.

    Parts are numbered from 1 in the order of the bytes; every part but the last has the same
    size (S3 wants at least 5 MiB each). ``write_part`` calls may overlap. Until ``complete``
    nothing is visible under the key; ``abort`` (also after a failed part) leaves nothing.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._writing: set[asyncio.Future[None]] = set()
        # A part that failed (or whose caller went away) may be missing: completing would store a
        # short object, so the upload can only be aborted.
        self._failed = False

    async def _write(self, writing: Awaitable[None]) -> None:
        """Run one part's write to its end even if the caller is cancelled (``abort`` waits for it)."""
        future = asyncio.ensure_future(writing)
        self._writing.add(future)
        future.add_done_callback(self._writing.discard)
        try:
            await asyncio.shield(future)
        except BaseException:
            self._failed = True
            raise

    async def _parts_settled(self) -> None:
        """Wait until no part is being written any more."""
        for writing in list(self._writing):
            await settle(writing)

    async def start(self) -> str | None:
        """Begin the upload on the store; returns what ``ObjectStore.abandon_upload`` needs to drop
        its parts should this process die before ``complete`` or ``abort`` (S3: the upload id), or
        None when nothing of it outlives the process but staging files."""
        return None

    @abc.abstractmethod
    async def write_part(self, number: int, offset: int, data: memoryview) -> None:
        """Store part ``number`` (from 1), whose bytes start at ``offset`` of the object."""

    @abc.abstractmethod
    async def complete(self) -> None:
        """Make the object visible, made of every part written (a gap in the numbers fails)."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop the parts; safe to call more than once and after ``complete`` failed."""


class StagedUpload(ObjectUpload):
    """An upload in parts into a staging file, stored with ``put_file`` at ``complete`` (the
    filesystem store's ``put_file`` syncs and renames it into place)."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        super().__init__(key)
        self._store = store
        fd, path = tempfile.mkstemp(dir=store.staging_dir(), prefix="parts-")
        self._fd: int | None = fd
        self._path = path
        self._parts: set[int] = set()

    async def write_part(self, number: int, offset: int, data: memoryview) -> None:
        if self._fd is None:
            raise StoreError(f"upload of {self.key} is closed")
        await self._write(asyncio.to_thread(_pwrite_all, self._fd, data, offset))
        self._parts.add(number)

    async def complete(self) -> None:
        if self._fd is None:
            raise StoreError(f"upload of {self.key} is closed")
        if self._failed:
            raise StoreError(f"upload of {self.key} lost a part")
        if not self._parts or self._parts != set(range(1, len(self._parts) + 1)):
            raise StoreError(f"upload of {self.key} is missing parts")
        fd, self._fd = self._fd, None
        os.close(fd)
        await self._store.put_file(self.key, Path(self._path))

    async def abort(self) -> None:
        # The descriptor closes only after the parts in flight have stopped writing: closed under
        # them, its number could be given to another file, and a late part would land there.
        fd, self._fd = self._fd, None
        await self._parts_settled()
        if fd is not None:
            os.close(fd)
        await asyncio.to_thread(Path(self._path).unlink, missing_ok=True)


async def settle(future: asyncio.Future[Any]) -> None:
    """Wait until a thread-backed future is done, even if we are cancelled again meanwhile."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log it as never retrieved


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)


class ObjectStore(abc.ABC):
    """Async object store; implementations do their blocking I/O off the event loop."""

    name: str = "abstract"
    # True where a large file is best kept as one object written in parts (S3: each object costs
    # the server a request to write and another to read, and a single GET streams a whole
    # download); False where an object per chunk costs nothing extra (a directory).
    whole_file_objects: bool = False
    # Objects a sequential reader (a download of a chunked file) may keep in flight ahead of the
    # one it serves: a store with a network round trip per read (S3) is latency-bound without it.
    # The reader also caps all streams' read-ahead together (content.READ_AHEAD_SHARE).
    read_ahead: int = 0

    @abc.abstractmethod
    def staging_dir(self) -> Path:
        """A local directory for temp files that ``put_file`` can take without copying when possible."""

    @abc.abstractmethod
    async def put_file(self, key: str, path: Path) -> None:
        """Atomically store the local file ``path`` under ``key``; ``path`` is consumed (moved or deleted)."""

    @abc.abstractmethod
    async def put_bytes(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> None:
        """Atomically store ``data`` under ``key``.

        ``sha256`` is the hex SHA-256 of ``data`` when the caller knows it already (a chunk is named
        by it). A store that sends a payload hash with the bytes (S3's signed PUT) uses it instead
        of hashing again, and stores nothing when the bytes do not match it.
        """

    async def put_bytes_deferred(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> None:
        """Like put_bytes (atomic), but durability may wait until ``make_durable`` names the key.

        Lets a writer of many objects pay for syncing once at the end instead of once per object.
        """
        await self.put_bytes(key, data, sha256=sha256)

    async def put_bytes_if_absent(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> bool:
        """``put_bytes_deferred`` unless ``key`` holds an object already; True when this call stored it.

        For content-addressed keys, where an existing object already has these bytes. The check and
        the write are not one atomic step: two writers may both store (the same bytes).
        """
        if await self.exists(key):
            return False
        await self.put_bytes_deferred(key, data, sha256=sha256)
        return True

    def begin_upload(self, key: str) -> ObjectUpload:
        """Start an object written in parts (see :class:`ObjectUpload`)."""
        return StagedUpload(self, key)

    async def abandon_upload(self, key: str, token: str) -> None:
        """Drop the parts of an upload whose writer died before completing or aborting it (the
        token is what its ``start`` returned); nothing happens when it is gone already."""

    async def make_durable(self, keys: list[str]) -> None:
        """Return once every named object is on stable storage (no-op where puts are durable already)."""

    @abc.abstractmethod
    async def get_bytes(self, key: str) -> bytes:
        """The whole object (for small objects such as manifests)."""

    async def get_view(self, key: str) -> bytes | memoryview:
        """The whole object as read-only bytes, for serving it: where the store can, a view of
        its pages instead of a copy (the filesystem store maps the file)."""
        return await self.get_bytes(key)

    @abc.abstractmethod
    async def read_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer only at the end of the object)."""

    async def iter_range(
        self, key: str, start: int, end: int, block: int
    ) -> AsyncIterator[bytes | memoryview]:
        """Bytes ``start``..``end`` (inclusive) in blocks of at most ``block``; raises OSError when the
        object is shorter. Backends override it to keep one handle open for the whole read."""
        position = start
        while position <= end:
            data = await self.read_range(key, position, min(block, end - position + 1))
            if not data:
                raise OSError(f"{key} ended early at {position}")
            yield data
            position += len(data)

    @abc.abstractmethod
    async def stat(self, key: str) -> ObjectInfo | None:
        """Size and time of the object, or None when absent."""

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the object; True when something was removed."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys under ``prefix``, sorted."""

    async def touch(self, key: str) -> None:
        """Mark an existing object as recently used (keeps the garbage collector's grace period)."""

    def local_path(self, key: str) -> Path | None:
        """A file path holding the object's bytes when the backend is local (for zero-copy sends)."""
        return None

    def presigned_get(self, key: str, *, expires: int, response_headers: dict[str, str]) -> str | None:
        """A URL at which clients may GET the object for ``expires`` seconds, the backend answering
        with ``response_headers`` (Content-Type, Content-Disposition); None when the backend has no
        such URL to give."""
        return None

    async def ping(self) -> None:
        """Raise StoreUnavailable when the backend cannot serve requests now, StoreError when it never will
        as configured (e.g. it refuses the credentials)."""

    async def cleanup_staging(self, older_than: float = 0) -> int:
        """Remove leftovers of interrupted writes at least ``older_than`` seconds old; returns how many."""
        return 0

    async def close(self) -> None:
        """Release connections."""
