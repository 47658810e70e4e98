"""Helpers of the P2P tests: loopback-only libtorrent clients and a gateway with the P2P extension.

Every libtorrent session made here is configured explicitly: DHT only where a test needs it and
then bootstrapped only from our loopback node, LSD/UPnP/NAT-PMP off, no public routers, bound to
127.0.0.1, and libtorrent's defences against private addresses relaxed so loopback nodes count.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import libtorrent as lt
from fastapi import FastAPI
from torrent_gateway.p2p.app import default_options, install_p2p
from torrent_gateway.services import Services

from tests.support.gateway import RunningGateway, running_gateway

T = TypeVar("T")

LOOPBACK_DHT = {
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_prefer_verified_node_ids": False,
    "dht_enforce_node_id": False,
    "dht_ignore_dark_internet": False,
}


def client_session(*, dht_bootstrap: str | None = None, **settings: Any) -> Any:
    """A libtorrent client on 127.0.0.1; DHT on only when ``dht_bootstrap`` (host:port) is given;
    ``settings`` are added to the pack (some, like the local-network rate limits, only work there)."""
    pack: dict[str, Any] = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": dht_bootstrap is not None,
        "dht_bootstrap_nodes": dht_bootstrap or "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "allow_multiple_connections_per_ip": True,
        "stop_tracker_timeout": 1,
        "alert_mask": int(
            lt.alert_category.error | lt.alert_category.status | lt.alert_category.dht_operation
        ),
        **LOOPBACK_DHT,
        **settings,
    }
    return lt.session(pack)


def wait_until(check: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def p2p_extension(**overrides: Any) -> Callable[[FastAPI, Services], None]:
    """install_p2p with loopback options: node and seeder on 127.0.0.1, free ports, data in the store dir."""

    def extension(app: FastAPI, services: Services) -> None:
        settings = services.settings
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "peer_port": 0,
            "data_dir": Path(settings.storage.path) / "p2p",
            "stats_interval": 0.5,
            "lookup_timeout": 3.0,
        }
        options = default_options(settings).with_overrides(**{**values, **overrides})
        install_p2p(app, services, options=options, swarms=getattr(app.state, "test_swarms", None))

    return extension


class _TrackerFront:
    """ASGI middleware putting the tracker in front of the gateway, as serve mode does."""

    def __init__(self, app: Any, tracker: Any) -> None:
        self.asgi = tracker.asgi(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.asgi(scope, receive, send)


def tracker_extension(app: FastAPI, services: Services) -> None:
    """Our tracker at the gateway's /announce (HTTP) and on its port (UDP), wired as serve mode
    does; its swarm store is left on ``app.state.test_swarms`` for :func:`p2p_extension`."""
    from torrent_gateway.tracker import Tracker
    from torrent_gateway.tracker.swarm_memory import MemorySwarmStore

    settings = services.settings
    swarms = MemorySwarmStore(settings.tracker.peer_ttl)

    async def is_known(info_hash: bytes) -> bool:
        return await services.catalog.by_infohash(info_hash.hex()) is not None

    tracker = Tracker(settings, swarms, is_known)
    app.state.test_swarms = swarms
    services.probes["tracker"] = swarms.ping

    async def swarm_counts() -> dict[str, Any]:
        count, peers = await swarms.stats()
        return {"swarms": count, "peers": peers}

    services.diagnostics["tracker"] = swarm_counts
    app.add_middleware(_TrackerFront, tracker=tracker)

    async def start() -> None:
        await tracker.start()
        await tracker.start_udp("127.0.0.1", settings.gateway.port)

    services.supervisor.on_start(start)
    services.supervisor.on_stop(tracker.close)


@contextlib.contextmanager
def p2p_gateway(
    data_dir: Path,
    *,
    with_tracker: bool = False,
    p2p: dict[str, Any] | None = None,
    extra_extensions: list[Any] | None = None,
    **sections: dict[str, Any],
) -> Iterator[RunningGateway]:
    sections.setdefault("dht", {}).update({"enabled": True, "port": 0, "bootstrap_nodes": []})
    sections.setdefault("tracker", {}).setdefault("enabled", with_tracker)
    sections["tracker"].setdefault("udp", with_tracker)
    sections["tracker"].setdefault("secret", "p2p-test-secret")
    extensions: list[Any] = [tracker_extension] if with_tracker else []
    extensions.append(p2p_extension(**(p2p or {})))
    extensions.extend(extra_extensions or [])
    with running_gateway(data_dir, extensions=extensions, **sections) as gateway:
        yield gateway


def upload(gateway: RunningGateway, name: str, data: bytes) -> dict[str, Any]:
    response = httpx.put(f"{gateway.url}/api/upload", params={"name": name}, content=data, timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def diagnostics(gateway: RunningGateway) -> dict[str, Any]:
    response = httpx.get(f"{gateway.url}/api/diagnostics", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def seeding(gateway: RunningGateway, infohash: str) -> dict[str, Any] | None:
    for entry in diagnostics(gateway)["p2p"]["seeder"]["files"]:
        if entry["infohash"] == infohash and entry["state"] == "seeding":
            return entry  # type: ignore[no-any-return]
    return None


def scrape(gateway: RunningGateway, infohash: str) -> dict[bytes, int]:
    """Our tracker's counts for one infohash, asked over HTTP (BEP 48)."""
    from urllib.parse import quote_from_bytes

    from torrent_gateway.bencode import bdecode

    raw = bytes.fromhex(infohash)
    response = httpx.get(f"{gateway.url}/scrape?info_hash={quote_from_bytes(raw)}", timeout=10)
    files = bdecode(response.content).get(b"files", {})
    return files.get(raw, {})  # type: ignore[no-any-return]


def bare_torrent(gateway: RunningGateway, sha256: str) -> bytes:
    """Our .torrent with no tracker and no WebSeed: the info dict alone decides where bytes come from."""
    from torrent_gateway.bencode import bdecode, bencode

    metainfo = bdecode(httpx.get(f"{gateway.url}/api/torrent/{sha256}", timeout=10).content)
    for key in (b"announce", b"announce-list", b"url-list"):
        metainfo.pop(key, None)
    return bencode(metainfo)


def download_from_peer(
    torrent: bytes, port: int, save_path: Path, timeout: float = 45.0
) -> tuple[bytes, Any]:
    """Fetch a torrent from the peer at 127.0.0.1:``port`` alone (no DHT, tracker or WebSeed)."""
    session = client_session()
    info = lt.torrent_info(torrent)
    try:
        params = lt.add_torrent_params()
        params.ti = info
        params.save_path = str(save_path)
        handle = session.add_torrent(params)
        deadline = time.monotonic() + timeout
        last_connect = 0.0
        while not handle.status().is_seeding:
            assert time.monotonic() < deadline, f"stuck at {handle.status().progress:.0%}"
            if time.monotonic() - last_connect > 2:
                handle.connect_peer(("127.0.0.1", port))
                last_connect = time.monotonic()
            time.sleep(0.05)
        status = handle.status()
    finally:
        # libtorrent may still hold verified pieces in its write buffer: closing the session
        # flushes them, so the file is read only afterwards.
        del session
    return (save_path / info.name()).read_bytes(), status
