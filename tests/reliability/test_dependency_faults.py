"""Dependency faults: S3 or Redis stopped and restarted under a running gateway — clear errors while
down, cached content still served, nothing half-committed, full service after, without a restart."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import RunningGateway, running_gateway
from tests.support.minio import MinioServer, run_minio_server
from tests.support.report import record
from tests.support.servers import RedisServer, run_redis_server

CHUNK = 64 * 1024


@pytest.fixture
def deps() -> Iterator[tuple[MinioServer, RedisServer]]:
    with run_minio_server() as s3, run_redis_server() as redis:
        yield s3, redis


@pytest.fixture
def gateway(tmp_path: Path, deps: tuple[MinioServer, RedisServer]) -> Iterator[RunningGateway]:
    s3, redis = deps
    with running_gateway(
        tmp_path / "data",
        serve=True,
        storage={
            "backend": "s3",
            "blob_threshold": 200_000,
            "chunk_size": CHUNK,
            "s3": {
                "endpoint": s3.endpoint,
                "bucket": "faults",
                "access_key": s3.access_key,
                "secret_key": s3.secret_key,
                "cache_dir": str(tmp_path / "cache"),
            },
        },
        state={"backend": "redis", "redis_url": redis.url},
        rate_limiting={"enabled": True},
        gc={"enabled": False},
    ) as running:
        yield running


def wait_until(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_s3_outage_and_recovery(gateway: RunningGateway, deps: tuple[MinioServer, RedisServer]) -> None:
    s3, _ = deps
    data = os.urandom(CHUNK * 6 + 11)
    info = httpx.put(f"{gateway.url}/api/upload?name=hot.bin", content=data, timeout=30).json()
    url = info["urls"]["download"]
    assert httpx.get(url, timeout=30).content == data  # warms the chunk cache and the manifest cache
    files_before = httpx.get(f"{gateway.url}/api/files").json()["files"]

    s3.stop()
    record("faults")
    try:
        # Cached content is still served while the store is down.
        assert httpx.get(url, timeout=30).content == data
        # Uploads fail clearly, and fast.
        began = time.monotonic()
        refused = httpx.put(
            f"{gateway.url}/api/upload?name=new.bin", content=os.urandom(CHUNK * 5), timeout=30
        )
        assert refused.status_code == 503 and "retry-after" in refused.headers
        small = httpx.post(f"{gateway.url}/api/upload", files={"file": ("s.txt", b"small")}, timeout=30)
        assert small.status_code == 503
        assert time.monotonic() - began < 20
        unknown = httpx.get(f"{gateway.url}/api/download/{'ab' * 32}", timeout=30)
        assert unknown.status_code == 503
        health = httpx.get(f"{gateway.url}/api/health", timeout=30)
        assert health.status_code == 503 and health.json()["components"]["storage"]["ok"] is False
    finally:
        s3.start()

    # Back to full service without a restart; nothing half-committed appeared.
    wait_until(lambda: httpx.get(f"{gateway.url}/api/health").status_code == 200)
    assert httpx.get(f"{gateway.url}/api/files").json()["files"] == files_before
    again = os.urandom(CHUNK * 5)
    response = httpx.put(f"{gateway.url}/api/upload?name=after.bin", content=again, timeout=30)
    assert response.status_code == 201
    assert (
        hashlib.sha256(httpx.get(response.json()["urls"]["download"], timeout=30).content).hexdigest()
        == hashlib.sha256(again).hexdigest()
    )


def test_redis_outage_and_recovery(gateway: RunningGateway, deps: tuple[MinioServer, RedisServer]) -> None:
    _, redis = deps
    data = os.urandom(50_000)
    info = httpx.put(f"{gateway.url}/api/upload?name=r.bin", content=data, timeout=30).json()
    redis.stop()
    record("faults")
    try:
        # Downloads fail open (documented policy); uploads fail closed with 503 + Retry-After.
        assert httpx.get(info["urls"]["download"], timeout=30).content == data
        refused = httpx.put(f"{gateway.url}/api/upload?name=x.bin", content=b"x" * 100, timeout=30)
        assert refused.status_code == 503 and "retry-after" in refused.headers
        assert httpx.get(f"{gateway.url}/api/health", timeout=30).status_code == 503
    finally:
        redis.start()
    wait_until(
        lambda: httpx.put(f"{gateway.url}/api/upload?name=y.bin", content=os.urandom(100)).status_code == 201
    )
    wait_until(lambda: httpx.get(f"{gateway.url}/api/health").status_code == 200)
