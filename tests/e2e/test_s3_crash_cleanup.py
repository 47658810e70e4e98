"""A gateway SIGKILLed in the middle of a large upload to S3 leaves nothing behind for long.

The real thing end to end: ``torrent-gateway serve`` on a real MinIO with SQLite state receives half
of a 40 MiB body, so parts of its one-object upload are on the server; it is killed. The multipart
upload is then pending on MinIO (invisible, but holding its parts). ``torrent-gateway gc`` run as a
new process finds the dead upload's record in the state store and aborts it; nothing is pending,
nothing is under ``data/``, and the gateway started again serves a full upload of the same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.ingest.pipeline import UPLOAD_REGISTRY
from torrent_gateway.state.sqlite import SQLiteStateStore

from tests.integration.storage.test_s3 import pending_uploads
from tests.support.minio import MinioServer, run_minio_server
from tests.support.process import GatewayProcess

SIZE = 40 * 1024 * 1024


@pytest.fixture(scope="module")
def minio() -> Iterator[MinioServer]:
    with run_minio_server() as server:
        yield server


def registered_uploads(state_file: Path) -> list[str]:
    async def scan() -> list[str]:
        store = SQLiteStateStore(state_file)
        try:
            return [key.removeprefix(UPLOAD_REGISTRY) for key in await store.scan(UPLOAD_REGISTRY)]
        finally:
            await store.close()

    return asyncio.run(scan())


def test_a_killed_upload_is_aborted_by_the_next_gc(tmp_path: Path, minio: MinioServer) -> None:
    bucket = f"crash-{os.urandom(6).hex()}"
    data_dir, state_file = tmp_path / "data", tmp_path / "state.sqlite3"
    env = {
        "TGW_STORAGE__BACKEND": "s3",
        "TGW_STORAGE__S3__ENDPOINT": minio.endpoint,
        "TGW_STORAGE__S3__BUCKET": bucket,
        "TGW_STORAGE__S3__ACCESS_KEY": minio.access_key,
        "TGW_STORAGE__S3__SECRET_KEY": minio.secret_key,
        "TGW_STORAGE__S3__CACHE_DIR": str(tmp_path / "cache"),
        "TGW_STATE__BACKEND": "sqlite",
        "TGW_STATE__SQLITE_PATH": str(state_file),
        "TGW_GC__ENABLED": "false",
        "TGW_STORAGE__BLOB_THRESHOLD": str(1024 * 1024),  # a 40 MiB file is chunked, so one object in parts
    }
    gateway = GatewayProcess(data_dir, env=env).start()
    try:
        with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
            sock.sendall(
                f"PUT /api/upload?name=big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {SIZE}\r\n\r\n".encode()
            )
            sock.sendall(os.urandom(SIZE // 2))
            deadline = time.monotonic() + 30
            keys: list[str] = []
            while time.monotonic() < deadline:
                keys = registered_uploads(state_file)
                if keys and pending_uploads(minio, bucket, keys[0]):
                    break
                time.sleep(0.2)
            assert keys, "the upload never recorded itself"
            gateway.kill()
        [key] = keys
        assert len(pending_uploads(minio, bucket, key)) == 1, "the killed upload holds its parts on MinIO"

        gc = subprocess.run(
            [sys.executable, "-m", "torrent_gateway.cli", "gc", "--grace", "0"],
            env={**os.environ, "TGW_STORAGE__PATH": str(data_dir), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert gc.returncode == 0, gc.stderr
        assert "1 abandoned uploads aborted" in gc.stdout, gc.stdout
        assert pending_uploads(minio, bucket, key) == []
        assert registered_uploads(state_file) == []

        gateway.start()
        data = os.urandom(SIZE)
        response = httpx.put(f"{gateway.url}/api/upload?name=big.bin", content=data, timeout=120)
        assert response.status_code == 201, response.text
        sha = response.json()["sha256"]
        downloaded = httpx.get(f"{gateway.url}/api/download/{sha}", timeout=120).content
        assert hashlib.sha256(downloaded).hexdigest() == sha == hashlib.sha256(data).hexdigest()
        assert registered_uploads(state_file) == []
    finally:
        gateway.stop()
