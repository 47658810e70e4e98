"""Composition of the tracker: one logic and swarm store behind the HTTP, UDP and WebSocket frontends.

``Tracker.asgi(fallback)`` answers ``GET /announce``, ``GET /scrape`` and the ``/announce``
WebSocket and hands everything else (lifespan included) to the fallback app, so the gateway
mounts the tracker in front of its FastAPI app without a framework route on the hot path.
``Tracker.start_udp`` adds the BEP 15 socket. The tracker owns two background tasks: the swarm
garbage collector (which also refreshes the swarm/peer gauges) and the relay subscription.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import Settings
from ..supervisor import Supervisor
from . import metrics
from .http import HttpFrontend, ReplyWriter
from .logic import KnownCheck, TrackerConfig, TrackerLogic
from .swarm import SwarmStore
from .udp import ConnectionIds, UdpFrontend, derive_secret
from .websocket import WebSocketFrontend

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_NOT_FOUND = b"not found"


def open_swarm_store(settings: Settings) -> SwarmStore:
    """The swarm store the settings ask for: Redis when ``state.backend`` is redis, else in-process."""
    ttl = settings.tracker.peer_ttl
    if settings.state.backend == "redis":
        from .swarm_redis import RedisSwarmStore

        return RedisSwarmStore.from_url(settings.state.redis_url.get_secret_value(), ttl)
    from .swarm_memory import MemorySwarmStore

    return MemorySwarmStore(ttl)


class Tracker:
    """The BitTorrent tracker of one process; replicas share swarms through a Redis store."""

    def __init__(
        self,
        settings: Settings,
        swarms: SwarmStore,
        is_known: KnownCheck | None = None,
        *,
        gc_interval: float | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        config = settings.tracker
        secret = config.secret.get_secret_value()
        if not secret:
            secret = os.urandom(32).hex()
            log.warning(
                "tracker.secret is empty: using a random one; UDP connection ids of this process "
                "will not be accepted by other replicas"
            )
        key = derive_secret(secret)
        self.settings = settings
        self.swarms = swarms
        self.logic = TrackerLogic(TrackerConfig.from_settings(config), swarms, is_known)
        tracker_id = hmac.digest(key, b"tracker id", "sha256")[:8].hex().encode()
        self.writer = ReplyWriter(self.logic.config.interval, self.logic.config.min_interval, tracker_id)
        self.http = HttpFrontend(
            self.logic,
            self.writer,
            config.trusted_proxies,
            inline_store=swarms.inline,
            forwarded_header=settings.gateway.forwarded_header,
        )
        self.node = os.urandom(8)
        self.ws = WebSocketFrontend(
            self.logic, swarms, self.node, idle_timeout=3.0 * max(self.logic.config.interval // 5, 30)
        )
        self.connection_ids = ConnectionIds(key)
        self.gc_interval = gc_interval if gc_interval is not None else min(60.0, config.peer_ttl / 4)
        self._udp: list[tuple[asyncio.DatagramTransport, UdpFrontend]] = []
        # Its loops belong to the process's supervisor when it is composed into one (serve, the
        # tracker component); alone (tests, benches) it runs a supervisor of its own.
        self._own_supervisor = supervisor is None
        self._supervisor = supervisor or Supervisor()
        self.tasks = self._supervisor.group("tracker")
        self._started = False
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the relay subscription and the garbage collector (idempotent).

        Call it from the lifespan of the app serving the tracker; the first request starts it
        otherwise (see :meth:`start_soon`).
        """
        if self._started:
            return
        self._started = True
        await self._start_now()

    def start_soon(self) -> None:
        """Start in the background (from synchronous code such as a protocol callback)."""
        if self._started:
            return
        self._started = True
        self.tasks.spawn(self._start_now(), "tracker-start")

    async def _start_now(self) -> None:
        await self.ws.start()
        if self._own_supervisor and not self._supervisor.running:
            await self._supervisor.start()
        self.tasks.keep_running("tracker-gc", self._gc_loop)

    async def _gc_loop(self) -> None:
        while True:
            try:
                await self.collect()
            except Exception:
                log.warning("tracker garbage collection failed", exc_info=True)
            await asyncio.sleep(self.gc_interval)

    async def collect(self) -> int:
        """One garbage-collection pass; refreshes the swarm and peer gauges."""
        removed = await self.swarms.gc()
        swarms, peers = await self.swarms.stats()
        metrics.SWARMS.set(swarms)
        metrics.PEERS.set(peers)
        return removed

    def forget(self, info_hash: bytes | None = None) -> None:
        """Drop cached ``known`` policy answers (one infohash, or all), e.g. from the catalog's
        ``on_added`` hook, so a new torrent is accepted at once instead of after the cache expiry."""
        self.logic.forget(info_hash)

    async def start_udp(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Serve BEP 15 on ``host:port`` (port 0: any free port); returns the bound port.

        ``reuse_port`` lets several worker processes share the port (Linux balances datagrams
        among them; every worker accepts the others' connection ids, as they share the secret).
        """
        await self.start()
        loop = asyncio.get_running_loop()
        protocol = UdpFrontend(self.logic, self.connection_ids, inline_store=self.swarms.inline)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(
            lambda: protocol, local_addr=(host, port), family=family, reuse_port=reuse_port or None
        )
        self._udp.append((transport, protocol))
        bound = int(transport.get_extra_info("sockname")[1])
        log.info("UDP tracker listening on %s:%d", host, bound)
        return bound

    async def close(self) -> None:
        """Stop UDP, background tasks and the swarm store's connections."""
        if self._closed:
            return
        self._closed = True
        for transport, protocol in self._udp:
            transport.close()
            await protocol.drain()
        self._udp.clear()
        await self.tasks.cancel()
        if self._own_supervisor:
            await self._supervisor.stop()
        await self.swarms.close()

    # -- ASGI -----------------------------------------------------------------------------------
    def asgi(self, fallback: ASGIApp | None = None) -> ASGIApp:
        """An ASGI app for the tracker's routes, passing every other request to ``fallback``."""
        http_announce = self.http.asgi_announce
        http_scrape = self.http.asgi_scrape

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            kind = scope["type"]
            if kind == "http":
                if not self._started:
                    self.start_soon()
                path = scope["path"]
                if scope["method"] == "GET":
                    if path == "/announce":
                        return await http_announce(scope, send)
                    if path == "/scrape":
                        return await http_scrape(scope, send)
            elif kind == "websocket" and scope["path"] == "/announce":
                if not self._started:
                    await self.start()  # the relay subscription must exist before offers flow
                return await self.ws.handle(scope, receive, send)
            elif kind == "lifespan" and fallback is None:
                return await self._lifespan(receive, send)
            if fallback is not None:
                return await fallback(scope, receive, send)
            await _not_found(scope, send)

        app.tracker = self  # type: ignore[attr-defined]  # found by the fast HTTP protocol
        return app

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _not_found(scope: Scope, send: Send) -> None:
    if scope["type"] == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(_NOT_FOUND))],
            }
        )
        await send({"type": "http.response.body", "body": _NOT_FOUND})
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
