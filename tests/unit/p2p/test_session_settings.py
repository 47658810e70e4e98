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
