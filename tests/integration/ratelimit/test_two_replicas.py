"""Two gateway processes sharing one real redis-server enforce one combined limit."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import RedisServer, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[3]
RATE = 0.5
BURST = 5
SHA = "ab" * 32


def _replica_env(redis_url: str, data: Path, config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "workloads" / "src"), str(REPO), env.get("PYTHONPATH", "")]
    )
    env.update(
        {
            "TGW_CONFIG": str(config),
            "TGW_STATE__BACKEND": "redis",
            "TGW_STATE__REDIS_URL": redis_url,
            "TGW_STORAGE__PATH": str(data),
            "TGW_DHT__ENABLED": "false",
            "TGW_RATE_LIMITING__DOWNLOAD__REQUESTS_PER_SECOND": str(RATE),
            "TGW_RATE_LIMITING__DOWNLOAD__BURST_SIZE": str(BURST),
        }
    )
    return env


@pytest.fixture
def replicas(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[str]]:
    """Two uvicorn processes serving the real gateway app, one Redis, one data directory."""
    # A fresh Redis database: buckets of earlier tests on the session Redis must not interfere.
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/7"
    subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=True, capture_output=True, timeout=10)
    config = tmp_path / "config.yaml"
    config.write_text("{}\n")
    env = _replica_env(redis_url, tmp_path / "data", config)
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.integration.ratelimit.replica_app:create",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_for_port(port, timeout=30)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_two_replicas_enforce_one_combined_limit(replicas: list[str]) -> None:
    n = 24
    statuses: dict[str, list[int]] = {url: [] for url in replicas}
    with httpx.Client(timeout=5) as client:
        started = time.monotonic()
        for i in range(n):
            url = replicas[i % 2]
            reply = client.get(f"{url}/api/download/{SHA}")
            statuses[url].append(reply.status_code)
            if reply.status_code == 429:
                assert int(reply.headers["retry-after"]) >= 1
        elapsed = time.monotonic() - started

    allowed = sum(s != 429 for codes in statuses.values() for s in codes)
    limited = n - allowed
    # One shared bucket: the burst plus what refilled meanwhile, whichever replica was asked.
    # Two private buckets would have let 2 * BURST through.
    assert BURST <= allowed <= BURST + math.floor(RATE * elapsed + 1e-9), (statuses, elapsed)
    assert allowed < 2 * BURST
    assert limited == n - allowed
    assert all(s in (404, 429) for codes in statuses.values() for s in codes)  # 404: no such file
    assert all(429 in codes for codes in statuses.values())  # both replicas refuse
