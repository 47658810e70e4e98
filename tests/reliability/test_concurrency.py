"""Concurrency: many identical uploads make one record; delete racing downloads never tears a response;
a thousand concurrent range downloads are all served."""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import pytest

from tests.support.gateway import RunningGateway, running_gateway
from tests.support.report import record
from tests.support.verify import verify_filesystem_store

CHUNK = 64 * 1024


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path / "data", storage={"blob_threshold": 500_000, "chunk_size": CHUNK}, gc={"enabled": False}
    ) as running:
        yield running


@pytest.mark.parametrize("size", [100_000, CHUNK * 12 + 7])
async def test_fifty_concurrent_identical_uploads_make_one_record(gateway: RunningGateway, size: int) -> None:
    data = os.urandom(size)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as client:
        responses = await asyncio.gather(
            *(client.put(f"{gateway.url}/api/upload?name=same{i}", content=data) for i in range(50))
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1 and statuses.count(200) == 49, statuses
    assert {r.json()["sha256"] for r in responses} == {hashlib.sha256(data).hexdigest()}
    root = Path(gateway.settings.storage.path)
    assert verify_filesystem_store(root)["files"] == 1
    assert not [p for p in (root / ".staging").iterdir()]


async def test_delete_racing_downloads_never_serves_a_torn_body(gateway: RunningGateway) -> None:
    data = os.urandom(CHUNK * 20)
    sha = hashlib.sha256(data).hexdigest()
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.put(f"{gateway.url}/api/upload?name=race", content=data)).status_code == 201

        async def download() -> tuple[int, bytes, bool]:
            try:
                response = await client.get(f"{gateway.url}/api/download/{sha}")
                return response.status_code, response.content, True
            except httpx.HTTPError:
                return -1, b"", False  # a cut connection is an honest failure, not a torn 200

        async def delete_soon() -> None:
            await asyncio.sleep(0.01)
            await gateway.services.catalog.delete_file(sha)

        results = await asyncio.gather(*(download() for _ in range(30)), delete_soon())
    outcomes = [r for r in results if r is not None]
    for status, body, completed in outcomes:
        assert status != 500
        if status == 200 and completed:
            assert body == data, "a 200 response carried a torn body"
        else:
            assert status in (404, -1)
    assert (await httpx.AsyncClient().get(f"{gateway.url}/api/download/{sha}")).status_code == 404


async def test_thousand_concurrent_range_downloads(gateway: RunningGateway) -> None:
    data = os.urandom(CHUNK * 16)
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=1000)) as client:
        sha = (await client.put(f"{gateway.url}/api/upload?name=load", content=data)).json()["sha256"]
        url = f"{gateway.url}/api/download/{sha}"
        latencies: list[float] = []

        async def one(index: int) -> bool:
            start = (index * 9973) % (len(data) - 1000)
            began = time.perf_counter()
            response = await client.get(url, headers={"range": f"bytes={start}-{start + 999}"})
            latencies.append(time.perf_counter() - began)
            return response.status_code == 206 and response.content == data[start : start + 1000]

        results = await asyncio.gather(*(one(i) for i in range(1000)))
    errors = results.count(False)
    record("load_requests", len(results))
    record("errors", errors)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(
        f"\n1000 concurrent range downloads: errors={errors} p50={statistics.median(latencies) * 1000:.1f}ms p99={p99 * 1000:.1f}ms"
    )
    assert errors == 0


async def test_thousand_concurrent_tracker_announces(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "t", serve=True, tracker={"policy": "open", "udp": False}) as running:
        latencies: list[float] = []

        async def announce(client: httpx.AsyncClient, index: int) -> bool:
            info_hash = hashlib.sha1(str(index % 100).encode()).digest()
            peer_id = f"-TG0001-{index:012d}".encode()
            query = (
                f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}"
                f"&port={6000 + index % 1000}&uploaded=0&downloaded=0&left={index % 2}&compact=1&numwant=50"
            )
            began = time.perf_counter()
            response = await client.get(f"{running.url}/announce?{query}")
            latencies.append(time.perf_counter() - began)
            return (
                response.status_code == 200
                and response.content.startswith(b"d")
                and b"failure" not in response.content
            )

        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=1000)) as client:
            results = await asyncio.gather(*(announce(client, i) for i in range(1000)))
    errors = results.count(False)
    record("load_requests", len(results))
    record("errors", errors)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(
        f"\n1000 concurrent tracker announces: errors={errors} p50={statistics.median(latencies) * 1000:.1f}ms p99={p99 * 1000:.1f}ms"
    )
    assert errors == 0
