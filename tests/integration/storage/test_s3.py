"""What only the S3 backend has: an endpoint that can go away, multipart uploads to abort, credentials,
a bucket to create, settings. Every test talks to a real MinIO server; the ones that take it away
start their own."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from torrent_gateway.config import StorageSettings
from torrent_gateway.storage import open_store
from torrent_gateway.storage.base import ObjectStore, StoreError, StoreUnavailable
from torrent_gateway.storage.s3 import S3Store, _AbortableReader

from tests.support.minio import MinioServer, run_minio_server
from tests.support.servers import free_port

from .conftest import PART_SIZE, make_s3_store

# A stopped endpoint must fail fast enough for a readiness probe or a 503, never hang.
FAIL_FAST = 3.0


def pending_uploads(server: MinioServer, bucket: str, key: str) -> list[dict[str, Any]]:
    """Multipart uploads begun and neither completed nor aborted (MinIO lists them per object key)."""
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{server.endpoint}",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
    )
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get(
        "Uploads", []
    )
    return uploads


async def assert_multipart_object(
    server: MinioServer, store: S3Store, key: str, data: bytes, *, parts: int
) -> None:
    """``key`` holds ``data`` whole, completed on the server from ``parts`` parts, none left pending."""
    # S3 marks an object completed from N parts with an ETag ending in "-N".
    stat = server.client().stat_object(store.bucket, key)
    assert stat.etag.endswith(f"-{parts}"), stat.etag
    assert stat.size == len(data)
    assert await store.get_bytes(key) == data
    assert pending_uploads(server, store.bucket, key) == []


async def assert_unavailable_fast(call: Callable[[], Awaitable[Any]]) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await call()
    assert time.monotonic() - started < FAIL_FAST


async def test_stopped_endpoint_fails_fast_and_recovers(tmp_path: Path) -> None:
    with run_minio_server() as server:
        store = make_s3_store(server, tmp_path)
        try:
            await store.put_bytes("a/kept", b"before the outage")
            source = store.staging_dir() / "during"
            source.write_bytes(b"x" * 1000)

            server.stop()
            await assert_unavailable_fast(store.ping)
            await assert_unavailable_fast(lambda: store.stat("a/kept"))
            await assert_unavailable_fast(lambda: store.get_bytes("a/kept"))
            await assert_unavailable_fast(lambda: store.read_range("a/kept", 0, 5))
            await assert_unavailable_fast(lambda: store.put_bytes("a/new", b"lost"))
            await assert_unavailable_fast(lambda: store.put_file("a/file", source))
            await assert_unavailable_fast(lambda: store.delete("a/kept"))
            await assert_unavailable_fast(lambda: _drain(store))

            server.start()
            # The same store object works again: no restart of the gateway needed.
            await store.ping()
            assert await store.get_bytes("a/kept") == b"before the outage"
            await store.put_bytes("a/new", b"after")
            assert [key async for key in store.list("a/")] == ["a/kept", "a/new"]
        finally:
            await store.close()


async def _drain(store: ObjectStore) -> list[str]:
    return [key async for key in store.list()]


async def test_unreachable_endpoint_from_the_start(tmp_path: Path) -> None:
    store = S3Store(f"127.0.0.1:{free_port()}", "never-there", "k", "s", cache_dir=tmp_path)
    try:
        await assert_unavailable_fast(store.ping)
        await assert_unavailable_fast(lambda: store.get_bytes("x"))
    finally:
        await store.close()


async def test_endpoint_that_never_answers_fails_the_probe_fast(tmp_path: Path) -> None:
    # A listening socket nobody accepts from: connections complete (backlog), no byte ever comes back.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        store = S3Store(f"127.0.0.1:{port}", "silent-bucket", "k", "s", cache_dir=tmp_path, probe_timeout=1.0)
        try:
            await assert_unavailable_fast(store.ping)
        finally:
            await store.close()


async def test_bucket_is_created_lazily(minio_server: MinioServer, tmp_path: Path) -> None:
    store = make_s3_store(minio_server, tmp_path)
    try:
        await store.ping()
        assert minio_server.client().bucket_exists(store.bucket)
        # A second store on the same bucket (another replica) finds it and does not fail.
        twin = S3Store(
            minio_server.endpoint,
            store.bucket,
            minio_server.access_key,
            minio_server.secret_key,
            cache_dir=tmp_path / "t",
        )
        await twin.put_bytes("k", b"v")
        assert await store.get_bytes("k") == b"v"
        await twin.close()
    finally:
        await store.close()


async def test_source_error_mid_upload_aborts_the_multipart_upload(
    minio_server: MinioServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_s3_store(minio_server, tmp_path)
    served = 0

    original = _AbortableReader.read

    def failing_read(self: _AbortableReader, size: int = -1) -> bytes:
        nonlocal served
        if served >= PART_SIZE + 1:
            raise OSError("disk read error")
        block = original(self, size)
        served += len(block)
        return block

    monkeypatch.setattr(_AbortableReader, "read", failing_read)
    source = store.staging_dir() / "broken"
    source.write_bytes(os.urandom(3 * PART_SIZE))
    try:
        with pytest.raises(OSError, match="disk read error"):
            await store.put_file("blobs/broken", source)
        assert await store.stat("blobs/broken") is None
        assert pending_uploads(minio_server, store.bucket, "blobs/broken") == []
        assert not source.exists()
    finally:
        await store.close()


async def test_cancelled_put_aborts_and_leaves_nothing(
    minio_server: MinioServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _AbortableReader.read

    def slow_read(self: _AbortableReader, size: int = -1) -> bytes:
        # Slow the source so the cancellation always lands mid-upload, however fast the machine.
        time.sleep(0.05)
        return original(self, size)

    monkeypatch.setattr(_AbortableReader, "read", slow_read)
    store = make_s3_store(minio_server, tmp_path)
    try:
        await store.ensure_bucket()
        source = store.staging_dir() / "big"
        source.write_bytes(os.urandom(4 * PART_SIZE))
        task = asyncio.create_task(store.put_file("blobs/cancelled", source))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The upload thread has stopped and aborted before the cancellation returned.
        assert await store.stat("blobs/cancelled") is None
        assert pending_uploads(minio_server, store.bucket, "blobs/cancelled") == []
        assert not source.exists()
    finally:
        await store.close()


async def test_from_settings_and_open_store(minio_server: MinioServer, tmp_path: Path) -> None:
    settings = StorageSettings.model_validate(
        {
            "backend": "s3",
            "s3": {
                "endpoint": f"http://{minio_server.endpoint}",
                "bucket": "tgw-settings",
                "access_key": minio_server.access_key,
                "secret_key": minio_server.secret_key,
                "cache_dir": str(tmp_path / "cache"),
            },
        }
    )
    store = open_store(settings)
    try:
        assert isinstance(store, S3Store)
        assert store.endpoint == minio_server.endpoint
        assert store.staging_dir().is_relative_to(tmp_path / "cache")
        await store.put_bytes("k", b"v")
        assert await store.get_bytes("k") == b"v"
    finally:
        await store.close()


def test_invalid_bucket_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="bucket"):
        S3Store("127.0.0.1:9", "x", "k", "s", cache_dir=tmp_path)


# -- what MinIO, the server users run, shows -------------------------------------------------------


async def test_large_objects_are_multipart_uploads_on_the_server(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    store = make_s3_store(minio_server, tmp_path)
    data = os.urandom(3 * PART_SIZE + 777)
    source = store.staging_dir() / "large"
    source.write_bytes(data)
    try:
        await store.put_file("chunks/large", source)
        await assert_multipart_object(minio_server, store, "chunks/large", data, parts=4)
    finally:
        await store.close()


async def test_wrong_credentials_are_a_clear_error_not_an_outage(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    for access_key, secret_key in (
        ("no-such-user", minio_server.secret_key),  # InvalidAccessKeyId
        (minio_server.access_key, "not-the-secret-key"),  # SignatureDoesNotMatch
    ):
        store = S3Store(minio_server.endpoint, "tgw-creds", access_key, secret_key, cache_dir=tmp_path)
        try:
            with pytest.raises(StoreError, match="refuses our credentials") as raised:
                await store.ping()
            # Not "unavailable": waiting for the store to come back would never help.
            assert not isinstance(raised.value, StoreUnavailable)
            assert "storage.s3.access_key" in str(raised.value)
            assert minio_server.secret_key not in str(raised.value)
        finally:
            await store.close()


def test_component_with_wrong_credentials_stops_at_start(minio_server: MinioServer, tmp_path: Path) -> None:
    # The component refuses to start with a message naming the settings, rather than answering
    # /healthz and failing the first upload.
    env = {
        **os.environ,
        "TGW_CONFIG": str(tmp_path / "absent.yaml"),
        "TGW_STORAGE__BACKEND": "s3",
        "TGW_STORAGE__S3__ENDPOINT": minio_server.endpoint,
        "TGW_STORAGE__S3__BUCKET": "tgw-wrong-creds",
        "TGW_STORAGE__S3__ACCESS_KEY": minio_server.access_key,
        "TGW_STORAGE__S3__SECRET_KEY": "wrong-secret-key",
        "TGW_STORAGE__S3__CACHE_DIR": str(tmp_path / "cache"),
        "TGW_BLOSSOM__HOST": "127.0.0.1",
        "TGW_BLOSSOM__PORT": str(free_port()),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "torrent_gateway.cli", "blossom"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "refuses our credentials" in result.stderr
    assert "storage.s3.secret_key" in result.stderr
    assert "wrong-secret-key" not in result.stderr
    assert time.monotonic() - started < 30
    assert not minio_server.client().bucket_exists("tgw-wrong-creds")


async def test_minio_killed_mid_upload_fails_cleanly_and_a_retry_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _AbortableReader.read
    reading = threading.Event()

    def slow_read(self: _AbortableReader, size: int = -1) -> bytes:
        # Slow the source so MinIO always dies with parts still to send, however fast the machine
        # and however many parts the SDK reads at once: each read takes half a second.
        reading.set()
        time.sleep(0.5)
        return original(self, size)

    with run_minio_server() as server:
        store = make_s3_store(server, tmp_path)
        try:
            await store.put_bytes("blobs/other", b"stored before the crash")
            data = os.urandom(6 * PART_SIZE)
            source = store.staging_dir() / "interrupted"
            source.write_bytes(data)
            monkeypatch.setattr(_AbortableReader, "read", slow_read)
            upload = asyncio.create_task(store.put_file("blobs/interrupted", source))
            for _ in range(1000):  # the upload has started reading its source (at most 10 s)
                if reading.is_set():
                    break
                await asyncio.sleep(0.01)
            assert reading.is_set() and not upload.done()
            server.kill()
            with pytest.raises(StoreError):
                await asyncio.wait_for(upload, 60)
            server.start()
            monkeypatch.setattr(_AbortableReader, "read", original)
            # Nothing half-visible: no object under the key, nothing in the listing.
            assert await store.stat("blobs/interrupted") is None
            assert [key async for key in store.list()] == ["blobs/other"]
            # The caller retries from its own copy of the bytes (the store consumed the staged file).
            assert not source.exists()
            source.write_bytes(data)
            await store.put_file("blobs/interrupted", source)
            assert await store.get_bytes("blobs/interrupted") == data
            assert await store.get_bytes("blobs/other") == b"stored before the crash"
        finally:
            await store.close()


async def test_missing_bucket_is_created_by_the_first_operation(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    store = make_s3_store(minio_server, tmp_path)
    try:
        assert not minio_server.client().bucket_exists(store.bucket)
        await store.put_bytes("first", b"into a bucket that did not exist")
        assert minio_server.client().bucket_exists(store.bucket)
        # Deleted behind our back (an operator wiping the bucket): ping notices and creates it again.
        minio_server.client().remove_object(store.bucket, "first")
        minio_server.client().remove_bucket(store.bucket)
        await store.ping()
        assert minio_server.client().bucket_exists(store.bucket)
        await store.put_bytes("second", b"again")
        assert await store.get_bytes("second") == b"again"
    finally:
        await store.close()


async def test_known_sha256_is_the_signed_payload_hash_and_s3_checks_it(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    # put_bytes with the caller's digest sends it as the signed x-amz-content-sha256 instead of
    # hashing again: MinIO stores matching bytes and refuses others, leaving what was there before.
    store = make_s3_store(minio_server, tmp_path)
    try:
        data = os.urandom(2 * 1024 * 1024 + 17)
        digest = hashlib.sha256(data).hexdigest()
        await store.put_bytes_deferred(f"blobs/{digest}", memoryview(data), sha256=digest)
        assert await store.get_bytes(f"blobs/{digest}") == data

        with pytest.raises(StoreError, match="XAmzContentSHA256Mismatch"):
            await store.put_bytes("blobs/wrong", data, sha256=hashlib.sha256(b"other bytes").hexdigest())
        assert await store.stat("blobs/wrong") is None
        with pytest.raises(StoreError, match="XAmzContentSHA256Mismatch"):
            await store.put_bytes(f"blobs/{digest}", b"not those bytes", sha256=digest)
        assert await store.get_bytes(f"blobs/{digest}") == data

        with pytest.raises(ValueError):
            await store.put_bytes("blobs/x", data, sha256="ABC")
    finally:
        await store.close()


@pytest.mark.parametrize("key", ["dir/with space+plus", "tilde~and%25percent", "unicode/é-名前", "a=b&c;d"])
async def test_keys_that_need_escaping_round_trip(
    minio_server: MinioServer, tmp_path: Path, key: str
) -> None:
    # The signed PUT builds its own URL: a key must mean the same object there and through the SDK.
    store = make_s3_store(minio_server, tmp_path)
    try:
        await store.put_bytes(key, key.encode())
        assert await store.get_bytes(key) == key.encode()
        assert [k async for k in store.list()] == [key]
        assert await store.delete(key)
    finally:
        await store.close()


async def test_requests_after_a_refusal_or_a_missing_key_are_sent_once(
    minio_server: MinioServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # One pooled connection, so each request reuses the one before it. A response left unread on
    # it made urllib3 fail the next request and retry it: the next chunk's body crossed twice.
    store = make_s3_store(minio_server, tmp_path, pool_size=1)
    try:
        await store.ensure_bucket()
        caplog.set_level(logging.DEBUG, logger="urllib3")
        data = os.urandom(256 * 1024)
        digest = hashlib.sha256(data).hexdigest()
        with pytest.raises(StoreError):
            await store.put_bytes("blobs/refused", data, sha256=hashlib.sha256(b"").hexdigest())
        assert await store.put_bytes_if_absent(f"blobs/{digest}", data, sha256=digest)  # HEAD 404, PUT
        assert not await store.put_bytes_if_absent(f"blobs/{digest}", data, sha256=digest)  # HEAD 200
        await store.put_bytes("after", b"the connection is still good")
        assert await store.get_bytes(f"blobs/{digest}") == data
        sent = [r.getMessage() for r in caplog.records if '"PUT ' in r.getMessage()]
        assert len(sent) == 3, sent  # the refused one, the chunk, "after"
        assert not [r for r in caplog.records if "Retrying" in r.getMessage()]
    finally:
        await store.close()


async def test_chunk_writes_with_wrong_credentials_are_a_configuration_error(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    # The HEAD before a chunk's PUT is answered 403 without a document: that is a refusal, not an
    # outage, so callers do not wait for a store that will never accept these credentials.
    good = make_s3_store(minio_server, tmp_path)
    await good.ensure_bucket()
    store = S3Store(minio_server.endpoint, good.bucket, minio_server.access_key, "not-the-secret-key")
    try:
        store._bucket_ready = True  # the bucket exists; go straight to the chunk write
        with pytest.raises(StoreError, match="AccessDenied") as raised:
            await store.put_bytes_if_absent("blobs/x", b"data")
        assert not isinstance(raised.value, StoreUnavailable)
        with pytest.raises(StoreError, match="SignatureDoesNotMatch") as raised:
            await store.put_bytes("blobs/x", b"data")
        assert not isinstance(raised.value, StoreUnavailable)
    finally:
        await store.close()
        await good.close()


# -- objects written in parts, and the streamed range read ------------------------------------------


def parts_of(data: bytes, size: int = PART_SIZE) -> list[tuple[int, int, memoryview]]:
    """(number, offset, bytes) of each part of ``data``, ``size`` bytes each but the last."""
    view = memoryview(data)
    return [
        (number, offset, view[offset : offset + size])
        for number, offset in enumerate(range(0, len(data), size), start=1)
    ]


def urllib3_requests(caplog: pytest.LogCaptureFixture, method: str) -> list[str]:
    """Requests urllib3 sent on the wire (it logs one line per request, retries included)."""
    return [r.getMessage() for r in caplog.records if f'"{method} ' in r.getMessage()]


def connections_holding_unread_bytes(port: int) -> list[str]:
    """Our ESTABLISHED TCP connections to 127.0.0.1:``port`` whose receive queue is not empty: a
    response body nobody reads, left on a connection that is still open."""
    held = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        state = fields[3]
        receive_queue = int(fields[4].split(":")[1], 16)
        if remote_port == port and state == "01" and receive_queue > 0:
            held.append(line.strip())
    return held


async def test_aborted_upload_leaves_no_multipart_upload_on_the_server(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    store = make_s3_store(minio_server, tmp_path)
    try:
        data = os.urandom(2 * PART_SIZE + 10)
        upload = store.begin_upload("files/aborted")
        for number, offset, view in parts_of(data)[:2]:
            await upload.write_part(number, offset, view)
        assert len(pending_uploads(minio_server, store.bucket, "files/aborted")) == 1
        await upload.abort()
        assert pending_uploads(minio_server, store.bucket, "files/aborted") == []
        await upload.abort()  # again: no request to fail on an upload the server no longer has

        # A complete refused for a gap in the part numbers, then the caller's abort: nothing pending.
        gapped = store.begin_upload("files/gapped")
        await gapped.write_part(1, 0, parts_of(data)[0][2])
        await gapped.write_part(3, 2 * PART_SIZE, parts_of(data)[2][2])
        with pytest.raises(StoreError):
            await gapped.complete()
        await gapped.abort()
        assert pending_uploads(minio_server, store.bucket, "files/") == []
        assert await store.stat("files/gapped") is None
    finally:
        await store.close()


async def test_abort_racing_parts_in_flight_leaves_no_multipart_upload(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    # A part that lands after the abort must not leave an upload (and its parts' storage) behind.
    store = make_s3_store(minio_server, tmp_path)
    try:
        data = os.urandom(4 * PART_SIZE)
        for delay in (0.0, 0.05):
            key = f"files/raced-{delay}"
            upload = store.begin_upload(key)
            writes = [
                asyncio.create_task(upload.write_part(number, offset, view))
                for number, offset, view in parts_of(data)
            ]
            await asyncio.sleep(delay)  # before the upload exists, then while parts are on the wire
            await upload.abort()
            for outcome in await asyncio.gather(*writes, return_exceptions=True):
                assert outcome is None or isinstance(outcome, StoreError), repr(outcome)
            assert pending_uploads(minio_server, store.bucket, key) == []
            assert await store.stat(key) is None
    finally:
        await store.close()


async def test_parts_are_one_multipart_object_on_the_server(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    store = make_s3_store(minio_server, tmp_path)
    try:
        data = os.urandom(2 * PART_SIZE + 4321)
        upload = store.begin_upload("files/whole")
        await asyncio.gather(*(upload.write_part(n, offset, view) for n, offset, view in parts_of(data)))
        await upload.complete()
        await assert_multipart_object(minio_server, store, "files/whole", data, parts=3)
    finally:
        await store.close()


async def test_parts_smaller_than_s3_allows_are_refused_at_complete(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    # A caller that cuts parts below 5 MiB learns it from complete, as a refusal (retrying will not
    # help), not as an outage; its abort leaves nothing.
    store = make_s3_store(minio_server, tmp_path)
    try:
        data = os.urandom(3 * 1024 * 1024)
        upload = store.begin_upload("files/too-small")
        for number, offset, view in parts_of(data, 1024 * 1024):
            await upload.write_part(number, offset, view)
        with pytest.raises(StoreError, match="EntityTooSmall") as raised:
            await upload.complete()
        assert not isinstance(raised.value, StoreUnavailable)
        assert await store.stat("files/too-small") is None
        await upload.abort()
        assert pending_uploads(minio_server, store.bucket, "files/too-small") == []
    finally:
        await store.close()


async def test_minio_stopped_mid_upload_fails_the_part_fast_and_a_new_upload_works(tmp_path: Path) -> None:
    with run_minio_server() as server:
        store = make_s3_store(server, tmp_path)
        try:
            data = os.urandom(2 * PART_SIZE + 99)
            parts = parts_of(data)
            interrupted = store.begin_upload("files/interrupted")
            await interrupted.write_part(*parts[0])

            server.stop()
            await assert_unavailable_fast(lambda: interrupted.write_part(*parts[1]))

            server.start()
            # The same store object uploads again once MinIO is back.
            retry = store.begin_upload("files/interrupted")
            await asyncio.gather(*(retry.write_part(*part) for part in parts))
            await retry.complete()
            assert await store.get_bytes("files/interrupted") == data
            # The interrupted upload survived the restart on the server; its abort removes it.
            assert len(pending_uploads(server, store.bucket, "files/interrupted")) == 1
            await interrupted.abort()
            assert pending_uploads(server, store.bucket, "files/interrupted") == []
            assert await store.get_bytes("files/interrupted") == data
        finally:
            await store.close()


async def test_abort_refused_by_an_outage_can_be_repeated_once_s3_is_back(tmp_path: Path) -> None:
    # The caller's cleanup runs during the outage that broke its upload: the abort cannot reach S3 and
    # says so; repeated later, it must still remove the upload (S3 keeps, and bills, its parts until
    # someone does).
    with run_minio_server() as server:
        store = make_s3_store(server, tmp_path)
        try:
            upload = store.begin_upload("files/orphan")
            await upload.write_part(1, 0, memoryview(os.urandom(PART_SIZE)))
            server.stop()
            await assert_unavailable_fast(upload.abort)
            server.start()
            await upload.abort()
            assert pending_uploads(server, store.bucket, "files/orphan") == []
            assert await store.stat("files/orphan") is None
        finally:
            await store.close()


async def test_iter_range_is_one_ranged_get(
    minio_server: MinioServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The base class's default is a GET per block: 16 here, each paying S3's fixed cost per request.
    store = make_s3_store(minio_server, tmp_path)
    try:
        data = os.urandom(16 * 1024 * 1024 + 5)
        await store.put_bytes("files/streamed", data)
        caplog.set_level(logging.DEBUG, logger="urllib3")
        caplog.clear()
        blocks = [
            bytes(b) async for b in store.iter_range("files/streamed", 3, 16 * 1024 * 1024 + 2, 1024 * 1024)
        ]
        assert b"".join(blocks) == data[3 : 16 * 1024 * 1024 + 3]
        assert len(blocks) == 16 and all(len(b) == 1024 * 1024 for b in blocks)
        gets = urllib3_requests(caplog, "GET")
        assert len(gets) == 1, gets
        assert " 206 " in gets[0], gets[0]
        assert not [r for r in caplog.records if "Retrying" in r.getMessage()]
    finally:
        await store.close()


async def stop_after_the_first_block(store: ObjectStore, key: str, size: int, how: str) -> bytes:
    """Read the first block of a range of ``size`` bytes, then give up as a download does: the
    consumer closes the iterator, or its task is cancelled (a client gone) and leaves it to asyncio."""
    blocks = store.iter_range(key, 0, size - 1, 1024 * 1024)
    if how == "aclose":
        first = await anext(aiter(blocks))
        await blocks.aclose()
        return bytes(first)
    received: list[bytes] = []
    got_first = asyncio.Event()

    async def stalled_client(blocks: AsyncIterator[bytes | memoryview]) -> None:
        async for block in blocks:
            received.append(bytes(block))
            got_first.set()
            await asyncio.sleep(3600)  # stops reading; the server cancels it

    # Only the consumer holds the iterator, as in a streamed response.
    consumer = asyncio.create_task(stalled_client(blocks))
    del blocks
    await got_first.wait()
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    return received[0]


@pytest.mark.parametrize("how", ["aclose", "cancelled"])
async def test_iter_range_stopped_early_closes_its_connection(
    minio_server: MinioServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    # One pooled connection, so the request after an abandoned download would take the connection it
    # left. With the rest of a 20 MiB body unread on it, that request would read body bytes as its
    # answer (urllib3 then retries, or a response is wrong): the connection must be closed instead.
    store = make_s3_store(minio_server, tmp_path, pool_size=1)
    try:
        data = os.urandom(20 * 1024 * 1024)
        await store.put_bytes("files/abandoned", data)
        await store.put_bytes("small", b"read next")
        first = await stop_after_the_first_block(store, "files/abandoned", len(data), how)
        assert first == data[: len(first)]
        await asyncio.sleep(0.3)  # time for MinIO's bytes to reach a connection that stayed open
        assert connections_holding_unread_bytes(minio_server.port) == []

        caplog.set_level(logging.DEBUG, logger="urllib3")
        caplog.clear()
        assert await store.get_bytes("small") == b"read next"
        assert not [r for r in caplog.records if "Retrying" in r.getMessage()]

        # A range read to its end leaves its connection clean, and the next request reuses it.
        assert (
            b"".join([bytes(b) async for b in store.iter_range("files/abandoned", 0, 99, 64)]) == data[:100]
        )
        caplog.clear()
        assert await store.get_bytes("small") == b"read next"
        assert not [r for r in caplog.records if "Starting new HTTP connection" in r.getMessage()]
        assert len(urllib3_requests(caplog, "GET")) == 1
    finally:
        await store.close()
