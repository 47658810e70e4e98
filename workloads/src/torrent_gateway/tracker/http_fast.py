"""A uvicorn HTTP protocol that answers announce and scrape itself and hands everything else on.

BitTorrent clients open a new connection per announce, and uvicorn spends more per connection
and per request (scope, task, ASGI messages) than the announce itself costs. This protocol reads
the request head, and when it is a plain ``GET /announce`` or ``GET /scrape`` (no body, no
upgrade) it answers from :class:`~torrent_gateway.tracker.http.HttpFrontend` directly, inline
when nothing can suspend. Anything else — another path, a WebSocket upgrade, a body, a malformed
head — is handed, with the bytes already read, to uvicorn's own httptools protocol (as
:class:`~torrent_gateway.web.http_protocol.PipelineAwareHttpToolsProtocol`),
which serves the ASGI app (the tracker's WebSocket, the gateway) as usual.

Use: ``uvicorn --http torrent_gateway.tracker.http_fast:TrackerHttpProtocol`` with an app made
by ``Tracker.asgi()`` (possibly wrapped by uvicorn middleware), or
``uvicorn.Config(app, http=TrackerHttpProtocol)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, Any

from ..web.http_protocol import PipelineAwareHttpToolsProtocol
from .http import MAX_SCRAPE_QUERY, Job, failure
from .inline import run_inline

if TYPE_CHECKING:
    from .app import Tracker

log = logging.getLogger(__name__)

MAX_HEAD = 8192  # longer heads go to uvicorn, unless they are ours:
MAX_OUR_HEAD = MAX_SCRAPE_QUERY + MAX_HEAD  # a scrape naming thousands of infohashes is still
# answered here (first MAX_SCRAPE, with a warning); uvicorn's URL parser stops at 64 KiB
_OUR_TARGETS = (b"GET /announce?", b"GET /scrape?")
_REASONS = {200: b"OK", 500: b"Internal Server Error"}
_HANDOFF_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"upgrade", b"expect"})
_FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for"})


class Head:
    """A request head the fast path can answer."""

    __slots__ = ("announce", "query", "keep_alive", "headers")

    def __init__(self, announce: bool, query: bytes, keep_alive: bool, headers: list[tuple[bytes, bytes]]):
        self.announce = announce
        self.query = query
        self.keep_alive = keep_alive
        self.headers = headers


def parse_head(head: bytes, *, want_forwarding: bool) -> Head | None:
    """The head (without its final CRLFCRLF) as a fast-path request, or None to hand it on."""
    line_end = head.find(b"\r\n")
    request_line = head if line_end < 0 else head[:line_end]
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        return None
    target, version = parts[1], parts[2]
    path, _, query = target.partition(b"?")
    if path == b"/announce":
        announce = True
    elif path == b"/scrape":
        announce = False
    else:
        return None
    if version == b"HTTP/1.1":
        keep_alive = True
    elif version == b"HTTP/1.0":
        keep_alive = False
    else:
        return None
    headers: list[tuple[bytes, bytes]] = []
    if line_end >= 0:
        for line in head[line_end + 2 :].split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep or not name or name[-1:] in b" \t" or name[:1] in b" \t":
                return None  # malformed or obsolete line folding: uvicorn answers 400
            name = name.lower()
            if name == b"connection":
                tokens = {t.strip() for t in value.lower().split(b",")}
                if b"upgrade" in tokens:
                    return None
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
            elif name in _HANDOFF_HEADERS:
                if name != b"content-length" or value.strip() != b"0":
                    return None
            elif want_forwarding and name in _FORWARDING_HEADERS:
                headers.append((name, value.strip()))
    return Head(announce, query, keep_alive, headers)


_TRACKERS: weakref.WeakKeyDictionary[Any, Tracker] = weakref.WeakKeyDictionary()


def _tracker_of(config: Any) -> Tracker:
    """The Tracker served under this uvicorn config (looked up once per config)."""
    tracker = _TRACKERS.get(config)
    if tracker is None:
        tracker = _TRACKERS[config] = _find_tracker(config.loaded_app)
    return tracker


def _find_tracker(app: Any) -> Tracker:
    """The Tracker behind an app from Tracker.asgi(), through uvicorn's middleware wrappers."""
    for _ in range(8):
        tracker = getattr(app, "tracker", None)
        if tracker is not None:
            return tracker  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
        if app is None:
            break
    raise RuntimeError("TrackerHttpProtocol needs an app made by Tracker.asgi()")


class TrackerHttpProtocol(asyncio.Protocol):
    """uvicorn-compatible HTTP protocol with a fast path for announce and scrape."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        tracker = _tracker_of(config)
        tracker.start_soon()  # no-op once started (normally by the lifespan)
        self.frontend = tracker.http
        self.want_forwarding = bool(self.frontend.trusted)
        self.transport: asyncio.Transport | None = None
        self.peer: str | None = None
        self.buffer = b""
        self.busy = False  # a response is being computed in a task
        self.paused = False
        self.closing = False
        self.inner: asyncio.Protocol | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.last_active = 0.0
        self.task: asyncio.Task[None] | None = None

    # -- asyncio protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) and peer else None
        self.server_state.connections.add(self)
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self._disarm_timer()
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._process()
        elif len(self.buffer) > MAX_OUR_HEAD and self.transport is not None:
            # A client pipelining while we wait on the store: stop reading until we catch up.
            self.transport.pause_reading()
            self.paused = True

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now when idle, else after the current response."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    # -- keep-alive timeout (also bounds how long a partial head may take) ---------------------
    # One timer per connection, re-armed lazily: a request only records its time.
    def _arm_timer(self) -> None:
        self.last_active = self.loop.time()
        if self.timer is None:
            self.timer = self.loop.call_later(self.config.timeout_keep_alive, self._timed_out)

    def _disarm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timed_out(self) -> None:
        self.timer = None
        if self.transport is None or self.transport.is_closing():
            return
        remaining = self.last_active + self.config.timeout_keep_alive - self.loop.time()
        if self.busy or remaining > 0:
            self.timer = self.loop.call_later(max(remaining, 0.5), self._timed_out)
        else:
            self.transport.close()

    # -- requests ------------------------------------------------------------------------------
    def _process(self) -> None:
        transport = self.transport
        while transport is not None and not transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                size = len(self.buffer)
                if size > MAX_HEAD:
                    if not self.buffer.startswith(_OUR_TARGETS):
                        self._hand_off()
                    elif size > MAX_OUR_HEAD:
                        self._write(200, failure("request too long"), False)
                return
            head = parse_head(self.buffer[:end], want_forwarding=self.want_forwarding)
            if head is None:
                self._hand_off()
                return
            self.buffer = self.buffer[end + 4 :]
            self.server_state.total_requests += 1
            frontend = self.frontend
            job: Job = (
                frontend.announce_job(head.query, self.peer, head.headers)
                if head.announce
                else frontend.scrape_job(head.query)
            )
            coro, inline = job
            if inline:
                try:
                    status, body = run_inline(coro)
                except Exception:
                    log.exception("inline tracker request failed")
                    status, body = 500, b"d14:failure reason14:internal errore"
                if not self._write(status, body, head.keep_alive):
                    return
            else:
                self.busy = True
                self.task = self.loop.create_task(self._finish(coro, head.keep_alive))
                return
        return

    async def _finish(self, coro: Any, keep_alive: bool) -> None:
        status, body = await coro
        self.task = None
        self.busy = False
        if self._write(status, body, keep_alive) and self.transport is not None:
            if self.paused:
                self.paused = False
                with contextlib.suppress(RuntimeError):  # transport closed meanwhile
                    self.transport.resume_reading()
            self._process()

    def _write(self, status: int, body: bytes, keep_alive: bool) -> bool:
        """Send one response; False when the connection closes after it."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        keep_alive = keep_alive and not self.closing
        transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
            b"cache-control: no-store\r\n%s\r\n%s"
            % (
                status,
                _REASONS.get(status, b"OK"),
                len(body),
                b"" if keep_alive else b"connection: close\r\n",
                body,
            )
        )
        if not keep_alive:
            transport.close()
            return False
        self._arm_timer()
        return True

    def _hand_off(self) -> None:
        """Let uvicorn's own protocol serve the rest of this connection."""
        transport = self.transport
        if transport is None:
            return
        self._disarm_timer()
        self.server_state.connections.discard(self)
        inner = PipelineAwareHttpToolsProtocol(
            config=self.config, server_state=self.server_state, app_state=self.app_state, _loop=self.loop
        )
        self.inner = inner
        transport.set_protocol(inner)
        inner.connection_made(transport)
        buffered, self.buffer = self.buffer, b""
        if buffered:
            inner.data_received(buffered)
