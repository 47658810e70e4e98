"""HTTP tracker wire format: query parsing from raw bytes and bencoded replies (BEP 3/7/23/24/48)."""

from __future__ import annotations

from urllib.parse import quote_from_bytes, unquote_to_bytes, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torrent_gateway.bencode import bdecode
from torrent_gateway.tracker.http import (
    MAX_ANNOUNCE_QUERY,
    ReplyWriter,
    failure,
    parse_announce,
    parse_scrape,
    unquote_binary,
)
from torrent_gateway.tracker.logic import MAX_SCRAPE
from torrent_gateway.tracker.model import (
    AnnounceReply,
    ClientError,
    Event,
    ScrapeCounts,
    StoredPeer,
    SwarmKind,
)

IH = bytes(range(200, 220))  # not valid UTF-8: must survive raw
PID = b"-qB4630-\xff\xfe" + b"x" * 10
IP4 = bytes([192, 0, 2, 7])
IP6 = bytes.fromhex("20010db8000000000000000000000001")


def query(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "info_hash": quote_from_bytes(IH, safe=""),
        "peer_id": quote_from_bytes(PID, safe=""),
        "port": 6881,
        "uploaded": 0,
        "downloaded": 10,
        "left": 1000,
        "compact": 1,
    }
    fields.update(overrides)
    return "&".join(f"{k}={v}" for k, v in fields.items() if v is not None).encode()


def test_announce_parses_raw_binary_values() -> None:
    request, compact, no_peer_id = parse_announce(query(event="started", key="abc", numwant=10), IP4)
    assert request.info_hash == IH and request.peer_id == PID
    assert request.endpoint == IP4 + (6881).to_bytes(2, "big")
    assert request.kind == SwarmKind.IPV4 and request.event == Event.STARTED
    assert (request.left, request.downloaded, request.numwant, request.key) == (1000, 10, 10, b"abc")
    assert compact and not no_peer_id
    request6, _, _ = parse_announce(query(), IP6)
    assert request6.kind == SwarmKind.IPV6 and len(request6.endpoint) == 18


def test_announce_flags_and_defaults() -> None:
    request, compact, no_peer_id = parse_announce(
        query(compact=0, no_peer_id=1, uploaded=None, downloaded=None, num_want=7), IP4
    )
    assert not compact and no_peer_id
    assert (request.uploaded, request.downloaded, request.numwant) == (0, 0, 7)
    assert parse_announce(query(compact=None), IP4)[1]  # compact unless told otherwise
    for name, event in [
        ("completed", Event.COMPLETED),
        ("stopped", Event.STOPPED),
        ("", Event.NONE),
        ("paused", Event.NONE),
    ]:
        assert parse_announce(query(event=name), IP4)[0].event == event
    huge = parse_announce(query(numwant="9" * 40), IP4)[0]
    assert huge.numwant is not None and huge.numwant >= 10**6


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"info_hash": None}, "missing info_hash"),
        ({"peer_id": None}, "missing peer_id"),
        ({"port": None}, "missing port"),
        ({"left": None}, "missing left"),
        ({"info_hash": "%41" * 19}, "info_hash must be 20 bytes, got 19"),
        ({"info_hash": "%41" * 21}, "info_hash must be 20 bytes, got 21"),
        ({"peer_id": "short"}, "peer_id must be 20 bytes, got 5"),
        ({"port": 0}, "port must be between 1 and 65535"),
        ({"port": 65536}, "port must be between 1 and 65535"),
        ({"port": -1}, "port must be a non-negative integer"),
        ({"left": -5}, "left must be a non-negative integer"),
        ({"uploaded": "1e3"}, "uploaded must be a non-negative integer"),
        ({"downloaded": "9" * 20}, "downloaded must be a non-negative integer"),
        ({"numwant": -1}, "numwant must be a non-negative integer"),
        ({"event": "bogus"}, "event must be"),
        ({"key": "k" * 65}, "key too long"),
    ],
)
def test_announce_client_errors(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(ClientError, match=reason):
        parse_announce(query(**overrides), IP4)


def test_an_empty_left_is_a_leecher_as_webtorrent_sends_it_for_a_magnet() -> None:
    # WebTorrent 1.x writes `left=` (its NaN) until a magnet's metadata is known.
    request, _, _ = parse_announce(query(left=""), IP4)
    assert request.left == 1
    with pytest.raises(ClientError, match="missing left"):
        parse_announce(query(left=None), IP4)


def test_announce_query_length_is_bounded() -> None:
    with pytest.raises(ClientError, match="too long"):
        parse_announce(query() + b"&pad=" + b"x" * MAX_ANNOUNCE_QUERY, IP4)


def test_scrape_caps_and_dedupes() -> None:
    hashes = [i.to_bytes(20, "big") for i in range(10_000)]
    raw = "&".join("info_hash=" + quote_from_bytes(h, safe="") for h in hashes).encode()
    first, ignored = parse_scrape(raw)
    assert first == hashes[:MAX_SCRAPE] and ignored == 10_000 - MAX_SCRAPE
    twice = parse_scrape(
        b"info_hash=" + quote_from_bytes(IH).encode() + b"&info_hash=" + quote_from_bytes(IH).encode()
    )
    assert twice == ([IH], 0)
    with pytest.raises(ClientError, match="at least one"):
        parse_scrape(b"")
    with pytest.raises(ClientError, match="20 bytes"):
        parse_scrape(b"info_hash=abc")


def _reply(peers: list[StoredPeer]) -> AnnounceReply:
    return AnnounceReply(1800, 300, 3, 4, 5, peers, b"".join(p.endpoint for p in peers))


def test_compact_reply_v4_and_v6() -> None:
    writer = ReplyWriter(1800, 300, b"tid%1")
    peer = StoredPeer(PID, IP4 + b"\x1a\xe1", True)
    body = bdecode(writer.compact(_reply([peer, peer]), IP4))  # bdecode checks key order
    assert body == {
        b"complete": 3,
        b"downloaded": 5,
        b"external ip": IP4,
        b"incomplete": 4,
        b"interval": 1800,
        b"min interval": 300,
        b"peers": (IP4 + b"\x1a\xe1") * 2,
        b"tracker id": b"tid%1",
    }
    peer6 = StoredPeer(PID, IP6 + b"\x1a\xe1", False)
    body6 = bdecode(writer.compact(_reply([peer6]), IP6))
    assert body6[b"peers"] == b"" and body6[b"peers6"] == IP6 + b"\x1a\xe1"
    assert body6[b"external ip"] == IP6


def test_full_reply_lists_dicts() -> None:
    writer = ReplyWriter(1800, 300, b"t")
    peers = [StoredPeer(PID, IP4 + b"\x1a\xe1", True), StoredPeer(PID, IP6 + b"\x00\x50", False)]
    body = bdecode(writer.full(_reply(peers), IP4, no_peer_id=False))
    assert body[b"peers"] == [
        {b"ip": b"192.0.2.7", b"peer id": PID, b"port": 6881},
        {b"ip": b"2001:db8::1", b"peer id": PID, b"port": 80},
    ]
    bare = bdecode(writer.full(_reply(peers), IP4, no_peer_id=True))
    assert b"peer id" not in bare[b"peers"][0]


def test_scrape_reply_and_warning() -> None:
    writer = ReplyWriter(1800, 300, b"t")
    other = b"\x01" * 20
    body = bdecode(writer.scrape([(IH, ScrapeCounts(1, 2, 3)), (other, ScrapeCounts(0, 0, 0))], ignored=0))
    assert body == {
        b"files": {
            IH: {b"complete": 1, b"downloaded": 3, b"incomplete": 2},
            other: {b"complete": 0, b"downloaded": 0, b"incomplete": 0},
        },
        b"flags": {b"min_request_interval": 300},
    }
    warned = bdecode(writer.scrape([(IH, ScrapeCounts(1, 2, 3))], ignored=9900))
    assert b"9900 ignored" in warned[b"warning message"]


def test_failure_is_bencoded() -> None:
    assert bdecode(failure("port must be between 1 and 65535")) == {
        b"failure reason": b"port must be between 1 and 65535"
    }


# Bytes that make percent-decoding and quoted-printable decoding differ, mixed with escapes.
_TRICKY = st.lists(
    st.sampled_from(
        [b"%", b"4", b"a", b"F", b"g", b" ", b"\t", b"\r", b"\n", b"=", b"_", b"+", b"\x00", b"\xff"]
        + [b"%0", b"%41", b"%0a", b"%0D", b"%20", b"%09", b"%3D", b"%3d", b"%%"]
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(_TRICKY, st.binary(max_size=40), st.binary(min_size=20, max_size=20).map(quote_from_bytes)))
def test_unquote_binary_decodes_exactly_like_the_standard_library(raw: bytes | str) -> None:
    # As a form decodes (parse_qs): ``+`` is a space, then percent-decoding.
    raw = raw.encode() if isinstance(raw, str) else raw
    assert unquote_binary(raw) == unquote_to_bytes(raw.replace(b"+", b" "))
    assert unquote_binary(raw.lower()) == unquote_to_bytes(raw.lower().replace(b"+", b" "))


def test_an_info_hash_sent_by_a_form_encoder_is_read_back_whole() -> None:
    # urlencode writes the byte 0x20 as "+" (one info_hash in 13 holds one): it must name the same
    # torrent, as it does for WebTorrent's tracker; read as a literal "+" it named another one.
    info_hash = bytes.fromhex("adff20930724ddbd9830f4dd91011980383b90f1")
    query = urlencode({"info_hash": info_hash, "peer_id": PID, "port": 6881, "left": 0}).encode()
    assert b"+" in query
    request, _, _ = parse_announce(query, IP4)
    assert request.info_hash == info_hash
    assert parse_scrape(urlencode({"info_hash": info_hash}).encode())[0] == [info_hash]
