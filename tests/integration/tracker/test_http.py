"""HTTP tracker on loopback: under uvicorn with the fast protocol and as a plain ASGI app."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import quote_from_bytes

import httpx
import pytest
from torrent_gateway.bencode import bdecode
from torrent_gateway.tracker import Tracker
from torrent_gateway.tracker.http_fast import TrackerHttpProtocol
from torrent_gateway.tracker.swarm_memory import MemorySwarmStore

from tests.support.servers import UvicornThread

from .conftest import tracker_settings

IH = bytes(range(230, 250))


def pid(n: int) -> bytes:
    return b"-TT0001-\xff%011d" % n


def announce_url(base: str, n: int = 1, info_hash: bytes = IH, **params: object) -> str:
    fields: dict[str, object] = {
        "info_hash": quote_from_bytes(info_hash, safe=""),
        "peer_id": quote_from_bytes(pid(n), safe=""),
        "port": 6000 + n,
        "uploaded": 0,
        "downloaded": 0,
        "left": 100,
        "compact": 1,
    }
    fields.update(params)
    query = "&".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    return f"{base}/announce?{query}"


def get(url: str, client_ip: str | None = None) -> tuple[int, dict[bytes, object]]:
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    response = httpx.get(url, headers=headers, timeout=10)
    assert response.headers["content-type"] == "text/plain"
    return response.status_code, bdecode(response.content)


def test_compact_announce_finds_peers(served: tuple[Tracker, str]) -> None:
    _, base = served
    status, first = get(announce_url(base, 1, left=0, event="started"))
    assert status == 200 and first[b"peers"] == b"" and first[b"complete"] == 1
    assert first[b"interval"] == 1800 and first[b"min interval"] == 300
    assert first[b"external ip"] == bytes([127, 0, 0, 1])
    assert isinstance(first[b"tracker id"], bytes) and len(first[b"tracker id"]) == 16
    _, second = get(announce_url(base, 2, trackerid=first[b"tracker id"].decode()))  # type: ignore[union-attr]
    assert second[b"peers"] == bytes([127, 0, 0, 1]) + (6001).to_bytes(2, "big")
    assert (second[b"complete"], second[b"incomplete"], second[b"downloaded"]) == (1, 1, 0)


def test_non_compact_reply(served: tuple[Tracker, str]) -> None:
    _, base = served
    get(announce_url(base, 1))
    _, reply = get(announce_url(base, 2, compact=0))
    assert reply[b"peers"] == [{b"ip": b"127.0.0.1", b"peer id": pid(1), b"port": 6001}]
    _, bare = get(announce_url(base, 2, compact=0, no_peer_id=1))
    assert bare[b"peers"] == [{b"ip": b"127.0.0.1", b"port": 6001}]


def test_ipv6_peers_behind_a_trusted_proxy(served: tuple[Tracker, str]) -> None:
    _, base = served
    get(announce_url(base, 1), client_ip="2001:db8::1")
    get(announce_url(base, 2), client_ip="203.0.113.5")
    _, reply = get(announce_url(base, 3), client_ip="2001:db8::2")
    assert reply[b"peers"] == b""
    assert reply[b"peers6"] == socket.inet_pton(socket.AF_INET6, "2001:db8::1") + (6001).to_bytes(2, "big")
    assert reply[b"external ip"] == socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    _, v4 = get(announce_url(base, 4), client_ip="203.0.113.6")
    assert v4[b"peers"] == bytes([203, 0, 113, 5]) + (6002).to_bytes(2, "big") and b"peers6" not in v4


def test_untrusted_forwarded_for_is_ignored() -> None:
    settings = tracker_settings()  # no trusted proxies
    tracker = Tracker(settings, MemorySwarmStore(600))
    with UvicornThread(tracker.asgi(None), proxy_headers=False) as server:
        _, reply = get(announce_url(server.url, 1), client_ip="198.51.100.1")
        assert reply[b"external ip"] == bytes([127, 0, 0, 1])


def test_numwant_is_capped(served: tuple[Tracker, str]) -> None:
    _, base = served
    with httpx.Client(timeout=10) as client:
        for n in range(40):
            client.get(announce_url(base, n, numwant=0))
        reply = bdecode(client.get(announce_url(base, 99, numwant=10**12)).content)
        assert len(reply[b"peers"]) == 30 * 6  # numwant_max of the fixture
        reply = bdecode(client.get(announce_url(base, 99, numwant=3)).content)
        assert len(reply[b"peers"]) == 3 * 6


def test_events_and_downloaded(served: tuple[Tracker, str]) -> None:
    _, base = served
    get(announce_url(base, 1, event="started"))
    _, done = get(announce_url(base, 1, left=0, event="completed"))
    assert (done[b"complete"], done[b"incomplete"], done[b"downloaded"]) == (1, 0, 1)
    _, gone = get(announce_url(base, 1, left=0, event="stopped"))
    assert (gone[b"complete"], gone[b"peers"]) == (0, b"")
    _, scrape = get(f"{base}/scrape?info_hash={quote_from_bytes(IH, safe='')}")
    assert scrape[b"files"] == {IH: {b"complete": 0, b"downloaded": 1, b"incomplete": 0}}


def test_one_address_is_one_peer_whatever_its_ids(served: tuple[Tracker, str]) -> None:
    """A client that announces one ip:port under two peer ids (issue 19) is one member: counted
    once and never handed its own address."""
    _, base = served
    get(announce_url(base, 1, left=0, port=7001), client_ip="203.0.113.1")
    get(announce_url(base, 2, port=7002), client_ip="203.0.113.2")
    _, again = get(announce_url(base, 3, port=7002), client_ip="203.0.113.2")
    assert (again[b"complete"], again[b"incomplete"]) == (1, 1)
    assert again[b"peers"] == bytes([203, 0, 113, 1]) + (7001).to_bytes(2, "big")


def test_scrape_many_and_capped(served: tuple[Tracker, str], request: pytest.FixtureRequest) -> None:
    _, base = served
    get(announce_url(base, 1))
    # uvicorn's own parser refuses URLs over 64 kB (400, plain text); the fast protocol reads up to 1 MiB
    count = 10_000 if request.node.callspec.params["served"] == "fast" else 800
    hashes = [i.to_bytes(20, "big") for i in range(count)]
    query = "&".join("info_hash=" + quote_from_bytes(h, safe="") for h in [IH, *hashes])
    # up to 700 kB of URL: past httpx's limit, so through the standard library's client
    connection = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
    connection.request("GET", f"/scrape?{query}")
    response = connection.getresponse()
    assert response.status == 200
    reply = bdecode(response.read())
    connection.close()
    files = reply[b"files"]
    assert len(files) == 100 and files[IH][b"incomplete"] == 1  # type: ignore[index]
    assert b"%d ignored" % (count + 1 - 100) in reply[b"warning message"]  # type: ignore[operator]
    _, ok = get(announce_url(base, 2))
    assert ok[b"incomplete"] == 2  # still serving


BAD = [
    ("info_hash=abc&peer_id=-TT0001-000000000000&port=1&left=0", b"info_hash must be 20 bytes"),
    ("peer_id=-TT0001-000000000000&port=1&left=0", b"missing info_hash"),
    (f"info_hash={'%41' * 20}&peer_id=short&port=1&left=0", b"peer_id must be 20 bytes"),
    (f"info_hash={'%41' * 20}&peer_id=-TT0001-000000000000&left=0", b"missing port"),
    (f"info_hash={'%41' * 20}&peer_id=-TT0001-000000000000&port=0&left=0", b"port must be between"),
    (f"info_hash={'%41' * 20}&peer_id=-TT0001-000000000000&port=70000&left=0", b"port must be between"),
    (f"info_hash={'%41' * 20}&peer_id=-TT0001-000000000000&port=1&left=-1", b"left must be a non-negative"),
    (f"info_hash={'%41' * 20}&peer_id=-TT0001-000000000000&port=1&left=0&uploaded=-3", b"uploaded must"),
    (f"info_hash={'%41' * 20}&peer_id=-TT0001-000000000000&port=1&left=0&numwant=-2", b"numwant must"),
    (f"info_hash={'%41' * 20}&peer_id=-TT0001-000000000000&port=1&left=0&event=x", b"event must"),
    ("", b"missing info_hash"),
]


def test_bad_input_gets_failure_reason_and_service_continues(served: tuple[Tracker, str]) -> None:
    _, base = served
    with httpx.Client(timeout=10) as client:
        for query, reason in BAD:
            response = client.get(f"{base}/announce?{query}")
            assert response.status_code == 200, query
            assert reason in bdecode(response.content)[b"failure reason"], query
        response = client.get(f"{base}/scrape?info_hash=short")
        assert b"20 bytes" in bdecode(response.content)[b"failure reason"]
        response = client.get(f"{base}/scrape")
        assert b"at least one" in bdecode(response.content)[b"failure reason"]
        ok = bdecode(client.get(announce_url(base, 1)).content)
        assert ok[b"incomplete"] == 1


def test_internal_errors_are_generic() -> None:
    class Broken(MemorySwarmStore):
        async def announce(self, *args: object, **kwargs: object):  # type: ignore[override]
            raise RuntimeError("secret internals: redis://user:pw@host")

    tracker = Tracker(tracker_settings(), Broken(600))
    with UvicornThread(tracker.asgi(None), proxy_headers=False) as server:
        response = httpx.get(announce_url(server.url, 1), timeout=10)
        assert response.status_code == 500
        assert bdecode(response.content) == {b"failure reason": b"internal error"}


async def _fallback(scope: dict, receive: object, send: object) -> None:
    if scope["type"] == "lifespan":
        return
    await send({"type": "http.response.start", "status": 299, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"fallback " + scope["path"].encode()})  # type: ignore[operator]


@pytest.mark.parametrize("http", ["fast", "asgi"])
def test_other_requests_go_to_the_fallback(http: str) -> None:
    tracker = Tracker(tracker_settings(), MemorySwarmStore(600))
    protocol = TrackerHttpProtocol if http == "fast" else "httptools"
    app = tracker.asgi(_fallback)
    with UvicornThread(app, http=protocol, proxy_headers=False) as server, httpx.Client(timeout=10) as client:
        assert client.get(announce_url(server.url, 1)).status_code == 200
        other = client.get(f"{server.url}/api/files")  # same keep-alive connection: handed on
        assert (other.status_code, other.content) == (299, b"fallback /api/files")
        assert client.post(f"{server.url}/announce", content=b"x").status_code == 299
    with UvicornThread(tracker.asgi(None), http=protocol, proxy_headers=False) as server:
        assert httpx.get(f"{server.url}/nothing", timeout=10).status_code == 404


def test_fast_path_keep_alive_pipelining_and_close(served: tuple[Tracker, str]) -> None:
    _, base = served
    port = int(base.rsplit(":", 1)[1])
    path = announce_url("", 1).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path * 2 + b"GET %s HTTP/1.0\r\n\r\n" % path)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.count(b"d8:complete") == 3
