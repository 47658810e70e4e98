"""Redis killed mid-test: each limit follows its documented policy, health sees it, and limits
come back without a restart once Redis does."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from torrent_gateway.config import Settings
from torrent_gateway.gateway.app import create_app
from torrent_gateway.ratelimit import LimiterUnavailable, wrap_with_rate_limits
from torrent_gateway.ratelimit.redis import RedisLimiter

from tests.support.servers import RedisServer, UvicornThread

from .conftest import FakeClock

SHA = "ab" * 32


async def test_limiter_degrades_fast_warns_sparingly_and_recovers(
    private_redis: RedisServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="torrent_gateway.ratelimit.redis")
    limiter = RedisLimiter.from_url(private_redis.url, clock=clock, retry_interval=1.0, warn_interval=30.0)
    try:
        assert (await limiter.check("k", 1, 5)).allowed and not limiter.degraded
        private_redis.stop()

        with pytest.raises(LimiterUnavailable):
            await limiter.check("k", 1, 5)
        assert limiter.degraded and REGISTRY.get_sample_value("tgw_ratelimit_degraded") == 1
        started = time.perf_counter()
        for _ in range(200):  # inside retry_interval: refused without touching the network
            with pytest.raises(LimiterUnavailable):
                await limiter.check("k", 1, 5)
        assert time.perf_counter() - started < 0.5
        assert len(caplog.records) == 1 and "unreachable" in caplog.records[0].getMessage()

        clock.advance(31.0)
        with pytest.raises(LimiterUnavailable):
            await limiter.acquire("f", 1, "lease")
        assert len(caplog.records) == 2 and "still unreachable" in caplog.records[1].getMessage()

        private_redis.start()
        with pytest.raises(LimiterUnavailable):  # not retried before retry_interval has passed
            await limiter.check("k", 1, 5)
        clock.advance(1.0)
        assert (await limiter.check("k", 1, 5)).allowed  # the pool reconnects by itself
        assert not limiter.degraded and REGISTRY.get_sample_value("tgw_ratelimit_degraded") == 0
        assert "reachable again" in caplog.records[-1].getMessage()
        await limiter.ping()
    finally:
        await limiter.aclose()


def test_gateway_keeps_the_documented_policy_through_an_outage(
    private_redis: RedisServer, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        rate_limiting={
            "download": {"requests_per_second": 0.01, "burst_size": 2},
            "auth": {"login_attempts_per_minute": 2},
        }
    )
    limiter = RedisLimiter.from_url(private_redis.url, retry_interval=0.2)

    def register_probe(app: Any, services: Any) -> None:  # how the lead wires health
        services.probes["ratelimit"] = limiter.ping

    app = wrap_with_rate_limits(create_app(settings, extensions=[register_probe]), settings, limiter)
    login = "/api/auth/login"
    download = f"/api/download/{SHA}"
    with UvicornThread(app) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        assert [client.get(download).status_code for _ in range(3)] == [404, 404, 429]
        assert [client.post(login).status_code for _ in range(3)][-1] == 429

        private_redis.stop()
        # Downloads and streams fail open: the app answers (404: no such file), not the limiter.
        assert [client.get(download).status_code for _ in range(5)] == [404] * 5
        assert client.get(f"/api/stream/{SHA}/index.m3u8").status_code == 404
        # Logins and uploads fail closed.
        for reply in (
            client.post(login),
            client.put("/api/upload", content=b"x"),
            client.put("/upload", content=b"x"),
        ):
            assert reply.status_code == 503 and reply.headers["retry-after"] == "5"
        assert (
            client.put("/upload", content=b"x").headers["x-reason"]
            == "rate limiter unavailable, try again later"
        )
        assert limiter.degraded
        health = client.get("/api/health").json()
        assert health["status"] == "degraded" and not health["components"]["ratelimit"]["ok"]

        private_redis.start()
        deadline = time.monotonic() + 5
        while client.post(login).status_code == 503:  # until the retry interval lets a check through
            assert time.monotonic() < deadline, "limits did not come back after Redis did"
            time.sleep(0.05)
        assert not limiter.degraded
        assert client.get("/api/health").json()["components"]["ratelimit"]["ok"]
        # Redis came back empty; the limits hold again from a fresh bucket.
        assert [client.post(login).status_code for _ in range(2)][-1] == 429
        assert [client.get(download).status_code for _ in range(3)] == [404, 404, 429]
