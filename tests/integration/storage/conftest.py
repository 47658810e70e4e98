"""Object store fixtures: the same ``store`` fixture yields every backend, so one suite checks them all.

The S3 backend runs against a real MinIO server (tests/support/minio.py), the S3 server users run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from torrent_gateway.storage.base import ObjectStore
from torrent_gateway.storage.filesystem import FilesystemStore
from torrent_gateway.storage.s3 import S3Store

from tests.support.minio import MinioServer, minio_server  # noqa: F401 - a fixture this package uses

MiB = 1024 * 1024
# S3's smallest multipart part: objects larger than this are uploaded in several parts.
PART_SIZE = 5 * MiB


def make_s3_store(server: MinioServer, tmp_path: Path, **options: object) -> S3Store:
    # A bucket per test keeps tests independent on the one session-wide server.
    bucket = f"tgw-{uuid.uuid4().hex[:16]}"
    return S3Store(
        server.endpoint,
        bucket,
        server.access_key,
        server.secret_key,
        cache_dir=tmp_path / "s3-cache",
        part_size=PART_SIZE,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["filesystem", "minio"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    backend: ObjectStore
    if request.param == "filesystem":
        backend = FilesystemStore(tmp_path / "data")
    else:
        server: MinioServer = request.getfixturevalue("minio_server")
        backend = make_s3_store(server, tmp_path)
    try:
        yield backend
    finally:
        await backend.close()
