"""Behind a trusted proxy the standalone tracker and ``/api/peers`` read only the forwarding header
``gateway.forwarded_header`` names. A proxy that sets X-Forwarded-For passes a client's own
``Forwarded: for=...`` through untouched (and vice versa), so believing the other header would let
any client announce someone else's address into a swarm.

Each request carries both headers, naming different addresses; the socket peer is 127.0.0.1, the
trusted proxy. The announced peer's address is read back the way a second client sees it (a
non-compact peer list) and from the reply's ``external ip``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from torrent_gateway.bencode import bdecode
from torrent_gateway.config import load_settings
from torrent_gateway.p2p.app import install_coordinator
from torrent_gateway.tracker.component import create_standalone_app
from torrent_gateway.tracker.http_fast import TrackerHttpProtocol

from tests.support.gateway import running_gateway
from tests.support.servers import UvicornThread

from .test_http import announce_url

XFF_CLIENT = "203.0.113.7"
FORWARDED_CLIENT = "198.51.100.9"
BOTH_HEADERS = {"X-Forwarded-For": XFF_CLIENT, "Forwarded": f"for={FORWARDED_CLIENT};proto=https"}
EXPECTED = {"x-forwarded-for": XFF_CLIENT, "forwarded": FORWARDED_CLIENT}
# Only the header the proxy does not set, as a client would smuggle it through.
SMUGGLED = {
    "x-forwarded-for": {"Forwarded": f"for={FORWARDED_CLIENT}"},
    "forwarded": {"X-Forwarded-For": XFF_CLIENT},
}
TRUSTED = ["127.0.0.1/32"]


@pytest.fixture(params=["fast", "httptools"])
def http_impl(request: pytest.FixtureRequest) -> Any:
    """The fast protocol the CLI's ``tracker`` command runs, and plain ASGI under httptools."""
    return TrackerHttpProtocol if request.param == "fast" else "httptools"


def standalone_tracker(forwarded_header: str, http_impl: Any) -> UvicornThread:
    settings = load_settings(
        None,
        tracker={"policy": "open", "secret": "forwarded-test", "udp": False, "trusted_proxies": TRUSTED},
        gateway={"forwarded_header": forwarded_header},
    )
    return UvicornThread(create_standalone_app(settings), http=http_impl)


def announce(base: str, n: int, headers: dict[str, str] | None = None) -> dict[bytes, Any]:
    response = httpx.get(announce_url(base, n, compact=0, left=0), headers=headers or {}, timeout=10)
    assert response.status_code == 200, response.text
    reply = bdecode(response.content)
    assert b"failure reason" not in reply, reply
    return reply  # type: ignore[no-any-return]


def swarm_addresses(base: str) -> set[str]:
    """The addresses a fresh peer (announcing from the proxy itself, no header) is given."""
    reply = announce(base, 99)
    return {peer[b"ip"].decode() for peer in reply[b"peers"]}


@pytest.mark.parametrize("setting", ["x-forwarded-for", "forwarded"])
def test_tracker_reads_only_the_configured_header(setting: str, http_impl: Any) -> None:
    with standalone_tracker(setting, http_impl) as server:
        reply = announce(server.url, 1, BOTH_HEADERS)
        assert str(ipaddress.ip_address(reply[b"external ip"])) == EXPECTED[setting]
        assert swarm_addresses(server.url) == {EXPECTED[setting]}


@pytest.mark.parametrize("setting", ["x-forwarded-for", "forwarded"])
def test_tracker_ignores_the_other_header_alone(setting: str, http_impl: Any) -> None:
    with standalone_tracker(setting, http_impl) as server:
        reply = announce(server.url, 1, SMUGGLED[setting])
        assert str(ipaddress.ip_address(reply[b"external ip"])) == "127.0.0.1"
        assert swarm_addresses(server.url) == {"127.0.0.1"}


@pytest.fixture(scope="module", params=["x-forwarded-for", "forwarded"])
def peers_gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_gateway(
        tmp_path_factory.mktemp("peers"),
        extensions=[install_coordinator],
        gateway={"trusted_proxies": TRUSTED, "forwarded_header": request.param},
    ) as gateway:
        yield request.param, gateway


def test_peers_api_reads_only_the_configured_header(peers_gateway: Any) -> None:
    setting, gateway = peers_gateway
    uploaded = httpx.put(
        f"{gateway.url}/api/upload", params={"name": "f.bin"}, content=os.urandom(5000), timeout=30
    )
    infohash = uploaded.json()["infohash"]
    url = f"{gateway.url}/api/peers/{infohash}"
    assert httpx.get(url, headers=BOTH_HEADERS, timeout=30).json()["requester"] == EXPECTED[setting]
    assert httpx.get(url, headers=SMUGGLED[setting], timeout=30).json()["requester"] == "127.0.0.1"
