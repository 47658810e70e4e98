"""The filesystem store's direct-I/O chunk writes (``storage.direct_writes``): whatever the
buffer's alignment, the length, the filesystem (ext4, tmpfs), or a filesystem refusing direct
I/O, the object read back is exactly the bytes given."""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from torrent_gateway.storage import filesystem
from torrent_gateway.storage.filesystem import DIRECT_BLOCK, FilesystemStore, _write_direct


def aligned(data: bytes) -> memoryview:
    """``data`` in page-aligned memory (an anonymous map), as the upload pipeline's buffers are."""
    buffer = mmap.mmap(-1, max(len(data), 1))
    buffer[: len(data)] = data
    return memoryview(buffer)[: len(data)]


@pytest.fixture
def new_file(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    fd, name = tempfile.mkstemp(dir=tmp_path)
    yield fd, Path(name)
    os.close(fd)


def on_direct_io_filesystem(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        probe = os.open(path / ".probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    except OSError:
        return False
    finally:
        os.close(fd)
    os.close(probe)
    (path / ".probe").unlink()
    return True


def test_the_test_directory_takes_direct_io(tmp_path: Path) -> None:
    # The cases below mean something only where direct I/O works (the suite's tmp dirs are ext4).
    assert on_direct_io_filesystem(tmp_path)


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 64 * 1024, 2 * 1024 * 1024 + 100, 100])
def test_aligned_buffers_are_written_whole_with_any_length(new_file: tuple[int, Path], size: int) -> None:
    fd, path = new_file
    data = os.urandom(size)
    # A length that is no whole number of blocks: the aligned part direct, the tail through the cache.
    assert _write_direct(fd, aligned(data)) is (size >= DIRECT_BLOCK)
    if size < DIRECT_BLOCK:
        os.write(fd, data)  # nothing was written: the caller's buffered path
    assert path.read_bytes() == data


def test_an_unaligned_buffer_is_refused_untouched_or_written_whole(new_file: tuple[int, Path]) -> None:
    fd, path = new_file
    data = os.urandom(2 * 1024 * 1024 + 1)
    view = memoryview(data)[1:]  # bytes objects are not page-aligned; one byte in, surely not
    if not _write_direct(fd, view):
        assert path.read_bytes() == b""
        os.write(fd, view)
    assert path.read_bytes() == data[1:]


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    if not Path("/dev/shm").is_dir():
        pytest.fail("/dev/shm (tmpfs) is expected on Linux")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as name:
        yield Path(name)


async def put_and_read_back(root: Path) -> None:
    store = FilesystemStore(root, fsync=True, direct_writes=True)
    chunks = {f"blobs/{i:02x}": os.urandom(64 * 1024 + i * 1000) for i in range(4)}
    for key, data in chunks.items():
        await store.put_bytes_deferred(key, aligned(data))
    await store.make_durable(list(chunks))
    for key, data in chunks.items():
        assert await store.get_bytes(key) == data
    assert not list((root / ".staging").iterdir())  # nothing left half-written


async def test_deferred_puts_on_ext4_and_tmpfs_read_back_exactly(tmp_path: Path, shm_dir: Path) -> None:
    await put_and_read_back(tmp_path / "ext4")
    await put_and_read_back(shm_dir / "tmpfs")


async def test_a_filesystem_without_direct_io_gets_buffered_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fcntl = filesystem.fcntl.fcntl
    refused = []

    def no_direct_io(fd: int, command: int, argument: int = 0) -> int:
        if command == filesystem.fcntl.F_SETFL and argument & os.O_DIRECT:
            refused.append(fd)
            raise OSError(22, "Invalid argument")  # what e.g. some FUSE filesystems answer
        return real_fcntl(fd, command, argument)

    monkeypatch.setattr(filesystem.fcntl, "fcntl", no_direct_io)
    await put_and_read_back(tmp_path / "store")
    assert len(refused) == 4


async def test_direct_writes_are_off_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_expected(fd: int, data: object) -> bool:
        raise AssertionError("direct I/O used without storage.direct_writes")

    monkeypatch.setattr(filesystem, "_write_direct", not_expected)
    store = FilesystemStore(tmp_path, fsync=True)
    await store.put_bytes_deferred("blobs/aa", aligned(os.urandom(64 * 1024)))
    await store.make_durable(["blobs/aa"])
    assert len(await store.get_bytes("blobs/aa")) == 64 * 1024
