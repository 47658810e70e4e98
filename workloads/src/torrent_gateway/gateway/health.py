"""Liveness, readiness, the health summary, diagnostics and Prometheus metrics of a process.

Scores, formulas and alerting live in :mod:`torrent_gateway.p2p.health`; this module decides which
probes a process has and serves them:

* ``gateway`` (the event loop of this process), ``storage`` and ``state`` always;
* ``tracker`` when a swarm store is registered as ``services.extras["swarms"]``;
* ``relays`` (the configured Nostr relays; disabled when none are configured);
* anything registered in ``services.extras["health_probes"]`` (name → async callable), e.g. the
  ``dht`` and ``seeder`` probes that ``install_p2p`` adds.

``install_health_monitor`` (a ``create_app`` extension; ``install_p2p`` calls it) runs the probes
every ``monitoring.probe_interval`` seconds and raises alerts; without it the endpoints still
probe live on each request.

``add_component_health`` gives a standalone component's own app (Blossom, tracker) the same
``GET /api/health``, over the probes of what that component depends on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..clientaddr import parse_networks
from ..p2p.health import (
    REQUIRED,
    AlertSink,
    HealthMonitor,
    Probe,
    log_sink,
    loop_lag_score,
    nostr_dm_sink,
    relay_score,
    run_probe,
    summarise,
    webhook_sink,
)
from .deps import ServicesDep

router = APIRouter(tags=["health"])
RELAY_PROBE_TTL = 60.0
RELAY_CONNECT_TIMEOUT = 3.0


async def loop_lag() -> dict[str, Any]:
    started = time.perf_counter()
    await asyncio.sleep(0)
    lag = time.perf_counter() - started
    return {"score": loop_lag_score(lag), "loop_lag_ms": round(lag * 1000, 3)}


class RelayProbe:
    """Reachability of the configured Nostr relays (a WebSocket handshake each), cached a minute."""

    def __init__(self, relays: list[str]) -> None:
        self.relays = relays
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def __call__(self) -> dict[str, Any]:
        if not self.relays:
            return {"score": 100, "enabled": False, "configured": 0}
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < RELAY_PROBE_TTL:
            return self._cached[1]
        results = await asyncio.gather(*(self._reach(url) for url in self.relays))
        status = dict(zip(self.relays, results, strict=True))
        reachable = sum(1 for r in results if r == "ok")
        value = {
            "score": relay_score(reachable, len(self.relays)),
            "configured": len(self.relays),
            "relays": status,
        }
        self._cached = (now, value)
        return value

    @staticmethod
    async def _reach(url: str) -> str:
        from websockets.asyncio.client import connect

        try:
            async with asyncio.timeout(RELAY_CONNECT_TIMEOUT):
                async with connect(url, open_timeout=RELAY_CONNECT_TIMEOUT, close_timeout=1):
                    return "ok"
        except Exception as exc:  # unreachable relays are a finding, reported by type
            return type(exc).__name__


def used_relays(settings: Any) -> list[str]:
    """The relays this configuration talks to on its own (publishing, alert DMs); none in private
    mode. Probing others would contact servers the operator chose not to use."""
    if settings.nostr.publish or settings.monitoring.alert_nostr_dm:
        return list(settings.nostr.relays)
    return []


def builtin_probes(services: Any) -> dict[str, Probe]:
    process = services.extras.get("health_process_name", "gateway")
    probes: dict[str, Probe] = {
        process: loop_lag,
        "storage": services.store.ping,
        "state": services.state.ping,
    }
    swarms = services.extras.get("swarms")
    if swarms is not None:
        probes["tracker"] = swarms.ping
    relay_probe = services.extras.get("_relay_probe")
    if relay_probe is None:
        relay_probe = services.extras["_relay_probe"] = RelayProbe(used_relays(services.settings))
    probes["relays"] = relay_probe
    return probes


def all_probes(services: Any) -> Mapping[str, Probe]:
    probes = builtin_probes(services)
    probes.update(services.extras.get("health_probes", {}))
    return probes


def alert_sinks(services: Any) -> list[AlertSink]:
    monitoring = services.settings.monitoring
    sinks: list[AlertSink] = [log_sink]
    if monitoring.alert_webhook.get_secret_value():
        sinks.append(webhook_sink(monitoring.alert_webhook))
    sender = services.extras.get("nostr_dm")
    if monitoring.alert_nostr_dm and sender is not None and services.settings.auth.admin_pubkeys:
        sinks.append(nostr_dm_sink(sender, list(services.settings.auth.admin_pubkeys)))
    return sinks


def get_monitor(services: Any) -> HealthMonitor:
    """The process's monitor (created on first use, kept in ``services.extras["health_monitor"]``)."""
    monitor = services.extras.get("health_monitor")
    if monitor is None:
        monitor = HealthMonitor(
            lambda: all_probes(services),
            services.settings.monitoring.alert_threshold,
            alert_sinks(services),
        )
        services.extras["health_monitor"] = monitor
    return monitor  # type: ignore[no-any-return]


def install_health_monitor(app: FastAPI, services: Any) -> None:
    """A ``create_app`` extension: probe every ``monitoring.probe_interval`` s and raise alerts."""
    if services.extras.get("_health_monitor_installed"):
        return
    services.extras["_health_monitor_installed"] = True
    monitor = get_monitor(services)

    async def start() -> None:
        services.spawn(monitor.run(services.settings.monitoring.probe_interval), "health-monitor")

    services.extras.setdefault("startup", []).append(start)


@router.get("/healthz", include_in_schema=False)
async def healthz() -> PlainTextResponse:
    """Liveness: the process answers."""
    return PlainTextResponse("ok")


@router.get("/readyz", include_in_schema=False)
async def readyz(services: ServicesDep) -> Response:
    """Readiness: the object store and the state store answer."""
    monitor = get_monitor(services)
    results = await asyncio.gather(
        run_probe("storage", services.store.ping), run_probe("state", services.state.ping)
    )
    ready = all(r.ok for r in results)
    for result in results:
        monitor.latest[result.name] = result
    return PlainTextResponse("ready" if ready else "not ready", status_code=200 if ready else 503)


async def health_response(monitor: HealthMonitor, required: frozenset[str] = REQUIRED) -> JSONResponse:
    """Probe now and answer the summary: 200 ok/degraded, 503 when a ``required`` component is down.

    ``required`` names the components the process cannot serve without: storage and state by
    default; the tracker component adds its swarm store.
    """
    results = [
        dataclasses.replace(result, required=True) if result.name in required else result
        for result in await monitor.probe()
    ]
    summary = summarise(results, monitor.threshold)
    summary["alerts"] = {"firing": monitor.tracker.firing()}
    return JSONResponse(summary, status_code=503 if summary["status"] == "down" else 200)


@router.get("/api/health")
async def health(services: ServicesDep) -> JSONResponse:
    """Every component's 0-100 score; 503 when a required component (storage, state) is down."""
    return await health_response(get_monitor(services))


def add_component_health(
    app: FastAPI,
    settings: Any,
    probes: Callable[[], Mapping[str, Probe]],
    required: frozenset[str] = REQUIRED,
) -> HealthMonitor:
    """``GET /api/health`` on a standalone component's app, probing live on each request.

    ``probes()`` gives what the component depends on, plus :func:`loop_lag` under the component's
    own name (as the gateway reports its event loop); it is called on each request, so probes
    registered after the app is built (the rate limiter's) are included. The monitor is kept on
    ``app.state.health_monitor``.
    """
    monitor = HealthMonitor(probes, settings.monitoring.alert_threshold, [log_sink])
    app.state.health_monitor = monitor

    @app.get("/api/health", tags=["health"])
    async def component_health() -> JSONResponse:
        """Every dependency's 0-100 score; 503 when a required one is down."""
        return await health_response(monitor, required)

    return monitor


FORWARDING_HEADERS = frozenset({"x-forwarded-for", "forwarded", "x-real-ip"})


def direct_from_monitoring_network(request: Request, settings: Any) -> bool:
    """An unproxied request from a network in ``monitoring.metrics_networks`` (in-cluster
    Prometheus scraping a pod IP). A request carrying any forwarding header came through a proxy
    (an Ingress) and so, as far as we know, from outside."""
    if any(name in FORWARDING_HEADERS for name in request.headers.keys()):  # noqa: SIM118 - multi-dict
        return False
    peer = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    networks = parse_networks(tuple(settings.monitoring.metrics_networks))
    return any(address in network for network in networks)


async def require_monitoring_access(request: Request, services: ServicesDep) -> None:
    """Metrics and diagnostics describe the deployment (addresses, peers, backends): the scrape
    network reads them directly, anyone else needs an admin login (401/403)."""
    if direct_from_monitoring_network(request, services.settings):
        return
    authenticator = services.extras.get("authenticator")
    if authenticator is None:
        raise HTTPException(403, detail="metrics and diagnostics are served to the monitoring networks only")
    pubkey = await authenticator.authenticate(request)
    if pubkey is None:
        raise HTTPException(
            401,
            detail="metrics and diagnostics need an admin login (or a direct request from monitoring.metrics_networks)",
            headers={"WWW-Authenticate": 'Bearer realm="torrent-gateway", Nostr'},
        )
    if not await authenticator.is_admin(pubkey):
        raise HTTPException(403, detail="admin rights required")


MonitoringAccess = Depends(require_monitoring_access)


@router.get("/api/diagnostics", dependencies=[MonitoringAccess])
async def diagnostics(services: ServicesDep) -> dict[str, Any]:
    """Details behind the scores: DHT, seeder, caches, tracker, relays, rates, recent alerts."""
    monitor = get_monitor(services)
    results = await monitor.probe()
    out: dict[str, Any] = {
        "health": summarise(results, monitor.threshold),
        "monitor": monitor.view(),
        "chunk_cache": services.reader.cache.stats(),
    }
    relays = monitor.latest.get("relays")
    out["relays"] = relays.view() if relays is not None else {"enabled": False}
    swarms = services.extras.get("swarms")
    if swarms is not None:
        try:
            count, peers = await asyncio.wait_for(swarms.stats(), 3.0)
            out["tracker"] = {"swarms": count, "peers": peers}
        except Exception as exc:  # a tracker backend that is down is a finding here
            out["tracker"] = {"error": type(exc).__name__}
    node = services.extras.get("p2p")
    out["p2p"] = await node.diagnostics() if node is not None else {"enabled": False}
    return out


@router.get("/metrics", include_in_schema=False, dependencies=[MonitoringAccess])
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
