"""Coverage-guided fuzz targets (atheris) for every parser of untrusted bytes.

Run one: ``python tests/fuzz/targets.py <target> -runs=100000 -max_len=4096``; the test suite runs
each for a bounded number of inputs (tests/fuzz/test_fuzz_targets.py). A target fails only on an
exception that is not the parser's documented "bad input" error — a crash, hang or memory blow-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

import atheris

with atheris.instrument_imports(include=["torrent_gateway"]):
    from torrent_gateway.bencode import BencodeError, bdecode
    from torrent_gateway.hls.probe import ProbeError, parse_probe
    from torrent_gateway.ingest.naming import clean_media_type, safe_file_name, sniff_mime_type
    from torrent_gateway.nostr.events import InvalidEvent, decode_auth_header, verify_event
    from torrent_gateway.nostr.nip98 import verify_http_auth
    from torrent_gateway.tracker import metrics as tracker_metrics
    from torrent_gateway.tracker.http import parse_announce as parse_http_announce
    from torrent_gateway.tracker.http import parse_scrape
    from torrent_gateway.tracker.model import ClientError
    from torrent_gateway.web.ranges import RangeNotSatisfiable, parse_range


def fuzz_bencode(data: bytes) -> None:
    with contextlib.suppress(BencodeError):
        bdecode(data)


def fuzz_metainfo(data: bytes) -> None:
    """A .torrent as a tracker or client would receive it: bencoded dict with an info dict."""
    try:
        value = bdecode(data)
    except BencodeError:
        return
    if isinstance(value, dict) and isinstance(value.get(b"info"), dict):
        info = value[b"info"]
        for key in (b"name", b"pieces", b"piece length", b"length"):
            info.get(key)


def fuzz_range(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    size = provider.ConsumeIntInRange(1, 10**12)
    header = provider.ConsumeUnicodeNoSurrogates(512)
    try:
        ranges = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    for item in ranges or []:
        if not 0 <= item.start <= item.end < size:
            raise AssertionError(f"range out of bounds: {item} for {size}")
    # Never amplified: coalesced ranges add up to at most the file, in ascending disjoint order.
    if sum(item.length for item in ranges or []) > size:
        raise AssertionError(f"ranges {ranges} ask for more than {size} bytes")
    for first, second in zip(ranges or [], (ranges or [])[1:], strict=False):
        if first.end + 1 >= second.start:
            raise AssertionError(f"ranges not coalesced: {first}, {second}")


def fuzz_file_name(data: bytes) -> None:
    name = safe_file_name(data.decode("utf-8", "replace"))
    if "/" in name or "\\" in name or name in (".", "..") or len(name.encode()) > 200:
        raise AssertionError(f"unsafe name {name!r}")
    sniff_mime_type(data)


def fuzz_media_type(data: bytes) -> None:
    """A Content-Type as sent: the kept type is always a header-safe RFC 9110 type/subtype."""
    cleaned = clean_media_type(data.decode("latin-1"))
    major, slash, minor = cleaned.partition("/")
    if not slash or not major or not minor or any(ch in cleaned for ch in ' \t\r\n;,"\x00\x7f'):
        raise AssertionError(f"unsafe media type {cleaned!r}")


def fuzz_probe_output(data: bytes) -> None:
    """What ffprobe prints about an uploaded file (its strings come from the file's metadata)."""
    with contextlib.suppress(ProbeError):
        parse_probe(data)


def fuzz_nostr_event(data: bytes) -> None:
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        return
    with contextlib.suppress(InvalidEvent):
        verify_event(event)


def fuzz_auth_header(data: bytes) -> None:
    header = data.decode("latin-1")
    try:
        event = decode_auth_header(header)
        verify_http_auth(event, urls="http://127.0.0.1/api/upload", method="PUT")
    except (InvalidEvent, ValueError):
        pass


def fuzz_multipart(data: bytes) -> None:
    from python_multipart.multipart import MultipartParser

    parser = MultipartParser(b"boundary", callbacks={}, max_size=float("inf"))
    try:
        parser.write(data)
        parser.finalize()
    except Exception as exc:  # the upload route turns any parser error into a 400
        if isinstance(exc, (MemoryError, RecursionError)):
            raise


def fuzz_tracker_query(data: bytes) -> None:
    """The raw query string of an HTTP announce or scrape (info_hash and peer_id are raw bytes)."""
    with contextlib.suppress(ClientError):
        parse_http_announce(data, b"\x7f\x00\x00\x01")
    with contextlib.suppress(ClientError):
        parse_scrape(data)


_LOOP: Any = None
_TRACKER: Any = None


def _tracker() -> Any:
    global _LOOP, _TRACKER
    if _TRACKER is None:
        from torrent_gateway.config import load_settings
        from torrent_gateway.tracker import Tracker
        from torrent_gateway.tracker.swarm_memory import MemorySwarmStore

        _LOOP = asyncio.new_event_loop()
        settings = load_settings(None, tracker={"policy": "open", "secret": "fuzz"})
        _TRACKER = Tracker(settings, MemorySwarmStore(settings.tracker.peer_ttl))
    return _TRACKER


class _Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, payload: bytes, addr: object) -> None:
        self.sent.append(payload)

    def is_closing(self) -> bool:
        return False


def fuzz_udp_packet(data: bytes) -> None:
    """A datagram on the UDP tracker port: never an internal error, never a reply larger than the
    request (anti-amplification: a fuzzer cannot forge a valid connection id)."""
    from torrent_gateway.tracker.udp import UdpFrontend

    tracker = _tracker()
    frontend = UdpFrontend(tracker.logic, tracker.connection_ids, inline_store=True)
    transport = _Transport()
    frontend.connection_made(transport)  # type: ignore[arg-type]
    before = tracker_metrics.INTERNAL_ERRORS_UDP._value.get()

    async def feed() -> None:
        frontend.datagram_received(data, ("127.0.0.1", 6881))
        await asyncio.sleep(0)

    _LOOP.run_until_complete(feed())
    if tracker_metrics.INTERNAL_ERRORS_UDP._value.get() != before:
        raise AssertionError("internal error on a datagram")
    for reply in transport.sent:
        if len(reply) > max(len(data), 16):
            raise AssertionError(f"{len(reply)}-byte reply to a {len(data)}-byte datagram")


def _socket_pair(inbox: list[dict[str, Any]]) -> tuple[Any, Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    return receive, send


def fuzz_ws_message(data: bytes) -> None:
    """One WebSocket tracker message (WebTorrent JSON), as text and as bytes."""
    tracker = _tracker()
    for frame in (
        {"type": "websocket.receive", "text": data.decode("utf-8", "replace")},
        {"type": "websocket.receive", "bytes": data},
    ):
        inbox = [{"type": "websocket.connect"}, frame, {"type": "websocket.disconnect", "code": 1000}]
        receive, send = _socket_pair(inbox)

        scope = {
            "type": "websocket",
            "path": "/announce",
            "client": ("127.0.0.1", 5000),
            "headers": [],
            "query_string": b"",
        }
        _LOOP.run_until_complete(asyncio.wait_for(tracker.ws.handle(scope, receive, send), 5))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "bencode": fuzz_bencode,
    "metainfo": fuzz_metainfo,
    "range": fuzz_range,
    "file_name": fuzz_file_name,
    "nostr_event": fuzz_nostr_event,
    "auth_header": fuzz_auth_header,
    "multipart": fuzz_multipart,
    "media_type": fuzz_media_type,
    "probe_output": fuzz_probe_output,
    "tracker_query": fuzz_tracker_query,
    "udp_packet": fuzz_udp_packet,
    "ws_message": fuzz_ws_message,
}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
