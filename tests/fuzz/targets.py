"""Coverage-guided fuzz targets (atheris) for every parser of untrusted bytes.

Run one: ``python tests/fuzz/targets.py <target> -runs=100000 -max_len=4096``; the test suite runs
each for a bounded number of inputs (tests/fuzz/test_fuzz_targets.py). A target fails only on an
exception that is not the parser's documented "bad input" error — a crash, hang or memory blow-up.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["torrent_gateway"]):
    from torrent_gateway.bencode import BencodeError, bdecode
    from torrent_gateway.gateway.ranges import RangeNotSatisfiable, parse_range
    from torrent_gateway.ingest.naming import safe_file_name, sniff_mime_type
    from torrent_gateway.nostr.events import InvalidEvent, decode_auth_header, verify_event
    from torrent_gateway.nostr.nip98 import verify_http_auth


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


def fuzz_file_name(data: bytes) -> None:
    name = safe_file_name(data.decode("utf-8", "replace"))
    if "/" in name or "\\" in name or name in (".", "..") or len(name.encode()) > 200:
        raise AssertionError(f"unsafe name {name!r}")
    sniff_mime_type(data)


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


TARGETS: dict[str, Callable[[bytes], None]] = {
    "bencode": fuzz_bencode,
    "metainfo": fuzz_metainfo,
    "range": fuzz_range,
    "file_name": fuzz_file_name,
    "nostr_event": fuzz_nostr_event,
    "auth_header": fuzz_auth_header,
    "multipart": fuzz_multipart,
}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
