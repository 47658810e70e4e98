"""Every libtorrent session is configured explicitly: no public routers, no LSD/UPnP/NAT-PMP, and
libtorrent's defences against private addresses relaxed only for a local DHT."""

from __future__ import annotations

from pathlib import Path

import libtorrent as lt
import pytest
from torrent_gateway.config import DEFAULT_PUBLIC_DHT_ROUTERS, load_settings
from torrent_gateway.p2p.options import P2POptions, is_local_address, split_host_port
from torrent_gateway.p2p.seeder import in_shard, torrent_flags
from torrent_gateway.p2p.session import (
    bootstrap_string,
    listen_interfaces,
    read_state,
    session_settings,
    write_state,
)

RELAXED = (
    "dht_restrict_routing_ips",
    "dht_restrict_search_ips",
    "dht_prefer_verified_node_ids",
    "dht_ignore_dark_internet",
)


def test_every_key_is_a_real_libtorrent_setting() -> None:
    known = lt.default_settings()
    for role in ("node", "seeder"):
        pack = session_settings(role, P2POptions(host="127.0.0.1"), node_address="127.0.0.1:1")  # type: ignore[arg-type]
        assert set(pack) <= set(known), set(pack) - set(known)


def test_local_test_sessions_use_only_our_node() -> None:
    options = P2POptions(host="127.0.0.1", dht_port=0, peer_port=0, bootstrap_nodes=())
    node = session_settings("node", options)
    seeder = session_settings("seeder", options, node_address="127.0.0.1:40001")
    # libtorrent's default bootstrap (dht.libtorrent.org) must be overridden, even with nothing.
    assert node["dht_bootstrap_nodes"] == "" and "libtorrent.org" not in str(node)
    assert seeder["dht_bootstrap_nodes"] == "127.0.0.1:40001"
    for pack in (node, seeder):
        assert pack["enable_lsd"] is pack["enable_upnp"] is pack["enable_natpmp"] is False
        assert all(pack[key] is False for key in RELAXED)
        assert pack["allow_multiple_connections_per_ip"] is True
    assert node["listen_interfaces"] == "127.0.0.1:0"
    assert node["enable_incoming_tcp"] is False  # the node carries DHT traffic only
    assert seeder["active_seeds"] == -1 and seeder["active_limit"] == -1


def test_public_deployment_keeps_libtorrent_defences_and_configured_routers() -> None:
    settings = load_settings(None, storage={"path": "/tmp/x"})
    options = P2POptions.from_settings(settings)
    assert options.bootstrap_nodes == tuple(DEFAULT_PUBLIC_DHT_ROUTERS)
    assert not options.local_network
    node = session_settings("node", options)
    assert node["dht_bootstrap_nodes"] == ",".join(DEFAULT_PUBLIC_DHT_ROUTERS)
    assert node["listen_interfaces"] == "0.0.0.0:6882"
    assert not any(key in node for key in RELAXED)
    seeder = session_settings("seeder", options, node_address="127.0.0.1:6882")
    assert seeder["listen_interfaces"] == "0.0.0.0:6881"
    assert seeder["dht_bootstrap_nodes"].split(",")[0] == "127.0.0.1:6882"


def test_options_from_settings() -> None:
    settings = load_settings(
        None,
        storage={"path": "/srv/data"},
        dht={
            "port": 7000,
            "bootstrap_nodes": ["10.0.0.5:6882", "[fd00::5]:6882"],
            "shard_index": 1,
            "shard_count": 3,
            "cache_bytes": 1234,
            "announce_interval": 600,
        },
    )
    options = P2POptions.from_settings(settings, trackers=("http://gw/announce",))
    assert (options.dht_port, options.shard_index, options.shard_count, options.cache_bytes) == (
        7000,
        1,
        3,
        1234,
    )
    assert options.data_dir == Path("/srv/data/p2p") and options.announce_interval == 600
    assert options.trackers == ("http://gw/announce",)
    assert options.local_network  # a cluster of private addresses
    with pytest.raises(ValueError):
        P2POptions.from_settings(settings, shard_index=3)
    with pytest.raises(ValueError):
        P2POptions.from_settings(settings, bootstrap_nodes=("no-port",))


def test_addresses() -> None:
    assert split_host_port("router.example:6881") == ("router.example", 6881)
    assert split_host_port("[::1]:6881") == ("::1", 6881)
    for bad in ("nohost", ":1", "[::1]6881", "h:0", "h:70000", "h:x"):
        with pytest.raises(ValueError):
            split_host_port(bad)
    assert bootstrap_string(["[::1]:1", "a.b:2"]) == "[::1]:1,a.b:2"
    assert listen_interfaces("::1", 5) == "[::1]:5" and listen_interfaces("", 5) == "0.0.0.0:5"
    assert is_local_address("10.1.2.3") and is_local_address("::1") and is_local_address("localhost")
    assert not is_local_address("8.8.8.8") and not is_local_address("router.bittorrent.com")


def test_shards_partition_infohashes() -> None:
    hashes = [f"{i:040x}" for i in range(0, 3000, 7)]
    owners = [[h for h in hashes if in_shard(h, index, 3)] for index in range(3)]
    assert sorted(sum(owners, [])) == sorted(hashes)  # every infohash exactly once
    assert all(len(o) > len(hashes) // 4 for o in owners)
    assert all(in_shard(h, 0, 1) for h in hashes)


def test_torrent_flags() -> None:
    linked = torrent_flags(linked=True)
    cached = torrent_flags(linked=False)
    for flags in (linked, cached):
        assert flags & int(lt.torrent_flags.upload_mode)  # never writes into our files
        assert flags & int(lt.torrent_flags.disable_dht)  # we announce on our own schedule
        assert not flags & int(lt.torrent_flags.auto_managed) and not flags & int(lt.torrent_flags.paused)
    assert linked & int(lt.torrent_flags.seed_mode) and not cached & int(lt.torrent_flags.seed_mode)


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "node.state"
    assert read_state(path) is None
    write_state(path, b"d1:ai1ee")
    write_state(path, b"d1:bi2ee")
    assert read_state(path) == b"d1:bi2ee"
    assert [p.name for p in path.parent.iterdir()] == ["node.state"]  # no temp files left


def test_seeder_announces_at_the_interval_our_tracker_asks(tmp_path: Path) -> None:
    """Issue 19: libtorrent waits at least ``min_announce_interval`` (300 s by default) whatever
    interval the tracker answers; the seeder's floor is our tracker's own ``min interval``. A real
    libtorrent session announcing to a tracker that asks for 40 s schedules its next announce in 40 s."""
    settings = load_settings(None, tracker={"interval": 40, "min_interval": 10})
    options = P2POptions.from_settings(settings, host="127.0.0.1", peer_port=0)
    pack = session_settings("seeder", options, node_address="127.0.0.1:1")
    assert pack["min_announce_interval"] == 10
    pack.update(enable_dht=False, listen_interfaces="127.0.0.1:0", alert_mask=0)
    assert _next_announce_in(pack, tmp_path, interval=40) == pytest.approx(40, abs=3)


def _next_announce_in(pack: dict, tmp_path: Path, *, interval: int) -> float:  # type: ignore[type-arg]
    """Seconds until a seeding session's next announce to a tracker answering ``interval``."""
    import hashlib
    import http.server
    import threading
    import time

    from torrent_gateway.bencode import bencode
    from torrent_gateway.ingest.torrent import build_info, render_metainfo

    answered = threading.Event()

    class Tracker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = bencode({"interval": interval, "min interval": 10, "peers": b""})
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            answered.set()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tracker)
    server.handle_error = lambda *_: None  # type: ignore[method-assign]  # libtorrent may hang up early
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = b"x" * 40_000
    (tmp_path / "f").write_bytes(data)
    pieces = b"".join(hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, len(data), 16384))
    info = bencode(build_info("f", len(data), 16384, pieces))
    session = lt.session(pack)  # type: ignore[call-overload]
    try:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(render_metainfo(info, [], []))
        params.save_path = str(tmp_path)
        params.flags = torrent_flags(linked=True)
        params.trackers = [f"http://127.0.0.1:{server.server_port}/announce"]
        handle = session.add_torrent(params)
        assert answered.wait(15), "the session never announced"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            entries = [
                ih["next_announce"]
                for tracker in handle.trackers()
                for endpoint in tracker["endpoints"]
                for ih in endpoint["info_hashes"]
                if ih.get("next_announce", 0) > 0  # the unused v2 slot holds INT_MIN
            ]
            # the binding gives POSIX seconds
            if entries and min(entries) > time.time() + 1:
                return float(min(entries)) - time.time()
            time.sleep(0.1)
        raise AssertionError(f"no next announce scheduled: {handle.trackers()}")
    finally:
        del session
        server.shutdown()
