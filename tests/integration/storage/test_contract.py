"""The ObjectStore contract (storage/base.py), checked against every backend through one fixture.

Each test states one rule of the contract; the ``store`` fixture runs it on the filesystem
store and on S3 (a real MinIO server on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import threading
import time
from pathlib import Path

import pytest
from torrent_gateway.storage import base
from torrent_gateway.storage.base import ObjectNotFound, ObjectStore, StoreError
from torrent_gateway.storage.filesystem import FilesystemStore

from .conftest import PART_SIZE, MiB


async def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [key async for key in store.list(prefix)]


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def settled_state(store: ObjectStore, key: str, allowed: list[bytes | None]) -> bytes | None:
    """The key's content, asserting it is one of the whole versions allowed (None = absent)."""
    info = await store.stat(key)
    if info is None:
        assert None in allowed, "the object vanished"
        return None
    data = await store.get_bytes(key)
    assert len(data) == info.size
    assert data in allowed, f"partial or foreign content ({len(data)} bytes)"
    return data


# -- writes and reads ---------------------------------------------------------------------------


async def test_put_bytes_round_trip(store: ObjectStore) -> None:
    data = os.urandom(100_000)
    await store.put_bytes("blobs/one", data)
    assert await store.get_bytes("blobs/one") == data
    info = await store.stat("blobs/one")
    assert info is not None
    assert info.key == "blobs/one"
    assert info.size == len(data)
    assert abs(info.modified - time.time()) < 300
    assert await store.exists("blobs/one")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_put_bytes_accepts_buffers(store: ObjectStore, kind: type) -> None:
    data = b"manifest" * 100
    await store.put_bytes("m/x.json", kind(data))
    assert await store.get_bytes("m/x.json") == data


async def test_empty_object(store: ObjectStore) -> None:
    await store.put_bytes("empty", b"")
    info = await store.stat("empty")
    assert info is not None and info.size == 0
    assert await store.get_bytes("empty") == b""
    assert await store.read_range("empty", 0, 10) == b""


async def test_put_file_from_staging_consumes_the_file(store: ObjectStore) -> None:
    data = os.urandom(300_000)
    source = write_file(store.staging_dir() / "upload-1", data)
    await store.put_file("blobs/staged", source)
    assert not source.exists()
    assert await store.get_bytes("blobs/staged") == data


async def test_put_file_from_elsewhere_consumes_the_file(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    source = write_file(tmp_path / "outside" / "file.bin", data)
    await store.put_file("blobs/outside", source)
    assert not source.exists()
    assert await store.get_bytes("blobs/outside") == data


async def test_put_file_multipart_sized_object(store: ObjectStore, tmp_path: Path) -> None:
    # Larger than two S3 parts, so the S3 backend goes through a multipart upload.
    data = os.urandom(2 * PART_SIZE + 12345)
    await store.put_file("chunks/big", write_file(tmp_path / "big.bin", data))
    info = await store.stat("chunks/big")
    assert info is not None and info.size == len(data)
    for offset in (PART_SIZE - 7, 2 * PART_SIZE - 1, len(data) - 100):
        assert await store.read_range("chunks/big", offset, 1000) == data[offset : offset + 1000]
    assert await store.get_bytes("chunks/big") == data


async def test_overwrite_replaces(store: ObjectStore, tmp_path: Path) -> None:
    await store.put_bytes("k", b"x" * 5000)
    await store.put_bytes("k", b"short")
    assert await store.get_bytes("k") == b"short"
    info = await store.stat("k")
    assert info is not None and info.size == 5
    await store.put_file("k", write_file(tmp_path / "again", b"from a file"))
    assert await store.get_bytes("k") == b"from a file"
    assert await keys(store) == ["k"]


async def test_views_hold_the_object_as_it_was_when_taken(store: ObjectStore) -> None:
    data = os.urandom(300_000)
    await store.put_bytes("blobs/viewed", data)
    await store.put_bytes("blobs/empty", b"")
    view = await store.get_view("blobs/viewed")
    assert bytes(view) == data and bytes(await store.get_view("blobs/empty")) == b""
    # A new version and even a delete leave a view taken before them whole (a response in flight).
    await store.put_bytes("blobs/viewed", b"replaced")
    await store.delete("blobs/viewed")
    assert bytes(view) == data
    with pytest.raises(ObjectNotFound):
        await store.get_view("blobs/viewed")


async def test_iter_range_streams_exact_blocks(store: ObjectStore) -> None:
    data = os.urandom(300_000)
    await store.put_bytes("it", data)
    blocks = [b async for b in store.iter_range("it", 1000, 250_000, 65_536)]
    assert b"".join(blocks) == data[1000:250_001]
    assert all(len(b) <= 65_536 for b in blocks)
    with pytest.raises(OSError):
        [b async for b in store.iter_range("it", 0, len(data) + 10, 65_536)]
    with pytest.raises(ObjectNotFound):
        [b async for b in store.iter_range("missing", 0, 10, 65_536)]


async def test_read_range_exact_and_clamped(store: ObjectStore) -> None:
    data = os.urandom(1 * MiB + 3)
    await store.put_bytes("r", data)
    size = len(data)
    cases = [
        (0, 1),
        (0, size),
        (1, 10),
        (65_535, 65_538),
        (size - 1, 1),
        (size - 10, 10),
        (size - 10, 1000),  # clamped at the end
        (0, size + 5000),  # clamped at the end
        (size, 10),  # at the end: nothing
        (size + 100, 10),  # past the end: nothing
        (12345, 0),  # empty read
    ]
    for offset, length in cases:
        assert await store.read_range("r", offset, length) == data[offset : offset + length], (offset, length)


async def test_parallel_range_reads(store: ObjectStore) -> None:
    data = os.urandom(2 * MiB)
    await store.put_bytes("p", data)
    rng = random.Random(7)
    spans = [(rng.randrange(0, len(data)), rng.randrange(1, 256 * 1024)) for _ in range(48)]
    results = await asyncio.gather(*(store.read_range("p", off, n) for off, n in spans))
    for (off, n), got in zip(spans, results, strict=True):
        assert got == data[off : off + n]


# -- missing objects and deletes ----------------------------------------------------------------


async def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("nothing/here")
    with pytest.raises(ObjectNotFound):
        await store.read_range("nothing/here", 0, 10)
    with pytest.raises(ObjectNotFound):
        await store.read_range("nothing/here", 0, 0)
    with pytest.raises(KeyError):  # ObjectNotFound is also a KeyError for dict-like callers
        await store.get_bytes("nothing/here")
    assert await store.stat("nothing/here") is None
    assert not await store.exists("nothing/here")
    assert await store.delete("nothing/here") is False


async def test_delete(store: ObjectStore) -> None:
    await store.put_bytes("d/1", b"one")
    await store.put_bytes("d/2", b"two")
    assert await store.delete("d/1") is True
    assert await store.stat("d/1") is None
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("d/1")
    assert await keys(store) == ["d/2"]
    assert await store.delete("d/1") is False


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../x", "a/../b", "a/./b", "trailing/", ".staging/x"])
async def test_invalid_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(StoreError):
        await store.put_bytes(key, b"x")
    with pytest.raises(StoreError):
        await store.stat(key)


# -- listing -----------------------------------------------------------------------------------


async def test_list_sorted_and_prefix_filtered(store: ObjectStore) -> None:
    names = ["b", "a/b/c", "a/b2", "ab", "a/a", "manifests/ff.json", "manifests/00.json", "a/b/d/e"]
    shuffled = names[:]
    random.Random(3).shuffle(shuffled)
    for name in shuffled:
        await store.put_bytes(name, name.encode())
    assert await keys(store) == sorted(names)
    assert await keys(store, "a/") == ["a/a", "a/b/c", "a/b/d/e", "a/b2"]
    assert await keys(store, "a") == ["a/a", "a/b/c", "a/b/d/e", "a/b2", "ab"]
    assert await keys(store, "a/b") == ["a/b/c", "a/b/d/e", "a/b2"]
    assert await keys(store, "a/b/") == ["a/b/c", "a/b/d/e"]
    assert await keys(store, "manifests/") == ["manifests/00.json", "manifests/ff.json"]
    assert await keys(store, "zzz") == []
    assert await keys(store, "nope/") == []


async def test_list_never_shows_staging(store: ObjectStore) -> None:
    await store.put_bytes("visible", b"1")
    write_file(store.staging_dir() / "put-leftover", b"garbage of an interrupted write")
    write_file(store.staging_dir() / "sub" / "deeper", b"more garbage")
    assert await keys(store) == ["visible"]
    assert await store.cleanup_staging() >= 2
    assert list(store.staging_dir().iterdir()) == []
    assert await keys(store) == ["visible"]


# -- atomicity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("previous", [None, b"old version " * 1000], ids=["new-key", "overwrite"])
async def test_reader_never_sees_a_partial_object(
    store: ObjectStore, tmp_path: Path, previous: bytes | None
) -> None:
    key = "blobs/atomic"
    if previous is not None:
        await store.put_bytes(key, previous)
    data = os.urandom(2 * PART_SIZE + 4321)
    allowed = [previous, data]
    writer = asyncio.create_task(store.put_file(key, write_file(tmp_path / "src.bin", data)))
    observations = 0
    deadline = time.monotonic() + 30
    while not writer.done() and time.monotonic() < deadline:
        info = await store.stat(key)
        if info is not None:
            assert info.size in [len(v) for v in allowed if v is not None]
            # The key may change between stat and read; a whole version is all that counts.
            with contextlib.suppress(ObjectNotFound):
                assert await store.get_bytes(key) in allowed
            offset = max(info.size - 64, 0)
            tail = await store.read_range(key, offset, 64)
            assert tail in [v[offset : offset + 64] for v in allowed if v is not None]
        else:
            assert previous is None, "the old object vanished during the overwrite"
        observations += 1
        await asyncio.sleep(0)
    await writer
    assert observations >= 1
    assert await store.get_bytes(key) == data


async def test_concurrent_writers_of_one_key_leave_one_whole_version(
    store: ObjectStore, tmp_path: Path
) -> None:
    # Replicas racing to store the same key (two uploads of one chunk, or an overwrite racing a
    # first write): the last writer wins, with its whole object, and readers only ever see whole ones.
    key = "blobs/contended"
    versions = [os.urandom(PART_SIZE + 1000 * (i + 1)) for i in range(4)]
    writers = [
        asyncio.create_task(store.put_file(key, write_file(tmp_path / f"w{i}.bin", data)))
        for i, data in enumerate(versions)
    ]
    writers.append(asyncio.create_task(store.put_bytes(key, versions[0])))
    while not all(w.done() for w in writers):
        # One read, not stat then read: the version may change between two calls.
        with contextlib.suppress(ObjectNotFound):
            assert await store.get_bytes(key) in versions, "partial or mixed content"
        await asyncio.sleep(0.01)
    await asyncio.gather(*writers)
    final = await settled_state(store, key, versions)  # type: ignore[arg-type]
    assert final is not None
    info = await store.stat(key)
    assert info is not None and info.size == len(final)
    assert await store.read_range(key, len(final) - 10, 100) == final[-10:]
    assert await keys(store) == [key]


async def test_cancelled_put_file_leaves_old_or_whole_and_settles(store: ObjectStore, tmp_path: Path) -> None:
    key = "blobs/cancel"
    old = b"previous" * 100
    await store.put_bytes(key, old)
    new = os.urandom(3 * PART_SIZE)
    task = asyncio.create_task(store.put_file(key, write_file(tmp_path / "c.bin", new)))
    await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    first = await settled_state(store, key, [old, new])
    # Nothing keeps writing behind our back once the cancelled put has returned.
    await asyncio.sleep(0.3)
    assert await settled_state(store, key, [old, new]) == first
    assert await keys(store) == [key]


async def test_put_file_with_unreadable_source_changes_nothing(store: ObjectStore, tmp_path: Path) -> None:
    await store.put_bytes("k", b"keep me")
    with pytest.raises((OSError, StoreError)):
        await store.put_file("k", tmp_path / "does-not-exist")
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises((OSError, StoreError)):
        await store.put_file("k", directory)
    with pytest.raises((OSError, StoreError)):
        await store.put_file("fresh", tmp_path / "does-not-exist")
    assert await store.get_bytes("k") == b"keep me"
    assert await store.stat("fresh") is None
    assert await keys(store) == ["k"]


async def test_source_deleted_mid_put_gives_whole_object_or_none(store: ObjectStore, tmp_path: Path) -> None:
    key = "blobs/vanishing-source"
    data = os.urandom(2 * PART_SIZE + 1)
    source = write_file(tmp_path / "v.bin", data)
    task = asyncio.create_task(store.put_file(key, source))
    await asyncio.sleep(0.005)
    source.unlink(missing_ok=True)
    try:
        await task
    except OSError:
        # Deleted before the backend opened it: nothing may appear.
        assert await store.stat(key) is None
    else:
        # Deleted after it was opened: the open handle still reads every byte.
        assert await store.get_bytes(key) == data
    assert await settled_state(store, key, [None, data]) in (None, data)


async def test_deferred_puts_are_atomic_and_made_durable(store: ObjectStore) -> None:
    chunks = {f"blobs/{i:02d}": os.urandom(50_000) for i in range(5)}
    for key, data in chunks.items():
        await store.put_bytes_deferred(key, memoryview(data))
        assert await store.get_bytes(key) == data
    await store.make_durable(list(chunks))
    await store.make_durable([])
    assert await keys(store, "blobs/") == sorted(chunks)


# -- garbage-collection support ----------------------------------------------------------------


async def test_touch_refreshes_the_modification_time(store: ObjectStore) -> None:
    data = os.urandom(10_000)
    await store.put_bytes("blobs/used", data)
    before = await store.stat("blobs/used")
    assert before is not None
    path = store.local_path("blobs/used")
    if path is not None:
        os.utime(path, (before.modified - 3600, before.modified - 3600))  # age it instead of waiting
        before = await store.stat("blobs/used")
        assert before is not None
    else:
        await asyncio.sleep(1.1)  # S3 Last-Modified has one-second resolution
    await store.touch("blobs/used")
    after = await store.stat("blobs/used")
    assert after is not None and after.modified > before.modified
    assert await store.get_bytes("blobs/used") == data
    await store.touch("blobs/never-there")  # no error, and nothing created
    assert await keys(store) == ["blobs/used"]


async def test_cleanup_staging_spares_young_files(store: ObjectStore) -> None:
    old = write_file(store.staging_dir() / "put-old", b"abandoned")
    young = write_file(store.staging_dir() / "put-young", b"upload in progress")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert await store.cleanup_staging(older_than=600) == 1
    assert not old.exists() and young.exists()
    assert await store.cleanup_staging() == 1
    assert not young.exists()


# -- misc --------------------------------------------------------------------------------------


async def test_local_path_when_offered_holds_the_bytes(store: ObjectStore) -> None:
    await store.put_bytes("lp", b"zero copy")
    path = store.local_path("lp")
    if path is not None:
        assert path.read_bytes() == b"zero copy"
    assert store.local_path("missing-key") is None


async def test_ping(store: ObjectStore) -> None:
    assert await store.ping() is None  # answers without raising StoreUnavailable


async def test_put_bytes_if_absent_stores_only_a_new_key(store: ObjectStore) -> None:
    data = b"a chunk's bytes" * 1000
    digest = hashlib.sha256(data).hexdigest()
    assert await store.put_bytes_if_absent(f"blobs/{digest}", data, sha256=digest)
    assert not await store.put_bytes_if_absent(f"blobs/{digest}", b"never written", sha256=None)
    await store.make_durable([f"blobs/{digest}"])
    assert await store.get_bytes(f"blobs/{digest}") == data
    with pytest.raises(StoreError):
        await store.put_bytes_if_absent("../escape", data)


# -- objects written in parts (begin_upload) ---------------------------------------------------


def parts_of(data: bytes) -> list[tuple[int, int, memoryview]]:
    """(number, offset, bytes) of each part: PART_SIZE each (S3's smallest), the last one shorter."""
    view = memoryview(data)
    return [
        (number, offset, view[offset : offset + PART_SIZE])
        for number, offset in enumerate(range(0, len(data), PART_SIZE), start=1)
    ]


def staging_leftovers(store: ObjectStore) -> list[Path]:
    return sorted(store.staging_dir().iterdir())


async def assert_absent(store: ObjectStore, key: str) -> None:
    assert await store.stat(key) is None
    assert await keys(store) == []
    with pytest.raises(ObjectNotFound):
        await store.get_bytes(key)


async def test_parts_written_out_of_order_and_side_by_side_give_the_bytes_in_order(
    store: ObjectStore,
) -> None:
    key = "files/parts"
    data = os.urandom(3 * PART_SIZE + 4321)  # three full parts and a short last one
    parts = parts_of(data)
    order = [parts[i] for i in (3, 0, 2, 1)]
    upload = store.begin_upload(key)
    await asyncio.gather(*(upload.write_part(number, offset, view) for number, offset, view in order))
    await upload.complete()
    assert await store.get_bytes(key) == data
    info = await store.stat(key)
    assert info is not None and info.size == len(data)
    for offset in (PART_SIZE - 5, 2 * PART_SIZE - 1, 3 * PART_SIZE - 2):  # across part boundaries
        assert await store.read_range(key, offset, 10) == data[offset : offset + 10]
    assert await keys(store) == [key]
    assert staging_leftovers(store) == []
    # A completed upload takes nothing more.
    with pytest.raises(StoreError):
        await upload.write_part(5, 4 * PART_SIZE, memoryview(b"late"))
    with pytest.raises(StoreError):
        await upload.complete()
    assert await store.get_bytes(key) == data


async def test_a_single_short_part_is_a_whole_object(store: ObjectStore) -> None:
    # The last part may be shorter than S3's 5 MiB, also when it is the only one.
    data = os.urandom(1000)
    upload = store.begin_upload("files/small")
    await upload.write_part(1, 0, memoryview(data))
    await upload.complete()
    assert await store.get_bytes("files/small") == data


async def test_nothing_is_visible_under_the_key_before_complete(store: ObjectStore) -> None:
    key = "files/pending"
    data = os.urandom(2 * PART_SIZE + 100)
    upload = store.begin_upload(key)
    await assert_absent(store, key)
    for number, offset, view in parts_of(data):
        await upload.write_part(number, offset, view)
        await assert_absent(store, key)
        assert await keys(store, "files/") == []
    await upload.complete()
    assert await store.get_bytes(key) == data
    assert await keys(store) == [key]


async def test_abort_after_some_parts_leaves_nothing_and_can_be_repeated(store: ObjectStore) -> None:
    key = "files/aborted"
    data = os.urandom(3 * PART_SIZE + 1)
    upload = store.begin_upload(key)
    for number, offset, view in parts_of(data)[:2]:
        await upload.write_part(number, offset, view)
    await upload.abort()
    await upload.abort()
    await assert_absent(store, key)
    assert staging_leftovers(store) == []
    # An aborted upload is closed: it neither takes parts nor completes into an object.
    number, offset, view = parts_of(data)[2]
    with pytest.raises(StoreError):
        await upload.write_part(number, offset, view)
    with pytest.raises(StoreError):
        await upload.complete()
    await assert_absent(store, key)


async def test_abort_before_any_part_leaves_nothing(store: ObjectStore) -> None:
    upload = store.begin_upload("files/never-written")
    await upload.abort()
    await upload.abort()
    await assert_absent(store, "files/never-written")
    assert staging_leftovers(store) == []


async def test_abort_after_complete_keeps_the_object(store: ObjectStore) -> None:
    key = "files/kept"
    data = os.urandom(PART_SIZE + 7)
    upload = store.begin_upload(key)
    for number, offset, view in parts_of(data):
        await upload.write_part(number, offset, view)
    await upload.complete()
    await upload.abort()  # a caller's cleanup on its way out: a no-op now
    await upload.abort()
    assert await store.get_bytes(key) == data
    assert await keys(store) == [key]


@pytest.mark.parametrize(
    "numbers", [(1, 3), (2, 3), ()], ids=["gap-in-the-middle", "first-part-missing", "no-part-at-all"]
)
async def test_complete_with_missing_parts_fails_and_leaves_nothing(
    store: ObjectStore, numbers: tuple[int, ...]
) -> None:
    # The object would be the parts glued together: with a hole in the numbers, its bytes would be
    # wrong. S3 refuses an upload of no part at all, so every store does (a caller tested on the
    # filesystem must not find out in production).
    key = "files/holes"
    data = os.urandom(3 * PART_SIZE)
    parts = {number: (offset, view) for number, offset, view in parts_of(data)}
    upload = store.begin_upload(key)
    for number in numbers:
        offset, view = parts[number]
        await upload.write_part(number, offset, view)
    with pytest.raises(StoreError):
        await upload.complete()
    await assert_absent(store, key)
    await upload.abort()  # the caller's cleanup after a failed complete
    await assert_absent(store, key)
    assert staging_leftovers(store) == []


async def test_a_part_written_again_keeps_its_last_bytes(store: ObjectStore) -> None:
    # A caller retries a part whose write failed (an outage): the retry's bytes are the part.
    key = "files/retried"
    data = os.urandom(2 * PART_SIZE + 3)
    upload = store.begin_upload(key)
    for number, offset, view in parts_of(data):
        await upload.write_part(number, offset, memoryview(os.urandom(len(view))))
    number, offset, view = parts_of(data)[1]
    await upload.write_part(number, offset, view)
    for number, offset, view in parts_of(data)[::2]:
        await upload.write_part(number, offset, view)
    await upload.complete()
    assert await store.get_bytes(key) == data


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../x", "a/../b", "trailing/", ".staging/x"])
async def test_upload_under_an_invalid_key_is_refused_and_leaves_nothing(
    store: ObjectStore, key: str
) -> None:
    # Refused at begin_upload (S3) or at the latest at complete (a staged upload checks the key when
    # it stores the file), never stored, and the caller's abort clears what was staged.
    with pytest.raises(StoreError):
        upload = store.begin_upload(key)
        try:
            await upload.write_part(1, 0, memoryview(b"parts under a key no store takes"))
            await upload.complete()
        finally:
            await upload.abort()
    assert await keys(store) == []
    assert staging_leftovers(store) == []


async def test_upload_onto_an_existing_key_replaces_it_only_at_complete(store: ObjectStore) -> None:
    key = "files/replaced"
    old = os.urandom(PART_SIZE + 999)
    new = os.urandom(2 * PART_SIZE + 5)
    await store.put_bytes(key, old)
    upload = store.begin_upload(key)
    for number, offset, view in parts_of(new):
        await upload.write_part(number, offset, view)
        # Readers keep seeing the old object, whole, until the new one is complete.
        assert await store.get_bytes(key) == old
        info = await store.stat(key)
        assert info is not None and info.size == len(old)
        assert await store.read_range(key, PART_SIZE, 2000) == old[PART_SIZE:]
    await upload.complete()
    assert await store.get_bytes(key) == new
    assert await keys(store) == [key]


async def test_aborted_overwrite_keeps_the_old_object(store: ObjectStore) -> None:
    key = "files/survivor"
    old = b"the version readers have" * 100
    await store.put_bytes(key, old)
    upload = store.begin_upload(key)
    data = os.urandom(2 * PART_SIZE)
    for number, offset, view in parts_of(data):
        await upload.write_part(number, offset, view)
    await upload.abort()
    assert await store.get_bytes(key) == old
    assert await keys(store) == [key]


async def test_abort_while_parts_are_in_flight_leaves_nothing(store: ObjectStore) -> None:
    # A caller whose client went away aborts while other parts are still being written: nothing may
    # appear, and nothing may be left behind by a part that lands after the abort.
    key = "files/raced"
    data = os.urandom(4 * PART_SIZE)
    upload = store.begin_upload(key)
    writes = [
        asyncio.create_task(upload.write_part(number, offset, view))
        for number, offset, view in parts_of(data)
    ]
    await asyncio.sleep(0)  # the writes have started
    await upload.abort()
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    for outcome in outcomes:
        assert outcome is None or isinstance(outcome, (StoreError, OSError)), repr(outcome)
    with pytest.raises(StoreError):
        await upload.complete()
    await asyncio.sleep(0.2)  # nothing still writing behind our back
    await assert_absent(store, key)
    assert staging_leftovers(store) == []


async def test_staged_abort_waits_for_parts_in_flight_and_never_writes_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The staged upload every store inherits writes parts with pwrite on one descriptor. An abort
    # that closed it under a part still being written would free its number for the next file the
    # process opens (another upload's staging file, a chunk), and the late part would land there.
    store = FilesystemStore(tmp_path / "data")
    gate = threading.Event()
    started = threading.Event()
    writing: list[int] = []
    unguarded = base._pwrite_all

    def gated_pwrite(fd: int, data: memoryview, offset: int) -> None:
        writing.append(fd)
        started.set()
        gate.wait(30)  # the part is in flight, held between its start and its write
        unguarded(fd, data, offset)

    monkeypatch.setattr(base, "_pwrite_all", gated_pwrite)
    victims: list[tuple[Path, int]] = []
    try:
        upload = store.begin_upload("files/held")
        part = asyncio.create_task(upload.write_part(1, 0, memoryview(b"P" * PART_SIZE)))
        assert await asyncio.to_thread(started.wait, 10)
        aborting = asyncio.create_task(upload.abort())
        await asyncio.sleep(0.1)
        # Files opened while the part is held: the process's next descriptors.
        for i in range(32):
            path = tmp_path / f"victim-{i}"
            path.write_bytes(b"")
            fd = os.open(path, os.O_RDWR)
            os.write(fd, b"someone else's bytes")
            victims.append((path, fd))
            if fd == writing[0]:
                break
        gate.set()
        with contextlib.suppress(StoreError, OSError):
            await part
        await aborting
        for path, _ in victims:
            assert path.read_bytes() == b"someone else's bytes", f"a late part was written into {path.name}"
        assert await store.stat("files/held") is None
        assert staging_leftovers(store) == []
    finally:
        gate.set()
        for _, fd in victims:
            os.close(fd)
        await store.close()


async def test_iter_range_of_a_large_object_written_in_parts(store: ObjectStore) -> None:
    key = "files/large"
    data = os.urandom(2 * PART_SIZE + 777)
    upload = store.begin_upload(key)
    await asyncio.gather(*(upload.write_part(n, offset, view) for n, offset, view in parts_of(data)))
    await upload.complete()
    size = len(data)
    cases = [
        (0, size - 1, MiB),  # the whole object
        (PART_SIZE - 3, PART_SIZE + 3, MiB),  # across a part boundary
        (1, 7 * MiB, MiB + 1),  # blocks that do not divide the range
        (size - 1, size - 1, MiB),  # the last byte
        (0, 0, MiB),  # the first byte
        (12345, 3 * MiB, 64 * 1024),  # many small blocks
    ]
    for start, end, block in cases:
        blocks = [bytes(b) async for b in store.iter_range(key, start, end, block)]
        assert b"".join(blocks) == data[start : end + 1], (start, end, block)
        assert all(0 < len(b) <= block for b in blocks), (start, end, block)
    # A range past the end of the object: an error, and any bytes sent before it are the right ones.
    for start, end in (
        (size - 10, size + 10),
        (size - 2 * MiB, size),
        (size, size + 5),
        (size + MiB, size + 2 * MiB),
    ):
        received = []
        with pytest.raises(OSError):
            async for block in store.iter_range(key, start, end, MiB):
                received.append(bytes(block))
        assert data[start:].startswith(b"".join(received)), (start, end)
    with pytest.raises(ObjectNotFound):
        [b async for b in store.iter_range("files/missing", 0, 10, MiB)]


async def test_iter_range_stopped_early_leaves_the_store_working(store: ObjectStore) -> None:
    # A download whose client went away: the consumer stops after one block of a 20 MiB range and
    # closes the iterator. What it leaves behind (S3: a half-read response) must not spoil later reads.
    key = "files/abandoned"
    data = os.urandom(20 * MiB)
    await store.put_bytes(key, data)
    await store.put_bytes("small", b"read after the abandoned download")
    for round_ in range(3):
        start = round_ * 1000
        blocks = store.iter_range(key, start, len(data) - 1, MiB)
        async for first in blocks:
            assert bytes(first) == data[start : start + len(first)]
            break
        await blocks.aclose()
        assert await store.get_bytes("small") == b"read after the abandoned download"
        assert await store.read_range(key, 5 * MiB, 100) == data[5 * MiB : 5 * MiB + 100]
    assert await store.get_bytes(key) == data
    assert b"".join([bytes(b) async for b in store.iter_range(key, 0, len(data) - 1, MiB)]) == data
