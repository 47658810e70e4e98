"""A large file on S3 is one object written in parts (``data/<id>``), not an object per chunk.

Checked on a real gateway (the serve composition) over a real MinIO: the upload leaves exactly one
object of the file's size and no chunk blobs; downloads, ranges across chunk boundaries and
multi-range answers are byte-exact; each chunk is still a Blossom blob; the same bytes uploaded
again leave no second object and no pending multipart upload; an upload cut off mid-body leaves
nothing; deleting the file removes its object; the garbage collector removes an object no manifest
names and keeps the ones that are named, and aborts the multipart upload of a writer that died
(from the record each upload keeps in the state store while it runs); files stored chunk by chunk
before this layout still read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from torrent_gateway.bencode import bdecode
from torrent_gateway.gc import collect_garbage
from torrent_gateway.ingest.pipeline import UPLOAD_REGISTRY
from torrent_gateway.manifest import Manifest, manifest_key
from torrent_gateway.storage.base import ObjectUpload

from tests.support.gateway import RunningGateway, running_gateway
from tests.support.minio import MinioServer

from .test_read_ahead import CHUNK, stored_file
from .test_s3 import pending_uploads

SIZE = 3 * 1024 * 1024 + 12345  # 49 chunks, the last one short


@pytest.fixture
def gateway(tmp_path: Path, minio_server: MinioServer) -> Iterator[RunningGateway]:
    with s3_gateway(tmp_path, minio_server, blob_threshold=200_000) as running:
        yield running


@contextlib.contextmanager
def s3_gateway(tmp_path: Path, minio_server: MinioServer, *, blob_threshold: int) -> Iterator[RunningGateway]:
    bucket = f"whole-{os.urandom(6).hex()}"
    with running_gateway(
        tmp_path / "data",
        serve=True,
        storage={
            "backend": "s3",
            "blob_threshold": blob_threshold,
            "chunk_size": CHUNK,
            "s3": {
                "endpoint": minio_server.endpoint,
                "bucket": bucket,
                "access_key": minio_server.access_key,
                "secret_key": minio_server.secret_key,
                "cache_dir": str(tmp_path / "cache"),
            },
        },
        # A cache small against the file: whole downloads stream past it, single pieces go through it.
        gateway={"chunk_cache_bytes": 1024 * 1024},
        gc={"enabled": False},
    ) as running:
        yield running


def recorded_uploads(gateway: RunningGateway) -> list[str]:
    """Record the key of every object the gateway begins to write in parts."""
    store = gateway.services.store
    keys: list[str] = []
    original = store.begin_upload

    def begin_upload(key: str) -> ObjectUpload:
        keys.append(key)
        return original(key)

    store.begin_upload = begin_upload  # type: ignore[method-assign]
    return keys


def run(gateway: RunningGateway, coroutine: Any) -> Any:
    """Run a coroutine on the gateway's own event loop (its store's connections live there)."""
    loop = gateway.server.server.servers[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)


async def listing(gateway: RunningGateway, prefix: str) -> list[str]:
    return [key async for key in gateway.services.store.list(prefix)]


def upload(gateway: RunningGateway, data: bytes, name: str = "big.bin") -> dict[str, Any]:
    response = httpx.put(f"{gateway.url}/api/upload?name={name}", content=data, timeout=60)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_large_file_is_one_object_and_reads_back_exactly(gateway: RunningGateway) -> None:
    data = os.urandom(SIZE)
    sha = upload(gateway, data)["sha256"]
    manifest = run(gateway, gateway.services.catalog.get(sha))
    assert manifest.kind == "chunked" and manifest.data_key is not None
    assert len(manifest.chunks) == -(-SIZE // CHUNK)
    assert run(gateway, listing(gateway, "data/")) == [manifest.data_key]
    assert run(gateway, listing(gateway, "blobs/")) == []
    assert run(gateway, gateway.services.state.scan(UPLOAD_REGISTRY)) == []
    info = run(gateway, gateway.services.store.stat(manifest.data_key))
    assert info.size == SIZE

    url = f"{gateway.url}/api/download/{sha}"
    assert hashlib.sha256(httpx.get(url, timeout=60).content).hexdigest() == sha
    for start, end in [(0, 0), (CHUNK - 5, CHUNK + 5), (10, 5 * CHUNK + 17), (SIZE - 100, SIZE - 1), (3, 70)]:
        response = httpx.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=60)
        assert response.status_code == 206
        assert response.content == data[start : end + 1], (start, end)
    response = httpx.get(url, headers={"Range": f"bytes=0-9,{2 * CHUNK}-{3 * CHUNK + 9}"}, timeout=60)
    assert response.status_code == 206
    assert data[:10] in response.content and data[2 * CHUNK : 3 * CHUNK + 10] in response.content

    # Every chunk is still a Blossom blob, served out of the file's object.
    for index in (0, 17, len(manifest.chunks) - 1):
        digest = manifest.chunks[index]
        blob = httpx.get(f"{gateway.url}/{digest}", timeout=30)
        assert blob.status_code == 200, blob.text
        assert blob.content == data[index * CHUNK : (index + 1) * CHUNK]
        assert hashlib.sha256(blob.content).hexdigest() == digest
        ranged = httpx.get(f"{gateway.url}/{digest}", headers={"Range": "bytes=100-199"}, timeout=30)
        assert ranged.status_code == 206 and ranged.content == data[index * CHUNK + 100 : index * CHUNK + 200]


def test_a_body_of_unknown_length_becomes_one_object_too(tmp_path: Path, minio_server: MinioServer) -> None:
    # Without a length the upload begins as a blob in staging; past the threshold (20 MiB: two whole
    # batches staged) it turns into a chunked file, and what was staged becomes the first parts.
    data = os.urandom(45 * 1024 * 1024 + 321)

    def body() -> Iterator[bytes]:
        for offset in range(0, len(data), 1024 * 1024):
            yield data[offset : offset + 1024 * 1024]

    with s3_gateway(tmp_path, minio_server, blob_threshold=20 * 1024 * 1024) as gateway:
        response = httpx.put(f"{gateway.url}/api/upload?name=stream.bin", content=body(), timeout=60)
        assert response.status_code == 201, response.text
        sha = response.json()["sha256"]
        assert sha == hashlib.sha256(data).hexdigest()
        manifest = run(gateway, gateway.services.catalog.get(sha))
        assert manifest.kind == "chunked" and manifest.data_key is not None
        assert manifest.chunks == [
            hashlib.sha256(data[i : i + CHUNK]).hexdigest() for i in range(0, len(data), CHUNK)
        ]
        assert run(gateway, listing(gateway, "data/")) == [manifest.data_key]
        assert httpx.get(f"{gateway.url}/api/download/{sha}", timeout=60).content == data
        torrent = httpx.get(f"{gateway.url}/api/torrent/{sha}", timeout=30)
        assert torrent.status_code == 200
        pieces = bdecode(torrent.content)[b"info"][b"pieces"]
        assert pieces == b"".join(
            hashlib.sha1(data[i : i + CHUNK]).digest() for i in range(0, len(data), CHUNK)
        )


def test_the_same_bytes_again_leave_no_second_object(
    gateway: RunningGateway, minio_server: MinioServer
) -> None:
    keys = recorded_uploads(gateway)
    data = os.urandom(SIZE)
    first = upload(gateway, data, "one.bin")
    second = upload(gateway, data, "two.bin")
    assert first["sha256"] == second["sha256"]
    assert len(keys) == 2
    manifest = run(gateway, gateway.services.catalog.get(first["sha256"]))
    assert run(gateway, listing(gateway, "data/")) == [manifest.data_key]
    bucket = gateway.services.store.bucket  # type: ignore[attr-defined]
    for key in keys:
        assert pending_uploads(minio_server, bucket, key) == []


def test_an_upload_cut_off_mid_body_leaves_nothing(
    gateway: RunningGateway, minio_server: MinioServer
) -> None:
    keys = recorded_uploads(gateway)
    host, port = gateway.url.removeprefix("http://").split(":")
    size = 40 * 1024 * 1024  # parts are batches of 8 MiB: two are written before the cut
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"PUT /api/upload?name=cut.bin HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        sock.sendall(os.urandom(size // 2))
        time.sleep(1.0)
    bucket = gateway.services.store.bucket  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not keys or pending_uploads(minio_server, bucket, keys[0])):
        time.sleep(0.2)
    assert keys, "the upload never began writing parts"
    assert pending_uploads(minio_server, bucket, keys[0]) == []
    assert run(gateway, listing(gateway, "data/")) == []
    assert run(gateway, listing(gateway, "manifests/")) == []
    assert run(gateway, gateway.services.state.scan(UPLOAD_REGISTRY)) == []


def test_the_collector_aborts_the_upload_of_a_writer_that_died(
    gateway: RunningGateway, minio_server: MinioServer
) -> None:
    store, state = gateway.services.store, gateway.services.state
    grace = gateway.settings.gc.grace_period
    bucket = store.bucket  # type: ignore[attr-defined]

    async def begin(key: str, active: float) -> None:
        # What a gateway leaves when it is killed mid-upload: parts on the server, its record in the state.
        upload = store.begin_upload(key)
        token = await upload.start()
        await upload.write_part(1, 0, memoryview(os.urandom(5 * 1024 * 1024)))
        record = json.dumps({"token": token, "active": active}).encode()
        await state.set(UPLOAD_REGISTRY + key, record)

    dead, alive = "data/" + "de" * 16, "data/" + "a1" * 16
    run(gateway, begin(dead, time.time() - grace - 60))
    run(gateway, begin(alive, time.time()))
    assert len(pending_uploads(minio_server, bucket, dead)) == 1

    report = run(gateway, collect_garbage(gateway.services))
    assert report.uploads_abandoned == 1
    assert pending_uploads(minio_server, bucket, dead) == []
    assert len(pending_uploads(minio_server, bucket, alive)) == 1, "a writer still at work keeps its upload"
    assert run(gateway, state.scan(UPLOAD_REGISTRY)) == [UPLOAD_REGISTRY + alive]
    assert run(gateway, listing(gateway, "data/")) == []

    # Once it too stops for longer than the grace period, it goes the same way.
    later = run(gateway, collect_garbage(gateway.services, now=time.time() + grace + 60))
    assert later.uploads_abandoned == 1
    assert pending_uploads(minio_server, bucket, alive) == []
    assert run(gateway, state.scan(UPLOAD_REGISTRY)) == []


def test_deleting_the_file_removes_its_object(gateway: RunningGateway) -> None:
    sha = upload(gateway, os.urandom(SIZE))["sha256"]
    manifest = run(gateway, gateway.services.catalog.get(sha))
    assert run(gateway, gateway.services.catalog.delete_file(sha)) is not None
    assert run(gateway, gateway.services.store.stat(manifest.data_key)) is None
    assert run(gateway, listing(gateway, "data/")) == []
    assert httpx.get(f"{gateway.url}/{manifest.chunks[0]}", timeout=30).status_code == 404


def test_the_collector_removes_unnamed_objects_only(gateway: RunningGateway) -> None:
    sha = upload(gateway, os.urandom(SIZE))["sha256"]
    live = run(gateway, gateway.services.catalog.get(sha)).data_key

    async def orphan() -> str:
        # An upload that completed and then crashed before its manifest was written.
        upload = gateway.services.store.begin_upload("data/" + "ab" * 16)
        await upload.write_part(1, 0, memoryview(os.urandom(1000)))
        await upload.complete()
        return upload.key

    orphaned = run(gateway, orphan())
    grace = gateway.settings.gc.grace_period
    young = run(gateway, collect_garbage(gateway.services))
    assert orphaned not in young.removed_keys and young.kept_young >= 2
    report = run(gateway, collect_garbage(gateway.services, now=time.time() + grace + 60))
    assert report.removed_keys == [orphaned]
    assert run(gateway, listing(gateway, "data/")) == [live]
    assert (
        hashlib.sha256(httpx.get(f"{gateway.url}/api/download/{sha}", timeout=60).content).hexdigest() == sha
    )


def old_layout_file(gateway: RunningGateway) -> tuple[Manifest, bytes]:
    """A file as a bucket written before this layout holds it: chunk blobs, a manifest without a data key."""

    async def store() -> tuple[Manifest, bytes]:
        manifest, data = await stored_file(gateway.services.store, 6)  # type: ignore[arg-type]
        await gateway.services.store.put_bytes(
            manifest_key(manifest.sha256), manifest.model_dump_json().encode()
        )
        await gateway.services.catalog.reindex()
        return manifest, data

    return run(gateway, store())  # type: ignore[no-any-return]


def test_files_stored_chunk_by_chunk_still_read(gateway: RunningGateway) -> None:
    manifest, data = old_layout_file(gateway)
    assert manifest.data_key is None
    url = f"{gateway.url}/api/download/{manifest.sha256}"
    assert httpx.get(url, timeout=30).content == data
    response = httpx.get(url, headers={"Range": f"bytes={CHUNK - 3}-{3 * CHUNK}"}, timeout=30)
    assert response.content == data[CHUNK - 3 : 3 * CHUNK + 1]
    assert httpx.get(f"{gateway.url}/{manifest.chunks[2]}", timeout=30).content == data[2 * CHUNK : 3 * CHUNK]
