"""Composition of the P2P component: the node, the seeder, the coordinator, probes and metrics.

* :func:`install_p2p` — a ``create_app`` extension for serve mode: starts a :class:`P2PNode` with
  the gateway, serves ``GET /api/peers/{infohash}``, registers the ``dht`` and ``seeder`` health
  probes and the node's section of ``/api/diagnostics``.
* :func:`install_coordinator` — the same without a node, for gateway pods in a cluster.
* :func:`build_dht_app` — the standalone ``torrent-gateway dht`` component: the same node in the
  component shell (``/healthz``, ``/readyz``, ``/api/health``, ``/api/diagnostics``, ``/metrics``)
  on ``dht.http_port``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import FastAPI

from ..config import Settings
from ..health.endpoint import service_sources
from ..health.monitor import dht_score, seeder_score
from ..services import Services, build_services
from ..tracker.swarm import SwarmStore
from ..web.app import component_app
from ..web.urls import base_url, tracker_urls
from . import metrics
from .coordinator import DHTLookups, PeerBook, create_peers_router
from .geo import GeoLocator
from .options import P2POptions
from .seeder import Seeder
from .session import LtSession, session_settings

log = logging.getLogger(__name__)

STATE_SAVE_INTERVAL = 300.0
MAX_LISTED = 1000


class P2PNode:
    """The DHT node session, the seeder session and the seeder, started and stopped together."""

    def __init__(self, services: Services, options: P2POptions) -> None:
        self.services = services
        self.options = options
        self.peer_book = PeerBook()
        self.locator = GeoLocator(options.geoip_database) if options.geoip_database else None
        self.node = LtSession("node", session_settings("node", options), options.data_dir / "node.state")
        self.node_endpoint: tuple[str, int] | None = None
        self.seeder_session: LtSession | None = None
        self.seeder: Seeder | None = None
        self.lookups: DHTLookups | None = None
        self.started_at = 0.0
        self.rates = {"upload": 0.0, "download": 0.0}
        self.node_stats: dict[str, int] = {}
        self._last_totals: tuple[float, int, int] | None = None
        self.tasks = services.supervisor.group("p2p")

    @property
    def node_address(self) -> str:
        """Where the seeder (and local clients) reach our node: a concrete address, also for a
        wildcard bind (see :meth:`LtSession.reachable_endpoint`)."""
        host, port = self.node_endpoint or (self.options.host, self.node.port)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> None:
        self.started_at = time.time()
        await asyncio.to_thread(self.options.data_dir.mkdir, parents=True, exist_ok=True)
        await self.node.start()
        self.node_endpoint = await self.node.reachable_endpoint(self.options.host)
        pack = session_settings("seeder", self.options, node_address=self.node_address)
        self.seeder_session = LtSession("seeder", pack, self.options.data_dir / "seeder.state")
        await self.seeder_session.start()
        seeder_endpoint = await self.seeder_session.reachable_endpoint(self.options.host)
        # Introduce the two sessions directly: the seeder's bootstrap may reach the node before the
        # node's DHT answers, and an empty routing table would send our first announces nowhere.
        self.seeder_session.session.add_dht_node(self.node_endpoint)
        self.node.session.add_dht_node(seeder_endpoint)
        self.lookups = DHTLookups(self.seeder_session, timeout=self.options.lookup_timeout)
        self.seeder = Seeder(
            self.services.store,
            self.services.catalog,
            self.seeder_session,
            self.options,
            peer_book=self.peer_book,
            tasks=self.tasks.group("seeder"),
        )
        await self.seeder.start()
        self.tasks.keep_running("p2p-session-stats", self._stats_loop)
        self.tasks.keep_running("p2p-state-save", self._save_loop)
        log.info(
            "DHT node on port %d, seeder on port %d (shard %d of %d)",
            self.node.port,
            self.seeder_session.port,
            self.options.shard_index,
            self.options.shard_count,
        )

    async def stop(self) -> None:
        await self.tasks.cancel()
        if self.seeder is not None:
            await self.seeder.stop()
        if self.seeder_session is not None:
            await self.seeder_session.close()
        await self.node.close()
        if self.locator is not None:
            self.locator.close()

    async def _stats_loop(self) -> None:
        while True:
            try:
                await self.refresh_stats()
            except Exception:
                log.debug("libtorrent statistics round failed", exc_info=True)
            await asyncio.sleep(self.options.stats_interval)

    async def refresh_stats(self) -> None:
        """Session counters and routing tables into the gauges, upload/download rates."""
        node_stats = await self.node.session_stats()
        await self.node.dht_stats()
        self.node_stats = node_stats
        metrics.DHT_NODES.labels("node").set(self.node.routing_nodes)
        metrics.DHT_STORED_TORRENTS.set(node_stats.get("dht.dht_torrents", 0))
        metrics.DHT_STORED_PEERS.set(node_stats.get("dht.dht_peers", 0))
        if self.seeder_session is None or self.seeder is None:
            return
        stats = await self.seeder_session.session_stats()
        await self.seeder_session.dht_stats()
        metrics.DHT_NODES.labels("seeder").set(self.seeder_session.routing_nodes)
        now = time.monotonic()
        sent, received = stats.get("net.sent_payload_bytes", 0), stats.get("net.recv_payload_bytes", 0)
        if self._last_totals is not None:
            then, last_sent, last_received = self._last_totals
            elapsed = max(now - then, 1e-3)
            self.rates = {
                "upload": max(0, sent - last_sent) / elapsed,
                "download": max(0, received - last_received) / elapsed,
            }
            metrics.PAYLOAD_BYTES.labels("upload").inc(max(0, sent - last_sent))
            metrics.PAYLOAD_BYTES.labels("download").inc(max(0, received - last_received))
        self._last_totals = (now, sent, received)
        metrics.PAYLOAD_RATE.labels("upload").set(self.rates["upload"])
        metrics.PAYLOAD_RATE.labels("download").set(self.rates["download"])
        counts = self.seeder.counts()
        for state in ("adding", "checking", "seeding", "error", "parked", "too_large", "missing"):
            metrics.SEEDER_STATES.labels(state).set(counts.get(state, 0))
        await self.seeder.refresh()

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(STATE_SAVE_INTERVAL)
            for session in (self.node, self.seeder_session):
                if session is not None:
                    try:
                        await session.save_state()
                    except OSError:
                        log.warning("cannot save the %s session state", session.name, exc_info=True)

    # -- probes and views --------------------------------------------------------------------------
    async def probe_dht(self) -> dict[str, Any]:
        running = self.node.running and self.node.is_dht_running()
        node_id, nodes = await self.node.dht_stats() if running else ("", 0)
        return {
            "score": dht_score(
                running=running, routing_nodes=nodes, bootstrap_configured=bool(self.options.bootstrap_nodes)
            ),
            "routing_nodes": nodes,
            "node_id": node_id,
            "port": self.node.port,
        }

    async def probe_seeder(self) -> dict[str, Any]:
        if self.seeder is None or self.seeder_session is None or not self.seeder_session.running:
            return {"score": 0, "error": "seeder not running"}
        counts = self.seeder.counts()
        return {"score": seeder_score(counts), "torrents": counts, "port": self.seeder_session.port}

    async def diagnostics(self) -> dict[str, Any]:
        seeder = self.seeder
        announced = seeder.announced() if seeder is not None else []
        return {
            "enabled": True,
            "node": {
                "running": self.node.running,
                "port": self.node.port,
                "address": self.node_address,
                "node_id": self.node.node_id,
                "routing_table_nodes": self.node.routing_nodes,
                "bootstrap_nodes": list(self.options.bootstrap_nodes),
                "stored_infohashes": self.node_stats.get("dht.dht_torrents", 0),
                "stored_peers": self.node_stats.get("dht.dht_peers", 0),
                "messages_in": self.node_stats.get("dht.dht_messages_in", 0),
                "messages_out": self.node_stats.get("dht.dht_messages_out", 0),
            },
            "seeder": {
                "running": bool(self.seeder_session and self.seeder_session.running),
                "port": self.seeder_session.port if self.seeder_session else 0,
                "routing_table_nodes": self.seeder_session.routing_nodes if self.seeder_session else 0,
                "shard": {"index": self.options.shard_index, "count": self.options.shard_count},
                "torrents": seeder.counts() if seeder is not None else {},
                "files": [e.view() for e in list(seeder.entries.values())[:MAX_LISTED]] if seeder else [],
                "last_reconcile": seeder.last_reconcile if seeder else 0.0,
                "trackers": list(self.options.trackers),
            },
            "announced_infohashes": {"count": len(announced), "infohashes": announced[:MAX_LISTED]},
            "seed_cache": seeder.cache.stats() if seeder is not None else {},
            "rates_bytes_per_second": self.rates,
            "peer_book": len(self.peer_book),
            "dht_lookups": self.lookups.lookups if self.lookups is not None else 0,
            "geoip_database": str(self.locator.path) if self.locator is not None else None,
        }


def default_options(settings: Settings) -> P2POptions:
    """Options from the settings, with the tracker URLs torrents carry as the seeder's trackers."""
    trackers = tuple(tracker_urls(base_url(None, settings), settings)) if settings.tracker.enabled else ()
    return P2POptions.from_settings(settings, trackers=trackers)


def install_p2p(
    app: FastAPI,
    services: Services,
    *,
    options: P2POptions | None = None,
    swarms: SwarmStore | None = None,
) -> P2PNode | None:
    """``create_app`` extension: the DHT node and seeder in this process (started and stopped by
    the supervisor), ``/api/peers`` over them and ``swarms`` (this process's tracker, if any), the
    ``dht`` and ``seeder`` health probes and the ``p2p`` diagnostics section."""
    node: P2PNode | None = None
    if services.settings.dht.enabled:
        node = P2PNode(services, options or default_options(services.settings))
        services.probes["dht"] = node.probe_dht
        services.probes["seeder"] = node.probe_seeder
        services.diagnostics["p2p"] = node.diagnostics
        services.supervisor.on_start(node.start)
        services.supervisor.on_stop(node.stop)
    app.include_router(create_peers_router(node, swarms))
    return node


def install_coordinator(app: FastAPI, services: Services, *, swarms: SwarmStore | None = None) -> None:
    """``create_app`` extension for gateway pods whose DHT node runs elsewhere (the ``dht`` component):
    ``/api/peers`` from the tracker and the WebSeed (the DHT source reports itself unavailable)."""
    app.include_router(create_peers_router(None, swarms))


def build_dht_app(
    settings: Settings, *, options: P2POptions | None = None, services: Services | None = None
) -> FastAPI:
    """The standalone DHT component: node + seeder in the component shell (health with alerts,
    diagnostics, metrics) on ``dht.http_port``."""
    owned = services is None
    svc = services or build_services(settings)
    app = component_app(
        title="Torrent Gateway DHT node",
        description="The private DHT node and the seeder of a Torrent Gateway cluster.",
        settings=settings,
        services=svc,
        owned=owned,
        health=service_sources("process", svc, alerts=True),
    )
    install_p2p(app, svc, options=options)
    return app
