"""Two tracker processes on one real redis-server serve one swarm: HTTP, UDP and WebSocket."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx
import pytest
from torrent_gateway.bencode import bdecode
from websockets.asyncio.client import connect

from tests.support.servers import RedisServer, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[3]
IH = b"\x7e" * 20


@dataclass
class Replica:
    http_port: int
    udp_port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_replica(redis_url: str, workdir: Path) -> Replica:
    http_port, udp_port = free_port(), _free_udp_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "workloads" / "src"), env.get("PYTHONPATH", "")])
    env.update(
        {
            "TGW_STATE__BACKEND": "redis",
            "TGW_STATE__REDIS_URL": redis_url,
            "TGW_TRACKER__POLICY": "open",
            "TGW_TRACKER__SECRET": "shared-by-every-replica",
            "TGW_TRACKER__HOST": "127.0.0.1",
            "TGW_TRACKER__PORT": str(udp_port),
        }
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "torrent_gateway.tracker.component:create_standalone_app",
            "--http",
            "torrent_gateway.tracker.http_fast:TrackerHttpProtocol",
            "--no-proxy-headers",
            "--host",
            "127.0.0.1",
            "--port",
            str(http_port),
            "--log-level",
            "warning",
        ],
        cwd=workdir,
        env=env,
    )
    wait_for_port(http_port, timeout=30)  # uvicorn listens after the lifespan bound UDP
    return Replica(http_port, udp_port, process)


@pytest.fixture(scope="module")
def replicas(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Replica, Replica]]:
    workdir = tmp_path_factory.mktemp("replicas")
    first = start_replica(redis_server.url, workdir)
    try:
        second = start_replica(redis_server.url, workdir)
        try:
            yield first, second
        finally:
            second.process.terminate()
            second.process.wait(timeout=15)
    finally:
        first.process.terminate()
        first.process.wait(timeout=15)


def http_announce(replica: Replica, peer: int, port: int) -> dict[bytes, object]:
    query = (
        f"info_hash={quote_from_bytes(IH, safe='')}&peer_id=-RP0001-{peer:012d}&port={port}"
        "&uploaded=0&downloaded=0&left=5&compact=1"
    )
    return bdecode(httpx.get(f"{replica.url}/announce?{query}", timeout=10).content)  # type: ignore[no-any-return]


def test_http_peer_announced_to_one_is_returned_by_the_other(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    http_announce(first, 1, 7001)
    reply = http_announce(second, 2, 7002)
    assert reply[b"peers"] == bytes([127, 0, 0, 1]) + (7001).to_bytes(2, "big")
    assert reply[b"incomplete"] == 2


def test_udp_connection_id_from_one_is_accepted_by_the_other(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(struct.pack(">QII", 0x41727101980, 0, 1), ("127.0.0.1", first.udp_port))
        reply, _ = sock.recvfrom(64)
        cid = reply[8:16]
        ih = b"\x7f" * 20
        http_query = (
            f"info_hash={quote_from_bytes(ih, safe='')}&peer_id=-RP0001-000000000009&port=7009"
            "&left=0&compact=1"
        )
        httpx.get(f"{first.url}/announce?{http_query}", timeout=10)  # a seeder, via HTTP on the first
        packet = struct.pack(
            ">8sII20s20sqqqII4siH", cid, 1, 2, ih, b"-RP0001-000000000010", 0, 5, 0, 2, 0, b"kkkk", -1, 7010
        )
        sock.sendto(packet, ("127.0.0.1", second.udp_port))
        reply, _ = sock.recvfrom(2048)
    action, tid, _, leechers, seeders = struct.unpack(">IIIII", reply[:20])
    assert (action, tid, leechers, seeders) == (1, 2, 1, 1)
    assert reply[20:] == bytes([127, 0, 0, 1]) + (7009).to_bytes(2, "big")


async def test_websocket_offer_and_answer_cross_replicas(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    ih = "".join(chr(c) for c in range(100, 120))
    seeder_id, leecher_id = "-WW0001-" + "s" * 12, "-WW0001-" + "l" * 12
    ws1 = first.url.replace("http", "ws") + "/announce"
    ws2 = second.url.replace("http", "ws") + "/announce"
    async with connect(ws1) as seeder, connect(ws2) as leecher:
        await seeder.send(
            json.dumps({"action": "announce", "info_hash": ih, "peer_id": seeder_id, "left": 0})
        )
        assert json.loads(await asyncio.wait_for(seeder.recv(), 10))["complete"] == 1
        offer = {"offer": {"type": "offer", "sdp": "v=0 cross"}, "offer_id": "o" * 20}
        await leecher.send(
            json.dumps(
                {"action": "announce", "info_hash": ih, "peer_id": leecher_id, "left": 9, "offers": [offer]}
            )
        )
        assert json.loads(await asyncio.wait_for(leecher.recv(), 10))["complete"] == 1
        relayed = json.loads(await asyncio.wait_for(seeder.recv(), 10))
        assert relayed["offer"] == offer["offer"] and relayed["peer_id"] == leecher_id
        await seeder.send(
            json.dumps(
                {
                    "action": "announce",
                    "info_hash": ih,
                    "peer_id": seeder_id,
                    "to_peer_id": leecher_id,
                    "offer_id": relayed["offer_id"],
                    "answer": {"type": "answer", "sdp": "v=0 back"},
                }
            )
        )
        answer = json.loads(await asyncio.wait_for(leecher.recv(), 10))
        assert answer["answer"] == {"type": "answer", "sdp": "v=0 back"} and answer["peer_id"] == seeder_id
