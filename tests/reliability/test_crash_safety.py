"""kill -9 during uploads: after a restart nothing partial is visible and every file still verifies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.process import GatewayProcess
from tests.support.report import record
from tests.support.verify import verify_filesystem_store

CHUNK = 256 * 1024
ENV = {
    "TGW_STORAGE__BLOB_THRESHOLD": str(2_000_000),
    "TGW_STORAGE__CHUNK_SIZE": str(CHUNK),
    "TGW_GC__ENABLED": "false",
}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "data", ENV).start()
    try:
        yield process
    finally:
        process.stop()


def start_partial_upload(url: str, total: int, sent: int) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        f"PUT /api/upload?name=partial.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n".encode()
    )
    sock.sendall(os.urandom(sent))
    return sock


def wait_for_staging(data: Path, minimum_bytes: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staged = sum(p.stat().st_size for p in (data / ".staging").glob("*") if p.is_file())
        chunks = sum(p.stat().st_size for p in (data / "blobs").glob("*")) if (data / "blobs").is_dir() else 0
        if staged + chunks >= minimum_bytes:
            return
        time.sleep(0.05)


@pytest.mark.parametrize(("total", "sent"), [(1_500_000, 1_000_000), (12 * CHUNK * 4, 30 * CHUNK)])
def test_kill_during_upload_leaves_nothing_half_visible(
    gateway: GatewayProcess, total: int, sent: int
) -> None:
    completed = []
    for size in (50_000, CHUNK * 10 + 3):
        response = httpx.put(f"{gateway.url}/api/upload?name=ok{size}", content=os.urandom(size), timeout=30)
        assert response.status_code == 201
        completed.append(response.json()["sha256"])
    before = verify_filesystem_store(gateway.data)
    assert before["files"] == 2

    sock = start_partial_upload(gateway.url, total, sent)
    wait_for_staging(gateway.data, sent // 2)
    gateway.kill()
    sock.close()
    record("faults")

    # After the crash: the partial upload has no manifest; its bytes are only garbage.
    assert verify_filesystem_store(gateway.data) == before
    gateway.start()
    assert not [p for p in (gateway.data / ".staging").iterdir()], "staging garbage survived the restart"
    listed = {f["sha256"] for f in httpx.get(f"{gateway.url}/api/files").json()["files"]}
    assert listed == set(completed)
    for sha in completed:
        assert httpx.get(f"{gateway.url}/api/download/{sha}", timeout=30).status_code == 200

    # The garbage collector removes the crashed upload's chunks and nothing else.
    result = subprocess.run(
        [sys.executable, "-m", "torrent_gateway.cli", "gc", "--data", str(gateway.data), "--grace", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV},
    )
    assert result.returncode == 0, result.stderr
    assert verify_filesystem_store(gateway.data) == before
    manifests = list((gateway.data / "manifests").glob("*.json"))
    referenced = set()
    import json

    for path in manifests:
        manifest = json.loads(path.read_text())
        referenced.update(manifest["chunks"] if manifest["kind"] == "chunked" else [manifest["sha256"]])
    assert {p.name for p in (gateway.data / "blobs").iterdir()} == referenced
