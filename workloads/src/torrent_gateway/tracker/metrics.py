"""Prometheus metrics of the tracker, registered once per process in the default registry.

Counters by protocol (``http``, ``udp``, ``ws``) give announces/s with ``rate()``; the gauges are
refreshed by the tracker's garbage-collection loop from the swarm store (shared by every replica
when the store is Redis). Label children are bound here once so the hot path only calls ``inc()``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ANNOUNCES = Counter("tgw_tracker_announces_total", "Announces answered, by protocol.", ["protocol"])
SCRAPES = Counter("tgw_tracker_scrapes_total", "Scrapes answered, by protocol.", ["protocol"])
CLIENT_ERRORS = Counter(
    "tgw_tracker_client_errors_total", "Requests refused with a reason for the client.", ["protocol"]
)
INTERNAL_ERRORS = Counter(
    "tgw_tracker_internal_errors_total", "Requests that failed inside the tracker.", ["protocol"]
)
UDP_DROPPED = Counter(
    "tgw_tracker_udp_dropped_total", "UDP datagrams dropped unanswered, by reason.", ["reason"]
)
WS_RELAYED = Counter("tgw_tracker_ws_relayed_total", "WebRTC offers and answers relayed.", ["what"])
SWARMS = Gauge("tgw_tracker_swarms", "Swarms in the swarm store (all replicas when shared).")
PEERS = Gauge("tgw_tracker_peers", "Peers in the swarm store (all replicas when shared).")
WS_CONNECTIONS = Gauge("tgw_tracker_ws_connections", "Open WebSocket tracker connections on this process.")

ANNOUNCES_HTTP = ANNOUNCES.labels("http")
ANNOUNCES_UDP = ANNOUNCES.labels("udp")
ANNOUNCES_WS = ANNOUNCES.labels("ws")
SCRAPES_HTTP = SCRAPES.labels("http")
SCRAPES_UDP = SCRAPES.labels("udp")
SCRAPES_WS = SCRAPES.labels("ws")
CLIENT_ERRORS_HTTP = CLIENT_ERRORS.labels("http")
CLIENT_ERRORS_UDP = CLIENT_ERRORS.labels("udp")
CLIENT_ERRORS_WS = CLIENT_ERRORS.labels("ws")
INTERNAL_ERRORS_HTTP = INTERNAL_ERRORS.labels("http")
INTERNAL_ERRORS_UDP = INTERNAL_ERRORS.labels("udp")
INTERNAL_ERRORS_WS = INTERNAL_ERRORS.labels("ws")
