"""The fastest a Python tracker can be here: a bare uvloop protocol that does no tracker work.

It answers every HTTP request with one canned announce reply (50 compact peers) and every UDP
datagram with a canned connect or announce reply, parsing nothing beyond the end of a request
head. ``bench_tracker.py`` measures it beside opentracker and our tracker with the same load:
whatever separates this floor from opentracker is the cost of CPython and its event loop, not
of anything a tracker does.

Run: ``python bench/floor_tracker.py PORT`` (TCP and UDP on 127.0.0.1:PORT).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop

PEERS = bytes([127, 0, 0, 1, 0x1A, 0xE1]) * 50
BODY = b"d8:completei10e10:incompletei40e8:intervali1800e12:min intervali300e5:peers300:" + PEERS + b"e"
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\ncache-control: no-store\r\n"
    % len(BODY)
)
KEEP_ALIVE = HEAD + b"\r\n" + BODY
CLOSE = HEAD + b"connection: close\r\n\r\n" + BODY
UDP_ANNOUNCE_HEAD = (1).to_bytes(4, "big")


class FloorHttp(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            close = b"onnection: close" in self.buffer[:end]
            self.buffer = self.buffer[end + 4 :]
            if close:
                self.transport.write(CLOSE)
                self.transport.close()
                return
            self.transport.write(KEEP_ALIVE)


class FloorUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) == 16:  # connect: echo the transaction id, any connection id
            self.transport.sendto(data[8:16] + b"floor-id", addr)
        elif len(data) >= 98:
            self.transport.sendto(UDP_ANNOUNCE_HEAD + data[12:16] + bytes(12) + PEERS, addr)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FloorHttp, "127.0.0.1", port, backlog=2048)
    await loop.create_datagram_endpoint(FloorUdp, local_addr=("127.0.0.1", port))
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
