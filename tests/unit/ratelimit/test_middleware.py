"""The ASGI middleware, driven directly (no sockets) with the in-process limiter and a fake clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from torrent_gateway.bencode import bdecode
from torrent_gateway.config import Settings
from torrent_gateway.ratelimit import (
    Limiter,
    LimiterUnavailable,
    RateLimitMiddleware,
    metrics,
    wrap_with_rate_limits,
)
from torrent_gateway.ratelimit.buckets import Decision
from torrent_gateway.ratelimit.memory import MemoryLimiter
from torrent_gateway.ratelimit.policy import TRACKER_DEFAULT_BURST

from .conftest import FakeClock

SHA = "cd" * 32
MakeSettings = Callable[..., Settings]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Backend:
    """The app behind the middleware: records what reached it."""

    calls: list[str] = field(default_factory=list)
    chunks: int = 1
    fail: bool = False
    gate: asyncio.Event | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(self.chunks):
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                raise RuntimeError("app failed mid-response")
            await send({"type": "http.response.body", "body": b"x", "more_body": n < self.chunks - 1})


async def call(
    app: Any,
    method: str,
    path: str,
    *,
    peer: str = "192.0.2.1",
    headers: list[tuple[bytes, bytes]] | None = None,
    on_receive: list[int] | None = None,
) -> Reply:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [],
        "client": (peer, 40000),
        "query_string": b"",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if on_receive is not None:
            on_receive.append(1)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return Reply(
        start["status"],
        {k.decode(): v.decode() for k, v in start["headers"]},
        b"".join(m.get("body", b"") for m in sent[1:]),
    )


def small_limits(make_settings: MakeSettings, **extra: Any) -> Settings:
    limits = {
        "upload": {"requests_per_second": 1, "burst_size": 2, "max_file_size": 1000},
        "download": {"requests_per_second": 1, "burst_size": 3},
        "stream": {"requests_per_second": 10, "burst_size": 10, "max_concurrent": 2},
        "auth": {"login_attempts_per_minute": 2},
    }
    limits.update(extra)
    return make_settings(rate_limiting=limits)


@pytest.fixture
def backend() -> Backend:
    return Backend()


@pytest.fixture
def limiter(clock: FakeClock) -> MemoryLimiter:
    return MemoryLimiter(clock=clock, lease_ttl=30.0)


async def test_download_burst_then_429_with_retry_after(
    make_settings: MakeSettings, backend: Backend, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    app = RateLimitMiddleware(backend, small_limits(make_settings), limiter, clock=clock)
    before = metrics.value("download", "limited")
    statuses = [
        (await call(app, "GET", f"/api/download/{SHA}", peer=f"192.0.2.{n}")).status for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]  # one global bucket, whoever asks
    reply = await call(app, "GET", f"/api/webseed/{SHA}/f.iso")
    assert reply.status == 429
    assert reply.headers["retry-after"] == "1"
    assert reply.headers["access-control-allow-origin"] == "*"
    assert json.loads(reply.body) == {"detail": "rate limit exceeded (download)"}
    assert "x-reason" not in reply.headers
    assert metrics.value("download", "limited") == before + 2
    clock.advance(1.0)
    assert (await call(app, "HEAD", f"/api/download/{SHA}")).status == 200
    assert len(backend.calls) == 4


async def test_blossom_refusals_carry_x_reason(
    make_settings: MakeSettings, backend: Backend, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    app = RateLimitMiddleware(backend, small_limits(make_settings), limiter, clock=clock)
    for _ in range(3):
        assert (await call(app, "GET", f"/{SHA}.png")).status == 200
    reply = await call(app, "GET", f"/{SHA}")
    assert reply.status == 429 and reply.headers["x-reason"] == "rate limit exceeded (download)"
    for _ in range(2):
        assert (await call(app, "PUT", "/mirror")).status == 200
    reply = await call(app, "PUT", "/upload", headers=[(b"content-length", b"10")])
    assert reply.status == 429 and "x-reason" in reply.headers  # /mirror and /upload share the bucket


async def test_oversized_upload_refused_before_the_body_is_read(
    make_settings: MakeSettings, backend: Backend, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    app = RateLimitMiddleware(backend, small_limits(make_settings), limiter, clock=clock)
    reads: list[int] = []
    reply = await call(app, "PUT", "/upload", headers=[(b"content-length", b"1001")], on_receive=reads)
    assert reply.status == 413 and reads == [] and backend.calls == []
    assert reply.headers["x-reason"] == "upload larger than 1000 bytes"
    reply = await call(app, "POST", "/api/upload", headers=[(b"content-length", b"99999999999")])
    assert reply.status == 413 and "x-reason" not in reply.headers
    # Refusing by size spent no upload tokens; a malformed length is the app's to judge.
    assert (await call(app, "POST", "/api/upload", headers=[(b"content-length", b"1000")])).status == 200
    assert (await call(app, "POST", "/api/upload", headers=[(b"content-length", b"1e9")])).status == 200
    assert (await call(app, "POST", "/api/upload")).status == 429


async def test_uploads_and_logins_are_per_client(
    make_settings: MakeSettings, backend: Backend, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    app = RateLimitMiddleware(backend, small_limits(make_settings), limiter, clock=clock)
    a = [(await call(app, "POST", "/api/auth/login", peer="192.0.2.1")).status for _ in range(3)]
    b = [(await call(app, "POST", "/api/auth/login", peer="192.0.2.2")).status for _ in range(3)]
    assert a == b == [200, 200, 429]
    clock.advance(29.0)  # 2 per minute: one token back after 30 s
    assert (await call(app, "POST", "/api/auth/login", peer="192.0.2.1")).status == 429
    clock.advance(1.0)
    assert (await call(app, "POST", "/api/auth/login", peer="192.0.2.1")).status == 200


async def test_spoofed_forwarded_for_ignored_unless_peer_is_a_trusted_proxy(
    make_settings: MakeSettings, backend: Backend, clock: FakeClock
) -> None:
    untrusted = RateLimitMiddleware(backend, small_limits(make_settings), MemoryLimiter(clock=clock))
    statuses = [
        (
            await call(
                untrusted, "POST", "/api/upload", headers=[(b"x-forwarded-for", f"198.51.100.{n}".encode())]
            )
        ).status
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]  # every request is the socket peer's

    settings = small_limits(make_settings)
    settings.gateway.trusted_proxies = ["10.0.0.0/8"]
    proxied = RateLimitMiddleware(backend, settings, MemoryLimiter(clock=clock))
    for n in range(3):
        headers = [(b"x-forwarded-for", f"6.6.6.6, 198.51.100.{n}".encode())]
        assert (await call(proxied, "POST", "/api/upload", peer="10.1.2.3", headers=headers)).status == 200
    forwarded = [(b"forwarded", b'for="[2001:db8::1]:4711"')]
    statuses = [
        (await call(proxied, "POST", "/api/upload", peer="10.1.2.3", headers=forwarded)).status
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


async def test_tracker_refusal_is_bencoded_with_a_longer_interval(
    make_settings: MakeSettings, backend: Backend, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    settings = small_limits(make_settings)
    app = RateLimitMiddleware(backend, settings, limiter, clock=clock)
    for _ in range(TRACKER_DEFAULT_BURST):
        assert (await call(app, "GET", "/announce")).status == 200
    reply = await call(app, "GET", "/scrape")
    assert reply.status == 200
    decoded = bdecode(reply.body)
    assert decoded[b"failure reason"].startswith(b"rate limit exceeded (tracker)")
    assert decoded[b"interval"] == 2 * settings.tracker.interval
    assert decoded[b"retry in"] == 1


async def test_stream_slots_are_held_while_sending_and_released_after(
    make_settings: MakeSettings, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    gate = asyncio.Event()
    backend = Backend(chunks=3, gate=gate)
    app = RateLimitMiddleware(backend, small_limits(make_settings), limiter, clock=clock)
    path = f"/api/stream/{SHA}/seg.ts"
    held = [asyncio.create_task(call(app, "GET", path)) for _ in range(2)]
    await asyncio.sleep(0)
    reply = await call(app, "GET", path)
    assert (
        reply.status == 429 and json.loads(reply.body)["detail"] == "too many concurrent streams of this file"
    )
    held.append(asyncio.create_task(call(app, "GET", f"/api/stream/{'ef' * 32}/seg.ts")))  # another file
    await asyncio.sleep(0)
    gate.set()
    async with asyncio.timeout(5):
        assert [r.status for r in await asyncio.gather(*held)] == [200, 200, 200]
    assert (await call(app, "GET", path)).status == 200
    assert limiter.slots_in_use(f"stream:{SHA}") == 0  # every lease released


async def test_stream_slot_released_when_the_app_fails_or_the_client_leaves(
    make_settings: MakeSettings, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    settings = small_limits(
        make_settings, stream={"requests_per_second": 10, "burst_size": 10, "max_concurrent": 1}
    )
    failing = RateLimitMiddleware(Backend(chunks=2, fail=True), settings, limiter, clock=clock)
    with pytest.raises(RuntimeError):
        await call(failing, "GET", f"/api/stream/{SHA}/a.ts")
    gate = asyncio.Event()
    app = RateLimitMiddleware(Backend(chunks=2, gate=gate), settings, limiter, clock=clock)
    task = asyncio.create_task(call(app, "GET", f"/api/stream/{SHA}/a.ts"))
    await asyncio.sleep(0)
    assert limiter.slots_in_use(f"stream:{SHA}") == 1
    task.cancel()  # what a server does to a request whose client disconnected
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limiter.slots_in_use(f"stream:{SHA}") == 0


async def test_long_streams_renew_their_lease(make_settings: MakeSettings, clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock, lease_ttl=30.0)
    settings = small_limits(
        make_settings, stream={"requests_per_second": 10, "burst_size": 10, "max_concurrent": 1}
    )
    ticks: list[asyncio.Event] = [asyncio.Event() for _ in range(4)]

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n, tick in enumerate(ticks):
            await tick.wait()
            await send({"type": "http.response.body", "body": b"x", "more_body": n < len(ticks) - 1})

    app = RateLimitMiddleware(slow, settings, limiter, clock=clock)
    task = asyncio.create_task(call(app, "GET", f"/api/stream/{SHA}/long.mp4"))
    for tick in ticks[:3]:
        await asyncio.sleep(0)
        clock.advance(20.0)  # 60 s in all: twice the lease TTL
        tick.set()
        await asyncio.sleep(0)
    assert not await limiter.acquire(f"stream:{SHA}", 1, "someone-else")
    ticks[3].set()
    assert (await task).status == 200
    assert await limiter.acquire(f"stream:{SHA}", 1, "someone-else")


class DownLimiter(Limiter):
    """A shared store that cannot be reached."""

    name = "down"

    @property
    def degraded(self) -> bool:
        return True

    async def check(self, key: str, rate: float, burst: float, cost: float = 1.0) -> Decision:
        raise LimiterUnavailable("down")

    async def acquire(self, key: str, limit: int, lease_id: str) -> bool:
        raise LimiterUnavailable("down")

    async def renew(self, key: str, lease_id: str) -> None:
        raise LimiterUnavailable("down")

    async def release(self, key: str, lease_id: str) -> None:
        raise LimiterUnavailable("down")


async def test_store_unreachable_default_policy(make_settings: MakeSettings, backend: Backend) -> None:
    app = RateLimitMiddleware(backend, small_limits(make_settings), DownLimiter())
    assert app.degraded
    before = metrics.value("auth", "failed_closed")
    assert (await call(app, "GET", f"/api/download/{SHA}")).status == 200
    assert (await call(app, "GET", f"/{SHA}")).status == 200
    assert (await call(app, "GET", f"/api/stream/{SHA}/x.ts")).status == 200
    for method, path in (("POST", "/api/auth/login"), ("POST", "/api/upload"), ("PUT", "/upload")):
        reply = await call(app, method, path)
        assert reply.status == 503 and reply.headers["retry-after"] == "5"
        assert json.loads(reply.body) == {"detail": "rate limiter unavailable, try again later"}
    assert "x-reason" in (await call(app, "PUT", "/upload")).headers
    assert metrics.value("auth", "failed_closed") == before + 1
    assert len(backend.calls) == 3


async def test_store_unreachable_configured_policy(make_settings: MakeSettings, backend: Backend) -> None:
    settings = small_limits(make_settings, fail_open=["upload"])
    app = RateLimitMiddleware(backend, settings, DownLimiter())
    assert (await call(app, "POST", "/api/upload")).status == 200
    assert (await call(app, "GET", f"/api/download/{SHA}")).status == 503
    reply = await call(app, "GET", "/announce")  # not in fail_open: refused in the tracker's own form
    assert reply.status == 200 and reply.body.startswith(b"d14:failure reason")


async def test_ungoverned_and_non_http_pass_through(
    make_settings: MakeSettings, backend: Backend, limiter: MemoryLimiter, clock: FakeClock
) -> None:
    settings = small_limits(make_settings, download={"requests_per_second": 0.001, "burst_size": 1})
    app = RateLimitMiddleware(backend, settings, limiter, clock=clock)
    for _ in range(5):
        assert (await call(app, "GET", "/api/files")).status == 200
    assert len(limiter) == 0


async def test_disabled_returns_the_app_itself(make_settings: MakeSettings, backend: Backend) -> None:
    settings = make_settings(rate_limiting={"enabled": False})
    assert wrap_with_rate_limits(backend, settings) is backend


async def test_wrap_opens_and_closes_its_own_limiter(make_settings: MakeSettings, backend: Backend) -> None:
    closed: list[bool] = []
    app = wrap_with_rate_limits(backend, make_settings())
    assert isinstance(app, RateLimitMiddleware) and isinstance(app.limiter, MemoryLimiter)

    async def aclose() -> None:
        closed.append(True)

    app.limiter.aclose = aclose  # type: ignore[method-assign]
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"] and closed == [True]
