"""UDP tracker (BEP 15) on loopback: connect/announce/scrape/error, bad datagrams, amplification."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator

import pytest
from torrent_gateway.tracker import Tracker
from torrent_gateway.tracker.swarm_memory import MemorySwarmStore

from .conftest import tracker_settings

MAGIC = 0x41727101980
IH = b"\x5a" * 20


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.replies.put_nowait(data)

    async def ask(self, data: bytes, within: float = 2.0) -> bytes | None:
        assert self.transport is not None
        self.transport.sendto(data)
        try:
            return await asyncio.wait_for(self.replies.get(), within)
        except TimeoutError:
            return None

    async def connect(self) -> bytes:
        reply = await self.ask(struct.pack(">QII", MAGIC, 0, 77))
        assert reply is not None and len(reply) == 16
        assert struct.unpack(">II", reply[:8]) == (0, 77)
        return reply[8:]


async def open_client(port: int, host: str = "127.0.0.1") -> UdpClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_datagram_endpoint(UdpClient, remote_addr=(host, port))
    return client


def announce(
    cid: bytes,
    *,
    tid: int = 1,
    info_hash: bytes = IH,
    peer: int = 1,
    left: int = 10,
    event: int = 2,
    numwant: int = -1,
    port: int = 6881,
    key: bytes = b"kkkk",
) -> bytes:
    return struct.pack(
        ">8sII20s20sqqqII4siH",
        cid,
        1,
        tid,
        info_hash,
        b"-UT0001-%012d" % peer,
        0,
        left,
        0,
        event,
        0,
        key,
        numwant,
        port,
    )


@pytest.fixture
async def udp() -> AsyncIterator[tuple[Tracker, int]]:
    settings = tracker_settings(interval=900, numwant_max=100)
    tracker = Tracker(settings, MemorySwarmStore(600))
    port = await tracker.start_udp("127.0.0.1", 0)
    try:
        yield tracker, port
    finally:
        await tracker.close()


async def test_connect_announce_scrape(udp: tuple[Tracker, int]) -> None:
    _, port = udp
    first, second = await open_client(port), await open_client(port)
    cid1, cid2 = await first.connect(), await second.connect()
    reply = await first.ask(announce(cid1, tid=5, peer=1, left=0, port=7001))
    assert reply is not None
    assert struct.unpack(">IIIII", reply[:20]) == (
        1,
        5,
        900,
        0,
        1,
    )  # action, tid, interval, leechers, seeders
    assert reply[20:] == b""
    reply = await second.ask(announce(cid2, tid=6, peer=2, port=7002))
    assert reply is not None and struct.unpack(">IIIII", reply[:20]) == (1, 6, 900, 1, 1)
    assert reply[20:] == bytes([127, 0, 0, 1]) + (7001).to_bytes(2, "big")
    await first.ask(announce(cid1, tid=7, peer=1, left=0, event=1, port=7001))  # completed (was seeding)
    await second.ask(announce(cid2, tid=8, peer=2, left=0, event=1, port=7002))  # completed: counts
    scrape = await first.ask(struct.pack(">8sII", cid1, 2, 9) + IH + b"\x01" * 20)
    assert scrape is not None
    assert struct.unpack(">II", scrape[:8]) == (2, 9)
    assert struct.unpack(">IIIIII", scrape[8:]) == (2, 1, 0, 0, 0, 0)  # seeders, completed, leechers


async def test_stopped_and_numwant(udp: tuple[Tracker, int]) -> None:
    _, port = udp
    client = await open_client(port)
    cid = await client.connect()
    for n in range(1, 150):
        await client.ask(announce(cid, tid=n, peer=n, port=1000 + n, numwant=0))
    many = await client.ask(announce(cid, tid=500, peer=1, port=1001, numwant=1000))
    assert many is not None and len(many) == 20 + 100 * 6  # numwant_max
    gone = await client.ask(announce(cid, tid=501, peer=1, port=1001, event=3))
    assert gone is not None and struct.unpack(">IIIII", gone[:20])[3] == 148 and gone[20:] == b""


async def test_ipv6_socket_answers_v6_peers() -> None:
    tracker = Tracker(tracker_settings(), MemorySwarmStore(600))
    try:
        port = await tracker.start_udp("::1", 0)
        a, b = await open_client(port, "::1"), await open_client(port, "::1")
        cid_a, cid_b = await a.connect(), await b.connect()
        await a.ask(announce(cid_a, peer=1, port=7001))
        reply = await b.ask(announce(cid_b, peer=2, port=7002))
        assert reply is not None and reply[20:] == bytes(15) + b"\x01" + (7001).to_bytes(2, "big")
    finally:
        await tracker.close()


async def test_bad_datagrams_are_dropped_or_answered_small(udp: tuple[Tracker, int]) -> None:
    tracker, port = udp
    client = await open_client(port)
    cid = await client.connect()
    silent = [
        b"",
        b"\x00" * 15,  # truncated header
        os.urandom(16),  # garbage
        struct.pack(">QII", MAGIC + 1, 0, 1),  # connect with a wrong protocol id
        announce(b"\x00" * 8),  # forged connection id
        announce(bytes(a ^ 0xFF for a in cid)),
        os.urandom(3000),  # oversized
        struct.pack(">8sII", cid, 2, 3) + b"\x00" * 3000,  # oversized even with a valid id
    ]
    for datagram in silent:
        assert await client.ask(datagram, within=0.2) is None, datagram[:20]
    answered = [
        (announce(cid)[:60], b"too short"),
        (announce(cid, port=0), b"port"),
        (announce(cid, event=7), b"event"),
        (struct.pack(">8sII", cid, 9, 4), b"unknown action"),
        (struct.pack(">8sII", cid, 2, 5), b"no info_hash"),
        (
            struct.pack(">8sII20s20sqqqII4siH", cid, 1, 6, IH, b"p" * 20, -1, 5, 0, 2, 0, b"kkkk", -1, 1),
            b"negative",
        ),
    ]
    for datagram, reason in answered:
        reply = await client.ask(datagram)
        assert reply is not None and reply[:4] == b"\x00\x00\x00\x03" and reason in reply[8:], reason
    reply = await client.ask(announce(cid, peer=9))  # still serving
    assert reply is not None and reply[:4] == b"\x00\x00\x00\x01"


async def test_stale_connection_id_is_dropped(udp: tuple[Tracker, int]) -> None:
    tracker, port = udp
    client = await open_client(port)
    clock_now = [10_000_000.0]
    tracker.connection_ids._clock = lambda: clock_now[0]  # type: ignore[attr-defined]
    cid = await client.connect()
    clock_now[0] += 130  # more than two windows later
    assert await client.ask(announce(cid), within=0.2) is None
    fresh = await client.connect()
    assert (await client.ask(announce(fresh))) is not None


async def test_no_amplification_before_a_valid_connection_id(udp: tuple[Tracker, int]) -> None:
    _, port = udp
    client = await open_client(port)
    probes = [struct.pack(">QII", MAGIC, 0, n) + os.urandom(n % 5) for n in range(20)]
    probes += [os.urandom(size) for size in (16, 17, 20, 98, 200)]
    probes += [struct.pack(">QII", MAGIC, action, 1) + os.urandom(100) for action in (1, 2, 3)]
    for probe in probes:
        reply = await client.ask(probe, within=0.2)
        assert reply is None or len(reply) <= len(probe)
