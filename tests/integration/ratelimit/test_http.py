"""The limits over real HTTP: client addresses behind (un)trusted proxies, and stream slots that
come back when a client hangs up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from torrent_gateway.config import Settings
from torrent_gateway.gateway.app import create_app
from torrent_gateway.ratelimit import RateLimitMiddleware, wrap_with_rate_limits
from torrent_gateway.ratelimit.memory import MemoryLimiter

from tests.support.servers import UvicornThread

SHA = "ab" * 32
LOGIN = "/api/auth/login"


def _logins(client: httpx.Client, n: int, forwarded_for: Callable[[int], str]) -> list[int]:
    return [client.post(LOGIN, headers={"X-Forwarded-For": forwarded_for(i)}).status_code for i in range(n)]


def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(rate_limiting={"auth": {"login_attempts_per_minute": 2}})
    app = wrap_with_rate_limits(create_app(settings), settings)
    with (
        UvicornThread(app, proxy_headers=False) as server,
        httpx.Client(base_url=server.url, timeout=5) as client,
    ):
        statuses = _logins(client, 4, lambda i: f"198.51.100.{i}")
    assert statuses[2:] == [429, 429]  # every "client" was really 127.0.0.1


def test_forwarded_for_from_a_trusted_proxy_is_honoured(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        gateway={"trusted_proxies": ["127.0.0.0/8"]},
        rate_limiting={"auth": {"login_attempts_per_minute": 2}},
    )
    app = wrap_with_rate_limits(create_app(settings), settings)
    with (
        UvicornThread(app, proxy_headers=False) as server,
        httpx.Client(base_url=server.url, timeout=5) as client,
    ):
        distinct = _logins(client, 4, lambda i: f"203.0.113.9, 198.51.100.{i}")
        same = _logins(client, 3, lambda i: "198.51.100.200")
    assert 429 not in distinct  # four clients behind the proxy, one attempt each
    assert same[2] == 429  # one client behind the proxy, over its own limit


def _slow_stream_app(finished: list[str]) -> Starlette:
    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                for _ in range(400):  # 20 s at most; the client leaves long before
                    yield b"x" * 1024
                    await asyncio.sleep(0.05)
            finally:
                finished.append(request.url.path)

        return StreamingResponse(chunks(), media_type="video/mp2t")

    return Starlette(routes=[Route("/api/stream/{sha}/{name}", stream)])


def test_stream_slot_released_when_the_client_disconnects(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        rate_limiting={"stream": {"requests_per_second": 50, "burst_size": 50, "max_concurrent": 1}}
    )
    limiter = MemoryLimiter()
    finished: list[str] = []
    app: Any = RateLimitMiddleware(_slow_stream_app(finished), settings, limiter)
    url = f"/api/stream/{SHA}/seg0.ts"
    with (
        UvicornThread(app, proxy_headers=False) as server,
        httpx.Client(base_url=server.url, timeout=5) as client,
    ):
        with client.stream("GET", url) as first:
            assert first.status_code == 200
            body = first.iter_bytes()
            next(body)  # keep the iterator: dropping it would close the response
            second = client.get(url)
            assert second.status_code == 429 and second.headers["retry-after"] == "1"
            assert limiter.slots_in_use(f"stream:{SHA}") == 1
        # The client hung up mid-stream; the app notices, ends, and the slot comes back.
        deadline = time.monotonic() + 5
        while limiter.slots_in_use(f"stream:{SHA}"):
            assert time.monotonic() < deadline, "stream slot leaked after the client disconnected"
            time.sleep(0.05)
        assert finished == [url]
        with client.stream("GET", url) as third:
            assert third.status_code == 200
