"""Object store on a local directory: the default of one-process mode.

Objects live at ``<root>/<key>``; writes go to ``<root>/.staging/`` first and are moved
into place with ``os.replace`` (atomic on one filesystem), after an fsync, so a crash
leaves either the old object, the new one, or nothing — and some staging garbage that
``cleanup_staging`` removes at start. Objects from 256 KiB up are served from a read-only
memory map of their file (``get_view``, ``iter_range``): one copy fewer per byte sent.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import mmap
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from .base import ObjectInfo, ObjectNotFound, ObjectStore, ObjectUpload, StoreError, StoreUnavailable

STAGING = ".staging"
MAP_MIN = 256 * 1024  # objects served from a memory map from this size on


def _start_writeback(fd: int) -> None:
    """Have the kernel start writing a file's dirty pages now, without waiting for them.

    A deferred put is synced later (``make_durable``); started early, the disk writes overlap
    with the rest of an upload instead of all happening in that final sync. On Linux,
    POSIX_FADV_DONTNEED starts writeback of dirty pages and drops only pages already clean,
    which a file just written has none of.
    """
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] == STAGING:
        raise StoreError(f"invalid object key {key!r}")
    return key


class FilesystemStore(ObjectStore):
    name = "filesystem"

    def __init__(self, root: str | Path, *, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self._staging = self.root / STAGING
        self._staging.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def staging_dir(self) -> Path:
        return self._staging

    def begin_upload(self, key: str) -> ObjectUpload:
        self._path(key)  # refuses a bad key now rather than after every byte is staged
        return super().begin_upload(key)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def _install(self, tmp: Path, key: str, sync: bool = True) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self._fsync and sync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, target)

    async def put_file(self, key: str, path: Path) -> None:
        _check_key(key)
        path = Path(path)
        if path.parent.resolve() != self._staging:
            # Not on our filesystem's staging area: copy into staging first so the final move is atomic.
            fd, tmp_name = tempfile.mkstemp(dir=self._staging, prefix="put-")
            os.close(fd)
            await asyncio.to_thread(_copy_file, path, Path(tmp_name))
            path.unlink(missing_ok=True)
            path = Path(tmp_name)
        try:
            await asyncio.to_thread(self._install, path, key)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    async def put_bytes(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> None:
        # ``sha256`` serves stores that send it with the bytes; a local write has no use for it.
        _check_key(key)
        await asyncio.to_thread(self._put_bytes_sync, key, data)

    async def touch(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(key))

    async def put_bytes_deferred(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> None:
        _check_key(key)
        await asyncio.to_thread(self._put_bytes_sync, key, data, False)

    async def make_durable(self, keys: list[str]) -> None:
        if self._fsync and keys:
            await asyncio.to_thread(self._sync_files, [self._path(k) for k in keys])

    @staticmethod
    def _sync_files(paths: list[Path]) -> None:
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _put_bytes_sync(self, key: str, data: bytes | bytearray | memoryview, sync: bool = True) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self._staging, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if self._fsync and not sync:
                    handle.flush()
                    _start_writeback(handle.fileno())
            self._install(tmp, key, sync)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None

    async def get_view(self, key: str) -> bytes | memoryview:
        # Served from the page cache without a copy into our memory: the response is then
        # copied once, into the socket. Stored objects are never truncated in place (a new
        # version is a new file moved over the old), so the mapping stays valid while used.
        path = self._path(key)
        try:
            return await asyncio.to_thread(_map_file, path)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None

    async def read_range(self, key: str, offset: int, length: int) -> bytes:
        path = self._path(key)
        return await asyncio.to_thread(_pread, path, key, offset, length)

    async def iter_range(
        self, key: str, start: int, end: int, block: int
    ) -> AsyncIterator[bytes | memoryview]:
        # Blocks are views of one read-only map of the file, as in get_view: no copy.
        path = self._path(key)
        try:
            view = await asyncio.to_thread(_map_file, path)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        stop = min(end + 1, len(view))
        for position in range(start, stop, block):
            yield view[position : min(position + block, stop)]
        if stop <= end:
            raise OSError(f"{key} ended early at {max(stop, start)}")

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        return ObjectInfo(key=key, size=st.st_size, modified=st.st_mtime)

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        keys = await asyncio.to_thread(self._list_sync, prefix)
        for key in keys:
            yield key

    def _list_sync(self, prefix: str) -> builtins.list[str]:
        found: builtins.list[str] = []
        base_dir = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base_dir.is_dir():
            return found
        for dirpath, dirnames, filenames in os.walk(base_dir):
            if Path(dirpath) == self.root and STAGING in dirnames:
                dirnames.remove(STAGING)
            for name in filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                if rel.startswith(prefix):
                    found.append(rel)
        found.sort()
        return found

    async def ping(self) -> None:
        if not self.root.is_dir():
            raise StoreUnavailable(f"storage root {self.root} is missing")

    async def cleanup_staging(self, older_than: float = 0) -> int:
        removed = 0
        now = time.time()
        for entry in self._staging.iterdir():
            try:
                if older_than and now - entry.stat().st_mtime < older_than:
                    continue
                if entry.is_dir():
                    import shutil

                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed


def _map_file(path: Path) -> bytes | memoryview:
    """A read-only view of the whole file (its bytes, when small).

    No read-ahead advice: the kernel's own read-ahead on the first faults serves a sequential
    read, and MADV_WILLNEED on pages already cached halved the speed of reading them here.
    """
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < MAP_MIN:
            # Small objects are read: a copy costs little there, and every mapping counts against
            # the process's limit (vm.max_map_count) while a cache holds it.
            return handle.read()
        return memoryview(mmap.mmap(handle.fileno(), size, prot=mmap.PROT_READ))


def _pread(path: Path, key: str, offset: int, length: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise ObjectNotFound(key) from None
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def _copy_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as reader, open(dst, "wb") as writer:
        while block := reader.read(4 * 1024 * 1024):
            writer.write(block)
