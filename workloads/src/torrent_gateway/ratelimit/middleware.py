"""The pure ASGI middleware that enforces the limits in front of the gateway, Blossom and tracker.

For a governed request (see :mod:`.policy`) it checks, before the app sees anything:
the upload size cap (413 from ``Content-Length``, so an oversized body is never read), the token
bucket, and for streams a concurrency slot that is held until the last body chunk is sent or the
app returns (a client disconnect ends the app, so the slot comes back then too; a crashed
replica's slot lapses with its lease). Long streams renew their lease as they send.

Refusals speak the protocol of the path: 429 + ``Retry-After`` + JSON ``{"detail": ...}`` for the
gateway API, the same plus ``X-Reason`` for Blossom, and an HTTP 200 bencoded ``failure reason``
with a longer ``interval`` for the tracker. When the shared store is unreachable each limit
follows its ``fail_open`` policy: let the request through, or refuse it with 503 + Retry-After.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from ..bencode import bencode
from ..clientaddr import scope_client_address
from ..config import Settings
from . import metrics
from .base import Limiter, LimiterUnavailable
from .buckets import retry_after_header
from .policy import Match, Policy, Style

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNAVAILABLE_RETRY_AFTER = 5.0  # seconds a fail-closed limit asks clients to wait out an outage
CONCURRENCY_RETRY_AFTER = 1.0  # no way to know when a stream ends; ask for a short wait


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        limiter: Limiter,
        *,
        owns_limiter: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.policy = Policy.from_settings(settings)
        self._trusted = tuple(settings.gateway.trusted_proxies)
        self._forwarded_header = settings.gateway.forwarded_header
        self._owns_limiter = owns_limiter
        self._clock = clock
        self._lease_prefix = secrets.token_hex(6)  # unique per process: leases never collide
        self._lease_seq = itertools.count()

    @property
    def degraded(self) -> bool:
        return self.limiter.degraded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = self.policy.match(scope["method"], scope["path"])
            if match is not None:
                await self._governed(match, scope, receive, send)
                return
        elif scope["type"] == "lifespan" and self._owns_limiter:
            await self.app(scope, receive, self._close_on_shutdown(send))
            return
        await self.app(scope, receive, send)

    def _close_on_shutdown(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.limiter.aclose()
            await send(message)

        return wrapped

    async def _governed(self, match: Match, scope: Scope, receive: Receive, send: Send) -> None:
        spec = match.spec
        if match.check_size and spec.max_body is not None:
            length = _content_length(scope)
            if length is not None and length > spec.max_body:
                metrics.count(spec.name, "too_large")
                await self._refuse(send, match, 413, f"upload larger than {spec.max_body} bytes", None)
                return
        client = (
            scope_client_address(cast(dict[str, Any], scope), self._trusted, self._forwarded_header)
            if spec.per == "client"
            else ""
        )
        key = self.policy.bucket_key(match, client)
        try:
            decision = await self.limiter.check(key, spec.rate, spec.burst)
        except LimiterUnavailable:
            await self._unavailable(match, scope, receive, send)
            return
        if not decision.allowed:
            metrics.count(spec.name, "limited")
            await self._refuse(send, match, 429, f"rate limit exceeded ({spec.name})", decision.retry_after)
            return
        if spec.max_concurrent is None:
            metrics.count(spec.name, "allowed")
            await self.app(scope, receive, send)
            return
        await self._with_slot(match, key, spec.max_concurrent, scope, receive, send)

    async def _with_slot(
        self, match: Match, key: str, limit: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        lease = f"{self._lease_prefix}:{next(self._lease_seq)}"
        try:
            granted = await self.limiter.acquire(key, limit, lease)
        except LimiterUnavailable:
            await self._unavailable(match, scope, receive, send)
            return
        if not granted:
            metrics.count(match.spec.name, "limited")
            await self._refuse(
                send,
                match,
                429,
                f"too many concurrent {match.spec.name}s of this file",
                CONCURRENCY_RETRY_AFTER,
            )
            return
        metrics.count(match.spec.name, "allowed")
        slot = _Slot(self.limiter, key, lease, self._clock)

        async def send_and_track(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    await slot.keep_alive()
                else:
                    await slot.release()

        try:
            await self.app(scope, receive, send_and_track)
        finally:
            await slot.release()

    async def _unavailable(self, match: Match, scope: Scope, receive: Receive, send: Send) -> None:
        spec = match.spec
        if spec.fail_open:
            metrics.count(spec.name, "failed_open")
            await self.app(scope, receive, send)
            return
        metrics.count(spec.name, "failed_closed")
        await self._refuse(
            send, match, 503, "rate limiter unavailable, try again later", UNAVAILABLE_RETRY_AFTER
        )

    async def _refuse(
        self, send: Send, match: Match, status: int, reason: str, retry_after: float | None
    ) -> None:
        if match.style is Style.TRACKER:
            wait = retry_after if retry_after is not None else UNAVAILABLE_RETRY_AFTER
            body = bencode(
                {
                    "failure reason": f"{reason}; retry in {retry_after_header(wait)} s",
                    # BEP 31: minutes until the client may retry; and a longer announce interval.
                    "retry in": max(1, math.ceil(wait / 60)),
                    "interval": 2 * self.policy.tracker_interval,
                    "min interval": self.policy.tracker_interval,
                }
            )
            headers = [(b"content-type", b"text/plain"), (b"cache-control", b"no-store")]
            await _respond(send, 200, headers, body)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"access-control-allow-origin", b"*"),
            (b"cache-control", b"no-store"),
        ]
        if retry_after is not None:
            headers.append((b"retry-after", retry_after_header(retry_after).encode()))
        if match.style is Style.BLOSSOM:
            headers.append((b"x-reason", reason.encode()))
        if status == 413:
            headers.append((b"connection", b"close"))  # the unread body must not poison keep-alive
        await _respond(send, status, headers, json.dumps({"detail": reason}).encode())


class _Slot:
    """One held concurrency lease: renewed while the response flows, released exactly once."""

    __slots__ = ("_clock", "_key", "_lease", "_limiter", "_renewed", "_released")

    def __init__(self, limiter: Limiter, key: str, lease: str, clock: Callable[[], float]) -> None:
        self._limiter = limiter
        self._key = key
        self._lease = lease
        self._clock = clock
        self._renewed = clock()
        self._released = False

    async def keep_alive(self) -> None:
        now = self._clock()
        if self._released or now - self._renewed < self._limiter.lease_ttl / 3:
            return
        self._renewed = now
        # If Redis is away the lease may lapse: that frees a slot early, which is the safe direction.
        with contextlib.suppress(LimiterUnavailable):
            await self._limiter.renew(self._key, self._lease)

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        with contextlib.suppress(LimiterUnavailable):  # else the lease expires within lease_ttl
            await self._limiter.release(self._key, self._lease)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.strip()
            # Bounded parse of an untrusted header; anything odd is left for the app to refuse.
            return int(text) if 0 < len(text) <= 19 and text.isdigit() else None
    return None


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
