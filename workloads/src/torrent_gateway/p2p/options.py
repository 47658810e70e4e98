"""What the P2P component is configured to do, read from the one settings tree.

Most values live in ``settings.dht``; a few keys this package needs are not in the settings
tree yet (``dht.host``, ``dht.peer_port``, ``dht.data_dir``, ``dht.geoip_database``,
``dht.lookup_timeout``, ``dht.rescan_interval``). They are read when present and fall back to the
defaults below, and every caller (tests, ``install_p2p``) may override any field explicitly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Settings

DEFAULT_PEER_PORT = 6881


def _optional(section: Any, name: str, default: Any) -> Any:
    return getattr(section, name, default)


def split_host_port(entry: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port); ValueError when malformed."""
    entry = entry.strip()
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"malformed node address {entry!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = entry.rpartition(":")
        if not sep or not host:
            raise ValueError(f"malformed node address {entry!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {entry!r}")
    return host, port


def is_local_address(host: str) -> bool:
    """True for loopback, private and link-local IP literals (hostnames are never local here)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return address.is_loopback or address.is_private or address.is_link_local


@dataclass(frozen=True)
class P2POptions:
    """Everything the DHT node and the seeder need, resolved once at start."""

    host: str = "0.0.0.0"
    dht_port: int = 6882
    peer_port: int = DEFAULT_PEER_PORT
    bootstrap_nodes: tuple[str, ...] = ()
    data_dir: Path = Path("./data/p2p")
    announce_interval: float = 1500.0
    rescan_interval: float = 60.0
    stats_interval: float = 5.0
    lookup_timeout: float = 3.0
    shard_index: int = 0
    shard_count: int = 1
    cache_bytes: int = 1024 * 1024 * 1024
    geoip_database: str = ""
    trackers: tuple[str, ...] = ()
    # Our tracker's ``min interval``: libtorrent otherwise waits at least 300 s between announces
    # whatever ``interval`` the tracker asks for.
    tracker_min_interval: int = 300
    extra_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def local_network(self) -> bool:
        """A DHT among loopback/private addresses (tests, a LAN, a cluster's own nodes).

        libtorrent refuses such nodes by default (a defence of the public DHT); when we bind a
        local address or join only through local nodes, those restrictions must be relaxed or
        the nodes never see each other.
        """
        hosts = [self.host] if self.host not in ("0.0.0.0", "::", "") else []
        hosts += [split_host_port(entry)[0] for entry in self.bootstrap_nodes]
        return bool(hosts) and all(is_local_address(h) for h in hosts)

    def with_overrides(self, **changes: Any) -> P2POptions:
        return replace(self, **changes)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> P2POptions:
        dht = settings.dht
        storage_root = Path(settings.storage.path)
        if settings.storage.backend == "s3" and settings.storage.s3.cache_dir:
            storage_root = Path(settings.storage.s3.cache_dir)
        data_dir = _optional(dht, "data_dir", "") or str(storage_root / "p2p")
        values: dict[str, Any] = {
            "host": _optional(dht, "host", "0.0.0.0"),
            "dht_port": dht.port,
            "peer_port": _optional(dht, "peer_port", DEFAULT_PEER_PORT),
            "bootstrap_nodes": tuple(dht.bootstrap_nodes),
            "data_dir": Path(data_dir),
            "announce_interval": float(dht.announce_interval),
            "rescan_interval": float(_optional(dht, "rescan_interval", 60.0)),
            "lookup_timeout": float(_optional(dht, "lookup_timeout", 3.0)),
            "shard_index": dht.shard_index,
            "shard_count": dht.shard_count,
            "cache_bytes": dht.cache_bytes,
            "geoip_database": _optional(dht, "geoip_database", ""),
            "tracker_min_interval": settings.tracker.min_interval,
        }
        values.update(overrides)
        for entry in values["bootstrap_nodes"]:
            split_host_port(entry)
        if not 0 <= values["shard_index"] < values["shard_count"]:
            raise ValueError("dht.shard_index must be below dht.shard_count")
        return cls(**values)
