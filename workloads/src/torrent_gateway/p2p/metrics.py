"""Prometheus metrics of the P2P component (default registry).

Gauges are set from the latest probes and libtorrent session statistics; counters only grow.
Module-level, so one process registers them once however many apps it builds (tests build many).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DHT_NODES = Gauge("tgw_dht_routing_nodes", "Nodes in the DHT routing table", ["session"])
DHT_STORED_TORRENTS = Gauge("tgw_dht_stored_infohashes", "Infohashes our DHT node stores announces for")
DHT_STORED_PEERS = Gauge("tgw_dht_stored_peers", "Peers our DHT node stores for all infohashes")
DHT_ANNOUNCES = Counter("tgw_dht_announces_total", "dht_announce calls made by the seeder")
ANNOUNCED_INFOHASHES = Gauge("tgw_dht_announced_infohashes", "Infohashes this pod announces to the DHT")

SEEDER_TORRENTS = Gauge("tgw_seeder_torrents", "Torrents the seeder is responsible for")
SEEDER_STATES = Gauge("tgw_seeder_torrents_by_state", "Seeder torrents per state", ["state"])
SEED_CACHE_BYTES = Gauge("tgw_seed_cache_bytes", "Bytes of materialised files in the seed cache")
PAYLOAD_BYTES = Counter("tgw_p2p_payload_bytes_total", "Peer-wire payload bytes of the seeder", ["direction"])
PAYLOAD_RATE = Gauge("tgw_p2p_payload_rate_bytes", "Peer-wire payload bytes per second", ["direction"])

PEER_LOOKUPS = Counter(
    "tgw_peer_lookups_total", "Peer coordinator requests per source and outcome", ["source", "result"]
)
