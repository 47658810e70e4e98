"""HTTP tracker frontend (BEP 3, 7, 23, 24, 48): parse a query, write a bencoded reply.

Raw ASGI, not a framework route: ``info_hash`` and ``peer_id`` are 20 raw bytes percent-encoded
in the query, so they are decoded from ``scope["query_string"]`` with :func:`unquote_binary`
(a framework decoding the query as UTF-8 would mangle them), and every reply is formatted from
precomputed byte templates. Client errors are ``failure reason`` replies with status 200, as
clients expect; internal faults are a generic ``internal error`` with status 500 and a log line.
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from ..bencode import bencode
from ..clientaddr import DEFAULT_FORWARDED_HEADER, ForwardedHeader, client_address
from . import metrics
from .logic import MAX_SCRAPE, TrackerLogic
from .model import (
    AnnounceReply,
    AnnounceRequest,
    ClientError,
    Event,
    ScrapeCounts,
    SwarmKind,
    endpoint_port,
    endpoint_text,
    pack_ip,
)
from .ratelog import RateLimitedLog

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_ANNOUNCE_QUERY = 4096  # a real announce is ~250 bytes
MAX_SCRAPE_QUERY = 1 << 20
MAX_KEY = 64  # bytes of the client's `key` / `trackerid`
_MAX_INT = (1 << 63) - 1

_EVENTS = {
    b"": Event.NONE,
    b"empty": Event.NONE,
    b"paused": Event.NONE,  # BEP 21 partial seeds: an ordinary refresh for us
    b"started": Event.STARTED,
    b"completed": Event.COMPLETED,
    b"stopped": Event.STOPPED,
}


# -- parsing (pure) -------------------------------------------------------------------------------


_PERCENT_AS_QP = bytes.maketrans(b"%", b"=")
_QP_SPECIAL = b"= \t\r\n"  # what quoted-printable decoding treats differently from percent-decoding


def unquote_binary(raw: bytes) -> bytes:
    """Decode a query value as a form does (``application/x-www-form-urlencoded``: ``+`` is a
    space, ``%XX`` a byte), exactly as ``urllib.parse.unquote_to_bytes(raw.replace(b"+", b" "))``,
    at C speed.

    BitTorrent clients escape every byte but the unreserved ones, so a raw ``+`` only comes from a
    form encoder (Python's ``urlencode``, Node's ``querystring``), where it stands for a space: an
    info_hash holding 0x20 (one in 13) read with ``+`` as itself named another torrent ("torrent
    not registered"). WebTorrent's tracker reads it the same way.

    An info_hash or peer_id is up to 20 escapes, and the pure-Python decoder cost more than the
    rest of an announce. Percent-encoding is quoted-printable with ``%`` for ``=``, so binascii
    decodes it, unless the value holds a byte that quoted-printable reads differently (``=``,
    whitespace) or an escape that is not two hex digits (then the length comes out wrong): those
    rare values take the standard decoder.
    """
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    if b"%" not in raw:
        return raw
    if len(raw.translate(None, _QP_SPECIAL)) == len(raw):
        decoded = binascii.a2b_qp(raw.translate(_PERCENT_AS_QP))
        if len(decoded) == len(raw) - 2 * raw.count(b"%"):
            return decoded
    return unquote_to_bytes(raw)


def parse_fields(query: bytes) -> dict[bytes, bytes]:
    """Query parameters, raw (still percent-encoded); the first occurrence of a name wins."""
    fields: dict[bytes, bytes] = {}
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if name not in fields:
            fields[name] = value
    return fields


def _binary(fields: dict[bytes, bytes], name: bytes) -> bytes:
    raw = fields.get(name)
    if raw is None:
        raise ClientError(f"missing {name.decode()}")
    value = unquote_binary(raw)
    if len(value) != 20:
        raise ClientError(f"{name.decode()} must be 20 bytes, got {len(value)}")
    return value


def _uint(fields: dict[bytes, bytes], name: bytes, default: int | None = None) -> int:
    raw = fields.get(name)
    if raw is None:
        if default is None:
            raise ClientError(f"missing {name.decode()}")
        return default
    if not raw.isdigit() or len(raw) > 19 or int(raw) > _MAX_INT:
        raise ClientError(f"{name.decode()} must be a non-negative integer")
    return int(raw)


def parse_announce(query: bytes, ip: bytes) -> tuple[AnnounceRequest, bool, bool]:
    """(request, compact, no_peer_id) from a raw query string and the client's packed IP."""
    if len(query) > MAX_ANNOUNCE_QUERY:
        raise ClientError("announce query too long")
    fields = parse_fields(query)
    info_hash = _binary(fields, b"info_hash")
    peer_id = _binary(fields, b"peer_id")
    port = _uint(fields, b"port")
    if not 0 < port <= 65535:
        raise ClientError("port must be between 1 and 65535")
    # WebTorrent 1.x announces an empty `left=` while a magnet's metadata is unknown (its `left` is
    # NaN, which Node's querystring writes as nothing): a peer with bytes still to fetch, a leecher,
    # as WebTorrent's own tracker (bittorrent-tracker) takes it. A missing `left` stays an error.
    left = 1 if fields.get(b"left") == b"" else _uint(fields, b"left")
    uploaded = _uint(fields, b"uploaded", 0)
    downloaded = _uint(fields, b"downloaded", 0)
    numwant_raw = fields.get(b"numwant", fields.get(b"num_want"))
    numwant = None
    if numwant_raw is not None:
        if not numwant_raw.isdigit():
            raise ClientError("numwant must be a non-negative integer")
        # anything longer than nine digits is over any cap; skip converting a huge number
        numwant = int(numwant_raw) if len(numwant_raw) <= 9 else 1 << 30
    event = _EVENTS.get(fields.get(b"event", b""))
    if event is None:
        raise ClientError("event must be started, completed, stopped or empty")
    key = unquote_binary(fields[b"key"]) if b"key" in fields else b""
    if len(key) > MAX_KEY:
        raise ClientError("key too long")
    tracker_id = fields.get(b"trackerid")
    if tracker_id is not None and len(tracker_id) > 3 * MAX_KEY:
        raise ClientError("trackerid too long")
    request = AnnounceRequest(
        info_hash=info_hash,
        peer_id=peer_id,
        kind=SwarmKind.IPV4 if len(ip) == 4 else SwarmKind.IPV6,
        endpoint=ip + port.to_bytes(2, "big"),
        left=left,
        event=event,
        numwant=numwant,
        uploaded=uploaded,
        downloaded=downloaded,
        key=key,
        protocol="http",
    )
    return request, fields.get(b"compact") != b"0", fields.get(b"no_peer_id") == b"1"


def parse_scrape(query: bytes) -> tuple[list[bytes], int]:
    """(first MAX_SCRAPE distinct infohashes, how many more were asked and ignored)."""
    if len(query) > MAX_SCRAPE_QUERY:
        raise ClientError("scrape query too long")
    hashes: dict[bytes, None] = {}
    ignored = 0
    for part in query.split(b"&"):
        name, _, raw = part.partition(b"=")
        if name != b"info_hash":
            continue
        if len(hashes) >= MAX_SCRAPE:
            ignored += 1
            continue
        value = unquote_binary(raw)
        if len(value) != 20:
            raise ClientError(f"info_hash must be 20 bytes, got {len(value)}")
        hashes[value] = None
    if not hashes:
        raise ClientError("name at least one info_hash (full scrapes are not offered)")
    return list(hashes), ignored


# -- writing (pure) -------------------------------------------------------------------------------


def failure(reason: str) -> bytes:
    raw = reason.encode()
    return b"d14:failure reason%d:%se" % (len(raw), raw)


INTERNAL_ERROR = failure("internal error")


class ReplyWriter:
    """Bencoded replies from templates holding everything constant (intervals, tracker id)."""

    def __init__(self, interval: int, min_interval: int, tracker_id: bytes) -> None:
        self.interval = interval
        self.min_interval = min_interval
        self.tracker_id = tracker_id
        constant_mid = b"8:intervali%de12:min intervali%de" % (interval, min_interval)
        constant_tail = b"10:tracker id%d:%se" % (len(tracker_id), tracker_id)
        esc_mid = constant_mid.replace(b"%", b"%%")
        esc_tail = constant_tail.replace(b"%", b"%%")
        head = b"d8:completei%de10:downloadedi%de11:external ip%d:%s10:incompletei%de"
        self._compact4 = head + esc_mid + b"5:peers%d:%s" + esc_tail
        self._compact6 = head + esc_mid + b"5:peers0:6:peers6%d:%s" + esc_tail
        self._scrape_flags = b"5:flagsd20:min_request_intervali%dee" % min_interval

    def compact(self, reply: AnnounceReply, external_ip: bytes) -> bytes:
        peers = reply.compact
        template = self._compact4 if len(external_ip) == 4 else self._compact6
        return template % (
            reply.complete,
            reply.downloaded,
            len(external_ip),
            external_ip,
            reply.incomplete,
            len(peers),
            peers,
        )

    def full(self, reply: AnnounceReply, external_ip: bytes, no_peer_id: bool) -> bytes:
        peers: list[dict[str, Any]] = []
        for peer in reply.peers:
            entry: dict[str, Any] = {"ip": endpoint_text(peer.endpoint), "port": endpoint_port(peer.endpoint)}
            if not no_peer_id:
                entry["peer id"] = peer.peer_id
            peers.append(entry)
        return bencode(
            {
                "complete": reply.complete,
                "downloaded": reply.downloaded,
                "external ip": external_ip,
                "incomplete": reply.incomplete,
                "interval": self.interval,
                "min interval": self.min_interval,
                "peers": peers,
                "tracker id": self.tracker_id,
            }
        )

    def scrape(self, files: Sequence[tuple[bytes, ScrapeCounts]], ignored: int) -> bytes:
        out = [b"d5:filesd"]
        for info_hash, counts in sorted(files):
            out.append(
                b"20:%sd8:completei%de10:downloadedi%de10:incompletei%dee"
                % (info_hash, counts.complete, counts.downloaded, counts.incomplete)
            )
        out.append(b"e")
        out.append(self._scrape_flags)
        if ignored:
            warning = f"only the first {MAX_SCRAPE} info_hash values are scraped; {ignored} ignored".encode()
            out.append(b"15:warning message%d:%s" % (len(warning), warning))
        out.append(b"e")
        return b"".join(out)


# -- the ASGI edge --------------------------------------------------------------------------------

_HEADERS_CACHE: dict[int, list[tuple[bytes, bytes]]] = {}


def _headers(length: int) -> list[tuple[bytes, bytes]]:
    headers = _HEADERS_CACHE.get(length)
    if headers is None:
        headers = [
            (b"content-type", b"text/plain"),
            (b"content-length", b"%d" % length),
            (b"cache-control", b"no-store"),
        ]
        if len(_HEADERS_CACHE) < 4096:
            _HEADERS_CACHE[length] = headers
    return headers


Reply = tuple[int, bytes]
Job = tuple[Coroutine[Any, Any, Reply], bool]


async def _ready(reply: Reply) -> Reply:
    return reply


class HttpFrontend:
    """Announce and scrape for any HTTP server: the ASGI app and the fast protocol both use it.

    ``announce_job``/``scrape_job`` parse synchronously and return the coroutine producing
    ``(status, body)`` plus whether it can run inline: true when nothing in it can suspend (an
    in-process store and a cached policy answer), so a caller outside any task may drive it with
    :func:`~torrent_gateway.tracker.inline.run_inline` instead of creating a task.
    """

    def __init__(
        self,
        logic: TrackerLogic,
        writer: ReplyWriter,
        trusted_proxies: Sequence[str],
        *,
        inline_store: bool,
        forwarded_header: ForwardedHeader = DEFAULT_FORWARDED_HEADER,
    ) -> None:
        self.logic = logic
        self.writer = writer
        self.trusted = tuple(trusted_proxies)
        # Only the header the proxies in front of us set (gateway.forwarded_header) is read.
        self.forwarded_header: ForwardedHeader = forwarded_header
        self.inline_store = inline_store
        self._errors = RateLimitedLog(log)

    def client_ip(self, peer: str | None, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
        """The packed client address: the socket peer, or what trusted proxies forwarded."""
        text = client_address(peer, headers, self.trusted, self.forwarded_header) if self.trusted else peer
        if not text:
            raise ClientError("cannot tell the client's address")
        try:
            return pack_ip(text)
        except ValueError:
            raise ClientError("cannot tell the client's address") from None

    def _failed(self, exc: ClientError) -> Job:
        metrics.CLIENT_ERRORS_HTTP.inc()
        return _ready((200, failure(str(exc)))), True

    def announce_job(self, query: bytes, peer: str | None, headers: Iterable[tuple[bytes, bytes]]) -> Job:
        try:
            ip = self.client_ip(peer, headers)
            request, compact, no_peer_id = parse_announce(query, ip)
        except ClientError as exc:
            return self._failed(exc)
        inline = self.inline_store and self.logic.policy_cached(request.info_hash) is not None
        return self._announce(request, ip, compact, no_peer_id), inline

    async def _announce(self, request: AnnounceRequest, ip: bytes, compact: bool, no_peer_id: bool) -> Reply:
        try:
            reply = await self.logic.announce(request)
        except ClientError as exc:
            metrics.CLIENT_ERRORS_HTTP.inc()
            return 200, failure(str(exc))
        except Exception:
            metrics.INTERNAL_ERRORS_HTTP.inc()
            self._errors.exception("HTTP announce failed")
            return 500, INTERNAL_ERROR
        metrics.ANNOUNCES_HTTP.inc()
        return 200, self.writer.compact(reply, ip) if compact else self.writer.full(reply, ip, no_peer_id)

    def scrape_job(self, query: bytes) -> Job:
        try:
            hashes, ignored = parse_scrape(query)
        except ClientError as exc:
            return self._failed(exc)
        inline = self.inline_store and all(self.logic.policy_cached(ih) is not None for ih in hashes)
        return self._scrape(hashes, ignored), inline

    async def _scrape(self, hashes: list[bytes], ignored: int) -> Reply:
        try:
            counts = await self.logic.scrape(hashes)
        except Exception:
            metrics.INTERNAL_ERRORS_HTTP.inc()
            self._errors.exception("HTTP scrape failed")
            return 500, INTERNAL_ERROR
        metrics.SCRAPES_HTTP.inc()
        files = [(ih, c) for ih, c in zip(hashes, counts, strict=True) if c is not None]
        return 200, self.writer.scrape(files, ignored)

    # -- ASGI -----------------------------------------------------------------------------------
    async def asgi_announce(self, scope: dict[str, Any], send: Send) -> None:
        client = scope.get("client")
        job, _ = self.announce_job(scope["query_string"], client[0] if client else None, scope["headers"])
        await self._respond(await job, send)

    async def asgi_scrape(self, scope: dict[str, Any], send: Send) -> None:
        job, _ = self.scrape_job(scope["query_string"])
        await self._respond(await job, send)

    @staticmethod
    async def _respond(reply: Reply, send: Send) -> None:
        status, body = reply
        await send({"type": "http.response.start", "status": status, "headers": _headers(len(body))})
        await send({"type": "http.response.body", "body": body})
