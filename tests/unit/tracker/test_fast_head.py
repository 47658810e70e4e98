"""Which request heads the fast HTTP path answers itself, and which it hands to uvicorn."""

from __future__ import annotations

import pytest
from torrent_gateway.tracker.http_fast import parse_head


def test_announce_and_scrape_heads() -> None:
    head = parse_head(
        b"GET /announce?info_hash=x HTTP/1.1\r\nHost: a\r\nUser-Agent: b", want_forwarding=False
    )
    assert head is not None and head.announce and head.query == b"info_hash=x" and head.keep_alive
    scrape = parse_head(b"GET /scrape?info_hash=y HTTP/1.0", want_forwarding=False)
    assert scrape is not None and not scrape.announce and not scrape.keep_alive
    bare = parse_head(b"GET /announce HTTP/1.1", want_forwarding=False)
    assert bare is not None and bare.query == b""


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET /announce?a HTTP/1.1\r\nConnection: close", False),
        (b"GET /announce?a HTTP/1.1\r\nconnection: Keep-Alive, Close", False),
        (b"GET /announce?a HTTP/1.0\r\nConnection: keep-alive", True),
        (b"GET /announce?a HTTP/1.1\r\nContent-Length: 0", True),
    ],
)
def test_connection_header(head: bytes, keep_alive: bool) -> None:
    parsed = parse_head(head, want_forwarding=False)
    assert parsed is not None and parsed.keep_alive is keep_alive


@pytest.mark.parametrize(
    "head",
    [
        b"POST /announce?a HTTP/1.1",
        b"GET /announce/x?a HTTP/1.1",
        b"GET /other HTTP/1.1",
        b"GET /announce?a HTTP/2.0",
        b"GET /announce?a  HTTP/1.1",
        b"GET /announce?a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade",
        b"GET /announce?a HTTP/1.1\r\nContent-Length: 5",
        b"GET /announce?a HTTP/1.1\r\nTransfer-Encoding: chunked",
        b"GET /announce?a HTTP/1.1\r\nExpect: 100-continue",
        b"GET /announce?a HTTP/1.1\r\nBroken header line",
        b"GET /announce?a HTTP/1.1\r\nHost : a",
        b"GET /announce?a HTTP/1.1\r\nX-A: b\r\n folded",
    ],
)
def test_handed_off(head: bytes) -> None:
    assert parse_head(head, want_forwarding=False) is None


def test_forwarding_headers_only_when_wanted() -> None:
    raw = b"GET /announce?a HTTP/1.1\r\nX-Forwarded-For: 2001:db8::5\r\nForwarded: for=1.2.3.4\r\nHost: h"
    assert parse_head(raw, want_forwarding=False).headers == []  # type: ignore[union-attr]
    assert parse_head(raw, want_forwarding=True).headers == [  # type: ignore[union-attr]
        (b"x-forwarded-for", b"2001:db8::5"),
        (b"forwarded", b"for=1.2.3.4"),
    ]
