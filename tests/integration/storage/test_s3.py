"""What only the S3 backend has: an endpoint that can go away, multipart uploads to abort, settings."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from torrent_gateway.config import StorageSettings
from torrent_gateway.storage import open_store
from torrent_gateway.storage.base import ObjectStore, StoreError, StoreUnavailable
from torrent_gateway.storage.s3 import S3Store, _AbortableReader

from tests.support.servers import S3Server, free_port, run_s3_server

from .conftest import PART_SIZE, make_s3_store

# A stopped endpoint must fail fast enough for a readiness probe or a 503, never hang.
FAIL_FAST = 3.0


def pending_uploads(server: S3Server, bucket: str) -> list[dict[str, Any]]:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{server.endpoint}",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
    )
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


async def assert_unavailable_fast(call: Callable[[], Awaitable[Any]]) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await call()
    assert time.monotonic() - started < FAIL_FAST


async def test_stopped_endpoint_fails_fast_and_recovers(tmp_path: Path) -> None:
    with run_s3_server() as server:
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


async def test_bucket_is_created_lazily(s3_server: S3Server, tmp_path: Path) -> None:
    store = make_s3_store(s3_server, tmp_path)
    try:
        await store.ping()
        assert pending_uploads(s3_server, store.bucket) == []  # the bucket exists now
        # A second store on the same bucket (another replica) finds it and does not fail.
        twin = S3Store(
            s3_server.endpoint,
            store.bucket,
            s3_server.access_key,
            s3_server.secret_key,
            cache_dir=tmp_path / "t",
        )
        await twin.put_bytes("k", b"v")
        assert await store.get_bytes("k") == b"v"
        await twin.close()
    finally:
        await store.close()


async def test_source_error_mid_upload_aborts_the_multipart_upload(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_s3_store(s3_server, tmp_path)
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
        assert pending_uploads(s3_server, store.bucket) == []
        assert not source.exists()
    finally:
        await store.close()


async def test_cancelled_put_aborts_and_leaves_nothing(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _AbortableReader.read

    def slow_read(self: _AbortableReader, size: int = -1) -> bytes:
        # Slow the source so the cancellation always lands mid-upload, however fast the machine.
        time.sleep(0.05)
        return original(self, size)

    monkeypatch.setattr(_AbortableReader, "read", slow_read)
    store = make_s3_store(s3_server, tmp_path)
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
        assert pending_uploads(s3_server, store.bucket) == []
        assert not source.exists()
    finally:
        await store.close()


async def test_from_settings_and_open_store(s3_server: S3Server, tmp_path: Path) -> None:
    settings = StorageSettings.model_validate(
        {
            "backend": "s3",
            "s3": {
                "endpoint": f"http://{s3_server.endpoint}",
                "bucket": "tgw-settings",
                "access_key": s3_server.access_key,
                "secret_key": s3_server.secret_key,
                "cache_dir": str(tmp_path / "cache"),
            },
        }
    )
    store = open_store(settings)
    try:
        assert isinstance(store, S3Store)
        assert store.endpoint == s3_server.endpoint
        assert store.staging_dir().is_relative_to(tmp_path / "cache")
        await store.put_bytes("k", b"v")
        assert await store.get_bytes("k") == b"v"
    finally:
        await store.close()


def test_invalid_bucket_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="bucket"):
        S3Store("127.0.0.1:9", "x", "k", "s", cache_dir=tmp_path)
