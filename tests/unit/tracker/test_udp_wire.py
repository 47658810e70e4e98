"""BEP 15 wire format and stateless connection ids."""

from __future__ import annotations

import struct

import pytest
from torrent_gateway.tracker.model import ClientError, Event, SwarmKind
from torrent_gateway.tracker.udp import ConnectionIds, derive_secret, error_packet, parse_announce

IP = bytes([192, 0, 2, 1])


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_connection_ids_live_one_to_two_minutes() -> None:
    clock = Clock()
    ids = ConnectionIds(derive_secret("s"), clock=clock)
    cid = ids.issue(IP)
    assert len(cid) == 8 and ids.valid(cid, IP)
    clock.now += 60
    assert ids.valid(cid, IP)  # the previous window is still accepted
    clock.now += 60
    assert not ids.valid(cid, IP)  # stale


def test_connection_ids_are_bound_to_address_and_secret() -> None:
    clock = Clock()
    ids = ConnectionIds(derive_secret("s"), clock=clock)
    cid = ids.issue(IP)
    assert not ids.valid(cid, bytes([192, 0, 2, 2]))  # other address
    assert not ids.valid(cid, bytes(15) + b"\x01")
    assert not ids.valid(bytes(8), IP)  # forged
    other_replica = ConnectionIds(derive_secret("s"), clock=clock)
    assert other_replica.valid(cid, IP)  # same secret: any replica accepts it
    assert not ConnectionIds(derive_secret("t"), clock=clock).valid(cid, IP)
    with pytest.raises(ValueError):
        ConnectionIds(b"")


def packet(**fields: object) -> bytes:
    values: dict[str, object] = {
        "cid": b"c" * 8,
        "action": 1,
        "tid": 7,
        "ih": b"i" * 20,
        "pid": b"p" * 20,
        "downloaded": 0,
        "left": 100,
        "uploaded": 0,
        "event": 2,
        "ip": 0,
        "key": b"kkkk",
        "numwant": -1,
        "port": 6881,
    }
    values.update(fields)
    return struct.pack(">8sII20s20sqqqII4siH", *values.values())


def test_announce_parsing() -> None:
    request, tid = parse_announce(packet(), IP)
    assert tid == 7 and request.info_hash == b"i" * 20 and request.peer_id == b"p" * 20
    assert request.event == Event.STARTED and request.numwant is None and request.key == b"kkkk"
    assert request.endpoint == IP + (6881).to_bytes(2, "big") and request.kind == SwarmKind.IPV4
    assert parse_announce(packet(numwant=30), IP)[0].numwant == 30
    assert parse_announce(packet() + b"\x02\x05/path", IP)[0].left == 100  # BEP 41 options


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"port": 0}, "port"),
        ({"event": 9}, "event"),
        ({"left": -1}, "negative"),
        ({"uploaded": -5}, "negative"),
        ({"downloaded": -(2**63)}, "negative"),
    ],
)
def test_announce_client_errors(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ClientError, match=reason):
        parse_announce(packet(**fields), IP)


def test_truncated_announce() -> None:
    with pytest.raises(ClientError, match="too short"):
        parse_announce(packet()[:97], IP)


def test_error_packet() -> None:
    assert error_packet(9, "boom") == struct.pack(">II", 3, 9) + b"boom"
    assert len(error_packet(9, "x" * 1000)) == 208
