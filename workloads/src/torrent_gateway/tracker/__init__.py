"""The BitTorrent tracker: HTTP (BEP 3/7/23/24/48), UDP (BEP 15) and WebSocket (WebTorrent).

Layers, after chihaya: ``model`` (domain types), ``logic`` (policy, numwant, ranking),
``swarm`` (the store interface; ``swarm_memory`` and ``swarm_redis`` drivers), frontends that only
parse and write (``http``, ``udp``, ``websocket``), ``app`` which composes them, and
``component`` which puts them in the component shell as ``torrent-gateway tracker``.
"""

from __future__ import annotations

from .app import Tracker, open_swarm_store
from .component import build_tracker_app, create_standalone_app
from .logic import rank_peers
from .model import ClientError
from .swarm import SwarmStore, SwarmUnavailable

__all__ = [
    "ClientError",
    "SwarmStore",
    "SwarmUnavailable",
    "Tracker",
    "build_tracker_app",
    "create_standalone_app",
    "open_swarm_store",
    "rank_peers",
]
