"""UDP tracker frontend (BEP 15): connect, announce, scrape, error.

Connection ids are stateless: an 8-byte keyed BLAKE2s MAC of the client's IP address,
keyed per 60-second window from the shared secret (BLAKE2's keyed mode is a MAC in itself and
costs a third of an OpenSSL HMAC call, on every announce) (not over the port: libtorrent shares one
connection id among all its sockets and sessions in a process, as opentracker and chihaya allow); the current and the previous window
are accepted, so an id lives one to two minutes, any replica with the same secret accepts it, and
nothing is stored per client. Anti-amplification: before a valid connection id the only reply is
to a connect request, and it is exactly as long as that request (16 bytes); everything else
without a valid id (stale, forged, truncated, garbage, oversized) is dropped unanswered.
The protocol object only decodes and dispatches; the logic and the store do the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any

from . import metrics
from .inline import run_inline
from .logic import TrackerLogic
from .model import AnnounceRequest, ClientError, Event, SwarmKind, pack_ip
from .ratelog import RateLimitedLog

log = logging.getLogger(__name__)

PROTOCOL_ID = (0x41727101980).to_bytes(8, "big")
CONNECT, ANNOUNCE, SCRAPE, ERROR = 0, 1, 2, 3
WINDOW_SECONDS = 60
MAX_DATAGRAM = 2048  # a scrape of 74 infohashes is 1496 bytes; BEP 41 options fit easily
MAX_SCRAPE_UDP = 74  # BEP 15: "up to about 74 torrents can be scraped at once"
# Peers per reply so that an answer fits a 1500-byte path MTU (20 bytes of header each way).
MAX_PEERS_V4 = 200
MAX_PEERS_V6 = 66
MAX_IN_FLIGHT = 2048  # datagrams waiting on a slow store before new ones are dropped

_EVENTS = tuple(Event)  # by wire number: a tuple index, not an Enum call, per announce
_HEAD = struct.Struct(">8sII")
_ANNOUNCE_BODY = struct.Struct(">20s20sqqqII4siH")  # after the 16-byte head: 82 bytes
_ANNOUNCE_LEN = 16 + _ANNOUNCE_BODY.size
_ANNOUNCE_REPLY = struct.Struct(">IIIII")
_ERROR_HEAD = struct.Struct(">II")
_SCRAPE_ENTRY = struct.Struct(">III")
_DROPPED = {
    reason: metrics.UDP_DROPPED.labels(reason)
    for reason in ("size", "protocol_id", "connection_id", "address", "overload")
}


class ConnectionIds:
    """Issue and check stateless connection ids: BLAKE2s-MAC(key of the window, client IP), 8 bytes."""

    def __init__(
        self, secret: bytes, *, window: int = WINDOW_SECONDS, clock: Callable[[], float] = time.time
    ):
        if not secret:
            raise ValueError("a connection id secret is required")
        self._secret = secret
        self._window = window
        self._clock = clock
        self._keys: dict[int, bytes] = {}

    def _key(self, window: int) -> bytes:
        key = self._keys.get(window)
        if key is None:
            if len(self._keys) > 4:
                self._keys.clear()
            key = self._keys[window] = hmac.digest(
                self._secret, b"tgw-udp-connection-id:%d" % window, "sha256"
            )  # 32 bytes: BLAKE2s's largest key
        return key

    def issue(self, address: bytes) -> bytes:
        window = int(self._clock()) // self._window
        return hashlib.blake2s(address, key=self._key(window), digest_size=8).digest()

    def valid(self, connection_id: bytes, address: bytes) -> bool:
        window = int(self._clock()) // self._window
        for candidate in (window, window - 1):
            expected = hashlib.blake2s(address, key=self._key(candidate), digest_size=8).digest()
            if hmac.compare_digest(expected, connection_id):
                return True
        return False


def error_packet(transaction_id: int, message: str) -> bytes:
    return _ERROR_HEAD.pack(ERROR, transaction_id) + message.encode()[:200]


def parse_announce(data: bytes, ip: bytes) -> tuple[AnnounceRequest, int]:
    """(request, transaction id) from an announce datagram whose connection id was checked."""
    if len(data) < _ANNOUNCE_LEN:
        raise ClientError("announce packet too short")
    (info_hash, peer_id, downloaded, left, uploaded, event, _ip, key, numwant, port) = (
        _ANNOUNCE_BODY.unpack_from(data, 16)
    )
    if downloaded < 0 or left < 0 or uploaded < 0:
        raise ClientError("downloaded, left and uploaded must not be negative")
    if event > 3:
        raise ClientError("invalid event")
    if port == 0:
        raise ClientError("port must be between 1 and 65535")
    kind = SwarmKind.IPV4 if len(ip) == 4 else SwarmKind.IPV6
    request = AnnounceRequest(
        info_hash=info_hash,
        peer_id=peer_id,
        kind=kind,
        endpoint=ip + port.to_bytes(2, "big"),
        left=left,
        event=_EVENTS[event],
        numwant=None if numwant < 0 else numwant,
        uploaded=uploaded,
        downloaded=downloaded,
        key=key,
        protocol="udp",
    )
    return request, int.from_bytes(data[12:16], "big")


class UdpFrontend(asyncio.DatagramProtocol):
    def __init__(self, logic: TrackerLogic, connection_ids: ConnectionIds, *, inline_store: bool) -> None:
        self.logic = logic
        self.ids = connection_ids
        self.inline = inline_store
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors = RateLimitedLog(log)

    # -- asyncio plumbing -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier replies (client gone); nothing to do.
        pass

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self._dispatch(data, addr)
        except Exception:
            metrics.INTERNAL_ERRORS_UDP.inc()
            self._errors.exception("UDP datagram handling failed")

    def _send(self, payload: bytes, addr: tuple[Any, ...]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(payload, addr)

    def _run(self, coro: Coroutine[Any, Any, None], info_hashes: list[bytes]) -> None:
        """Run a handler inline when nothing in it can suspend (no task per datagram), else as a task.

        Nothing suspends when the store is in-process and the policy answer is already cached.
        A suspended coroutine cannot be handed to a task afterwards (it ran outside any task,
        which e.g. ``asyncio.timeout`` refuses), hence the decision up front.
        """
        if self.inline and all(self.logic.policy_cached(ih) is not None for ih in info_hashes):
            run_inline(coro)
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            coro.close()
            _DROPPED["overload"].inc()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Cancel handlers still waiting on the store (at close)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- decoding and dispatch ------------------------------------------------------------------
    def _dispatch(self, data: bytes, addr: tuple[Any, ...]) -> None:
        size = len(data)
        if size < 16 or size > MAX_DATAGRAM:
            _DROPPED["size"].inc()
            return
        connection_id, action, transaction_id = _HEAD.unpack_from(data)
        try:
            ip = pack_ip(addr[0])
        except ValueError:
            _DROPPED["address"].inc()
            return
        if action == CONNECT:
            if connection_id != PROTOCOL_ID:
                _DROPPED["protocol_id"].inc()
                return
            # 16 bytes out for at least 16 bytes in: no amplification.
            self._send(_ERROR_HEAD.pack(CONNECT, transaction_id) + self.ids.issue(ip), addr)
            return
        if not self.ids.valid(connection_id, ip):
            _DROPPED["connection_id"].inc()
            return
        if action == ANNOUNCE:
            try:
                request, _ = parse_announce(data, ip)
            except ClientError as exc:
                metrics.CLIENT_ERRORS_UDP.inc()
                self._send(error_packet(transaction_id, str(exc)), addr)
                return
            cap = MAX_PEERS_V4 if len(ip) == 4 else MAX_PEERS_V6
            self._run(self._announce(request, transaction_id, addr, cap), [request.info_hash])
        elif action == SCRAPE:
            count = min((size - 16) // 20, MAX_SCRAPE_UDP)
            if count == 0:
                metrics.CLIENT_ERRORS_UDP.inc()
                self._send(error_packet(transaction_id, "scrape names no info_hash"), addr)
                return
            hashes = [data[16 + 20 * i : 36 + 20 * i] for i in range(count)]
            self._run(self._scrape(hashes, transaction_id, addr), hashes)
        else:
            metrics.CLIENT_ERRORS_UDP.inc()
            self._send(error_packet(transaction_id, "unknown action"), addr)

    async def _announce(
        self, request: AnnounceRequest, transaction_id: int, addr: tuple[Any, ...], cap: int
    ) -> None:
        try:
            reply = await self.logic.announce(request, cap=cap)
        except ClientError as exc:
            metrics.CLIENT_ERRORS_UDP.inc()
            self._send(error_packet(transaction_id, str(exc)), addr)
            return
        except Exception:
            metrics.INTERNAL_ERRORS_UDP.inc()
            self._errors.exception("UDP announce failed")
            self._send(error_packet(transaction_id, "internal error"), addr)
            return
        metrics.ANNOUNCES_UDP.inc()
        head = _ANNOUNCE_REPLY.pack(
            ANNOUNCE, transaction_id, reply.interval, reply.incomplete, reply.complete
        )
        self._send(head + reply.compact, addr)

    async def _scrape(self, hashes: list[bytes], transaction_id: int, addr: tuple[Any, ...]) -> None:
        try:
            counts = await self.logic.scrape(hashes)
        except Exception:
            metrics.INTERNAL_ERRORS_UDP.inc()
            self._errors.exception("UDP scrape failed")
            self._send(error_packet(transaction_id, "internal error"), addr)
            return
        metrics.SCRAPES_UDP.inc()
        out = [_ERROR_HEAD.pack(SCRAPE, transaction_id)]
        for entry in counts:
            if entry is None:
                out.append(_SCRAPE_ENTRY.pack(0, 0, 0))
            else:
                out.append(_SCRAPE_ENTRY.pack(entry.complete, entry.downloaded, entry.incomplete))
        self._send(b"".join(out), addr)


def derive_secret(secret: str) -> bytes:
    """Key material from the configured secret (any length, any characters)."""
    return hashlib.sha256(b"tgw-tracker:" + secret.encode()).digest()
