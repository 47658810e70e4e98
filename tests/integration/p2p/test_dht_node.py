"""The standalone DHT component: its HTTP endpoints, and its node surviving bad input on the DHT port.

Garbage, malformed KRPC, oversized datagrams and a burst of junk (from other loopback source
addresses, as an attacker's would be) must leave the node answering a valid bencoded KRPC ping.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.bencode import bdecode, bencode
from torrent_gateway.config import load_settings
from torrent_gateway.p2p.app import build_dht_app, default_options

from tests.support.servers import UvicornThread

from .support import wait_until


@pytest.fixture(scope="module")
def dht_component(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornThread]:
    data = tmp_path_factory.mktemp("dht")
    settings = load_settings(
        None,
        storage={"path": str(data)},
        dht={"port": 0, "bootstrap_nodes": [], "http_port": 0},
        tracker={"enabled": False},
        nostr={"relays": [], "publish": False},
    )
    options = default_options(settings).with_overrides(
        host="127.0.0.1", peer_port=0, data_dir=Path(data) / "p2p"
    )
    with UvicornThread(build_dht_app(settings, options=options)) as server:
        yield server


def _node_port(server: UvicornThread) -> int:
    return int(httpx.get(f"{server.url}/api/diagnostics").json()["p2p"]["node"]["port"])


def krpc(sock: socket.socket, port: int, message: dict, timeout: float = 3.0) -> dict:  # type: ignore[type-arg]
    sock.settimeout(timeout)
    sock.sendto(bencode(message), ("127.0.0.1", port))
    while True:
        data, _ = sock.recvfrom(65535)
        reply = bdecode(data)
        if reply.get(b"t") == message["t"]:
            return reply  # type: ignore[no-any-return]


def ping(port: int, source: str = "127.0.0.1") -> dict:  # type: ignore[type-arg]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        return krpc(sock, port, {"t": b"pg", "y": "q", "q": "ping", "a": {"id": os.urandom(20)}})


def test_component_endpoints(dht_component: UvicornThread) -> None:
    assert httpx.get(f"{dht_component.url}/healthz").text == "ok"
    assert httpx.get(f"{dht_component.url}/readyz").status_code == 200
    health = httpx.get(f"{dht_component.url}/api/health").json()
    assert {"process", "storage", "state", "dht", "seeder"} <= set(health["components"])
    assert health["components"]["dht"]["score"] == 100  # standalone by configuration: no bootstrap nodes
    metrics = httpx.get(f"{dht_component.url}/metrics").text
    assert "tgw_health_score" in metrics and "tgw_dht_routing_nodes" in metrics
    diag = httpx.get(f"{dht_component.url}/api/diagnostics").json()
    assert diag["p2p"]["node"]["running"] and diag["p2p"]["seeder"]["running"]


def test_node_answers_a_valid_ping(dht_component: UvicornThread) -> None:
    reply = ping(_node_port(dht_component))
    assert reply[b"y"] == b"r"
    assert len(reply[b"r"][b"id"]) == 20


def test_node_survives_garbage_malformed_krpc_and_oversized_datagrams(dht_component: UvicornThread) -> None:
    port = _node_port(dht_component)
    bad: list[bytes] = [
        b"",
        b"\x00" * 7,
        os.urandom(512),
        b"d1:t2:aa1:y1:q",  # truncated bencoding
        b"i99999999999999999999999999999999e",
        b"l" * 5000 + b"e" * 5000,  # deep nesting
        b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe",  # ping with a 3-byte node id
        b"d1:ad2:id20:" + os.urandom(20) + b"9:info_hash3:abce1:q9:get_peers1:t2:bb1:y1:qe",
        b"d1:q4:ping1:t2:cc1:y1:qe",  # no arguments
        b"d1:ade1:q13:no_such_query1:t2:dd1:y1:qe",
        b"d1:t2:ee1:y1:re",  # a response nobody asked for
        bencode(
            {
                "t": b"ff",
                "y": "q",
                "q": "announce_peer",
                "a": {"id": os.urandom(20), "info_hash": os.urandom(20), "port": 99999, "token": b"forged"},
            }
        ),
        os.urandom(1400),
        b"d" + b"x" * 65_000,  # oversized (close to the largest UDP datagram)
    ]
    # The junk comes from other loopback addresses, as an attacker's would: libtorrent may rate-limit
    # those sources, which must not cost anyone else an answer.
    for index, source in enumerate(("127.0.0.2", "127.0.0.3")):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            for _ in range(3 if index == 0 else 30):
                for datagram in bad:
                    sock.sendto(datagram, ("127.0.0.1", port))
    reply = wait_until(lambda: _try_ping(port), 10, 0.2, what="a ping answer after the junk")
    assert reply[b"y"] == b"r" and len(reply[b"r"][b"id"]) == 20
    # The HTTP side of the component is unaffected too.
    assert httpx.get(f"{dht_component.url}/api/health").json()["components"]["dht"]["ok"]


def test_malformed_query_from_a_fresh_source_gets_a_krpc_error(dht_component: UvicornThread) -> None:
    port = _node_port(dht_component)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.4", 0))
        reply = krpc(sock, port, {"t": b"gp", "y": "q", "q": "get_peers", "a": {"id": os.urandom(20)}})
    # KRPC's own error form: [code, message] (203: protocol error — info_hash missing).
    assert reply[b"y"] == b"e"
    code, message = reply[b"e"]
    assert code == 203 and message


def _try_ping(port: int) -> dict | None:  # type: ignore[type-arg]
    try:
        return ping(port)
    except (TimeoutError, OSError):
        return None
